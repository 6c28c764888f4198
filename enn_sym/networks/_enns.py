"""ENN constructors: plain base, epinet, deep ensemble, MC dropout.

Each ``make_*`` returns an :class:`enn_sym.base.EpistemicNetwork`.

* ``apply(variables, x, z, *, train=False)`` returns ``ENNOutput(train,
  prior, extra)`` for one index; ``extra`` holds ``base_logits`` and
  ``features`` where there is a base, and ``batch_stats`` (the updated BatchNorm
  statistics) when ``train=True`` and the network has BatchNorm.
* Variables: ``{'params': ..., 'prior': ...}`` (+ ``'batch_stats'``). The prior
  collection is absent when there is no prior.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from enn_sym import base as base_lib
from enn_sym.networks import _bases
from enn_sym.networks import _priors

Array = jax.Array


def _resolve_prior(prior, *, num_classes: int, index_dim: int,
                   prior_kwargs: Mapping[str, Any] | None):
  if prior is None:
    return None
  if isinstance(prior, str):
    return _priors.make_prior(prior, num_classes=num_classes,
                              index_dim=index_dim, **dict(prior_kwargs or {}))
  if isinstance(prior, nn.Module):
    if prior_kwargs:
      raise ValueError("prior_kwargs only apply when prior is a registered "
                       "name; configure a module instance directly.")
    return prior
  raise TypeError(f"prior must be a registered name, a linen Module or None; "
                  f"got {type(prior).__name__}.")


def _model_variables(variables) -> dict:
  return {k: v for k, v in variables.items() if k != base_lib.PRIOR}


def _run(module: nn.Module, variables, *args, train: bool,
         rngs=None, **kwargs):
  """Applies ``module``: ``(out, new_batch_stats, intermediates)``.

  In training mode the ``intermediates`` collection is mutable, so values a
  module sows there (e.g. canonicalization scores) reach the loss through
  ``ENNOutput.extra['intermediates']``; otherwise the last two are ``None``.
  """
  model_vars = _model_variables(variables)
  if not train:
    return module.apply(model_vars, *args, train=train, rngs=rngs,
                        **kwargs), None, None
  mutable = ["intermediates"]
  if base_lib.BATCH_STATS in model_vars:
    mutable.append(base_lib.BATCH_STATS)
  out, updates = module.apply(model_vars, *args, train=train, rngs=rngs,
                              mutable=mutable, **kwargs)
  return (out, updates.get(base_lib.BATCH_STATS),
          updates.get("intermediates") or None)


def _with_stats(extra: dict, stats, intermediates=None) -> dict:
  if stats is not None:
    extra[base_lib.BATCH_STATS] = stats
  if intermediates is not None:
    extra["intermediates"] = intermediates
  return extra


def _prior_output(prior_module, prior_scale: float, variables, x, z,
                  num_classes: int) -> Array:
  if prior_module is None:
    return jnp.zeros((x.shape[0], num_classes), jnp.float32)
  out = prior_module.apply({"params": variables[base_lib.PRIOR]}, x, z)
  return prior_scale * out


def _init_prior(prior_module, key, x, z) -> dict:
  if prior_module is None:
    return {}
  return {base_lib.PRIOR: prior_module.init(key, x, z)["params"]}


# ---------------------------------------------------------------------------
# Plain base network (no epistemic uncertainty).


def make_base_enn(base: nn.Module, num_classes: int
                  ) -> base_lib.EpistemicNetwork:
  """Wraps a base network as an ENN with a dummy index (K copies agree)."""

  def init(key, x, z):
    del z
    return dict(base.init({"params": key, "dropout": key}, x, train=False))

  def apply(variables, x, z, *, train: bool = False, rngs=None):
    del z
    out, stats, inter = _run(base, variables, x, train=train, rngs=rngs)
    logits, features = _bases.split_base_output(out)
    return base_lib.ENNOutput(
        logits, jnp.zeros_like(logits),
        _with_stats({"base_logits": logits, "features": features}, stats,
                    inter))

  del num_classes
  return base_lib.EpistemicNetwork(init, apply, base_lib.DeterministicIndexer())


# ---------------------------------------------------------------------------
# Epinet (Osband et al. 2023).


class EpinetHead(nn.Module):
  """Learnable epinet ``sigma_L(phi, z) = g(phi, z)^T z``.

  ``phi = concat(stop_gradient(features), flatten(x))`` (inputs optional).
  ``g`` is an MLP whose first layer is split into a ``phi`` part and a ``z``
  part, ``W [phi; z] = W_phi phi + W_z z``, so the ``phi`` part does not depend
  on the index and is computed once for all ``K`` index samples. The last
  layer outputs ``[classes, index_dim]`` which is contracted with ``z``.
  """

  num_classes: int
  index_dim: int
  hidden_sizes: Sequence[int] = (50,)
  include_inputs: bool = True

  @nn.compact
  def __call__(self, features: Array, x: Array, z: Array) -> Array:
    phi = jax.lax.stop_gradient(features.reshape((features.shape[0], -1)))
    if self.include_inputs:
      phi = jnp.concatenate(
          [phi, x.reshape((x.shape[0], -1)).astype(phi.dtype)], axis=-1)
    if self.hidden_sizes:
      h = (nn.Dense(self.hidden_sizes[0], name="phi_in")(phi)
           + nn.Dense(self.hidden_sizes[0], use_bias=False, name="z_in")(z))
      h = nn.relu(h)
      for width in self.hidden_sizes[1:]:
        h = nn.relu(nn.Dense(width)(h))
    else:
      h = phi
    out = nn.Dense(self.num_classes * self.index_dim, name="out")(h)
    out = out.reshape((h.shape[0], self.num_classes, self.index_dim))
    return jnp.einsum("bci,i->bc", out, z)


class _BaseWithEpinet(nn.Module):
  base: nn.Module
  head: EpinetHead

  def __call__(self, x: Array, z: Array, *, train: bool = False):
    logits, features = _bases.split_base_output(self.base(x, train=train))
    return logits + self.head(features, x, z), logits, features


def make_epinet(base: nn.Module, *, num_classes: int, index_dim: int = 8,
                hidden_sizes: Sequence[int] = (50,),
                include_inputs: bool = True,
                prior: str | nn.Module | None = "mlp_ensemble",
                prior_scale: float = 1.0,
                prior_kwargs: Mapping[str, Any] | None = None,
                scaled_index: bool = False) -> base_lib.EpistemicNetwork:
  """An epinet on ``base``: ``f(x, z) = mu(x) + sigma_L(sg[phi(x)], z) + s*sigma_P(x, z)``.

  Args:
    base: a linen module returning ``(logits, features)``.
    num_classes: number of classes.
    index_dim: dimension of the Gaussian index ``z``.
    hidden_sizes: hidden widths of the learnable epinet head.
    include_inputs: also feed the flattened input to the head.
    prior: a registered prior name, a prior module or ``None``.
    prior_scale: ``s``, multiplies the prior output.
    prior_kwargs: options for a registered prior.
    scaled_index: use ``ScaledGaussianIndexer`` (``z ~ N(0, I/index_dim)``).
  """
  if index_dim < 1:
    raise ValueError(f"index_dim must be >= 1; got {index_dim}.")
  trainable = _BaseWithEpinet(
      base, EpinetHead(num_classes, index_dim, tuple(hidden_sizes),
                       include_inputs))
  prior_module = _resolve_prior(prior, num_classes=num_classes,
                                index_dim=index_dim, prior_kwargs=prior_kwargs)

  def init(key, x, z):
    k_model, k_prior = jax.random.split(key)
    variables = dict(trainable.init({"params": k_model, "dropout": k_model},
                                    x, z, train=False))
    variables.update(_init_prior(prior_module, k_prior, x, z))
    return variables

  def apply(variables, x, z, *, train: bool = False, rngs=None):
    (logits, base_logits, features), stats, inter = _run(
        trainable, variables, x, z, train=train, rngs=rngs)
    prior_out = _prior_output(prior_module, prior_scale, variables, x, z,
                              num_classes)
    extra = _with_stats({"base_logits": base_logits, "features": features},
                        stats, inter)
    return base_lib.ENNOutput(logits, prior_out, extra)

  indexer = (base_lib.ScaledGaussianIndexer(index_dim) if scaled_index
             else base_lib.GaussianIndexer(index_dim))
  return base_lib.EpistemicNetwork(init, apply, indexer)


# ---------------------------------------------------------------------------
# Deep ensemble.


def make_ensemble(base: nn.Module, *, num_classes: int, num_ensemble: int,
                  prior: str | nn.Module | None = None,
                  prior_scale: float = 1.0,
                  prior_kwargs: Mapping[str, Any] | None = None
                  ) -> base_lib.EpistemicNetwork:
  """A deep ensemble of ``num_ensemble`` copies of ``base``.

  Member parameters are stacked on a leading axis (``vmap`` of ``init`` over
  split keys: member ``i`` is exactly ``base.init(jax.random.split(k,
  n)[i])``). The index is the member id; with a prior, member ``i`` adds its
  own fixed prior function (the prior is built with ``index_dim =
  num_ensemble`` and called with ``one_hot(i)``; Osband et al. 2018).
  """
  if num_ensemble < 1:
    raise ValueError(f"num_ensemble must be >= 1; got {num_ensemble}.")
  prior_module = _resolve_prior(prior, num_classes=num_classes,
                                index_dim=num_ensemble,
                                prior_kwargs=prior_kwargs)

  def member_keys(key):
    return jax.random.split(jax.random.fold_in(key, 0), num_ensemble)

  def init(key, x, z):
    del z
    stacked = jax.vmap(
        lambda k: dict(base.init({"params": k, "dropout": k}, x,
                                 train=False)))(member_keys(key))
    variables = dict(stacked)
    onehot = jnp.zeros((num_ensemble,), jnp.float32).at[0].set(1.0)
    variables.update(_init_prior(prior_module, jax.random.fold_in(key, 1), x,
                                 onehot))
    return variables

  def apply(variables, x, z, *, train: bool = False, rngs=None):
    z = jnp.asarray(z)
    member = jax.tree.map(lambda v: v[z], _model_variables(variables))
    out, stats, inter = _run(base, member, x, train=train, rngs=rngs)
    logits, features = _bases.split_base_output(out)
    if stats is not None:  # Write the member's statistics back in place.
      stats = jax.tree.map(lambda all_, new: all_.at[z].set(new),
                           variables[base_lib.BATCH_STATS], stats)
    onehot = jax.nn.one_hot(z, num_ensemble, dtype=jnp.float32)
    prior_out = _prior_output(prior_module, prior_scale, variables, x, onehot,
                              num_classes)
    extra = _with_stats({"base_logits": logits, "features": features}, stats,
                        inter)
    return base_lib.ENNOutput(logits, prior_out, extra)

  return base_lib.EpistemicNetwork(init, apply,
                                   base_lib.EnsembleIndexer(num_ensemble))


def ensemble_member_indices(num_ensemble: int) -> Array:
  """All member ids ``[0, ..., n-1]``: the indices to evaluate an ensemble."""
  return jnp.arange(num_ensemble, dtype=jnp.int32)


# ---------------------------------------------------------------------------
# MC dropout.


def make_mc_dropout(base: nn.Module, *, num_classes: int
                    ) -> base_lib.EpistemicNetwork:
  """MC dropout (Gal & Ghahramani 2016): the index is the dropout PRNG key.

  Dropout stays on at evaluation: each index is one dropout mask. ``base``
  must have dropout (e.g. ``MLP(..., dropout_rate=0.1)``).
  """
  del num_classes

  def init(key, x, z):
    return dict(base.init({"params": key, "dropout": z}, x, train=False))

  def apply(variables, x, z, *, train: bool = False, rngs=None):
    rngs = dict(rngs or {})
    rngs["dropout"] = z
    out, stats, inter = _run(base, variables, x, train=True, rngs=rngs)
    logits, features = _bases.split_base_output(out)
    stats, inter = (stats, inter) if train else (None, None)
    return base_lib.ENNOutput(
        logits, jnp.zeros_like(logits),
        _with_stats({"base_logits": logits, "features": features}, stats,
                    inter))

  return base_lib.EpistemicNetwork(init, apply, base_lib.PrngIndexer())
