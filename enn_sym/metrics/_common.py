"""Pieces shared by all streaming metrics: the mergeable base, masks, the bin
rule and probabilities from logits or probabilities.

Every metric is a frozen (hashable) dataclass whose state is a NamedTuple of
fixed-shape arrays. ``update`` validates and then runs the private, unchecked
``_update`` under :func:`jit_update`; inside a caller's ``jax.jit`` that inner
jit is simply inlined.

Where ``update`` checks what: shapes, ranks, dtypes and the state's structure
always (also under ``jit``); values (finite, labels in range, probabilities
valid, mask 0/1) on the host when the arrays are concrete, and under ``jit``
only in checked mode (:mod:`enn_sym.metrics._checked`), where they become
``checkify`` checks. See :mod:`enn_sym._validation`.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from enn_sym import _validation

Array = jax.Array

# Smallest positive normal float32: log-probabilities of probabilities that
# are exactly 0 are clipped to log(TINY) ~ -87.3.
TINY = float(np.finfo(np.float32).tiny)


class Metric:
  """Mixin for the mergeable metrics: ``merge`` is an elementwise sum.

  Subclasses define ``empty()``, ``_update(state, ...)``, ``update`` (host
  checks, then ``jit_update``) and ``_compute(state)``.
  """

  def empty(self) -> Any:
    raise NotImplementedError

  def _compute(self, state: Any) -> dict[str, Array]:
    raise NotImplementedError

  def compute(self, state: Any) -> dict[str, Array]:
    """All values of ``state``: scalars and per-bin / per-class arrays.

    Kept for compatibility; :meth:`scalars` and :meth:`arrays` split it.
    """
    self._check_state(state)
    return jit_compute(_compute_key(self), state)

  def scalars(self, state: Any) -> dict[str, float | int]:
    """The scalar results of ``state`` as Python numbers (for logging).

    The keys of :meth:`compute` whose value has shape ``()`` (``ece``,
    ``accuracy``, ``count``, ...): a float, or an int for counts.
    """
    return {k: v.item() for k, v in self.compute(state).items()
            if np.ndim(v) == 0}

  def arrays(self, state: Any) -> dict[str, np.ndarray]:
    """The array results of ``state`` (per bin, per class, per replicate)
    as numpy arrays: the keys of :meth:`compute` not in :meth:`scalars`."""
    return {k: np.asarray(v) for k, v in self.compute(state).items()
            if np.ndim(v) != 0}

  def merge(self, a: Any, b: Any) -> Any:
    """Elementwise sum of two states (associative and commutative).

    Integer fields add exactly; float fields are sums, so regrouping changes
    them only by float rounding.
    """
    self._check_state(a, "a")
    self._check_state(b, "b")
    return jax.tree.map(jnp.add, a, b)

  def _check_state(self, state: Any, name: str = "state") -> None:
    """Host check that ``state`` has this metric's structure and shapes."""
    state_type, ref_shapes = _state_spec(self)
    if type(state) is not state_type:
      raise _validation.InputError(
          f"{name} must be a {state_type.__name__} made by this metric's "
          f"empty() or update(); got {type(state).__name__}.")
    shapes = tuple(np.shape(x) for x in jax.tree.leaves(state))
    if shapes != ref_shapes:
      raise _validation.InputError(
          f"{name} has field shapes {list(shapes)} but this metric "
          f"({self!r}) makes states with shapes {list(ref_shapes)}: was it "
          f"made by a metric with other settings (num_bins, num_classes)?")


@functools.lru_cache(maxsize=256)
def _state_spec(metric: Metric) -> tuple[type, tuple[tuple[int, ...], ...]]:
  """The state type and leaf shapes of ``metric`` (cached: metrics are
  hashable and immutable)."""
  ref = jax.eval_shape(metric.empty)
  return type(ref), tuple(tuple(x.shape) for x in jax.tree.leaves(ref))


def merge_states(metric: Metric, states: Sequence[Any]) -> Any:
  """Sums a non-empty sequence of states of ``metric`` (left to right)."""
  states = list(states)
  if not states:
    raise _validation.InputError(
        "states must be a non-empty sequence of metric states; use "
        "metric.empty() for no data.")
  return functools.reduce(metric.merge, states)


@functools.partial(jax.jit, static_argnums=0)
def jit_update(metric: Metric, state: Any, *args: Any) -> Any:
  """``metric._update(state, *args)`` compiled once per metric and shapes."""
  return metric._update(state, *args)  # pylint: disable=protected-access


def _compute_key(metric: Metric) -> Metric:
  """``metric`` with the fields ``_compute`` does not read set to fixed
  values, so metrics that differ only there share one compiled compute."""
  fields = {f.name for f in dataclasses.fields(metric)}
  canonical = {"input_kind": "logits", "right_closed": False}
  return dataclasses.replace(
      metric, **{k: v for k, v in canonical.items() if k in fields})


@functools.partial(jax.jit, static_argnums=0)
def jit_compute(metric: Metric, state: Any) -> dict[str, Array]:
  """``metric._compute(state)``, compiled once per metric."""
  return metric._compute(state)  # pylint: disable=protected-access


def valid_rows(mask: Array | None, batch: int) -> Array:
  """Boolean ``[batch]``: True for real examples (``mask != 0``)."""
  if mask is None:
    return jnp.ones((batch,), bool)
  return jnp.asarray(mask) != 0


def sanitize(values: Array, labels: Array, valid: Array,
             batch_axis: int = 0) -> tuple[Array, Array]:
  """float32 values and int32 labels with padded rows replaced by zeros.

  Padding may hold anything (even NaN); after this, every later product with
  a 0/1 weight is finite, so padded rows contribute exactly nothing.
  """
  values = jnp.asarray(values, jnp.float32)
  shape = [1] * values.ndim
  shape[batch_axis] = valid.shape[0]
  values = jnp.where(valid.reshape(shape), values, 0.0)
  labels = jnp.where(valid, jnp.asarray(labels, jnp.int32), 0)
  return values, labels


def probs_and_logprobs(values: Array, input_kind: str) -> tuple[Array, Array]:
  """Probabilities and log-probabilities over the last axis.

  Logits: ``softmax`` and ``log_softmax`` (stable). Probabilities: the values
  themselves and ``log(max(p, TINY))``, so ``p * log p`` is 0 at ``p = 0``.
  """
  if input_kind == "logits":
    return jax.nn.softmax(values, axis=-1), jax.nn.log_softmax(values, axis=-1)
  return values, jnp.log(jnp.maximum(values, TINY))


def take_label(x: Array, labels: Array) -> Array:
  """``x[..., b, labels[b]]`` for ``x`` of shape ``[..., batch, classes]``."""
  idx = jnp.broadcast_to(labels[:, None], x.shape[:-1] + (1,))
  return jnp.take_along_axis(x, idx, axis=-1)[..., 0]


def bin_edges(num_bins: int) -> np.ndarray:
  """``float32(b / M)`` for ``b = 0..M``, correctly rounded (host constant)."""
  return np.arange(num_bins + 1, dtype=np.float32) / np.float32(num_bins)


# Up to this many bins, bin_index counts the edges below c with unrolled
# comparisons (cheapest on CPU); beyond, it corrects floor(c * M) with a
# gather of the two edges around it (constant cost in M).
_MAX_UNROLLED_BINS = 32


def bin_index(conf: Array, num_bins: int, right_closed: bool = False) -> Array:
  """The bin of each confidence, int32 in ``[0, M)``.

  Default (``[lo, hi)`` bins): ``clip(floor(c * M), 0, M - 1)``, so ``c = 0``
  is in bin 0, ``c = 1`` in bin ``M - 1`` and an edge value ``b / M`` opens
  bin ``b``. ``right_closed`` (``(lo, hi]`` bins, as in Guo et al. 2017):
  ``clip(ceil(c * M) - 1, 0, M - 1)``.

  Exactly: the edges are the float32 numbers ``e_b = bin_edges(M)[b]`` and
  the bin is the number of inner edges ``e_1 .. e_{M-1}`` with ``e_b <= c``
  (``e_b < c`` when right-closed). A confidence equal to the float32 value of
  ``b / M`` (``0.7`` for ``M = 10``, say) is therefore on the edge, whatever
  the rounding of ``0.7 * 10``. Computing ``floor(c * M)`` in float32 alone
  could put confidences within an ulp of an edge one bin off.
  """
  m = num_bins
  edges = bin_edges(m)
  if m <= _MAX_UNROLLED_BINS:
    index = jnp.zeros(jnp.shape(conf), jnp.int32)
    for edge in edges[1:m]:
      above = conf > edge if right_closed else conf >= edge
      index = index + above.astype(jnp.int32)
    return index
  edges = jnp.asarray(edges)
  scaled = conf * m
  if right_closed:
    guess = jnp.ceil(scaled).astype(jnp.int32) - 1
  else:
    guess = jnp.floor(scaled).astype(jnp.int32)
  # float32 rounding of c * M is far below one bin: at most one step off.
  guess = jnp.clip(guess, 0, m - 1)
  lo = jnp.take(edges, guess)
  hi = jnp.take(edges, guess + 1)
  if right_closed:
    step = (conf > hi).astype(jnp.int32) - (conf <= lo).astype(jnp.int32)
  else:
    step = (conf >= hi).astype(jnp.int32) - (conf < lo).astype(jnp.int32)
  return jnp.clip(guess + step, 0, m - 1)


# Float per-bin sums are accumulated over blocks of this many elements and
# the block sums then added: a scatter-add adds sequentially, so one over a
# whole 100k batch would have float32 error ~1e-4; this bounds it by the
# block size and the number of blocks.
_SUM_BLOCK = 256


def bin_sum(index: Array, values: Array, size: int) -> Array:
  """float32 ``out[j] = sum_{i: index_i = j} values_i`` for flat ``[n]``
  ``index`` in ``[0, size)`` (a blocked scatter-add, see ``_SUM_BLOCK``)."""
  n = index.shape[0]
  if n <= _SUM_BLOCK:
    return jnp.zeros((size,), jnp.float32).at[index].add(values)
  blocks = -(-n // _SUM_BLOCK)
  block_of = jnp.arange(n, dtype=jnp.int32) // _SUM_BLOCK
  partial = jnp.zeros((blocks * size,), jnp.float32).at[
      index + size * block_of].add(values)
  return jnp.sum(partial.reshape(blocks, size), axis=0)


def safe_div(num: Array, den: Array) -> Array:
  """``num / den`` where ``den > 0``, else 0 (empty bins, no data)."""
  den = jnp.asarray(den)
  return jnp.where(den > 0, num / jnp.maximum(den, 1), 0.0)
