r"""Confidence (or variance) distributions: a density on ``[0, 1]`` or atoms.

Every statement of Berman et al. 2025 integrates against :math:`r`, the law
of the model's confidence :math:`h_P`. It is given either as

* a callable density ``p -> r(p)`` on ``[0, 1]`` (the continuous setting of
  the paper; integrals by adaptive quadrature, ``scipy.integrate.quad``), or
* a :class:`DiscreteDistribution` of atoms and masses (a finite evaluation
  set, where :math:`r(p) = q(F_p)`, the mass of the fibre of confidence
  :math:`p`; integrals are sums over the atoms).
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Union
import warnings

import numpy as np
from scipy import integrate

from enn_sym._validation import InputError


class DiscreteDistribution(NamedTuple):
  """Atoms ``values [A]`` with probability ``masses [A]`` (summing to 1).

  Build it with :func:`discrete_distribution`, which checks it.
  """

  values: np.ndarray
  masses: np.ndarray


Distribution = Union[Callable[[float], float], DiscreteDistribution]


def discrete_distribution(values, masses=None, *, low: float = 0.0,
                          high: float = 1.0,
                          name: str = "confidence") -> DiscreteDistribution:
  """A checked :class:`DiscreteDistribution` (masses normalised to sum 1).

  Args:
    values: ``[A]`` atoms in ``[low, high]``.
    masses: ``[A]`` non-negative masses (default uniform); divided by their
      sum.
    low: least allowed atom.
    high: largest allowed atom (``inf`` for variances).
    name: the quantity, for error messages.
  """
  v = np.asarray(values, np.float64).reshape(-1)
  if v.size == 0 or not np.all(np.isfinite(v)) or v.min() < low or (
      v.max() > high):
    raise InputError(
        f"{name} atoms must be a non-empty array of finite values in "
        f"[{low}, {high}]; got {v.size} values"
        + (f" in [{v.min():.3g}, {v.max():.3g}]." if v.size else "."))
  if masses is None:
    m = np.full(v.shape, 1.0 / v.size)
  else:
    m = np.asarray(masses, np.float64).reshape(-1)
    if m.shape != v.shape or not np.all(np.isfinite(m)) or m.min() < 0 or (
        m.sum() <= 0):
      raise InputError(
          f"{name} masses must be {v.size} finite non-negative numbers with "
          f"a positive sum (one per atom); got shape {m.shape}.")
    m = m / m.sum()
  return DiscreteDistribution(v, m)


def quad(fn, low: float, high: float, breaks=()) -> float:
  """``int_low^high fn`` by adaptive quadrature; a non-finite result raises."""
  if high <= low:
    return 0.0
  pts = sorted({float(b) for b in breaks if low < b < high})
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    val, _ = integrate.quad(fn, low, high, points=pts or None, limit=500,
                            epsabs=1e-12, epsrel=1e-10)
  if not np.isfinite(val):
    raise InputError(
        f"the integrand is not finite on [{low:.3g}, {high:.3g}] (got "
        f"{val}): the density (and accuracy) must be finite and "
        "non-negative everywhere, not only on a grid.")
  for w in caught:  # Re-emit what quad warned about a finite result.
    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
  return float(val)


def check_density(r, *, atol: float = 1e-4, breaks=(),
                  name: str = "confidence_density") -> Distribution:
  """Checks ``r``: a :class:`DiscreteDistribution`, or a callable density on
  ``[0, 1]`` that is finite, non-negative and integrates to 1 (``atol``)."""
  if isinstance(r, DiscreteDistribution):
    return discrete_distribution(r.values, r.masses, name=name)
  if not callable(r):
    raise InputError(
        f"{name} must be a callable p -> r(p) on [0, 1] or a "
        f"DiscreteDistribution (enn_sym.bounds.discrete_distribution); got "
        f"{type(r).__name__}.")
  grid = np.linspace(0.0, 1.0, 201)
  vals = np.array([float(r(p)) for p in grid])
  if not np.all(np.isfinite(vals)) or vals.min() < 0:
    raise InputError(
        f"{name} must be finite and non-negative on [0, 1]; got a value "
        f"{vals[np.argmin(np.nan_to_num(vals, nan=-np.inf))]!r}.")
  total = quad(r, 0.0, 1.0, breaks)
  if abs(total - 1.0) > atol:
    raise InputError(
        f"{name} integrates to {total:.6g} over [0, 1], not 1: divide it by "
        f"{total:.6g} (it must be a probability density).")
  return r


def expect(r: Distribution, fn: Callable[[float], float], low: float = 0.0,
           high: float = 1.0, breaks=(), *, right_open: bool = False
           ) -> float:
  r""":math:`\int_{low}^{high} r(p)\,fn(p)\,dp` (atoms: the sum over atoms in
  ``[low, high]``, or ``[low, high)`` with ``right_open``)."""
  if isinstance(r, DiscreteDistribution):
    inside = (r.values >= low) & ((r.values < high) if right_open
                                  else (r.values <= high))
    return float(sum(m * fn(p) for p, m in zip(r.values[inside],
                                                  r.masses[inside])))
  return quad(lambda p: r(p) * fn(p), low, high, breaks)


def per_atom(values, r: DiscreteDistribution, name: str) -> np.ndarray:
  """A callable or an ``[A]`` array, evaluated at the atoms of ``r``."""
  if callable(values):
    out = np.array([float(values(p)) for p in r.values])
  else:
    out = np.asarray(values, np.float64).reshape(-1)
  if out.shape != r.values.shape or not np.all(np.isfinite(out)):
    raise InputError(
        f"{name} must be a callable or {r.values.size} finite values, one per"
        f" atom of the confidence distribution; got shape {out.shape}.")
  return out


def check_fraction(value, name: str, hint: str, *, low: float = 0.0,
                   high: float = 1.0) -> float:
  """``value`` as a float in ``[low, high]`` or a named InputError."""
  if isinstance(value, (bool, np.bool_, str, bytes)):
    raise InputError(f"{name} must be a number in [{low}, {high}] ({hint}); "
                     f"got {value!r}.")
  try:
    v = float(value)
  except (TypeError, ValueError):
    raise InputError(f"{name} must be a number in [{low}, {high}] ({hint}); "
                     f"got {value!r}.") from None
  if not low <= v <= high:
    raise InputError(f"{name} must lie in [{low}, {high}] ({hint}); got "
                     f"{v!r}.")
  return v
