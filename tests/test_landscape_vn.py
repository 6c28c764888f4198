"""The VN-MLP quotient: each parameter symmetry, its undoing, its labels."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from enn_sym import data
from enn_sym import landscape as ls
from enn_sym import networks
from enn_sym import symmetry
from enn_sym._validation import InputError

_MODEL = symmetry.VNMLPClassifier(8, hidden=(4, 3), head_hidden=(6,))


@pytest.fixture(scope="module")
def trained():
  """A briefly trained VN-MLP (flat params), its data and its FlatModel."""
  ds = data.tetris_dataset(1, seed=0, rotate="so3", noise=0.05)
  x, y = jnp.asarray(ds.points), jnp.asarray(ds.labels)
  flat = ls.flatten_module(_MODEL, x)
  obj = ls.make_objective(flat.apply, x, y, calibration="none",
                          nll_weight=1.0)
  opt = optax.adam(1e-2)
  theta = flat.init(jax.random.key(1))

  def step(carry, _):
    th, st = carry
    g = jax.grad(obj.loss)(th)
    upd, st = opt.update(g, st)
    return (optax.apply_updates(th, upd), st), None

  (theta, _), _ = jax.jit(lambda th: jax.lax.scan(
      step, (th, opt.init(th)), None, length=100))(theta)
  assert float(obj.loss(theta)) < np.log(8) - 0.3  # it learned something
  return np.asarray(theta), np.asarray(x), flat


_APPLY = jax.jit(lambda p, x: _MODEL.apply({"params": p}, x)[0])


def _logits(params, vn, x):
  """Logits of ``vn`` written into ``params`` (the layers run in float32)."""
  return np.asarray(_APPLY(ls.with_vn_layers(params, vn), x), np.float64)


_TOL = 1e-5  # float32 rounding of the forward pass, relative to max |logit|


def _random_invertible(rng, sign):
  g = rng.standard_normal((3, 3))
  return g * sign * np.sign(np.linalg.det(g))


def _transform(vn, kind, rng):
  if kind == "vn_permutation":
    return ls.vn_permute(vn, {("vn", 0): rng.permutation(4),
                              ("vn", 1): rng.permutation(3)})
  if kind == "positive_rescaling":
    out = ls.vn_scale_channels(vn, 0, rng.uniform(0.2, 5.0, 4))
    return ls.vn_scale_channels(out, 1, rng.uniform(0.2, 5.0, 3))
  if kind == "sign_flip":
    return ls.vn_scale_channels(vn, 1, np.array([1.0, -1.0, -1.0]))
  if kind == "frame_det_plus":
    return ls.vn_transform_frame(vn, _random_invertible(rng, 1.0))
  if kind == "frame_det_minus":
    return ls.vn_transform_frame(vn, _random_invertible(rng, -1.0))
  if kind == "head_permutation":
    return ls.vn_permute(vn, {("head", 0): rng.permutation(6)})
  if kind == "head_rescaling":
    return ls.vn_scale_head(vn, 0, rng.uniform(0.2, 5.0, 6))
  assert kind == "all"
  for k in ("positive_rescaling", "sign_flip", "frame_det_minus",
            "head_rescaling", "vn_permutation", "head_permutation"):
    vn = _transform(vn, k, rng)
  return vn


_KINDS = ("vn_permutation", "positive_rescaling", "sign_flip",
          "frame_det_plus", "frame_det_minus", "head_permutation",
          "head_rescaling", "all")


@pytest.mark.parametrize("kind", _KINDS)
@pytest.mark.slow  # the trained fixture: ~15 s on 2 shared cores
def test_symmetry_keeps_logits_and_the_quotient_maps_it_back(trained, kind):
  theta, x, flat = trained
  params = jax.tree.map(np.asarray, flat.unravel(jnp.asarray(theta)))
  vn = ls.vn_layers(params)
  moved = _transform(vn, kind, np.random.default_rng(_KINDS.index(kind)))
  base = _logits(params, vn, x)
  scale = np.abs(base).max()
  np.testing.assert_allclose(_logits(params, moved, x), base, rtol=0,
                             atol=_TOL * scale)
  assert ls.vn_distance(vn, moved) > 1e-2  # a real move in parameter space
  # The canonical points agree after weight matching.
  ca, _ = ls.vn_canonicalize(vn)
  cb, _ = ls.vn_canonicalize(moved)
  cb = ls.vn_permute(cb, ls.vn_weight_matching(ca, cb))
  assert ls.vn_distance(ca, cb) < 1e-4
  np.testing.assert_allclose(_logits(params, ca, x), base, rtol=0,
                             atol=_TOL * scale)
  # The same through the flat-vector aligner (float32 parameters).
  theta_b = np.asarray(jax.flatten_util.ravel_pytree(
      ls.with_vn_layers(params, moved))[0])
  a2, b2 = ls.make_vn_aligner(flat.unravel)(theta, theta_b)
  assert np.linalg.norm(a2 - b2) / np.linalg.norm(a2) < 1e-4
  np.testing.assert_allclose(flat.apply(jnp.asarray(a2), x),
                             flat.apply(jnp.asarray(theta), x), rtol=0,
                             atol=_TOL * scale)


@pytest.mark.slow
def test_labels_flip_exactly_with_the_discrete_factors(trained):
  theta, _, flat = trained
  params = jax.tree.map(np.asarray, flat.unravel(jnp.asarray(theta)))
  vn = ls.vn_layers(params)
  rng = np.random.default_rng(0)
  _, base = ls.vn_canonicalize(vn)
  assert ls.vn_label(flat.unravel, theta) == base
  for kind in ("positive_rescaling", "frame_det_plus", "head_rescaling",
               "head_permutation"):
    assert ls.vn_canonicalize(_transform(vn, kind, rng))[1] == base, kind
  flipped = ls.vn_canonicalize(_transform(vn, "sign_flip", rng))[1]
  assert flipped.channel_signs[0] == base.channel_signs[0]
  expected = tuple(s * f for s, f in zip(base.channel_signs[1], (1, -1, -1)))
  assert flipped.channel_signs[1] == expected
  assert flipped.frame_sign == base.frame_sign
  mirrored = ls.vn_canonicalize(_transform(vn, "frame_det_minus", rng))[1]
  assert mirrored.frame_sign == -base.frame_sign
  assert mirrored.channel_signs == base.channel_signs
  p = np.array([2, 0, 1])
  permuted = ls.vn_canonicalize(ls.vn_permute(vn, {("vn", 1): p}))[1]
  assert permuted.channel_signs[1] == tuple(np.asarray(
      base.channel_signs[1])[p].tolist())
  assert str(base).endswith(("|F+", "|F-")) and str(base).count("|") == 2


@pytest.mark.slow
def test_non_symmetries_change_the_logits(trained):
  # Guards that the invariance checks above can fail: a direction sign flip
  # without the feature flip, and mixing two channels, are not symmetries.
  theta, x, flat = trained
  params = jax.tree.map(np.asarray, flat.unravel(jnp.asarray(theta)))
  vn = ls.vn_layers(params)
  base = _logits(params, vn, x)
  mixed = vn.copy()
  mixed.direction[0][:, 1] *= -1.0
  mixing = vn.copy()
  m = np.eye(4)
  m[0, 1] = 0.7
  mixing.linear[0] = mixing.linear[0] @ m
  mixing.linear[1] = (mixing.linear[1].reshape(2, 4, 3)
                      .transpose(0, 2, 1) @ np.linalg.inv(m).T).transpose(
                          0, 2, 1).reshape(8, 3)
  for bad in (mixed, mixing):
    assert np.abs(_logits(params, bad, x) - base).max() > 1e-3 * np.abs(
        base).max()


@pytest.mark.slow
def test_direction_rescaling_is_an_epsilon_symmetry(trained):
  theta, x, flat = trained
  params = jax.tree.map(np.asarray, flat.unravel(jnp.asarray(theta)))
  vn = ls.vn_layers(params)
  moved = ls.vn_scale_channels(vn, 0, np.ones(4),
                               np.array([0.5, 2.0, 1.5, 0.8]))
  base = _logits(params, vn, x)
  err = np.abs(_logits(params, moved, x) - base).max() / np.abs(base).max()
  assert err < 1e-2  # limited by the layer's eps = 1e-6 in |k|^2 + eps
  ca, _ = ls.vn_canonicalize(vn, direction_rescale=True)
  cb, _ = ls.vn_canonicalize(moved, direction_rescale=True)
  assert ls.vn_distance(ca, cb) < 1e-4
  # Without it the directions stay apart (the default quotient is exact).
  ua = ls.vn_canonicalize(vn)[0].direction[0]
  ub = ls.vn_canonicalize(moved)[0].direction[0]
  assert np.linalg.norm(ua - ub) > 0.1 * np.linalg.norm(ua)


@pytest.mark.slow
def test_vn_quotient_bad_input():
  x = jnp.asarray(data.tetris_dataset(1, seed=0).points)
  for kw, match in ((dict(chiral=True), "chiral"),
                    (dict(readout="pool_then_invariant", pooling="max"),
                     "pooling='mean'"),
                    (dict(share_direction=True), "share_direction")):
    module = symmetry.VNMLPClassifier(8, hidden=(3,), head_hidden=(4,), **kw)
    params = module.init(jax.random.key(0), x)["params"]
    with pytest.raises(InputError, match=match):
      ls.vn_layers(params)
  mlp = networks.MLP(3, hidden_sizes=(4,)).init(jax.random.key(0),
                                                jnp.zeros((1, 5)))
  with pytest.raises(InputError, match="linear_0"):
    ls.vn_layers(mlp["params"])
  vn = ls.vn_layers(_MODEL.init(jax.random.key(0), x)["params"])
  with pytest.raises(InputError, match="nonzero"):
    ls.vn_scale_channels(vn, 0, np.array([1.0, 0.0, 1.0, 1.0]))
  with pytest.raises(InputError, match="invertible"):
    ls.vn_transform_frame(vn, np.zeros((3, 3)))
  with pytest.raises(InputError, match="permutation"):
    ls.vn_permute(vn, {("vn", 0): np.array([0, 0, 1, 2])})
