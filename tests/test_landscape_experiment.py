"""Smoke test of experiments/landscape.py (tiny config)."""

import json

import numpy as np
import pytest

from tests import train_helpers

_load = train_helpers.load_file


@pytest.mark.slow
def test_landscape_experiment_runs_and_writes_outputs(tmp_path):
  config = _load("configs/landscape.py", "_cfg_landscape").get_tiny_config()
  exp = _load("experiments/landscape.py", "_exp_landscape")
  results = exp.run(config, str(tmp_path))
  for name in ("results.json", "landscape.md", "components_vs_level.png",
               "barriers.png"):
    assert (tmp_path / name).stat().st_size > 0
  saved = json.loads((tmp_path / "results.json").read_text())
  assert set(saved["runs"]) == {"mlp/smooth_ece", "mlp/nll",
                                "vn_mlp/smooth_ece", "vn_mlp/nll"}
  for name, runs in results["runs"].items():
    assert len(runs) == 2  # sampling seeds
    for r in runs:
      assert len(r["components"]) == len(config.deltas)
      assert all(c <= l for c, l in zip(r["components"],
                                        r["components_linear"]))
      for m in r["minima"]:
        assert len(m["component_by_level"]) == len(config.deltas)
        assert m["stop_reason"] in ("early_stopping", "max_steps")
        if name.startswith("vn_mlp"):
          assert m["vn_label"].count("|") == 1  # one VN layer + frame
  assert "smooth_ece: VN-MLP minus MLP" in saved["comparisons"]
  assert "upper bounds" in (tmp_path / "landscape.md").read_text()


@pytest.mark.slow
def test_landscape_experiment_zhao_linear_lists_sign_patterns(tmp_path):
  cfg = _load("configs/landscape.py", "_cfg_landscape").get_tiny_config()
  cfg.problem, cfg.width, cfg.depth = "zhao_linear", 2, 2
  cfg.num_minima, cfg.train.num_steps = 6, 400
  exp = _load("experiments/landscape.py", "_exp_landscape")
  results = exp.run(cfg, str(tmp_path))
  run = results["runs"]["zhao_linear/mse"][0]
  patterns = np.array([m["sign_pattern"] for m in run["minima"]])
  assert patterns.shape == (6, 2) and set(np.prod(patterns, 1)) == {
      np.prod(patterns[0])}
  cert = results["certificates"]["zhao_linear/mse/seed 0"]
  assert cert["holds"] and cert["certificate"] > 0


def test_landscape_experiment_rejects_an_unknown_schedule():
  from enn_sym import train  # pylint: disable=g-import-not-at-top
  cfg = _load("configs/landscape.py", "_cfg_landscape").get_tiny_config()
  cfg.problem, cfg.width, cfg.depth = "zhao_linear", 2, 2
  cfg.train.schedule = "cosin"
  exp = _load("experiments/landscape.py", "_exp_landscape")
  with pytest.raises(train.ConfigError, match="train.schedule.*'cosin'"):
    exp.train_minima(cfg, exp.make_problem(cfg, "zhao_linear"), "mse")
