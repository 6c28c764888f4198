"""Smoke tests of the symmetry experiment scripts (shrunk configs)."""

import json
import math
import os

import pytest

from tests import train_helpers

_load = train_helpers.load_file


def _config(name: str, models=("epinet",), seeds=(0,)):
  config = _load(f"configs/{name}.py", f"_cfg_{name}").get_config()
  base = config.base
  base.models = models
  base.num_steps = 2
  base.batch_size = 16
  base.eval_batch_size = 200
  base.eval_num_indices = 2
  base.loss.num_index_samples = 2
  base.model.mlp_hidden_sizes = (8,)
  base.model.lenet_channels = (2, 2)
  base.model.lenet_dense_sizes = (8,)
  base.model.p4_channels = (2, 2)
  base.model.vn_hidden_sizes = (4,)
  base.model.epinet.hidden_sizes = (4,)
  base.model.epinet.index_dim = 2
  base.model.ensemble.num_ensemble = 2
  base.metrics.joint_num_samples = 4
  base.symmetry.num_samples = 3
  config.seeds = seeds
  config.exclude = ()
  if "timing_batch_size" in config:
    config.timing_batch_size = 8
    config.timing_repeats = 1
  return config


def _finite_numbers(tree):
  if isinstance(tree, dict):
    for value in tree.values():
      yield from _finite_numbers(value)
  elif isinstance(tree, (list, tuple)):
    for value in tree:
      yield from _finite_numbers(value)
  elif isinstance(tree, (int, float)) and not isinstance(tree, bool):
    yield tree


def _check_outputs(workdir, results, png):
  for name in ("results.json", "results.md", png):
    assert os.path.getsize(os.path.join(workdir, name)) > 0, name
  with open(os.path.join(workdir, "results.json")) as f:
    assert json.load(f) == json.loads(json.dumps(results))
  numbers = list(_finite_numbers(results))
  assert numbers and all(math.isfinite(x) for x in numbers)


@pytest.mark.slow
def test_rotation_calibration(tmp_path):
  module = _load("experiments/rotation_calibration.py", "_rotcal")
  config = _config("rotation_calibration")
  config.base.data.fractions = (0.8, 0.1, 0.1)
  results = module.run(config, str(tmp_path), ["c4_averaged"])
  assert set(results["cells"]) == {"c4_averaged"}
  row = results["cells"]["c4_averaged"]["models"]["epinet"]
  assert len(row["mean"]["orbit_ece"]) == 4
  assert row["mean"]["invariance_tv_max"] < 1e-3  # Whole-ENN C4 averaging.
  assert row["us_per_example"] > 0
  _check_outputs(tmp_path, results, "ece_vs_group_size.png")


@pytest.mark.slow
def test_six_vs_nine(tmp_path):
  module = _load("experiments/six_vs_nine.py", "_six_vs_nine")
  config = _config("six_vs_nine", seeds=(0, 1))
  results = module.run(config, str(tmp_path), ["plain", "c2_invariant"])
  probe = results["probes"]["c2_invariant"]["epinet"]
  assert len(probe["acc_in"]["per_seed"]) == 2
  assert 0.0 <= probe["acc_in"]["mean"] <= 1.0
  assert probe["mutual_info_in"]["mean"] >= 0.0
  assert 0.5 <= results["ceilings"]["ceiling_ideal"] <= 1.0
  rows = [r for r in results["conclusions"]
          if r["cell"] == "c2_invariant" and r["metric"] == "mutual_info_diff"]
  # Two seeds: never a claim (the rule needs 5).
  assert rows and rows[0]["vs_reference_conclusion"].startswith(
      "no measurable difference")
  _check_outputs(tmp_path, results, "six_vs_nine.png")


@pytest.mark.slow
def test_point_cloud_calibration(tmp_path):
  module = _load("experiments/point_cloud_calibration.py", "_pccal")
  config = _config("point_cloud_calibration")
  config.base.data.tetris_per_class = 20
  config.base.eval_batch_size = 32
  results = module.run(config, str(tmp_path), ["vn_mlp"])
  row = results["cells"]["vn_mlp"]["models"]["epinet"]
  assert 0.0 <= row["mean"]["invariance_tv_max"] <= 1.0
  assert 0.0 <= results["probes"]["vn_mlp"]["epinet"]["acc_in"]["mean"] <= 1.0
  _check_outputs(tmp_path, results, "ece_per_rotation.png")
