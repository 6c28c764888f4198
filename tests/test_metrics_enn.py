"""ENN metrics on logit stacks (mean predictive, joint log-loss) and
temperature scaling."""

import math

import hypothesis
from hypothesis import strategies as st
import jax
import numpy as np
import pytest

from enn_sym import metrics
from tests import numpy_reference as ref
from tests.test_metrics import assert_states_equal

K, PAD, C = 3, 32, 3


def _np(tree):
  return jax.tree.map(np.asarray, tree)


def random_stack(seed, k=K, n=PAD, c=C, input_kind="logits", spread=1.0):
  """Members share a mean logit and differ by ``spread``-sized noise."""
  rng = np.random.default_rng(seed)
  base = rng.normal(size=(n, c)) * 2.5
  logits = (base + spread * rng.normal(size=(k, n, c))).astype(np.float32)
  labels = np.array([rng.choice(c, p=row) for row in ref.softmax(base / 1.5)],
                    np.int32)
  if input_kind == "probs":
    return ref.softmax(logits).astype(np.float32), labels
  return logits, labels


# ----------------------------------------------------------------------------
# EnsemblePredictive.


@pytest.mark.parametrize("kind", ["logits", "probs"])
def test_ensemble_agrees_with_reference(kind):
  stack, labels = random_stack(1, input_kind=kind)
  metric = metrics.EnsemblePredictive(input_kind=kind)
  out = _np(metric.compute(metric.update(metric.empty(), stack, labels,
                                         np.ones(PAD, np.float32))))
  expected = ref.ensemble(stack, labels, 15, kind)
  np.testing.assert_array_equal(out["bin_count"], expected["bin_count"])
  for key in ("ece", "mce", "rms_ce", "accuracy", "nll", "brier",
              "predictive_entropy", "expected_entropy", "mutual_info"):
    np.testing.assert_allclose(out[key], expected[key], atol=1e-6,
                               err_msg=key)
  assert expected["mutual_info"] > 0.05  # Members disagree: MI is not tiny.


def test_ensemble_nll_is_stable_for_extreme_logits():
  # Row 0, label 0: the members put logits 200, 300, 250 on class 1, so
  # log p_k(0) = -200, -300, -250 (to float precision) and every p_k(0)
  # underflows to 0 in float32. The NLL of the mean predictive is
  # -logsumexp_k log p_k(0) + log 3 = 200 + log 3 (+ e^-50 terms); a log of
  # the mean of the probabilities would give about 87 (log of the smallest
  # float32). The other 31 rows are uniform: NLL log 3.
  # Mean NLL = (200 + 32 log 3) / 32.
  stack = np.zeros((K, PAD, C), np.float32)
  stack[:, 0, 1] = [200.0, 300.0, 250.0]
  labels = np.zeros(PAD, np.int32)
  metric = metrics.EnsemblePredictive(input_kind="logits")
  out = _np(metric.compute(metric.update(metric.empty(), stack, labels,
                                         np.ones(PAD, np.float32))))
  np.testing.assert_allclose(out["nll"], (200 + 32 * math.log(3)) / 32,
                             rtol=1e-6)
  assert np.isfinite(out["predictive_entropy"])
  assert np.isfinite(out["expected_entropy"])


@hypothesis.given(seed=st.integers(0, 2**31 - 1),
                  spread=st.floats(0.0, 5.0),
                  kind=st.sampled_from(["logits", "probs"]))
def test_mutual_info_is_nonnegative(seed, spread, kind):
  stack, labels = random_stack(seed, spread=spread, input_kind=kind)
  metric = metrics.EnsemblePredictive(input_kind=kind)
  mask = np.ones(PAD, np.float32)
  out = _np(metric.compute(metric.update(metric.empty(), stack, labels,
                                         mask)))
  assert out["mutual_info"] >= -1e-6
  assert out["expected_entropy"] <= out["predictive_entropy"] + 1e-6


@pytest.mark.parametrize("kind", ["logits", "probs"])
def test_identical_members_match_single_network(kind):
  # All K members equal: MI = 0 and every number equals the single-network
  # metric of that member.
  stack, labels = random_stack(2, input_kind=kind)
  stack = np.broadcast_to(stack[:1], stack.shape).copy()
  mask = np.ones(PAD, np.float32)
  metric = metrics.EnsemblePredictive(input_kind=kind)
  out = _np(metric.compute(metric.update(metric.empty(), stack, labels,
                                         mask)))
  assert abs(out["mutual_info"]) < 1e-6
  single = _np(metrics.calibration_report(stack[0], labels, input_kind=kind,
                                          mask=mask))
  np.testing.assert_array_equal(out["bin_count"], single["bin_count"])
  for key in ("ece", "accuracy", "nll", "brier"):
    np.testing.assert_allclose(out[key], single[key], atol=1e-6,
                               err_msg=key)
  np.testing.assert_allclose(out["predictive_entropy"],
                             ref.entropy(ref.to_probs(stack[0], kind)).mean(),
                             atol=1e-6)


@hypothesis.settings(max_examples=15)
@hypothesis.given(seed=st.integers(0, 2**31 - 1),
                  cuts=st.lists(st.integers(0, PAD), max_size=3),
                  n=st.integers(0, PAD))
def test_ensemble_streaming_and_padding(seed, cuts, n):
  stack, labels = random_stack(seed)
  junk = np.random.default_rng(seed).normal(size=stack.shape) * 1e3
  metric = metrics.EnsemblePredictive(input_kind="logits")
  real = (np.arange(PAD) < n).astype(np.float32)
  one_shot = metric.update(metric.empty(), stack, labels, real)
  state = metric.empty()
  points = sorted({min(c, n) for c in cuts} | {0, n})
  for lo, hi in zip(points[:-1], points[1:]):
    # Chunk [lo, hi) at its real position; every other row is junk padding.
    chunk = (np.arange(PAD) >= lo) & (np.arange(PAD) < hi)
    values = np.where(chunk[None, :, None], stack, junk).astype(np.float32)
    state = metric.update(state, values, labels, chunk.astype(np.float32))
  assert_states_equal(state, one_shot)


def test_enn_metrics_jit_update_equals_eager():
  stack, labels = random_stack(6)
  mask = (np.arange(PAD) % 4 != 0).astype(np.float32)
  ensemble = metrics.EnsemblePredictive(input_kind="logits")
  joint = metrics.JointLogLoss(input_kind="logits")
  key = jax.random.key(3)

  def step(states, stack, labels, mask, key):
    return (ensemble.update(states[0], stack, labels, mask),
            joint.update(states[1], stack, labels, mask, key))

  empty = (ensemble.empty(), joint.empty())
  assert_states_equal(jax.jit(step)(empty, stack, labels, mask, key),
                      step(empty, stack, labels, mask, key))


# ----------------------------------------------------------------------------
# JointLogLoss.


def _joint(metric, stack, labels, mask, seed=0, state=None):
  state = metric.empty() if state is None else state
  return metric.update(state, stack, labels, mask, jax.random.key(seed))


def test_joint_hand_case_single_real_example():
  # Batch of 5 with one real example (index 2, label 1): every dyadic batch
  # is that example tau times. Member label probabilities .5 and .25:
  #   J = -log((.5^10 + .25^10) / 2), joint_nll = J / 10 ~ 0.76236.
  # For K = 1 (first member only), joint_nll = -log .5 exactly.
  probs = np.array([[.5, .5], [.75, .25]], np.float32)
  stack = np.broadcast_to(probs[:, None, :], (2, 5, 2)).copy()
  stack[:, [0, 4]] = 7.0  # junk in padded rows
  labels = np.array([0, 1, 1, 0, 1], np.int32)
  mask = np.array([0, 0, 1, 0, 0], np.float32)
  metric = metrics.JointLogLoss(input_kind="probs")
  out = _np(metric.compute(_joint(metric, stack, labels, mask)))
  expected = ref.joint_nll([[.5], [.25]], [0] * 10) / 10
  np.testing.assert_allclose(out["joint_nll"], expected, rtol=1e-6)
  np.testing.assert_allclose(out["joint_nll"], 0.7623643, rtol=1e-6)
  assert out["count"] == 1 and out["num_dyadic"] == 100
  single = _np(metric.compute(_joint(metric, stack[:1], labels, mask)))
  np.testing.assert_allclose(single["joint_nll"], math.log(2), rtol=1e-6)


def test_joint_batches_weighted_by_real_examples():
  # K = 1. Batch A: 3 real examples with p(y) = .5 (NLL log 2 each);
  # batch B: 1 real example with p(y) = .25 (NLL log 4). Whatever is
  # sampled, J / tau is log 2 in A and log 4 in B; weighting by real
  # examples gives (3 log 2 + log 4) / 4 = 1.25 log 2, the marginal NLL
  # (an unweighted mean of batches would give 1.5 log 2).
  metric = metrics.JointLogLoss(input_kind="probs")
  labels = np.zeros(5, np.int32)
  a = np.full((1, 5, 2), .5, np.float32)
  b = np.tile(np.array([.25, .75], np.float32), (1, 5, 1))
  state = _joint(metric, a, labels, np.array([1, 1, 1, 0, 0], np.float32),
                 seed=1)
  state = _joint(metric, b, labels, np.array([0, 0, 1, 0, 0], np.float32),
                 seed=2, state=state)
  out = _np(metric.compute(state))
  np.testing.assert_allclose(out["joint_nll"], 1.25 * math.log(2),
                             rtol=1e-6)
  assert out["count"] == 4 and out["num_dyadic"] == 200


def _many_dyadic(metric, stack, labels, mask, updates=40):
  """``updates`` updates of the same batch with fresh keys (100 dyadic
  batches each by default)."""
  state = metric.empty()
  for seed in range(updates):
    state = _joint(metric, stack, labels, mask, seed, state)
  return _np(metric.compute(state))


def test_joint_k1_expectation_is_marginal_nll():
  # K = 1: each sampled point is uniform over the real examples, so the
  # mean of J / tau over many dyadic batches estimates the marginal NLL.
  stack, labels = random_stack(3, k=1)
  mask = (np.arange(PAD) < 29).astype(np.float32)
  metric = metrics.JointLogLoss(input_kind="logits")
  out = _many_dyadic(metric, stack, labels, mask)
  assert out["num_dyadic"] == 4000
  nll = -np.log(ref.softmax(stack[0])[np.arange(PAD), labels])[:29]
  # J / tau of one dyadic batch is a mean of tau draws, so its variance is
  # at most that of one draw (whatever their correlation): a bound on the
  # standard error of the mean of 4000 of them.
  stderr = nll.std() / math.sqrt(4000)
  assert abs(out["joint_nll"] - nll.mean()) < 4 * stderr


def test_joint_anchors_are_distinct():
  # Two real examples A, B, kappa = 2: the anchors are always {A, B}, and
  # the number j of the tau = 10 points drawn from A is Binomial(10, 1/2).
  # Members: p_1(y_A) = .9, p_1(y_B) = .1; p_2 the other way round. The
  # exact expectation of J sums over j. Anchors drawn with replacement would
  # give all-A or all-B batches half of the time and another value.
  tau = 10
  # Shape [2, 5, 2] as in the hand case above; rows 1 and 3 are real.
  probs = np.full((2, 5, 2), 0.5, np.float32)
  probs[0, 1], probs[0, 3] = [.9, .1], [.1, .9]
  probs[1, 1], probs[1, 3] = [.1, .9], [.9, .1]
  labels = np.zeros(5, np.int32)
  mask = np.array([0, 1, 0, 1, 0], np.float32)
  metric = metrics.JointLogLoss(input_kind="probs")
  out = _many_dyadic(metric, probs, labels, mask)
  member = [[.9, .1], [.1, .9]]
  values = [ref.joint_nll(member, [0] * j + [1] * (tau - j))
            for j in range(tau + 1)]
  weights = [math.comb(tau, j) / 2**tau for j in range(tau + 1)]
  expected = sum(w * v for w, v in zip(weights, values)) / tau
  stderr = math.sqrt(sum(w * (v / tau - expected)**2
                         for w, v in zip(weights, values)) / 4000)
  assert abs(out["joint_nll"] - expected) < 4 * stderr
  # With replacement: the same anchor twice (all-A or all-B) half the time.
  with_replacement = 0.25 * (values[0] + values[-1]) / tau + 0.5 * expected
  assert abs(with_replacement - expected) > 20 * stderr  # the test can tell


@pytest.mark.parametrize("seed", [0, 1])
def test_joint_at_most_mean_of_member_joint_nll(seed):
  # Sampling depends on the key and mask only, so each member alone sees the
  # same dyadic batches; -log mean_k exp(s_k) <= mean_k -s_k (Jensen).
  stack, labels = random_stack(seed, spread=2.0)
  mask = np.ones(PAD, np.float32)
  metric = metrics.JointLogLoss(input_kind="logits")
  joint = _np(metric.compute(_joint(metric, stack, labels, mask, seed)))
  members = [_np(metric.compute(_joint(metric, stack[k:k + 1], labels, mask,
                                       seed)))["joint_nll"]
             for k in range(K)]
  assert joint["joint_nll"] <= np.mean(members) + 1e-6
  assert joint["joint_nll"] < np.mean(members) - 1e-3  # strict here


def test_joint_batch_without_real_examples_adds_nothing():
  stack, labels = random_stack(4)
  metric = metrics.JointLogLoss(input_kind="logits")
  state = _joint(metric, stack, labels, np.zeros(PAD, np.float32))
  assert_states_equal(state, metric.empty(), 0, 0)
  out = _np(metric.compute(state))
  assert out["joint_nll"] == 0.0 and out["count"] == 0


def test_joint_merge_is_commutative():
  stack, labels = random_stack(5)
  mask = np.ones(PAD, np.float32)
  metric = metrics.JointLogLoss(input_kind="logits")
  a = _joint(metric, stack, labels, mask, seed=3)
  b = _joint(metric, stack, labels, mask, seed=4)
  assert_states_equal(metric.merge(a, b), metric.merge(b, a), 0, 0)
  out = _np(metric.compute(metric.merge(a, b)))
  assert out["count"] == 2 * PAD and out["num_dyadic"] == 200
  np.testing.assert_allclose(
      out["joint_nll"], (_np(metric.compute(a))["joint_nll"]
                         + _np(metric.compute(b))["joint_nll"]) / 2,
      rtol=1e-6)


# ----------------------------------------------------------------------------
# Temperature scaling.


def tempered_nll(logits, labels, temperature):
  """float64 NLL of softmax(logits / T) (of the mean predictive of a
  stack)."""
  logits = np.asarray(logits, np.float64)
  if logits.ndim == 2:
    logits = logits[None]
  p = np.mean([ref.softmax(l / temperature) for l in logits], axis=0)
  return float(-np.mean(np.log(p[np.arange(len(labels)), labels])))


def sample_labels(rng, logits, temperature):
  p = ref.softmax(logits / temperature)
  u = rng.random(len(p))[:, None]
  return np.minimum((np.cumsum(p, axis=1) < u).sum(axis=1),
                    p.shape[1] - 1).astype(np.int32)


def test_fit_temperature_recovers_true_temperature():
  rng = np.random.default_rng(0)
  logits = (rng.normal(size=(20000, 5)) * 3).astype(np.float32)
  labels = sample_labels(rng, logits, 1.7)
  t = float(metrics.fit_temperature(logits, labels))
  assert abs(t - 1.7) < 0.05
  # It is the minimiser of the NLL: nudging it either way costs.
  for other in (t * 0.97, t * 1.03):
    assert tempered_nll(logits, labels, t) < tempered_nll(logits, labels,
                                                          other)


def _random_task(seed, stack):
  rng = np.random.default_rng(seed)
  shape = (4, 400, 4) if stack else (400, 4)
  # Members disagree wildly and labels are nearly random: the NLL of the
  # mean predictive need not be convex in 1 / T.
  logits = (rng.normal(size=shape) * 4).astype(np.float32)
  labels = rng.integers(0, 4, 400).astype(np.int32)
  return logits, labels


@pytest.mark.parametrize("seed,stack", [(0, False), (1, True), (2, True)])
def test_fit_temperature_never_increases_nll(seed, stack):
  logits, labels = _random_task(seed, stack)
  t = float(metrics.fit_temperature(logits, labels))
  assert tempered_nll(logits, labels, t) <= tempered_nll(logits, labels,
                                                         1.0) + 1e-6
  assert t > 1.5  # nearly random labels: a much softer model is better


def test_fit_temperature_keeps_t1_when_the_search_misses_it():
  # Data generated at T = 1, and a crippled search (grid {0.25, 2}, one
  # bisection step: it also evaluates T = 0.71 and T = 1.19). T = 1 is
  # always a candidate, so it is returned and the NLL never gets worse.
  rng = np.random.default_rng(5)
  logits = (rng.normal(size=(20000, 5)) * 3).astype(np.float32)
  labels = sample_labels(rng, logits, 1.0)
  t = float(metrics.fit_temperature(logits, labels, num_iters=1, num_grid=2,
                                    min_temperature=0.25,
                                    max_temperature=2.0))
  assert t == 1.0
  assert tempered_nll(logits, labels, 1.0) < tempered_nll(logits, labels,
                                                          1.19)


def test_fit_temperature_is_stable_under_rounding_noise():
  # Logits that differ in their last bits (a different reduction order on 8
  # devices, say) must give the same T to float precision. Picking the
  # argmin of the flat NLL *values* moved T by ~5e-4 here; the root of the
  # slope moves it by ~1e-7.
  worst = 0.0
  for seed in range(4):
    rng = np.random.default_rng(seed)
    logits = (rng.normal(size=(500, 10)) * 3).astype(np.float32)
    labels = sample_labels(rng, logits, 1.9)
    t = float(metrics.fit_temperature(logits, labels))
    for _ in range(3):
      noisy = logits * (1 + 1e-6 * rng.normal(size=logits.shape))
      t_noisy = float(metrics.fit_temperature(noisy.astype(np.float32),
                                              labels))
      worst = max(worst, abs(t_noisy / t - 1))
  assert worst < 1e-5


def test_fit_temperature_of_identical_members_is_single_fit():
  logits, labels = _random_task(0, stack=False)
  single = metrics.fit_temperature(logits, labels)
  stacked = metrics.fit_temperature(np.stack([logits] * 4), labels)
  np.testing.assert_allclose(stacked, single, rtol=1e-4)


def test_fit_temperature_with_padding_and_jit():
  # The last 100 of 400 rows are padding holding junk: the fit equals the
  # float64 minimiser of the NLL of the 300 real rows (a fine grid search).
  rng = np.random.default_rng(4)
  logits = (rng.normal(size=(400, 4)) * 2).astype(np.float32)
  labels = sample_labels(rng, logits, 2.0)
  mask = (np.arange(400) < 300).astype(np.float32)
  junk = np.where(mask[:, None] > 0, logits, 1e6).astype(np.float32)
  t = float(metrics.fit_temperature(junk, labels, mask))
  grid = np.exp(np.linspace(np.log(t) - 0.01, np.log(t) + 0.01, 41))
  nlls = [tempered_nll(logits[:300], labels[:300], g) for g in grid]
  assert abs(grid[int(np.argmin(nlls))] / t - 1) < 1e-3
  assert 0.4 < int(np.argmin(nlls)) / 40 < 0.6  # the optimum is inside
  t_jit = jax.jit(metrics.fit_temperature)(junk, labels, mask)
  np.testing.assert_allclose(t_jit, t, rtol=1e-6)


def test_apply_temperature():
  logits = np.array([[2.0, -4.0]], np.float32)
  np.testing.assert_allclose(metrics.apply_temperature(logits, 2.0),
                             [[1.0, -2.0]])
