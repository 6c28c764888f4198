"""Groups and image ops: axioms of the exact actions, measured error of the
interpolated ones, conventions, and bad inputs."""

import itertools

import hypothesis
from hypothesis import strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage

from enn_sym._validation import InputError
from enn_sym.symmetry import _groups as groups
from enn_sym.symmetry import _image_ops as image_ops

def _key(seed):
  """'rbg' keys: ~4x cheaper to compile on CPU than threefry."""
  return jax.random.key(seed, impl="rbg")


EXACT_IMAGE_GROUPS = [groups.CyclicGroup(1), groups.CyclicGroup(2),
                      groups.CyclicGroup(4), groups.DihedralGroup(2),
                      groups.DihedralGroup(4),
                      groups.CyclicGroup(4, circular_mask=True),
                      groups.DihedralGroup(4, circular_mask=True)]


def _images(seed, shape=(2, 7, 7, 3)):
  return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _smooth_image(size=24):
  """A smooth (band-limited) test image: interpolation error is then small."""
  ii, jj = np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size),
                       indexing="ij")
  img = np.exp(-((ii - 0.2) ** 2 + (jj + 0.1) ** 2) / 0.15) + 0.5 * np.exp(
      -((ii + 0.3) ** 2 + (jj - 0.3) ** 2) / 0.05)
  return img[None, :, :, None].astype(np.float32)


def _on(group, x):
  """The inputs on which the action is a group action (masked if masking)."""
  return np.asarray(image_ops.apply_circular_mask(x)) if group.circular_mask \
      else x


# ---------------------------------------------------------------------------
# Exact image groups: axioms hold bit for bit.


@pytest.mark.parametrize("group", EXACT_IMAGE_GROUPS, ids=lambda g: (
    g.name + ("-mask" if g.circular_mask else "")))
def test_exact_image_group_axioms(group):
  assert group.exact and group.order == len(group.elements())
  codes = np.asarray(group.elements())
  e = group.identity()
  x = _on(group, _images(0))
  np.testing.assert_array_equal(group.act(e, x), x)
  for g, h in itertools.product(codes, codes):
    np.testing.assert_array_equal(
        group.act(g, group.act(h, x)), group.act(group.compose(g, h), x))
  for g in codes:
    np.testing.assert_array_equal(group.act(group.inverse(g), group.act(g, x)),
                                  x)
    assert int(group.compose(g, group.inverse(g))) == int(e)
    assert int(group.compose(e, g)) == int(g) == int(group.compose(g, e))
  for g, h, k in itertools.product(codes, codes, codes):
    assert int(group.compose(group.compose(g, h), k)) == int(
        group.compose(g, group.compose(h, k)))
  # Closure: composition is a Latin square over the codes.
  table = np.array([[int(group.compose(g, h)) for h in codes] for g in codes])
  for row in table:
    assert sorted(row) == list(codes)


_D4 = groups.DihedralGroup(4)
_D4_ACT = jax.jit(_D4.act)  # Traced codes: the lax.switch / select path.


@hypothesis.given(seed=st.integers(0, 2**31 - 1), g=st.integers(0, 7),
                  h=st.integers(0, 7))
def test_dihedral_axioms_with_traced_elements(seed, g, h):
  group, act = _D4, _D4_ACT
  x = _images(seed, (3, 6, 6, 2))
  np.testing.assert_array_equal(act(g, act(h, x)),
                                act(group.compose(g, h), x))
  np.testing.assert_array_equal(act(g, x), group.act(g, x))
  np.testing.assert_array_equal(act(group.inverse(g), act(g, x)), x)


def test_conventions_rot90_is_counter_clockwise_and_flip_is_horizontal():
  x = _images(1, (6, 6, 1))
  c4, d4 = groups.CyclicGroup(4), groups.DihedralGroup(4)
  np.testing.assert_array_equal(c4.act(1, x), np.rot90(x, 1, axes=(0, 1)))
  np.testing.assert_array_equal(d4.act(4, x), x[:, ::-1])  # k=0, f=1.
  np.testing.assert_array_equal(d4.act(5, x), np.rot90(x[:, ::-1], 1))
  # M R M = R^{-1}.
  np.testing.assert_array_equal(d4.act(4, d4.act(1, d4.act(4, x))),
                                d4.act(3, x))
  # Half turns work on non-square images.
  y = _images(2, (2, 5, 8, 1))
  c2 = groups.CyclicGroup(2)
  np.testing.assert_array_equal(c2.act(1, y), y[:, ::-1, ::-1])
  np.testing.assert_array_equal(jax.jit(c2.act)(1, y), y[:, ::-1, ::-1])


@pytest.mark.parametrize("group", [groups.CyclicGroup(4), groups.CyclicGroup(8),
                                   groups.DihedralGroup(4)],
                         ids=lambda g: g.name)
def test_orbit_equals_vmapped_act(group):
  x = _images(3, (2, 8, 8, 1))
  orbit = jax.jit(group.orbit)(x)
  assert orbit.shape == (group.order,) + x.shape
  vmapped = jax.jit(jax.vmap(group.act, (0, None)))(group.elements(), x)
  np.testing.assert_allclose(orbit, vmapped, atol=1e-6)
  np.testing.assert_array_equal(orbit[0], x)


# ---------------------------------------------------------------------------
# Interpolated rotations: measured, not claimed exact.


def test_rotate_image_matches_references_and_is_exact_at_zero():
  img = _images(4, (10, 10, 2))
  rotate = jax.jit(image_ops.rotate_image)
  np.testing.assert_array_equal(rotate(img, 0.0), img)
  np.testing.assert_allclose(rotate(img, np.pi / 2), np.rot90(img), atol=1e-5)
  for degrees in (30.0, 77.0, -140.0):
    # scipy's 'grid-constant' is bilinear with zero fill, like ours.
    ref = ndimage.rotate(img, degrees, axes=(1, 0), reshape=False, order=1,
                         mode="grid-constant", cval=0.0)
    np.testing.assert_allclose(rotate(img, np.deg2rad(degrees)), ref,
                               atol=1e-5)
  angles = jnp.array([0.0, 0.3, 1.0])
  batched = jax.jit(jax.vmap(image_ops.rotate_image, (None, 0)))(img, angles)
  for k in range(3):
    np.testing.assert_allclose(batched[k], rotate(img, angles[k]), atol=1e-5)


def test_rotate_image_folds_quarter_turns_into_the_taps():
  img = _images(5, (3, 9, 9, 2))
  for k in range(-1, 5):
    for angle in (0.0, 0.4):
      direct = image_ops.rotate_image(img, angle, quarter_turns=k)
      np.testing.assert_array_equal(
          direct, image_ops.rot90(image_ops.rotate_image(img, angle), k))
  traced = jax.jit(jax.vmap(
      lambda k: image_ops.rotate_image(img, 0.4, quarter_turns=k)))(
          jnp.arange(4))
  for k in range(4):  # jit may fuse with FMAs: equal up to rounding.
    np.testing.assert_allclose(
        traced[k], image_ops.rot90(image_ops.rotate_image(img, 0.4), k),
        atol=1e-6)
  masked = groups.CyclicGroup(8, circular_mask=True)
  np.testing.assert_allclose(
      jax.jit(jax.vmap(masked.act, (0, None)))(masked.elements(), img),
      masked.orbit(img), atol=1e-6)
  with pytest.raises(InputError, match="square images"):
    image_ops.rotate_image(_images(5, (2, 9, 7, 1)), 0.4, quarter_turns=1)


def test_c8_and_so2_are_approximate_with_measured_error():
  c8, so2 = groups.CyclicGroup(8), groups.SO2Sampled()
  masked = groups.CyclicGroup(8, circular_mask=True)
  assert not c8.exact and not so2.exact and so2.order is None
  act8, act_masked, act_so2 = (jax.jit(c8.act), jax.jit(masked.act),
                               jax.jit(so2.act))
  x = _smooth_image()
  # Quarter-turn elements of C8 are still exact permutations.
  for k in (0, 2, 4, 6):
    np.testing.assert_array_equal(act8(k, x), np.rot90(x, k // 2, axes=(1, 2)))
  np.testing.assert_array_equal(c8.act(2, x), np.rot90(x, 1, axes=(1, 2)))
  np.testing.assert_array_equal(so2.act(np.pi / 2, x),
                                np.rot90(x, 1, axes=(1, 2)))
  np.testing.assert_array_equal(act_so2(np.pi / 2, x),
                                np.rot90(x, 1, axes=(1, 2)))
  # 45 degrees and back: a measured round-trip error, neither 0 nor huge.
  err = np.abs(np.asarray(act8(7, act8(1, x))) - x)
  assert 1e-3 < err.max() < 0.1  # Measured: 0.048 (image range [0, 1]).
  xm = np.asarray(image_ops.apply_circular_mask(x))
  err_masked = np.abs(np.asarray(act_masked(7, act_masked(1, xm))) - xm)
  assert 1e-3 < err_masked.max() < 0.1  # Smoothing only, no cut corners.
  # Composition of two 45-degree steps vs the exact quarter turn.
  comp = np.abs(np.asarray(act8(1, act8(1, x))) - np.asarray(act8(2, x)))
  assert 1e-3 < comp.max() < 0.1
  angle = 1.234
  so2_err = np.abs(np.asarray(act_so2(so2.inverse(angle), act_so2(angle, xm)))
                   - xm)
  assert so2_err[0, 3:-3, 3:-3].max() < 0.1


def test_circular_mask_is_symmetric():
  m = image_ops.circular_mask(10, 10)
  np.testing.assert_array_equal(m, np.rot90(m))
  np.testing.assert_array_equal(m, m[:, ::-1])
  assert m[5, 5] and not m[0, 0] and not m[9, 0]
  assert image_ops.circular_mask(6, 9).shape == (6, 9)


def test_so2_codes():
  so2 = groups.SO2Sampled()
  a = so2.sample(_key(0), 100)
  assert a.shape == (100,) and a.min() >= 0 and a.max() < 2 * np.pi
  e = np.asarray(so2.compose(a, so2.inverse(a)))
  np.testing.assert_allclose(np.minimum(e, 2 * np.pi - e), 0.0, atol=1e-5)
  b = so2.sample(_key(1), 100)
  np.testing.assert_allclose(np.cos(so2.compose(a, b)), np.cos(a + b),
                             atol=1e-5)


# ---------------------------------------------------------------------------
# SO(3) and O(3) on point clouds.


@pytest.mark.parametrize("group", [groups.SO3(), groups.O3()],
                         ids=lambda g: g.name)
def test_matrix_group_axioms(group):
  assert group.exact and group.order is None
  gs = group.sample(_key(0), 64)
  dets = np.linalg.det(np.asarray(gs))
  np.testing.assert_allclose(np.abs(dets), 1.0, atol=1e-5)
  if group.name == "SO3":
    assert np.all(dets > 0)
  else:  # Both cosets are drawn (probability 1 - 2^-63).
    assert np.any(dets < 0) and np.any(dets > 0)
  x = np.random.default_rng(0).normal(size=(4, 10, 3)).astype(np.float32)
  np.testing.assert_array_equal(group.act(group.identity(), x), x)

  @jax.jit
  @jax.vmap
  def errors(g, h, k):
    act, comp, inv = group.act, group.compose, group.inverse
    return jnp.stack([
        jnp.max(jnp.abs(act(g, act(h, x)) - act(comp(g, h), x))),
        jnp.max(jnp.abs(act(inv(g), act(g, x)) - x)),
        jnp.max(jnp.abs(comp(comp(g, h), k) - comp(g, comp(h, k)))),
        jnp.max(jnp.abs(comp(g, inv(g)) - jnp.eye(3))),
        jnp.max(jnp.abs(act(g, x)[1, 2] - g @ x[1, 2])),  # p -> g p.
    ])

  assert float(jnp.max(errors(gs[:20], gs[20:40], gs[40:60]))) < 1e-5


# ---------------------------------------------------------------------------
# Bad inputs.


@pytest.mark.parametrize("make", [lambda: groups.CyclicGroup(0),
                                  lambda: groups.CyclicGroup(-2),
                                  lambda: groups.CyclicGroup(2.5),
                                  lambda: groups.DihedralGroup(0)])
def test_bad_group_order(make):
  with pytest.raises(InputError, match="n must be a positive integer"):
    make()


def test_bad_inputs_name_the_problem():
  c4 = groups.CyclicGroup(4)
  with pytest.raises(InputError, match=r"images of shape \[\.\.\., height"):
    c4.act(1, np.zeros((8, 8)))
  with pytest.raises(InputError, match="square images"):
    c4.act(1, np.zeros((2, 8, 6, 1)))
  with pytest.raises(InputError, match="square images"):
    groups.SO2Sampled().act(0.5, np.zeros((8, 6, 1)))
  for group in (groups.SO2Sampled(), groups.SO3(), groups.O3()):
    with pytest.raises(InputError, match="continuous group"):
      group.elements()
  with pytest.raises(InputError, match="num must be a positive integer"):
    c4.sample(_key(0), 0)
  with pytest.raises(InputError, match=r"point clouds of shape \[\.\.\., "
                     "num_points, 3\\]"):
    groups.SO3().act(np.eye(3), np.zeros((5, 2)))
  with pytest.raises(InputError, match="ONE element"):
    groups.SO3().act(np.stack([np.eye(3)] * 2), np.zeros((5, 3)))
  with pytest.raises(InputError, match="angle must be a scalar"):
    image_ops.rotate_image(np.zeros((4, 4, 1)), np.zeros(2))
  with pytest.raises(InputError, match="height must be a positive integer"):
    image_ops.circular_mask(0, 4)
