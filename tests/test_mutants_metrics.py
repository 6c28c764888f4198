"""Tests written for mutants of ``enn_sym/metrics`` that the other tests let
survive (``scripts/mutation_test.py``): documented defaults, edge cases and
numpy references. Small and fast."""

import math

import numpy as np
import pytest

from enn_sym import metrics
from enn_sym.metrics import _common
from tests import numpy_reference as ref


def _run(metric, *args):
  state = metric.update(metric.empty(), *args)
  return {k: np.asarray(v) for k, v in metric.compute(state).items()}


def _edge_data(num_bins=15):
  """Two-class probabilities whose top confidence is exactly on an inner
  edge ``bin_edges(M)[b]`` (b > M/2), each paired with one inside the bin
  above the edge and of the other correctness, so that [lo, hi) and
  (lo, hi] bins (and 15 and 16 bins) give different ECEs."""
  e = _common.bin_edges(num_bins)
  rows, labels = [], []
  for b in range(num_bins // 2 + 2, num_bins - 1):
    inner = np.float32((e[b] + e[b + 1]) / 2)
    rows += [[e[b], 1 - e[b]], [inner, 1 - inner]]
    labels += [0, 1]  # the edge one right, the inner one wrong.
  return np.asarray(rows, np.float32), np.asarray(labels, np.int32)


def test_documented_default_bins_and_rule():
  # docs/metrics.md: num_bins=15 ("The default is M = 15"), right_closed
  # False, for the metrics and the one-shot helper.
  probs, labels = _edge_data()
  expected = ref.top_label(probs, labels, 15, "probs", False)["ece"]
  for other in (ref.top_label(probs, labels, 15, "probs", True)["ece"],
                ref.top_label(probs, labels, 16, "probs", False)["ece"]):
    assert abs(other - expected) > 1e-3  # the data tell them apart.
  np.testing.assert_allclose(
      metrics.expected_calibration_error(probs, labels), expected, atol=1e-6)
  out = _run(metrics.BinnedCalibration(input_kind="probs"), probs, labels)
  np.testing.assert_allclose(out["ece"], expected, atol=1e-6)
  cw = ref.classwise_ece(probs, labels, 15, "probs", False)[0]
  assert abs(ref.classwise_ece(probs, labels, 16, "probs", False)[0]
             - cw) > 1e-3
  out = _run(metrics.ClasswiseCalibration(2, input_kind="probs"), probs,
             labels)
  np.testing.assert_allclose(out["classwise_ece"], cw, atol=1e-6)


def test_bootstrap_documented_defaults_and_confidence_range():
  # docs/metrics.md: BootstrapECE(num_bins=15, num_replicates=200,
  # confidence=0.95), right_closed False; confidence in the open (0, 1).
  import jax  # pylint: disable=g-import-not-at-top
  probs, labels = _edge_data()
  m = metrics.BootstrapECE(input_kind="probs")
  out = m.compute(m.update(m.empty(), probs, labels, key=jax.random.key(0)))
  assert out["ece_replicates"].shape == (200,)
  np.testing.assert_allclose(
      out["ece"], ref.top_label(probs, labels, 15, "probs", False)["ece"],
      atol=1e-6)
  for bad in (0.0, 1.0):
    with pytest.raises(ValueError, match="confidence"):
      metrics.BootstrapECE(input_kind="probs", confidence=bad)


def _gence_reference(mean, var, y, edges, mask):
  """eqs. 8-9 with explicit loops (float64)."""
  mean, var, y = (np.asarray(x, np.float64).reshape(len(x), -1)
                  for x in (mean, var, y))
  keep = np.asarray(mask) != 0
  total = var.sum(1)
  # Binned on the float32 total against float32 edges, as documented.
  total32 = var.astype(np.float32).sum(1, dtype=np.float32)
  bins = np.array([sum(t >= np.float32(e) for e in edges) for t in total32])
  n = keep.sum()
  gence = gence_sq = 0.0
  per_bin = []
  for b in range(len(edges) + 1):
    sel = keep & (bins == b)
    if not sel.any():
      per_bin.append((0, 0.0, 0.0, 0.0, 0.0))
      continue
    e = np.abs(mean[sel] - y[sel])
    a = np.sqrt(2 * var[sel] / np.pi)
    g = np.sum((a - e) ** 2) / np.sum(a * a) if np.sum(a * a) > 0 else 0.0
    s = var[sel]
    gs = (np.sum((s - e * e) ** 2) / np.sum(s * s) if np.sum(s * s) > 0
          else 0.0)
    gence += sel.sum() / n * g
    gence_sq += sel.sum() / n * gs
    per_bin.append((sel.sum(), g, gs, np.mean(np.sum(e * e, 1)),
                    np.mean(total[sel])))
  return gence, gence_sq, per_bin


@pytest.mark.parametrize("dims", [1, 2])
def test_gaussian_calibration_matches_a_loop_reference(dims):
  rng = np.random.default_rng(dims)
  n = 24
  shape = (n,) if dims == 1 else (n, dims)
  mean = rng.normal(size=shape).astype(np.float32)
  var = rng.uniform(0.2, 3.0, size=shape).astype(np.float32)
  y = (mean + rng.normal(size=shape) * 1.3).astype(np.float32)
  var[0] = 0.0  # a zero variance in the lowest bin
  mask = np.ones(n, np.float32)
  mask[-3:] = 0
  mean[-1] = np.nan  # padding may hold anything.
  totals = var.astype(np.float64).reshape(n, -1).sum(1)
  edges = metrics.variance_quantile_edges(var[:-3], 3)
  np.testing.assert_allclose(
      edges, np.quantile(totals[:-3], [1 / 3, 2 / 3]), rtol=1e-12)
  total32 = var.reshape(n, -1).sum(1, dtype=np.float32)
  edges = (float(total32[1]),) + edges[1:]  # a total exactly on an edge.
  edges = tuple(sorted(edges))
  m = metrics.GaussianCalibration(edges)
  out = _run(m, mean, var, y, mask)
  g, gs, per_bin = _gence_reference(mean, var, y, edges, mask)
  np.testing.assert_allclose(out["gence"], g, rtol=1e-5)
  np.testing.assert_allclose(out["gence_sq"], gs, rtol=1e-5)
  assert out["count"] == n - 3
  np.testing.assert_array_equal(out["bin_count"], [b[0] for b in per_bin])
  np.testing.assert_allclose(out["bin_gence"], [b[1] for b in per_bin],
                             rtol=1e-5)
  np.testing.assert_allclose(out["bin_gence_sq"], [b[2] for b in per_bin],
                             rtol=1e-5)
  np.testing.assert_allclose(out["bin_mse"], [b[3] for b in per_bin],
                             rtol=1e-5)
  np.testing.assert_allclose(out["bin_variance"], [b[4] for b in per_bin],
                             rtol=1e-5)


def test_gaussian_calibration_edge_cases():
  # Hand values (a = sqrt(2 s / pi) = [0, 0, 1], e = [1, 2, 1]); an empty
  # bin contributes 0 (not NaN).
  m = metrics.GaussianCalibration((10.0,))
  var = np.array([0.0, 0.0, math_pi_half()], np.float32)
  mean = np.array([1.0, 2.0, 1.0], np.float32)  # a = sqrt(2 var / pi) = 1
  y = np.array([0.0, 0.0, 0.0], np.float32)
  out = _run(m, mean, var, y)
  np.testing.assert_array_equal(out["bin_count"], [3, 0])
  np.testing.assert_allclose(out["gence"], (1 + 4 + 0) / 1, rtol=1e-6)
  np.testing.assert_array_equal(out["bin_gence"][1], 0.0)
  np.testing.assert_allclose(out["bin_gence_sq"], [
      ((0 - 1) ** 2 + (0 - 4) ** 2 + (math_pi_half() - 1) ** 2)
      / math_pi_half() ** 2, 0.0], rtol=1e-5)
  for bad in ((2.0, 1.0), [1.0], (np.nan,)):
    with pytest.raises(ValueError, match="edges must be"):
      metrics.GaussianCalibration(bad)
  with pytest.raises(ValueError, match="variance must be >= 0"):
    m.update(m.empty(), mean, -var - 1, y)
  with pytest.raises(ValueError, match="share one shape"):
    m.update(m.empty(), mean, var[:2], y)
  with pytest.raises(ValueError, match="variances must be"):
    metrics.variance_quantile_edges([1.0, -1.0], 2)
  assert metrics.variance_quantile_edges([[1.0, 2.0], [3.0, 4.0]], 2) == (
      5.0,)


def math_pi_half():
  return float(np.float32(np.pi / 2))


def test_enn_metrics_signature_defaults():
  # JointLogLoss(tau=10, kappa=2, num_samples=100) (docs/metrics.md and the
  # signature); EnsemblePredictive(num_bins=15).
  import jax  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  stack = rng.normal(size=(3, 12, 4)).astype(np.float32) * 2
  labels = rng.integers(0, 4, 12).astype(np.int32)
  key = jax.random.key(7)

  def joint(**kw):
    m = metrics.JointLogLoss(input_kind="logits", **kw)
    return {k: float(v) for k, v in m.compute(
        m.update(m.empty(), stack, labels, key=key)).items()}

  default = joint()
  assert default == joint(tau=10, kappa=2, num_samples=100)
  assert default["num_dyadic"] == 100
  for other in ({"tau": 11}, {"kappa": 3}, {"num_samples": 101}):
    assert joint(**other)["joint_nll"] != default["joint_nll"], other
  probs, labels = _edge_data()
  stack = np.stack([probs, probs])
  out = _run(metrics.EnsemblePredictive(input_kind="probs"), stack, labels)
  np.testing.assert_allclose(
      out["ece"], ref.top_label(probs, labels, 15, "probs", False)["ece"],
      atol=1e-6)


def test_checked_out_shardings_must_be_named_shardings():
  import jax  # pylint: disable=g-import-not-at-top
  single = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  for out in (single, None, {}):
    with pytest.raises(ValueError, match="needs NamedSharding leaves"):
      metrics.checked(lambda x: x, out_shardings=out)


def test_joint_log_loss_accepts_a_raw_key_and_rejects_a_batch_of_them():
  import jax  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(1)
  stack = rng.normal(size=(2, 6, 3)).astype(np.float32)
  labels = rng.integers(0, 3, 6).astype(np.int32)
  m = metrics.JointLogLoss(input_kind="logits", num_samples=4)
  raw = jax.random.PRNGKey(0)  # uint32 [2]
  out = m.compute(m.update(m.empty(), stack, labels, key=raw))
  assert int(out["num_dyadic"]) == 4
  for bad in (jax.random.split(raw, 2), jax.random.split(jax.random.key(0))):
    with pytest.raises(ValueError, match="key must be one PRNG key"):
      m.update(m.empty(), stack, labels, key=bad)


def test_gaussian_calibration_repeated_edges_and_a_zero_variance_bin():
  # Repeated edges are allowed (quantiles of tied variances repeat); a bin
  # whose variances are all 0 contributes 0 however large its errors.
  m = metrics.GaussianCalibration((1.0, 1.0))
  assert m.num_bins == 3
  mean = np.array([3.0, 0.0], np.float32)
  var = np.array([0.0, 2.0], np.float32)
  y = np.zeros(2, np.float32)
  out = _run(m, mean, var, y)
  np.testing.assert_array_equal(out["bin_count"], [1, 0, 1])
  np.testing.assert_array_equal(out["bin_gence"][0], 0.0)
  np.testing.assert_array_equal(out["bin_gence_sq"][0], 0.0)
  np.testing.assert_allclose(out["bin_mse"], [9.0, 0.0, 0.0])
  a2 = 2 * 2.0 / np.pi  # the other bin: e = 0, so gence = 1, gence_sq = 1.
  np.testing.assert_allclose(out["bin_gence"][2], a2 / a2, rtol=1e-6)
  np.testing.assert_allclose(out["gence"], 0.5, rtol=1e-6)


def _fit_reference(logits, labels, num_iters, num_grid, min_t, max_t):
  """The documented search in float64: L and dL/du (u = log beta) on the
  log-spaced grid and at u = 0, then bisection of the slope's sign between
  the neighbours of the best point (num_iters + 1 midpoints, as the loop
  runs), the final midpoint unless its NLL is worse than the best by more
  than 1e-6 relative."""
  z = np.asarray(logits, np.float64)
  y = np.asarray(labels)

  zs = z if z.ndim == 3 else z[None]  # members [K, N, C]
  rows = np.arange(len(y))

  def value_slope(u):
    beta = math.exp(u)
    s = beta * zs
    s = s - s.max(-1, keepdims=True)
    p = np.exp(s) / np.exp(s).sum(-1, keepdims=True)
    py = p[:, rows, y]  # [K, N]
    # d p_ky / d beta = p_ky (l_ky - E_{p_k} l_k); the NLL of the mean.
    dpy = py * (zs[:, rows, y] - (p * zs).sum(-1))
    nll = -np.log(py.mean(0))
    slope = beta * np.mean(-dpy.sum(0) / py.sum(0))
    return nll.mean(), slope

  grid = np.linspace(-math.log(max_t), -math.log(min_t), num_grid)
  step = grid[1] - grid[0]
  best_u, best_v, lo, hi = 0.0, math.inf, 0.0, 0.0
  for u in list(grid) + [0.0]:
    v, _ = value_slope(u)
    if v < best_v:
      best_u, best_v = u, v
    lo, hi = max(best_u - step, grid[0]), min(best_u + step, grid[-1])
  for _ in range(num_iters + 1):
    mid = 0.5 * (lo + hi)
    v, slope = value_slope(mid)
    if v < best_v:
      best_u, best_v = mid, v
    lo, hi = (lo, mid) if slope > 0 else (mid, hi)
  root = 0.5 * (lo + hi)
  use_root = value_slope(root)[0] <= best_v + 1e-6 * (1 + abs(best_v))
  return math.exp(-(root if use_root else best_u))


@pytest.mark.parametrize("num_iters,num_grid,scale,case", [
    (2, 5, 3.0, "tempered"), (4, 9, 0.3, "tempered"), (1, 3, 8.0, "tempered"),
    (2, 5, 3.0, "random labels"), (3, 5, 2.0, "stack")])
def test_fit_temperature_follows_the_documented_search(num_iters, num_grid,
                                                       scale, case):
  # "random labels": the optimum lies beyond max_temperature (the first grid
  # point wins); "stack": the NLL of the mean predictive of 3 members.
  rng = np.random.default_rng(num_iters)
  shape = (3, 64, 3) if case == "stack" else (64, 3)
  logits = (rng.normal(size=shape) * scale).astype(np.float32)
  first = logits[0] if case == "stack" else logits
  labels = np.argmax(first + rng.gumbel(size=(64, 3)) * 2, 1).astype(
      np.int32)
  if case == "random labels":
    labels = rng.integers(0, 3, 64).astype(np.int32)
  got = float(metrics.fit_temperature(logits, labels, num_iters=num_iters,
                                      num_grid=num_grid, min_temperature=0.05,
                                      max_temperature=20.0))
  want = _fit_reference(logits, labels, num_iters, num_grid, 0.05, 20.0)
  np.testing.assert_allclose(got, want, rtol=1e-4)


def test_fit_temperature_rejects_one_hot_probabilities_and_checks_masks():
  import jax  # pylint: disable=g-import-not-at-top
  labels = np.array([0, 1, 2, 1], np.int32)
  with pytest.raises(ValueError, match="look like probabilities"):
    metrics.fit_temperature(np.eye(3, dtype=np.float32)[labels], labels)
  # Checked mode under jit: real rows are logits, padded rows look like
  # probabilities: only the real rows are judged.
  logits = np.array([[2.0, -1.0, 0.5], [0.1, 3.0, -2.0], [1 / 3] * 3,
                     [0.0, 1.0, 0.0]], np.float32)
  mask = np.array([1, 1, 0, 0], np.float32)
  fit = metrics.checked(metrics.fit_temperature)
  assert np.isfinite(float(fit(logits, labels, mask)))
  with pytest.raises(ValueError, match="look like probabilities"):
    fit(logits, labels, 1 - mask)
  del jax
