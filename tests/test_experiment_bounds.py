"""Smoke test of experiments/bounds.py with trained invariant models."""

import json

import pytest

from tests import train_helpers

_load = train_helpers.load_file


@pytest.mark.slow
def test_bounds_experiment_tiny(tmp_path):
  config = _load("configs/bounds.py", "_bounds_config").get_config()
  config.sweep = ((0.5, 0.5),)
  config.num_train, config.num_test = 200, 400
  config.num_seeds = 2
  config.models = ("ensemble",)
  config.ensemble.num_ensemble = 2
  config.hidden_sizes = (16,)
  config.num_steps = 400
  # A fake six_vs_nine results file, read back by the 6/9 section.
  fake = tmp_path / "six_vs_nine.json"
  fake.write_text(json.dumps({"variants": {"c2_invariant": {"epinet": {
      "acc_69": 0.5, "ece": 0.1, "mi_69": 0.01}}}}))
  config.six_vs_nine.results_json = str(fake)
  module = _load("experiments/bounds.py", "_bounds_experiment")
  results = module.run(config, str(tmp_path / "out"))
  row = results["sweep"][0]
  inv = row["models"]["invariant/ensemble"]
  plain = row["models"]["plain/ensemble"]
  # Exactly invariant; never beats the floor on the (orbit-closed) test
  # set, which is exact there, nor the population floor 1/4 beyond sampling
  # error (3 standard errors of a 400-point accuracy).
  assert inv["invariant"] and not plain["invariant"]
  assert row["test_error_floor"] == pytest.approx(0.25, abs=0.01)
  for err in inv["error"]["values"]:
    assert err >= row["test_error_floor"] - 1e-12
    assert err >= 0.25 - 3 * (0.25 * 0.75 / 400) ** 0.5
  # The ECE lies within the fibre-wise bounds of every invariant run.
  assert inv["bounds_hold"] and plain["bounds_hold"]
  for lo, ece, hi in zip(inv["lower"]["values"], inv["ece"]["values"],
                         inv["upper"]["values"]):
    assert lo - 1e-9 <= ece <= hi + 1e-9
  sv = results["six_vs_nine"]
  assert sv["c2"]["ceiling"] == pytest.approx(0.5)  # 100 sixes, 100 nines.
  assert sv["trained"]["c2_invariant/epinet"]["acc_69"] == 0.5
  for name in ("results.json", "results.md", "bounds.png"):
    assert (tmp_path / "out" / name).exists()
