"""Tests of enn_sym.bounds on hand-solvable cases and by property."""

import itertools
import math

import hypothesis
from hypothesis import strategies as st
import numpy as np
import pytest

from enn_sym import bounds
from enn_sym import data
from enn_sym._validation import InputError


# Points on a circle, C_4 acting by quarter turns. Eight points, two orbits:
# orbit 0 = angles {0.1 + k pi/2}, orbit 1 = {0.5 + k pi/2}, k = 0..3.
# Labels: orbit 0 -> (0, 1, 0, 0), orbit 1 -> (1, 1, 0, 0). Uniform mass 1/8.
ORBITS = np.repeat([0, 1], 4)
LABELS = np.array([0, 1, 0, 0, 1, 1, 0, 0])


def test_dissent_by_hand():
  # Orbit 0: masses (3/8 for label 0, 1/8 for label 1): k = 1/8, kappa = 3/8.
  # Orbit 1: (2/8, 2/8): k = 2/8, kappa = 2/8.
  np.testing.assert_allclose(bounds.total_dissent(ORBITS, LABELS, 2),
                             [1 / 8, 2 / 8])
  np.testing.assert_allclose(bounds.minority_dissent(ORBITS, LABELS, 2),
                             [3 / 8, 2 / 8])
  np.testing.assert_allclose(
      bounds.total_dissent(ORBITS, LABELS, 2, normalize=True), [1 / 4, 1 / 2])
  # With 3 classes, label 2 is absent: kappa = the whole orbit (4/8).
  np.testing.assert_allclose(bounds.minority_dissent(ORBITS, LABELS, 3),
                             [4 / 8, 4 / 8])
  # Error floor = 1/8 + 2/8 = 3/8.
  assert bounds.error_lower_bound(ORBITS, LABELS, 2) == pytest.approx(3 / 8)


def test_orbits_from_the_group_action_on_the_circle():
  theta = np.concatenate([0.1 + np.arange(4) * math.pi / 2,
                          0.5 + np.arange(4) * math.pi / 2])
  pts = np.stack([np.cos(theta), np.sin(theta)], 1)
  quarter = lambda x: np.stack([-x[:, 1], x[:, 0]], 1)
  ids = bounds.orbit_ids_from_group(pts, [quarter])
  np.testing.assert_array_equal(ids, ORBITS)
  # C_2 (half turn): four orbits of two points.
  half = lambda x: -x
  ids2 = bounds.orbit_ids_from_group(pts, [half])
  assert len(np.unique(ids2)) == 4


def test_majority_classifier_attains_floor_and_no_invariant_classifier_beats_it():
  floor = bounds.error_lower_bound(ORBITS, LABELS, 2)
  pred = bounds.orbit_majority_classifier(ORBITS, LABELS, 2)
  assert np.mean(pred != LABELS) == pytest.approx(floor)
  # Every invariant classifier = one label per orbit: 2^2 of them.
  errors = [np.mean(np.array(c)[ORBITS] != LABELS)
            for c in itertools.product(range(2), repeat=2)]
  assert min(errors) == pytest.approx(floor)
  # The worst one makes exactly the minority-dissent error 3/8 + 2/8.
  assert max(errors) == pytest.approx(5 / 8)


@hypothesis.given(st.integers(1, 4), st.integers(2, 3), st.data())
def test_floor_is_never_beaten_by_enumerated_invariant_classifiers(
    num_orbits, num_classes, draw):
  sizes = draw.draw(st.lists(st.integers(1, 3), min_size=num_orbits,
                             max_size=num_orbits))
  orbits = np.repeat(np.arange(num_orbits), sizes)
  labels = np.array(draw.draw(st.lists(
      st.integers(0, num_classes - 1), min_size=len(orbits),
      max_size=len(orbits))))
  weights = np.array(draw.draw(st.lists(
      st.floats(0.01, 1.0), min_size=len(orbits), max_size=len(orbits))))
  w = weights / weights.sum()
  floor = bounds.error_lower_bound(orbits, labels, num_classes, weights)
  kappa = bounds.minority_dissent(orbits, labels, num_classes, w).sum()
  errors = [np.sum(w * (np.array(c)[orbits] != labels))
            for c in itertools.product(range(num_classes), repeat=num_orbits)]
  assert min(errors) == pytest.approx(floor, abs=1e-12)
  assert max(errors) == pytest.approx(kappa, abs=1e-12)


def test_numeric_dissent_on_the_circle_by_hand():
  # Uniform density 1/(2 pi) on the circle, labels (0, 1, 0, 1) on quarters.
  lab = data.sector_labelling((0, 1, 0, 1))
  dens = lambda t: np.full(np.shape(t), 1 / (2 * math.pi))
  # C_4: every orbit visits all four quarters -> labels {0, 1, 0, 1}: k =
  # half the orbit; the floor is 1/2.
  nodes, w = bounds.midpoint_rule(0.0, math.pi / 2, 64)
  out = bounds.numeric_dissent(dens, lab, data.circle_orbit(4), nodes, w, 2)
  assert out.error_lower_bound() == pytest.approx(0.5)
  # C_2: theta and theta + pi are in quarters j and j + 2: same label,
  # correct symmetry, floor 0.
  nodes, w = bounds.midpoint_rule(0.0, math.pi, 64)
  out = bounds.numeric_dissent(dens, lab, data.circle_orbit(2), nodes, w, 2)
  assert out.error_lower_bound() == pytest.approx(0.0)
  # SO(2): one orbit, the circle; labels (0, 0, 0, 1): mass 3/4 vs 1/4, so
  # the floor is 1 - max prior = 1/4 and kappa = 3/4.
  lab3 = data.sector_labelling((0, 0, 0, 1))
  out = bounds.numeric_dissent(dens, lab3, data.circle_orbit(None, 400),
                               np.zeros((1,)), np.ones(1), 2)
  assert out.error_lower_bound() == pytest.approx(0.25)
  assert out.minority[0] == pytest.approx(0.75)
  # Non-uniform density 1/pi on [0, pi), 0 elsewhere, with C_2 and labels
  # (0, 1, 1, 0): orbit {t, t + pi} has mass only at t < pi, so k = 0.
  half = lambda t: np.where(np.mod(t, 2 * math.pi) < math.pi, 1 / math.pi, 0.)
  out = bounds.numeric_dissent(half, data.sector_labelling((0, 1, 1, 0)),
                               data.circle_orbit(2), nodes, w, 2)
  assert out.error_lower_bound() == pytest.approx(0.0)


def test_numeric_dissent_rejects_unnormalised_density():
  nodes, w = bounds.midpoint_rule(0.0, math.pi, 16)
  with pytest.raises(InputError, match="normalise"):
    bounds.numeric_dissent(lambda t: np.ones(np.shape(t)),
                           data.sector_labelling((0, 1)),
                           data.circle_orbit(2), nodes, w, 2)


def test_confidence_density_bounds_by_hand():
  # r = uniform on [1/2, 1] (density 2): E|1/2 - p| = 1/4, so the
  # unconstrained bound is 3/4.
  r = lambda p: 2.0 if p >= 0.5 else 0.0
  assert bounds.ece_upper_bound_unconstrained(r) == pytest.approx(0.75)
  # Invariant, k* = 0.2, every fibre accurate: 3/4 - 0.2 = 0.55; with
  # a(p) >= 1/2 only for p >= 3/4 (mass 1/2): 3/4 - 0.1 = 0.65.
  assert bounds.ece_upper_bound_invariant(r, 0.2) == pytest.approx(0.55)
  acc = lambda p: 1.0 if p >= 0.75 else 0.0
  assert bounds.ece_upper_bound_invariant(
      r, 0.2, acc, breaks=(0.75,)) == pytest.approx(0.65)
  assert bounds.ece_upper_bound_binary(0.3) == pytest.approx(0.7)
  # Lower bound, r uniform on [0, 1], m = 1/2: int_0^{1/2} (1/2 - p) dp =
  # 1/8.
  assert bounds.ece_lower_bound(lambda p: 1.0, 0.5) == pytest.approx(1 / 8)
  # r uniform on [1/2, 1], m = 3/4: 2 * int_{1/2}^{3/4} (3/4 - p) dp =
  # 2 * (1/4)^2 / 2 = 1/16.
  assert bounds.ece_lower_bound(r, 0.75) == pytest.approx(1 / 16)


def test_bad_input_raises_named_errors():
  with pytest.raises(InputError, match="confidence_density integrates"):
    bounds.ece_upper_bound_unconstrained(lambda p: 2.0)
  with pytest.raises(InputError, match="dissent"):
    bounds.ece_upper_bound_binary(1.5)
  with pytest.raises(InputError, match="accuracy_floor"):
    bounds.ece_lower_bound(lambda p: 1.0, -0.1)
  with pytest.raises(InputError, match="labels must lie"):
    bounds.total_dissent(ORBITS, LABELS + 1, 2)
  with pytest.raises(InputError, match=r"labels must have shape \[N\]"):
    bounds.total_dissent(ORBITS, LABELS[:3], 2)
  with pytest.raises(InputError, match="weights"):
    bounds.error_lower_bound(ORBITS, LABELS, 2, -np.ones(8))
  with pytest.raises(InputError, match="num_classes"):
    bounds.error_lower_bound(ORBITS, LABELS, 1)
  with pytest.raises(InputError, match="probs"):
    bounds.calibration_bounds(np.ones((8, 2)), LABELS, ORBITS)
  with pytest.raises(InputError, match="targets"):
    bounds.orbit_variance(ORBITS, np.ones((3,)))


def test_calibration_bounds_by_hand():
  # Invariant model: orbit 0 predicts 0 with confidence 0.8, orbit 1
  # predicts 1 with confidence 0.6 (bins 12 and 9 of 15). Bin of orbit 0:
  # accuracy 3/4, |3/4 - 0.8| = 0.05; bin of orbit 1: accuracy 1/2,
  # |1/2 - 0.6| = 0.1. ECE = (0.05 + 0.1) / 2 = 0.075.
  probs = np.array([[0.8, 0.2]] * 4 + [[0.4, 0.6]] * 4)
  b = bounds.calibration_bounds(probs, LABELS, ORBITS)
  assert b.invariant and b.ece == pytest.approx(0.075)
  assert b.error == pytest.approx(3 / 8)
  assert b.error_lower_bound == pytest.approx(3 / 8)
  # Fibre-wise: orbit 0 accuracy in [1/4, 3/4] (normalised k = 1/4,
  # kappa = 3/4), c = 0.8: dist = 0.05, max(0.8 - 0.25, 0.75 - 0.8) = 0.55;
  # orbit 1 in [1/2, 1/2], c = 0.6: dist = max = 0.1.
  assert b.lower == pytest.approx((0.05 + 0.1) / 2)
  assert b.upper == pytest.approx((0.55 + 0.1) / 2)
  # Paper forms: k* = 1/4 (every orbit dissents); unconstrained
  # 1/2 + (0.3 + 0.1)/2 = 0.7; bins with accuracy >= 1/2: both, so
  # 0.7 - 0.25 = 0.45; binary 1 - 1/4 = 0.75. m = min(1/4, 1/2) = 1/4 < c:
  # lower_paper = 0.
  assert b.all_orbits_dissent and b.min_dissent == pytest.approx(0.25)
  assert b.upper_unconstrained == pytest.approx(0.7)
  assert b.upper_paper == pytest.approx(0.45)
  assert b.upper_binary == pytest.approx(0.75)
  assert b.lower_paper == pytest.approx(0.0)
  assert b.holds()
  # A non-invariant model: the invariant bounds are not claimed.
  probs2 = probs.copy()
  probs2[0] = [0.1, 0.9]
  b2 = bounds.calibration_bounds(probs2, LABELS, ORBITS)
  assert not b2.invariant and math.isnan(b2.upper) and b2.holds()


@hypothesis.given(st.integers(1, 6), st.integers(2, 3), st.data())
def test_ece_of_any_invariant_model_lies_within_the_bounds(
    num_orbits, num_classes, draw):
  sizes = draw.draw(st.lists(st.integers(1, 4), min_size=num_orbits,
                             max_size=num_orbits))
  orbits = np.repeat(np.arange(num_orbits), sizes)
  n = len(orbits)
  labels = np.array(draw.draw(st.lists(st.integers(0, num_classes - 1),
                                       min_size=n, max_size=n)))
  logits = np.array(draw.draw(st.lists(
      st.lists(st.floats(-4, 4), min_size=num_classes,
               max_size=num_classes), min_size=num_orbits,
      max_size=num_orbits)))
  p = np.exp(logits - logits.max(1, keepdims=True))
  probs = (p / p.sum(1, keepdims=True))[orbits]  # Invariant by construction.
  num_bins = draw.draw(st.sampled_from([1, 5, 15]))
  b = bounds.calibration_bounds(probs, labels, orbits, num_bins=num_bins)
  assert b.invariant
  assert b.holds(atol=1e-9)
  assert b.lower <= b.ece + 1e-9 <= b.upper + 2e-9
  assert b.error >= b.error_lower_bound - 1e-12


def test_regression_orbit_variance_by_hand():
  # Orbit 0 targets (0, 2): mean 1, variance 1; orbit 1 targets (1, 1, 4):
  # mean 2, variance (1 + 1 + 4) / 3 = 2. MSE floor = (2*1 + 3*2) / 5 = 8/5.
  ids = np.array([0, 0, 1, 1, 1])
  y = np.array([0.0, 2.0, 1.0, 1.0, 4.0])
  np.testing.assert_allclose(bounds.orbit_variance(ids, y), [1.0, 2.0])
  assert bounds.regression_error_lower_bound(ids, y) == pytest.approx(8 / 5)
  mean = bounds.orbit_means(ids, y)[:, 0]
  assert np.mean((mean - y) ** 2) == pytest.approx(8 / 5)
  # Any other invariant prediction does worse.
  for c0, c1 in [(0.5, 2.0), (1.0, 2.5), (1.2, 1.8)]:
    assert np.mean((np.array([c0, c1])[ids] - y) ** 2) > 8 / 5


# Regression tests of review fixes.


def test_orbit_ids_match_float64_points_under_a_float32_jax_group():
  # The plane swap acts through jnp (float32 without x64): its images of
  # float64 points used to miss their partners after rounding, splitting
  # orbits silently.
  rng = np.random.default_rng(0)
  xy = 3 * rng.normal(size=(200, 2))
  pts = np.concatenate([np.c_[xy, np.zeros(200)], np.c_[xy, np.ones(200)]])
  ids = bounds.orbit_ids_from_group(pts, data.PlaneSwapGroup())
  np.testing.assert_array_equal(ids, np.tile(np.arange(200), 2))


def test_orbit_ids_match_across_a_rounding_boundary():
  # 0.1000005 and 0.1000005 + 1e-12 round to different 6-decimal values.
  pts = np.array([[0.1000005], [0.1000005 + 1e-12], [5.0]])
  np.testing.assert_array_equal(bounds.orbit_ids_from_group(pts, []),
                                [0, 0, 1])


def test_more_bad_input_raises_named_errors():
  probs = np.array([[0.8, 0.2]] * 4 + [[0.4, 0.6]] * 4)
  with pytest.raises(InputError, match="orbit_ids must have shape"):
    bounds.calibration_bounds(probs, LABELS, ORBITS[:5])
  with pytest.raises(InputError, match="at least one example"):
    bounds.calibration_bounds(np.zeros((0, 2)), np.zeros(0, int),
                              np.zeros(0, int))
  for atol in (-1.0, float("nan")):
    with pytest.raises(InputError, match="atol"):
      bounds.calibration_bounds(probs, LABELS, ORBITS, atol=atol)
  empty = np.zeros(0, int)
  with pytest.raises(InputError, match="non-empty"):
    bounds.error_lower_bound(empty, empty, 2)
  with pytest.raises(InputError, match="targets"):
    bounds.regression_error_lower_bound(empty, np.zeros(0))
  for conf in (np.zeros(0), np.array([0.5, 1.5]), np.array([np.nan])):
    with pytest.raises(InputError, match="confidences"):
      bounds.unconstrained_upper_bound_of(conf)
  dens = lambda t: np.full(np.shape(t), 1 / (2 * math.pi))
  with pytest.raises(InputError, match="node_weights"):
    bounds.numeric_dissent(dens, data.sector_labelling((0, 1)),
                           data.circle_orbit(2), np.array([1.0]),
                           np.array([-1.0]), 2, normalization_atol=10.0)
  with pytest.raises(InputError, match="dissent"):
    bounds.ece_upper_bound_binary("0.3")
  # NaN between the check grid's points: caught by the integral.
  nan_between = lambda p: float("nan") if 0.001 < p < 0.004 else 1.0
  with pytest.raises(InputError, match="confidence_density"):
    bounds.ece_lower_bound(nan_between, 0.5)


@hypothesis.given(st.integers(1, 5), st.integers(2, 4), st.data())
def test_weighted_invariant_ece_lies_within_the_bounds(num_orbits,
                                                        num_classes, draw):
  # As above, with arbitrary (some zero) weights and shuffled, sparse ids.
  sizes = draw.draw(st.lists(st.integers(1, 4), min_size=num_orbits,
                             max_size=num_orbits))
  n = sum(sizes)
  perm = np.array(draw.draw(st.permutations(range(n))))
  orbits = 7 * np.repeat(np.arange(num_orbits), sizes)[perm] + 3
  labels = np.array(draw.draw(st.lists(st.integers(0, num_classes - 1),
                                       min_size=n, max_size=n)))
  weights = np.array(draw.draw(st.lists(
      st.sampled_from([0.0, 0.1, 0.5, 1.0, 3.0]), min_size=n, max_size=n)))
  hypothesis.assume(weights.sum() > 0)
  logits = np.array(draw.draw(st.lists(
      st.lists(st.floats(-4, 4), min_size=num_classes,
               max_size=num_classes), min_size=num_orbits,
      max_size=num_orbits)))
  p = np.exp(logits - logits.max(1, keepdims=True))
  probs = (p / p.sum(1, keepdims=True))[(orbits - 3) // 7]
  num_bins = draw.draw(st.sampled_from([1, 4, 15]))
  b = bounds.calibration_bounds(probs, labels, orbits, num_bins=num_bins,
                                weights=weights)
  assert b.invariant and b.holds(atol=1e-9)
  # The ECE agrees with a direct per-example binning.
  w = weights / weights.sum()
  conf, hit = probs.max(1), probs.argmax(1) == labels
  bins = bounds.bin_ids(conf, num_bins)
  ece = sum(abs(np.sum(w[bins == k] * (hit[bins == k] - conf[bins == k])))
            for k in range(num_bins))
  assert b.ece == pytest.approx(ece, abs=1e-12)
