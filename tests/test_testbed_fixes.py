"""Guards for the fixes the testbed found: prior scale and index bootstrap.

Each test fails on version 0.1.0's behaviour (still reachable as the prior
``mlp_ensemble_v0_1_0`` and the bootstrap rule ``hash_v0_1_0``).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from enn_sym import losses
from enn_sym import networks as nw

X = jax.random.normal(jax.random.key(1), (400, 10))


def _prior_stats(name, hidden, num_inits=60, **kwargs):
  """E[d^2] and the share of it that varies with x, d = logit_1 - logit_0."""
  prior = nw.make_prior(name, num_classes=2, index_dim=8,
                        hidden_sizes=hidden, **kwargs)

  def one(key):
    variables = prior.init(key, X, jnp.zeros(8))
    zs = jax.random.normal(jax.random.fold_in(key, 7), (16, 8))
    out = jax.vmap(lambda z: prior.apply(variables, X, z))(zs)
    d = out[..., 1] - out[..., 0]
    return jnp.mean(d ** 2), jnp.mean(jnp.var(d, axis=1))

  m, var_x = jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(0),
                                                     num_inits))
  return float(m.mean()), float(var_x.mean() / m.mean())


@pytest.mark.parametrize("hidden", [(10,), (5, 5)])
def test_mlp_ensemble_prior_logit_spread_matches_its_target(hidden):
  target = nw.mlp_prior_second_moment(len(hidden), 8)
  assert target == pytest.approx(8.0 if len(hidden) == 1 else 4.0)
  m, x_share = _prior_stats("mlp_ensemble", hidden)
  assert abs(m / target - 1.0) < 0.15
  # Zero biases: most of the logit difference varies with x.
  assert x_share > 0.5
  # Version 0.1.0 misses the target and is mostly constant in x.
  old_m, old_share = _prior_stats("mlp_ensemble_v0_1_0", hidden)
  assert abs(old_m / target - 1.0) > 0.5 and old_share < 0.05


def test_mlp_ensemble_prior_biases_and_member_kernels():
  prior = nw.make_prior("mlp_ensemble", num_classes=2, index_dim=50,
                        hidden_sizes=(40,))
  params = prior.init(jax.random.key(0), X, jnp.zeros(50))["params"]
  assert not any(np.any(v["bias"]) for v in params.values())
  # Each member's kernel has std 1/sqrt(fan_in) (not 1/sqrt(50 * fan_in)).
  std = float(jnp.std(params["EnsembleDense_0"]["kernel"]))
  assert abs(std * np.sqrt(10) - 1.0) < 0.05
  custom = nw.make_prior("mlp_ensemble", num_classes=2, index_dim=50,
                         hidden_sizes=(40,), bias_std=0.5, input_bias_std=0.1)
  p = custom.init(jax.random.key(0), X, jnp.zeros(50))["params"]
  assert abs(float(jnp.std(p["EnsembleDense_0"]["bias"])) - 0.1) < 0.02
  assert abs(float(jnp.std(p["EnsembleDense_1"]["bias"])) - 0.5) < 0.1
  with pytest.raises(ValueError, match="bias_std must be >= 0"):
    nw.make_prior("mlp_ensemble", num_classes=2, index_dim=2, bias_std=-1.0)


def _b(index, seed, d, salt=None):
  def one(i):
    key = jax.random.key(i + seed)
    if salt is not None:
      key = jax.random.fold_in(key, salt)
    return np.asarray(jax.random.normal(key, (d,))) / np.sqrt(d)
  return np.stack([one(int(i)) for i in index])


def test_gaussian_index_bernoulli_is_one_plus_sign_of_b_dot_z():
  index = np.arange(64)
  z = np.asarray(jax.random.normal(jax.random.key(3), (8,)))
  w = losses.bootstrap_weights("bernoulli", jnp.asarray(index),
                               jnp.asarray(z), seed=5)
  np.testing.assert_array_equal(w, 1.0 + np.sign(_b(index, 5, 8) @ z))
  exp_w = losses.bootstrap_weights("exponential", jnp.asarray(index),
                                   jnp.asarray(z), seed=5)
  ref = 0.5 * ((_b(index, 5, 8) @ z) ** 2 + (_b(index, 5, 8, 666) @ z) ** 2)
  np.testing.assert_allclose(exp_w, ref, rtol=1e-4)


def test_integer_index_weights_use_the_data_index_key():
  index = np.arange(32)
  w = losses.bootstrap_weights("exponential", jnp.asarray(index),
                               jnp.int32(3), seed=2)
  ref = [float(jax.random.exponential(jax.random.fold_in(
      jax.random.key(i + 2), 3))) for i in index]
  np.testing.assert_allclose(w, ref, rtol=1e-6)


def _agreement(rule):
  index = jnp.arange(4000)
  z = jax.random.normal(jax.random.key(1), (8,))
  near = z + 0.05 * jax.random.normal(jax.random.key(2), (8,))
  far = jax.random.normal(jax.random.key(9), (8,))
  w = lambda v: losses.bootstrap_weights("bernoulli", index, v, rule=rule)
  return (float(jnp.mean(w(z) == w(near))), float(jnp.mean(w(z) == w(far))),
          float(jnp.mean(w(z) == w(3.0 * z))))


def test_gaussian_index_weights_are_a_function_of_the_index():
  near, far, scaled = _agreement("index")
  assert near > 0.9 and 0.3 < far < 0.7 and scaled == 1.0
  old_near, _, old_scaled = _agreement("hash_v0_1_0")
  assert old_near < 0.7 and old_scaled < 0.7


@pytest.mark.parametrize("kind", losses.BOOTSTRAP_KINDS)
def test_gaussian_index_weights_have_mean_one(kind):
  zs = jax.random.normal(jax.random.key(4), (64, 8))
  w = jax.vmap(lambda z: losses.bootstrap_weights(
      kind, jnp.arange(500), z, p=0.3 if kind == "bernoulli" else 0.5))(zs)
  assert abs(float(w.mean()) - 1.0) < 0.08 and float(w.min()) >= 0
  with pytest.raises(ValueError, match="bootstrap rule must be one of"):
    losses.bootstrap_weights(kind, jnp.arange(3), zs[0], rule="nope")
