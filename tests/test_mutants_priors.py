"""Tests that kill mutants of enn_sym/networks/_priors.py.

Written against scripts/mutation_test.py survivors. Each prior's output is
recomputed from its own initialised parameters with plain numpy (an
independent implementation of the documented formula), and each documented
initialisation scale is checked statistically on a large draw.
"""

import dataclasses
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from enn_sym import networks as nw
from enn_sym.networks import _priors

RNG = np.random.default_rng(0)
X = jnp.asarray(RNG.normal(size=(5, 3)), jnp.float32)
Z = jnp.asarray([0.7, -1.3], jnp.float32)


def _relu(h):
  return np.maximum(h, 0.0)


def _np(tree):
  return jax.tree.map(np.asarray, tree)


def test_mlp_prior_second_moment_hand_values():
  # 2 * index_dim * m / 2^L (docstring): L=1, index_dim=8 -> 8; the default
  # input second moment is 1.
  assert _priors.mlp_prior_second_moment(1, 8) == pytest.approx(8.0)
  assert _priors.mlp_prior_second_moment(2, 8) == pytest.approx(4.0)
  assert _priors.mlp_prior_second_moment(0, 3, 2.0) == pytest.approx(12.0)


def test_mlp_ensemble_prior_matches_numpy():
  prior = _priors.MLPEnsemblePrior(num_classes=4, index_dim=2,
                                   hidden_sizes=(6, 5), bias_std=0.5,
                                   input_bias_std=2.0)
  variables = prior.init(jax.random.key(1), X, Z)
  p = _np(variables["params"])
  layers = [p[f"EnsembleDense_{i}"] for i in range(3)]
  assert layers[0]["kernel"].shape == (2, 3, 6)
  assert layers[1]["kernel"].shape == (2, 6, 5)
  assert layers[2]["kernel"].shape == (2, 5, 4)
  x = np.asarray(X)
  want = np.zeros((5, 4))
  for e in range(2):
    h = _relu(x @ layers[0]["kernel"][e] + layers[0]["bias"][e])
    h = _relu(h @ layers[1]["kernel"][e] + layers[1]["bias"][e])
    want += float(Z[e]) * (h @ layers[2]["kernel"][e] + layers[2]["bias"][e])
  np.testing.assert_allclose(np.asarray(prior.apply(variables, X, Z)), want,
                             rtol=1e-5, atol=1e-5)
  # All biases are random here (bias_std > 0 and input_bias_std > 0).
  assert all(np.all(layer["bias"] != 0) for layer in layers)


def test_mlp_ensemble_bias_scales_first_layer_and_later_layers():
  x = jnp.ones((2, 4))
  z = jnp.ones(64)

  def bias_stds(**kw):
    prior = _priors.MLPEnsemblePrior(num_classes=64, index_dim=64,
                                     hidden_sizes=(64,), **kw)
    p = prior.init(jax.random.key(0), x, z)["params"]
    return [float(np.asarray(p[f"EnsembleDense_{i}"]["bias"]).std())
            for i in range(2)]

  first, later = bias_stds(bias_std=0.0, input_bias_std=2.0)
  assert abs(first - 2.0) < 0.1 and later == 0.0
  first, later = bias_stds(bias_std=0.5)  # input_bias_std defaults to it.
  assert abs(first - 0.5) < 0.03 and abs(later - 0.5) < 0.03
  # No hidden layer: the only (first) layer takes input_bias_std.
  prior = _priors.MLPEnsemblePrior(num_classes=64, index_dim=64,
                                   hidden_sizes=(), bias_std=0.0,
                                   input_bias_std=3.0)
  p = prior.init(jax.random.key(0), x, z)["params"]
  assert p["EnsembleDense_0"]["kernel"].shape == (64, 4, 64)
  assert abs(float(np.asarray(p["EnsembleDense_0"]["bias"]).std()) - 3.0) < 0.15


def test_ensemble_dense_matches_numpy_and_takes_member_inputs():
  layer = _priors.EnsembleDense(num_members=3, features=2, bias_std=1.0)
  h = jnp.asarray(RNG.normal(size=(4, 3, 5)), jnp.float32)
  p = _np(layer.init(jax.random.key(0), h)["params"])
  want = np.einsum("bei,eio->beo", np.asarray(h), p["kernel"]) + p["bias"]
  np.testing.assert_allclose(np.asarray(layer.apply({"params": p}, h)), want,
                             rtol=1e-5, atol=1e-6)
  shared = _priors.EnsembleDense(num_members=3, features=2, shared_input=True,
                                 bias_std=1.0)
  p = _np(shared.init(jax.random.key(0), X)["params"])
  want = np.einsum("bi,eio->beo", np.asarray(X), p["kernel"]) + p["bias"]
  np.testing.assert_allclose(np.asarray(shared.apply({"params": p}, X)), want,
                             rtol=1e-5, atol=1e-6)


def test_factories_pass_their_defaults_and_validate_bias():
  mlp = nw.make_prior("mlp_ensemble", num_classes=3, index_dim=2)
  assert (mlp.bias_std, mlp.input_bias_std) == (0.0, None)  # zero biases.
  assert nw.make_prior("mlp_ensemble", num_classes=3, index_dim=2,
                       bias_std=0.0).bias_std == 0.0
  for bad in ({"bias_std": -0.1}, {"input_bias_std": -1.0},
              {"bias_std": float("nan")}):
    with pytest.raises(ValueError, match="must be >= 0"):
      nw.make_prior("mlp_ensemble", num_classes=3, index_dim=2, **bad)
  assert nw.make_prior("mlp_ensemble", num_classes=3, index_dim=2,
                       input_bias_std=0.0).input_bias_std == 0.0


@pytest.mark.parametrize("name, cls", [
    ("mlp_ensemble", _priors.MLPEnsemblePrior),
    ("conv_ensemble", _priors.ConvEnsemblePrior),
    ("random_features", _priors.RandomFeaturePrior),
    ("mlp_ensemble_v0_1_0", _priors.MLPEnsemblePriorV010)])
def test_registered_factory_defaults_agree_with_the_module_defaults(name, cls):
  # prior="<name>" in a config and the module built directly must be the
  # same prior: every option has the same default in both places.
  factory = inspect.signature(nw.get_prior(name)).parameters
  fields = {f.name: f.default for f in dataclasses.fields(cls)
            if f.default is not dataclasses.MISSING}
  shared = [k for k in factory if k in fields]
  assert shared, name
  for key in shared:
    assert factory[key].default == fields[key], (name, key)
  built = nw.make_prior(name, num_classes=3, index_dim=2)
  for key in shared:
    assert getattr(built, key) == fields[key], (name, key)


def test_random_feature_prior_matches_numpy_and_scales():
  prior = _priors.RandomFeaturePrior(num_classes=3, index_dim=2,
                                     num_features=8, lengthscale=0.5)
  x = jnp.asarray(RNG.normal(size=(5, 2, 2)), jnp.float32)  # flattened: d=4
  variables = prior.init(jax.random.key(2), x, Z)
  p = _np(variables["params"])
  h = np.asarray(x).reshape(5, 4)
  phi = np.sqrt(2.0 / 8) * np.cos(h @ p["w"] / np.sqrt(4) + p["b"])
  want = np.einsum("bf,efc,e->bc", phi, p["readout"], np.asarray(Z))
  np.testing.assert_allclose(np.asarray(prior.apply(variables, x, Z)), want,
                             rtol=1e-5, atol=1e-5)
  big = _priors.RandomFeaturePrior(num_classes=2, index_dim=1,
                                   num_features=4096, lengthscale=0.5)
  p = big.init(jax.random.key(0), jnp.ones((1, 4)), jnp.ones(1))["params"]
  assert abs(float(np.asarray(p["w"]).std()) - 2.0) < 0.05  # 1/lengthscale.
  b = np.asarray(p["b"])
  assert b.min() >= 0 and b.max() <= 2 * np.pi and abs(b.mean() - np.pi) < 0.1
  assert abs(float(np.asarray(p["readout"]).std()) - 1.0) < 0.05


def test_v010_prior_matches_numpy_and_its_documented_scales():
  prior = _priors.MLPEnsemblePriorV010(num_classes=4, index_dim=2,
                                       hidden_sizes=(6, 5))
  variables = prior.init(jax.random.key(3), X, Z)
  p = _np(variables["params"])
  assert p["kernel_0"].shape == (2, 3, 6) and p["bias_2"].shape == (2, 4)
  x = np.asarray(X)
  want = np.zeros((5, 4))
  for e in range(2):
    h = _relu(x @ p["kernel_0"][e] + p["bias_0"][e])
    h = _relu(h @ p["kernel_1"][e] + p["bias_1"][e])
    want += float(Z[e]) * (h @ p["kernel_2"][e] + p["bias_2"][e])
  np.testing.assert_allclose(np.asarray(prior.apply(variables, X, Z)), want,
                             rtol=1e-5, atol=1e-5)
  # Kernel variance 1 / (index_dim * fan_in), biases N(0, 1) (docstring).
  big = _priors.MLPEnsemblePriorV010(num_classes=64, index_dim=16,
                                     hidden_sizes=())
  p = big.init(jax.random.key(0), jnp.ones((1, 32)), jnp.ones(16))["params"]
  assert abs(float(np.asarray(p["kernel_0"]).std()) * np.sqrt(16 * 32)
             - 1.0) < 0.05
  assert abs(float(np.asarray(p["bias_0"]).std()) - 1.0) < 0.05


def _conv_same_stride2(h, kernel, bias):
  """numpy 3x3 'SAME' convolution with stride 2 (NHWC, HWIO kernel)."""
  b, hh, ww, _ = h.shape
  out_h, out_w = -(-hh // 2), -(-ww // 2)
  # SAME padding for k=3, s=2: total pad = max(3 - s + (n - 1) % s ... )
  pad_h = max((out_h - 1) * 2 + 3 - hh, 0)
  pad_w = max((out_w - 1) * 2 + 3 - ww, 0)
  padded = np.pad(h, ((0, 0), (pad_h // 2, pad_h - pad_h // 2),
                      (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
  out = np.zeros((b, out_h, out_w, kernel.shape[-1]))
  for i in range(out_h):
    for j in range(out_w):
      patch = padded[:, 2 * i:2 * i + 3, 2 * j:2 * j + 3, :]
      out[:, i, j, :] = np.einsum("bhwc,hwco->bo", patch, kernel)
  return out + bias


def test_conv_ensemble_prior_matches_numpy():
  prior = _priors.ConvEnsemblePrior(num_classes=3, index_dim=2,
                                    channels=(2, 3))
  x = jnp.asarray(RNG.normal(size=(2, 5, 6, 1)), jnp.float32)
  variables = prior.init(jax.random.key(4), x, Z)
  p = _np(variables["params"])
  (members,) = p.values()
  want = np.zeros((2, 3))
  for e in range(2):
    m = jax.tree.map(lambda a: a[e], members)  # pylint: disable=cell-var-from-loop
    h = _relu(_conv_same_stride2(np.asarray(x), m["Conv_0"]["kernel"],
                                 m["Conv_0"]["bias"]))
    h = _relu(_conv_same_stride2(h, m["Conv_1"]["kernel"],
                                 m["Conv_1"]["bias"]))
    h = h.mean(axis=(1, 2))
    want += float(Z[e]) * (h @ m["Dense_0"]["kernel"] + m["Dense_0"]["bias"])
  np.testing.assert_allclose(np.asarray(prior.apply(variables, x, Z)), want,
                             rtol=1e-4, atol=1e-5)
  # The read-out bias is N(0, 1) (random, so the members differ at x = 0),
  # and the members are independent draws.
  assert np.all(members["Dense_0"]["bias"] != 0)
  for name in ("Conv_0", "Conv_1", "Dense_0"):
    kernel = members[name]["kernel"]
    assert not np.allclose(kernel[0], kernel[1])


def test_mlp_prior_class_defaults_are_zero_bias():
  # Docstring: "all biases are zero by default".
  prior = _priors.MLPEnsemblePrior(num_classes=3, index_dim=2)
  p = prior.init(jax.random.key(0), X, Z)["params"]
  assert len(p) >= 2
  assert not any(np.any(np.asarray(p[k]["bias"])) for k in p)
  layer = _priors.EnsembleDense(num_members=2, features=3)
  assert not np.any(np.asarray(
      layer.init(jax.random.key(0), jnp.ones((1, 2, 4)))["params"]["bias"]))


def test_mlp_prior_second_moment_matches_a_monte_carlo_estimate():
  # E_z[(f_1 - f_0)^2] = sum_k (g_k1 - g_k0)^2 for z ~ N(0, I): evaluate each
  # member g_k with z = e_k and average over inputs and logit pairs.
  index_dim, dim = 8, 16
  prior = _priors.MLPEnsemblePrior(num_classes=64, index_dim=index_dim,
                                   hidden_sizes=(256,))
  x = jnp.asarray(np.random.default_rng(5).normal(size=(256, dim)),
                  jnp.float32)
  variables = prior.init(jax.random.key(0), x, jnp.ones(index_dim))
  eye = jnp.eye(index_dim)
  g = np.stack([np.asarray(prior.apply(variables, x, eye[k]))
                for k in range(index_dim)])  # [K, B, C]
  diff = g[:, :, 1::2] - g[:, :, 0::2]
  estimate = float(np.mean(np.sum(diff ** 2, axis=0)))
  assert estimate == pytest.approx(
      _priors.mlp_prior_second_moment(1, index_dim), rel=0.15)


def test_register_a_new_name_without_overwrite_and_refuse_a_taken_one():
  name = "test_mutants_new_prior"
  factory = lambda num_classes, index_dim: None  # noqa: E731
  try:
    assert nw.register_prior(name)(factory) is factory
    assert nw.list_priors() == tuple(sorted(nw.list_priors()))
    assert name in nw.list_priors() and nw.get_prior(name) is factory
    with pytest.raises(ValueError, match="already registered"):
      nw.register_prior(name)(factory)
    other = lambda num_classes, index_dim: 1  # noqa: E731
    nw.register_prior(name, overwrite=True)(other)
    assert nw.get_prior(name) is other
  finally:
    _priors._REGISTRY.pop(name, None)  # pylint: disable=protected-access
