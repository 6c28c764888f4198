"""Kill-and-resume of real training processes, and multi-device runs."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests import train_helpers

REPO = train_helpers.REPO

_KILL_RUN = {"models": ("epinet",), "num_steps": 3000, "checkpoint_every": 100,
             "log_every": 500, "eval_every": 100000, "keep_checkpoints": 50}


def _start(workdir, overrides, delay=0.0):
  env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="",
             ENN_SYM_CHECKPOINT_WRITE_DELAY=str(delay))
  args = [f"{k}={v!r}" for k, v in overrides.items()]
  return subprocess.Popen(
      [sys.executable, os.path.join(REPO, "tests", "train_helpers.py"),
       str(workdir), *args], env=env, cwd=REPO, stdout=subprocess.DEVNULL,
      stderr=subprocess.DEVNULL)


def _wait_for(proc, condition, timeout=1200):
  deadline = time.time() + timeout
  while time.time() < deadline and proc.poll() is None:
    if condition():
      return True
    time.sleep(0.01)
  return False


def _listing(ckpt_dir):
  return os.listdir(ckpt_dir) if os.path.isdir(ckpt_dir) else []


def _saved(ckpt_dir):
  return sorted(int(d) for d in _listing(ckpt_dir) if d.isdigit())


def _restore_records(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(l)["step"] for l in f if '"restore"' in l]


def _strip(summary):
  return {k: v for k, v in summary.items()
          if k not in ("num_devices", "restored", "steps_run")}


@pytest.mark.slow
def test_epinet_killed_during_and_between_checkpoint_writes_resumes_exactly(
    tmp_path):
  reference = train_helpers.run_subprocess(str(tmp_path / "ref"), _KILL_RUN)
  assert reference["steps_run"] == {"epinet": 3000}
  workdir = tmp_path / "killed"
  ckpt_dir = workdir / "epinet" / "checkpoints"
  # 1. Killed while writing its second checkpoint (the write sleeps 5 s
  #    between the arrays and the manifest).
  proc = _start(workdir, _KILL_RUN, delay=5.0)
  in_write = _wait_for(proc, lambda: "100" in _listing(ckpt_dir) and any(
      d.startswith(".tmp-") for d in _listing(ckpt_dir)))
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert in_write, "the run ended before its second checkpoint write"
  assert _saved(ckpt_dir) == [100]
  # 2. Resumed, then killed at an arbitrary point after a later checkpoint.
  proc = _start(workdir, _KILL_RUN)
  later = _wait_for(proc, lambda: max(_saved(ckpt_dir)) > 100)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert later, "the resumed run ended before its next checkpoint"
  assert _restore_records(str(workdir))[-1] == 100
  last = max(_saved(ckpt_dir))
  assert 100 < last < 3000, "the run finished before it was killed"
  assert not (workdir / "summary.json").exists()
  # 3. Resumed to the end: it trains only the remaining steps and ends where
  #    the uninterrupted run ended.
  resumed = train_helpers.run_subprocess(str(workdir), _KILL_RUN)
  assert resumed["restored"] == {"epinet": last}
  assert resumed["steps_run"] == {"epinet": 3000 - last}
  assert _strip(resumed) == _strip(reference)
  with open(workdir / "metrics.jsonl") as f:
    train_steps = [json.loads(l)["step"] for l in f if '"train"' in l]
  assert len(train_steps) == len(set(train_steps))


@pytest.mark.slow
def test_default_config_on_1_2_4_8_devices(tmp_path):
  """The default batch sizes on 1, 2, 4 and 8 (fake CPU) devices; eval
  batches (500) are padded to a multiple of the device count and the
  padding is masked, so the metrics agree (the joint log-loss and the
  bootstrap interval, which sample within batches, only where the batches
  are the same)."""
  overrides = {"models": ("epinet", "ensemble"), "num_steps": 4,
               "batch_size": 128, "eval_batch_size": 500}
  one = train_helpers.run_subprocess(str(tmp_path / "d1"), overrides, 1)
  assert one["num_devices"] == 1
  for n in (2, 4, 8):
    many = train_helpers.run_subprocess(str(tmp_path / f"d{n}"), overrides, n)
    assert many["num_devices"] == n
    for model in ("epinet", "ensemble"):
      for key, value in one[model]["per_seed"].items():
        if key in ("joint_nll", "ece_boot_low", "ece_boot_high") and 500 % n:
          # 500 rows pad to 504 on 8 devices: other batch boundaries, and
          # the dyadic joint log-loss samples its pairs within each batch
          # (the bootstrap its weights by position in the batch).
          assert np.isfinite(many[model]["per_seed"][key]).all()
          continue
        np.testing.assert_allclose(many[model]["per_seed"][key], value,
                                   rtol=1e-4, atol=1e-5,
                                   err_msg=f"{n} devices {model}.{key}")
