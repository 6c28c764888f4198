"""Tests of the ENN interface, networks, priors and the prior registry."""

import flax.linen as nn
import hypothesis
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import enn_sym
from enn_sym import base as base_lib
from enn_sym import networks as nw

IMAGES = jax.random.uniform(jax.random.key(0), (6, 12, 12, 1))
VECTORS = jax.random.normal(jax.random.key(1), (6, 7))


def _init(enn, x, seed=0):
  key = jax.random.key(seed)
  return enn.init(key, x, enn.indexer(key))


@pytest.mark.parametrize("prior", ["mlp_ensemble", "conv_ensemble",
                                   "random_features", None])
def test_epinet_shapes_and_apply_multi_matches_loop(prior):
  enn = nw.make_epinet(nw.LeNet(5, channels=(3, 4), dense_sizes=(8,)),
                       num_classes=5, index_dim=4, hidden_sizes=(6,),
                       prior=prior)
  variables = _init(enn, IMAGES)
  assert ("prior" in variables) == (prior is not None)
  zs = enn.sample_indices(jax.random.key(3), 3)
  assert zs.shape == (3, 4)
  multi = enn.apply_multi(variables, IMAGES, zs)
  assert multi.preds.shape == (3, 6, 5)
  for k in range(3):
    one = enn.apply(variables, IMAGES, zs[k])
    np.testing.assert_allclose(multi.preds[k], one.preds, rtol=1e-5,
                               atol=1e-5)
  # The base logits do not depend on the index.
  np.testing.assert_allclose(multi.extra["base_logits"][0],
                             multi.extra["base_logits"][2])


def test_epinet_output_is_base_plus_head_plus_scaled_prior():
  base = nw.MLP(3, hidden_sizes=(5,))
  enn = nw.make_epinet(base, num_classes=3, index_dim=2, prior_scale=2.5)
  variables = _init(enn, VECTORS)
  z = jnp.array([0.3, -1.2])
  out = enn.apply(variables, VECTORS, z)
  base_logits, _ = base.apply({"params": variables["params"]["base"]}, VECTORS)
  np.testing.assert_allclose(out.extra["base_logits"], base_logits,
                             rtol=1e-6)
  # Epinet head and prior are linear in z; z = 0 leaves the base alone.
  zero = enn.apply(variables, VECTORS, jnp.zeros(2))
  np.testing.assert_allclose(zero.preds, base_logits, rtol=1e-6, atol=1e-6)
  no_scale = nw.make_epinet(base, num_classes=3, index_dim=2, prior_scale=1.0)
  np.testing.assert_allclose(
      out.prior, 2.5 * no_scale.apply(variables, VECTORS, z).prior, rtol=1e-6)


def test_base_runs_once_under_apply_multi():
  """The cost model: no convolution or base dense layer is batched over K."""
  enn = nw.make_epinet(nw.LeNet(5, channels=(3, 4), dense_sizes=(8,)),
                       num_classes=5, index_dim=4, prior="conv_ensemble")
  variables = _init(enn, IMAGES)
  zs = enn.sample_indices(jax.random.key(0), 7)

  def convs(fn, *args):
    jaxpr = jax.make_jaxpr(fn)(*args)
    found = []

    def walk(jp):
      for eqn in jp.eqns:
        if eqn.primitive.name == "conv_general_dilated":
          found.append(eqn.invars[0].aval.shape)
        for sub in jax.core.jaxprs_in_params(eqn.params):
          walk(sub)

    walk(jaxpr.jaxpr)
    return found

  multi = convs(lambda v, x, z: enn.apply_multi(v, x, z).preds, variables,
                IMAGES, zs)
  single = convs(lambda v, x, z: enn.apply(v, x, z).preds, variables, IMAGES,
                 zs[0])
  assert multi and multi == single  # Same convolutions, none of size K*batch.


def test_ensemble_equals_independent_models():
  base = nw.MLP(4, hidden_sizes=(6,))
  n = 3
  enn = nw.make_ensemble(base, num_classes=4, num_ensemble=n)
  key = jax.random.key(42)
  variables = enn.init(key, VECTORS, 0)
  member_keys = jax.random.split(jax.random.fold_in(key, 0), n)
  outs = enn.apply_multi(variables, VECTORS, nw.ensemble_member_indices(n))
  for i in range(n):
    independent = base.init({"params": member_keys[i],
                             "dropout": member_keys[i]}, VECTORS)
    logits, _ = base.apply(independent, VECTORS)
    np.testing.assert_allclose(outs.preds[i], logits, rtol=1e-6, atol=1e-6)
  assert not np.allclose(outs.preds[0], outs.preds[1])


def test_ensemble_member_prior_is_its_own():
  enn = nw.make_ensemble(nw.MLP(4, hidden_sizes=(6,)), num_classes=4,
                         num_ensemble=3, prior="mlp_ensemble", prior_scale=1.)
  variables = _init(enn, VECTORS)
  priors = enn.apply_multi(variables, VECTORS, jnp.arange(3)).prior
  assert not np.allclose(priors[0], priors[1])
  prior = nw.make_prior("mlp_ensemble", num_classes=4, index_dim=3)
  direct = prior.apply({"params": variables["prior"]}, VECTORS,
                       jnp.array([0.0, 0.0, 1.0]))
  np.testing.assert_allclose(priors[2], direct, rtol=1e-6)


def test_mc_dropout_index_is_the_mask():
  enn = nw.make_mc_dropout(nw.MLP(4, hidden_sizes=(32,), dropout_rate=0.5),
                           num_classes=4)
  variables = _init(enn, VECTORS)
  zs = enn.sample_indices(jax.random.key(5), 2)
  a = enn.apply(variables, VECTORS, zs[0]).preds
  b = enn.apply(variables, VECTORS, zs[1]).preds
  again = enn.apply(variables, VECTORS, zs[0]).preds
  assert not np.allclose(a, b)
  np.testing.assert_array_equal(a, again)


def test_base_enn_ignores_index():
  enn = nw.make_base_enn(nw.MLP(4), num_classes=4)
  variables = _init(enn, VECTORS)
  out = enn.apply_multi(variables, VECTORS, enn.sample_indices(
      jax.random.key(0), 3))
  np.testing.assert_array_equal(out.preds[0], out.preds[2])
  assert not np.any(out.prior)


@hypothesis.given(a=st.floats(-3, 3), b=st.floats(-3, 3),
                  name=st.sampled_from(["mlp_ensemble", "conv_ensemble",
                                        "random_features"]))
@hypothesis.settings(max_examples=10)
def test_builtin_priors_are_linear_in_the_index(a, b, name):
  prior = nw.make_prior(name, num_classes=3, index_dim=4)
  variables = prior.init(jax.random.key(0), IMAGES, jnp.zeros(4))
  z1 = jax.random.normal(jax.random.key(1), (4,))
  z2 = jax.random.normal(jax.random.key(2), (4,))
  f = lambda z: prior.apply(variables, IMAGES, z)
  np.testing.assert_allclose(f(a * z1 + b * z2), a * f(z1) + b * f(z2),
                             rtol=1e-4, atol=1e-4)


# --- The new-prior example from README.md, verbatim in spirit. -------------


class SinePrior(nn.Module):
  """sum_i z_i sin(<w_i, x>) with random frozen w_i."""
  num_classes: int
  index_dim: int
  frequency: float = 1.0

  @nn.compact
  def __call__(self, x, z):
    x = x.reshape((x.shape[0], -1))
    w = self.param("w", nn.initializers.normal(self.frequency),
                   (self.index_dim, x.shape[-1], self.num_classes))
    return jnp.einsum("ebc,e->bc", jnp.sin(jnp.einsum("bd,edc->ebc", x, w)), z)


def test_register_and_use_a_new_prior():
  enn_sym.register_prior("test_sine", overwrite=True)(
      lambda num_classes, index_dim, frequency=1.0: SinePrior(
          num_classes, index_dim, frequency))
  assert "test_sine" in enn_sym.list_priors()
  enn = nw.make_epinet(nw.MLP(3), num_classes=3, index_dim=4,
                       prior="test_sine", prior_kwargs={"frequency": 2.0})
  variables = _init(enn, VECTORS)
  assert variables["prior"]["w"].shape == (4, 7, 3)
  out = enn.apply(variables, VECTORS, jnp.ones(4))
  assert out.prior.shape == (6, 3) and np.any(out.prior)


def test_registry_errors():
  with pytest.raises(ValueError, match="Unknown prior 'nope'.*mlp_ensemble"):
    nw.make_epinet(nw.MLP(3), num_classes=3, prior="nope")
  with pytest.raises(ValueError, match="already registered"):
    enn_sym.register_prior("mlp_ensemble")(lambda **kw: None)
  with pytest.raises(ValueError, match=r"unknown option\(s\) \['widths'\]"):
    nw.make_prior("mlp_ensemble", num_classes=3, index_dim=2, widths=(3,))


def test_prior_rejects_a_stack_of_indices():
  prior = nw.make_prior("mlp_ensemble", num_classes=3, index_dim=4)
  with pytest.raises(ValueError, match=r"one index z of shape \[index_dim\]"):
    prior.init(jax.random.key(0), VECTORS, jnp.zeros((2, 4)))


def test_lenet_rejects_flat_input():
  with pytest.raises(ValueError, match="images of shape"):
    nw.LeNet(3).init(jax.random.key(0), VECTORS)


def test_logit_stack_check():
  with pytest.raises(ValueError, match=r"\[K, batch, classes\]"):
    base_lib.check_logit_stack(jnp.zeros((4, 3)))


def test_indexers():
  key = jax.random.key(0)
  assert base_lib.GaussianIndexer(5)(key).shape == (5,)
  zs = jax.vmap(base_lib.ScaledGaussianIndexer(64))(jax.random.split(key, 500))
  assert abs(float(jnp.mean(jnp.sum(zs**2, -1))) - 1.0) < 0.05
  members = jax.vmap(base_lib.EnsembleIndexer(3))(jax.random.split(key, 300))
  assert set(np.unique(members)) == {0, 1, 2}
  k1 = base_lib.PrngIndexer()(key)
  assert jax.dtypes.issubdtype(k1.dtype, jax.dtypes.prng_key)
