r"""Streaming Poisson-bootstrap confidence interval for the top-label ECE.

The bootstrap resamples the evaluation set with replacement and recomputes
the ECE on each resample; the spread of those ECEs is the sampling
uncertainty of the single-model number. A multinomial resample needs the
whole data set at once; the Poisson bootstrap (Hanley & MacGibbon 2006;
Chamandy et al. 2012) instead gives every example ``i`` an independent
weight :math:`w_{bi} \sim \mathrm{Poisson}(1)` in every replicate ``b``
(:math:`\mathbb E w = \mathrm{Var}\, w = 1`, the large-``N`` limit of the
multinomial counts), so it streams: each batch adds its weighted per-bin
sums to ``B`` replicate states.

With ``n_{bm} = \sum_i w_{bi}[\text{bin}_i = m]`` and the weighted sums of
confidences ``s_{bm}`` and of correct predictions ``a_{bm}`` in bin ``m``,
replicate ``b`` has

:math:`\mathrm{ECE}_b = \sum_m |a_{bm} - s_{bm}| / \sum_m n_{bm}`,

the ECE of :class:`BinnedCalibration` on the resample (same confidence,
prediction and bin rule). The interval is the percentile interval
``quantile(ECE_b, [alpha / 2, 1 - alpha / 2])`` (``numpy``'s default
``"linear"`` quantile). The point estimate ``ece`` is the ECE of the data
itself (all weights 1).

State: O(B x bins) sums, mergeable by addition like every metric here,
masked (padded rows get weight 0), and sharded like the other metric states
(a replicated ``[B, M]`` state; the batch may be sharded). Counts are exact
integers.

Weights: :func:`poisson_weights` draws ``[B, batch]`` from the ``key`` of
each update by the inverse CDF of Poisson(1) on a float32 uniform (12
thresholds; the mass above 12, ~1e-10, is put at 12), which is exact to the
resolution of the uniform and cheap under ``jit``. The weights depend on the
key and the position in the batch, so the same batches with the same keys
give the same interval (pass ``jax.random.fold_in(key, batch_index)``).

References:
  J. Hanley, B. MacGibbon, "Creating non-parametric bootstrap samples using
  Poisson frequencies", Computer Methods and Programs in Biomedicine 83(1),
  2006. N. Chamandy et al., "Estimating uncertainty for massive data
  streams", Google technical report, 2012.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from enn_sym import _validation
from enn_sym.metrics import _binned
from enn_sym.metrics import _common
from enn_sym.metrics import _enn

Array = jax.Array

_MAX_WEIGHT = 12
# P(X <= k) for X ~ Poisson(1), k = 0..11, as float32 thresholds.
_POISSON_CDF = np.cumsum([math.exp(-1.0) / math.factorial(k)
                          for k in range(_MAX_WEIGHT)]).astype(np.float32)


def poisson_weights(key: Array, num_replicates: int, batch: int) -> Array:
  """int32 ``[num_replicates, batch]`` i.i.d. Poisson(1) weights.

  ``w = #{k: u >= F(k)}`` for ``u ~ U[0, 1)`` and the Poisson(1) CDF ``F``
  at ``k = 0..11`` (so ``w <= 12``). Jittable; the function the metric
  uses, exposed so a reference can reuse the same weights.
  """
  u = jax.random.uniform(key, (num_replicates, batch), jnp.float32)
  w = jnp.zeros(u.shape, jnp.int32)
  for threshold in _POISSON_CDF:
    w = w + (u >= threshold).astype(jnp.int32)
  return w


class BootstrapState(NamedTuple):
  """State of :class:`BootstrapECE` (``B`` replicates, ``M`` bins).

  Attributes:
    calibration: the unweighted :class:`BinnedState` (point estimate).
    count: int32[B, M], weighted example counts per bin.
    conf_sum: float32[B, M], weighted sums of confidences.
    correct: int32[B, M], weighted counts of correct predictions.
  """

  calibration: _binned.BinnedState
  count: Array
  conf_sum: Array
  correct: Array


@dataclasses.dataclass(frozen=True)
class BootstrapECE(_common.Metric):
  """Top-label ECE with a streaming Poisson-bootstrap CI (module docstring).

  ``values`` are ``[batch, classes]`` or a stack ``[K, batch, classes]``
  (then the mean predictive ``pbar = mean_k p_k``, as in
  :class:`EnsemblePredictive`).

  ``compute`` returns ``ece`` (point estimate), ``ece_low`` and
  ``ece_high`` (the percentile interval at ``confidence``), ``ece_std``
  (standard deviation of the replicates), ``count`` and the replicate
  values ``ece_replicates`` ``[B]``.

  Attributes:
    num_bins: ``M``.
    num_replicates: ``B`` bootstrap replicates.
    confidence: level of the interval (0.95 = 95%).
    input_kind: ``"logits"`` or ``"probs"``. Required.
    right_closed: ``(lo, hi]`` bins (see :class:`BinnedCalibration`).
  """

  num_bins: int = 15
  _: dataclasses.KW_ONLY
  num_replicates: int = 200
  confidence: float = 0.95
  input_kind: str
  right_closed: bool = False

  def __post_init__(self):
    _validation.check_positive_int(self.num_bins, "num_bins")
    _validation.check_positive_int(self.num_replicates, "num_replicates")
    _validation.check_scalar(self.confidence, "confidence", low=0.0,
                             high=1.0, low_open=True, high_open=True)
    _validation.check_input_kind(self.input_kind)
    _binned._check_bool(self.right_closed, "right_closed")  # pylint: disable=protected-access

  @property
  def _calibration(self) -> _binned.BinnedCalibration:
    return _binned.BinnedCalibration(self.num_bins, input_kind="probs",
                                     right_closed=self.right_closed)

  def empty(self) -> BootstrapState:
    shape = (self.num_replicates, self.num_bins)
    return BootstrapState(self._calibration.empty(),
                          jnp.zeros(shape, jnp.int32),
                          jnp.zeros(shape, jnp.float32),
                          jnp.zeros(shape, jnp.int32))

  def update(self, state: BootstrapState, values: Array, labels: Array,
             mask: Array | None = None, key: Array | None = None
             ) -> BootstrapState:
    """Adds a batch.

    Args:
      state: the running state.
      values: ``[batch, classes]`` or ``[K, batch, classes]``.
      labels: int ``[batch]``.
      mask: optional ``[batch]``, 1 = real example, 0 = padding.
      key: PRNG key of this batch's bootstrap weights. Required; use a
        different key per batch.

    Returns:
      The new state.
    """
    self._check_state(state)
    if np.ndim(values) == 3:
      _enn._check_stack(values, labels, mask, self.input_kind)  # pylint: disable=protected-access
    else:
      _validation.check_masked_predictions(values, labels, mask,
                                           self.input_kind, "values")
    _enn._check_key(key)  # pylint: disable=protected-access
    return _common.jit_update(self, state, values, labels, mask, key)

  def _update(self, state: BootstrapState, values: Array, labels: Array,
              mask: Array | None, key: Array) -> BootstrapState:
    stack = values.ndim == 3
    batch = values.shape[1 if stack else 0]
    valid = _common.valid_rows(mask, batch)
    values, labels = _common.sanitize(values, labels, valid,
                                      batch_axis=1 if stack else 0)
    probs, _ = _common.probs_and_logprobs(values, self.input_kind)
    if stack:
      probs = jnp.mean(probs, axis=0)
    calibration = self._calibration._update(  # pylint: disable=protected-access
        state.calibration, probs, labels, mask)
    conf = jnp.max(probs, axis=-1)
    correct = (jnp.argmax(probs, axis=-1) == labels).astype(jnp.int32)
    bins = _common.bin_index(conf, self.num_bins, self.right_closed)
    onehot = jax.nn.one_hot(bins, self.num_bins, dtype=jnp.int32)  # [N, M]
    weights = poisson_weights(key, self.num_replicates, batch)
    weights = weights * valid.astype(jnp.int32)[None]  # [B, N]
    conf = jnp.where(valid, conf, 0.0)
    return BootstrapState(
        calibration=calibration,
        count=state.count + weights @ onehot,
        conf_sum=state.conf_sum + jnp.matmul(
            weights.astype(jnp.float32), onehot.astype(jnp.float32) *
            conf[:, None], precision=jax.lax.Precision.HIGHEST),
        correct=state.correct + weights @ (onehot * correct[:, None]))

  def _compute(self, state: BootstrapState) -> dict[str, Array]:
    """See the class docstring."""
    point = self._calibration._compute(state.calibration)  # pylint: disable=protected-access
    total = jnp.sum(state.count, axis=-1)
    gap = jnp.abs(state.correct.astype(jnp.float32) - state.conf_sum)
    replicates = _common.safe_div(jnp.sum(gap, axis=-1), total)
    alpha = 1.0 - self.confidence
    low, high = jnp.quantile(replicates, jnp.asarray(
        [alpha / 2, 1.0 - alpha / 2], jnp.float32))
    return {"ece": point["ece"], "ece_low": low, "ece_high": high,
            "ece_std": jnp.std(replicates), "count": point["count"],
            "ece_replicates": replicates}
