"""Bring your own data: ``Trainer(config, workdir, data=...)``.

The same digits served as user arrays, as a plain item-by-item source and
through the named ``config.data.name = 'digits'`` path train to the same
parameters and metrics; a resumed user-data run continues where it stopped;
a workdir refuses other data; bad inputs fail in one line.
"""

from __future__ import annotations

import json
import os
import shutil

import jax
import numpy as np
import pytest

from enn_sym import data as data_lib
from enn_sym import train
from enn_sym.train import _checkpoints
from tests.train_helpers import tiny_config

InputError = data_lib.Splits.__init__.__globals__["InputError"]


def _config(**overrides):
  cfg = tiny_config(**{"data.name": "digits", **overrides})
  cfg.num_steps = 4
  cfg.checkpoint_every = 2
  cfg.eval_batch_size = 64  # 359 test digits: the last batch is padded.
  cfg.optimizer.schedule = "constant"
  return cfg


def _arrays():
  splits = data_lib.load_embedded("digits", seed=0,
                                  fractions=(0.7, 0.1, 0.2))
  return {k: {"image": np.asarray(v.images), "label": np.asarray(v.labels),
              "index": np.asarray(v.index)} for k, v in splits.items()}


class ItemSource:
  """A bare source: ``len`` and ``[i]`` only (no get_batch, no labels)."""

  def __init__(self, arrays):
    self.arrays = arrays

  def __len__(self):
    return len(self.arrays["label"])

  def __getitem__(self, i):
    return {k: v[i] for k, v in self.arrays.items()}


def _params(trainer):
  return jax.device_get(trainer.runs["base"].state.train.params)


def _assert_trees_close(a, b, rtol=1e-6, atol=1e-7):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """The named digits run and the same digits as user arrays."""
  out = {}
  for name, data in (("named", None), ("arrays", _arrays())):
    workdir = str(tmp_path_factory.mktemp(name))
    trainer = train.Trainer(_config(), workdir, data=data)
    trainer.train()
    out[name] = dict(trainer=trainer, workdir=workdir,
                     test=trainer.evaluate("test"),
                     predict=trainer.predict("test"))
  return out


@pytest.mark.slow
def test_arrays_equal_the_named_dataset(runs):
  named, arrays = runs["named"], runs["arrays"]
  assert arrays["trainer"].data.num_classes == 10
  assert arrays["trainer"].data.on_device_ok()  # Same device-side stream.
  _assert_trees_close(_params(named["trainer"]), _params(arrays["trainer"]),
                      rtol=0, atol=0)
  for key, value in named["test"].items():
    np.testing.assert_array_equal(value, arrays["test"][key], err_msg=key)


@pytest.mark.slow
def test_padded_evaluation_sees_every_test_example_once(runs):
  arrays = runs["arrays"]
  test = _arrays()["test"]
  pred = arrays["predict"]
  assert len(test["label"]) % 64  # the last eval batch is padded
  np.testing.assert_array_equal(pred["labels"], test["label"])
  logits = pred["logits"][0, 0]  # seed 0, the one index of the base model
  accuracy = np.mean(np.argmax(logits, -1) == test["label"])
  np.testing.assert_allclose(arrays["test"]["accuracy"][0], accuracy,
                             rtol=1e-6)


@pytest.mark.slow
def test_item_source_equals_arrays(runs, tmp_path):
  """A bare source is read item by item on the host (HostStream), not put
  on the device; the parameters are the same."""
  data = data_lib.Splits(**{k: ItemSource(v) for k, v in _arrays().items()})
  assert data.num_classes == 10
  trainer = train.Trainer(_config(), str(tmp_path), data=data)
  assert not trainer.data.on_device_ok()
  trainer.train()
  _assert_trees_close(_params(trainer), _params(runs["arrays"]["trainer"]))


@pytest.mark.slow
def test_resume_on_the_same_data(runs, tmp_path):
  workdir = str(tmp_path / "resumed")
  shutil.copytree(runs["arrays"]["workdir"], workdir)
  shutil.rmtree(os.path.join(workdir, "base", "checkpoints", "4"))
  trainer = train.Trainer(_config(), workdir, data=_arrays())
  assert trainer.init_or_restore() == {"base": 2}
  trainer.train()
  assert trainer.runs["base"].steps_run == 2  # Only steps 3 and 4.
  _assert_trees_close(_params(trainer), _params(runs["arrays"]["trainer"]),
                      rtol=0, atol=0)


def test_workdir_refuses_other_data(tmp_path):
  arrays_dir, named_dir = str(tmp_path / "arrays"), str(tmp_path / "named")
  train.Trainer(_config(), arrays_dir, data=_arrays())  # Binds the workdirs.
  train.Trainer(_config(), named_dir)
  train.Trainer(_config(), arrays_dir, data=_arrays())  # Same data: resumes.
  other = _arrays()
  other["train"]["label"] = other["train"]["label"].copy()
  other["train"]["label"][0] = (other["train"]["label"][0] + 1) % 10
  with pytest.raises(train.ConfigError, match=r"data\.user\.sha256") as e:
    train.Trainer(_config(), arrays_dir, data=other)
  assert "\n" not in str(e.value)
  with pytest.raises(train.ConfigError, match=r"data\.source \('user' -> "
                     r"'embedded'\)"):
    train.Trainer(_config(), arrays_dir)  # The named digits, not the arrays.
  with pytest.raises(train.ConfigError, match="data.source"):
    train.Trainer(_config(), named_dir, data=_arrays())


def test_fingerprint_covers_images_labels_and_ids():
  base = data_lib.Splits(**_arrays()).fingerprint()
  assert base["sizes"] == {"train": 1258, "validation": 180, "test": 359}
  assert base["image_shape"] == [8, 8, 1] and base["num_classes"] == 10
  assert base == data_lib.Splits(**_arrays()).fingerprint()
  for split, key in (("test", "image"), ("validation", "label"),
                     ("train", "index")):
    arrays = _arrays()
    arrays[split][key] = arrays[split][key].copy()
    arrays[split][key][3] += 1 if key != "image" else 0.5
    if key == "label":
      arrays[split][key][3] %= 10
    other = data_lib.Splits(**arrays).fingerprint()
    assert other["sha256"] != base["sha256"], (split, key)
  arrays = _arrays()
  arrays["validation"], arrays["test"] = arrays["test"], arrays["validation"]
  assert data_lib.Splits(**arrays).fingerprint()["sha256"] != base["sha256"]


def test_user_data_config_records_the_fingerprint(tmp_path):
  data = data_lib.Splits(**_arrays())
  cfg = _config()
  train.Trainer(cfg, str(tmp_path), data=data)
  text = (tmp_path / _checkpoints.CONFIG_FILE).read_text()
  stored = json.loads(text)["config"]
  assert stored["data.source"] == "user"
  assert stored["data.user.sha256"] == data.fingerprint()["sha256"]
  assert cfg.data.source == "embedded" and "user" not in cfg.data  # untouched


def _tiny(n=6, shape=(4, 4, 1), classes=3, dtype=np.float32):
  rng = np.random.default_rng(0)
  return {"image": rng.uniform(size=(n,) + shape).astype(dtype),
          "label": np.arange(n) % classes}


@pytest.mark.parametrize("make, message", [
    (lambda: dict(train={"image": np.zeros((6, 4, 4)), "label": np.zeros(
        6, int)}, test=_tiny()), "add a channel axis with images"),
    (lambda: dict(train={**_tiny(), "label": np.zeros(6, np.float32)},
                  test=_tiny()), "'label' must be integers of shape"),
    (lambda: dict(train={**_tiny(), "label": np.zeros(5, int)},
                  test=_tiny()), r"'label' must be integers of shape \[N\]"),
    (lambda: dict(train=_tiny(), test=_tiny(), num_classes=2),
     r"'train': labels must lie in \[0, num_classes\) = \[0, 2\)"),
    (lambda: dict(train={**_tiny(), "label": np.arange(6) - 1},
                  test=_tiny()), r"labels must lie in \[0, num_classes\)"),
    (lambda: dict(train=_tiny(), test=_tiny(shape=(5, 5, 1))),
     "the splits' images differ"),
    (lambda: dict(train=_tiny(dtype=np.uint8), test=_tiny()),
     "integer pixels are scaled by 1/255"),
    (lambda: dict(train=_tiny()), "Splits needs a 'test' split"),
    (lambda: dict(train={**_tiny(), "mask": np.ones(6)}, test=_tiny()),
     r"unexpected key\(s\) \['mask'\]"),
    (lambda: dict(train={"label": np.zeros(6, int)}, test=_tiny()),
     "needs 'image' and 'label'"),
    (lambda: dict(train=5, test=_tiny()), "must be a dict of numpy arrays"),
    (lambda: dict(train={**_tiny(), "image": np.full((6, 4, 4, 1), np.nan)},
                  test=_tiny()), "contain NaN or inf"),
    (lambda: dict(train=_tiny(), test=_tiny(n=0)), "'test' is empty"),
    (lambda: dict(train=_tiny(classes=1), test=_tiny(classes=1)),
     "num_classes must be an integer >= 2"),
    (lambda: dict(train=_tiny(), test=_tiny(), extra=_tiny()),
     r"unknown key\(s\) \['extra'\]"),
])
def test_bad_user_data_is_one_line(make, message):
  with pytest.raises(InputError, match=message) as e:
    data_lib.as_splits(make())
  assert "\n" not in str(e.value)


def test_bad_data_argument_and_config_are_one_line(tmp_path):
  with pytest.raises(InputError, match="data must be enn_sym.data.Splits"):
    train.Trainer(_config(), str(tmp_path), data=[1, 2])
  data = {"train": _tiny(40), "test": _tiny()}
  for overrides, message in (
      ({"early_stopping.patience": 2}, "needs a validation split"),
      ({"data.normalize": True}, "normalise the arrays yourself"),
      ({"data.name": "tetris"}, "user data are images")):
    cfg = _config(**overrides)
    with pytest.raises(train.ConfigError, match=message) as e:
      train.Trainer(cfg, str(tmp_path / "x"), data=data)
    assert "\n" not in str(e.value)
