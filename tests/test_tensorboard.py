"""TensorBoard event files: the scalars of pipeline records, read back."""

from __future__ import annotations

import glob
import struct

import numpy as np
import pytest

from enn_sym import tensorboard

event_pb2 = pytest.importorskip("tensorboardX.proto.event_pb2")


def _read_events(logdir):
  """(tag, step, value) of every scalar in the TFRecord event files."""
  out = []
  for path in sorted(glob.glob(f"{logdir}/events.out.tfevents.*")):
    with open(path, "rb") as f:
      data = f.read()
    pos = 0
    while pos < len(data):
      (length,) = struct.unpack("<Q", data[pos:pos + 8])
      event = event_pb2.Event.FromString(data[pos + 12:pos + 12 + length])
      pos += 12 + length + 4
      for v in event.summary.value:
        out.append((v.tag, event.step, v.simple_value))
  return out


def test_scalar_items_names_series_and_skips_arrays():
  record = {"model": "epinet", "split": "test", "step": 5, "final": True,
            "ece": 0.1, "count": np.int32(7), "bin_count": [1, 2],
            "flag": True, "name": "x", "t": np.float32(2.5)}
  assert tensorboard.scalar_items(record) == {
      "epinet/test/ece": 0.1, "epinet/test/count": 7.0, "epinet/test/t": 2.5}
  assert tensorboard.scalar_items({"step": 1, "loss": 2}) == {"loss": 2.0}


def test_writer_writes_event_files_read_back(tmp_path):
  writer = tensorboard.TensorBoardWriter(str(tmp_path))
  writer.write({"model": "base", "split": "train", "step": 10, "loss": 0.5})
  writer.write({"model": "base", "split": "train", "step": 20, "loss": 0.25,
                "examples_per_sec": 1000.0})
  writer.write({"model": "base", "split": "test", "step": 20, "ece": 0.125,
                "bin_count": np.arange(15)})
  writer.close()
  events = _read_events(tmp_path)
  assert sorted(events) == sorted([
      ("base/train/loss", 10, 0.5), ("base/train/loss", 20, 0.25),
      ("base/train/examples_per_sec", 20, 1000.0),
      ("base/test/ece", 20, 0.125)])


def test_disabled_writer_writes_nothing_and_bad_records_fail(tmp_path):
  writer = tensorboard.TensorBoardWriter(str(tmp_path / "off"), enabled=False)
  writer.write({"step": 1, "loss": 1.0})
  writer.close()
  assert not (tmp_path / "off").exists()
  writer = tensorboard.TensorBoardWriter(str(tmp_path / "on"))
  with pytest.raises(ValueError, match="needs a 'step'"):
    writer.write({"loss": 1.0})
  writer.close()


def _scalars(logdir):
  return {(tag, step): value for tag, step, value in _read_events(logdir)}


@pytest.mark.slow
def test_trainer_writes_event_files_next_to_metrics_jsonl(tmp_path):
  """``config.tensorboard = True``: every numeric scalar of every
  metrics.jsonl record is in workdir/tensorboard/<model>."""
  from enn_sym import train  # pylint: disable=g-import-not-at-top
  from tests.train_helpers import tiny_config  # pylint: disable=g-import-not-at-top
  import json  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path)
  cfg = tiny_config(num_steps=4, log_every=2, checkpoint_every=2,
                    temperature_scaling=False, tensorboard=True)
  train.train_and_evaluate(cfg, workdir)
  with open(f"{workdir}/metrics.jsonl") as f:
    records = [json.loads(l) for l in f]
  expected = {}
  for r in records:
    for tag, value in tensorboard.scalar_items(r).items():
      expected[(tag, r["step"])] = value
  assert ("base/train/loss", 4) in expected
  assert ("base/test/ece", 4) in expected  # the final evaluation
  got = _scalars(f"{workdir}/tensorboard/base")
  assert sorted(got) == sorted(expected), set(got) ^ set(expected)
  for key, value in expected.items():
    np.testing.assert_allclose(got[key], value, rtol=1e-6, err_msg=str(key))
  # Toggling the flag does not change the model fields: the run resumes.
  cfg.tensorboard = False
  trainer = train.Trainer(cfg, workdir)
  assert trainer.init_or_restore() == {"base": 4}


def test_tensorboard_flag_without_tensorboardx_is_one_line(tmp_path,
                                                         monkeypatch):
  import builtins  # pylint: disable=g-import-not-at-top
  from enn_sym import train  # pylint: disable=g-import-not-at-top
  from tests.train_helpers import tiny_config  # pylint: disable=g-import-not-at-top
  real_import = builtins.__import__

  def no_tensorboardx(name, *args, **kwargs):
    if name.startswith("tensorboardX"):
      raise ImportError(f"No module named {name!r}")
    return real_import(name, *args, **kwargs)

  monkeypatch.setattr(builtins, "__import__", no_tensorboardx)
  with pytest.raises(train.ConfigError,
                     match=r"pip install 'enn_sym\[tensorboard\]'") as e:
    train.Trainer(tiny_config(tensorboard=True), str(tmp_path))
  assert "\n" not in str(e.value)


def test_resumed_model_purges_the_steps_it_writes_again(tmp_path):
  """drop_after (a resume from step 2) drops the later metrics.jsonl lines
  and opens the TensorBoard run with purge_step 3, so TensorBoard hides the
  first run's events from step 3 on."""
  from enn_sym.train import _report  # pylint: disable=g-import-not-at-top
  path, board = str(tmp_path / "metrics.jsonl"), str(tmp_path / "tb")
  first = _report.RunWriter(path, board)
  for step in (1, 2, 3, 4):
    first.write({"model": "base", "split": "train", "step": step,
                 "loss": float(step)})
  first.close()
  (first_file,) = glob.glob(f"{board}/base/events.out.tfevents.*")
  second = _report.RunWriter(path, board)
  assert second.drop_after("base", 2) == 2
  second.write({"model": "base", "split": "train", "step": 3, "loss": 30.0})
  second.close()
  files = glob.glob(f"{board}/base/events.out.tfevents.*")
  files = [first_file] + [f for f in files if f != first_file]
  assert len(files) == 2
  starts = []
  for path_ in files:
    with open(path_, "rb") as f:
      data = f.read()
    pos = 0
    while pos < len(data):
      (length,) = struct.unpack("<Q", data[pos:pos + 8])
      event = event_pb2.Event.FromString(data[pos + 12:pos + 12 + length])
      pos += 12 + length + 4
      if event.HasField("session_log"):
        starts.append((path_, event.step, event.session_log.status))
  # Only the resumed run's file holds a purge marker, at step 3.
  assert [(f, step) for f, step, status in starts
          if status == event_pb2.SessionLog.START] == [(files[-1], 3)]
  events = _read_events(board + "/base")
  assert sorted(events) == sorted([("base/train/loss", s, float(s))
                                   for s in (1, 2, 3, 4)]
                                  + [("base/train/loss", 3, 30.0)])
