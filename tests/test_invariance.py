"""Tests of the invariance error and orbit calibration metrics, and rotated data."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from enn_sym import data
from enn_sym import metrics
from enn_sym.data import _rotated
from enn_sym.symmetry import _invariance


def test_invariance_error_hand_computed():
  # Reference p = [0.5, 0.5]. Elements: identity, [0.7, 0.3] (TV 0.2, argmax
  # stays 0 vs 0 since argmax of [0.5, 0.5] is 0), [0.1, 0.9] (TV 0.4, flip).
  ref = jnp.array([[0.5, 0.5], [1.0, 0.0]])
  tr = jnp.array([[[0.5, 0.5], [1.0, 0.0]],
                  [[0.7, 0.3], [1.0, 0.0]],
                  [[0.1, 0.9], [0.0, 1.0]]])
  m = _invariance.InvarianceError(input_kind="probs")
  out = m.compute(m.update(m.empty(), ref, tr))
  # TVs: ex0: 0, 0.2, 0.4; ex1: 0, 0, 1.0 -> mean 1.6/6, max 1.0, flips 2/6.
  np.testing.assert_allclose(out["invariance_tv_mean"], 1.6 / 6, rtol=1e-6)
  np.testing.assert_allclose(out["invariance_tv_max"], 1.0)
  np.testing.assert_allclose(out["flip_rate"], 2 / 6, rtol=1e-6)
  # Masking example 1 out leaves the first example only.
  masked = m.compute(m.update(m.empty(), ref, tr, jnp.array([1.0, 0.0])))
  np.testing.assert_allclose(masked["invariance_tv_mean"], 0.6 / 3, rtol=1e-6)
  np.testing.assert_allclose(masked["invariance_tv_max"], 0.4, rtol=1e-6)
  # Streaming in two halves and merging equals one shot.
  a = m.update(m.empty(), ref[:1], tr[:, :1])
  b = m.update(m.empty(), ref[1:], tr[:, 1:])
  merged = m.compute(m.merge(a, b))
  for k in out:
    np.testing.assert_allclose(merged[k], out[k], rtol=1e-6)


def test_invariance_error_bad_input():
  m = _invariance.InvarianceError(input_kind="logits")
  with pytest.raises(ValueError, match=r"transformed must have shape \[G"):
    m.update(m.empty(), jnp.zeros((3, 2)), jnp.zeros((2, 4, 2)))
  with pytest.raises(ValueError, match="input_kind"):
    _invariance.InvarianceError(input_kind="scores")


def test_orbit_calibration_matches_per_element_metrics():
  key = jax.random.key(0)
  stacks = jax.random.normal(key, (3, 4, 20, 5))
  labels = jax.random.randint(key, (20,), 0, 5)
  mask = jnp.ones(20).at[-3:].set(0.0)
  orbit = _invariance.OrbitCalibration(num_elements=3)
  out = orbit.compute(orbit.update(orbit.empty(), stacks, labels, mask))
  single = metrics.EnsemblePredictive(input_kind="logits")
  for g in range(3):
    ref = single.compute(single.update(single.empty(), stacks[g], labels,
                                       mask))
    for k in ("accuracy", "nll", "ece", "mutual_info"):
      np.testing.assert_allclose(out[f"orbit_{k}"][g], ref[k], rtol=1e-5,
                                 atol=1e-6)
  # Identical copies: zero invariance error.
  same = jnp.stack([stacks[0]] * 3)
  out = orbit.compute(orbit.update(orbit.empty(), same, labels, mask))
  assert float(out["invariance_tv_max"]) == 0.0
  assert float(out["flip_rate"]) == 0.0


def test_rotated_dataset_is_seeded_and_exact_for_right_angles():
  split = data.load_embedded("digits", seed=0)["test"]
  rot = _rotated.rotate_dataset(split, seed=3, mode="right_angle")
  again = _rotated.rotate_dataset(split, seed=3, mode="right_angle")
  np.testing.assert_array_equal(rot.images, again.images)
  angles = _rotated.rotation_angles(split.index, seed=3, mode="right_angle")
  assert set(np.unique(angles)) == {0.0, 90.0, 180.0, 270.0}
  for i in range(10):
    k = int(angles[i] // 90)
    np.testing.assert_array_equal(rot.images[i],
                                  np.rot90(split.images[i], k, axes=(0, 1)))
  np.testing.assert_array_equal(rot.labels, split.labels)
  other = _rotated.rotate_dataset(split, seed=4, mode="right_angle")
  assert not np.array_equal(other.images, rot.images)


def test_arbitrary_rotation_is_approximate_and_consistent_with_rot90():
  img = np.random.default_rng(0).random((1, 9, 9, 1)).astype(np.float32)
  # 90 degrees through the interpolation path agrees with rot90 up to float.
  from scipy import ndimage  # pylint: disable=g-import-not-at-top
  interp = ndimage.rotate(img[0], 90.0, axes=(1, 0), reshape=False, order=1)
  np.testing.assert_allclose(interp, np.rot90(img[0], 1, axes=(0, 1)),
                             atol=1e-5)
  # A 45-degree round trip is NOT the identity (measured, not claimed exact).
  there = _rotated.rotate_images(img, np.array([45.0]))
  back = _rotated.rotate_images(there, np.array([-45.0]))
  err = float(np.abs(back - img)[0, 3:6, 3:6].max())
  assert 1e-3 < err < 0.5
  with pytest.raises(ValueError, match="mode must be one of"):
    _rotated.rotation_angles(np.arange(3), seed=0, mode="upside_down")
