"""Smoke test of experiments/bounds.py: trained models, bounds with gaps."""

import numpy as np
import pytest

from tests import train_helpers

_load = train_helpers.load_file


@pytest.mark.slow
def test_bounds_experiment_tiny(tmp_path):
  config = _load("configs/bounds.py", "_bounds_config").get_config()
  config.swiss_sweep = ((0.5, 0.5),)
  config.circle = False
  config.num_train, config.num_val, config.num_test = 200, 100, 200
  config.seeds = (0, 1)
  config.num_ensemble = 2
  config.hidden_sizes = (8,)
  config.num_steps, config.eval_every = 40, 20
  module = _load("experiments/bounds.py", "_bounds_experiment")
  results = module.run(config, str(tmp_path / "out"))
  recs = {(r["model"], r["readout"]): r for r in results["records"]}
  assert set(recs) == {(m, c) for m in ("invariant", "plain")
                       for c in ("mean", "lower")}
  inv, plain = recs["invariant", "mean"], recs["plain", "mean"]
  # The invariant model is checked invariant: Theorem 1 and 5 apply; the
  # plain one is not, so only Proposition 1 is evaluated for it.
  assert inv["summary"]["thm1_error_lower"]["applies"] == 1.0
  assert inv["summary"]["thm5_ece_lower"]["applies"] == 1.0
  assert plain["summary"]["thm1_error_lower"]["applies"] == 0.0
  assert "not invariant" in plain["not_applicable"]["thm5_ece_lower"]
  # Gaps are bound - ECE for upper bounds, error - floor for Theorem 1.
  for run, ece, acc in zip(inv["runs"], inv["ece"], inv["accuracy"]):
    p1 = run["prop1_ece_upper"]
    assert p1["gap"] == pytest.approx(p1["value"] - ece)
    t1 = run["thm1_error_lower"]
    assert t1["gap"] == pytest.approx((1 - acc) - t1["value"])
    assert t1["non_vacuous"] == (t1["value"] > 0)
  assert inv["ceiling"] == pytest.approx(0.75, abs=0.02)
  assert all(s in ("early_stopping", "max_steps") for s in inv["stop_reason"])
  assert np.all(np.asarray(inv["accuracy"]) <= inv["ceiling"] + 1e-9)
  assert (tmp_path / "out" / "results.md").exists()
