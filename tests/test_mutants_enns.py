"""Tests that kill mutants of enn_sym/networks/_enns.py.

Written against scripts/mutation_test.py survivors. The epinet head is
recomputed from its parameters with numpy (the documented formula
``sum_i z_i [W_out h(concat(features, x), z)]_{c,i}``), and the smallest
legal sizes (one index dimension, one ensemble member) are exercised.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from enn_sym import networks as nw

X = jnp.asarray(np.random.default_rng(0).normal(size=(4, 3)), jnp.float32)


def _relu(h):
  return np.maximum(h, 0.0)


def _dense(p, h):
  return h @ np.asarray(p["kernel"]) + (np.asarray(p["bias"])
                                        if "bias" in p else 0.0)


@pytest.mark.parametrize("include_inputs", [True, False])
def test_epinet_head_matches_numpy(include_inputs):
  head = nw.EpinetHead(num_classes=3, index_dim=2, hidden_sizes=(5, 4),
                       include_inputs=include_inputs)
  features = jnp.asarray(np.random.default_rng(1).normal(size=(4, 2, 3)),
                         jnp.float32)  # flattened to 6 features.
  z = jnp.asarray([0.4, -1.1])
  p = jax.tree.map(np.asarray, head.init(jax.random.key(0), features, X,
                                         z)["params"])
  phi = np.asarray(features).reshape(4, 6)
  if include_inputs:
    phi = np.concatenate([phi, np.asarray(X)], axis=1)
  assert p["phi_in"]["kernel"].shape == (phi.shape[1], 5)
  assert "bias" not in p["z_in"] and p["Dense_0"]["kernel"].shape == (5, 4)
  h = _relu(_dense(p["phi_in"], phi) + np.asarray(z) @ p["z_in"]["kernel"])
  h = _relu(_dense(p["Dense_0"], h))
  out = _dense(p["out"], h).reshape(4, 3, 2)
  want = np.einsum("bci,i->bc", out, np.asarray(z))
  got = np.asarray(head.apply({"params": p}, features, X, z))
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_epinet_head_without_hidden_layers_is_linear_in_phi():
  head = nw.EpinetHead(num_classes=2, index_dim=3, hidden_sizes=())
  features, z = jnp.ones((4, 2)), jnp.asarray([1.0, 0.5, -2.0])
  p = jax.tree.map(np.asarray, head.init(jax.random.key(0), features, X,
                                         z)["params"])
  assert sorted(p) == ["out"]
  phi = np.concatenate([np.ones((4, 2)), np.asarray(X)], axis=1)
  want = np.einsum("bci,i->bc", _dense(p["out"], phi).reshape(4, 2, 3),
                   np.asarray(z))
  np.testing.assert_allclose(np.asarray(head.apply({"params": p}, features, X,
                                                   z)), want, rtol=1e-5,
                             atol=1e-5)


def test_smallest_index_dim_and_ensemble_are_allowed():
  enn = nw.make_epinet(nw.MLP(3), num_classes=3, index_dim=1, prior=None)
  variables = enn.init(jax.random.key(0), X, jnp.zeros(1))
  assert enn.apply(variables, X, jnp.ones(1)).preds.shape == (4, 3)
  with pytest.raises(ValueError, match="index_dim must be >= 1"):
    nw.make_epinet(nw.MLP(3), num_classes=3, index_dim=0)
  single = nw.make_ensemble(nw.MLP(3), num_classes=3, num_ensemble=1)
  variables = single.init(jax.random.key(0), X, 0)
  assert single.apply(variables, X, 0).preds.shape == (4, 3)
  with pytest.raises(ValueError, match="num_ensemble must be >= 1"):
    nw.make_ensemble(nw.MLP(3), num_classes=3, num_ensemble=0)


def test_make_epinet_defaults():
  # Signature defaults: index_dim 8, head hidden_sizes (50,), inputs fed to
  # the head, the mlp_ensemble prior at scale 1.
  enn = nw.make_epinet(nw.MLP(3, hidden_sizes=(4,)), num_classes=3)
  z = jnp.asarray(np.random.default_rng(2).normal(size=8), jnp.float32)
  variables = enn.init(jax.random.key(0), X, z)
  head = variables["params"]["head"]
  assert head["phi_in"]["kernel"].shape == (4 + 3, 50)
  assert head["z_in"]["kernel"].shape == (8, 50)
  prior = nw.make_prior("mlp_ensemble", num_classes=3, index_dim=8)
  want = prior.apply({"params": variables["prior"]}, X, z)
  out = enn.apply(variables, X, z)
  np.testing.assert_allclose(np.asarray(out.prior), np.asarray(want),
                             rtol=1e-6, atol=1e-6)
  assert np.any(np.asarray(out.prior))


def test_training_mode_returns_no_empty_intermediates_and_eval_no_stats():
  enn = nw.make_epinet(nw.MLP(3), num_classes=3, index_dim=2, prior=None)
  variables = enn.init(jax.random.key(0), X, jnp.zeros(2))
  train = enn.apply(variables, X, jnp.ones(2), train=True,
                    rngs={"dropout": jax.random.key(1)})
  assert "intermediates" not in train.extra
  assert "batch_stats" not in train.extra
  ev = enn.apply(variables, X, jnp.ones(2))
  assert sorted(ev.extra) == ["base_logits", "features"]
  np.testing.assert_allclose(np.asarray(ev.preds), np.asarray(train.preds),
                             rtol=1e-6)
