"""enn_sym.train.Sweep: the grid, cell selection, skip/resume, collection, and
the paired-difference statistics with their conclusion rule."""

import json
import math
import os

import ml_collections
import numpy as np
import pytest

from enn_sym import train
from enn_sym.train import _sweep
from enn_sym.train import _sweep_report
from tests.train_helpers import tiny_config

AXES = {"task": {"rot90": {"data.rotate": "right_angle"}, "upright": {}},
        "variant": {"plain": {}, "c4": {"symmetry": {"group": "c4"}}}}
# Made-up "true" effects of the fake trainer, per variant.
EFFECT = {"": 0.0, "c4": -0.05}


def _metrics(config, seed):
  shift = EFFECT[config.symmetry.group] + 0.01 * (seed % 3)
  return {"accuracy": 0.8 - shift, "ece": 0.1 + shift, "nll": 0.5 + shift}


class FakeTrain:
  """Writes a summary.json like the engine (multi-seed layout when the
  config has ``seeds``); ``fail_after_checkpoint`` simulates a run stopped
  after its first checkpoint."""

  def __init__(self, fail_after_checkpoint=()):
    self.calls = []
    self.fail = set(fail_after_checkpoint)

  def __call__(self, config, workdir):
    resumed = os.path.isdir(os.path.join(workdir, "epinet", "checkpoints"))
    self.calls.append((workdir, resumed, config))
    os.makedirs(os.path.join(workdir, "epinet", "checkpoints", "1"),
                exist_ok=True)
    if workdir in self.fail:
      self.fail.discard(workdir)
      raise KeyboardInterrupt  # Stopped mid-run.
    seeds = tuple(config.seeds) if "seeds" in config else (config.seed,)
    per = [_metrics(config, s) for s in seeds]
    if "seeds" in config:
      entry = {k: float(np.mean([p[k] for p in per])) for k in per[0]}
      entry.update(seeds=list(seeds),
                   per_seed={k: [p[k] for p in per] for k in per[0]},
                   stop_reason=["early_stopping"] * len(seeds),
                   steps_trained=[7] * len(seeds), best_step=[5] * len(seeds))
    else:
      entry = per[0]
    with open(os.path.join(workdir, "summary.json"), "w") as f:
      json.dump({m: entry for m in config.models}, f)


def _base(with_seeds: bool):
  """The tiny config with or without the engine's ``seeds`` key (the sweep
  then runs one train_fn call per seed)."""
  config = tiny_config(models=("epinet",))
  with config.unlocked():
    if with_seeds and "seeds" not in config:
      config.seeds = (0,)
    elif not with_seeds and "seeds" in config:
      del config["seeds"]
  return config


def test_cells_names_order_and_exclude():
  sweep = train.Sweep(_base(False), AXES, exclude=("upright/c4",))
  assert [c.name for c in sweep.cells] == ["rot90/plain", "rot90/c4",
                                           "upright/plain"]
  assert [c.index for c in sweep.cells] == [0, 1, 2]
  cell = sweep.cell("rot90/c4")
  assert cell.levels == {"task": "rot90", "variant": "c4"}
  assert cell.overrides == {"data.rotate": "right_angle",
                            "symmetry.group": "c4"}
  assert (cell.config.data.rotate, cell.config.symmetry.group) == (
      "right_angle", "c4")
  assert sweep.base_config.symmetry.group == ""  # the base is untouched
  # An axis over one key's values.
  sweep = train.Sweep(_base(False), {"num_steps": [2, 4]})
  assert [(c.name, c.config.num_steps) for c in sweep.cells] == [
      ("2", 2), ("4", 4)]


def test_bad_axes_are_one_line_errors():
  with pytest.raises(train.ConfigError, match="no key 'symetry'"):
    train.Sweep(_base(False), {"v": {"x": {"symetry.group": "c4"}}})
  with pytest.raises(train.ConfigError, match="has no levels"):
    train.Sweep(_base(False), {"v": {}})
  with pytest.raises(train.ConfigError, match="leaves no cell"):
    train.Sweep(_base(False), AXES, exclude=("*",))
  with pytest.raises(train.ConfigError, match="level name with '/'"):
    train.Sweep(_base(False), {"v": {"a/b": {}}})


def test_select_by_name_by_index_and_by_slurm_env():
  sweep = train.Sweep(_base(False), AXES)
  assert [c.name for c in sweep.select(["upright/c4", "rot90/plain"])] == [
      "upright/c4", "rot90/plain"]
  assert [c.name for c in sweep.select(array_index=2)] == ["upright/plain"]
  env = {"SLURM_ARRAY_TASK_ID": "1"}
  assert [c.name for c in sweep.select(environ=env)] == ["rot90/c4"]
  assert len(sweep.select(environ={})) == 4
  with pytest.raises(train.ConfigError, match="out of range.*0..3"):
    sweep.select(array_index=4)
  with pytest.raises(train.ConfigError, match="Unknown cell 'rot90/c8'"):
    sweep.select(["rot90/c8"])
  with pytest.raises(train.ConfigError, match="not a non-negative integer"):
    sweep.select(environ={"SLURM_ARRAY_TASK_ID": "x"})


@pytest.mark.parametrize("engine_seeds", [True, False])
def test_run_skips_done_and_resumes_partial_cells(tmp_path, engine_seeds):
  workdir = str(tmp_path)
  sweep = train.Sweep(_base(engine_seeds), AXES, seeds=(0, 1, 2))
  cell = sweep.cell("rot90/c4")
  stopped = sweep.cell_dir(workdir, cell)
  if not engine_seeds:
    stopped = os.path.join(stopped, "seed_1")
  fake = FakeTrain(fail_after_checkpoint=[stopped])
  sweep.train_fn = fake
  with pytest.raises(KeyboardInterrupt):
    sweep.run(workdir, ["rot90/c4"])
  assert sweep.status(workdir, cell) == "partial"
  assert sweep.run(workdir, array_index=1) == {"rot90/c4": "partial"}
  resumed = [c for c in fake.calls if c[0] == stopped]
  assert [r for _, r, _ in resumed] == [False, True]  # same workdir again
  n = len(fake.calls)
  assert sweep.status(workdir, cell) == "done"
  statuses = sweep.run(workdir)
  assert statuses == {"rot90/plain": "todo", "rot90/c4": "done",
                      "upright/plain": "todo", "upright/c4": "todo"}
  per_cell = 1 if engine_seeds else 3
  assert len(fake.calls) == n + 3 * per_cell
  sweep.run(workdir)
  assert len(fake.calls) == n + 3 * per_cell  # all done: nothing trained
  if engine_seeds:
    assert all(tuple(c.seeds) == (0, 1, 2) for _, _, c in fake.calls)
  else:
    assert sorted({(os.path.basename(w), c.seed) for w, _, c in fake.calls
                   }) == [("seed_0", 0), ("seed_1", 1), ("seed_2", 2)]


@pytest.mark.parametrize("engine_seeds", [True, False])
def test_collect_and_report(tmp_path, engine_seeds):
  workdir = str(tmp_path)
  seeds = (0, 1, 2, 3, 4)
  sweep = train.Sweep(_base(engine_seeds), AXES, seeds=seeds,
                      train_fn=FakeTrain())
  sweep.run(workdir, ["rot90/plain", "rot90/c4", "upright/plain"])
  results = sweep.report(workdir, metrics=("ece", "accuracy"))
  assert results["missing"] == ["upright/c4"]
  assert results["axes"] == {"task": ["rot90", "upright"],
                             "variant": ["plain", "c4"]}
  cell = results["cells"]["rot90/c4"]
  assert cell["levels"] == {"task": "rot90", "variant": "c4"}
  assert cell["overrides"] == {"data.rotate": "right_angle",
                               "symmetry.group": "c4"}
  assert cell["train_seconds"] > 0
  st = cell["models"]["epinet"]
  assert st["seeds"] == list(seeds)
  ece = [0.05 + 0.01 * (s % 3) for s in seeds]
  np.testing.assert_allclose(st["per_seed"]["ece"], ece)
  # Hand-computed Student-t interval: t(0.975, 4) = 2.7764451.
  sd = np.std(ece, ddof=1)
  np.testing.assert_allclose(st["mean"]["ece"], np.mean(ece))
  np.testing.assert_allclose(
      st["ci95"]["ece"], np.mean(ece) + np.array([-1, 1]) * 2.7764451 * sd /
      math.sqrt(5), rtol=1e-6)
  reasons = ["early_stopping"] * 5 if engine_seeds else [None] * 5
  assert st["stop_reason"] == reasons
  on_disk = json.loads((tmp_path / "results.json").read_text())
  assert on_disk == json.loads(json.dumps(results))
  table = (tmp_path / "results.md").read_text()
  assert table.count("\n") == 2 + 3
  mean, lo, hi = train.mean_ci(ece)
  assert f"| rot90 | c4 | epinet | 5 | {mean:.3f} [{lo:.3f}, {hi:.3f}] |" in table
  assert os.path.getsize(tmp_path / "ece.png") > 5_000
  # Paired differences against plain: c4 lowers ECE by exactly 0.05.
  rows = train.compare(results, "variant", "plain", ("ece", "accuracy"))
  assert [(r["task"], r["metric"]) for r in rows] == [("rot90", "ece"),
                                                      ("rot90", "accuracy")]
  np.testing.assert_allclose(rows[0]["mean"], -0.05, atol=1e-12)
  assert rows[0]["n"] == 5
  # Zero spread of the differences: a degenerate interval at -0.05.
  assert rows[0]["conclusion"] == "lowers"
  assert rows[1]["conclusion"] == "raises"


def test_changed_config_is_not_silently_resumed(tmp_path):
  sweep = train.Sweep(_base(True), AXES, train_fn=FakeTrain())
  sweep.run(str(tmp_path), ["rot90/plain"])
  base = _base(True)
  base.num_steps = 4
  other = train.Sweep(base, AXES, train_fn=FakeTrain())
  with pytest.raises(train.ConfigError, match="different config.*num_steps"):
    other.run(str(tmp_path), ["rot90/plain"])
  base = _base(True)
  base.progress_bar = True  # changes no number
  train.Sweep(base, AXES, train_fn=FakeTrain()).run(str(tmp_path),
                                                    ["rot90/plain"])


def test_truncated_summary_is_not_done(tmp_path):
  sweep = train.Sweep(_base(True), AXES, seeds=(0, 1), train_fn=FakeTrain())
  cell = sweep.cell("rot90/plain")
  path = sweep.cell_dir(str(tmp_path), cell)
  os.makedirs(path)
  with open(os.path.join(path, "summary.json"), "w") as f:
    f.write('{"epinet": {"ece": 0.1, "se')
  assert sweep.status(str(tmp_path), cell) == "partial"
  with open(os.path.join(path, "summary.json"), "w") as f:
    json.dump({"epinet": {"ece": 0.1, "seeds": [0]}}, f)  # other seeds
  assert sweep.status(str(tmp_path), cell) == "partial"


def test_mean_ci_hand_values_and_scipy_free_reference():
  mean, lo, hi = train.mean_ci([1.0, 2.0, 3.0])
  assert mean == 2.0
  half = 4.302652729911275 / math.sqrt(3)  # t(0.975, 2) * sd 1 / sqrt(3)
  np.testing.assert_allclose([lo, hi], [2 - half, 2 + half], rtol=1e-9)
  assert train.mean_ci([0.3]) == (0.3, 0.3, 0.3)
  with pytest.raises(ValueError, match="non-empty"):
    train.mean_ci([])


def test_seed_statistics_flattens_per_seed_bounds():
  """Per-seed bound dicts become "finite_orbit_bounds/<key>" metrics with a
  mean and t-interval, only for keys that are numbers in every seed."""
  entry = {"seeds": [0, 1, 2], "per_seed": {
      "ece": [0.1, 0.2, 0.3],
      "finite_orbit_bounds": [
          {"prop1_ece_upper": 0.5, "thm4_ece_upper": 0.4, "not_applicable": {}},
          {"prop1_ece_upper": 0.7, "thm4_ece_upper": None,
           "not_applicable": {"thm4_ece_upper": "why"}},
          {"prop1_ece_upper": 0.6, "thm4_ece_upper": 0.3,
           "not_applicable": {}}]},
      "stop_reason": ["max_steps"] * 3}
  stats = _sweep_report.seed_statistics(entry)
  assert stats["mean"]["finite_orbit_bounds/prop1_ece_upper"] == (
      pytest.approx(0.6))
  lo, hi = stats["ci95"]["finite_orbit_bounds/prop1_ece_upper"]
  half = 4.302652729911275 * 0.1 / math.sqrt(3)  # t_{0.975, 2} * s / sqrt(n)
  assert (lo, hi) == (pytest.approx(0.6 - half), pytest.approx(0.6 + half))
  assert "finite_orbit_bounds/thm4_ece_upper" not in stats["mean"]
  assert "finite_orbit_bounds/not_applicable" not in stats["per_seed"]


def test_paired_difference_pairs_by_seed():
  d = train.paired_difference([1.0, 2.0, 4.0], [0, 1, 2],
                              [3.0, 0.0, 1.0], [2, 0, 1])
  # Pairs: seed 0: 1-0, seed 1: 2-1, seed 2: 4-3 -> all +1.
  assert d["n"] == 3 and d["seeds"] == [0, 1, 2]
  np.testing.assert_allclose([d["mean"], *d["ci95"]], [1.0, 1.0, 1.0])
  d = train.paired_difference([1.0, 5.0], [0, 9], [0.0], [0])
  assert d["n"] == 1 and all(math.isnan(c) for c in d["ci95"])
  assert train.conclusion(d["ci95"], d["n"]) == "no measurable difference"


@pytest.mark.parametrize("ci,expected", [
    ((-0.2, 0.1), "no measurable difference"),
    ((0.0, 0.3), "no measurable difference"),
    ((-0.3, 0.0), "no measurable difference"),
    ((-0.3, -0.01), "lowers"),
    ((0.01, 0.2), "raises"),
    ((float("nan"), 0.2), "no measurable difference"),
])
def test_conclusion_only_where_the_ci_excludes_zero(ci, expected):
  assert train.conclusion(ci, n=5) == expected


def test_conclusion_needs_enough_seeds():
  assert train.conclusion((-0.3, -0.1), n=4).startswith(
      "no measurable difference (only 4 seeds")
  assert train.conclusion((-0.3, -0.1), n=4, min_seeds=3) == "lowers"


def test_from_config_presets_and_run_from_flags(tmp_path, capsys):
  config = ml_collections.ConfigDict()
  config.base = tiny_config(models=("epinet",))  # validated
  config.axes = {"variant": {"plain": {}, "c4": {"symmetry": {"group": "c4"}}},
                 "task": {"rot90": {"data": {"rotate": "right_angle"}},
                          "upright": {}}}
  config.axis_order = ("task", "variant")
  config.seeds = (0, 1)
  config.exclude = ()
  config.preset = "default"
  config.presets = ml_collections.ConfigDict()
  config.presets.quick = (("axes.task", {"upright": {}}), ("seeds", (3,)))
  sweep = train.Sweep.from_config(config)
  assert [c.name for c in sweep.cells] == [
      "rot90/c4", "rot90/plain", "upright/c4", "upright/plain"]
  config.preset = "quick"
  quick = train.Sweep.from_config(config)
  assert [c.name for c in quick.cells] == ["upright/c4", "upright/plain"]
  assert quick.seeds == (3,)
  config.preset = "huge"
  with pytest.raises(train.ConfigError, match="'huge' is not a preset"):
    train.Sweep.from_config(config)
  config.preset = "quick"
  fake = FakeTrain()
  workdir = str(tmp_path)
  # A job-array task runs its cell and writes no report.
  assert _sweep.run_from_flags(config, workdir, train_fn=fake,
                               environ={"SLURM_ARRAY_TASK_ID": "1"}) is None
  assert len(fake.calls) == 1 and not (tmp_path / "results.json").exists()
  results = _sweep.run_from_flags(config, workdir, train_fn=fake,
                                  report_only=True, environ={})
  assert list(results["cells"]) == ["upright/plain"]
  _sweep.run_from_flags(config, workdir, list_only=True, environ={})
  out = capsys.readouterr().out
  assert "   0  upright/c4  todo" in out and "   1  upright/plain  done" in out


@pytest.mark.slow
def test_real_cells_train_and_collect(tmp_path):
  """A real (tiny) train_and_evaluate cell with two seeds, collected."""
  base = tiny_config(models=("base",))
  sweep = train.Sweep(base, {"num_steps": [2]}, seeds=(0, 1))
  assert sweep.run(str(tmp_path)) == {"2": "todo"}
  results = sweep.report(str(tmp_path), metrics=("accuracy", "nll"))
  assert results["missing"] == []
  st = results["cells"]["2"]["models"]["base"]
  assert st["seeds"] == [0, 1] and len(st["per_seed"]["nll"]) == 2
  assert all(np.isfinite(st["per_seed"]["nll"]))
  assert st["per_seed"]["nll"][0] != st["per_seed"]["nll"][1]
  assert sweep.run(str(tmp_path)) == {"2": "done"}


def _sweep_main(*args):
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  from tests.train_helpers import REPO  # pylint: disable=g-import-not-at-top
  env = dict(os.environ, PYTHONPATH=REPO)
  env.pop("SLURM_ARRAY_TASK_ID", None)
  return subprocess.run(
      [sys.executable, "-c", "from enn_sym.train import sweep_main; "
       "sweep_main()", *args], capture_output=True, text=True, env=env,
      cwd=REPO, timeout=300)


@pytest.mark.slow
def test_sweep_main_console_entry(tmp_path):
  """The callable behind the enn-sym-sweep console script: --list, and bad
  input as one 'error:' line with exit status 2."""
  out = _sweep_main("--config", "configs/symmetry_study.py",
                    "--config.preset=quick", "--workdir", str(tmp_path),
                    "--list")
  assert out.returncode == 0, out.stderr
  lines = out.stdout.strip().splitlines()
  assert len(lines) == 12 and lines[0].split() == [
      "0", "rot90/300/c4/epinet/1x", "todo"]
  out = _sweep_main("--config", "configs/symmetry_study.py",
                    "--config.preset=quick", "--workdir", str(tmp_path),
                    "--array_index", "99")
  assert out.returncode == 2
  assert out.stderr.strip().splitlines()[-1].startswith(
      "error: array index 99 is out of range: the sweep has 12 cells")
  out = _sweep_main("--config", "configs/symmetry_study.py",
                    "--config.preset=huge", "--list")
  assert out.returncode == 2 and "'huge' is not a preset" in out.stderr


def test_compare_requires_converged_seeds_when_asked():
  """A pair with a seed at the step ceiling gives "not converged", never a
  claim; without the flag the CI rule alone decides."""
  def cell(variant, values, reasons):
    return {"levels": {"variant": variant}, "models": {"epinet": {
        "seeds": [0, 1, 2, 3, 4], "per_seed": {"ece": values},
        "stop_reason": reasons}}}
  done = ["early_stopping"] * 5
  results = {"axes": {"variant": ["plain", "c4"]}, "cells": {
      "plain": cell("plain", [0.10, 0.11, 0.12, 0.13, 0.14], done),
      "c4": cell("c4", [0.05, 0.06, 0.07, 0.08, 0.09],
                 done[:4] + ["max_steps"])}}
  (row,) = train.compare(results, "variant", "plain", ("ece",))
  assert row["conclusion"] == "lowers"
  (row,) = train.compare(results, "variant", "plain", ("ece",),
                         require_converged=True)
  assert row["conclusion"] == "not converged"
  results["cells"]["c4"]["models"]["epinet"]["stop_reason"] = done
  (row,) = train.compare(results, "variant", "plain", ("ece",),
                         require_converged=True)
  assert row["conclusion"] == "lowers"
