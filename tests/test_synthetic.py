"""Tests of the synthetic symmetry tasks (enn_sym.data._synthetic)."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from enn_sym import bounds
from enn_sym import data
from enn_sym._validation import InputError


@pytest.mark.parametrize("c,i", [(1.0, 0.0), (0.5, 0.5), (0.0, 1.0),
                                 (0.25, 0.25), (0.0, 0.0)])
def test_swiss_roll_fractions_orbits_and_floor(c, i):
  task = data.swiss_roll_task(400, c, i, seed=3)
  assert task.x.shape == (400, 3) and task.x.dtype == np.float32
  kinds = np.bincount(task.kind, minlength=3) / len(task)
  np.testing.assert_allclose(kinds, [c, i, 1 - c - i], atol=1 / 200)
  # The orbits are exactly those of the plane swap.
  ids = bounds.orbit_ids_from_group(task.x, data.PlaneSwapGroup())
  np.testing.assert_array_equal(ids, bounds.renumber(task.orbit_ids))
  # Incorrect orbits have labels (a, 1 - a): the floor is incorrect / 2.
  assert bounds.error_lower_bound(task.orbit_ids, task.labels, 2) == (
      pytest.approx(i / 2, abs=1 / 400))
  # Extrinsic points live at z = 0 only.
  assert np.all(task.x[task.kind == 2, 2] == 0)


def test_swiss_roll_is_reproducible():
  a = data.swiss_roll_task(100, 0.5, 0.25, seed=1)
  b = data.swiss_roll_task(100, 0.5, 0.25, seed=1)
  np.testing.assert_array_equal(a.x, b.x)
  np.testing.assert_array_equal(a.labels, b.labels)


def test_swiss_roll_bad_fractions():
  with pytest.raises(InputError, match="correct"):
    data.swiss_roll_task(100, 1.2, 0.0)
  with pytest.raises(InputError, match="correct \\+ incorrect must be <= 1"):
    data.swiss_roll_task(100, 0.7, 0.5)
  with pytest.raises(InputError, match="sum to 1"):
    data.swiss_roll_task(100, 0.5, 0.2, extrinsic=0.1)
  with pytest.raises(InputError, match="num_points"):
    data.swiss_roll_task(0, 0.5, 0.5)


def test_plane_swap_group_is_an_exact_action():
  g = data.PlaneSwapGroup()
  x = jnp.array([[0.3, -0.2, 0.0], [0.1, 0.4, 1.0]])
  np.testing.assert_array_equal(g.act(1, x)[:, 2], [1.0, 0.0])
  np.testing.assert_array_equal(g.act(1, g.act(1, x)), x)
  np.testing.assert_array_equal(g.act(0, x), x)
  assert g.orbit(x).shape == (2, 2, 3)
  assert g.compose(1, 1) == 0 and g.inverse(1) == 1


def test_circle_task_orbits_and_floor():
  # C_4 with labels (0, 1, 0, 1) on quarters: every orbit is {0, 1, 0, 1},
  # floor = 1/2. C_2: correct symmetry, floor 0.
  task, w = data.circle_task(50, (0, 1, 0, 1), group_order=4, num_classes=2)
  assert task.x.shape == (200, 2)
  assert bounds.error_lower_bound(task.orbit_ids, task.labels, 2, w) == (
      pytest.approx(0.5))
  task2, w2 = data.circle_task(50, (0, 1, 0, 1), group_order=2,
                               num_classes=2)
  assert bounds.error_lower_bound(task2.orbit_ids, task2.labels, 2, w2) == 0
  # The orbits are those of the quarter turn on the points.
  quarter = lambda x: np.stack([-x[:, 1], x[:, 0]], 1)
  ids = bounds.orbit_ids_from_group(task.x.astype(np.float64), [quarter],
                                    decimals=5)
  np.testing.assert_array_equal(ids, bounds.renumber(task.orbit_ids))
  # SO(2): one orbit, floor = 1 - max prior (labels (0, 0, 0, 1): ~1/4).
  task3, w3 = data.circle_task(4000, (0, 0, 0, 1), group_order=None,
                               num_classes=2, seed=1)
  assert len(np.unique(task3.orbit_ids)) == 1
  assert bounds.error_lower_bound(task3.orbit_ids, task3.labels, 2,
                                  w3) == pytest.approx(0.25, abs=0.02)
  with pytest.raises(InputError, match="num_classes"):
    data.circle_task(5, (0, 2), group_order=2, num_classes=2)


def test_six_nine_task_pairs_and_ceiling():
  rng = np.random.default_rng(0)
  six = rng.random((3, 4, 4, 1)).astype(np.float32)
  nines = six[:, ::-1, ::-1] + 0.01  # A turned 6, nearly.
  images = np.concatenate([six, nines[:2]])
  labels = np.array([6, 6, 6, 9, 9])
  task = data.six_nine_task(images, labels)
  # Pairs (6_j, 9_j) for j < 2; the third 6 is alone: floor = 2/5.
  assert bounds.error_lower_bound(task.orbit_ids, task.labels, 2) == (
      pytest.approx(2 / 5))
  ids = task.orbit_ids
  assert ids[0] == ids[3] and ids[1] == ids[4] and ids[2] not in ids[3:]
  with pytest.raises(InputError, match="group"):
    data.six_nine_task(images, labels, group="c3")


def test_circle_orbit_quadrature():
  pts, w = data.circle_orbit(None, 8)(0.0)
  assert w.sum() == pytest.approx(2 * math.pi) and pts.shape == (8,)


def test_swiss_roll_returns_exactly_num_points():
  # Half-even rounding of both pair counts used to give 8 or 12 points.
  for n, c, i in [(10, 0.5, 0.5), (10, 0.3, 0.7), (10, 0.3, 0.65),
                  (11, 0.45, 0.45), (2, 0.1, 0.1)]:
    task = data.swiss_roll_task(n, c, i)
    assert len(task) == n
    kinds = np.bincount(task.kind, minlength=3) / n
    np.testing.assert_allclose(kinds, [c, i, max(0.0, 1 - c - i)],
                               atol=2 / n + 1e-12)
  with pytest.raises(InputError, match="num_points must be even"):
    data.swiss_roll_task(401, 0.5, 0.5)
  assert len(data.swiss_roll_task(10, 0.5, 0.5, noise=np.float32(0.1))) == 10
  with pytest.raises(InputError, match="noise"):
    data.swiss_roll_task(10, 0.5, 0.5, noise=True)
