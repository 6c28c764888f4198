"""The progress bar's clock: it starts after the first (compiling) dispatch,
and evaluation and checkpoint time never count in examples/s.

A fake clock advances only where the test says: 1000 s inside the first
(compiling) dispatch, 1 s inside every other dispatch, 500 s inside every
evaluation and 300 s inside every checkpoint write. Timed correctly, every
logged ``examples_per_sec`` is exactly one batch per second.
"""

from __future__ import annotations

import json
import os

import pytest

from enn_sym import train
from enn_sym.train import _progress
from tests.train_helpers import tiny_config

COMPILE, STEP, EVAL, SAVE = 1000.0, 1.0, 500.0, 300.0


class FakeClock:

  def __init__(self):
    self.now = 0.0

  def __call__(self):
    return self.now


class FakeBar:
  """Records the bars made, their clock time and their calls."""

  made = []

  def __init__(self, clock, **kwargs):
    self.clock, self.kwargs, self.calls = clock, kwargs, []
    self.created_at = clock()
    FakeBar.made.append(self)

  def update(self, n):
    self.calls.append(("update", n))

  def unpause(self):
    self.calls.append(("unpause", self.clock()))

  def set_postfix(self, **values):
    self.calls.append(("postfix", values))

  def close(self):
    self.calls.append(("close",))


def _progress_bar(clock):
  FakeBar.made = []
  return lambda **kw: FakeBar(clock, **kw)


def test_progress_unit_clock_and_pauses():
  clock = FakeClock()
  p = _progress.Progress(10, 0, "base", examples_per_step=8, enabled=True,
                         clock=clock, bar_factory=_progress_bar(clock))
  synced = []
  clock.now += COMPILE
  p.advance(1, lambda: synced.append(clock.now))
  assert synced == [COMPILE] and p.started_at == COMPILE
  placeholder, bar = FakeBar.made
  assert placeholder.kwargs["desc"] == "base (compiling)"
  assert placeholder.calls == [("close",)]
  assert bar.created_at == COMPILE and bar.kwargs["initial"] == 1
  for _ in range(3):
    clock.now += STEP
    p.advance(1, lambda: pytest.fail("only the first dispatch blocks"))
  assert p.rate() == 3 * 8 / 3.0
  clock.now += STEP
  p.advance(1, lambda: None)
  p.pause()
  clock.now += EVAL
  p.resume()
  clock.now += STEP
  p.advance(1, lambda: None)
  assert p.rate() == 2 * 8 / 2.0  # The 500 s evaluation is not counted.
  assert ("unpause", COMPILE + 4 * STEP + EVAL) in bar.calls
  assert [c for c in bar.calls if c[0] == "update"] == [("update", 1)] * 5


@pytest.mark.slow
def test_trainer_examples_per_sec_excludes_compile_and_evaluation(tmp_path):
  cfg = tiny_config(num_steps=6, log_every=2, eval_every=2,
                    checkpoint_every=3, batch_size=16, progress_bar=True,
                    temperature_scaling=False)
  clock = FakeClock()
  trainer = train.Trainer(cfg, str(tmp_path))
  trainer.clock, trainer.bar_factory = clock, _progress_bar(clock)
  trainer.init_or_restore()
  run = trainer.runs["base"]
  step, evaluate, save = run.multi_step, run.evaluate, run._save
  calls = {"step": 0, "eval": 0, "save": 0}

  def timed_step(*args):
    calls["step"] += 1
    clock.now += COMPILE if calls["step"] == 1 else STEP
    return step(*args)

  def timed_evaluate(*args, **kwargs):
    calls["eval"] += 1
    clock.now += EVAL
    return evaluate(*args, **kwargs)

  def timed_save(*args, **kwargs):
    calls["save"] += 1
    clock.now += SAVE
    return save(*args, **kwargs)

  run.multi_step, run.evaluate, run._save = timed_step, timed_evaluate, (
      timed_save)
  trainer.train()
  assert calls == {"step": 6, "eval": 2, "save": 2}  # evals at 2, 4
  with open(os.path.join(str(tmp_path), "metrics.jsonl")) as f:
    records = [json.loads(l) for l in f]
  rates = {r["step"]: r["examples_per_sec"] for r in records
           if r.get("split") == "train"}
  # Each window holds timed steps only: step 2 (step 1 compiled), then
  # steps 3-4 around the step-3 checkpoint, 5-6 after the step-4 evaluation.
  assert rates == {2: 16.0, 4: 16.0, 6: 16.0}
  bar = FakeBar.made[-1]
  assert bar.created_at == COMPILE and bar.kwargs["initial"] == 1
  assert bar.kwargs["total"] == 6 and not bar.kwargs["disable"]
  assert [c for c in bar.calls if c[0] == "update"] == [("update", 1)] * 5
