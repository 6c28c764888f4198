"""Accuracy, negative log-likelihood and Brier score as streaming sums."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from enn_sym import _validation
from enn_sym.metrics import _common

Array = jax.Array


def brier_terms(probs: Array, labels: Array) -> Array:
  """``sum_j (p_j - [j = y])^2`` per example, ``[batch]``."""
  onehot = jax.nn.one_hot(labels, probs.shape[-1], dtype=probs.dtype)
  return jnp.sum(jnp.square(probs - onehot), axis=-1)


class _SingleBatchMetric(_common.Metric):
  """Shared ``update`` for metrics of one ``[batch, classes]`` prediction."""

  input_kind: str

  def __post_init__(self):
    _validation.check_input_kind(self.input_kind)

  def update(self, state, values: Array, labels: Array,
             mask: Array | None = None):
    """Adds a batch.

    Args:
      state: the running state.
      values: ``[batch, classes]`` logits or probabilities (``input_kind``).
      labels: int ``[batch]`` class ids.
      mask: optional ``[batch]``, 1 for real examples and 0 for padding;
        padded rows change nothing and may hold anything.

    Returns:
      The new state.
    """
    self._check_state(state)
    _validation.check_masked_predictions(values, labels, mask,
                                         self.input_kind, "values")
    return _common.jit_update(self, state, values, labels, mask)


class AccuracyState(NamedTuple):
  """Attributes: ``correct`` and ``count`` (int32 scalars, real examples)."""

  correct: Array
  count: Array


@dataclasses.dataclass(frozen=True)
class Accuracy(_SingleBatchMetric):
  """``accuracy = (1/N) sum_i [argmax_j values_ij = y_i]`` (first index on
  ties); 0 when ``N = 0``.

  Attributes:
    input_kind: ``"logits"`` or ``"probs"``. Required.
  """

  _: dataclasses.KW_ONLY
  input_kind: str

  def empty(self) -> AccuracyState:
    return AccuracyState(jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))

  def _update(self, state: AccuracyState, values: Array, labels: Array,
              mask: Array | None) -> AccuracyState:
    valid = _common.valid_rows(mask, values.shape[0])
    values, labels = _common.sanitize(values, labels, valid)
    hit = valid & (jnp.argmax(values, axis=-1) == labels)
    return AccuracyState(state.correct + jnp.sum(hit, dtype=jnp.int32),
                         state.count + jnp.sum(valid, dtype=jnp.int32))

  def _compute(self, state: AccuracyState) -> dict[str, Array]:
    """Returns ``accuracy`` and ``count``."""
    return {"accuracy": _common.safe_div(
        state.correct.astype(jnp.float32), state.count),
            "count": state.count}


class NLLState(NamedTuple):
  """Attributes: ``nll_sum`` (float32) and ``count`` (int32)."""

  nll_sum: Array
  count: Array


@dataclasses.dataclass(frozen=True)
class NegativeLogLikelihood(_SingleBatchMetric):
  """``nll = -(1/N) sum_i log p_{y_i}(x_i)``; 0 when ``N = 0``.

  From logits via ``log_softmax`` (stable); from probabilities via
  ``log(max(p, tiny))`` with ``tiny`` the smallest normal float32, so a zero
  probability on the label costs about 87.3 nats instead of inf.

  Attributes:
    input_kind: ``"logits"`` or ``"probs"``. Required.
  """

  _: dataclasses.KW_ONLY
  input_kind: str

  def empty(self) -> NLLState:
    return NLLState(jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32))

  def _update(self, state: NLLState, values: Array, labels: Array,
              mask: Array | None) -> NLLState:
    valid = _common.valid_rows(mask, values.shape[0])
    values, labels = _common.sanitize(values, labels, valid)
    _, logp = _common.probs_and_logprobs(values, self.input_kind)
    nll = -_common.take_label(logp, labels)
    return NLLState(state.nll_sum + jnp.sum(jnp.where(valid, nll, 0.0)),
                    state.count + jnp.sum(valid, dtype=jnp.int32))

  def _compute(self, state: NLLState) -> dict[str, Array]:
    """Returns ``nll`` and ``count``."""
    return {"nll": _common.safe_div(state.nll_sum, state.count),
            "count": state.count}


class BrierState(NamedTuple):
  """Attributes: ``brier_sum`` (float32) and ``count`` (int32)."""

  brier_sum: Array
  count: Array


@dataclasses.dataclass(frozen=True)
class BrierScore(_SingleBatchMetric):
  """``brier = (1/N) sum_i sum_j (p_ij - [j = y_i])^2`` (in [0, 2]); 0 when
  ``N = 0``.

  Attributes:
    input_kind: ``"logits"`` or ``"probs"``. Required.
  """

  _: dataclasses.KW_ONLY
  input_kind: str

  def empty(self) -> BrierState:
    return BrierState(jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32))

  def _update(self, state: BrierState, values: Array, labels: Array,
              mask: Array | None) -> BrierState:
    valid = _common.valid_rows(mask, values.shape[0])
    values, labels = _common.sanitize(values, labels, valid)
    probs, _ = _common.probs_and_logprobs(values, self.input_kind)
    terms = brier_terms(probs, labels)
    return BrierState(state.brier_sum + jnp.sum(jnp.where(valid, terms, 0.0)),
                      state.count + jnp.sum(valid, dtype=jnp.int32))

  def _compute(self, state: BrierState) -> dict[str, Array]:
    """Returns ``brier`` and ``count``."""
    return {"brier": _common.safe_div(state.brier_sum, state.count),
            "count": state.count}
