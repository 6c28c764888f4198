"""Tests that kill mutants of enn_sym/losses/ (scripts/mutation_test.py).

The bootstrap weights are recomputed from the rules in the
``bootstrap_weights`` docstring with ``jax.random`` and ``scipy`` directly
(keys ``key(i + seed)``, ``fold_in`` by member, ``b_i ~ N(0, I/d)``, the
normal CDF and the Poisson(1) quantile), not by calling the library's
helpers; the index-averaged loss is recomputed from per-index applies.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from enn_sym import losses
from enn_sym import networks as nw
from enn_sym.losses import _enn

INDEX = jnp.arange(3, 12)  # data indices of 9 examples
SEED = 5


def _keys(index=INDEX, seed=SEED):
  return [jax.random.key(int(i) + seed) for i in np.asarray(index)]


@pytest.mark.parametrize("kind", ["bernoulli", "poisson", "exponential"])
def test_integer_index_weights_follow_the_documented_keys(kind):
  member = 3
  got = np.asarray(_enn.bootstrap_weights(kind, INDEX, jnp.int32(member),
                                          seed=SEED, p=0.25))
  want = []
  for key in _keys():
    k = jax.random.fold_in(key, member)
    if kind == "bernoulli":
      want.append(float(jax.random.bernoulli(k, 0.25)) / 0.25)
    elif kind == "poisson":
      want.append(float(jax.random.poisson(k, 1.0)))
    else:
      want.append(float(jax.random.exponential(k)))
  np.testing.assert_allclose(got, want, rtol=1e-6)
  assert got.dtype == np.float32 and got.shape == (9,)


def _gaussian_parts(z):
  d = z.shape[0]
  b = np.stack([np.asarray(jax.random.normal(k, (d,))) for k in _keys()])
  c = np.stack([np.asarray(jax.random.normal(jax.random.fold_in(k, 666),
                                             (d,))) for k in _keys()])
  return b / np.sqrt(d), c / np.sqrt(d)


def test_gaussian_index_weights_follow_the_documented_rules():
  z = np.asarray([0.8, -1.7, 0.4], np.float32)
  b, c = _gaussian_parts(z)
  s = b @ z
  u = stats.norm.cdf(s * np.sqrt(3) / np.linalg.norm(z))
  w = lambda kind, p=0.5: np.asarray(_enn.bootstrap_weights(  # noqa: E731
      kind, INDEX, jnp.asarray(z), seed=SEED, p=p))
  np.testing.assert_allclose(w("bernoulli"), 1.0 + np.sign(s))
  np.testing.assert_allclose(w("bernoulli", 0.3), (u > 0.7) / 0.3, rtol=1e-6)
  np.testing.assert_allclose(w("exponential"), 0.5 * (s**2 + (c @ z)**2),
                             rtol=1e-4)
  # Poisson(1) quantile of u; ppf is the smallest k with cdf(k) >= u.
  np.testing.assert_allclose(w("poisson"), stats.poisson.ppf(u, 1.0))
  # A scaled z gives the same u (Phi(s sqrt(d) / |z|) is scale-free).
  for scale in (3.0, 0.1):
    np.testing.assert_allclose(
        np.asarray(_enn.bootstrap_weights(
            "poisson", INDEX, jnp.asarray(scale * z), seed=SEED)),
        w("poisson"))


def test_gaussian_index_zero_gives_the_median_weights():
  # z = 0: s = 0, u = Phi(0) = 1/2 (the norm guard), bernoulli(p=0.3) -> 0,
  # poisson -> the Poisson(1) median 1; exponential -> 0.
  z = jnp.zeros(4)
  assert not np.any(np.asarray(_enn.bootstrap_weights(
      "bernoulli", INDEX, z, seed=SEED, p=0.3)))
  np.testing.assert_array_equal(
      np.asarray(_enn.bootstrap_weights("poisson", INDEX, z)), 1.0)
  np.testing.assert_array_equal(
      np.asarray(_enn.bootstrap_weights("bernoulli", INDEX, z)), 1.0)
  np.testing.assert_array_equal(
      np.asarray(_enn.bootstrap_weights("exponential", INDEX, z)), 0.0)


def test_poisson_quantile_matches_scipy():
  u = jnp.asarray([1e-6, 0.2, 0.367, 0.37, 0.5, 0.73, 0.75, 0.92, 0.99,
                   0.999999], jnp.float32)
  np.testing.assert_array_equal(np.asarray(_enn._poisson_quantile(u)),
                                stats.poisson.ppf(np.asarray(u), 1.0))


def test_bootstrap_argument_checks_accept_the_edges():
  one = _enn.bootstrap_weights("bernoulli", INDEX, jnp.int32(0), p=1.0)
  np.testing.assert_array_equal(np.asarray(one), 1.0)  # Bernoulli(1) / 1.
  for bad in (0.0, 1.5, -0.2):
    with pytest.raises(ValueError, match=r"p must be in \(0, 1\]"):
      _enn.bootstrap_weights("bernoulli", INDEX, jnp.int32(0), p=bad)


def test_l2_penalty_hand_value():
  params = {"a": jnp.asarray([1.0, -2.0]), "b": {"c": jnp.asarray([[3.0]])}}
  assert float(_enn.l2_penalty(params)) == pytest.approx(0.5 * (1 + 4 + 9))


def test_enn_loss_is_the_mean_of_weighted_single_losses_plus_decay():
  enn = nw.make_ensemble(nw.MLP(3, hidden_sizes=(4,)), num_classes=3,
                         num_ensemble=2)
  x = jnp.asarray(np.random.default_rng(0).normal(size=(9, 2)), jnp.float32)
  labels = jnp.asarray([0, 1, 2, 0, 1, 2, 0, 1, 1])
  variables = enn.init(jax.random.key(0), x, 0)
  params, state = _enn.split_variables(variables)
  batch = {"image": x, "label": labels, "index": INDEX}
  loss_fn = _enn.make_enn_loss(
      enn, losses.make_loss("ce"), fixed_indices=jnp.arange(2),
      bootstrap="poisson", bootstrap_seed=SEED, weight_decay=0.3)
  loss, aux = loss_fn(params, state, batch, jax.random.key(1))
  want = 0.0
  for k in range(2):
    logits = np.asarray(enn.apply(variables, x, k).preds, np.float64)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -logp[np.arange(9), np.asarray(labels)]
    w = jax.vmap(lambda i: jax.random.poisson(  # pylint: disable=cell-var-from-loop
        jax.random.fold_in(jax.random.key(i + SEED), k), 1.0))(INDEX)
    want += np.mean(np.asarray(w) * nll) / 2
  l2 = 0.5 * sum(float(np.sum(np.square(np.asarray(v))))
                 for v in jax.tree.leaves(params))
  assert float(aux["data_loss"]) == pytest.approx(want, rel=1e-5)
  assert float(aux["l2"]) == pytest.approx(l2, rel=1e-5)
  assert float(loss) == pytest.approx(want + 0.3 * l2, rel=1e-5)
  assert aux["logits"].shape == (2, 9, 3)
  with pytest.raises(ValueError, match="weight_decay must be >= 0"):
    _enn.make_enn_loss(enn, losses.make_loss("ce"), weight_decay=-1e-3)
  # weight_decay = 0 is allowed and adds nothing.
  zero = _enn.make_enn_loss(enn, losses.make_loss("ce"),
                            fixed_indices=jnp.arange(2), weight_decay=0.0)
  loss0, aux0 = zero(params, state, batch, jax.random.key(1))
  assert float(loss0) == float(aux0["data_loss"])


def test_aux_loss_is_added_and_merge_variables_inverts_split():
  enn = nw.make_ensemble(nw.MLP(3), num_classes=3, num_ensemble=2)
  x = jnp.ones((2, 2))
  variables = enn.init(jax.random.key(0), x, 0)
  params, state = _enn.split_variables(variables)
  assert _enn.merge_variables(params, state).keys() == variables.keys()
  loss_fn = _enn.make_enn_loss(enn, losses.make_loss("ce"),
                               fixed_indices=jnp.arange(2),
                               aux_loss_fn=lambda extra: jnp.float32(2.5))
  loss, aux = loss_fn(params, state, {"image": x, "label": jnp.zeros(
      2, jnp.int32)}, jax.random.key(0))
  assert float(aux["aux_loss"]) == 2.5
  assert float(loss) == pytest.approx(float(aux["data_loss"]) + 2.5)


def test_enn_loss_runs_the_network_in_training_mode():
  # Dropout is on inside the loss (train=True): two dropout keys, two losses.
  enn = nw.make_ensemble(nw.MLP(3, hidden_sizes=(16,), dropout_rate=0.5),
                         num_classes=3, num_ensemble=1)
  x = jnp.ones((4, 2))
  params, state = _enn.split_variables(enn.init(jax.random.key(0), x, 0))
  loss_fn = _enn.make_enn_loss(enn, losses.make_loss("ce"),
                               fixed_indices=jnp.zeros(1, jnp.int32))
  batch = {"image": x, "label": jnp.zeros(4, jnp.int32)}
  a, _ = loss_fn(params, state, batch, jax.random.key(1))
  b, _ = loss_fn(params, state, batch, jax.random.key(2))
  assert float(a) != float(b)


def test_registry_defaults_agree_with_the_loss_functions():
  # make_loss("<name>") and the function called directly share defaults
  # (label_smoothing is a separate registry entry, by design).
  import inspect  # pylint: disable=g-import-not-at-top
  from enn_sym.losses import _single  # pylint: disable=g-import-not-at-top
  reg = _single._REGISTRY  # pylint: disable=protected-access
  # The functions are named here, so that scripts/mutation_test.py selects
  # this test for their mutated defaults (it reads only their signatures).
  named = {"focal": _single.focal_loss,
           "entropy_reg": _single.entropy_regularized_ce,
           "logit_norm": _single.logit_norm_penalty_ce}
  for n, fn in named.items():
    assert reg[n][0] is fn
  pairs = [(reg[n][0], reg[n][1]) for n in ("focal", "entropy_reg",
                                            "logit_norm")]
  pairs.append((_single.soft_binned_ece, reg["ce+soft_ece"][1]))
  for fn, defaults in pairs:
    sig = inspect.signature(fn).parameters
    shared = [k for k in defaults if k in sig]
    assert shared
    for k in shared:
      assert sig[k].default == defaults[k], (fn.__name__, k)


@pytest.mark.parametrize("kind", ["bernoulli", "poisson", "exponential"])
def test_hash_rule_v010_draws_have_the_documented_distribution(kind):
  index = jnp.arange(4000)
  w = np.asarray(_enn.bootstrap_weights(kind, index, jnp.asarray([0.3, 1.0]),
                                        p=0.25, rule="hash_v0_1_0"))
  again = _enn.bootstrap_weights(kind, index, jnp.asarray([0.3, 1.0]),
                                 p=0.25, rule="hash_v0_1_0")
  np.testing.assert_array_equal(w, np.asarray(again))  # deterministic.
  assert abs(w.mean() - 1.0) < 0.1
  if kind == "bernoulli":
    assert set(np.unique(w)) == {0.0, 4.0}  # Bernoulli(1/4) / (1/4).
  elif kind == "poisson":
    assert np.all(w == np.round(w)) and abs(w.var() - 1.0) < 0.15
  else:
    assert w.min() > 0 and len(np.unique(w)) > 3900 and abs(w.var() - 1) < 0.2


class _BN(nn.Module):

  @nn.compact
  def __call__(self, x, train: bool = False):
    h = nn.BatchNorm(use_running_average=not train, momentum=0.5)(
        nn.Dense(3)(x))
    return h, h


def test_ensemble_loss_keeps_each_members_updated_statistics():
  enn = nw.make_ensemble(_BN(), num_classes=3, num_ensemble=2)
  x = jnp.asarray(np.random.default_rng(0).normal(size=(5, 2)) + 2.0,
                  jnp.float32)
  variables = enn.init(jax.random.key(0), x, 0)
  params, state = _enn.split_variables(variables)
  loss_fn = _enn.make_enn_loss(enn, losses.make_loss("ce"),
                               fixed_indices=jnp.arange(2))
  _, aux = loss_fn(params, state, {"image": x, "label": jnp.zeros(
      5, jnp.int32)}, jax.random.key(1))
  for k in range(2):  # slot k = member k trained alone.
    alone = enn.apply(variables, x, k, train=True).extra["batch_stats"]
    for got, want, old in zip(jax.tree.leaves(aux["batch_stats"]),
                              jax.tree.leaves(alone),
                              jax.tree.leaves(state["batch_stats"])):
      np.testing.assert_allclose(np.asarray(got[k]), np.asarray(want[k]),
                                 rtol=1e-5, atol=1e-6)
      assert not np.allclose(np.asarray(got[k]), np.asarray(old[k]))
  # An epinet-like stack with no old statistics takes copy 0.
  stacked = {"m": jnp.asarray([[1.0, 2.0], [3.0, 4.0]])}
  np.testing.assert_array_equal(
      np.asarray(_enn._merge_index_stats(stacked, None)["m"]), [1.0, 2.0])
  # Copy 1 changed element 0, copy 0 element 1; element 2 unchanged.
  old = {"m": jnp.asarray([0.0, 0.0, 5.0])}
  stacked = {"m": jnp.asarray([[0.0, 7.0, 5.0], [8.0, 0.0, 5.0]])}
  np.testing.assert_array_equal(
      np.asarray(_enn._merge_index_stats(stacked, old)["m"]), [8.0, 7.0, 5.0])


def test_soft_binned_ece_defaults_are_the_signature_values():
  # The documented signature: num_bins=15, temperature=0.01, p=2.
  from enn_sym.losses import _single  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(3)
  logits = jnp.asarray(rng.normal(size=(16, 3)) * 2, jnp.float32)
  labels = jnp.asarray(rng.integers(0, 3, 16))
  default = float(_single.soft_binned_ece(logits, labels))
  assert default == float(_single.soft_binned_ece(
      logits, labels, num_bins=15, temperature=0.01, p=2))
  for other in ({"num_bins": 16}, {"temperature": 1.01}, {"p": 3}):
    assert abs(float(_single.soft_binned_ece(logits, labels, **other))
               - default) > 1e-6 * default, other


def test_bootstrap_and_enn_loss_defaults_are_the_signature_values():
  # bootstrap_weights(seed=0); make_enn_loss(num_index_samples=8,
  # bootstrap_seed=0), as documented in their signatures.
  w = _enn.bootstrap_weights("poisson", INDEX, jnp.int32(1))
  np.testing.assert_array_equal(
      w, _enn.bootstrap_weights("poisson", INDEX, jnp.int32(1), seed=0))
  assert not np.array_equal(
      w, _enn.bootstrap_weights("poisson", INDEX, jnp.int32(1), seed=1))
  enn = nw.make_ensemble(nw.MLP(3), num_classes=3, num_ensemble=2)
  x = jnp.asarray(np.random.default_rng(0).normal(size=(9, 2)), jnp.float32)
  params, state = _enn.split_variables(enn.init(jax.random.key(0), x, 0))
  batch = {"image": x, "label": jnp.asarray([0, 1, 2] * 3), "index": INDEX}
  _, aux = _enn.make_enn_loss(enn, losses.make_loss("ce"))(
      params, state, batch, jax.random.key(1))
  assert aux["logits"].shape == (8, 9, 3)  # K = 8 index samples.
  fixed = jnp.arange(2)
  default, _ = _enn.make_enn_loss(
      enn, losses.make_loss("ce"), fixed_indices=fixed, bootstrap="poisson")(
          params, state, batch, jax.random.key(1))
  seeded = [_enn.make_enn_loss(
      enn, losses.make_loss("ce"), fixed_indices=fixed, bootstrap="poisson",
      bootstrap_seed=s)(params, state, batch, jax.random.key(1))[0]
            for s in (0, 1)]
  assert float(default) == float(seeded[0]) != float(seeded[1])
