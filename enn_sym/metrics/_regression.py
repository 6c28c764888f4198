r"""GENCE and GENCE_sq (Berman et al. 2025, Definition 6, eqs. 8-9).

Calibration of a diagonal-Gaussian regressor :math:`h = (h_\mu,
h_{\sigma^2})`. With :math:`e = |h_\mu - f|` (elementwise) and
:math:`a = \sqrt{2 s / \pi}` the mean absolute error of a calibrated
Gaussian of variance :math:`s` (Remark 2),

* ``gence`` :math:`= \sum_b \frac{n_b}{N} \frac{\sum_{i \in b} \|a_i -
  e_i\|_2^2}{\sum_{i \in b} \|a_i\|_2^2}` (eq. 8),
* ``gence_sq`` :math:`= \sum_b \frac{n_b}{N} \frac{\sum_{i \in b} \|s_i -
  e_i^2\|_2^2}{\sum_{i \in b} \|s_i\|_2^2}` (eq. 9),

where the bins :math:`b` stand for the variance fibres :math:`\{h_{\sigma^2}
= s\}`. When every example of a bin has the same variance this is exactly
the fibre's :math:`E[\|a - e\|^2 \mid s] / \|a\|^2`. Bins are on the total
predicted variance :math:`\sum_j s_j`, at fixed edges: quantiles of a
reference set's variances (:func:`variance_quantile_edges`, the quantile
binning the paper advises), so the state is per-bin sums that stream and
merge by addition. A calibrated Gaussian has ``gence`` :math:`\pi/2 - 1
\approx 0.571` (the variance of :math:`|Z|` over :math:`E|Z|^2`) and
``gence_sq`` 2, not 0: the metric measures the distance to calibration on a
scale where those are the calibrated values.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from enn_sym import _validation
from enn_sym.metrics import _common

Array = jax.Array


def variance_quantile_edges(variances, num_bins: int) -> tuple[float, ...]:
  """The ``num_bins - 1`` inner bin edges at the quantiles of ``variances``.

  Args:
    variances: ``[N]`` or ``[N, dims]`` predicted variances of a reference
      set (e.g. the validation split); vectors are binned by their sum.
    num_bins: ``M``.

  Returns:
    A sorted tuple of floats, for :class:`GaussianCalibration`.
  """
  _validation.check_positive_int(num_bins, "num_bins")
  v = np.asarray(variances, np.float64)
  if v.ndim == 2:
    v = v.sum(1)
  if v.ndim != 1 or v.size == 0 or not np.all(np.isfinite(v)) or (
      v.min() < 0):
    raise _validation.InputError(
        "variances must be a non-empty [N] or [N, dims] array of finite "
        f"non-negative predicted variances; got shape {np.shape(variances)}.")
  q = np.quantile(v, np.arange(1, num_bins) / num_bins)
  return tuple(float(x) for x in q)


class GaussianState(NamedTuple):
  """Per-bin sums of :class:`GaussianCalibration` (``M`` bins).

  Attributes:
    count: int32[M] real examples per bin.
    abs_num: float32[M] :math:`\\sum \\|a - e\\|^2`.
    abs_den: float32[M] :math:`\\sum \\|a\\|^2`.
    sq_num: float32[M] :math:`\\sum \\|s - e^2\\|^2`.
    sq_den: float32[M] :math:`\\sum \\|s\\|^2`.
    sq_error: float32[M] :math:`\\sum \\|h_\\mu - f\\|^2`.
    variance: float32[M] :math:`\\sum_i \\sum_j s_{ij}`.
  """

  count: Array
  abs_num: Array
  abs_den: Array
  sq_num: Array
  sq_den: Array
  sq_error: Array
  variance: Array


@dataclasses.dataclass(frozen=True)
class GaussianCalibration(_common.Metric):
  """Streaming GENCE / GENCE_sq of a Gaussian-output model (module docstring).

  Attributes:
    edges: sorted inner bin edges on the total predicted variance (``M - 1``
      of them for ``M`` bins; ``()`` = one bin), e.g.
      :func:`variance_quantile_edges` of a reference set. A variance equal
      to an edge opens the bin above it.
  """

  edges: tuple[float, ...] = ()

  def __post_init__(self):
    e = np.asarray(self.edges, np.float64)
    if not isinstance(self.edges, tuple) or e.ndim != 1 or not np.all(
        np.isfinite(e)) or np.any(np.diff(e) < 0):
      raise _validation.InputError(
          "edges must be a tuple of finite, sorted floats (inner bin edges "
          f"on the predicted variance); got {self.edges!r}.")

  @property
  def num_bins(self) -> int:
    return len(self.edges) + 1

  def empty(self) -> GaussianState:
    z = jnp.zeros((self.num_bins,), jnp.float32)
    return GaussianState(jnp.zeros((self.num_bins,), jnp.int32), z, z, z, z,
                         z, z)

  def update(self, state: GaussianState, mean: Array, variance: Array,
             targets: Array, mask: Array | None = None) -> GaussianState:
    """Adds a batch.

    Args:
      state: the running state.
      mean: ``[batch]`` or ``[batch, dims]`` predicted means.
      variance: same shape, predicted variances (>= 0).
      targets: same shape, the true values.
      mask: optional ``[batch]``, 1 = real, 0 = padding (may hold anything).

    Returns:
      The new state.
    """
    self._check_state(state)
    shapes = {np.shape(mean), np.shape(variance), np.shape(targets)}
    if len(shapes) != 1 or np.ndim(mean) not in (1, 2):
      raise _validation.InputError(
          "mean, variance and targets must share one shape [batch] or "
          f"[batch, dims]; got {np.shape(mean)}, {np.shape(variance)}, "
          f"{np.shape(targets)}.")
    batch = np.shape(mean)[0]
    if mask is not None:
      _validation.check_mask(mask, batch)
      _validation.check_mask_values(mask)
    if _validation.is_concrete(mean, variance, targets, mask):
      real = (np.ones(batch, bool) if mask is None
              else np.asarray(mask) != 0)
      for x, name in ((mean, "mean"), (variance, "variance"),
                      (targets, "targets")):
        _validation.check_finite(np.asarray(x)[real], name)
      v = np.asarray(variance)[real]
      if v.size and v.min() < 0:
        raise _validation.InputError(
            f"variance must be >= 0 (predicted variances); got {v.min()!r}.")
    return _common.jit_update(self, state, mean, variance, targets, mask)

  def _update(self, state, mean, variance, targets, mask) -> GaussianState:
    as2 = lambda x: jnp.asarray(x, jnp.float32).reshape(x.shape[0], -1)
    mean, variance, targets = as2(mean), as2(variance), as2(targets)
    valid = _common.valid_rows(mask, mean.shape[0])
    zero = lambda x: jnp.where(valid[:, None], x, 0.0)
    mean, variance, targets = zero(mean), zero(variance), zero(targets)
    err = mean - targets
    e = jnp.abs(err)
    a = jnp.sqrt(2.0 * variance / math.pi)
    total = jnp.sum(variance, axis=1)
    bins = jnp.searchsorted(jnp.asarray(self.edges, jnp.float32), total,
                            side="right").astype(jnp.int32)
    m = self.num_bins
    add = lambda x: _common.bin_sum(bins, jnp.where(valid, x, 0.0), m)
    return GaussianState(
        count=state.count.at[bins].add(valid.astype(jnp.int32)),
        abs_num=state.abs_num + add(jnp.sum((a - e) ** 2, axis=1)),
        abs_den=state.abs_den + add(jnp.sum(a * a, axis=1)),
        sq_num=state.sq_num + add(jnp.sum((variance - err * err) ** 2, 1)),
        sq_den=state.sq_den + add(jnp.sum(variance * variance, axis=1)),
        sq_error=state.sq_error + add(jnp.sum(err * err, axis=1)),
        variance=state.variance + add(total))

  def _compute(self, state: GaussianState) -> dict[str, Array]:
    """``gence``, ``gence_sq``, ``count`` and per bin ``bin_gence``,
    ``bin_gence_sq``, ``bin_mse`` (mean :math:`\\|h_\\mu - f\\|^2`),
    ``bin_variance`` (mean total variance), ``bin_count``; empty bins (and
    bins of zero variance) contribute 0."""
    n = state.count
    total = jnp.sum(n)
    frac = _common.safe_div(n.astype(jnp.float32), total)
    ratio = lambda num, den: jnp.where(den > 0, num / jnp.where(den > 0, den,
                                                                1.0), 0.0)
    bin_gence = ratio(state.abs_num, state.abs_den)
    bin_sq = ratio(state.sq_num, state.sq_den)
    return {"gence": jnp.sum(frac * bin_gence),
            "gence_sq": jnp.sum(frac * bin_sq), "count": total,
            "bin_gence": bin_gence, "bin_gence_sq": bin_sq,
            "bin_mse": _common.safe_div(state.sq_error, n),
            "bin_variance": _common.safe_div(state.variance, n),
            "bin_count": n}


