"""Tests that kill mutants of enn_sym/networks/_enns.py.

Written against scripts/mutation_test.py survivors. The epinet head is
recomputed from its parameters with numpy (the documented formula
``sum_i z_i [W_out h(concat(features, x), z)]_{c,i}``), and the smallest
legal sizes (one index dimension, one ensemble member) are exercised.
"""

import flax.linen as nn
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


class _BNBase(nn.Module):
  """Dense -> BatchNorm base that also sows an intermediate in training."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    h = nn.Dense(4)(x)
    h = nn.BatchNorm(use_running_average=not train, momentum=0.5)(h)
    if train:
      self.sow("intermediates", "seen", jnp.sum(h))
    return nn.Dense(3)(h), h


@pytest.mark.parametrize("kind", ["base", "epinet", "ensemble", "dropout"])
def test_init_keeps_fresh_statistics_and_eval_is_the_default(kind):
  base = _BNBase()
  x = X + 3.0  # batch mean far from the initial running mean 0.
  if kind == "base":
    enn, z = nw.make_base_enn(base, num_classes=3), None
  elif kind == "epinet":
    enn, z = nw.make_epinet(base, num_classes=3, index_dim=2,
                            prior=None), jnp.ones(2)
  elif kind == "ensemble":
    enn, z = nw.make_ensemble(base, num_classes=3, num_ensemble=2), 1
  else:
    enn, z = nw.make_mc_dropout(base, num_classes=3), jax.random.key(3)
  variables = enn.init(jax.random.key(0), x, z if z is not None else 0)
  stats = jax.tree.leaves_with_path(variables["batch_stats"])
  for path, value in stats:  # init does not consume the batch.
    want = 1.0 if "var" in jax.tree_util.keystr(path) else 0.0
    np.testing.assert_array_equal(np.asarray(value), want)
  ev = enn.apply(variables, x, z)  # default: evaluation mode.
  assert "batch_stats" not in ev.extra and "intermediates" not in ev.extra
  if kind in ("base", "ensemble"):  # mc dropout keeps training mode on.
    member = (jax.tree.map(lambda v: v[z], variables) if kind == "ensemble"
              else variables)
    logits, _ = base.apply(member, x, train=False)
    np.testing.assert_allclose(np.asarray(ev.extra["base_logits"]),
                               np.asarray(logits), rtol=1e-5, atol=1e-5)
  tr = enn.apply(variables, x, z, train=True,
                 rngs={"dropout": jax.random.key(1)})
  assert "batch_stats" in tr.extra
  assert "intermediates" in tr.extra  # what the base sowed reaches extra.


def test_epinet_preds_are_base_logits_plus_head_output():
  base = nw.MLP(3, hidden_sizes=(4,))
  enn = nw.make_epinet(base, num_classes=3, index_dim=2, hidden_sizes=(5,),
                       prior=None)
  z = jnp.asarray([0.7, -0.4])
  variables = enn.init(jax.random.key(0), X, z)
  out = enn.apply(variables, X, z)
  head = nw.EpinetHead(num_classes=3, index_dim=2, hidden_sizes=(5,))
  h = head.apply({"params": variables["params"]["head"]},
                 out.extra["features"], X, z)
  assert np.any(np.asarray(h))
  np.testing.assert_allclose(np.asarray(out.train),
                             np.asarray(out.extra["base_logits"] + h),
                             rtol=1e-5, atol=1e-5)


def test_ensemble_prior_default_scale_is_one():
  enn = nw.make_ensemble(nw.MLP(3), num_classes=3, num_ensemble=2,
                         prior="mlp_ensemble")
  variables = enn.init(jax.random.key(0), X, 0)
  prior = nw.make_prior("mlp_ensemble", num_classes=3, index_dim=2)
  want = prior.apply({"params": variables["prior"]}, X, jnp.asarray([0., 1.]))
  np.testing.assert_allclose(np.asarray(enn.apply(variables, X, 1).prior),
                             np.asarray(want), rtol=1e-6, atol=1e-6)
