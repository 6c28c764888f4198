"""Tests for the single-prediction losses (enn_sym/losses/_single.py)."""

import functools
import math

import hypothesis
import hypothesis.strategies as st
from hypothesis.extra import numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from enn_sym.losses import _single as L

LN2, LN3 = math.log(2.0), math.log(3.0)

# ----------------------------------------------------------------------------
# Independent float64 numpy references.


def np_log_softmax(z):
  z = np.asarray(z, np.float64)
  z = z - z.max(-1, keepdims=True)
  return z - np.log(np.exp(z).sum(-1, keepdims=True))


def np_ce(z, y):
  return -np_log_softmax(z)[np.arange(len(y)), y]


def np_entropy(z):
  lp = np_log_softmax(z)
  return -(np.exp(lp) * lp).sum(-1)


def np_focal(z, y, gamma):
  p = np.exp(np_log_softmax(z))
  onehot = np.eye(p.shape[-1], dtype=bool)[y]
  one_minus = np.where(onehot, 0.0, p).sum(-1)  # 1 - p_y without cancellation
  return one_minus ** gamma * np_ce(z, y)


def np_soft_ece(z, y, num_bins, temperature, weights=None, p=2):
  """SB-ECE_p written directly from Karandikar et al. 2021, with loops."""
  probs = np.exp(np_log_softmax(z))
  conf = probs.max(-1)
  acc = (probs.argmax(-1) == np.asarray(y)).astype(np.float64)
  w = np.ones(len(y)) if weights is None else np.asarray(weights, np.float64)
  centres = (np.arange(num_bins) + 0.5) / num_bins
  scores = -(conf[:, None] - centres) ** 2 / temperature
  member = np.exp(scores - scores.max(-1, keepdims=True))
  member /= member.sum(-1, keepdims=True)  # [batch, bins]
  total = 0.0
  for b in range(num_bins):
    u = member[:, b]
    mass = np.sum(w * u)
    if mass == 0:
      continue
    acc_b = np.sum(w * u * acc) / mass
    conf_b = np.sum(w * u * conf) / mass
    total += mass / w.sum() * abs(acc_b - conf_b) ** p
  return total ** (1.0 / p)


def np_hard_ece(z, y, num_bins):
  """Equal-width binned ECE (bins [b/M, (b+1)/M), centred at (b + 1/2)/M)."""
  probs = np.exp(np_log_softmax(z))
  conf = probs.max(-1)
  acc = (probs.argmax(-1) == np.asarray(y)).astype(np.float64)
  bins = np.minimum((conf * num_bins).astype(int), num_bins - 1)
  ece = 0.0
  for b in range(num_bins):
    sel = bins == b
    if sel.any():
      ece += sel.mean() * abs(acc[sel].mean() - conf[sel].mean())
  return ece


def _random_batch(seed, batch=16, classes=5, scale=3.0):
  rng = np.random.default_rng(seed)
  z = (scale * rng.normal(size=(batch, classes))).astype(np.float32)
  y = rng.integers(0, classes, size=batch).astype(np.int32)
  return z, y


# Compilation dominates the run time, so tests reuse a few shapes (the
# library compiles one kernel per shape, and hyperparameter values are traced)
# and a few module-level jitted gradient functions.
_focal_sum_grad = jax.jit(jax.grad(
    lambda a, y, gamma: L.focal_loss(a, y, gamma=gamma).sum()))
_ce_sum_grad = jax.jit(jax.grad(lambda a, y: L.cross_entropy(a, y).sum()))
_ece_grad = jax.jit(jax.grad(L.soft_binned_ece),
                    static_argnames=("num_bins", "p"))
_ece_jit = jax.jit(L.soft_binned_ece, static_argnames=("num_bins", "p"))
_softmax_max = jax.jit(lambda f: jax.nn.softmax(f).max(-1))


@st.composite
def batches(draw, shapes=((1, 2), (4, 2), (3, 3), (16, 5)), bound=30.0):
  """(logits float32 [b, c], labels int32 [b]) with c >= 2."""
  b, c = draw(st.sampled_from(shapes))
  z = draw(hnp.arrays(np.float32, (b, c),
                      elements=st.floats(-bound, bound, width=32)))
  y = draw(hnp.arrays(np.int32, (b,), elements=st.integers(0, c - 1)))
  return z, y


# A 3-example case worked by hand. Rows 0 and 1 have logits [ln 2, 0, 0], so
# p = [2, 1, 1] / 4 = [1/2, 1/4, 1/4]; row 2 is uniform, p = [1/3] * 3.
HAND_Z = np.array([[LN2, 0.0, 0.0], [LN2, 0.0, 0.0], [0.0, 0.0, 0.0]],
                  np.float32)
HAND_Y = np.array([0, 1, 2], np.int32)
# H(p) of rows 0/1: 1/2 ln 2 + 2 * 1/4 ln 4 = 1/2 ln 2 + ln 2 = 1.5 ln 2;
# row 2: ln 3.

# ----------------------------------------------------------------------------
# Cross-entropy and label smoothing.


def test_cross_entropy_hand_values():
  # -log p_y: row 0 -log(1/2) = ln 2; row 1 -log(1/4) = 2 ln 2; row 2 ln 3.
  np.testing.assert_allclose(L.cross_entropy(HAND_Z, HAND_Y),
                             [LN2, 2 * LN2, LN3], rtol=1e-6)


@pytest.mark.parametrize("scale", [1.0, 10.0, 40.0])
def test_cross_entropy_matches_numpy_and_optax(scale):
  z, y = _random_batch(0, scale=scale)
  got = np.asarray(L.cross_entropy(z, y))
  np.testing.assert_allclose(got, np_ce(z, y), rtol=2e-5, atol=2e-5)
  ref = optax.softmax_cross_entropy_with_integer_labels(jnp.asarray(z),
                                                        jnp.asarray(y))
  np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_label_smoothing_hand_values():
  # eps = 0.3, C = 3: loss = 0.7 (-log p_y) + 0.3 mean_j(-log p_j).
  # rows 0/1: mean_j(-log p_j) = (ln 2 + 2 ln 2 + 2 ln 2) / 3 = 5/3 ln 2.
  #   row 0: 0.7 ln 2 + 0.3 * 5/3 ln 2 = 0.7 ln 2 + 0.5 ln 2 = 1.2 ln 2.
  #   row 1: 0.7 * 2 ln 2 + 0.5 ln 2 = 1.9 ln 2.
  # row 2: every -log p_j = ln 3, so ln 3.
  np.testing.assert_allclose(
      L.cross_entropy(HAND_Z, HAND_Y, label_smoothing=0.3),
      [1.2 * LN2, 1.9 * LN2, LN3], rtol=1e-6)


@pytest.mark.parametrize("eps", [0.05, 0.3, 1.0])
def test_label_smoothing_matches_soft_target_references(eps):
  z, y = _random_batch(1, scale=5.0)
  onehot = np.eye(5)[y]
  target = (1 - eps) * onehot + eps / 5
  ref = -(target * np_log_softmax(z)).sum(-1)
  got = L.cross_entropy(z, y, label_smoothing=eps)
  np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
  ref_optax = optax.softmax_cross_entropy(
      jnp.asarray(z), optax.smooth_labels(jnp.asarray(onehot), eps))
  np.testing.assert_allclose(got, ref_optax, rtol=1e-5, atol=1e-5)


def test_label_smoothing_zero_is_exactly_ce():
  z, y = _random_batch(2, scale=20.0)
  ce = L.cross_entropy(z, y)
  np.testing.assert_array_equal(L.cross_entropy(z, y, label_smoothing=0.0),
                                ce)
  np.testing.assert_array_equal(
      ce, -jax.nn.log_softmax(z)[np.arange(len(y)), y])


# ----------------------------------------------------------------------------
# Focal loss.


def test_focal_hand_values():
  # gamma = 2: row 0 (1 - 1/2)^2 ln 2 = ln2/4; row 1 (3/4)^2 * 2 ln 2
  # = 9/8 ln 2; row 2 (2/3)^2 ln 3 = 4/9 ln 3.
  np.testing.assert_allclose(L.focal_loss(HAND_Z, HAND_Y, gamma=2.0),
                             [LN2 / 4, 9 / 8 * LN2, 4 / 9 * LN3], rtol=1e-6)
  # gamma = 1: (1/2) ln 2, (3/4) 2 ln 2 = 1.5 ln 2, (2/3) ln 3.
  np.testing.assert_allclose(L.focal_loss(HAND_Z, HAND_Y, gamma=1.0),
                             [LN2 / 2, 1.5 * LN2, 2 / 3 * LN3], rtol=1e-6)


@pytest.mark.parametrize("gamma", [0.3, 1.0, 2.0, 5.0])
def test_focal_matches_numpy(gamma):
  z, y = _random_batch(3, scale=4.0)
  np.testing.assert_allclose(L.focal_loss(z, y, gamma=gamma),
                             np_focal(z, y, gamma), rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("scale", [1.0, 30.0, 100.0])
def test_focal_gamma_zero_equals_ce_exactly(scale):
  z, y = _random_batch(4, scale=scale)
  # exp(0 * log(1 - p_y)) = 1 exactly; the two losses are separate compiled
  # kernels, so allow for a different fusion order (1 ulp).
  np.testing.assert_allclose(L.focal_loss(z, y, gamma=0.0),
                             L.cross_entropy(z, y), rtol=3e-7, atol=0)
  np.testing.assert_allclose(_focal_sum_grad(z, y, 0.0), _ce_sum_grad(z, y),
                             atol=1e-7)


@pytest.mark.parametrize("gamma", [0.0, 0.25, 0.5, 1.0, 2.0, 5.0])
def test_focal_confident_logits_have_finite_gradients(gamma):
  # Row 0: right and certain, p_y = 1 in float32, so the naive (1 - p)^gamma
  # is 0^gamma, whose derivative is inf for gamma < 1 and 0^0 at gamma = 0.
  # Row 1: wrong and certain; row 2 likewise with the other class.
  z = jnp.array([[50.0, -50.0], [50.0, -50.0], [-50.0, 50.0],
                 [1e4, -1e4]])
  y = jnp.array([0, 1, 0, 0])
  loss = L.focal_loss(z, y, gamma=gamma)
  grad = _focal_sum_grad(z, y, gamma)
  assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
  # Confident and right: loss and gradient vanish. Confident and wrong: the
  # factor is ~1, so the gradient is the CE gradient p - onehot(y).
  np.testing.assert_allclose(loss, [0.0, 100.0, 100.0, 0.0], atol=1e-4)
  np.testing.assert_allclose(
      grad, [[0, 0], [1, -1], [-1, 1], [0, 0]], atol=1e-6)


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_focal_gradient_matches_finite_differences(gamma):
  z, y = _random_batch(5, scale=2.0)
  v = np.random.default_rng(6).normal(size=z.shape)
  g = _focal_sum_grad(z, y, gamma)
  h = 1e-6
  fd = (np_focal(z + h * v, y, gamma).sum()
        - np_focal(z - h * v, y, gamma).sum()) / (2 * h)
  np.testing.assert_allclose(np.sum(np.asarray(g) * v), fd, rtol=1e-4,
                             atol=1e-5)


def test_focal_one_class_is_zero():
  z = jnp.array([[3.0], [-2.0]])
  y = jnp.array([0, 0])
  for gamma in (0.0, 2.0):
    np.testing.assert_array_equal(L.focal_loss(z, y, gamma=gamma), [0, 0])
    np.testing.assert_array_equal(_focal_sum_grad(z, y, gamma),
                                  np.zeros((2, 1)))


# Property (2) from the loss study: FL_gamma >= CE - gamma * H(p).
#
# Write p = p_y, q = 1 - p, a = -log p = CE, b = -log q. Then
# FL - CE = -(1 - q^gamma) a. The suggested route, Bernoulli
# (1 - p)^gamma >= 1 - gamma p, holds only for gamma >= 1 (and gamma = 0); for
# 0 < gamma < 1 it is reversed by concavity, so "FL >= (1 - gamma p) CE" is
# FALSE there (see test_focal_bernoulli_step_fails_below_one). The statement
# itself needs no condition; a proof for every gamma >= 0:
#  (i)   1 - q^gamma = 1 - exp(-gamma b) <= gamma b   (1 - e^-x <= x, x >= 0),
#        so FL - CE >= -gamma a b.
#  (ii)  a b <= p a + q b = H2(p), the binary entropy of p_y: dividing by a b,
#        this is p / b + q / a >= 1, and log(1/x) <= (1 - x) / x gives
#        b <= p / q and a <= q / p, so p / b + q / a >= q + p = 1.
#  (iii) H2(p_y) <= H(p) (grouping: H(p) = H2(p_y) + q H(p_{-y} / q)).
# Hence FL >= CE - gamma H2(p_y) >= CE - gamma H(p). The middle bound is
# tighter, and both are tested. (Mukhoti et al. 2020 prove the gamma >= 1
# case via Bernoulli.) Equality holds at gamma = 0, and the slack is ~gamma p_y
# as p_y -> 0, so the float tolerance below scales with CE.


@hypothesis.given(batches(), st.floats(0.0, 5.0))
def test_focal_lower_bound_property(batch, gamma):
  z, y = batch
  fl = np.asarray(L.focal_loss(z, y, gamma=gamma), np.float64)
  ce = np_ce(z, y)
  p_y = np.exp(-ce)
  # H2 via the sum of the other probabilities (no cancellation near p_y = 1).
  q = np.exp(np_log_softmax(z))
  q = np.where(np.eye(z.shape[1], dtype=bool)[y], 0.0, q).sum(-1)
  h2 = (p_y * ce  # -p_y log p_y
        - np.where(q > 0, q * np.log(np.where(q > 0, q, 1.0)), 0.0))
  tol = 1e-5 * (1.0 + ce)
  assert np.all(fl >= ce - gamma * h2 - tol), (fl, ce, h2)
  assert np.all(fl >= ce - gamma * np_entropy(z) - tol)


def test_focal_bernoulli_step_fails_below_one():
  # Binary, p_y = 1/2, gamma = 1/2: (1/2)^(1/2) = 0.7071 < 1 - gamma p = 0.75,
  # so FL = 0.7071 ln 2 = 0.4901 is BELOW (1 - gamma p) CE = 0.75 ln 2
  # = 0.5199 (the Bernoulli step fails), yet FL >= CE - gamma H = ln 2 -
  # 0.5 ln 2 = 0.3466 (the statement holds).
  z = jnp.zeros((1, 2))
  y = jnp.array([0])
  fl = float(L.focal_loss(z, y, gamma=0.5)[0])
  np.testing.assert_allclose(fl, math.sqrt(0.5) * LN2, rtol=1e-6)
  assert fl < 0.75 * LN2
  assert fl >= 0.5 * LN2


# Property (1): sharpening logits (t > 1) never lowers the max probability.
# Proof sketch: with f* = max_j f_j, softmax(t f)_max = 1 / sum_j
# exp(t (f_j - f*)); every f_j - f* <= 0, so each term exp(t (f_j - f*)) is
# non-increasing in t, the sum is non-increasing and its reciprocal
# non-decreasing. (A unique maximum is not needed for the inequality; it makes
# the max-prob tend to 1 as t -> inf.)


@hypothesis.given(
    hnp.arrays(np.float32, st.sampled_from([2, 7]),
               elements=st.floats(-20.0, 20.0, width=32)),
    st.floats(1.0, 10.0, exclude_min=True))
def test_sharpening_raises_max_probability(f, t):
  hypothesis.assume(np.sum(f == f.max()) == 1)
  ft = (np.float32(t) * f).astype(np.float32)
  both = np.stack([f, ft])
  c1, ct = L._confidence(both)  # the confidence path of soft_binned_ece
  assert ct >= c1 - 1e-6
  s1, st_ = _softmax_max(both)
  assert st_ >= s1 - 1e-6
  np.testing.assert_allclose(c1, s1, rtol=1e-5)


# ----------------------------------------------------------------------------
# Confidence penalty and logit-norm penalty.


def test_entropy_regularized_hand_values():
  # alpha = 0.1: rows 0/1 have H = 1.5 ln 2, so ln 2 - 0.15 ln 2 = 0.85 ln 2
  # and 2 ln 2 - 0.15 ln 2 = 1.85 ln 2; row 2: ln 3 - 0.1 ln 3 = 0.9 ln 3.
  np.testing.assert_allclose(
      L.entropy_regularized_ce(HAND_Z, HAND_Y, alpha=0.1),
      [0.85 * LN2, 1.85 * LN2, 0.9 * LN3], rtol=1e-6)


def test_entropy_regularized_matches_numpy_and_alpha_zero_is_ce():
  z, y = _random_batch(7, scale=8.0)
  np.testing.assert_allclose(L.entropy_regularized_ce(z, y, alpha=0.37),
                             np_ce(z, y) - 0.37 * np_entropy(z), rtol=1e-5,
                             atol=1e-5)
  np.testing.assert_array_equal(L.entropy_regularized_ce(z, y, alpha=0.0),
                                L.cross_entropy(z, y))


def test_logit_norm_hand_values():
  # L1, alpha = 0.01: ||[ln 2, 0, 0]||_1 = ln 2, so rows 0/1 are
  # CE + 0.01 ln 2 = 1.01 ln 2 and 2.01 ln 2; row 2 has zero logits: ln 3.
  np.testing.assert_allclose(L.logit_norm_penalty_ce(HAND_Z, HAND_Y),
                             [1.01 * LN2, 2.01 * LN2, LN3], rtol=1e-6)
  # L2, alpha = 0.1, logits [3, 4, 0], y = 1: ||f||_2 = 5;
  # CE = log(e^3 + e^4 + 1) - 4 = log(1 + e^-1 + e^-4)
  #    = log(1 + 0.3678794 + 0.0183156) = log(1.3861951) = 0.3265626,
  # loss = 0.3265626 + 0.1 * 5 = 0.8265626.
  z = np.array([[3.0, 4.0, 0.0]], np.float32)
  y = np.array([1])
  np.testing.assert_allclose(
      L.logit_norm_penalty_ce(z, y, alpha=0.1, p=2), [0.8265626], rtol=1e-6)
  # p = 3: (27 + 64)^(1/3) = 4.4979414; p = inf: max |f_j| = 4.
  np.testing.assert_allclose(
      L.logit_norm_penalty_ce(z, y, alpha=0.1, p=3),
      [0.3265626 + 0.44979414], rtol=1e-6)
  np.testing.assert_allclose(
      L.logit_norm_penalty_ce(z, y, alpha=0.1, p=math.inf),
      [0.3265626 + 0.4], rtol=1e-6)


@pytest.mark.parametrize("p", [1, 2, 2.5, math.inf])
def test_logit_norm_matches_numpy_and_alpha_zero_is_ce(p):
  z, y = _random_batch(8, scale=50.0)
  norm = np.linalg.norm(z.astype(np.float64), ord=p, axis=-1)
  np.testing.assert_allclose(L.logit_norm_penalty_ce(z, y, alpha=0.2, p=p),
                             np_ce(z, y) + 0.2 * norm, rtol=1e-5)
  np.testing.assert_array_equal(
      L.logit_norm_penalty_ce(z, y, alpha=0.0, p=p), L.cross_entropy(z, y))


_logit_norm_sum_grad = jax.jit(
    jax.grad(lambda a, y, p: L.logit_norm_penalty_ce(a, y, alpha=1.0,
                                                      p=p).sum()),
    static_argnames="p")

# d||f||_p / df at f = [3, 4, 0]: p = 1: sign(f) = [1, 1, 0] (0 at the zero
# entry); p = 2: f / ||f|| = [0.6, 0.8, 0]; p = 3: sign(f) |f|^2 / ||f||_3^2
# = [9, 16, 0] / 91^(2/3); p = inf: the arg-max entry, [0, 1, 0].
_NORM_GRADS = {1: [1.0, 1.0, 0.0], 2: [0.6, 0.8, 0.0],
               3: [9 / 91 ** (2 / 3), 16 / 91 ** (2 / 3), 0.0],
               math.inf: [0.0, 1.0, 0.0]}


@pytest.mark.parametrize("p", [1, 2, 3, math.inf])
def test_logit_norm_gradient_finite_at_zero_and_right_elsewhere(p):
  # Row 1 is f = 0, where ||f||_p is not differentiable (the naive gradient
  # is 0/0 for p > 1): the subgradient 0 is used, leaving the CE gradient
  # 1/C - onehot(y). Row 0 has the penalty gradient above.
  z = jnp.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0]])
  y = jnp.array([0, 2])
  g = _logit_norm_sum_grad(z, y, p)
  penalty = np.array([_NORM_GRADS[p], [0.0, 0.0, 0.0]])
  np.testing.assert_allclose(g, _ce_sum_grad(z, y) + penalty, atol=1e-6)
  np.testing.assert_allclose(g[1], np.full(3, 1 / 3) - np.eye(3)[2],
                             atol=1e-6)


# ----------------------------------------------------------------------------
# Soft-binned ECE.

# Two binary examples, M = 2 bins (centres 1/4, 3/4), temperature 1/4.
#  ex 0: logits [ln 3, 0], y = 1: c = 3/4, a = 0 (argmax 0 != 1), a - c = -3/4.
#        u(3/4) = softmax([-(1/2)^2 / (1/4), 0]) = softmax([-1, 0])
#               = [1/(1+e), e/(1+e)] = [0.2689414, 0.7310586].
#  ex 1: logits [0, 0], y = 0: c = 1/2, a = 1 (tie -> class 0), a - c = 1/2;
#        u(1/2) = [1/2, 1/2].
#  N_b = sum_i u_b (a_i - c_i): N_0 = -0.75 * 0.2689414 + 0.25 = 0.0482939,
#                               N_1 = -0.75 * 0.7310586 + 0.25 = -0.2982939.
#  S_0 = 0.7689414, S_1 = 1.2310586; W = 2; A_b - C_b = N_b / S_b.
#  p = 1: sum_b (S_b/W) |N_b/S_b| = (0.0482939 + 0.2982939) / 2 = 0.1732939.
#  p = 2: sqrt(sum_b N_b^2 / (S_b W))
#       = sqrt((0.0023323 / 0.7689414 + 0.0889793 / 1.2310586) / 2)
#       = sqrt((0.0030331 + 0.0722785) / 2) = sqrt(0.0376558) = 0.1940513.
SB_Z = np.array([[LN3, 0.0], [0.0, 0.0]], np.float32)
SB_Y = np.array([1, 0], np.int32)


def test_soft_ece_hand_values():
  kw = dict(num_bins=2, temperature=0.25)
  np.testing.assert_allclose(L.soft_binned_ece(SB_Z, SB_Y, p=1, **kw),
                             0.1732939, rtol=1e-5)
  np.testing.assert_allclose(L.soft_binned_ece(SB_Z, SB_Y, p=2, **kw),
                             0.1940513, rtol=1e-5)
  # One bin: u = 1, so SB-ECE = |sum_i w_i (a_i - c_i)| / sum_i w_i; with
  # weights [1, 3]: |1 * (-0.75) + 3 * 0.5| / 4 = 0.75 / 4 = 0.1875.
  np.testing.assert_allclose(
      L.soft_binned_ece(SB_Z, SB_Y, num_bins=1, weights=jnp.array([1.0, 3.0])),
      0.1875, rtol=1e-6)


@hypothesis.given(
    batches(shapes=((2, 2), (16, 5)), bound=20.0),
    st.sampled_from([1e-3, 1e-2, 0.1, 1.0]), st.sampled_from([1, 2]),
    st.data())
def test_soft_ece_in_unit_interval_and_matches_numpy(batch, temperature, p,
                                                     data):
  num_bins = 15  # other bin counts: the hand-value tests
  z, y = batch
  w = data.draw(hnp.arrays(np.float32, (len(y),),
                           elements=st.floats(0.0, 4.0, width=32)))
  hypothesis.assume(w.sum() > 1e-3)
  got = float(L.soft_binned_ece(z, y, num_bins=num_bins,
                                temperature=temperature, weights=w, p=p))
  assert -1e-7 <= got <= 1.0 + 1e-6
  # float32 vs float64: c_i carries ~1e-7 error, and u_b moves by at most
  # 2 |c - xi| / T * 1e-7 <= 2e-4 at T = 1e-3.
  ref = np_soft_ece(z, y, num_bins, temperature, w, p)
  np.testing.assert_allclose(got, ref, atol=1e-3)


def test_soft_ece_matches_numpy_on_random_batch():
  z, y = _random_batch(9, scale=2.0)
  w = np.random.default_rng(9).uniform(0, 2, size=16).astype(np.float32)
  for p in (1, 2, 3):
    np.testing.assert_allclose(
        L.soft_binned_ece(z, y, temperature=0.02, weights=w, p=p),
        np_soft_ece(z, y, 15, 0.02, w, p), rtol=1e-4, atol=1e-6)


def test_soft_ece_gradient_is_finite_and_matches_finite_differences():
  z, y = _random_batch(10, scale=2.0)
  srt = np.sort(z, axis=-1)
  assert np.min(srt[:, -1] - srt[:, -2]) > 1e-3  # argmax stable under +-h
  v = np.random.default_rng(11).normal(size=z.shape)
  g = np.asarray(_ece_grad(z, y, temperature=0.05, weights=None,
                           num_bins=15, p=2))
  assert np.all(np.isfinite(g)) and np.abs(g).max() > 1e-3
  h = 1e-6
  fd = (np_soft_ece(z + h * v, y, 15, 0.05)
        - np_soft_ece(z - h * v, y, 15, 0.05)) / (2 * h)
  np.testing.assert_allclose(np.sum(g * v), fd, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("p", [1, 2])
def test_soft_ece_gradient_finite_on_degenerate_batches(p):
  # Confident logits: c = 1 exactly, every bin but the last has mass 0
  # (underflow) -> the empty-bin guard. Uniform logits with labels [0, 1]:
  # a - c = +1/2 and -1/2 cancel, so the sum is exactly 0 -> the root guard.
  cases = [
      (jnp.array([[50.0, -50.0], [-60.0, 80.0]]), jnp.array([0, 0])),
      (jnp.zeros((2, 2)), jnp.array([0, 1])),
  ]
  for temperature in (1e-4, 0.01, 1.0):
    for z, y in cases:
      val = L.soft_binned_ece(z, y, temperature=temperature, p=p)
      g = _ece_grad(z, y, temperature=temperature, weights=None,
                    num_bins=15, p=p)
      assert np.isfinite(val) and np.all(np.isfinite(g))
    # At the exact zero the (sub)gradient 0 is returned.
    assert float(val) == 0.0
    np.testing.assert_array_equal(g, np.zeros((2, 2)))


def test_soft_ece_approaches_hard_ece_at_small_temperature():
  # Tolerance. For p = 1, SB-ECE = sum_b |N_b| / W with
  # N_b = sum_i w_i u_b(c_i) (a_i - c_i); the hard ECE is the same with u_b
  # replaced by the indicator of the nearest centre b_i (equal-width bins).
  # By the triangle inequality
  #   |SB-ECE - ECE| <= (1/W) sum_i w_i |a_i - c_i| sum_b |u_b(c_i) - 1[b=b_i]|
  #                   = (2/W) sum_i w_i |a_i - c_i| (1 - u_{b_i}(c_i)),
  # a bound computed here in float64. It is small because the leak to a
  # neighbouring bin is ~exp(-2 delta / (M T)) for a confidence delta from
  # the bin edge (exp(-1333 delta) at M = 15, T = 1e-5), so only examples
  # within ~1e-3 of an edge leak at all. The extra 1e-4 covers float32:
  # sums of 1000 terms (~1e-5) and the float32 confidence moving u by at most
  # 2 |c - xi| / T * 6e-8 ~ 4e-4 per edge example, weighted by 2 / n.
  rng = np.random.default_rng(12)
  n, classes, m, temp = 1000, 4, 15, 1e-5
  z = (rng.normal(size=(n, classes))
       * rng.uniform(0.3, 4.0, size=(n, 1))).astype(np.float32)
  # Labels from a softer model: the logits are over-confident (ECE > 0).
  probs = np.exp(np_log_softmax(0.5 * z))
  y = (rng.uniform(size=(n, 1)) > np.cumsum(probs, -1)).sum(-1)
  y = np.minimum(y, classes - 1).astype(np.int32)
  hard = np_hard_ece(z, y, m)
  soft = float(L.soft_binned_ece(z, y, num_bins=m, temperature=temp, p=1))
  pr = np.exp(np_log_softmax(z))
  c = pr.max(-1)
  a = (pr.argmax(-1) == y).astype(np.float64)
  centres = (np.arange(m) + 0.5) / m
  scores = -(c[:, None] - centres) ** 2 / temp
  u = np.exp(scores - scores.max(-1, keepdims=True))
  u /= u.sum(-1, keepdims=True)
  b = np.minimum((c * m).astype(int), m - 1)
  bound = 2 * np.mean(np.abs(a - c) * (1 - u[np.arange(n), b]))
  assert hard > 0.05  # a non-trivial target
  assert bound < 5e-3  # the tolerance is informative
  assert abs(soft - hard) <= bound + 1e-4, (soft, hard, bound)
  # At the default temperature the soft value is visibly different.
  assert abs(float(L.soft_binned_ece(z, y, p=1)) - hard) > abs(soft - hard)


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("temperature", [1e-3, 0.01, 0.1, 1.0])
def test_soft_ece_perfectly_calibrated_case_is_zero(p, temperature):
  # Group A: 4 examples with logits [ln 3, 0] -> c = 3/4, labels 0,0,0,1 ->
  # accuracy 3/4. Group B: 5 examples with [ln 1.5, 0] -> c = 0.6, labels
  # 0,0,0,1,1 -> accuracy 3/5. Within a group u_b(c) is the same for all, so
  # N_b = u_b(3/4) sum_A (a - c) + u_b(0.6) sum_B (a - c) = 0 + 0 for every
  # bin and every temperature.
  z = np.array([[LN3, 0.0]] * 4 + [[math.log(1.5), 0.0]] * 5, np.float32)
  y = np.array([0, 0, 0, 1, 0, 0, 0, 1, 1], np.int32)
  val = L.soft_binned_ece(z, y, temperature=temperature, p=p)
  np.testing.assert_allclose(val, 0.0, atol=2e-4 if p == 2 else 1e-6)
  # Making group A over-confident breaks it.
  z2 = z.copy()
  z2[:4, 0] = math.log(9.0)  # c = 0.9 with accuracy 0.75
  assert float(L.soft_binned_ece(z2, y, temperature=temperature, p=p)) > 0.05


def test_soft_ece_weights_are_soft_counts():
  z, y = _random_batch(13, scale=2.0)
  counts = np.array([2, 0, 1, 3, 0, 1, 1, 0, 2, 1, 0, 1, 2, 1, 1, 0])
  assert counts.sum() == 16  # the duplicated batch has the same shape
  keep = counts > 0
  # A zero weight removes the example.
  f = lambda z, y, w: L.soft_binned_ece(
      z, y, weights=np.asarray(w, np.float32), temperature=0.05)
  np.testing.assert_allclose(f(z, y, keep), f(z[keep], y[keep],
                                               np.ones(keep.sum())),
                             rtol=1e-5)
  # Integer weights repeat examples; the overall scale does not matter.
  rep = np.repeat(np.arange(16), counts)
  dup = f(z[rep], y[rep], np.ones(len(rep)))
  np.testing.assert_allclose(f(z, y, counts), dup, rtol=1e-5)
  np.testing.assert_allclose(f(z, y, 7.5 * counts), dup, rtol=1e-5)
  # ... and they do matter: uniform weights give something else.
  assert abs(float(f(z, y, np.ones(16))) - float(dup)) > 1e-3


def test_soft_ece_all_zero_weights_under_jit_is_zero():
  z, y = _random_batch(14)
  assert float(_ece_jit(z, y, weights=jnp.zeros(16))) == 0.0
  assert float(_ece_jit(z, y, weights=jnp.ones(16))) > 0.0


# ----------------------------------------------------------------------------
# make_loss.

_EXPECTED_NAMES = ("ce", "label_smoothing", "focal", "entropy_reg",
                   "logit_norm", "ce+soft_ece")


def _per_example_reference(name, z, y, hp):
  if name == "ce":
    return L.cross_entropy(z, y)
  if name == "label_smoothing":
    return L.cross_entropy(z, y, label_smoothing=hp.get("label_smoothing",
                                                          0.1))
  if name == "focal":
    return L.focal_loss(z, y, gamma=hp.get("gamma", 2.0))
  if name == "entropy_reg":
    return L.entropy_regularized_ce(z, y, alpha=hp.get("alpha", 0.1))
  if name == "logit_norm":
    return L.logit_norm_penalty_ce(z, y, alpha=hp.get("alpha", 0.01),
                                   p=hp.get("p", 1))
  raise AssertionError(name)


def _manual_loss(name, z, y, w, hp):
  if name == "ce+soft_ece":
    ece = L.soft_binned_ece(z, y, weights=w,
                            num_bins=hp.get("num_bins", 15),
                            temperature=hp.get("temperature", 0.01))
    return np.mean(w * L.cross_entropy(z, y)) + hp.get("lam", 1.0) * ece
  return np.mean(w * _per_example_reference(name, z, y, hp))


def test_loss_names():
  assert L.LOSS_NAMES == _EXPECTED_NAMES


# Non-default hyperparameters, so that forwarding them is tested; the
# defaults are tested in test_make_loss_weights_semantics.
@pytest.mark.parametrize("name,hp", [
    ("ce", {}), ("label_smoothing", {"label_smoothing": 0.3}),
    ("focal", {"gamma": 0.5}), ("entropy_reg", {"alpha": 0.4}),
    ("logit_norm", {"alpha": 0.1, "p": 2}),
    ("ce+soft_ece", {"lam": 3.0, "num_bins": 5, "temperature": 0.1})])
def test_make_loss_runs_under_jit_and_grad(name, hp):
  # Over-confident logits so that the soft-ECE term is clearly non-zero.
  z, y = _random_batch(15, scale=4.0)
  w = np.random.default_rng(15).poisson(1.0, size=16).astype(np.float32)
  loss = L.make_loss(name, **hp)
  want = _manual_loss(name, z, y, w, hp)
  np.testing.assert_allclose(loss(z, y, w), want, rtol=1e-5)
  val, g = jax.jit(jax.value_and_grad(loss))(jnp.asarray(z), y, w)
  np.testing.assert_allclose(val, want, rtol=1e-5)
  assert g.shape == z.shape and np.all(np.isfinite(g))
  assert np.abs(g).max() > 1e-4
  # weights=None is weights=ones.
  np.testing.assert_allclose(
      loss(z, y), _manual_loss(name, z, y, np.ones(16, np.float32), hp),
      rtol=1e-5)


def test_make_loss_soft_ece_term_is_present():
  z, y = _random_batch(16, scale=5.0)
  base = float(L.make_loss("ce")(z, y))
  ece = float(L.soft_binned_ece(z, y))
  assert ece > 0.05
  np.testing.assert_allclose(L.make_loss("ce+soft_ece", lam=2.0)(z, y),
                             base + 2.0 * ece, rtol=1e-5)


@pytest.mark.parametrize("name", _EXPECTED_NAMES)
def test_make_loss_weights_semantics(name):
  z, y = _random_batch(17, scale=3.0)
  loss = L.make_loss(name)
  ones = np.ones(16, np.float32)
  np.testing.assert_allclose(loss(z, y), _manual_loss(name, z, y, ones, {}),
                             rtol=1e-5)  # the documented defaults
  # Bootstrap counts with mean 1 (so the resampled batch has the same shape).
  counts = np.array([2, 0, 1, 1, 0, 2, 1, 3, 0, 1, 0, 1, 1, 2, 0, 1])
  assert counts.sum() == 16
  rep = np.repeat(np.arange(16), counts)
  # Mean-1 integer weights equal the plain mean over the resampled batch,
  # both for mean(w * l) and for the soft-ECE term (weights as soft counts).
  np.testing.assert_allclose(loss(z, y, counts.astype(np.float32)),
                             loss(z[rep], y[rep]), rtol=1e-5)
  if name != "ce+soft_ece":
    # Not normalised by sum(w): doubling every weight doubles the loss.
    np.testing.assert_allclose(loss(z, y, 2.0 * ones), 2.0 * loss(z, y),
                               rtol=1e-6)
    per = np.asarray(_per_example_reference(name, z, y, {}))
    np.testing.assert_allclose(loss(z, y, counts.astype(np.float32)),
                               (counts * per).sum() / 16, rtol=1e-5)


def test_make_loss_unknown_name():
  with pytest.raises(ValueError, match=r"Unknown loss name 'facal'.*did you "
                     r"mean 'focal'.*valid names: \('ce', 'label_smoothing'"):
    L.make_loss("facal")
  with pytest.raises(ValueError, match=r"Unknown loss name.*ce\+soft_ece"):
    L.make_loss("xyz")
  with pytest.raises(ValueError, match="Unknown loss name"):
    L.make_loss(None)


def test_make_loss_unknown_hparam():
  with pytest.raises(ValueError, match=r"make_loss\('focal'\) got unknown "
                     r"hyperparameter\(s\) \('gama',\).*did you mean 'gamma'"
                     r".*valid hyperparameters: \('gamma',\)"):
    L.make_loss("focal", gama=1.0)
  with pytest.raises(ValueError, match=r"valid hyperparameters: \('lam', "
                     r"'num_bins', 'temperature'\)"):
    L.make_loss("ce+soft_ece", lam=1.0, p=1)
  with pytest.raises(ValueError, match=r"'ce'.*takes no hyperparameters"):
    L.make_loss("ce", label_smoothing=0.1)
  with pytest.raises(ValueError, match=r"valid hyperparameters: \('alpha', "
                     r"'p'\)"):
    L.make_loss("logit_norm", gamma=1.0)


@pytest.mark.parametrize("name,hp,match", [
    ("focal", {"gamma": -1.0}, r"gamma must be .*>= 0"),
    ("entropy_reg", {"alpha": -0.1}, r"alpha must be .*>= 0"),
    ("logit_norm", {"alpha": -0.1}, r"alpha must be .*>= 0"),
    ("logit_norm", {"p": 0.5}, r"p must be >= 1"),
    ("label_smoothing", {"label_smoothing": 1.5}, r"label_smoothing must be"),
    ("ce+soft_ece", {"lam": -1.0}, r"lam must be .*>= 0"),
    ("ce+soft_ece", {"temperature": 0.0}, r"temperature must be .*> 0"),
    ("ce+soft_ece", {"num_bins": 0}, r"num_bins must be an int >= 1"),
    ("ce+soft_ece", {"num_bins": 2.5}, r"num_bins must be an int >= 1"),
])
def test_make_loss_bad_hparam_values(name, hp, match):
  with pytest.raises(ValueError, match=match):
    L.make_loss(name, **hp)


# ----------------------------------------------------------------------------
# Input validation.

_PUBLIC = {
    "cross_entropy": L.cross_entropy,
    "focal_loss": L.focal_loss,
    "entropy_regularized_ce": L.entropy_regularized_ce,
    "logit_norm_penalty_ce": L.logit_norm_penalty_ce,
    "soft_binned_ece": L.soft_binned_ece,
    "make_loss": L.make_loss("focal"),
}
_GOOD_Z = np.zeros((3, 4), np.float32)
_GOOD_Y = np.array([0, 1, 3], np.int32)


@pytest.mark.parametrize("fn", list(_PUBLIC.values()), ids=list(_PUBLIC))
@pytest.mark.parametrize("logits,labels,match", [
    (np.zeros(4, np.float32), _GOOD_Y,
     r"logits must have shape \[batch, classes\]; got shape \(4,\)"),
    (np.zeros((2, 3, 4), np.float32), _GOOD_Y,
     r"logits must have shape \[batch, classes\]"),
    (_GOOD_Z, np.zeros((3, 1), np.int32), r"labels must have shape \[batch\]"),
    (_GOOD_Z, np.array([0, 1], np.int32),
     r"logits and labels disagree on the batch size"),
    (_GOOD_Z, np.array([0, 1, 4], np.int32),
     r"labels must lie in \[0, 4\).*got values in \[0, 4\]"),
    (_GOOD_Z, np.array([-1, 1, 2], np.int32), r"labels must lie in \[0, 4\)"),
    (_GOOD_Z, np.array([0.0, 1.0, 2.0], np.float32),
     r"labels must be integer class ids"),
    (np.array([[0, np.nan, 0, 0]] + [[0] * 4] * 2, np.float32), _GOOD_Y,
     r"logits contains 1 non-finite value"),
    (np.zeros((3, 0), np.float32), _GOOD_Y,
     r"logits must have at least one class"),
])
def test_bad_inputs_raise(fn, logits, labels, match):
  with pytest.raises(ValueError, match=match):
    fn(logits, labels)


@pytest.mark.parametrize("fn", list(_PUBLIC.values()), ids=list(_PUBLIC))
def test_shape_checks_run_under_jit_value_checks_do_not(fn):
  # Tracing is what jax.jit does before compiling; jax.eval_shape traces the
  # same way without compiling (jit itself is run in the make_loss and
  # traced-hyperparameter tests).
  with pytest.raises(ValueError, match=r"logits must have shape"):
    jax.jit(fn)(np.zeros(4, np.float32), _GOOD_Y)
  with pytest.raises(ValueError, match=r"labels must be integer"):
    jax.eval_shape(fn, _GOOD_Z, _GOOD_Y.astype(np.float32))
  # Out-of-range labels are a value check: skipped for tracers, no error
  # (while the eager call raises, see test_bad_inputs_raise).
  out = jax.eval_shape(fn, _GOOD_Z, np.array([0, 1, 9], np.int32))
  assert out.shape in ((), (3,))


@pytest.mark.parametrize("call,match", [
    (lambda: L.cross_entropy(_GOOD_Z, _GOOD_Y, label_smoothing=1.5),
     r"label_smoothing must be a finite number >= 0.0 and <= 1.0; got 1.5"),
    (lambda: L.cross_entropy(_GOOD_Z, _GOOD_Y, label_smoothing=-0.1),
     r"label_smoothing must be"),
    (lambda: L.focal_loss(_GOOD_Z, _GOOD_Y, gamma=-0.5),
     r"gamma must be a finite number >= 0.0"),
    (lambda: L.focal_loss(_GOOD_Z, _GOOD_Y, gamma=float("nan")),
     r"gamma must be a finite number"),
    (lambda: L.focal_loss(_GOOD_Z, _GOOD_Y, gamma=np.array([1.0, 2.0])),
     r"gamma must be a scalar"),
    (lambda: L.entropy_regularized_ce(_GOOD_Z, _GOOD_Y, alpha=-0.1),
     r"alpha must be a finite number >= 0.0"),
    (lambda: L.logit_norm_penalty_ce(_GOOD_Z, _GOOD_Y, alpha=-1.0),
     r"alpha must be .*unbounded below"),
    (lambda: L.logit_norm_penalty_ce(_GOOD_Z, _GOOD_Y, p=0.5),
     r"p must be >= 1"),
    (lambda: L.soft_binned_ece(_GOOD_Z, _GOOD_Y, temperature=0.0),
     r"temperature must be a finite number > 0.0"),
    (lambda: L.soft_binned_ece(_GOOD_Z, _GOOD_Y, temperature=-1.0),
     r"temperature must be"),
    (lambda: L.soft_binned_ece(_GOOD_Z, _GOOD_Y, num_bins=0),
     r"num_bins must be an int >= 1; got 0"),
    (lambda: L.soft_binned_ece(_GOOD_Z, _GOOD_Y, num_bins=-3),
     r"num_bins must be an int >= 1"),
    (lambda: L.soft_binned_ece(_GOOD_Z, _GOOD_Y, num_bins=2.0),
     r"num_bins must be an int >= 1; got 2.0"),
    (lambda: jax.jit(L.soft_binned_ece)(_GOOD_Z, _GOOD_Y, num_bins=3),
     r"num_bins must be a static Python int"),
    (lambda: L.soft_binned_ece(_GOOD_Z, _GOOD_Y, p=0),
     r"p must be >= 1"),
    (lambda: L.soft_binned_ece(_GOOD_Z, _GOOD_Y, weights=np.ones(2)),
     r"weights must have shape \[batch\] = \(3,\)"),
    (lambda: L.soft_binned_ece(_GOOD_Z, _GOOD_Y,
                               weights=np.array([1.0, -1.0, 1.0])),
     r"weights must be non-negative"),
    (lambda: L.soft_binned_ece(_GOOD_Z, _GOOD_Y, weights=np.zeros(3)),
     r"weights must have a positive sum"),
    (lambda: L.soft_binned_ece(np.zeros((0, 3), np.float32),
                               np.zeros(0, np.int32)),
     r"logits has an empty batch"),
    (lambda: L.make_loss("ce")(_GOOD_Z, _GOOD_Y, np.ones((3, 1))),
     r"weights must have shape \[batch\]"),
    (lambda: L.make_loss("ce")(_GOOD_Z, _GOOD_Y,
                               np.array([1.0, np.inf, 1.0])),
     r"weights contains 1 non-finite"),
    (lambda: L.make_loss("ce")(np.zeros((0, 3), np.float32),
                               np.zeros(0, np.int32)),
     r"logits has an empty batch"),
])
def test_bad_hyperparameters_and_weights_raise(call, match):
  with pytest.raises(ValueError, match=match):
    call()


def test_traced_hyperparameters_work_under_jit():
  z, y = _random_batch(18)
  np.testing.assert_allclose(jax.jit(L.focal_loss)(z, y, gamma=1.5),
                             L.focal_loss(z, y, gamma=1.5), rtol=1e-6)
  np.testing.assert_allclose(
      jax.jit(L.cross_entropy)(z, y, label_smoothing=0.2),
      L.cross_entropy(z, y, label_smoothing=0.2), rtol=1e-6)
  # num_bins and p must be static (functools.partial or static_argnames);
  # temperature and weights are traced.
  np.testing.assert_allclose(
      _ece_jit(z, y, temperature=0.05, weights=jnp.ones(16)),
      L.soft_binned_ece(z, y, temperature=0.05), rtol=1e-6)
  f = jax.jit(functools.partial(L.soft_binned_ece, num_bins=5))
  np.testing.assert_allclose(
      f(z, y), L.soft_binned_ece(z, y, num_bins=5), rtol=1e-6)
