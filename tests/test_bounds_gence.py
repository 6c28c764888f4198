"""GENCE (Definition 6) as a streaming metric, Theorems 6-8, Example 6."""

import math

import numpy as np
import pytest

from enn_sym import bounds
from enn_sym import metrics
from enn_sym._validation import InputError


def gence_reference(mean, var, y, edges):
  """Direct numpy GENCE / GENCE_sq (bins on the total variance)."""
  mean, var, y = (np.asarray(a, np.float64).reshape(len(a), -1)
                  for a in (mean, var, y))
  b = np.searchsorted(np.asarray(edges), var.sum(1), side="right")
  g = gs = 0.0
  for k in np.unique(b):
    s = b == k
    a = np.sqrt(2 * var[s] / math.pi)
    e = np.abs(mean[s] - y[s])
    frac = s.mean()
    g += frac * np.sum((a - e) ** 2) / np.sum(a * a)
    gs += frac * np.sum((var[s] - e * e) ** 2) / np.sum(var[s] ** 2)
  return g, gs


def test_gence_by_hand():
  # s = pi / 2 -> a = 1. Errors 0 and 2: ||a - e||^2 = 1, 1; ||a||^2 = 1, 1
  # -> GENCE 1. GENCE_sq: (s - e^2)^2 = (pi/2)^2, (pi/2 - 4)^2 over
  # 2 (pi/2)^2.
  s = math.pi / 2
  metric = metrics.GaussianCalibration()
  st = metric.update(metric.empty(), np.zeros(2), np.full(2, s),
                     np.array([0.0, 2.0]))
  out = metric.compute(st)
  assert float(out["gence"]) == pytest.approx(1.0, rel=1e-6)
  assert float(out["gence_sq"]) == pytest.approx(
      (s ** 2 + (s - 4) ** 2) / (2 * s * s), rel=1e-6)
  assert int(out["count"]) == 2
  assert float(out["bin_mse"][0]) == pytest.approx(2.0)


def test_gence_matches_reference_streams_merges_and_masks():
  rng = np.random.default_rng(0)
  n, d = 300, 3
  mean, y = rng.normal(size=(n, d)), rng.normal(size=(n, d))
  var = rng.uniform(0.05, 2.0, size=(n, d))
  edges = metrics.variance_quantile_edges(var, 5)
  assert len(edges) == 4 and list(edges) == sorted(edges)
  metric = metrics.GaussianCalibration(edges)
  whole = metric.compute(metric.update(metric.empty(), mean, var, y))
  ref = gence_reference(mean, var, y, edges)
  assert float(whole["gence"]) == pytest.approx(ref[0], rel=1e-5)
  assert float(whole["gence_sq"]) == pytest.approx(ref[1], rel=1e-5)
  np.testing.assert_array_equal(whole["bin_count"], [60] * 5)
  # Two batches merged = one batch.
  a = metric.update(metric.empty(), mean[:100], var[:100], y[:100])
  b = metric.update(metric.empty(), mean[100:], var[100:], y[100:])
  merged = metric.compute(metric.merge(a, b))
  assert float(merged["gence"]) == pytest.approx(float(whole["gence"]),
                                                 rel=1e-5)
  # Padded rows (even NaN) change nothing.
  pad = lambda x: np.concatenate([x, np.full((7, d), np.nan)])
  mask = np.r_[np.ones(n), np.zeros(7)]
  masked = metric.compute(metric.update(metric.empty(), pad(mean), pad(var),
                                        pad(y), mask))
  assert float(masked["gence"]) == pytest.approx(float(whole["gence"]),
                                                 rel=1e-6)
  assert int(masked["count"]) == n


def test_calibrated_gaussian_values():
  # E|Z| = sqrt(2/pi): GENCE = Var|Z| / E|Z|^2 = pi/2 - 1; GENCE_sq =
  # Var(Z^2) = 2.
  rng = np.random.default_rng(1)
  n = 200_000
  var = rng.uniform(0.5, 3.0, n)
  y = rng.normal(size=n) * np.sqrt(var)
  metric = metrics.GaussianCalibration(
      metrics.variance_quantile_edges(var, 4))
  out = metric.compute(metric.update(metric.empty(), np.zeros(n), var, y))
  assert float(out["gence"]) == pytest.approx(math.pi / 2 - 1, abs=0.01)
  assert float(out["gence_sq"]) == pytest.approx(2.0, abs=0.05)


def test_gence_bad_input():
  metric = metrics.GaussianCalibration((1.0,))
  with pytest.raises(InputError, match="share one shape"):
    metric.update(metric.empty(), np.zeros(3), np.ones(2), np.zeros(3))
  with pytest.raises(InputError, match="variance must be >= 0"):
    metric.update(metric.empty(), np.zeros(2), -np.ones(2), np.zeros(2))
  with pytest.raises(InputError, match="non-finite"):
    metric.update(metric.empty(), np.array([np.nan, 0.0]), np.ones(2),
                  np.zeros(2))
  with pytest.raises(InputError, match="edges"):
    metrics.GaussianCalibration((2.0, 1.0))
  with pytest.raises(InputError, match="variances"):
    metrics.variance_quantile_edges(np.array([-1.0]), 3)


def example6(num_grid=256):
  """Five point clouds; outputs are curves on [0, 2 pi] as vectors scaled by
  sqrt(dx), so Euclidean norms are L^2[0, 2 pi] integrals."""
  x = (np.arange(num_grid) + 0.5) * 2 * math.pi / num_grid
  dx = 2 * math.pi / num_grid
  cos2, sin2 = np.cos(x) ** 2, np.sin(x) ** 2
  # a(+), a(x), b, c, d with masses 1/8, 1/8, 1/8, 1/8, 1/2.
  targets = np.sqrt(dx) * np.stack([cos2, cos2, cos2, sin2, sin2])
  orbits = np.array([0, 0, 1, 1, 2])
  weights = np.array([1, 1, 1, 1, 4]) / 8
  fibres = np.array([0, 0, 0, 0, 1])  # s_1 on {a, b, c}, s_2 on {d}.
  return targets, orbits, weights, fibres, dx, num_grid


def test_example6_theorem6_with_the_corrected_factor():
  targets, orbits, weights, fibres, dx, g = example6()
  # V_{bc} = int (cos^2 - 1/2)^2 = pi / 4; fibre s_1 has mass 1/2, q_s(bc) =
  # 1/2: err(h, s_1) = pi / 8; err(h, s_2) = 0.
  v = bounds.orbit_variance(orbits, targets, weights)
  assert v[1] == pytest.approx(math.pi / 4, rel=1e-9)
  errors, masses = bounds.fibre_orbit_variance(orbits, targets, fibres,
                                               weights)
  np.testing.assert_allclose(errors, [math.pi / 8, 0.0], atol=1e-12)
  np.testing.assert_allclose(masses, [0.5, 0.5])
  for c1, c2 in ((0.1, 0.3), (1.0, 2.0), (5.0, 0.01)):
    s = dx * np.array([[c1] * g, [c2] * g])  # Scaled like the outputs.
    bound = bounds.theorem6_gence_upper_bound(s, masses, errors)
    # ||sqrt(2 s_1 / pi)||^2 = 4 c_1: 1 + (pi/16) / (4 c_1) = 1 + pi/(64 c_1)
    # (the paper's 1 + (pi/8)/||.||^2 drops the factor 0.5).
    assert bound == pytest.approx(1 + math.pi / (64 * c1), rel=1e-9)
    assert bound != pytest.approx(1 + (math.pi / 8) / (4 * c1))
    # The model (fits a and d, predicts 1/2 on {b, c}) has GENCE below it:
    # replicate points to the masses (d four times).
    mean = targets.copy()
    mean[2:4] = np.sqrt(dx) * 0.5
    rows = np.repeat(np.arange(5), [1, 1, 1, 1, 4])
    var = s[fibres[rows]]
    edge = float(np.mean(var.sum(1)))
    metric = metrics.GaussianCalibration((edge,))
    out = metric.compute(metric.update(metric.empty(), mean[rows], var,
                                       targets[rows]))
    assert 0.0 <= float(out["gence"]) <= bound
    # err(h, s_1) of this model is the optimum pi / 8 (Theorem 2 attained).
    b1 = 0 if c1 < c2 else 1
    assert float(out["bin_mse"][b1]) == pytest.approx(math.pi / 8, rel=1e-5)


def test_theorem7_and_theorem8_by_hand():
  # Theorem 7 with eq. (12): C_2 sign representation, one fibre.
  ids = np.array([0, 0])
  rho = np.array([1.0, -1.0]).reshape(2, 1, 1)
  f = np.array([[1.0], [1.0]])  # Not equivariant: floor 1.
  errors, masses = bounds.fibre_equivariant_error(ids, f, rho, [0, 0])
  np.testing.assert_allclose(errors, [1.0])
  assert bounds.theorem7_gence_upper_bound([math.pi / 2], masses, errors) == (
      pytest.approx(2.0))
  # Theorem 8: r = (1/2, 1/2) on s = (0.1, 0.5), m = 0.3:
  # 0.5 * 0.2^2 / 0.01 = 2.
  assert bounds.theorem8_gence_sq_lower_bound([0.1, 0.5], [1, 1], 0.3) == (
      pytest.approx(2.0))
  assert bounds.theorem8_gence_sq_lower_bound([0.0, 0.5], [1, 1], 0.3) == (
      math.inf)
  assert bounds.theorem8_gence_sq_lower_bound([0.4, 0.5], [1, 1], 0.3) == 0.0
  assert bounds.theorem8_m([0.3, 0.7]) == 0.3
  # Theorem 8 holds for a constant-variance-per-fibre invariant model whose
  # mean is the orbit mean: GENCE_sq >= the bound.
  rng = np.random.default_rng(0)
  orbits = np.repeat(np.arange(6), 4)
  y = rng.normal(size=24)
  fib = np.repeat([0, 0, 1, 1, 2, 2], 4)
  errors, masses = bounds.fibre_orbit_variance(orbits, y, fib)
  m = bounds.theorem8_m(errors)
  s = np.array([0.05, 0.3, 2.0])
  mean = bounds.orbit_means(orbits, y)[:, 0]
  metric = metrics.GaussianCalibration((0.1, 1.0))
  out = metric.compute(metric.update(metric.empty(), mean, s[fib], y))
  assert float(out["gence_sq"]) >= bounds.theorem8_gence_sq_lower_bound(
      s, masses, m) - 1e-6
  assert float(out["gence"]) <= bounds.theorem6_gence_upper_bound(
      s, masses, errors) + 1e-6
  with pytest.raises(InputError, match="spans several variance fibres"):
    bounds.fibre_orbit_variance([0, 0], [1.0, 2.0], [0, 1])
  with pytest.raises(InputError, match="scalar"):
    bounds.theorem8_gence_sq_lower_bound(np.ones((2, 2)), [1, 1], 0.1)
