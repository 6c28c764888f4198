"""Tests of the testbed leaderboard, the symmetric testbed and the script."""

import importlib.util
import json
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from enn_sym import testbed as tb
from enn_sym._validation import InputError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_cleaning_and_seed_group_stderr_by_hand():
  np.testing.assert_array_equal(tb.clean_kl([-0.5, np.inf, np.nan, 2.0]),
                                [0.0, 1e6, 1e6, 2.0])
  # Seeds 1 and 11 share group 1: group means 2.0 (seeds 1, 11) and 4.0.
  se = tb.seed_group_stderr([1.0, 3.0, 4.0], [1, 11, 2])
  assert se == pytest.approx(np.std([2.0, 4.0]) / np.sqrt(2))


def _records():
  rows = []
  for agent, kls in (("uniform", (0.5, 5.0)), ("a", (0.25, 1.0))):
    for pid, kl in zip((25, 205), kls):
      cfg = tb.problem_config(pid)
      rows.append(dict(agent=agent, problem_id=pid, tau=cfg.tau,
                       input_dim=2, num_train=20, temperature=0.5,
                       seed=cfg.seed, kl=kl, kl_per_seed=[kl],
                       kl_stderr=0.0, train_seconds=3.0,
                       stop_reason=["max_steps"]))
  return rows


def test_leaderboard_normalises_per_tau_by_the_uniform_agent():
  rows = {(r["agent"], r["tau"]): r for r in tb.leaderboard(_records())}
  assert rows[("a", 1)]["normalized_kl"] == pytest.approx(0.5)
  assert rows[("a", 10)]["normalized_kl"] == pytest.approx(0.2)
  assert rows[("uniform", 10)]["mean_kl"] == pytest.approx(5.0)
  page = tb.leaderboard_markdown(_records(), command="python x.py")
  assert "| a | 10 | 1 | 1.0000 |" in page and "python x.py" in page
  assert "| 205 | 10 | 2 | 20 | 0.5 | 5.0000 | 1.0000 |" in page


def test_pairs_and_presets_and_agent_specs():
  assert tb.problem_pair(25) == 205 and tb.problem_pair(205) == 25
  assert set(tb.PRESETS) == {"quick", "default", "full"}
  with pytest.raises(InputError, match="Unknown testbed preset"):
    tb.resolve_preset("huge")
  cfg = tb.parse_agent("ensemble:num_ensemble=10,bootstrap=None")
  assert cfg.num_ensemble == 10 and cfg.bootstrap is None
  with pytest.raises(InputError, match="Bad agent option"):
    tb.parse_agent("epinet:num_ensembles=3")
  with pytest.raises(InputError, match="Unknown baseline"):
    tb.run_sweep([25], {}, baselines=("oracle2",))


def test_symmetric_teacher_invariance_and_incorrect_region():
  group = tb.rotation_group(4)
  cfg = tb.ProblemConfig(problem_id=-1, input_dim=2, num_train=10,
                         temperature=0.1, tau=1, seed=3)
  x = jax.random.normal(jax.random.key(0), (500, 2))
  inv = tb.symmetric_teacher(group, 0.0)(jax.random.key(1), cfg)
  for g in group:
    np.testing.assert_allclose(inv(x @ g.T), inv(x), rtol=1e-4, atol=1e-4)
  part = tb.symmetric_teacher(group, 0.25)(jax.random.key(1), cfg)
  plain = tb.random_mlp_teacher(jax.random.key(1), cfg)
  region = np.asarray(x[:, 0] > 0.6745)  # Phi^-1(0.75)
  assert 0.18 < region.mean() < 0.32
  np.testing.assert_allclose(part(x)[region], plain(x)[region], rtol=1e-5)
  np.testing.assert_allclose(part(x)[~region], inv(x)[~region], rtol=1e-5)
  with pytest.raises(InputError, match="incorrect_fraction must be in"):
    tb.symmetric_teacher(group, 1.5)
  h = tb.halfspace_inputs(jax.random.key(0), 100, 2)
  assert float(h[:, 0].min()) >= 0.0
  assert tb.sign_flip_group(3).shape == (8, 3, 3)


@pytest.mark.slow
def test_group_averaged_enn_is_exactly_invariant():
  group = tb.rotation_group(4)
  enn = tb.group_average_enn(tb.build_enn(tb.AgentConfig("epinet"),
                                          tb.problem_config(25)), group)
  x = jax.random.normal(jax.random.key(0), (7, 2))
  key = jax.random.key(0)
  variables = enn.init(key, x, enn.indexer(key))
  z = enn.indexer(jax.random.key(2))
  out = enn.apply(variables, x, z).preds
  rotated = enn.apply(variables, x @ group[1].T, z).preds
  np.testing.assert_allclose(out, rotated, rtol=1e-4, atol=1e-4)


def test_true_calibration_error_by_hand():
  pred = jnp.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
  true = jnp.array([[0.7, 0.3], [0.8, 0.2], [0.0, 1.0], [0.2, 0.8]])
  # Bins of 15: conf 0.9 -> bin 13, 0.8 -> 12, 0.7 -> 10, 0.6 -> 9; the truth
  # is the teacher's probability of the PREDICTED class (0.2 in the last row).
  expected = (abs(0.7 - 0.9) + abs(0.8 - 0.8) + abs(1.0 - 0.7)
              + abs(0.2 - 0.6)) / 4
  assert float(tb.true_calibration_error(pred, true)) == pytest.approx(
      expected, rel=1e-5)
  # A prediction equal to the truth has zero error.
  assert float(tb.true_calibration_error(true, true)) == pytest.approx(0.0)
  m, lo, hi = tb.t_interval([1.0, 2.0, 3.0])
  assert m == 2.0 and lo == pytest.approx(2 - 4.302653 / np.sqrt(3), 1e-5)


def _load_script():
  spec = importlib.util.spec_from_file_location(
      "testbed_script", os.path.join(ROOT, "experiments", "testbed.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _config():
  spec = importlib.util.spec_from_file_location(
      "testbed_config", os.path.join(ROOT, "configs", "testbed.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


@pytest.mark.slow
def test_quick_preset_runs_end_to_end(tmp_path):
  config = _config()
  config.preset = "quick"
  out = _load_script().run(config, str(tmp_path), "python experiments/x")
  with open(tmp_path / "results.json") as f:
    result = json.load(f)
  agents = {r["agent"] for r in result["records"]}
  assert agents == {"uniform", "prior", "mlp", "epinet"}
  assert {r["problem_id"] for r in result["records"]} == {25, 205}
  assert all(np.isfinite(r["kl"]) for r in result["records"])
  assert "## Neural Testbed leaderboard" in out["page"]
  assert (tmp_path / "testbed.md").read_text() == out["page"]
  assert "Not run (no `symmetric.json`)." in out["page"]
  # The symmetric part of the quick preset, into the same page.
  sym = _load_script().run_symmetric(config, str(tmp_path), "python x")
  assert [r["model"] for r in sym["records"]] == ["plain", "C4-averaged"]
  assert all(len(r["kl1"]) == 2 and np.isfinite(r["kl10"]).all()
             for r in sym["records"])
  page = (tmp_path / "testbed.md").read_text()
  assert page == sym["page"]
  assert "## Neural Testbed leaderboard" in page
  assert "## Symmetric testbed" in page and "### Answer" in page


def test_bootstrap_ece_point_value_and_interval():
  rng = np.random.default_rng(0)
  p1 = rng.uniform(0, 1, 400)
  probs = np.stack([1 - p1, p1], -1).astype(np.float32)
  labels = (rng.uniform(0, 1, 400) < p1).astype(np.int32)
  ece, lo, hi = tb.bootstrap_ece(probs, labels, num_resamples=100)
  conf = probs.max(-1)
  correct = (probs.argmax(-1) == labels).astype(float)
  bins = np.clip(np.floor(conf * 15).astype(int), 0, 14)
  ref = sum(abs((correct - conf)[bins == b].sum()) for b in range(15)) / 400
  assert ece == pytest.approx(ref, abs=1e-5)
  assert lo <= ece <= hi or lo <= ref <= hi


def test_symmetric_teacher_has_the_plain_teachers_moments():
  """The raw orbit average has (almost) no decision boundary; the default
  teacher is rescaled to the plain MLP's logit mean and spread on N(0, I)."""
  group = tb.rotation_group(4)
  cfg = tb.ProblemConfig(problem_id=-1, input_dim=2, num_train=10,
                         temperature=0.1, tau=1, seed=1)
  x = jax.random.normal(jax.random.key(5), (20000, 2))
  key = jax.random.key(1)
  plain = tb.random_mlp_teacher(key, cfg)(x)
  inv = tb.symmetric_teacher(group, 0.0)(key, cfg)(x)
  raw = tb.symmetric_teacher(group, 0.0, match_moments=False)(key, cfg)(x)
  mean_p, spread_p = tb.logit_moments(plain)
  mean_i, spread_i = tb.logit_moments(inv)
  _, spread_raw = tb.logit_moments(raw)
  # Matched on an independent reference sample: equal up to sampling noise.
  np.testing.assert_allclose(spread_i, spread_p, rtol=0.05)
  np.testing.assert_allclose(mean_i, mean_p, atol=0.05 * float(spread_p))
  assert float(spread_raw) < 0.5 * float(spread_p)  # the old teacher
  # A decision boundary on the support: the minority class is not negligible.
  minority = min(float((inv[:, 1] > inv[:, 0]).mean()),
                 float((inv[:, 1] < inv[:, 0]).mean()))
  assert minority > 0.05
  # Still invariant, and the moments by hand on a tiny case.
  for g in group:
    np.testing.assert_allclose(
        tb.symmetric_teacher(group, 0.0)(key, cfg)(x[:200] @ g.T),
        inv[:200], rtol=1e-4, atol=1e-3)
  m, s = tb.logit_moments(jnp.array([[0.0, 2.0], [0.0, 0.0]]))
  np.testing.assert_allclose(m, [0.0, 1.0])
  np.testing.assert_allclose(s, 0.5)  # centred: [-1, 1], [0, 0] -> +-0.5
