"""Core interfaces shared by everything in enn_sym.

Shapes (documented once, asserted at the boundaries):

* ``x``: a batch of inputs, ``[batch, ...]``.
* ``z``: ONE epistemic index. Its form is fixed by the indexer: ``[index_dim]``
  float for Gaussian indexers, a scalar ``int32`` for ensembles, a PRNG key for
  dropout.
* ``zs``: a stack of ``K`` indices with a leading axis, ``[K, ...]``.
* logits from one index: ``[batch, classes]``; a logit *stack* from ``K``
  indices: ``[K, batch, classes]``.

An :class:`EpistemicNetwork` is a triple of pure functions ``init``, ``apply``
and ``indexer``. ``apply`` takes one index; :meth:`EpistemicNetwork.apply_multi`
vmaps it over a stack of indices. ``jax.vmap`` only batches values that depend
on the mapped argument, so a base network that does not see ``z`` runs once per
batch and only the index-dependent head and prior run ``K`` times: this is the
cost model of the epinet (see ``experiments/bench_core.py``).

Variables are a dict of collections: trainable weights in ``params``, fixed
prior weights in ``prior`` (never seen by the optimizer or weight decay),
BatchNorm statistics in ``batch_stats``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, NamedTuple, Protocol

import jax
import jax.numpy as jnp

Array = jax.Array
PRNGKey = jax.Array
Index = Any  # One epistemic index (see module docstring).
Variables = Mapping[str, Any]

PARAMS = "params"
PRIOR = "prior"
BATCH_STATS = "batch_stats"


class ENNOutput(NamedTuple):
  """Output of an ENN for one index.

  Attributes:
    train: logits of the trainable part, ``[batch, classes]``.
    prior: logits of the fixed prior, same shape (zeros when there is none).
    extra: auxiliary outputs (base logits, features, updated batch stats...).
  """

  train: Array
  prior: Array
  extra: Mapping[str, Any] = {}

  @property
  def preds(self) -> Array:
    """``train + stop_gradient(prior)``: the logits to use in losses."""
    return self.train + jax.lax.stop_gradient(self.prior)


class Indexer(Protocol):
  """Samples one epistemic index from a PRNG key."""

  def __call__(self, key: PRNGKey) -> Index:
    ...


@dataclasses.dataclass(frozen=True)
class GaussianIndexer:
  """``z ~ N(0, I_index_dim)``, the epinet's reference distribution."""

  index_dim: int

  def __call__(self, key: PRNGKey) -> Array:
    return jax.random.normal(key, (self.index_dim,))


@dataclasses.dataclass(frozen=True)
class ScaledGaussianIndexer:
  """``z ~ scale * N(0, I)``; default ``scale = 1/sqrt(index_dim)``, so E|z|^2 = 1."""

  index_dim: int
  scale: float | None = None

  def __call__(self, key: PRNGKey) -> Array:
    scale = self.index_dim ** -0.5 if self.scale is None else self.scale
    return scale * jax.random.normal(key, (self.index_dim,))


@dataclasses.dataclass(frozen=True)
class EnsembleIndexer:
  """``z ~ Uniform{0, ..., num_ensemble - 1}`` (a scalar int32)."""

  num_ensemble: int

  def __call__(self, key: PRNGKey) -> Array:
    return jax.random.randint(key, (), 0, self.num_ensemble)


@dataclasses.dataclass(frozen=True)
class PrngIndexer:
  """The index is a PRNG key (MC dropout: one key = one dropout mask)."""

  def __call__(self, key: PRNGKey) -> PRNGKey:
    return jax.random.fold_in(key, 0)


@dataclasses.dataclass(frozen=True)
class DeterministicIndexer:
  """A dummy index for networks without epistemic uncertainty (a plain base)."""

  def __call__(self, key: PRNGKey) -> Array:
    del key
    return jnp.zeros((), jnp.int32)


InitFn = Callable[[PRNGKey, Array, Index], dict]
ApplyFn = Callable[..., ENNOutput]


class EpistemicNetwork(NamedTuple):
  """An epistemic neural network: ``init``, ``apply`` and ``indexer``.

  ``init(key, x, z) -> variables`` and ``apply(variables, x, z, **kw) ->
  ENNOutput`` for a single index ``z``; ``indexer(key) -> z``.
  """

  init: InitFn
  apply: ApplyFn
  indexer: Indexer

  def sample_indices(self, key: PRNGKey, num: int) -> Index:
    """``num`` indices stacked on a leading axis."""
    return jax.vmap(self.indexer)(jax.random.split(key, num))

  def apply_multi(self, variables: Variables, x: Array, zs: Index,
                  **kwargs) -> ENNOutput:
    """``apply`` vmapped over a leading index axis: logits ``[K, batch, classes]``.

    Only computations that depend on ``z`` are batched; the rest (for an
    epinet, the whole base network) runs once.
    """
    return jax.vmap(lambda z: self.apply(variables, x, z, **kwargs))(zs)


def check_logit_stack(logits: Array, name: str = "logits") -> None:
  """Raises if ``logits`` is not a ``[K, batch, classes]`` stack."""
  if logits.ndim != 3:
    raise ValueError(
        f"{name} must be a logit stack of shape [K, batch, classes] "
        f"(K index samples); got shape {tuple(logits.shape)}. For one index "
        f"use {name}[None].")
