r"""GENCE bounds: Theorems 6-8 of Berman et al. 2025 (finite forms).

Setting (§5.1): a diagonal-Gaussian regressor :math:`h = (h_\mu,
h_{\sigma^2})`; the variance fibre :math:`X_s = \{h_{\sigma^2} = s\}` with
mass :math:`r(s)` and fibre density :math:`q_s = q / r(s)` on it; eq. (7)
:math:`\mathrm{err}(h, s) = \int_{X_s} q_s \|h_\mu - f\|^2`. The GENCE
metric itself is :class:`enn_sym.metrics.GaussianCalibration`.

On a finite set the fibres are given as ids (examples with equal predicted
variance, or quantile bins of it); variances are vectors ``[F, n]`` (or
scalars ``[F]``), one per fibre.
"""

from __future__ import annotations

import math

import numpy as np

from enn_sym._validation import InputError
from enn_sym.bounds import _dissent
from enn_sym.bounds import _regression


def _fibres(variances, masses, name: str = "variances"):
  s = np.asarray(variances, np.float64)
  if s.ndim == 1:
    s = s[:, None]
  if s.ndim != 2 or s.shape[0] == 0 or not np.all(np.isfinite(s)) or (
      s.min() < 0):
    raise InputError(
        f"{name} must be a non-empty [F] or [F, n] array of finite "
        f"non-negative fibre variances; got shape {np.shape(variances)}.")
  r = np.asarray(masses, np.float64).reshape(-1)
  if r.shape != (s.shape[0],) or not np.all(np.isfinite(r)) or r.min() < 0 or (
      r.sum() <= 0):
    raise InputError(
        f"masses must be {s.shape[0]} finite non-negative fibre masses with a "
        f"positive sum (r(s), one per fibre); got shape {r.shape}.")
  return s, r / r.sum()


def _errors(fibre_errors, f: int) -> np.ndarray:
  e = np.asarray(fibre_errors, np.float64).reshape(-1)
  if e.shape != (f,) or not np.all(np.isfinite(e)) or e.min() < 0:
    raise InputError(
        f"fibre_errors must be {f} finite non-negative errors err(h, s), one "
        f"per fibre; got shape {e.shape}.")
  return e


def _upper(variances, masses, fibre_errors) -> float:
  s, r = _fibres(variances, masses)
  e = _errors(fibre_errors, s.shape[0])
  den = 2.0 / math.pi * s.sum(1)
  live = r > 0
  if np.any(live & (den <= 0) & (e > 0)):
    return math.inf
  ok = live & (den > 0)
  return float(1.0 + np.sum(r[ok] * e[ok] / den[ok]))


def theorem6_gence_upper_bound(variances, masses, fibre_errors) -> float:
  r"""Theorem 6: :math:`0 \le \mathrm{GENCE}(h) \le 1 + \sum_s r(s)\,
  \mathrm{err}(h, s) / \|\sqrt{2s/\pi}\|^2`.

  Pass the model's fibre errors (eq. 7) for the first form, or the
  per-fibre optimum of an invariant :math:`h_\mu`,
  :func:`fibre_orbit_variance` (eq. 11), for the second; both bound the
  GENCE of any :math:`h` with these variances. Assumptions: eq. (11) needs
  :math:`h` :math:`G`-invariant (each fibre a union of orbits). Proof:
  :math:`\|a - b\|^2 \le \|a\|^2 + \|b\|^2` for non-negative vectors. A
  fibre of zero variance with non-zero error gives :math:`+\infty`
  (Remark 3: the bound need not be finite).

  Args:
    variances: ``[F]`` or ``[F, n]`` the variance :math:`s` of every fibre.
    masses: ``[F]`` :math:`r(s)`.
    fibre_errors: ``[F]`` :math:`\mathrm{err}(h, s)`.
  """
  return _upper(variances, masses, fibre_errors)


def theorem7_gence_upper_bound(variances, masses, fibre_errors) -> float:
  r"""Theorem 7 (equivariant :math:`h`): the bound of Theorem 6, with
  eq. (12)'s optimum :func:`fibre_equivariant_error` (Theorem 3 under
  :math:`q_s`) as the fibre errors. Arguments as
  :func:`theorem6_gence_upper_bound`."""
  return _upper(variances, masses, fibre_errors)


def _fibre_split(orbit_ids, targets, fibre_ids, weights):
  orbit = _dissent.renumber(orbit_ids)
  fib = _dissent.renumber(fibre_ids)
  if fib.shape != orbit.shape:
    raise InputError(f"fibre_ids must have shape {orbit.shape} (one per "
                     f"example); got {fib.shape}.")
  w = _dissent.check_weights(weights, orbit.shape[0])
  return orbit, fib, np.asarray(targets, np.float64), w


def fibre_orbit_variance(orbit_ids, targets, fibre_ids, weights=None
                         ) -> tuple[np.ndarray, np.ndarray]:
  r"""Eq. (11): :math:`\int_{\mathcal F_s} q_s(Gx_s) V_{Gx_s}[f]` per fibre.

  The least :math:`\mathrm{err}(h, s)` of an invariant :math:`h_\mu`
  (Theorem 2 under :math:`q_s`). Assumption: every orbit lies in one fibre
  (an invariant :math:`h_{\sigma^2}`); checked.

  Args:
    orbit_ids: ``int [N]``.
    targets: ``[N]`` or ``[N, n]``.
    fibre_ids: ``int [N]``, equal ids = one variance fibre (or bin).
    weights: ``[N]`` masses (default uniform).

  Returns:
    ``(errors [F], masses [F])``, fibres numbered by first appearance.
  """
  orbit, fib, y, w = _fibre_split(orbit_ids, targets, fibre_ids, weights)
  num_o = int(orbit.max()) + 1
  of = np.full(num_o, -1)
  for o, f in zip(orbit, fib):
    if of[o] not in (-1, f):
      raise InputError(
          f"orbit {o} spans several variance fibres: eq. (11) needs an "
          "invariant h_sigma2 (each fibre a union of orbits); use "
          "fibre_equivariant_error for an equivariant model.")
    of[o] = f
  num_f = int(fib.max()) + 1
  mass = np.bincount(fib, w, num_f)
  errors = np.zeros(num_f)
  for f in range(num_f):
    sel = fib == f
    if mass[f] > 0:
      errors[f] = _regression.regression_error_lower_bound(
          orbit[sel], y[sel], w[sel])
  return errors, mass / mass.sum()


def fibre_equivariant_error(orbit_ids, targets, rho, fibre_ids, weights=None
                            ) -> tuple[np.ndarray, np.ndarray]:
  r"""Eq. (12): Theorem 3's floor under :math:`q_s`, per fibre.

  Within each fibre the examples keep their orbit ids and representation
  matrices ``rho`` (:func:`enn_sym.bounds.theorem3_regression_error_lower_bound`);
  the fibre need not be :math:`G`-closed. Returns ``(errors [F], masses
  [F])``.
  """
  orbit, fib, y, w = _fibre_split(orbit_ids, targets, fibre_ids, weights)
  rho = np.asarray(rho, np.float64)
  num_f = int(fib.max()) + 1
  mass = np.bincount(fib, w, num_f)
  errors = np.zeros(num_f)
  for f in range(num_f):
    sel = fib == f
    if mass[f] > 0:
      errors[f] = _regression.theorem3_regression_error_lower_bound(
          orbit[sel], y[sel], rho[sel], w[sel])
  return errors, mass / mass.sum()


def theorem8_m(fibre_errors) -> float:
  r""":math:`m = \min_s \int_{\mathcal F_s} q_s(Gx_s) V_{Gx_s}[f]` of
  Theorem 8, from :func:`fibre_orbit_variance`."""
  e = np.asarray(fibre_errors, np.float64).reshape(-1)
  if e.size == 0 or not np.all(np.isfinite(e)) or e.min() < 0:
    raise InputError("fibre_errors must be a non-empty array of finite "
                     "non-negative fibre errors.")
  return float(e.min())


def theorem8_gence_sq_lower_bound(variances, masses, m: float) -> float:
  r"""Theorem 8 (scalar, invariant): :math:`\mathrm{GENCE}_{sq}(h) \ge
  \sum_{s < m} r(s)\,(s - m)^2 / s^2`.

  Assumptions: :math:`M = \mathbb R`, :math:`S = \mathbb R_+`, :math:`h`
  :math:`G`-invariant, :math:`m` from :func:`theorem8_m`. An atom at
  :math:`s = 0` with :math:`m > 0` gives :math:`+\infty` (the sheet's ⚠ 7:
  for a density the bound is :math:`+\infty` whenever :math:`r(0^+) > 0`).

  Args:
    variances: ``[F]`` scalar fibre variances.
    masses: ``[F]`` :math:`r(s)`.
    m: :math:`m \ge 0`.
  """
  s, r = _fibres(variances, masses)
  if s.shape[1] != 1:
    raise InputError("Theorem 8 is for scalar outputs: variances must have "
                     f"shape [F]; got {np.shape(variances)}.")
  if isinstance(m, (bool, np.bool_)) or not isinstance(
      m, (int, float, np.integer, np.floating)) or not 0 <= m < math.inf:
    raise InputError(f"m must be a finite number >= 0; got {m!r}.")
  s = s[:, 0]
  below = (s < m) & (r > 0)
  if np.any(below & (s == 0)):
    return math.inf
  return float(np.sum(r[below] * (s[below] - m) ** 2 / s[below] ** 2))
