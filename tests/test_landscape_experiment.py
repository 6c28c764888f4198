"""Smoke test of experiments/landscape.py (tiny config)."""

import json

import pytest

from tests import train_helpers

_load = train_helpers.load_file


@pytest.mark.slow
def test_landscape_experiment_runs_and_writes_outputs(tmp_path):
  config = _load("configs/landscape.py", "_cfg_landscape").get_tiny_config()
  config.models = ("mlp",)
  exp = _load("experiments/landscape.py", "_exp_landscape")
  results = exp.run(config, str(tmp_path))
  for name in ("results.json", "results.md", "components_vs_level.png",
               "barriers.png"):
    assert (tmp_path / name).stat().st_size > 0
  saved = json.loads((tmp_path / "results.json").read_text())
  assert set(saved["models"]) == {"mlp/none", "mlp/perm+rescale"}
  for entry in results["models"].values():
    assert entry["num_minima"] == 3
    assert len(entry["components_curve"]) == config.num_levels
    # Curves can only merge more than linear paths.
    assert all(c <= l for c, l in zip(entry["components_curve"],
                                      entry["components_linear"]))
  assert "| mlp | perm+rescale |" in saved["table"]
