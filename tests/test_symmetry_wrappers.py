"""Invariant wrappers: GroupAveraged, Canonicalized (learned C4, PCA),
FrameAveraged, the P4CNN baseline, use inside ENNs, and bad inputs."""

import functools

import flax.linen as nn
import hypothesis
from hypothesis import strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from enn_sym import networks
from enn_sym._validation import InputError
from enn_sym.symmetry import _canonicalizers as canon
from enn_sym.symmetry import _groups as groups
from enn_sym.symmetry import _p4 as p4
from enn_sym.symmetry import _wrappers as wrappers

C4, D4 = groups.CyclicGroup(4), groups.DihedralGroup(4)
# Small MLPs keep compilation cheap; the wrappers treat any base alike (the
# conv case is covered by the canonicalizer, the P4CNN and the benchmark).
BASE = networks.MLP(5, (8,))
MLP = networks.MLP(4, (16,))
SEEDS = st.integers(0, 2**31 - 1)
# 'rbg' keys compile ~4x faster than threefry on CPU (every init is a jit).
KEY = jax.random.key(0, impl="rbg")


def _key(seed):
  return jax.random.key(seed, impl="rbg")
IMAGE_SHAPE, CLOUD_SHAPE = (3, 8, 8, 1), (2, 12, 3)


def _images(seed, shape=IMAGE_SHAPE):
  return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _clouds(seed, num_points=12):
  """Anisotropic clouds: distinct covariance eigenvalues, generic moments."""
  rng = np.random.default_rng(seed)
  return (rng.normal(size=(2, num_points, 3)) * [3.0, 1.7, 0.6]
          + rng.normal(size=(2, 1, 3))).astype(np.float32)


def _maxdiff(a, b) -> float:
  return max(float(jnp.max(jnp.abs(u - v)))
             for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@functools.lru_cache(maxsize=None)
def _params(module, example_shape=IMAGE_SHAPE):
  """``module.init(...)['params']`` under jit, once per test session."""
  return jax.jit(module.init)(KEY, jnp.zeros(example_shape))["params"]


def _wrapped(**children):
  """Variables of a wrapper from its children's parameters (no init call)."""
  return {"params": dict(children)}


@functools.lru_cache(maxsize=None)
def _apply(module):
  return jax.jit(module.apply)


# ---------------------------------------------------------------------------
# GroupAveraged.


@pytest.mark.parametrize("average", ["logits", "probs"])
@pytest.mark.parametrize("group", [C4, D4], ids=lambda g: g.name)
@hypothesis.settings(max_examples=15)
@hypothesis.given(seed=SEEDS, g=st.integers(0, 7))
def test_group_averaged_is_invariant(group, average, seed, g):
  apply = _apply(wrappers.GroupAveraged(BASE, group, average))
  variables = _wrapped(module=_params(BASE))
  x = _images(seed)
  logits, features = apply(variables, x)
  assert logits.shape == (3, 5) and features.shape == (3, 8)
  moved = apply(variables, group.act(g % group.order, x))
  assert _maxdiff((logits, features), moved) < 1e-5


def test_group_averaged_equals_the_explicit_average():
  x = _images(1)
  base_vars = {"params": _params(BASE)}
  copies = [_apply(BASE)(base_vars, np.rot90(x, k, axes=(1, 2)))
            for k in range(4)]
  logits = jnp.stack([c[0] for c in copies])
  features = jnp.stack([c[1] for c in copies])
  wrapped_vars = _wrapped(module=_params(BASE))
  for average in ("logits", "probs"):
    out = _apply(wrappers.GroupAveraged(BASE, C4, average))(wrapped_vars, x)
    np.testing.assert_allclose(out[1], features.mean(0), atol=1e-6)
    if average == "logits":
      np.testing.assert_allclose(out[0], logits.mean(0), atol=1e-6)
    else:  # softmax of the output is the mean probability.
      np.testing.assert_allclose(jax.nn.softmax(out[0]),
                                 jax.nn.softmax(logits).mean(0), atol=1e-6)
      np.testing.assert_allclose(jax.nn.logsumexp(out[0], axis=-1), 0.0,
                                 atol=1e-6)


class _LinearPrior(nn.Module):
  """A prior-style module ``(x, z) -> sum_i z_i W_i flatten(x)``."""

  num_classes: int = 5
  index_dim: int = 3

  @nn.compact
  def __call__(self, x, z):
    w = self.param("w", nn.initializers.normal(1.0),
                   (self.index_dim, int(np.prod(x.shape[1:])),
                    self.num_classes))
    return jnp.einsum("bd,edc,e->bc", x.reshape((x.shape[0], -1)), w, z)


def test_group_averaged_prior_module_gets_z_unchanged():
  wrapped = wrappers.GroupAveraged(_LinearPrior(), C4)
  x, z = _images(2), jnp.array([0.3, -1.0, 2.0])
  variables = jax.jit(wrapped.init)(KEY, x, z)
  apply = jax.jit(wrapped.apply)
  out = apply(variables, x, z)
  assert out.shape == (3, 5)
  assert _maxdiff(out, apply(variables, C4.act(1, x), z)) < 1e-5
  np.testing.assert_allclose(  # Linear in z, like the prior it wraps.
      apply(variables, x, 2 * z), 2 * out, rtol=1e-5, atol=1e-5)


def test_group_averaged_inside_an_epinet():
  # Base, head (no raw inputs) and prior all invariant: the whole ENN is.
  x = _images(3, (4, 6, 6, 1))
  zs = jax.random.normal(KEY, (7, 3))
  enn = networks.make_epinet(
      wrappers.GroupAveraged(BASE, C4), num_classes=5, index_dim=3,
      include_inputs=False,
      prior=wrappers.GroupAveraged(_LinearPrior(), C4))
  variables = jax.jit(enn.init)(KEY, x, zs[0])
  apply_multi = jax.jit(enn.apply_multi)
  out = apply_multi(variables, x, zs)
  assert out.train.shape == out.prior.shape == (7, 4, 5)
  assert out.extra["features"].shape == (7, 4, 8)
  assert _maxdiff(out.preds, apply_multi(variables, C4.act(3, x),
                                         zs).preds) < 1e-5
  # The same weights with a prior that is not averaged: only the base and
  # the head stay invariant, the prior-driven uncertainty does not.
  enn = networks.make_epinet(wrappers.GroupAveraged(BASE, C4), num_classes=5,
                             index_dim=3, include_inputs=False,
                             prior=_LinearPrior())
  variables = dict(variables, prior=variables["prior"]["module"])
  apply_multi = jax.jit(enn.apply_multi)
  out, moved = apply_multi(variables, x, zs), apply_multi(
      variables, C4.act(1, x), zs)
  assert _maxdiff(out.train, moved.train) < 1e-5
  assert _maxdiff(out.prior, moved.prior) > 1e-3


def test_group_averaged_passes_train_through():
  module = wrappers.GroupAveraged(networks.MLP(5, (8,), dropout_rate=0.5),
                                  C4)
  x = _images(4)
  variables = _wrapped(module=_params(BASE))  # Same parameters as BASE.
  apply = jax.jit(module.apply, static_argnames="train")
  eval_out = apply(variables, x, train=False)[0]
  train_out = apply(variables, x, train=True,
                    rngs={"dropout": _key(1)})[0]
  assert _maxdiff(eval_out, train_out) > 1e-3
  with pytest.raises(Exception, match="dropout"):
    module.apply(variables, x, train=True)  # Needs the dropout stream.


def test_group_averaged_continuous_groups_sample_elements():
  module = wrappers.GroupAveraged(BASE, groups.SO2Sampled(), num_samples=3)
  x = _images(5)
  variables = _wrapped(module=_params(BASE))
  apply = jax.jit(module.apply)
  fixed = apply(variables, x)[0]  # No 'group' stream: fixed elements.
  np.testing.assert_array_equal(fixed, apply(variables, x)[0])
  a = apply(variables, x, rngs={"group": _key(1)})[0]
  b = apply(variables, x, rngs={"group": _key(2)})[0]
  assert a.shape == (3, 5) and _maxdiff(a, b) > 1e-4
  clouds = wrappers.GroupAveraged(MLP, groups.SO3(), num_samples=5)
  out = jax.jit(clouds.apply)(_wrapped(module=_params(MLP, CLOUD_SHAPE)),
                              _clouds(0))
  assert out[0].shape == (2, 4)


# ---------------------------------------------------------------------------
# Learned C4 canonicalizer.

CANONICALIZER = canon.CnCanonicalizer(C4, channels=(4, 4), kernel_size=3)
CANONICALIZED = wrappers.Canonicalized(BASE, CANONICALIZER)


def _canonicalized_vars():
  return _wrapped(module=_params(BASE), canonicalizer=_params(CANONICALIZER))


@hypothesis.settings(max_examples=20)
@hypothesis.given(seed=SEEDS, g=st.integers(0, 3))
def test_learned_canonicalizer_is_equivariant_and_model_invariant(seed, g):
  cvars, capply = {"params": _params(CANONICALIZER)}, _apply(CANONICALIZER)
  x = _images(seed)
  c, moved = capply(cvars, x), capply(cvars, C4.act(g, x))
  # h(g x) = g h(x); scores shift cyclically.
  np.testing.assert_array_equal(moved.elements, C4.compose(g, c.elements))
  np.testing.assert_allclose(moved.scores, jnp.roll(c.scores, g, axis=1),
                             atol=1e-5)
  # The forward value is exactly h(x)^{-1} x.
  for b in range(x.shape[0]):
    np.testing.assert_array_equal(
        c.inputs[b], C4.act(C4.inverse(int(c.elements[b])), x[b]))
  # Hence the wrapped model is invariant.
  apply, variables = _apply(CANONICALIZED), _canonicalized_vars()
  assert _maxdiff(apply(variables, x), apply(variables, C4.act(g, x))) < 1e-5


def test_straight_through_gradient_and_the_prior_loss():
  scores = jnp.array([[2.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
  expected = -np.mean(np.log([np.exp(2) / (np.exp(2) + 3),
                              1 / (np.e + 3)]))
  np.testing.assert_allclose(canon.canonicalization_prior_loss(scores),
                             expected, rtol=1e-6)
  x, y = _images(6), jnp.array([0, 3, 1])

  def losses(params):
    logits, state = CANONICALIZED.apply({"params": params}, x,
                                        mutable=["intermediates"])
    ce = optax.softmax_cross_entropy_with_integer_labels(logits[0], y).mean()
    # Scores are sown by Canonicalized.
    sown = state["intermediates"]["canonicalization_scores"][0]
    return ce, canon.canonicalization_prior_loss(sown), sown

  @jax.jit
  def step(params):
    ce_grads = jax.grad(lambda p: losses(p)[0])(params)
    (prior, sown), prior_grads = jax.value_and_grad(
        lambda p: losses(p)[1:], has_aux=True)(params)
    return ce_grads, prior, sown, prior_grads

  params = _canonicalized_vars()["params"]
  ce_grads, before, sown, prior_grads = step(params)
  # The straight-through gradient reaches the canonicalizer: finite, nonzero.
  leaves = jax.tree.leaves(ce_grads["canonicalizer"])
  assert all(bool(jnp.all(jnp.isfinite(g))) for g in leaves)
  assert float(optax.global_norm(ce_grads["canonicalizer"])) > 1e-6
  # A step on the prior loss favours the identity element.
  assert sown.shape == (3, 4)
  _, after, _, _ = step(jax.tree.map(lambda p, g: p - 0.5 * g, params,
                                     prior_grads))
  assert float(after) < float(before)


# ---------------------------------------------------------------------------
# Point clouds: PCA canonicalization and frame averaging.

POINT_MODELS = {
    "pca-SO3": wrappers.Canonicalized(MLP, canon.PCACanonicalizer(
        groups.SO3())),
    "pca-O3": wrappers.Canonicalized(MLP, canon.PCACanonicalizer(
        groups.O3())),
    "fa-SO3": wrappers.FrameAveraged(MLP, groups.SO3()),
    "fa-O3": wrappers.FrameAveraged(MLP, groups.O3(), average="probs"),
}


def _point_model(name):
  return (_apply(POINT_MODELS[name]),
          _wrapped(module=_params(MLP, CLOUD_SHAPE)))


@pytest.mark.parametrize("name", sorted(POINT_MODELS))
@hypothesis.settings(max_examples=15)
@hypothesis.given(seed=SEEDS, rseed=st.integers(0, 2**16))
def test_point_cloud_wrappers_are_invariant(name, seed, rseed):
  apply, variables = _point_model(name)
  group = groups.O3() if name.endswith("-O3") else groups.SO3()
  x = _clouds(seed)
  g = group.sample(_key(rseed), 1)[0]
  if group.name == "O3":
    g = -g if np.linalg.det(g) > 0 else g  # Always test a reflection.
  out = apply(variables, x)
  assert out[0].shape == (2, 4)
  assert _maxdiff(out, apply(variables, group.act(g, x))) < 1e-5


def test_pca_frames_are_equivariant_and_proper():
  x = _clouds(8)
  rs = groups.SO3().sample(_key(3), 5)
  frame_fn = jax.jit(functools.partial(canon.pca_frame, proper=True))
  frame = frame_fn(x)
  np.testing.assert_allclose(np.linalg.det(np.asarray(frame)), 1.0, atol=1e-5)
  for r in rs:
    np.testing.assert_allclose(frame_fn(groups.SO3().act(r, x)),
                               jnp.einsum("ij,bjk->bik", r, frame), atol=1e-4)
  frames = jax.jit(functools.partial(canon.sign_frames, proper=True))(x)
  assert frames.shape == (4, 2, 3, 3)
  np.testing.assert_allclose(np.linalg.det(np.asarray(frames)), 1.0,
                             atol=1e-5)
  assert jax.eval_shape(functools.partial(canon.sign_frames, proper=False),
                        x).shape == (8, 2, 3, 3)


def test_frame_averaging_survives_a_sign_ambiguous_cloud():
  # Mirror-symmetric along the first axis: its third moment is exactly 0,
  # so the PCA sign is decided by round-off; frame averaging does not care.
  half = np.random.default_rng(9).normal(size=(2, 6, 3)) * [3.0, 1.7, 0.6]
  x = np.concatenate([half, half * [-1.0, 1.0, 1.0]], axis=1)
  x = x.astype(np.float32)
  rs = groups.SO3().sample(_key(4), 10)
  errors = {}
  for name in ("fa-SO3", "pca-SO3"):
    apply, variables = _point_model(name)
    errors[name] = max(
        _maxdiff(apply(variables, x), apply(variables, groups.SO3().act(r, x)))
        for r in rs)
  assert errors["fa-SO3"] < 1e-5
  assert errors["pca-SO3"] > 1e-3  # The documented failure mode of PCA signs.


# ---------------------------------------------------------------------------
# P4CNN.

P4NET = p4.P4CNN(5, channels=(4, 4), dense_sizes=(8,))


@hypothesis.settings(max_examples=15)
@hypothesis.given(seed=SEEDS, k=st.integers(1, 3))
def test_p4cnn_is_invariant_to_quarter_turns(seed, k):
  apply, variables = _apply(P4NET), {"params": _params(P4NET)}
  x = _images(seed)
  logits, features = apply(variables, x)
  assert logits.shape == (3, 5) and features.shape == (3, 8)
  assert _maxdiff((logits, features),
                  apply(variables, np.rot90(x, k, axes=(1, 2)))) < 1e-5


def test_p4_layers_are_equivariant():
  x = _images(10, (2, 9, 9, 2))  # Odd size: SAME padding stays symmetric.
  lift = p4.LiftingConv(3, 5)
  lvars = {"params": _params(lift, x.shape)}
  y, y_rot = _apply(lift)(lvars, x), _apply(lift)(lvars,
                                                  np.rot90(x, 1, (1, 2)))
  # Rotating the input rotates every map and shifts the rotation axis.
  expected = jnp.roll(jnp.rot90(y, 1, axes=(1, 2)), 1, axis=-1)
  np.testing.assert_allclose(y_rot, expected, atol=1e-5)
  conv = p4.GroupConv(2, 3)
  cvars = {"params": _params(conv, y.shape)}
  np.testing.assert_allclose(
      _apply(conv)(cvars, expected),
      jnp.roll(jnp.rot90(_apply(conv)(cvars, y), 1, axes=(1, 2)), 1, axis=-1),
      atol=1e-5)


# ---------------------------------------------------------------------------
# Bad inputs.


def test_bad_wrapper_arguments_name_the_problem():
  with pytest.raises(InputError, match="average must be one of"):
    wrappers.GroupAveraged(BASE, C4, average="mean")
  with pytest.raises(InputError, match="average must be one of"):
    wrappers.FrameAveraged(MLP, average="median")
  with pytest.raises(InputError, match="num_samples must be a positive int"):
    wrappers.GroupAveraged(BASE, C4, num_samples=0)
  with pytest.raises(InputError, match="SO2 is a continuous group; set "
                     "num_samples"):
    wrappers.GroupAveraged(BASE, groups.SO2Sampled())
  with pytest.raises(InputError, match=r"expects a batch of images of shape "
                     r"\[batch, height, width, channels\]; got shape "
                     r"\(3, 8, 8\)"):
    wrappers.GroupAveraged(BASE, C4).init(KEY, jnp.zeros((3, 8, 8)))
  with pytest.raises(InputError, match="needs group SO3"):
    wrappers.FrameAveraged(MLP, C4)
  with pytest.raises(InputError, match="point clouds of shape"):
    wrappers.FrameAveraged(MLP).init(KEY, jnp.zeros((2, 8, 8, 1)))
  with pytest.raises(InputError, match="point clouds of shape"):
    canon.PCACanonicalizer().init(KEY, jnp.zeros((2, 8, 2)))
  with pytest.raises(InputError, match=r"n in \(1, 2, 4\)"):
    canon.CnCanonicalizer(groups.CyclicGroup(8))
  with pytest.raises(InputError, match="divisible by downsample=2"):
    canon.CnCanonicalizer().init(KEY, jnp.zeros((1, 9, 9, 1)))
  with pytest.raises(InputError, match="scores must have shape"):
    canon.canonicalization_prior_loss(jnp.zeros(4))
  with pytest.raises(InputError, match="square images"):
    p4.P4CNN(5).init(KEY, jnp.zeros((1, 8, 6, 1)))
  with pytest.raises(InputError, match="n must be 1, 2 or 4"):
    p4.GroupConv(2, 3, n=3).init(KEY, jnp.zeros((1, 5, 5, 1, 3)))
  with pytest.raises(InputError, match="kernel_size must be an odd"):
    p4.LiftingConv(2, 4).init(KEY, jnp.zeros((1, 5, 5, 1)))

  class ReturnsDict(nn.Module):

    def __call__(self, x):
      return {"logits": x.reshape((x.shape[0], -1))}

  with pytest.raises(TypeError, match="must return logits or a tuple"):
    wrappers.GroupAveraged(ReturnsDict(), C4).init(KEY, jnp.zeros((1, 4, 4,
                                                                  1)))
