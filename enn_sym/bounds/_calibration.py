r"""ECE bounds for invariant classifiers (Berman, Ginesin, Pacini, Walters 2025).

Top-label calibration: a classifier with confidence :math:`c(x)` (its top
probability) and prediction :math:`\hat y(x)` has the confidence density
:math:`r(p)` and the fibre accuracy :math:`a(p) = P(\hat y = f(x) \mid c(x)
= p)`; :math:`\mathrm{ECE} = \int_0^1 r(p)\,|a(p) - p|\,dp`.

Where the statements come from. The four bounds below are those stated in
the issue that asked for this module, attributed there to Berman et al.
2025 (arXiv:2510.21691); the paper's own text could not be retrieved when
this module was written, so theorem numbers are not cited and every
statement is proved here from scratch (each docstring has the proof). The
building block is the fibre-wise version: if :math:`h` is invariant, each
confidence fibre :math:`\{c = p\}` is a union of orbits and :math:`h`
predicts one label per orbit, so, with the dissents normalised by the
fibre's mass (:math:`\bar k(p) = \int_{F_p} k / \int_{F_p} M`, and the same
for :math:`\bar\kappa`),

.. math:: 1 - \bar\kappa(p) \;\le\; a(p) \;\le\; 1 - \bar k(p).

The upper inequality is Wang et al.'s error lower bound applied to the
conditional distribution on the fibre, the lower one holds because on each
orbit the error is at most :math:`\kappa`. Hence

.. math:: \int r\,\mathrm{dist}(p, [1-\bar\kappa, 1-\bar k]) \le
   \mathrm{ECE} \le \int r\,\max(p - 1 + \bar\kappa,\; 1 - \bar k - p).

The issue's forms follow from it (see each function). For the binned ECE of a
finite evaluation set (:func:`calibration_bounds`) the same argument holds
with the bins as fibres, because an invariant model puts a whole orbit into
one bin: then the bounds are exact inequalities for that set, not only in
expectation.
"""

from __future__ import annotations

from typing import Callable, NamedTuple
import warnings

import numpy as np
from scipy import integrate

from enn_sym._validation import InputError
from enn_sym.bounds import _dissent

Density = Callable[[float], float]


def _check_fraction(value, name: str, hint: str) -> float:
  if isinstance(value, (bool, np.bool_, str, bytes)):
    raise InputError(f"{name} must be a number in [0, 1] ({hint}); got "
                     f"{value!r}.")
  try:
    v = float(value)
  except (TypeError, ValueError):
    raise InputError(f"{name} must be a number in [0, 1] ({hint}); got "
                     f"{value!r}.") from None
  if not 0.0 <= v <= 1.0:
    raise InputError(f"{name} must lie in [0, 1] ({hint}); got {v!r}.")
  return v


def _integrate(fn, low: float, high: float, breaks=()) -> float:
  if high <= low:
    return 0.0
  pts = [b for b in breaks if low < b < high]
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    val, _ = integrate.quad(fn, low, high, points=pts or None, limit=500,
                            epsabs=1e-11, epsrel=1e-10)
  if not np.isfinite(val):
    raise InputError(
        f"the integrand is not finite on [{low:.3g}, {high:.3g}] (got "
        f"{val}): confidence_density (and accuracy) must be finite and "
        "non-negative everywhere on [0, 1], not only on a grid.")
  for w in caught:  # Re-emit what quad warned about a finite result.
    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
  return float(val)


def check_confidence_density(r: Density, *, atol: float = 1e-4,
                             breaks=()) -> Density:
  """Checks that ``r`` is a non-negative density on ``[0, 1]`` integrating to 1.

  Args:
    r: a callable ``p -> r(p)`` (python floats in, a float out).
    atol: tolerance on :math:`|\\int_0^1 r - 1|`.
    breaks: points in ``(0, 1)`` where ``r`` jumps (help the quadrature).

  Raises:
    InputError: naming ``confidence_density`` and how to fix it.
  """
  if not callable(r):
    raise InputError(
        "confidence_density must be a callable p -> r(p) on [0, 1] (the "
        f"density of the model's confidence); got {type(r).__name__}.")
  grid = np.linspace(0.0, 1.0, 201)
  vals = np.array([float(r(p)) for p in grid])
  if not np.all(np.isfinite(vals)) or vals.min() < 0:
    raise InputError(
        "confidence_density must be finite and non-negative on [0, 1]; got "
        f"a value {vals[np.argmin(np.nan_to_num(vals, nan=-np.inf))]!r}.")
  total = _integrate(r, 0.0, 1.0, breaks)
  if not np.isfinite(total):
    raise InputError(
        f"confidence_density integrates to {total} over [0, 1]: it must be "
        "finite and non-negative everywhere on [0, 1] (not only on a grid).")
  if abs(total - 1.0) > atol:
    raise InputError(
        f"confidence_density integrates to {total:.6g} over [0, 1], not 1: "
        f"divide it by {total:.6g} (it must be a probability density).")
  return r


def ece_upper_bound_unconstrained(confidence_density: Density, *,
                                  breaks=()) -> float:
  r""":math:`\mathrm{ECE} \le \frac12 + \int_0^1 r(p)\,|\frac12 - p|\,dp`.

  Holds for ANY classifier with confidence density :math:`r` (no invariance
  assumed). Proof: :math:`|a - p| \le \max(p, 1 - p) = \frac12 + |\frac12 -
  p|` for :math:`a, p \in [0, 1]`; integrate against :math:`r`.

  Args:
    confidence_density: ``r``, a probability density on ``[0, 1]``.
    breaks: points where ``r`` jumps.
  """
  r = check_confidence_density(confidence_density, breaks=breaks)
  return _unconstrained(r, breaks)


def _unconstrained(r: Density, breaks) -> float:
  """The unconstrained bound for an already checked density."""
  return 0.5 + _integrate(lambda p: r(p) * abs(0.5 - p), 0.0, 1.0,
                          tuple(breaks) + (0.5,))


def ece_upper_bound_invariant(confidence_density: Density, dissent: float,
                              accuracy: Callable[[float], float] | None = None,
                              *, breaks=()) -> float:
  r"""The invariant-model ECE upper bound with the least orbit dissent.

  .. math:: \mathrm{ECE} \le \frac12 + \int_0^1 r(p)|\tfrac12 - p|\,dp
     - k^\ast \int_0^1 r(p)\,1[a(p) \ge \tfrac12]\,dp.

  Berman et al. 2025 as stated in the issue (:math:`k^\ast = k(Gx^\ast)`,
  the orbit with the smallest non-zero dissent). Proof:
  :math:`|a - p| \le |a - \frac12| + |\frac12 - p|` and, on a fibre with
  :math:`a \ge \frac12`, :math:`|a - \frac12| = a - \frac12 \le \frac12 -
  \bar k(p)` by the fibre-wise bound of the module docstring.

  Assumptions (all needed): the model is :math:`G`-invariant; ``dissent`` is
  a lower bound of the NORMALISED fibre dissent :math:`\bar k(p)` on every
  fibre with :math:`a(p) \ge \frac12` -- true when EVERY orbit of positive
  mass has normalised dissent :math:`\ge k^\ast`. With zero-dissent orbits
  (correct symmetry) somewhere, :math:`k^\ast` = the smallest non-zero
  dissent is NOT a valid choice; use :func:`calibration_bounds`, whose
  fibre-wise bound needs no such assumption.

  Args:
    confidence_density: ``r`` on ``[0, 1]``.
    dissent: :math:`k^\ast \in [0, 1]`.
    accuracy: ``p -> a(p)``; ``None`` assumes :math:`a(p) \ge \frac12` on
      every fibre (the mass term is then 1).
    breaks: points where ``r`` or ``accuracy`` jump.
  """
  k = _check_fraction(dissent, "dissent", "a normalised orbit dissent")
  r = check_confidence_density(confidence_density, breaks=breaks)
  if accuracy is None:
    accurate_mass = 1.0
  else:
    accurate_mass = _integrate(
        lambda p: r(p) * (1.0 if accuracy(p) >= 0.5 else 0.0), 0.0, 1.0,
        breaks)
  return _unconstrained(r, breaks) - k * accurate_mass


def ece_upper_bound_binary(dissent: float) -> float:
  r"""Binary invariant classifiers: :math:`\mathrm{ECE} \le 1 - k^\ast`.

  Berman et al. 2025 as stated in the issue. Proof: with two labels
  :math:`\bar\kappa = 1 - \bar k` on every fibre, so :math:`a(p) \in [\bar k,
  1 - \bar k]` and :math:`|a - p| \le \max(p - \bar k, 1 - \bar k - p) \le 1
  - \bar k(p) \le 1 - k^\ast`. Assumptions: binary task, invariant model,
  every orbit of positive mass has normalised dissent :math:`\ge k^\ast`.
  """
  return 1.0 - _check_fraction(dissent, "dissent",
                               "a normalised orbit dissent")


def ece_lower_bound(confidence_density: Density, accuracy_floor: float, *,
                    breaks=()) -> float:
  r""":math:`\mathrm{ECE} \ge \int_0^m r(p)\,(m - p)\,dp`.

  Berman et al. 2025 as stated in the issue, with :math:`m = \min_p (1 -
  \bar\kappa(p))`, the least over confidence fibres of one minus the
  normalised minority dissent of the fibre. Proof: :math:`a(p) \ge 1 -
  \bar\kappa(p) \ge m` (module docstring), so for :math:`p < m`,
  :math:`|a(p) - p| \ge m - p`. Assumption: the model is invariant (or any
  model whose fibre accuracy is at least :math:`m`).

  Args:
    confidence_density: ``r`` on ``[0, 1]``.
    accuracy_floor: :math:`m \in [0, 1]`.
    breaks: points where ``r`` jumps.
  """
  m = _check_fraction(accuracy_floor, "accuracy_floor",
                      "a lower bound on the accuracy of every fibre")
  r = check_confidence_density(confidence_density, breaks=breaks)
  return _integrate(lambda p: r(p) * (m - p), 0.0, m, breaks)


# ---------------------------------------------------------------------------
# Finite evaluation sets.


class CalibrationBounds(NamedTuple):
  """ECE of a finite evaluation set and its bounds (see calibration_bounds).

  Every field is a python float (``nan`` where it does not apply).
  """

  ece: float
  error: float
  error_lower_bound: float
  lower: float
  upper: float
  lower_paper: float
  upper_paper: float
  upper_binary: float
  upper_unconstrained: float
  min_dissent: float
  accuracy_floor: float
  invariant: bool
  all_orbits_dissent: bool

  def holds(self, atol: float = 1e-9) -> bool:
    """Whether every applicable bound holds (the theorems' claims)."""
    ok = self.ece <= self.upper_unconstrained + atol
    if self.invariant:
      ok &= self.error >= self.error_lower_bound - atol
      ok &= self.lower - atol <= self.ece <= self.upper + atol
      ok &= self.ece >= self.lower_paper - atol
      if self.all_orbits_dissent:
        ok &= self.ece <= self.upper_paper + atol
        if not np.isnan(self.upper_binary):
          ok &= self.ece <= self.upper_binary + atol
    return bool(ok)


def bin_ids(confidences, num_bins: int) -> np.ndarray:
  """The library's bin rule: ``clip(floor(c M), 0, M - 1)``."""
  return np.clip(np.floor(np.asarray(confidences, np.float64) * num_bins),
                 0, num_bins - 1).astype(np.int64)


def calibration_bounds(probs, labels, orbit_ids, *, num_bins: int = 15,
                       weights=None, atol: float = 1e-6
                       ) -> CalibrationBounds:
  r"""Binned top-label ECE of an evaluation set next to its theoretical bounds.

  Fibres are the ECE bins (rule ``clip(floor(c M), 0, M - 1)``, as
  :class:`enn_sym.metrics.BinnedCalibration`); an invariant model puts a
  whole orbit into one bin, so every statement below is an exact inequality
  for this evaluation set (no sampling error) when its assumptions hold.
  Bins: weight :math:`w_b`, mean confidence :math:`c_b`, accuracy
  :math:`a_b`, normalised dissents :math:`\bar k_b, \bar\kappa_b`.

  * ``ece`` :math:`= \sum_b w_b |a_b - c_b|` (float64).
  * ``error_lower_bound``: Wang et al. 2023, :math:`\sum_O k(O)` (mass
    fraction); ``error`` is the model's error. Invariant models:
    ``error >= error_lower_bound``.
  * ``lower`` / ``upper``: the fibre-wise bounds
    :math:`\sum_b w_b\,\mathrm{dist}(c_b, [1-\bar\kappa_b, 1-\bar k_b])` and
    :math:`\sum_b w_b \max(c_b - 1 + \bar\kappa_b, 1 - \bar k_b - c_b)`
    (module docstring). Assumption: invariance.
  * ``lower_paper``: :math:`\sum_b w_b \max(m - c_b, 0)` with ``accuracy_floor``
    :math:`m = \min_b (1 - \bar\kappa_b)` (:func:`ece_lower_bound` with
    :math:`r` the distribution of bin confidences). Assumption: invariance.
  * ``upper_paper``: :math:`\frac12 + \sum_b w_b|\frac12 - c_b| - k^\ast
    \sum_{b: a_b \ge 1/2} w_b` with ``min_dissent`` :math:`k^\ast` the least
    non-zero normalised orbit dissent (:func:`ece_upper_bound_invariant`);
    ``upper_binary`` :math:`= 1 - k^\ast` for two classes. Assumptions:
    invariance AND ``all_orbits_dissent`` (every orbit of positive mass has
    non-zero dissent); otherwise they are reported but not claimed.
  * ``upper_unconstrained``: :math:`\frac12 + \sum_b w_b|\frac12 - c_b|`,
    valid for every model.
  * ``invariant``: the confidence and the prediction are constant on every
    orbit (confidence within ``atol``): the precondition of the invariant
    bounds, checked rather than assumed. When False, ``lower``, ``upper``,
    ``lower_paper`` and ``upper_paper`` are ``nan``. When True, each orbit
    is binned by its mean confidence, so an orbit whose confidences differ
    by less than ``atol`` but straddle a bin edge goes into one bin (the
    ECE may then differ from a per-example binning by that orbit's mass).

  Args:
    probs: ``[N, C]`` predictive probabilities (for an ENN, the mean
      predictive over index samples).
    labels: ``int [N]``.
    orbit_ids: ``int [N]``; the evaluation set should contain every orbit
      member of positive mass (orbit-closed), e.g. from
      :func:`orbit_ids_from_group`.
    num_bins: ``M``.
    weights: ``[N]`` masses, default uniform.
    atol: tolerance of the invariance check.
  """
  p = np.asarray(probs, np.float64)
  if p.ndim != 2:
    raise InputError(
        f"probs must have shape [N, classes]; got shape {p.shape}.")
  n, c = p.shape
  if not np.all(np.isfinite(p)) or (p.size and p.min() < 0) or (
      p.size and np.max(np.abs(p.sum(1) - 1)) > 1e-4):
    raise InputError(
        "probs must be finite probabilities whose rows sum to 1; apply a "
        "softmax to logits first.")
  if isinstance(num_bins, (bool, np.bool_)) or not isinstance(
      num_bins, (int, np.integer)) or num_bins < 1:
    raise InputError(f"num_bins must be a positive integer; got {num_bins!r}.")
  if n == 0:
    raise InputError("probs must hold at least one example; got shape "
                     f"{p.shape}.")
  if isinstance(atol, (bool, np.bool_)) or not isinstance(
      atol, (int, float, np.integer, np.floating)) or not atol >= 0 or (
          not np.isfinite(atol)):
    raise InputError(
        f"atol must be a finite number >= 0 (the tolerance of the invariance "
        f"check on confidences); got {atol!r}.")
  labels = _dissent._check_labels(labels, c, n)  # pylint: disable=protected-access
  _dissent._check_1d(orbit_ids, "orbit_ids", n)  # pylint: disable=protected-access
  w = _dissent.check_weights(weights, n)
  w = w / w.sum()
  om = _dissent.orbit_masses(orbit_ids, labels, c, w)
  orbit = om.orbit
  conf = p.max(1)
  pred = p.argmax(1)
  correct = (pred == labels).astype(np.float64)
  num_orbits = om.label_mass.shape[0]

  # Invariance: confidence and prediction constant on every orbit.
  cmax = np.full(num_orbits, -np.inf)
  cmin = np.full(num_orbits, np.inf)
  np.maximum.at(cmax, orbit, conf)
  np.minimum.at(cmin, orbit, conf)
  pmax = np.full(num_orbits, -1)
  pmin = np.full(num_orbits, c)
  np.maximum.at(pmax, orbit, pred)
  np.minimum.at(pmin, orbit, pred)
  invariant = bool(np.all(cmax - cmin <= atol) and np.all(pmax == pmin))

  if invariant:  # One bin per orbit, from the orbit's mean confidence.
    osum = np.zeros(num_orbits)
    np.add.at(osum, orbit, conf)
    count = np.bincount(orbit, minlength=num_orbits)
    bins = bin_ids(osum / count, num_bins)[orbit]
  else:
    bins = bin_ids(conf, num_bins)
  wb = np.bincount(bins, w, num_bins)
  safe = np.where(wb > 0, wb, 1.0)
  cb = np.bincount(bins, w * conf, num_bins) / safe
  ab = np.bincount(bins, w * correct, num_bins) / safe
  used = wb > 0
  ece = float(np.sum(wb * np.abs(ab - cb)))
  upper_unc = float(0.5 + np.sum(wb * np.abs(0.5 - cb)))

  size = om.label_mass.sum(1)
  k_orbit = size - om.label_mass.max(1)
  kappa_orbit = size - om.label_mass.min(1)
  error_lb = float(k_orbit.sum())
  error = float(1.0 - np.sum(w * correct))
  positive = size > 0
  k_norm = k_orbit[positive] / size[positive]
  nonzero = k_norm[k_norm > 1e-12]
  k_star = float(nonzero.min()) if nonzero.size else 0.0
  all_dissent = bool(k_norm.size and np.all(k_norm > 1e-12))

  nan = float("nan")
  lower = upper = lower_paper = upper_paper = m = nan
  if invariant:
    first = np.zeros(num_orbits, np.int64)
    first[orbit[::-1]] = np.arange(n)[::-1]
    obin = bins[first]
    kb = np.bincount(obin, k_orbit, num_bins) / safe
    kappab = np.bincount(obin, kappa_orbit, num_bins) / safe
    lo, hi = 1.0 - kappab, 1.0 - kb
    dist = np.maximum(np.maximum(lo - cb, cb - hi), 0.0)
    lower = float(np.sum(wb * dist))
    upper = float(np.sum(wb * np.maximum(cb - lo, hi - cb)))
    m = float(np.min(lo[used])) if used.any() else 0.0
    lower_paper = float(np.sum(wb * np.maximum(m - cb, 0.0)))
    accurate = float(np.sum(wb[used & (ab >= 0.5)]))
    upper_paper = upper_unc - k_star * accurate
  upper_binary = 1.0 - k_star if c == 2 else nan
  return CalibrationBounds(
      ece=ece, error=error, error_lower_bound=error_lb, lower=lower,
      upper=upper, lower_paper=lower_paper, upper_paper=upper_paper,
      upper_binary=upper_binary, upper_unconstrained=upper_unc,
      min_dissent=k_star, accuracy_floor=m, invariant=invariant,
      all_orbits_dissent=all_dissent)


def unconstrained_upper_bound_of(confidences, weights=None) -> float:
  r""":math:`\frac12 + E|\frac12 - c|` for empirical confidences ``[N]``."""
  conf = _dissent._check_1d(confidences, "confidences").astype(np.float64)  # pylint: disable=protected-access
  if conf.size == 0 or not np.all(np.isfinite(conf)) or conf.min() < 0 or (
      conf.max() > 1):
    raise InputError(
        "confidences must be a non-empty array of top-label probabilities in "
        f"[0, 1]; got {conf.size} values"
        + (f" in [{conf.min():.3g}, {conf.max():.3g}]." if conf.size else
           "."))
  w = _dissent.check_weights(weights, conf.shape[0])
  return float(0.5 + np.sum(w / w.sum() * np.abs(0.5 - conf)))

