"""Tests written to kill surviving mutants (scripts/mutation_test.py).

The epinet's defining property: the learnable head sees the base features
through a stop_gradient, so no gradient of the head output reaches the base
(Osband et al. 2023, "Epistemic neural networks", eq. for sigma_L(sg[phi], z)).
Removing the stop_gradient left the rest of the suite green.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from enn_sym import networks as nw

X = jnp.asarray(np.random.default_rng(0).normal(size=(6, 5)), jnp.float32)


def _grads(enn, variables, fn):
  def loss(params):
    return fn({**variables, "params": params})
  return jax.grad(loss)(variables["params"])


@pytest.mark.parametrize("include_inputs", [True, False])
def test_epinet_head_gradient_does_not_reach_the_base(include_inputs):
  enn = nw.make_epinet(nw.MLP(3, hidden_sizes=(4,)), num_classes=3,
                       index_dim=2, hidden_sizes=(7,),
                       include_inputs=include_inputs, prior=None)
  variables = dict(enn.init(jax.random.key(0), X, jnp.zeros(2)))
  z1, z2 = jnp.array([1.0, -0.5]), jnp.array([-2.0, 0.3])

  # f(z1) - f(z2) is the head alone (the base logits do not depend on z).
  def head_only(v):
    return jnp.sum(jnp.square(enn.apply(v, X, z1).preds
                              - enn.apply(v, X, z2).preds))

  grads = _grads(enn, variables, head_only)
  base_grads = jax.tree.leaves(grads["base"])
  assert base_grads and all(np.all(np.asarray(g) == 0.0) for g in base_grads)
  # The head itself does get gradient (the test is not vacuous).
  head = [k for k in grads if k != "base"]
  assert any(np.any(np.asarray(g) != 0.0)
             for k in head for g in jax.tree.leaves(grads[k]))

  # And the full output's base gradient equals that of the base logits.
  def full(v):
    return jnp.sum(enn.apply(v, X, z1).preds)

  def base_only(v):
    return jnp.sum(enn.apply(v, X, z1).extra["base_logits"])

  for a, b in zip(jax.tree.leaves(_grads(enn, variables, full)["base"]),
                  jax.tree.leaves(_grads(enn, variables, base_only)["base"])):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6,
                               atol=1e-7)


def test_epinet_head_defaults_feed_the_inputs():
  # EpinetHead's documented default: phi = concat(features, flatten(x)).
  head = nw.EpinetHead(num_classes=3, index_dim=2)
  features, x, z = jnp.ones((6, 4)), X, jnp.ones(2)
  params = head.init(jax.random.key(0), features, x, z)["params"]
  assert params["phi_in"]["kernel"].shape == (4 + 5, 50)
  no_inputs = nw.EpinetHead(num_classes=3, index_dim=2, include_inputs=False)
  assert no_inputs.init(jax.random.key(0), features, x, z)["params"][
      "phi_in"]["kernel"].shape == (4, 50)


def test_make_epinet_default_index_is_standard_gaussian():
  # z ~ N(0, I_index_dim) unless scaled_index=True (then N(0, I/index_dim)).
  from enn_sym import base as base_lib  # pylint: disable=g-import-not-at-top
  enn = nw.make_epinet(nw.MLP(3), num_classes=3, index_dim=4)
  assert isinstance(enn.indexer, base_lib.GaussianIndexer)
  zs = np.asarray(enn.sample_indices(jax.random.key(0), 4000))
  assert zs.shape == (4000, 4)
  assert abs(zs.var() - 1.0) < 0.05
  scaled = nw.make_epinet(nw.MLP(3), num_classes=3, index_dim=4,
                          scaled_index=True)
  assert abs(np.asarray(scaled.sample_indices(jax.random.key(0), 4000)).var()
             - 0.25) < 0.02


def test_prior_layers_have_zero_biases_and_unit_member_kernels():
  # EnsembleDense (the layers of the ensemble priors): biases are zero by
  # default (version 0.1.1; they were N(0, 1), which made the prior's logit
  # differences mostly constant in x) and N(0, bias_std^2) on request; each
  # member's kernel has variance 1/fan_in (the member axis is not fan-in).
  from enn_sym.networks import _priors  # pylint: disable=g-import-not-at-top
  layer = _priors.EnsembleDense(num_members=64, features=32,
                                shared_input=True)
  params = layer.init(jax.random.key(0), X)["params"]
  bias = np.asarray(params["bias"])
  assert bias.shape == (64, 32) and not np.any(bias)
  kernel = np.asarray(params["kernel"])
  assert abs(kernel.std() * np.sqrt(X.shape[-1]) - 1.0) < 0.05
  noisy = _priors.EnsembleDense(num_members=64, features=32,
                                shared_input=True, bias_std=1.0)
  bias = np.asarray(noisy.init(jax.random.key(0), X)["params"]["bias"])
  assert abs(bias.std() - 1.0) < 0.05 and abs(bias.mean()) < 0.05


def test_random_feature_prior_has_unit_kernel_scale():
  # phi(x) = sqrt(2/F) cos(Wx + b) has |phi|^2 ~ 1 (the RBF kernel at 0), so
  # a unit index gives outputs of variance ~1 (readout ~ N(0, 1)).
  from enn_sym.networks import _priors  # pylint: disable=g-import-not-at-top
  prior = _priors.RandomFeaturePrior(num_classes=64, index_dim=2,
                                     num_features=256)
  x = jnp.asarray(np.random.default_rng(1).normal(size=(32, 5)), jnp.float32)
  z = jnp.array([1.0, 0.0])
  variables = prior.init(jax.random.key(0), x, z)
  out = np.asarray(prior.apply(variables, x, z))
  assert 0.7 < out.var() < 1.3
