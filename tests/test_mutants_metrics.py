"""Tests written for mutants of ``enn_sym/metrics`` that the other tests let
survive (``scripts/mutation_test.py``): documented defaults, edge cases and
numpy references. Small and fast."""

import numpy as np
import pytest

from enn_sym import metrics
from enn_sym.metrics import _common
from tests import numpy_reference as ref


def _run(metric, values, labels, mask=None):
  state = metric.update(metric.empty(), values, labels, mask)
  return {k: np.asarray(v) for k, v in metric.compute(state).items()}


def _edge_data(num_bins=15):
  """Two-class probabilities whose top confidence is exactly on an inner
  edge ``bin_edges(M)[b]`` (b > M/2), each paired with one inside the bin
  above the edge and of the other correctness, so that [lo, hi) and
  (lo, hi] bins (and 15 and 16 bins) give different ECEs."""
  e = _common.bin_edges(num_bins)
  rows, labels = [], []
  for b in range(num_bins // 2 + 2, num_bins - 1):
    inner = np.float32((e[b] + e[b + 1]) / 2)
    rows += [[e[b], 1 - e[b]], [inner, 1 - inner]]
    labels += [0, 1]  # the edge one right, the inner one wrong.
  return np.asarray(rows, np.float32), np.asarray(labels, np.int32)


def test_documented_default_bins_and_rule():
  # docs/metrics.md: num_bins=15 ("The default is M = 15"), right_closed
  # False, for the metrics and the one-shot helper.
  probs, labels = _edge_data()
  expected = ref.top_label(probs, labels, 15, "probs", False)["ece"]
  for other in (ref.top_label(probs, labels, 15, "probs", True)["ece"],
                ref.top_label(probs, labels, 16, "probs", False)["ece"]):
    assert abs(other - expected) > 1e-3  # the data tell them apart.
  np.testing.assert_allclose(
      metrics.expected_calibration_error(probs, labels), expected, atol=1e-6)
  out = _run(metrics.BinnedCalibration(input_kind="probs"), probs, labels)
  np.testing.assert_allclose(out["ece"], expected, atol=1e-6)
  cw = ref.classwise_ece(probs, labels, 15, "probs", False)[0]
  assert abs(ref.classwise_ece(probs, labels, 16, "probs", False)[0]
             - cw) > 1e-3
  out = _run(metrics.ClasswiseCalibration(2, input_kind="probs"), probs,
             labels)
  np.testing.assert_allclose(out["classwise_ece"], cw, atol=1e-6)
