"""Tests of enn_sym.testbed: problems, sweep, KL estimator and baselines.

Expected values per problem id are the reference sheet's (neural_testbed.md
§2.1): ``uniform E[KL]`` (Monte Carlo over 200k x) and ``uniform est.`` (the
published estimator with 1000 test seeds, run on the unmodified testbed).
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from enn_sym import testbed as tb
from enn_sym._validation import InputError

# id: (tau, D, N, T, seed, pair, uniform E[KL], uniform est.)
SHEET = {
    0: (1, 2, 2, 0.01, 1, 180, 0.6782, 0.6848),
    35: (1, 2, 200, 0.1, 36, 215, 0.6921, 0.6930),
    85: (1, 10, 100, 0.5, 86, 265, 0.0936, 0.0993),
    105: (1, 10, 10000, 0.01, 106, 285, 0.6669, 0.6723),
    125: (1, 100, 100, 0.1, 126, 305, 0.4814, 0.4921),
    160: (1, 100, 10000, 0.5, 161, 340, 0.0570, 0.0572),
    205: (10, 2, 20, 0.5, 26, 25, 0.4849, 0.4806),
    225: (10, 2, 2000, 0.01, 46, 45, 6.9131, 6.9089),
    260: (10, 10, 100, 0.1, 81, 80, 5.1417, 5.0913),
    270: (10, 10, 1000, 0.01, 91, 90, 6.6551, 6.6497),
    320: (10, 100, 1000, 0.1, 141, 140, 4.7246, 4.8095),
    355: (10, 100, 100000, 0.5, 176, 175, 0.4759, 0.5143),
}


def test_closed_form_ids_match_the_loop_nest():
  sweep = tb.classification_sweep()
  assert len(sweep) == tb.NUM_PROBLEMS == 360
  for cfg in sweep:
    assert tb.problem_config(cfg.problem_id) == cfg
  for pid, (tau, d, n, t, seed, pair, _, _) in SHEET.items():
    cfg = tb.problem_config(pid)
    assert (cfg.tau, cfg.input_dim, cfg.num_train, cfg.temperature,
            cfg.seed) == (tau, d, n, t, seed)
    assert tb.problem_config(pair).seed == seed


def test_bad_ids_and_configs_are_one_line_errors():
  with pytest.raises(InputError, match=r"problem_id must be an integer in"):
    tb.problem_config(360)
  with pytest.raises(InputError, match="temperature must be > 0"):
    tb.problem_config(0, temperature=0.0)
  with pytest.raises(InputError, match="num_train must be a positive"):
    tb.problem_config(0, num_train=0)


@pytest.mark.slow
def test_problem_is_deterministic_and_pairs_share_teacher_and_data():
  a = tb.make_problem(tb.problem_config(85, num_test_seeds=20))
  b = tb.make_problem(tb.problem_config(85, num_test_seeds=20))
  pair = tb.make_problem(tb.problem_config(265, num_test_seeds=20))
  for p in (b, pair):
    np.testing.assert_array_equal(a.x_train, p.x_train)
    np.testing.assert_array_equal(a.y_train, p.y_train)
    np.testing.assert_array_equal(a.logits(a.x_train), p.logits(a.x_train))
  assert a.x_train.shape == (100, 10) and a.y_train.shape == (100,)
  other = tb.make_problem(tb.problem_config(86, num_test_seeds=20))
  assert not np.allclose(a.logits(a.x_train), other.logits(a.x_train))


def test_teacher_architecture_and_initialisers():
  layers = tb.init_teacher(jax.random.key(0), 100)
  assert [l["w"].shape for l in layers] == [(100, 50), (50, 50), (50, 2)]
  w1 = np.asarray(layers[0]["w"]) * 10.0  # TN(1/sqrt(100)), scaled to TN(1).
  assert np.abs(w1).max() <= 2.0 and abs(w1.std() - 0.8796) < 0.02
  assert np.any(layers[0]["b"]) and not np.any(layers[1]["b"])
  assert not np.any(layers[2]["b"])
  problem = tb.make_problem(tb.problem_config(0, num_test_seeds=5))
  x = problem.x_train
  h = np.maximum(np.asarray(x) @ np.asarray(problem_layers(problem)[0]["w"])
                 + np.asarray(problem_layers(problem)[0]["b"]), 0)
  assert h.shape == (2, 50)


def problem_layers(problem):
  stream = tb.KeyStream(problem.config.seed)
  return tb.init_teacher(next(stream), problem.config.input_dim)


def test_teacher_logits_are_mlp_over_temperature():
  problem = tb.make_problem(tb.problem_config(35, num_test_seeds=5))
  layers = problem_layers(problem)
  x = np.asarray(problem.x_train[:7], np.float64)
  h = x
  for l in layers[:-1]:
    h = np.maximum(h @ np.asarray(l["w"]) + np.asarray(l["b"]), 0)
  ref = (h @ np.asarray(layers[-1]["w"])) / 0.1
  np.testing.assert_allclose(problem.logits(problem.x_train[:7]), ref,
                             rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_dyadic_batches_repeat_anchors_without_noise():
  problem = tb.make_problem(tb.problem_config(260, num_test_seeds=50))
  batches = tb.sample_test_batches(problem)
  assert batches.anchors.shape == (50, 2, 10)
  assert batches.which.shape == batches.labels.shape == (50, 10)
  x = jax.vmap(lambda b: b.x)(batches)
  for j in range(5):
    rows = {tuple(np.round(np.asarray(r), 6)) for r in x[j]}
    assert len(rows) <= 2
  log_p = jax.nn.log_softmax(problem.logits(x.reshape(-1, 10)), -1).reshape(
      50, 10, 2)
  ref = np.take_along_axis(np.asarray(log_p), np.asarray(
      batches.labels)[..., None], -1).sum((1, 2))
  np.testing.assert_allclose(batches.log_lik, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pid", [0, 205, 320])
def test_teacher_against_itself_has_zero_kl(pid):
  problem = tb.make_problem(tb.problem_config(pid, num_test_seeds=200,
                                              num_enn_samples=3))
  kl = tb.kl_per_test_seed(problem, tb.oracle_agent(problem))
  np.testing.assert_allclose(kl, 0.0, atol=1e-5)


@pytest.mark.slow
def test_uniform_agent_kl_is_its_closed_form_per_seed():
  problem = tb.make_problem(tb.problem_config(260, num_test_seeds=100,
                                              num_enn_samples=4))
  kl = tb.kl_per_test_seed(problem, tb.uniform_agent(problem))
  batches = tb.sample_test_batches(problem)
  np.testing.assert_allclose(kl, batches.log_lik + 10 * np.log(2.0),
                             rtol=1e-5, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("pid", sorted(SHEET))
def test_uniform_agent_matches_the_sheet_per_problem_id(pid):
  """Statistical match: within 4 Monte Carlo standard errors."""
  tau, _, _, _, _, _, expected, estimate = SHEET[pid]
  problem = tb.make_problem(tb.problem_config(pid, num_enn_samples=2))
  mean, se = tb.uniform_expected_kl(problem)
  assert 0.0 <= mean <= tau * np.log(2.0)
  assert abs(mean - expected) <= 4 * se + 1e-3
  result = tb.evaluate_quality(problem, tb.uniform_agent(problem))
  assert abs(result["kl_estimate"] - estimate) <= 4 * result["kl_stderr"] + 1e-3
  assert abs(result["kl_estimate"] - mean) <= 4 * (result["kl_stderr"] + se
                                                  ) + 2e-3
  assert result["pct_finite_kl"] == 100.0


def _numpy_kl(problem, sampler_logits):
  """Independent reference: KL_j from explicit loops over seeds and samples."""
  batches = tb.sample_test_batches(problem)
  out = []
  for j in range(problem.config.num_test_seeds):
    x = np.asarray(batches.anchors[j])[np.asarray(batches.which[j])]
    y = np.asarray(batches.labels[j])
    lls = []
    for logits in sampler_logits(x):
      logits = np.asarray(logits, np.float64)
      log_q = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
      lls.append(log_q[np.arange(len(y)), y].sum())
    lls = np.array(lls)
    out.append(float(batches.log_lik[j]) - (
        lls.max() + np.log(np.mean(np.exp(lls - lls.max())))))
  return np.array(out)


@pytest.mark.slow
def test_joint_kl_of_a_mixture_agent_matches_numpy_loops():
  problem = tb.make_problem(tb.problem_config(205, num_test_seeds=30,
                                              num_enn_samples=6))
  shifts = jnp.array([[-2.0, 1.0], [0.5, 0.0], [1.0, -1.5]])

  def sampler(x, key):
    k = jax.random.randint(key, (), 0, 3)
    return 0.3 * problem.logits(x) + shifts[k]

  members = [int(jax.random.randint(k, (), 0, 3)) for k in problem.enn_keys]
  ref = _numpy_kl(problem, lambda x: [
      0.3 * np.asarray(problem.logits(jnp.asarray(x))) + np.asarray(shifts[m])
      for m in members])
  np.testing.assert_allclose(tb.kl_per_test_seed(problem, sampler, chunk=4),
                             ref, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_deterministic_agent_joint_kl_is_tau_times_marginal_on_a_pair():
  scale = 0.4
  res = {}
  for pid in (85, 265):
    problem = tb.make_problem(tb.problem_config(pid, num_enn_samples=2))
    res[pid] = tb.evaluate_quality(
        problem, lambda x, key, p=problem: scale * p.logits(x))
  assert abs(res[265]["kl_estimate"] - 10 * res[85]["kl_estimate"]) <= 4 * (
      res[265]["kl_stderr"] + 10 * res[85]["kl_stderr"])


def test_log_mean_exp_and_infinite_kl_clipping():
  v = jnp.array([[0.0, -jnp.inf], [np.log(3.0), -jnp.inf]])
  np.testing.assert_allclose(tb.log_mean_exp(v, axis=0),
                             [np.log(2.0), -np.inf])
  summary = tb.summarize_kl(np.array([1.0, np.inf, 3.0, 0.5]))
  assert summary["kl_estimate"] == pytest.approx((1.0 + 3.0 + 3.0 + 0.5) / 4)
  assert summary["pct_finite_kl"] == 75.0
  assert np.isnan(summary["kl_estimate_std"])
  full = tb.summarize_kl(np.array([1.0, 2.0]))
  assert full["kl_estimate_std"] == pytest.approx(0.5)
  # A sampler that puts zero mass on an observed label gives +inf, clipped.
  problem = tb.make_problem(tb.problem_config(0, num_test_seeds=40,
                                              num_enn_samples=2))
  hard = lambda x, key: jnp.stack([jnp.zeros(x.shape[0]),
                                   jnp.full(x.shape[0], -jnp.inf)], -1)
  kl = tb.kl_per_test_seed(problem, hard)
  assert np.isinf(kl).any() and np.isfinite(kl).any()
  assert np.isfinite(tb.evaluate_quality(problem, hard)["kl_estimate"])


def test_prior_agent_is_random_per_key_and_ignores_data():
  problem = tb.make_problem(tb.problem_config(85, num_test_seeds=5))
  sampler = tb.prior_agent(problem)
  x = problem.x_train[:4]
  a = sampler(x, jax.random.key(1))
  np.testing.assert_array_equal(a, sampler(x, jax.random.key(1)))
  assert not np.allclose(a, sampler(x, jax.random.key(2)))
  freq = tb.average_class_probs_agent(problem)(x, None)
  np.testing.assert_allclose(freq.sum(-1), 1.0, rtol=1e-6)
  assert dataclasses.is_dataclass(problem.config)
