"""Tests of the training pipeline (enn_sym.train)."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow_datasets as tfds

from enn_sym import data
from enn_sym import metrics
from enn_sym import networks as nw
from enn_sym import train
from enn_sym.train import _steps
from tests import train_helpers
from tests.train_helpers import tiny_config

REPO = train_helpers.REPO


def _load_config(name):
  return train_helpers.load_file(f"configs/{name}.py",
                                 f"config_{name}").get_config()


ALL_CONFIGS = sorted(f[:-3] for f in os.listdir(os.path.join(REPO, "configs"))
                     if f.endswith(".py"))
# Training configs have the training schema's top-level keys; experiment
# configs (rotation_calibration, ...) hold a training config under `base`
# plus experiment fields; the rest (bounds, landscape, swiss_roll) have
# schemas of their own, exercised by their experiments' tests.
_TRAINING_KEYS = set(train.default_config().keys())
_LOADED = {n: _load_config(n) for n in ALL_CONFIGS}  # Each file read once.
CONFIG_NAMES = [n for n in ALL_CONFIGS
                if set(_LOADED[n].keys()) == _TRAINING_KEYS]
BASE_CONFIG_NAMES = [n for n in ALL_CONFIGS if "base" in _LOADED[n]]
TFDS_CONFIGS = [n for n in CONFIG_NAMES if _LOADED[n].data.source == "tfds"]


@pytest.mark.parametrize("name", CONFIG_NAMES + BASE_CONFIG_NAMES)
def test_every_config_validates(name):
  config = _load_config(name)
  train.validate_config(config if name in CONFIG_NAMES else config.base)


def test_every_config_file_is_classified():
  other = set(ALL_CONFIGS) - set(CONFIG_NAMES) - set(BASE_CONFIG_NAMES)
  assert other == {"bounds", "landscape", "swiss_roll", "testbed"}, other


def test_tfds_configs_cover_the_issue():
  names = {_load_config(n).data.name for n in TFDS_CONFIGS}
  assert {"mnist", "cifar10", "imagenet2012"} <= names


def _shrink(config, models):
  config.models = models
  config.num_steps = 1
  config.batch_size = 8
  config.eval_batch_size = 8
  config.eval_num_indices = 2
  config.loss.num_index_samples = 2
  config.model.ensemble.num_ensemble = 2
  config.metrics.joint_num_samples = 4
  config.progress_bar = False
  config.plots = False
  return config


@pytest.mark.slow
@pytest.mark.parametrize("name", TFDS_CONFIGS)
def test_one_step_end_to_end_under_mock_data(name, tmp_path):
  config = _load_config(name)
  models = ("epinet",) if config.data.name == "imagenet2012" else tuple(
      config.models)
  config = _shrink(config, models)
  config.data.data_dir = str(tmp_path / "tfds")
  with tfds.testing.mock_data(num_examples=16):
    summary = train.train_and_evaluate(config, str(tmp_path / "run"))
  assert set(summary) == set(models)
  for values in summary.values():
    assert 0.0 <= values["accuracy"] <= 1.0
    assert np.isfinite(values["nll"]) and 0.0 <= values["ece"] <= 1.0
  with open(tmp_path / "run" / "summary.json") as f:
    assert set(json.load(f)) == set(models)


def test_main_config_trains_every_model_and_writes_outputs(tmp_path):
  config = tiny_config(models=("base", "epinet", "ensemble", "dropout"),
                       plots=True, eval_every=1)
  summary = train.train_and_evaluate(config, str(tmp_path))
  assert list(summary) == ["base", "epinet", "ensemble", "dropout"]
  for values in summary.values():
    assert set(train._report.SUMMARY_KEYS) <= set(values)
    assert values["seeds"] == [0] and values["stop_reason"] == ["max_steps"]
    assert values["steps_trained"] == [2]
  assert summary["base"]["mutual_info"] == pytest.approx(0.0, abs=1e-6)
  assert summary["ensemble"]["mutual_info"] > 0
  for kind in summary:
    assert (tmp_path / f"reliability_{kind}.png").stat().st_size > 1000
  with open(tmp_path / "metrics.jsonl") as f:
    lines = [json.loads(l) for l in f]
  assert {l["split"] for l in lines} == {"train", "test", "restore"}
  assert any(l.get("final") for l in lines)
  with open(tmp_path / "summary.json") as f:
    on_disk = json.load(f)
  assert on_disk["epinet"]["ece"] == pytest.approx(summary["epinet"]["ece"])


def test_same_config_same_numbers(tmp_path):
  a = train.train_and_evaluate(tiny_config(num_steps=5), str(tmp_path / "a"))
  b = train.train_and_evaluate(tiny_config(num_steps=5), str(tmp_path / "b"))
  assert a == b


def test_unknown_config_key_and_bad_values():
  config = tiny_config()
  config.unlock()
  config.num_step = 3
  with pytest.raises(train.ConfigError,
                     match="Unknown config key 'num_step'.*'num_steps'"):
    train.validate_config(config)
  with pytest.raises(train.ConfigError, match="config.models"):
    train.validate_config(tiny_config(models=("base", "gp")))
  with pytest.raises(train.ConfigError, match="config.batch_size"):
    train.validate_config(tiny_config(batch_size=0))
  with pytest.raises(train.ConfigError, match="config.loss.name.*'focal'"):
    train.validate_config(tiny_config(**{"loss.name": "focall"}))
  with pytest.raises(train.ConfigError, match="embedded source"):
    train.validate_config(tiny_config(**{"data.name": "cifar10"}))


def test_cli_rejects_unknown_override():
  proc = subprocess.run(
      [sys.executable, "experiments/train.py", "--config.num_step=3"],
      cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
  assert proc.returncode != 0
  assert "num_step" in proc.stderr


def test_missing_dataset_is_a_clear_error(tmp_path):
  config = tiny_config(**{"data.source": "tfds", "data.name": "mnist",
                          "data.data_dir": str(tmp_path)})
  with pytest.raises(data.DatasetNotFoundError) as info:
    train.train_and_evaluate(config, str(tmp_path / "run"))
  assert "mnist" in str(info.value) and str(tmp_path) in str(info.value)
  proc = subprocess.run(
      [sys.executable, "experiments/train.py", "--config", "configs/mnist.py",
       f"--config.data.data_dir={tmp_path}", f"--workdir={tmp_path / 'w'}"],
      cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
  assert proc.returncode == 2  # a user error (cli.run)
  assert "error:" in proc.stderr and "Traceback" not in proc.stderr
  assert "tfds build" in proc.stderr


def test_padded_eval_equals_one_shot():
  """Eval over 1,001 examples with batch 100 equals the one-shot metrics."""
  rng = np.random.default_rng(0)
  source = data.ArrayDataset(rng.random((1001, 6, 6, 1), np.float32),
                             rng.integers(0, 4, 1001).astype(np.int32),
                             np.arange(1001, dtype=np.int32))
  enn = nw.make_epinet(nw.MLP(4, (8,)), num_classes=4, index_dim=3)
  mesh = _steps.make_mesh()
  import optax  # pylint: disable=g-import-not-at-top
  state = _steps.init_state(enn, optax.adam(1e-3), jnp.zeros((1, 6, 6, 1)), 0,
                            mesh)
  zs = enn.sample_indices(jax.random.key(1), 5)
  bundle = _steps.EvalMetrics(15, 10, 2, 8)
  step = _steps.make_eval_step(enn, bundle, mesh)
  states = bundle.empty()
  num_batches = 0
  with data.eval_batches(source, batch_size=100) as batches:
    for batch in batches:
      num_batches += 1
      states = step(state, states, _steps.global_batch(batch, mesh), zs,
                    jnp.float32(1.0), jax.random.key(num_batches))
  assert num_batches == 11
  streamed = bundle.compute(states)
  logits = enn.apply_multi(state.variables, jnp.asarray(source.images),
                           zs).preds
  one_shot = metrics.EnsemblePredictive(input_kind="logits")
  expected = one_shot.compute(one_shot.update(
      one_shot.empty(), logits, jnp.asarray(source.labels)))
  assert int(streamed["count"]) == 1001
  for key in ("ece", "mce", "nll", "brier", "accuracy", "mutual_info"):
    np.testing.assert_allclose(streamed[key], expected[key], rtol=2e-5,
                               atol=2e-6)


