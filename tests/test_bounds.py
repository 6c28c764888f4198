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


def test_bad_input_raises_named_errors():
  with pytest.raises(InputError, match="labels must lie"):
    bounds.total_dissent(ORBITS, LABELS + 1, 2)
  with pytest.raises(InputError, match=r"labels must have shape \[N\]"):
    bounds.total_dissent(ORBITS, LABELS[:3], 2)
  with pytest.raises(InputError, match="weights"):
    bounds.error_lower_bound(ORBITS, LABELS, 2, -np.ones(8))
  with pytest.raises(InputError, match="num_classes"):
    bounds.error_lower_bound(ORBITS, LABELS, 1)
  with pytest.raises(InputError, match="targets"):
    bounds.orbit_variance(ORBITS, np.ones((3,)))
  empty = np.zeros(0, int)
  with pytest.raises(InputError, match="non-empty"):
    bounds.error_lower_bound(empty, empty, 2)
  with pytest.raises(InputError, match="targets"):
    bounds.regression_error_lower_bound(empty, np.zeros(0))
  dens = lambda t: np.full(np.shape(t), 1 / (2 * math.pi))
  with pytest.raises(InputError, match="node_weights"):
    bounds.numeric_dissent(dens, data.sector_labelling((0, 1)),
                           data.circle_orbit(2), np.array([1.0]),
                           np.array([-1.0]), 2, normalization_atol=10.0)
