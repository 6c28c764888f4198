"""Binned calibration: top-label ECE / MCE / RMS-CE and classwise ECE.

Both metrics keep per-bin sums only (O(bins) or O(classes * bins) memory),
never per-example predictions, so they stream over any number of batches and
merge by addition.

Bin rule (shared, see :func:`enn_sym.metrics._common.bin_index`): with ``M``
bins and edges ``e_b = b / M`` (as float32), the default bins are
``[e_b, e_{b+1})`` with the last one closed: ``bin(c) = clip(floor(c M), 0,
M - 1)``. So ``c = 0`` is in bin 0, ``c = 1`` in bin ``M - 1``, and a value on
an edge opens the bin above it. ``right_closed=True`` uses ``(e_b, e_{b+1}]``
(``clip(ceil(c M) - 1, 0, M - 1)``, Guo et al. 2017), so an edge value closes
the bin below it. Libraries disagree on this rule; it only matters for
confidences exactly on an edge.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from enn_sym import _validation
from enn_sym.metrics import _common

Array = jax.Array


def _check_bool(value, name: str) -> None:
  if not isinstance(value, bool):
    raise _validation.InputError(f"{name} must be a bool; got {value!r}.")


class BinnedState(NamedTuple):
  """Per-bin sums of :class:`BinnedCalibration` (``M = num_bins``).

  Attributes:
    count: int32[M], number of real examples whose confidence is in bin b.
    conf_sum: float32[M], sum of their confidences.
    correct: int32[M], how many of them are classified correctly.
  """

  count: Array
  conf_sum: Array
  correct: Array


@dataclasses.dataclass(frozen=True)
class BinnedCalibration(_common.Metric):
  """Top-label calibration: ECE, MCE, RMS calibration error, reliability data.

  For each example the confidence is ``c = max_j p_j`` (the top softmax
  probability, computed stably from logits, or the largest given
  probability), the prediction is ``argmax_j values_j`` (first index on ties)
  and ``correct = [prediction == label]``. With ``n_b`` examples in bin ``b``,
  ``N = sum_b n_b``, ``acc_b`` their accuracy and ``conf_b`` their mean
  confidence:

  * ``ece = sum_b (n_b / N) |acc_b - conf_b|``,
  * ``mce = max_{b: n_b > 0} |acc_b - conf_b|``,
  * ``rms_ce = sqrt(sum_b (n_b / N) (acc_b - conf_b)^2)``.

  Empty bins contribute nothing. With no data (``N = 0``) every metric is
  reported as 0 (not NaN) and ``count`` is 0, so a caller can tell.

  Attributes:
    num_bins: number of equal-width bins ``M`` on [0, 1].
    input_kind: ``"logits"`` or ``"probs"``: what ``values`` hold. Required.
    right_closed: use ``(lo, hi]`` bins instead of ``[lo, hi)`` (see the
      module docstring).
  """

  num_bins: int = 15
  _: dataclasses.KW_ONLY
  input_kind: str
  right_closed: bool = False

  def __post_init__(self):
    _validation.check_positive_int(self.num_bins, "num_bins")
    _validation.check_input_kind(self.input_kind)
    _check_bool(self.right_closed, "right_closed")

  def empty(self) -> BinnedState:
    m = self.num_bins
    return BinnedState(count=jnp.zeros((m,), jnp.int32),
                       conf_sum=jnp.zeros((m,), jnp.float32),
                       correct=jnp.zeros((m,), jnp.int32))

  def update(self, state: BinnedState, values: Array, labels: Array,
             mask: Array | None = None) -> BinnedState:
    """Adds a batch. ``values``: ``[batch, classes]`` logits or probs.

    Args:
      state: the running state.
      values: logits or probabilities (per ``input_kind``).
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

  def _update(self, state: BinnedState, values: Array, labels: Array,
              mask: Array | None) -> BinnedState:
    valid = _common.valid_rows(mask, values.shape[0])
    values, labels = _common.sanitize(values, labels, valid)
    if self.input_kind == "logits":
      # max softmax = exp(0) / sum_j exp(l_j - max l) = 1 / sum_j exp(...).
      shifted = values - jnp.max(values, axis=-1, keepdims=True)
      conf = 1.0 / jnp.sum(jnp.exp(shifted), axis=-1)
    else:
      conf = jnp.max(values, axis=-1)
    correct = jnp.argmax(values, axis=-1) == labels
    return self._accumulate(state, conf, correct, valid)

  def _accumulate(self, state: BinnedState, conf: Array, correct: Array,
                  valid: Array) -> BinnedState:
    """Scatter-adds one batch of (confidence, correct) into the bins."""
    bins = _common.bin_index(conf, self.num_bins, self.right_closed)
    ones = valid.astype(jnp.int32)
    return BinnedState(
        count=state.count.at[bins].add(ones),
        conf_sum=state.conf_sum + _common.bin_sum(
            bins, jnp.where(valid, conf, 0.0), self.num_bins),
        correct=state.correct.at[bins].add(ones * correct.astype(jnp.int32)))

  def _compute(self, state: BinnedState) -> dict[str, Array]:
    """The metrics and reliability-diagram arrays.

    Returns:
      ``ece``, ``mce``, ``rms_ce``, ``accuracy`` (float32 scalars), ``count``
      (int32 N), and per bin: ``bin_accuracy``, ``bin_confidence`` (0 for
      empty bins), ``bin_count`` (int32) and ``bin_edges`` (``M + 1``).
    """
    n = state.count
    total = jnp.sum(n)
    correct = state.correct.astype(jnp.float32)
    # sum_b (n_b / N) |acc_b - conf_b| = sum_b |correct_b - conf_sum_b| / N.
    diff = correct - state.conf_sum
    bin_acc = _common.safe_div(correct, n)
    bin_conf = _common.safe_div(state.conf_sum, n)
    gaps = jnp.where(n > 0, jnp.abs(bin_acc - bin_conf), 0.0)
    return {
        "ece": _common.safe_div(jnp.sum(jnp.abs(diff)), total),
        "mce": jnp.max(gaps),
        "rms_ce": jnp.sqrt(_common.safe_div(
            jnp.sum(_common.safe_div(diff * diff, n)), total)),
        "accuracy": _common.safe_div(jnp.sum(correct), total),
        "count": total,
        "bin_accuracy": bin_acc,
        "bin_confidence": bin_conf,
        "bin_count": n,
        "bin_edges": jnp.asarray(_common.bin_edges(self.num_bins)),
    }


class ClasswiseState(NamedTuple):
  """Per-class, per-bin sums of :class:`ClasswiseCalibration`.

  Attributes:
    count: int32[K, M], number of real examples with ``p_k`` in bin b.
    conf_sum: float32[K, M], the sum of those ``p_k``.
    label_count: int32[K, M], how many of them have label k.
  """

  count: Array
  conf_sum: Array
  label_count: Array


@dataclasses.dataclass(frozen=True)
class ClasswiseCalibration(_common.Metric):
  """Classwise ECE (Kull et al. 2019; Nixon et al. 2019).

  Every class probability ``p_k(x)`` of every example is binned (same bin
  rule as :class:`BinnedCalibration`). With ``n_kb`` examples in bin ``b`` for
  class ``k``, ``conf_kb`` their mean ``p_k`` and ``freq_kb`` the fraction of
  them whose label is ``k``:

  ``class_ece_k = sum_b (n_kb / N) |freq_kb - conf_kb|``,
  ``classwise_ece = (1 / K) sum_k class_ece_k``.

  With no data every value is 0 and ``count`` is 0.

  Attributes:
    num_classes: ``K``; ``values`` must have ``K`` columns.
    num_bins: ``M``.
    input_kind: ``"logits"`` or ``"probs"``. Required.
    right_closed: ``(lo, hi]`` bins instead of ``[lo, hi)``.
  """

  num_classes: int
  num_bins: int = 15
  _: dataclasses.KW_ONLY
  input_kind: str
  right_closed: bool = False

  def __post_init__(self):
    _validation.check_positive_int(self.num_classes, "num_classes")
    _validation.check_positive_int(self.num_bins, "num_bins")
    _validation.check_input_kind(self.input_kind)
    _check_bool(self.right_closed, "right_closed")

  def empty(self) -> ClasswiseState:
    shape = (self.num_classes, self.num_bins)
    return ClasswiseState(count=jnp.zeros(shape, jnp.int32),
                          conf_sum=jnp.zeros(shape, jnp.float32),
                          label_count=jnp.zeros(shape, jnp.int32))

  def update(self, state: ClasswiseState, values: Array, labels: Array,
             mask: Array | None = None) -> ClasswiseState:
    """Adds a batch; arguments as in :meth:`BinnedCalibration.update`."""
    self._check_state(state)
    _validation.check_masked_predictions(values, labels, mask,
                                         self.input_kind, "values")
    if np.shape(values)[-1] != self.num_classes:
      raise _validation.InputError(
          f"values has {np.shape(values)[-1]} classes (shape "
          f"{tuple(np.shape(values))}) but this metric has num_classes = "
          f"{self.num_classes}.")
    return _common.jit_update(self, state, values, labels, mask)

  def _update(self, state: ClasswiseState, values: Array, labels: Array,
              mask: Array | None) -> ClasswiseState:
    k, m = self.num_classes, self.num_bins
    valid = _common.valid_rows(mask, values.shape[0])
    values, labels = _common.sanitize(values, labels, valid)
    probs, _ = _common.probs_and_logprobs(values, self.input_kind)
    bins = _common.bin_index(probs, m, self.right_closed)  # [batch, K]
    flat = (bins + m * jnp.arange(k, dtype=jnp.int32)).reshape(-1)
    ones = jnp.broadcast_to(valid[:, None], bins.shape).astype(jnp.int32)
    label_bin = _common.take_label(bins, labels)  # bin of p_y, [batch]
    conf = jnp.where(valid[:, None], probs, 0.0)
    return ClasswiseState(
        count=state.count.reshape(-1).at[flat].add(
            ones.reshape(-1)).reshape(k, m),
        conf_sum=state.conf_sum + _common.bin_sum(
            flat, conf.reshape(-1), k * m).reshape(k, m),
        label_count=state.label_count.at[labels, label_bin].add(
            valid.astype(jnp.int32)))

  def _compute(self, state: ClasswiseState) -> dict[str, Array]:
    """Returns ``classwise_ece``, per-class ``class_ece`` [K] and ``count``."""
    total = jnp.sum(state.count[0])  # Every example is in one bin per class.
    gap = jnp.abs(state.label_count.astype(jnp.float32) - state.conf_sum)
    class_ece = _common.safe_div(jnp.sum(gap, axis=-1), total)
    return {"classwise_ece": jnp.mean(class_ece), "class_ece": class_ece,
            "count": total}


def expected_calibration_error(probs: Array, labels: Array,
                               num_bins: int = 15, *,
                               input_kind: str = "probs",
                               right_closed: bool = False) -> Array:
  """One-shot top-label ECE of one batch (same code as BinnedCalibration).

  Args:
    probs: ``[batch, classes]`` probabilities (or logits with
      ``input_kind="logits"``).
    labels: int ``[batch]``.
    num_bins: ``M``.
    input_kind: ``"probs"`` (default here) or ``"logits"``.
    right_closed: ``(lo, hi]`` bins.

  Returns:
    A float32 scalar array (0 for an empty batch); usable under ``jax.jit``.
  """
  metric = BinnedCalibration(num_bins, input_kind=input_kind,
                             right_closed=right_closed)
  state = metric.update(metric.empty(), probs, labels)
  return metric.compute(state)["ece"]
