"""One-shot report of all single-network metrics for one batch of data."""

from __future__ import annotations

import jax
import numpy as np

from enn_sym.metrics import _binned
from enn_sym.metrics import _classification

Array = jax.Array


def calibration_report(values: Array, labels: Array, *, input_kind: str,
                       num_bins: int = 15, mask: Array | None = None,
                       right_closed: bool = False) -> dict[str, Array]:
  """All of :class:`BinnedCalibration`, :class:`ClasswiseCalibration`,
  :class:`Accuracy`, :class:`NegativeLogLikelihood` and :class:`BrierScore`
  on one ``[batch, classes]`` array, through the same ``update``/``compute``
  code as the streaming metrics.

  Returns:
    One dict: ``ece, mce, rms_ce, accuracy, count``, the reliability arrays
    (``bin_accuracy, bin_confidence, bin_count, bin_edges``),
    ``classwise_ece, class_ece, nll, brier``.
  """
  metrics = (
      _binned.BinnedCalibration(num_bins, input_kind=input_kind,
                                right_closed=right_closed),
      _binned.ClasswiseCalibration(int(np.shape(values)[-1]), num_bins,
                                   input_kind=input_kind,
                                   right_closed=right_closed),
      _classification.Accuracy(input_kind=input_kind),
      _classification.NegativeLogLikelihood(input_kind=input_kind),
      _classification.BrierScore(input_kind=input_kind),
  )
  report = {}
  for metric in metrics:
    report.update(metric.compute(
        metric.update(metric.empty(), values, labels, mask)))
  return report
