"""Tests written for mutants of ``enn_sym/bounds`` that the other tests let
survive (``scripts/mutation_test.py``): argument checks, the documented
edges of the helpers, hand values. Small and fast (numpy and scipy only)."""

import math

import numpy as np
import pytest

from enn_sym import bounds
from enn_sym._validation import InputError
from enn_sym.bounds import _distributions as dist
from enn_sym.bounds import _gence


def test_num_classes_and_weights_are_checked():
  ids, labels = [0, 0, 1], [0, 1, 1]
  for bad in (1, True, 2.0):
    with pytest.raises(InputError, match="num_classes must be an integer"):
      bounds.error_lower_bound(ids, labels, bad)
  for bad in ([np.nan, 1.0, 1.0], [-1.0, 1.0, 1.0]):
    with pytest.raises(InputError, match="finite and non-negative"):
      bounds.error_lower_bound(ids, labels, 2, weights=bad)


def test_default_weights_are_the_empirical_distribution():
  # "default 1/N": one example has mass 1.
  assert bounds.orbit_masses([0], [1], 2).total == pytest.approx(1.0)
  assert bounds.orbit_masses([0, 1, 1], [1, 0, 0], 2).total == (
      pytest.approx(1.0))


def test_midpoint_rule_checks_each_argument():
  nodes, weights = bounds.midpoint_rule(0.0, 1.0, 2)
  np.testing.assert_allclose(nodes, [0.25, 0.75])
  np.testing.assert_allclose(weights, [0.5, 0.5])
  for args in ((0.0, 1.0, 0), (1.0, 1.0, 3), (1.0, 0.0, 3)):
    with pytest.raises(InputError, match="midpoint_rule needs"):
      bounds.midpoint_rule(*args)


def test_orbit_ids_of_one_dimensional_points_and_a_single_point():
  # [N] points (N scalars) are allowed, as is N = 1.
  ids = bounds.orbit_ids_from_group(np.asarray([1.0, -1.0, 2.0]),
                                    [lambda x: -x])
  np.testing.assert_array_equal(ids, [0, 0, 1])
  np.testing.assert_array_equal(
      bounds.orbit_ids_from_group(np.asarray([[3.0, 4.0]]), [lambda x: x]),
      [0])


def test_orbit_ids_tolerance_is_ten_to_minus_decimals():
  # Within 10 ** -1 = 0.1 (not 1/11): one point.
  np.testing.assert_array_equal(
      bounds.orbit_ids_from_group(np.asarray([0.0, 0.095]), [],
                                  decimals=1), [0, 0])
  # An image 1.6 > tol = 1 away from the nearest point links nothing.
  np.testing.assert_array_equal(
      bounds.orbit_ids_from_group(np.asarray([0.0, 1.4]),
                                  [lambda x: 3.0 - x], decimals=0), [0, 1])


def test_a_sequence_with_an_act_attribute_is_a_sequence_of_transforms():
  class Transforms(list):
    act = None  # no elements(): not the group protocol.

  ids = bounds.orbit_ids_from_group(np.asarray([1.0, -1.0]),
                                    Transforms([lambda x: -x]))
  np.testing.assert_array_equal(ids, [0, 0])


def test_discrete_distribution_masses():
  d = bounds.discrete_distribution([0.2, 0.4])  # default uniform.
  np.testing.assert_allclose(d.masses, [0.5, 0.5])
  d = bounds.discrete_distribution([0.2, 0.4], [0.0, 3.0])  # a zero mass.
  np.testing.assert_allclose(d.masses, [0.0, 1.0])


def test_expect_on_atoms_at_the_upper_end():
  d = bounds.discrete_distribution([0.25, 0.5], [0.5, 0.5])
  assert dist.expect(d, lambda p: p, 0.0, 0.5) == pytest.approx(0.375)
  assert dist.expect(d, lambda p: p, 0.0, 0.5, right_open=True) == (
      pytest.approx(0.125))
  np.testing.assert_allclose(dist.per_atom([1.0, 2.0], d, "acc"), [1, 2])


def test_quad_is_accurate_on_a_kink_and_zero_on_an_empty_interval():
  # |p - 0.3| on [0, 1] = 0.3^2 / 2 + 0.7^2 / 2 = 0.29 (no breaks given).
  assert dist.quad(lambda p: abs(p - 0.3), 0.0, 1.0) == pytest.approx(
      0.29, abs=1e-10)
  assert dist.quad(lambda p: 1.0, 0.5, 0.5) == 0.0


def test_density_negative_inside_is_rejected():
  # Integrates to 1 (0.8 * 1.5 - 0.2) but is negative on [0.4, 0.6].
  def r(p):
    return -1.0 if 0.4 <= p <= 0.6 else 1.5

  with pytest.raises(InputError, match="finite and non-negative"):
    dist.check_density(r, breaks=(0.4, 0.6))


def test_fibre_orbit_variance_masses_and_an_empty_fibre():
  # Fibre 1 has zero mass: its error is 0, the masses are normalised.
  errors, masses = bounds.fibre_orbit_variance(
      [0, 0, 1, 1], [0.0, 2.0, 5.0, 7.0], [0, 0, 1, 1],
      weights=[1.0, 1.0, 0.0, 0.0])
  np.testing.assert_allclose(masses, [1.0, 0.0])
  np.testing.assert_allclose(errors[1], 0.0)
  _, masses = bounds.fibre_orbit_variance(
      [0, 0, 1, 1], [0.0, 2.0, 5.0, 7.0], [0, 0, 1, 1],
      weights=[1.0, 1.0, 1.0, 1.0])
  np.testing.assert_allclose(masses, [0.5, 0.5])


def test_theorem8_ignores_fibres_of_zero_mass():
  # A zero-variance fibre of mass 0 below m contributes nothing (not inf).
  got = bounds.theorem8_gence_sq_lower_bound([0.0, 2.0], [0.0, 1.0], 1.0)
  assert got == pytest.approx((2.0 - 1.0) ** 2 / 4.0 * 0.0)  # 2 > m.
  got = bounds.theorem8_gence_sq_lower_bound([0.0, 0.5], [0.0, 1.0], 1.0)
  assert got == pytest.approx((0.5 - 1.0) ** 2 / 0.25)
  assert math.isinf(bounds.theorem8_gence_sq_lower_bound([0.0, 0.5],
                                                         [0.5, 0.5], 1.0))


def test_fibre_errors_are_checked():
  for bad in ([0.1], [0.1, -0.1], [0.1, np.nan]):
    with pytest.raises(InputError, match="fibre_errors must be"):
      _gence.theorem6_gence_upper_bound([1.0, 2.0], [0.5, 0.5], bad)
