"""Tests of the ENN loss wrappers: index averaging, bootstrap, L2, frozen priors."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from enn_sym import losses
from enn_sym import networks as nw

X = jax.random.normal(jax.random.key(0), (16, 5))
Y = jax.random.randint(jax.random.key(1), (16,), 0, 3)
BATCH = {"image": X, "label": Y, "index": jnp.arange(16)}


def _ce(logits, labels, weights):
  per = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
  return jnp.mean(weights * per)


def _epinet():
  return nw.make_epinet(nw.MLP(3, hidden_sizes=(8,)), num_classes=3,
                        index_dim=4, hidden_sizes=(8,), prior="mlp_ensemble")


def test_prior_gets_zero_gradient_and_stays_bit_identical():
  enn = _epinet()
  variables = enn.init(jax.random.key(0), X, jnp.zeros(4))
  params, state = losses.split_variables(variables)
  prior_before = jax.tree.map(np.array, state["prior"])
  loss_fn = losses.make_enn_loss(enn, _ce, num_index_samples=4,
                                 weight_decay=1e-2)
  # Gradient w.r.t. the prior collection (if someone tried) is exactly zero.
  prior_grads = jax.grad(
      lambda prior: loss_fn(params, {"prior": prior}, BATCH,
                            jax.random.key(2))[0])(state["prior"])
  assert all(not np.any(g) for g in jax.tree.leaves(prior_grads))

  opt = optax.adamw(1e-2, weight_decay=1e-1)
  opt_state = opt.init(params)

  @jax.jit
  def step(params, opt_state, key):
    grads, _ = jax.grad(loss_fn, has_aux=True)(params, state, BATCH, key)
    updates, opt_state = opt.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  first = params
  for i in range(5):
    params, opt_state = step(params, opt_state, jax.random.key(i))
  # The parameters moved, the prior did not move by a single bit.
  assert not np.allclose(first["head"]["out"]["kernel"],
                         params["head"]["out"]["kernel"])
  jax.tree.map(np.testing.assert_array_equal, prior_before, state["prior"])
  # Weight decay never sees the prior.
  assert "prior" not in str(jax.tree_util.tree_structure(params))
  np.testing.assert_allclose(losses.l2_penalty(params),
                             0.5 * sum(float(jnp.sum(w ** 2))
                                       for w in jax.tree.leaves(params)),
                             rtol=1e-6)


def test_index_average_equals_mean_of_single_index_losses():
  enn = _epinet()
  variables = enn.init(jax.random.key(0), X, jnp.zeros(4))
  params, state = losses.split_variables(variables)
  zs = enn.sample_indices(jax.random.key(3), 5)
  loss_fn = losses.make_enn_loss(enn, _ce, fixed_indices=zs)
  loss, aux = loss_fn(params, state, BATCH, jax.random.key(0))
  manual = np.mean([_ce(enn.apply(variables, X, z).preds, Y, jnp.ones(16))
                    for z in zs])
  np.testing.assert_allclose(loss, manual, rtol=1e-5)
  assert aux["logits"].shape == (5, 16, 3)


def test_weight_decay_adds_l2_of_params_only():
  enn = _epinet()
  variables = enn.init(jax.random.key(0), X, jnp.zeros(4))
  params, state = losses.split_variables(variables)
  zs = enn.sample_indices(jax.random.key(3), 2)
  plain = losses.make_enn_loss(enn, _ce, fixed_indices=zs)
  decayed = losses.make_enn_loss(enn, _ce, fixed_indices=zs, weight_decay=0.3)
  a, _ = plain(params, state, BATCH, jax.random.key(0))
  b, aux = decayed(params, state, BATCH, jax.random.key(0))
  np.testing.assert_allclose(b - a, 0.3 * losses.l2_penalty(params),
                             rtol=1e-5)


@pytest.mark.parametrize("kind", losses.BOOTSTRAP_KINDS)
def test_bootstrap_weights_keyed_by_data_index(kind):
  index = jnp.arange(4000)
  w = losses.bootstrap_weights(kind, index, jnp.int32(1), seed=0)
  assert abs(float(w.mean()) - 1.0) < 0.06 and float(w.min()) >= 0
  # Same example under the same index: same weight, wherever it sits.
  perm = jax.random.permutation(jax.random.key(0), 4000)
  w_perm = losses.bootstrap_weights(kind, index[perm], jnp.int32(1), seed=0)
  np.testing.assert_array_equal(w_perm, w[perm])
  # Another member, a Gaussian index or a key: different weights.
  for z in (jnp.int32(2), jnp.ones(3), jax.random.key(7)):
    assert not np.array_equal(
        losses.bootstrap_weights(kind, index, z, seed=0), w)
  if kind == "bernoulli":
    assert set(np.unique(w)) == {0.0, 2.0}


def test_bootstrap_changes_the_loss_and_needs_data_index():
  enn = _epinet()
  variables = enn.init(jax.random.key(0), X, jnp.zeros(4))
  params, state = losses.split_variables(variables)
  zs = enn.sample_indices(jax.random.key(3), 3)
  plain = losses.make_enn_loss(enn, _ce, fixed_indices=zs)
  boot = losses.make_enn_loss(enn, _ce, fixed_indices=zs,
                              bootstrap="bernoulli")
  a, _ = plain(params, state, BATCH, jax.random.key(0))
  b, _ = boot(params, state, BATCH, jax.random.key(0))
  assert not np.isclose(a, b)
  with pytest.raises(ValueError, match=r"batch\['index'\]"):
    boot(params, state, {"image": X, "label": Y}, jax.random.key(0))


def test_ensemble_loss_trains_every_member_independently():
  enn = nw.make_ensemble(nw.MLP(3, hidden_sizes=(8,)), num_classes=3,
                         num_ensemble=3)
  variables = enn.init(jax.random.key(0), X, 0)
  params, state = losses.split_variables(variables)
  loss_fn = losses.make_enn_loss(
      enn, _ce, fixed_indices=nw.ensemble_member_indices(3))
  grads, _ = jax.grad(loss_fn, has_aux=True)(params, state, BATCH,
                                             jax.random.key(0))
  member_grads = grads["Dense_0"]["kernel"]
  assert member_grads.shape[0] == 3 and all(
      np.any(member_grads[i]) for i in range(3))
  # Member 0's gradient equals a third of the single-model gradient.
  base = nw.MLP(3, hidden_sizes=(8,))
  member0 = jax.tree.map(lambda v: v[0], params)
  single = jax.grad(lambda p: _ce(base.apply({"params": p}, X)[0], Y,
                                  jnp.ones(16)))(member0)
  np.testing.assert_allclose(member_grads[0], single["Dense_0"]["kernel"] / 3,
                             rtol=1e-5, atol=1e-7)


def test_loss_wrapper_errors():
  enn = _epinet()
  with pytest.raises(ValueError, match="num_index_samples must be >= 1"):
    losses.make_enn_loss(enn, _ce, num_index_samples=0)
  with pytest.raises(ValueError, match="bootstrap must be one of"):
    losses.make_enn_loss(enn, _ce, bootstrap="gamma")
  with pytest.raises(ValueError, match="weight_decay must be >= 0"):
    losses.make_enn_loss(enn, _ce, weight_decay=-1.0)
  variables = enn.init(jax.random.key(0), X, jnp.zeros(4))
  with pytest.raises(ValueError, match="pass params separately"):
    losses.make_enn_loss(enn, _ce)(variables["params"], variables, BATCH,
                                   jax.random.key(0))
