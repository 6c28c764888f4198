"""Tests: Haar rotations, vector-neuron layers and the VN-MLP classifier.

Conventions: a matrix Q acts on vector-neuron features ``[..., C, 3]`` as
``V Q^T``. Equivariance errors are ``max |f(V Q^T) - f(V) Q^T|`` divided by
``max(1, max |f(V)|)`` and must stay below 1e-5 in float32 for every layer
(5e-5 for the composed classifier, see ``CLF_TOL``).

Speed (2 shared CPU cores): XLA compilation dominates, and compiling the
random initialisers (threefry) of a flax ``init`` costs seconds per model. So
the property tests draw parameters, inputs and rotations on the host from a
hypothesis seed (parameters with numpy, in the shapes from ``jax.eval_shape``
of ``init``; rotations with ``random_rotations``, compiled once) and pass them
to one jitted error function per layer, compiled once. ``init`` itself runs
for real in the epinet test.
"""

import functools
import itertools

import flax.linen as nn
import hypothesis
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.spatial.transform
import scipy.stats

from enn_sym import networks
from enn_sym._validation import InputError
from enn_sym.data import _pointsets
from enn_sym.symmetry import _rotations
from enn_sym.symmetry import _vector_neurons as vn

TOL = 1e-5
# The composed classifier: float32 rounding is amplified where a learned
# VN-LeakyReLU direction k is short (k / |k| is ill-conditioned). Against a
# float64 forward pass the float32 one is off by up to ~4e-6 there, and the
# worst invariance error over 1,500 random draws was 1.9e-5 (99.9% < 1e-5).
CLF_TOL = 5e-5
N_HAAR = 8000
seeds = st.integers(0, 2**31 - 1)
MIRROR = np.diag([1.0, -1.0, 1.0]).astype(np.float32)  # y -> -y


def act(v, q):
  """``V Q^T``: Q acting on every 3-vector (the last axis)."""
  return jnp.einsum("...i,ji->...j", v, q)


def rel_err(a, b):
  return jnp.max(jnp.abs(a - b)) / jnp.maximum(1.0, jnp.max(jnp.abs(b)))


@functools.lru_cache(maxsize=None)
def haar_so3():
  return _rotations.random_rotations(jax.random.key(2), N_HAAR)


@functools.lru_cache(maxsize=None)
def haar_o3():
  return _rotations.random_orthogonal(jax.random.key(5), N_HAAR)


def rotation_and_reflection(seed):
  """A Haar rotation R and the improper ``R diag(1, -1, 1)`` (Haar on det -1).

  Picked by ``seed`` from one precomputed Haar sample (one compile).
  """
  r = np.asarray(haar_so3()[seed % N_HAAR])
  return r, r @ MIRROR


# ---------------------------------------------------------------------------
# Rotations.


def test_random_rotations_are_float32_rotations():
  r = haar_so3()
  assert r.shape == (N_HAAR, 3, 3) and r.dtype == jnp.float32
  gram = np.einsum("nji,njk->nik", r, r)
  assert np.max(np.abs(gram - np.eye(3))) < 1e-5
  np.testing.assert_allclose(np.linalg.det(np.asarray(r, np.float64)), 1.0,
                             atol=1e-5)
  assert bool(jnp.all(_rotations.is_rotation(r)))


def test_random_orthogonal_has_both_determinants_equally_often():
  q = np.asarray(haar_o3(), np.float64)
  np.testing.assert_allclose(np.einsum("nji,njk->nik", q, q),
                             np.broadcast_to(np.eye(3), q.shape), atol=1e-5)
  det = np.linalg.det(q)
  np.testing.assert_allclose(np.abs(det), 1.0, atol=1e-5)
  frac = np.mean(det > 0)
  assert abs(frac - 0.5) < 4 * np.sqrt(0.25 / N_HAAR), frac  # 4 sigma.


def _angle_ks_pvalue(r):
  theta = np.asarray(_rotations.rotation_angle(r), np.float64)
  return scipy.stats.kstest(
      theta, lambda t: np.asarray(_rotations.haar_angle_cdf(t))).pvalue


def test_haar_sanity_mean_and_angle_distribution():
  r = haar_so3()
  # E[R] = 0; each entry has variance 1/3, so the mean's sd is ~0.0065.
  assert np.max(np.abs(np.asarray(r).mean(0))) < 0.04
  assert _angle_ks_pvalue(r) > 1e-3
  # Chi-square on the angle (trace = 1 + 2 cos theta), 10 equiprobable bins.
  grid = np.linspace(0, np.pi, 100001)
  cdf = np.asarray(_rotations.haar_angle_cdf(grid))
  edges = np.interp(np.linspace(0, 1, 11), cdf, grid)
  edges[0], edges[-1] = -1.0, 4.0  # Round-off may put an angle past pi.
  counts, _ = np.histogram(np.asarray(_rotations.rotation_angle(r)), edges)
  assert counts.sum() == N_HAAR
  assert scipy.stats.chisquare(counts).pvalue > 1e-3


def test_haar_checks_have_power():
  """The checks above reject two non-Haar samplers of SO(3)."""
  rng = np.random.default_rng(0)
  # QR without Mezzadri's sign fix (LAPACK convention), made proper.
  q, _ = np.linalg.qr(rng.normal(size=(N_HAAR, 3, 3)))
  naive = q * np.sign(np.linalg.det(q))[:, None, None]
  assert np.max(np.abs(naive.mean(0))) > 0.1
  assert _angle_ks_pvalue(naive) < 1e-6
  # Uniform axis and uniform angle: too many small rotations.
  axes = rng.normal(size=(N_HAAR, 3))
  axes /= np.linalg.norm(axes, axis=1, keepdims=True)
  angles = rng.uniform(0, np.pi, size=N_HAAR)
  uniform_angle = scipy.spatial.transform.Rotation.from_rotvec(
      axes * angles[:, None]).as_matrix()
  assert _angle_ks_pvalue(uniform_angle) < 1e-6


def test_haar_o3_reflections_are_minus_a_haar_rotation():
  q = np.asarray(haar_o3())
  assert np.max(np.abs(q.mean(0))) < 0.04
  improper = -q[np.linalg.det(q) < 0]
  assert bool(jnp.all(_rotations.is_rotation(improper)))
  assert _angle_ks_pvalue(improper) > 1e-3


def test_sampling_is_deterministic_in_the_key():
  for fn in (_rotations.random_rotations, _rotations.random_orthogonal):
    a = fn(jax.random.key(7), N_HAAR)
    np.testing.assert_array_equal(a, fn(jax.random.key(7), N_HAAR))
    assert not np.array_equal(a[0], fn(jax.random.key(8), N_HAAR)[0])


@pytest.mark.parametrize("num", [-1, 2.0, True, None])
def test_bad_num_raises(num):
  with pytest.raises(ValueError, match="num"):
    _rotations.random_rotations(jax.random.key(0), num)


def test_rotation_about_axis_matches_scipy_and_known_cases():
  rng = np.random.default_rng(0)
  axes = rng.normal(size=(16, 3))
  angles = rng.uniform(-4, 4, size=16)
  axes[0], angles[0] = [0.0, 0.0, 2.0], np.pi / 2  # A known case.
  axes[1], angles[1] = axes[2], angles[2] + 1.1
  axes[3], angles[3] = axes[2], 1.1
  r = np.asarray(_rotations.rotation_about_axis(axes, angles))
  assert r.shape == (16, 3, 3) and r.dtype == np.float32
  np.testing.assert_allclose(r[0], [[0, -1, 0], [1, 0, 0], [0, 0, 1]],
                             atol=1e-6)
  unit = axes / np.linalg.norm(axes, axis=1, keepdims=True)
  ref = scipy.spatial.transform.Rotation.from_rotvec(
      unit * angles[:, None]).as_matrix()
  np.testing.assert_allclose(r, ref, atol=1e-5)
  np.testing.assert_allclose(np.einsum("nij,nj->ni", r, unit), unit, atol=1e-5)
  assert bool(jnp.all(_rotations.is_rotation(r)))
  # R(a) R(b) = R(a + b) about the same axis.
  np.testing.assert_allclose(r[2] @ r[3], r[1], atol=1e-5)
  # Broadcasting: one axis, a batch of angles.
  assert _rotations.rotation_about_axis(axes[2], angles[:4]).shape == (4, 3, 3)


def test_is_rotation_rejects_non_rotations():
  eye = np.eye(3, dtype=np.float32)
  assert bool(_rotations.is_rotation(eye))
  assert _rotations.is_rotation(eye).shape == ()
  assert not bool(_rotations.is_rotation(MIRROR))          # det -1
  assert not bool(_rotations.is_rotation(1.001 * eye))     # not orthogonal
  shear = eye.copy()
  shear[0, 1] = 1e-3
  assert not bool(_rotations.is_rotation(shear))
  assert bool(_rotations.is_rotation(1.000001 * eye, atol=1e-5))
  with pytest.raises(ValueError, match=r"\[\.\.\., 3, 3\]"):
    _rotations.is_rotation(np.eye(4))
  with pytest.raises(ValueError, match="axis"):
    _rotations.rotation_about_axis(np.ones(2), 0.0)


# ---------------------------------------------------------------------------
# Host-side parameters and inputs.

_SHAPES = {}


def random_variables(model, in_shape, rng, **kwargs):
  """Variables of ``model`` for inputs ``in_shape``, drawn with numpy.

  Kernels ~ N(0, 1/fan_in); biases, BatchNorm scales and running statistics
  are perturbed around their usual values so no code path is trivial.
  """
  key = (model, in_shape, tuple(sorted(kwargs.items())))
  if key not in _SHAPES:
    _SHAPES[key] = jax.eval_shape(
        lambda: model.init(jax.random.key(0), jnp.zeros(in_shape), **kwargs))
  return jax.tree_util.tree_map_with_path(
      lambda path, leaf: _fill(path, leaf, rng), _SHAPES[key])


def _fill(path, leaf, rng):
  name = path[-1].key
  if name == "kernel":
    value = rng.normal(size=leaf.shape) / np.sqrt(leaf.shape[-2])
  elif name in ("scale", "var"):
    value = 1.0 + 0.2 * np.abs(rng.normal(size=leaf.shape))
  else:  # bias, mean
    value = 0.1 * rng.normal(size=leaf.shape)
  return jnp.asarray(value, jnp.float32)


def draw(seed, model, in_shape, **kwargs):
  """``(variables, x, rotation, reflection)`` from one seed."""
  rng = np.random.default_rng(seed)
  variables = random_variables(model, in_shape, rng, **kwargs)
  x = rng.normal(size=in_shape).astype(np.float32)
  return (variables, x) + rotation_and_reflection(seed)


def _errors_fn(module, *, train=None, invariant=False, pseudo_last=False):
  """Jitted ``(variables, v, r, m) -> (rotation error, reflection error)``."""
  kwargs = {} if train is None else {"train": train}

  def f(variables, x):
    if train:
      return module.apply(variables, x, mutable=["batch_stats"], **kwargs)[0]
    return module.apply(variables, x, **kwargs)

  @jax.jit
  def errors(variables, v, r, m):
    out = f(variables, v)
    if not invariant:
      return (rel_err(f(variables, act(v, r)), act(out, r)),
              rel_err(f(variables, act(v, m)), act(out, m)))
    mirrored = f(variables, act(v, m))
    if pseudo_last:  # A pseudo-scalar in the last position flips sign.
      mirrored = mirrored.at[..., -1].multiply(-1.0)
    return rel_err(f(variables, act(v, r)), out), rel_err(mirrored, out)

  return errors


_FNS = {}


def cached(name, make):
  if name not in _FNS:
    _FNS[name] = make()
  return _FNS[name]


# ---------------------------------------------------------------------------
# Vector-neuron layers: SO(3) equivariance and the documented O(3) behaviour.

class _MeanPoolNet(nn.Module):

  @nn.compact
  def __call__(self, v):
    return vn.vn_mean_pool(vn.VNLeakyReLU()(vn.VNLinear(4)(v)))


EQUIVARIANT_LAYERS = {
    "linear": (vn.VNLinear(5), (4, 7, 3), None),
    "leaky_relu": (vn.VNLeakyReLU(), (4, 6, 7, 3), None),
    "leaky_relu_shared": (vn.VNLeakyReLU(0.0, share_direction=True),
                          (4, 7, 3), None),
    "batch_norm_train": (vn.VNBatchNorm(), (8, 6, 7, 3), True),
    "batch_norm_eval": (vn.VNBatchNorm(), (8, 6, 7, 3), False),
    "mean_pool": (_MeanPoolNet(), (3, 9, 2, 3), None),
}


@pytest.mark.parametrize("name", sorted(EQUIVARIANT_LAYERS))
@hypothesis.given(seed=seeds)
def test_vn_layers_are_o3_equivariant(name, seed):
  module, shape, train = EQUIVARIANT_LAYERS[name]
  errors = cached(name, lambda: _errors_fn(module, train=train))
  kwargs = {} if train is None else {"train": train}
  rot_err, refl_err = errors(*draw(seed, module, shape, **kwargs))
  assert rot_err < TOL and refl_err < TOL, (rot_err, refl_err)


@hypothesis.given(seed=seeds)
def test_invariant_layer_is_o3_invariant(seed):
  module = vn.VNInvariant()
  errors = cached("invariant", lambda: _errors_fn(module, invariant=True))
  rot_err, refl_err = errors(*draw(seed, module, (5, 6, 3)))
  assert rot_err < TOL and refl_err < TOL


@hypothesis.given(seed=seeds)
def test_chiral_invariant_layer_is_so3_invariant_and_reflection_odd(seed):
  module = vn.VNInvariant(chiral=True)
  errors = cached("invariant_chiral", lambda: _errors_fn(
      module, invariant=True, pseudo_last=True))
  rot_err, flipped_err = errors(*draw(seed, module, (5, 6, 3)))
  assert rot_err < TOL and flipped_err < TOL


def test_chiral_feature_is_a_nonzero_pseudo_scalar():
  layer = vn.VNInvariant(chiral=True)
  variables, v, _, _ = draw(0, layer, (64, 6, 3))
  apply = jax.jit(layer.apply)
  feats = apply(variables, v)
  s = np.asarray(feats[:, -1])
  assert np.all(np.abs(s) <= 1.0)
  assert np.median(np.abs(s)) > 0.05  # A real feature, not ~0.
  np.testing.assert_allclose(apply(variables, act(v, MIRROR))[:, -1], -s,
                             atol=1e-6)
  # Coplanar inputs (z = 0): the frame is degenerate and s = 0.
  planar = v.copy()
  planar[..., 2] = 0.0
  np.testing.assert_allclose(apply(variables, planar)[:, -1], 0.0, atol=1e-6)
  # The non-chiral layer gives the same features without s.
  np.testing.assert_array_equal(vn.VNInvariant().apply(variables, v),
                                feats[:, :-1])


def test_max_pool_is_equivariant_away_from_ties():
  pool = vn.VNMaxPool()

  @jax.jit
  def run(variables, v, r, m):
    k = vn.VNLinear(4).apply({"params": variables["params"]["direction"]}, v)
    scores = jnp.sort(jnp.sum(v * k, -1), axis=1)
    gap = scores[:, -1] - scores[:, -2]  # [16, 4] top-2 score gaps.
    out = pool.apply(variables, v)
    err_r = jnp.abs(pool.apply(variables, act(v, r)) - act(out, r)).max(-1)
    err_m = jnp.abs(pool.apply(variables, act(v, m)) - act(out, m)).max(-1)
    return gap, err_r, err_m

  checked = 0
  for seed in range(5):
    gap, err_r, err_m = map(np.asarray, run(*draw(seed, pool, (16, 8, 4, 3))))
    clear = gap > 1e-3  # At near-ties another point may be picked.
    checked += clear.sum()
    assert np.all(err_r[clear] < TOL) and np.all(err_m[clear] < TOL)
  assert checked > 0.9 * 5 * 16 * 4


# ---------------------------------------------------------------------------
# Layer semantics against numpy references.


def test_vn_linear_mixes_channels_only():
  layer = vn.VNLinear(4)
  variables, v, _, _ = draw(0, layer, (2, 5, 3))
  w = np.asarray(variables["params"]["kernel"])
  assert w.shape == (5, 4) and set(variables["params"]) == {"kernel"}
  apply = jax.jit(layer.apply)
  np.testing.assert_allclose(apply(variables, v),
                             np.einsum("bci,cd->bdi", v, w), atol=1e-5)
  np.testing.assert_array_equal(apply(variables, np.zeros_like(v)), 0.0)
  # Equivariant under any linear map of the 3-axis, not only rotations.
  a = np.random.default_rng(0).normal(size=(3, 3)).astype(np.float32)
  np.testing.assert_allclose(apply(variables, act(v, a)),
                             act(apply(variables, v), a), atol=1e-5)


@pytest.mark.parametrize("slope,shared", [(0.2, False), (0.0, False),
                                          (0.0, True)])
def test_leaky_relu_matches_the_paper_formula(slope, shared):
  layer = vn.VNLeakyReLU(slope, share_direction=shared)
  variables, v, _, _ = draw(0, layer, (64, 5, 3))
  u = np.asarray(variables["params"]["direction"]["kernel"], np.float64)
  assert u.shape == (5, 1 if shared else 5)
  x = np.asarray(v, np.float64)
  k = np.einsum("bci,cd->bdi", x, u)
  dot = np.sum(x * k, -1, keepdims=True)
  proj = x - dot / (np.sum(k * k, -1, keepdims=True) + layer.eps) * k
  ref = slope * x + (1 - slope) * np.where(dot >= 0, x, proj)
  out = np.asarray(layer.apply(variables, v))
  np.testing.assert_allclose(out, ref, atol=1e-5)
  assert 0.2 < np.mean(dot < 0) < 0.8  # Both branches are exercised.
  if slope == 0.0:  # The ReLU output lies in the half-space <., k> >= 0.
    assert np.min(np.sum(out * k, -1)) > -1e-4


def test_batch_norm_train_eval_and_stats_update():
  bn = vn.VNBatchNorm()
  apply = jax.jit(functools.partial(bn.apply, mutable="batch_stats"),
                  static_argnames="train")
  v = 2.0 * np.random.default_rng(0).normal(size=(32, 10, 6, 3)) + 1.0
  v = v.astype(np.float32)
  variables = bn.init(jax.random.key(1), v)
  assert set(variables) == {"params", "batch_stats"}
  np.testing.assert_array_equal(variables["batch_stats"]["bn"]["mean"], 0.0)
  np.testing.assert_array_equal(variables["batch_stats"]["bn"]["var"], 1.0)

  x = v.astype(np.float64)
  norm = np.sqrt(np.sum(x ** 2, -1) + bn.norm_eps)
  mu, var = norm.mean(axis=(0, 1)), norm.var(axis=(0, 1))
  unit = x / norm[..., None]

  # Train mode: batch statistics; the signed new norms are standardised and
  # the directions are kept.
  out, updates = apply(variables, v, train=True)
  out = np.asarray(out, np.float64)
  np.testing.assert_allclose(np.sum(out * unit, -1),
                             (norm - mu) / np.sqrt(var + bn.epsilon),
                             rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(np.cross(out, unit), 0.0, atol=1e-4)
  stats = updates["batch_stats"]["bn"]
  np.testing.assert_allclose(stats["mean"], 0.01 * mu, rtol=1e-4)
  np.testing.assert_allclose(stats["var"], 0.99 + 0.01 * var, rtol=1e-4)

  # Eval mode: running statistics and no update; with the initial ones
  # (mean 0, var 1, scale 1, bias 0) the layer is ~ the identity.
  out_eval, _ = apply(variables, v, train=False)
  np.testing.assert_allclose(out_eval, v / np.sqrt(1 + bn.epsilon),
                             rtol=1e-5, atol=1e-5)
  assert not np.allclose(out_eval, out, atol=1e-2)
  new_vars = {"params": variables["params"],
              "batch_stats": updates["batch_stats"]}
  out_new, same = apply(new_vars, v, train=False)
  out_new = np.asarray(out_new, np.float64)
  m, s = np.asarray(stats["mean"]), np.asarray(stats["var"])
  np.testing.assert_allclose(np.sum(out_new * unit, -1),
                             (norm - m) / np.sqrt(s + bn.epsilon),
                             rtol=1e-4, atol=1e-4)
  jax.tree.map(np.testing.assert_array_equal, same["batch_stats"],
               updates["batch_stats"])


def test_pools_match_numpy():
  rng = np.random.default_rng(0)
  v = rng.normal(size=(2, 7, 3, 3)).astype(np.float32)
  np.testing.assert_allclose(vn.vn_mean_pool(v), np.mean(v, axis=1),
                             atol=1e-6)
  np.testing.assert_allclose(vn.vn_mean_pool(v, axis=0), np.mean(v, axis=0),
                             atol=1e-6)
  d = rng.normal(size=v.shape).astype(np.float32)
  out = np.asarray(vn.vn_max_pool(v, d, axis=1))
  for b, c in itertools.product(range(2), range(3)):
    best = np.argmax(np.sum(v[b, :, c] * d[b, :, c], -1))
    np.testing.assert_array_equal(out[b, c], v[b, best, c])
  with pytest.raises(InputError, match="point axis"):
    vn.vn_mean_pool(v, axis=-2)
  with pytest.raises(InputError, match=r"\[\.\.\., channels, 3\]"):
    vn.vn_mean_pool(np.zeros((4, 2, 2)))


def test_invariant_layer_matches_v_t_transpose():
  layer = vn.VNInvariant()
  variables, v, _, _ = draw(0, layer, (3, 4, 3))
  w = np.asarray(variables["params"]["frame"]["kernel"])
  t = np.einsum("bci,cd->bdi", v, w)  # [3 examples, 3 frame vectors, 3]
  ref = np.einsum("bci,bji->bcj", v, t).reshape(3, 12)
  np.testing.assert_allclose(layer.apply(variables, v), ref, atol=1e-5)
  np.testing.assert_allclose(vn.triple_product(t), np.linalg.det(t),
                             atol=1e-4)


# ---------------------------------------------------------------------------
# The VN-MLP classifier.

SMALL = dict(hidden=(8, 8), head_hidden=(16,))
CLOUD = (3, 9, 3)


def _classifier_errors(model):
  """Jitted errors under rotation + translation, reflection and a point
  permutation. The inputs go through ONE apply (a quarter of the compile
  time; the classifier treats examples independently)."""
  @jax.jit
  def errors(variables, x, r, m, shift):
    b, n = x.shape[:2]
    perm = (jnp.arange(n) * 5 + 2) % n  # n = 9: a permutation.
    out = model.apply(variables, jnp.concatenate(
        [x, act(x, r) + shift, act(x, m), x[:, perm]]))[0]
    out, rotated, mirrored, permuted = jnp.split(out, 4)
    return (jnp.maximum(rel_err(rotated, out), rel_err(permuted, out)),
            rel_err(mirrored, out), jnp.max(jnp.abs(out)))
  return errors


def _check_classifier(name, model, seed):
  errors = cached(name, lambda: _classifier_errors(model))
  shift = np.random.default_rng(seed + 1).normal(size=(CLOUD[0], 1, 3))
  return errors(*draw(seed, model, CLOUD), shift.astype(np.float32))


@hypothesis.given(seed=seeds)
def test_classifier_is_so3_and_o3_invariant(seed):
  model = vn.VNMLPClassifier(5, batch_norm=True, **SMALL)
  rot_err, refl_err, _ = _check_classifier("clf", model, seed)
  assert rot_err < CLF_TOL and refl_err < CLF_TOL


@hypothesis.given(seed=seeds)
def test_chiral_classifier_is_so3_invariant_but_not_o3(seed):
  # No head: the features are the pooled invariants, the pseudo-scalar last.
  model = vn.VNMLPClassifier(5, chiral=True, hidden=(8, 8), head_hidden=())

  def make():
    @jax.jit
    def run(variables, x, r, m, shift):
      b = x.shape[0]
      logits, feats = model.apply(variables, jnp.concatenate(
          [x, act(x, r) + shift, act(x, m)]))
      return (rel_err(logits[b:2 * b], logits[:b]),
              rel_err(feats[b:2 * b], feats[:b]), feats[:b], feats[2 * b:])
    return run

  shift = np.random.default_rng(seed + 1).normal(size=(CLOUD[0], 1, 3))
  logit_err, feat_err, feats, mirrored = cached("clf_chiral", make)(
      *draw(seed, model, CLOUD), shift.astype(np.float32))
  assert logit_err < CLF_TOL and feat_err < CLF_TOL
  scale = max(1.0, float(jnp.abs(feats).max()))
  # Reflections keep the O(3)-invariant features and flip the pseudo-scalar.
  np.testing.assert_allclose(mirrored[:, :-1], feats[:, :-1],
                             atol=CLF_TOL * scale)
  np.testing.assert_allclose(mirrored[:, -1], -feats[:, -1],
                             atol=CLF_TOL * scale)
  s = np.abs(np.asarray(feats[:, -1]))
  # Mirror images differ: float noise is ~1e-7, and some untrained random
  # draws separate them by only ~4e-4.
  assert np.all(s <= 1.0) and np.max(s) > 1e-4


@pytest.mark.parametrize("pooling", ["mean", "max"])
def test_pool_then_invariant_readout_is_invariant(pooling):
  model = vn.VNMLPClassifier(5, readout="pool_then_invariant",
                             pooling=pooling, **SMALL)
  for seed in range(3):  # Generic clouds: no ties for the VN max pool.
    rot_err, refl_err, _ = _check_classifier(f"clf_pool_{pooling}", model,
                                             seed)
    assert rot_err < CLF_TOL and refl_err < CLF_TOL


def test_classifier_layout_shapes_and_errors():
  x = np.random.default_rng(0).normal(size=(2, 6, 3)).astype(np.float32)
  np.testing.assert_array_equal(vn.as_point_cloud(x[..., None]), x)
  model = vn.VNMLPClassifier(4, chiral=True, **SMALL)
  shapes = jax.eval_shape(model.init, jax.random.key(0), x[..., None])
  out = jax.eval_shape(model.apply, shapes, x)
  assert out[0].shape == (2, 4) and out[1].shape == (2, 16)
  no_head = vn.VNMLPClassifier(4, hidden=(8,), head_hidden=(), chiral=True)
  shapes = jax.eval_shape(no_head.init, jax.random.key(0), x)
  assert shapes["params"]["logits"]["kernel"].shape == (2 * 8 * 3 + 1, 4)
  for bad in (dict(pooling="sum"), dict(readout="vectors"), dict(hidden=())):
    with pytest.raises(InputError):
      vn.VNMLPClassifier(4, **bad).init(jax.random.key(0), x)
  for shape in ((2, 6, 2), (2, 6, 3, 2), (6, 3)):
    with pytest.raises(InputError, match="points, 3"):
      vn.as_point_cloud(np.zeros(shape))


def test_lift_uses_covariance_channel():
  x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype(np.float32) + 3
  h = np.asarray(vn.lift_points(x), np.float64)
  p = x.astype(np.float64) - x.astype(np.float64).mean(1, keepdims=True)
  cov = np.einsum("bni,bnj->bij", p, p) / 5
  np.testing.assert_allclose(h[:, :, 0], p, atol=1e-5)
  np.testing.assert_allclose(h[:, :, 1], np.einsum("bij,bnj->bni", cov, p),
                             atol=1e-4)


@functools.lru_cache(maxsize=None)
def tetris_poses():
  return _pointsets.tetris_dataset(4, seed=0, rotate="so3")


def _tetris_outputs(model, seed=0):
  """``(logits, features)`` on the 8 canonical shapes and on posed copies."""
  shapes = _pointsets.tetris_shapes(center=True)
  data = tetris_poses()
  variables = random_variables(model, shapes.shape,
                               np.random.default_rng(seed))
  out = jax.jit(model.apply)(variables,
                             np.concatenate([shapes, data.points]))
  canonical = jax.tree.map(lambda a: a[:8], out)
  posed = jax.tree.map(lambda a: a[8:], out)
  return canonical, posed, data.labels


def test_classifier_cannot_tell_the_chiral_tetris_pair_apart():
  model = vn.VNMLPClassifier(8, hidden=(8, 8), head_hidden=())
  (logits, _), (posed, _), labels = _tetris_outputs(model)
  np.testing.assert_allclose(logits[0], logits[1], atol=1e-6)
  # ... in any poses, since the classifier is O(3)-invariant.
  chiral = posed[labels <= 1]
  np.testing.assert_allclose(chiral, np.broadcast_to(logits[0], chiral.shape),
                             atol=1e-5)
  # Not a collapse: the seven classes it can see all get different logits.
  seven = np.asarray(logits)[1:]
  dist = np.abs(seven[:, None] - seven[None]).max(-1)
  assert dist[~np.eye(7, dtype=bool)].min() > 1e-4 * np.abs(seven).max()


def test_pool_then_invariant_collapses_centrally_symmetric_shapes():
  """The documented caveat: square, line and zigzag (X = -X) all give 0."""
  model = vn.VNMLPClassifier(8, readout="pool_then_invariant", hidden=(8, 8),
                             head_hidden=())
  (_, feats), _, _ = _tetris_outputs(model)
  names = _pointsets.TETRIS_CLASS_NAMES
  sym = [names.index(n) for n in ("square", "line", "zigzag")]
  np.testing.assert_allclose(feats[np.array(sym)], 0.0, atol=1e-6)
  assert np.abs(feats[names.index("T")]).max() > 1e-4


def test_chiral_classifier_tells_the_pair_apart_in_any_pose():
  model = vn.VNMLPClassifier(8, chiral=True, hidden=(8, 8), head_hidden=())
  (logits, feats), (posed, _), labels = _tetris_outputs(model)
  s = np.asarray(feats[:, -1])  # The pooled pseudo-scalar.
  assert abs(s[0]) > 1e-3
  np.testing.assert_allclose(s[1], -s[0], atol=1e-6)
  # Achiral shapes (mirror image = a rotated copy) have s = -s = 0.
  np.testing.assert_allclose(s[2:], 0.0, atol=1e-5)
  assert np.abs(logits[0] - logits[1]).max() > 1e-4
  for c in (0, 1):
    rows = posed[labels == c]
    np.testing.assert_allclose(rows, np.broadcast_to(logits[c], rows.shape),
                               atol=1e-5)


def test_classifier_gradients_are_finite_on_degenerate_clouds():
  model = vn.VNMLPClassifier(3, hidden=(4,), head_hidden=(), chiral=True,
                             batch_norm=True)
  variables, x, _, _ = draw(0, model, (4, 5, 3))
  x[1:] = 0.0             # All points at the origin (eval padding).
  x[2, :, 2] = 0.0        # Planar.
  x[3] = x[3, :1]         # All points equal.

  @jax.jit
  def grads(params):
    def loss(p):
      (logits, _), _ = model.apply(
          {"params": p, "batch_stats": variables["batch_stats"]}, x,
          train=True, mutable=["batch_stats"])
      return jnp.sum(logits ** 2)
    return jax.grad(loss)(params)

  g = grads(variables["params"])
  assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree.leaves(g))


# ---------------------------------------------------------------------------
# As the base of an epinet.


def test_vn_classifier_as_epinet_base():
  """init (traced with eval_shape: compiling the random initialisers costs
  seconds; the values are drawn on the host), apply and apply_multi. (The
  train-mode BatchNorm path is tested on VNBatchNorm itself.)"""
  base = vn.VNMLPClassifier(8, batch_norm=True, hidden=(8, 8), head_hidden=(8,))
  enn = networks.make_epinet(base, num_classes=8, index_dim=4,
                             hidden_sizes=(8,), include_inputs=False,
                             prior=None)
  data = tetris_poses()
  x = data.get_batch(np.arange(16))["image"]  # [16, 4, 3, 1], pipeline layout
  z = np.zeros(4, np.float32)
  shapes = jax.eval_shape(enn.init, jax.random.key(0), x, z)
  assert {"params", "batch_stats"} == set(shapes)
  rng = np.random.default_rng(0)
  variables = jax.tree_util.tree_map_with_path(
      lambda p, leaf: _fill(p, leaf, rng), shapes)
  zs = rng.normal(size=(5, 4)).astype(np.float32)
  r, _ = rotation_and_reflection(3)
  both = np.concatenate([x[..., 0], np.asarray(act(x[..., 0], r))])

  @jax.jit
  def run(variables, x, zs, both):
    return (enn.apply(variables, x, zs[0]).preds,
            enn.apply_multi(variables, both, zs).preds)

  one, stacks = run(variables, x, zs, both)
  stack, rot_stack = stacks[:, :16], stacks[:, 16:]
  assert one.shape == (16, 8) and stack.shape == (5, 16, 8)
  np.testing.assert_allclose(stack[0], one, atol=1e-5)
  assert float(jnp.std(stack, axis=0).max()) > 1e-6  # The index matters.
  # Invariant base + a head that sees only its features: an invariant ENN.
  assert rel_err(rot_stack, stack) < CLF_TOL
