"""The symmetric testbed's fast evaluation, early stopping and results page."""

import importlib.util
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from enn_sym import base as base_lib
from enn_sym import testbed as tb
from enn_sym._validation import InputError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _problems(rho=0.25, seed=3, num_train=20):
  teacher = tb.symmetric_teacher(tb.rotation_group(4), rho)
  return {tau: tb.make_problem(tb.ProblemConfig(
      problem_id=-1, input_dim=2, num_train=num_train, temperature=0.1,
      tau=tau, seed=seed, num_test_seeds=16, num_enn_samples=6),
      teacher=teacher) for tau in (1, 10)}


@pytest.mark.parametrize("kind,averaged", [
    ("mlp", False),
    pytest.param("epinet", True, marks=pytest.mark.slow)])
def test_seed_batched_evaluation_equals_the_per_seed_path(kind, averaged):
  group = tb.rotation_group(4) if averaged else None
  problems = _problems()
  config = tb.AgentConfig(kind)
  samplers, fit = tb.fit_symmetric_agent(config, problems[1], group, (0, 1),
                                         max_steps=20, eval_every=10)
  sizes = dict(num_inputs=300, num_samples=5, num_labels=120)
  enn = tb.symmetric_enn(config, problems[1].config, group)
  new = tb.evaluate_symmetric_seeds(
      enn, {**fit.state, base_lib.PARAMS: fit.params},
      tb.symmetric_eval_data(problems[1], problems[10], **sizes))
  assert len(new) == 2
  for sampler, fast in zip(samplers, new):
    old = tb.evaluate_symmetric(problems[1], sampler, **sizes)
    old["kl10"] = tb.evaluate_quality(problems[10], sampler)["kl_estimate"]
    for key in ("kl", "kl10", "true_ce", "ece", "ece_lo", "ece_hi"):
      assert fast[key] == pytest.approx(old[key], rel=1e-4, abs=1e-6), key


def test_one_compiled_evaluation_serves_every_cell():
  config = tb.AgentConfig("mlp")
  sizes = dict(num_inputs=100, num_samples=4, num_labels=50)
  cache_key = ("test_reuse", config)
  from enn_sym.testbed import _symmetric  # pylint: disable=g-import-not-at-top
  values, programs = [], []
  for rho, seed in ((0.0, 3), (0.5, 4)):
    problems = _problems(rho, seed)
    _, fit = tb.fit_symmetric_agent(config, problems[1], None, (0,),
                                    max_steps=5, eval_every=5)
    enn = tb.symmetric_enn(config, problems[1].config, None)
    values.append(tb.evaluate_symmetric_seeds(
        enn, {**fit.state, base_lib.PARAMS: fit.params},
        tb.symmetric_eval_data(problems[1], problems[10], **sizes),
        cache_key=cache_key)[0]["kl"])
    programs.append(_symmetric._EVAL_PROGRAMS[(cache_key, 50)])
  assert programs[0] is programs[1]        # the same jitted program ...
  assert programs[0]._cache_size() == 1    # ... compiled once for both cells
  assert values[0] != values[1]       # ... and it did see the new cell


def test_early_stopping_fires_and_min_delta_reaches_the_trainer():
  problems = _problems()
  # No improvement can beat min_delta = 10 after the first check, so every
  # seed stops after 1 + patience checks, long before the ceiling.
  _, fit = tb.fit_symmetric_agent(tb.AgentConfig("mlp"), problems[1],
                                  None, (0, 1), max_steps=500, eval_every=10,
                                  patience=2, min_delta=10.0)
  assert fit.stop_reason == ["early_stopping"] * 2
  np.testing.assert_array_equal(fit.steps_trained, [30, 30])
  # The ceiling: max_steps, not the published step count.
  _, fit = tb.fit_symmetric_agent(tb.AgentConfig("mlp"), problems[1],
                                  None, (0,), max_steps=20, eval_every=10,
                                  patience=50)
  assert fit.stop_reason == ["max_steps"]
  np.testing.assert_array_equal(fit.steps_trained, [20])


def _record(model, values, reasons, seeds=(0, 1, 2, 3, 4)):
  return {"num_train": 20, "incorrect_fraction": 0.0, "support": "gaussian",
          "model": model, "seeds": list(seeds), "stop_reason": list(reasons),
          "steps_trained": [100] * len(seeds), "kl1": list(values),
          "kl10": list(values), "true_ce": list(values), "ece": list(values),
          "ece_lo": list(values), "ece_hi": list(values)}


def test_comparisons_claim_only_for_converged_models_with_a_ci_off_zero():
  stop = ["early_stopping"] * 5
  plain = _record("plain", [1.0, 1.1, 0.9, 1.05, 0.95], stop)
  better = _record("C4", [0.5, 0.62, 0.41, 0.55, 0.44], stop)
  rows = tb.symmetric_comparisons([plain, better])
  assert [r["reading"] for r in rows] == ["averaged better (lower)"] * 3
  assert rows[0]["diff"] == pytest.approx(-0.496, abs=1e-9)
  worse = _record("C4", [1.5, 1.62, 1.41, 1.55, 1.44], stop)
  assert tb.symmetric_comparisons([plain, worse])[0]["reading"] == (
      "averaged worse (higher)")
  same = _record("C4", [1.05, 0.9, 1.0, 0.95, 1.1], stop)
  assert tb.symmetric_comparisons([plain, same])[0]["reading"] == (
      "no measurable difference")
  # One seed at the step ceiling: no claim, however clear the difference.
  ceiling = _record("C4", better["kl1"], stop[:4] + ["max_steps"])
  assert {r["reading"] for r in tb.symmetric_comparisons([plain, ceiling])} \
      == {"not converged"}
  assert tb.stop_counts(ceiling) == "early_stopping 4, max_steps 1"
  with pytest.raises(InputError, match="different seeds"):
    tb.symmetric_comparisons([plain, _record("C4", [1.0] * 5, stop,
                                             seeds=(5, 6, 7, 8, 9))])
  page = tb.symmetric_markdown([plain, ceiling], level=2)
  assert page.startswith("## Symmetric testbed") and "not converged" in page


def test_bad_cells_modes_and_presets_are_one_error(tmp_path):
  with pytest.raises(InputError, match="Bad cell"):
    tb.run_symmetric(cells=((20, 0.0, "sphere"),))
  with pytest.raises(InputError, match="cells is empty"):
    tb.run_symmetric(cells=())
  with pytest.raises(InputError, match="mode must be one of"):
    tb.run_parts("both")
  assert tb.run_parts("all") == ("leaderboard", "symmetric")
  with pytest.raises(InputError, match="symmetric-testbed preset"):
    tb.resolve_symmetric_preset("huge")
  with pytest.raises(InputError, match="no results.json"):
    tb.load_parts(str(tmp_path), require=True)
  assert tb.load_parts(str(tmp_path)) == {"leaderboard": None,
                                          "symmetric": None}
  one, other = _problems(seed=3)[1], _problems(seed=4)[10]
  with pytest.raises(InputError, match="share the teacher seed"):
    tb.symmetric_eval_data(one, other)


def _leaderboard_result():
  records = [dict(agent=a, problem_id=25, tau=1, input_dim=2, num_train=20,
                  temperature=0.5, seed=26, kl=kl, kl_per_seed=[kl],
                  kl_stderr=0.0, train_seconds=1.0, stop_reason=["n/a"])
             for a, kl in (("uniform", 0.5), ("mlp", 0.25))]
  return {"records": records, "command": "python experiments/testbed.py A",
          "wall_seconds": 60.0, "notes": "Preset `x`."}


def test_results_page_assembles_both_parts_from_saved_results(tmp_path):
  lb = _leaderboard_result()
  stop = ["early_stopping"] * 5
  sym = {"records": [_record("plain", [1.0, 1.1, 0.9, 1.05, 0.95], stop),
                     _record("C4", [0.5, 0.62, 0.41, 0.55, 0.44], stop)],
         "command": "python experiments/testbed.py B", "wall_seconds": 120.0,
         "settings": dict(tb.resolve_symmetric_preset("quick"))}
  page = tb.results_page(lb, sym, command="python experiments/testbed.py")
  assert page.index("## Neural Testbed leaderboard") < page.index(
      "## Symmetric testbed")
  assert "Sum of the parts' wall times: 3.0 min." in page
  assert "| mlp | 1 | 1 | 0.2500 |" in page
  assert "averaged better (lower)" in page
  assert "python experiments/testbed.py A" in page
  assert "python experiments/testbed.py B" in page
  only = tb.results_page(None, sym)
  assert "Not run (no `results.json`)." in only
  # The script's report-only path renders the same page from the JSON.
  (tmp_path / "results.json").write_text(json.dumps(lb))
  (tmp_path / "symmetric.json").write_text(json.dumps(sym))
  loaded = tb.load_parts(str(tmp_path))
  assert loaded["leaderboard"] == lb
  assert tb.results_page(loaded["leaderboard"], loaded["symmetric"]) == (
      tb.results_page(lb, sym))


def test_script_report_only_and_bad_mode(tmp_path):
  (tmp_path / "results.json").write_text(json.dumps(_leaderboard_result()))
  script = os.path.join(ROOT, "experiments", "testbed.py")
  env = {**os.environ, "PYTHONPATH": ROOT, "JAX_PLATFORMS": "cpu"}
  page = tmp_path / "page.md"
  out = subprocess.run(
      [sys.executable, script, f"--workdir={tmp_path}",
       "--config.report_only=True", f"--config.page={page}"],
      capture_output=True, text=True, env=env, check=False)
  assert out.returncode == 0, out.stderr
  text = page.read_text()
  assert text == tb.results_page(
      _leaderboard_result(), None, footer=text.rstrip("\n").split("\n")[-1],
      command=f"python experiments/testbed.py --workdir={tmp_path} "
              f"--config.report_only=True --config.page={page}")
  bad = subprocess.run(
      [sys.executable, script, f"--workdir={tmp_path}",
       "--config.mode=both"], capture_output=True, text=True, env=env,
      check=False)
  assert bad.returncode == 2
  assert bad.stderr.strip().splitlines()[-1].startswith("error: mode must be")
  assert "Traceback" not in bad.stderr
  empty = subprocess.run(
      [sys.executable, script, f"--workdir={tmp_path / 'none'}",
       "--config.report_only=True"], capture_output=True, text=True, env=env,
      check=False)
  assert empty.returncode == 2 and "error: no results.json" in empty.stderr


def test_teacher_summary_by_hand():
  problem = _problems()[1]
  true = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]],
                  np.float32)
  data = tb.SymmetricEvalData(None, None, None, None, None, true, None)
  out = tb.teacher_summary(problem, data)
  assert out["argmax_majority"] == pytest.approx(0.75)
  assert out["mean_top_prob"] == pytest.approx((0.9 + 0.8 + 0.6 + 0.7) / 4)
  y = np.asarray(problem.y_train)
  assert out["train_majority"] == pytest.approx(
      max(y.mean(), 1 - y.mean()))
