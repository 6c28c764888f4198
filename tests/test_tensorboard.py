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
