"""ENN loss wrappers: index averaging, bootstrapping, L2 without priors.

They compose like the single losses they wrap::

  single = make_loss("focal", gamma=2.0)                # (logits, labels, w) -> scalar
  loss_fn = make_enn_loss(enn, single, num_index_samples=8,
                          bootstrap="poisson", weight_decay=1e-4)
  (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      params, state, batch, key)

``params`` is the ``params`` collection alone and ``state`` holds every other
collection (``prior``, ``batch_stats``), so gradients, optimizer updates and
weight decay never touch the prior.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from enn_sym import _validation
from enn_sym import base as base_lib

Array = jax.Array
SingleLoss = Callable[[Array, Array, Array], Array]
BOOTSTRAP_KINDS = ("bernoulli", "poisson", "exponential")
BOOTSTRAP_RULES = ("index", "hash_v0_1_0")


def _index_hash(z) -> Array:
  """A uint32 hash of a PRNG-key index (MC dropout), which has no geometry."""
  bits = jax.random.key_data(z).reshape(-1).astype(jnp.uint32)
  # Position-dependent odd multipliers, summed with uint32 wrap-around.
  mult = (jnp.arange(bits.shape[0], dtype=jnp.uint32) * jnp.uint32(2)
          + jnp.uint32(0x9E3779B1))
  return jnp.sum(bits * mult, dtype=jnp.uint32)


def _hash_weights_v010(kind, data_index, z, seed, p):
  """Version 0.1.0's rule: a hash of the index's bits picks the draws."""
  if jax.dtypes.issubdtype(jnp.asarray(z).dtype, jax.dtypes.prng_key):
    h = _index_hash(z)
  else:
    z = jnp.asarray(z)
    if jnp.issubdtype(z.dtype, jnp.floating):
      bits = jax.lax.bitcast_convert_type(z.astype(jnp.float32), jnp.uint32)
    else:
      bits = z.astype(jnp.uint32)
    bits = bits.reshape(-1)
    mult = (jnp.arange(bits.shape[0], dtype=jnp.uint32) * jnp.uint32(2)
            + jnp.uint32(0x9E3779B1))
    h = jnp.sum(bits * mult, dtype=jnp.uint32)
  key = jax.random.fold_in(jax.random.key(seed), h)
  keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(
      jnp.asarray(data_index).astype(jnp.uint32))
  if kind == "bernoulli":
    draw = jax.vmap(lambda k: jax.random.bernoulli(k, p))(keys)
    return draw.astype(jnp.float32) / p
  if kind == "poisson":
    return jax.vmap(lambda k: jax.random.poisson(k, 1.0))(keys).astype(
        jnp.float32)
  return jax.vmap(jax.random.exponential)(keys).astype(jnp.float32)


def _example_keys(data_index: Array, seed: int) -> Array:
  """``key(data_index_i + seed)`` per example (Osband et al.; sheet §5.4)."""
  index = jnp.asarray(data_index).astype(jnp.uint32) + jnp.uint32(seed)
  return jax.vmap(jax.random.key)(index)


def _poisson_quantile(u: Array, max_count: int = 12) -> Array:
  """Inverse CDF of Poisson(1) at ``u`` in [0, 1) (counts up to max_count)."""
  k = np.arange(max_count + 1)
  pmf = np.exp(-1.0) / np.cumprod(np.concatenate([[1.0], k[1:]]))
  cdf = jnp.asarray(np.cumsum(pmf), jnp.float32)
  return jnp.sum(u[:, None] >= cdf[None, :-1], axis=-1).astype(jnp.float32)


def bootstrap_weights(kind: str, data_index: Array, z, *, seed: int = 0,
                      p: float = 0.5, rule: str = "index") -> Array:
  """Per-example bootstrap weights for index ``z``, keyed by data index.

  The weight of example ``i`` under index ``z`` is a pure function of
  ``(seed, z, i)``: the same example gets the same weight every time that
  index sees it (Osband et al. 2018, bootstrapped ensembles; Osband et al.
  2023, Epistemic Neural Networks). The rule depends on the index type (the
  enn library's rules, reference sheet ``neural_testbed.md`` §5.4):

  * Integer index (ensemble member ``k``): a draw from the key
    ``fold_in(key(i + seed), k)``, independent across members:
    ``bernoulli`` ``Bernoulli(p) / p`` (``{0, 2}`` at ``p = 1/2``),
    ``poisson`` ``Poisson(1)``, ``exponential`` ``Exp(1)``.
  * Gaussian index ``z in R^d`` (epinet): the weight is a *function of z*,
    so nearby indices share data weights. ``b_i ~ N(0, I/d)`` is drawn from
    ``key(i + seed)`` and ``s_i = b_i . z``:
    ``bernoulli`` ``1 + sign(s_i)`` at ``p = 1/2`` (``{0, 1, 2}``, 1 only at
    ``s_i = 0``), generally ``1[u_i > 1 - p] / p`` with ``u_i =
    Phi(s_i sqrt(d) / |z|)`` (uniform on (0, 1) given ``z``);
    ``exponential`` ``((b_i . z)^2 + (c_i . z)^2) / 2`` with ``c_i ~ N(0,
    I/d)`` from ``fold_in(key(i + seed), 666)`` (about Exp(1));
    ``poisson`` the Poisson(1) quantile of ``u_i`` (this library's extension;
    enn has no Poisson rule for Gaussian indices).
  * PRNG-key index (MC dropout): a hash of the key's bits selects an
    independent draw as for an integer index (no published rule).

  ``rule="hash_v0_1_0"`` reproduces version 0.1.0, where every index type
  (Gaussian ones included) was hashed bit-wise to an independent draw, so two
  nearby Gaussian indices had unrelated data weights; kept only to reproduce
  old numbers.

  Returns:
    ``[batch]`` float32 weights with mean 1 in expectation.
  """
  if kind not in BOOTSTRAP_KINDS:
    raise ValueError(f"bootstrap must be one of {BOOTSTRAP_KINDS} or None; "
                     f"got {kind!r}.")
  if not 0.0 < p <= 1.0:
    raise ValueError(f"bootstrap p must be in (0, 1]; got {p}.")
  if rule not in BOOTSTRAP_RULES:
    raise ValueError(f"bootstrap rule must be one of {BOOTSTRAP_RULES}; got "
                     f"{rule!r}.")
  if rule == "hash_v0_1_0":
    return _hash_weights_v010(kind, data_index, z, seed, p)
  keys = _example_keys(data_index, seed)
  if jax.dtypes.issubdtype(jnp.asarray(z).dtype, jax.dtypes.prng_key):
    member = _index_hash(z)
  else:
    z = jnp.asarray(z)
    if jnp.issubdtype(z.dtype, jnp.floating):
      return _gaussian_index_weights(kind, keys, z, p)
    member = z.astype(jnp.uint32).reshape(())
  keys = jax.vmap(lambda k: jax.random.fold_in(k, member))(keys)
  if kind == "bernoulli":
    draw = jax.vmap(lambda k: jax.random.bernoulli(k, p))(keys)
    return draw.astype(jnp.float32) / p
  if kind == "poisson":
    return jax.vmap(lambda k: jax.random.poisson(k, 1.0))(keys).astype(
        jnp.float32)
  return jax.vmap(jax.random.exponential)(keys).astype(jnp.float32)


def _gaussian_index_weights(kind: str, keys: Array, z: Array,
                            p: float) -> Array:
  z = z.reshape(-1).astype(jnp.float32)
  d = z.shape[0]
  b = jax.vmap(lambda k: jax.random.normal(k, (d,)))(keys) / np.sqrt(d)
  s = b @ z
  if kind == "exponential":
    c = jax.vmap(lambda k: jax.random.normal(
        jax.random.fold_in(k, 666), (d,)))(keys) / np.sqrt(d)
    return 0.5 * (jnp.square(s) + jnp.square(c @ z))
  if kind == "bernoulli" and p == 0.5:
    return 1.0 + jnp.sign(s)
  norm = jnp.sqrt(jnp.sum(jnp.square(z)) / d)
  u = jax.scipy.stats.norm.cdf(s / jnp.where(norm > 0, norm, 1.0))
  if kind == "bernoulli":
    return (u > 1.0 - p).astype(jnp.float32) / p
  return _poisson_quantile(u)


def l2_penalty(params: Any) -> Array:
  """``0.5 * sum ||w||^2`` over every leaf of ``params`` (priors excluded by
  construction: they live in their own collection)."""
  leaves = jax.tree.leaves(params)
  return 0.5 * sum(jnp.sum(jnp.square(w.astype(jnp.float32))) for w in leaves)


def make_enn_loss(enn: base_lib.EpistemicNetwork, single_loss: SingleLoss, *,
                  num_index_samples: int = 8,
                  bootstrap: str | None = None,
                  bootstrap_seed: int = 0,
                  bootstrap_p: float = 0.5,
                  bootstrap_rule: str = "index",
                  weight_decay: float = 0.0,
                  l2_fn: Callable[[Any], Array] | None = None,
                  fixed_indices: Any = None,
                  index_fn: Callable[[Array], Any] | None = None,
                  aux_loss_fn: Callable[[Mapping[str, Any]], Array] | None
                  = None,
                  input_key: str = "image",
                  label_key: str = "label",
                  ) -> Callable[..., tuple[Array, Mapping[str, Array]]]:
  """Index-averaged ENN loss ``loss_fn(params, state, batch, key)``.

  ``loss = (1/K) sum_k single_loss(preds_k, y, w_k) + weight_decay * l2(params)``
  with ``preds_k = apply(variables, x, z_k).preds`` for ``K`` indices sampled
  from the indexer (or ``fixed_indices``, e.g. all members of an ensemble).
  ``apply`` is vmapped over the indices, so the base network runs once.

  Args:
    enn: the network.
    single_loss: ``(logits [B, C], labels [B], weights [B]) -> scalar``, e.g.
      from :func:`enn_sym.losses.make_loss`.
    num_index_samples: ``K``.
    bootstrap: ``None`` or one of ``BOOTSTRAP_KINDS``; needs ``batch['index']``.
    bootstrap_seed, bootstrap_p, bootstrap_rule: see
      :func:`bootstrap_weights`.
    weight_decay: coefficient of :func:`l2_penalty` on ``params`` only.
    l2_fn: ``params -> scalar``, the penalty that ``weight_decay`` scales
      (default :func:`l2_penalty`); e.g. one that skips frozen weights.
    fixed_indices: a stack of indices to use instead of sampling.
    index_fn: ``key -> zs``, a custom index policy (overrides the above).
    aux_loss_fn: ``extra -> scalar`` added to the loss, given the ``extra``
      of the ``K`` outputs (leading axis ``K``); e.g. a canonicalizer's prior
      loss from ``extra['intermediates']``.
    input_key, label_key: batch keys of inputs and labels.

  Returns:
    ``loss_fn(params, state, batch, key) -> (loss, aux)`` where ``aux`` has
    ``data_loss``, ``l2``, ``logits`` ``[K, B, C]`` and, for BatchNorm
    networks, ``batch_stats``.
  """
  if index_fn is None:
    if fixed_indices is not None:
      index_fn = lambda key: fixed_indices
    else:
      index_fn = lambda key: enn.sample_indices(key, num_index_samples)
  if num_index_samples < 1 and fixed_indices is None:
    raise ValueError(
        f"num_index_samples must be >= 1; got {num_index_samples}.")
  if bootstrap is not None and bootstrap not in BOOTSTRAP_KINDS:
    raise ValueError(f"bootstrap must be one of {BOOTSTRAP_KINDS} or None; "
                     f"got {bootstrap!r}.")
  if bootstrap_rule not in BOOTSTRAP_RULES:
    raise ValueError(f"bootstrap_rule must be one of {BOOTSTRAP_RULES}; got "
                     f"{bootstrap_rule!r}.")
  if weight_decay < 0:
    raise ValueError(f"weight_decay must be >= 0; got {weight_decay}.")

  def loss_fn(params, state, batch, key):
    if base_lib.PARAMS in state:
      raise ValueError("state must hold the non-trainable collections only "
                       "(prior, batch_stats); pass params separately.")
    if bootstrap is not None and "index" not in batch:
      raise ValueError(
          "bootstrap needs the data index of every example: add batch['index']"
          " (the enn_sym.data pipelines provide it) or set bootstrap=None.")
    x, labels = batch[input_key], batch[label_key]
    k_index, k_dropout = jax.random.split(key)
    zs = index_fn(k_index)
    variables = {**state, base_lib.PARAMS: params}
    out = enn.apply_multi(variables, x, zs, train=True,
                          rngs={"dropout": k_dropout})
    preds = out.preds
    base_lib.check_logit_stack(preds, "preds")
    if bootstrap is None:
      weights = jnp.ones(preds.shape[:2], jnp.float32)
    else:
      weights = jax.vmap(lambda z: bootstrap_weights(
          bootstrap, batch["index"], z, seed=bootstrap_seed,
          p=bootstrap_p, rule=bootstrap_rule))(zs)
    data_loss = jnp.mean(jax.vmap(single_loss, in_axes=(0, None, 0))(
        preds, labels, weights))
    l2 = (l2_fn or l2_penalty)(params)
    loss = data_loss + weight_decay * l2
    aux = {"data_loss": data_loss, "l2": l2, "logits": preds}
    if aux_loss_fn is not None:
      aux["aux_loss"] = aux_loss_fn(out.extra)
      loss = loss + aux["aux_loss"]
    if base_lib.BATCH_STATS in out.extra:
      aux[base_lib.BATCH_STATS] = _merge_index_stats(
          out.extra[base_lib.BATCH_STATS], state.get(base_lib.BATCH_STATS))
    return loss, aux

  return loss_fn


def _merge_index_stats(stacked, old):
  """One set of BatchNorm statistics from the ``K`` index copies.

  Element-wise, the value of the first copy that changed it (the old value
  if none did). An epinet's copies are all equal (the statistics do not
  depend on the index), so this is copy 0; an ensemble's copy ``k`` updates
  only member ``z_k``'s slot, so every trained member keeps its own updated
  statistics.
  """
  if old is None:
    return jax.tree.map(lambda s: s[0], stacked)

  def merge(s, o):
    changed = s != o[None]
    first = jnp.argmax(changed, axis=0)
    value = jnp.take_along_axis(s, first[None], axis=0)[0]
    return jnp.where(jnp.any(changed, axis=0), value, o)

  return jax.tree.map(merge, stacked, old)


def split_variables(variables: Mapping[str, Any]) -> tuple[Any, dict]:
  """``(params, state)``: the trainable collection and all the others."""
  state = {k: v for k, v in variables.items() if k != base_lib.PARAMS}
  return variables[base_lib.PARAMS], state


def merge_variables(params: Any, state: Mapping[str, Any]) -> dict:
  """The inverse of :func:`split_variables`: ``{"params": params, **state}``.

  ``enn.apply`` and ``enn.apply_multi`` take the merged variables; passing
  ``params`` alone fails in flax with ``ScopeCollectionNotFound`` for the
  ``prior`` (or ``batch_stats``) collection.
  """
  if base_lib.PARAMS in state:
    raise _validation.InputError(
        f"merge_variables: state already holds a {base_lib.PARAMS!r} "
        f"collection; pass the state returned by split_variables (every "
        f"collection except {base_lib.PARAMS!r}).")
  return {base_lib.PARAMS: params, **state}
