r"""Regression: Theorems 2-3 of Berman et al. 2025 (Wang et al. 4.8-4.9).

For a :math:`G`-invariant regressor :math:`h` and targets :math:`f(x)`, the
mean squared error splits orbit by orbit: :math:`h` is constant on an orbit
:math:`O`, and :math:`\sum_{i \in O} w_i \|f_i - h_O\|^2` is least at the
orbit's weighted mean :math:`\bar f_O`, where it equals
:math:`M_O\,\mathrm{Var}_O(f)`. Hence

.. math:: \mathrm{MSE}(h) \ge \sum_O M_O\,\mathrm{Var}_O(f) / \sum_O M_O,

attained by the orbit-mean regressor. This is the invariant-regression lower
bound of Wang et al. 2023 (Sec. 4, regression with partially incorrect
symmetry), here for a finite measure (one orbit id per example; orbit
members outside the data have mass zero). Vector targets use the squared
Euclidean norm (the sum of per-dimension variances).

Theorem 2 of Berman et al. 2025 restates it (Wang et al. 2024, Thm 4.8):
:func:`theorem2_regression_error_lower_bound`. Theorem 3 (Wang Thm 4.9) is
the equivariant version, :func:`theorem3_regression_error_lower_bound`.
"""

from __future__ import annotations

import numpy as np

from enn_sym._validation import InputError
from enn_sym.bounds import _dissent


def _targets(targets, n: int | None = None) -> np.ndarray:
  y = np.asarray(targets, np.float64)
  if y.ndim == 1:
    y = y[:, None]
  if y.ndim != 2 or (n is not None and y.shape[0] != n):
    raise InputError(
        f"targets must have shape [N] or [N, dims] (N = {n}); got shape "
        f"{np.shape(targets)}.")
  if y.shape[0] == 0:
    raise InputError("targets must hold at least one example; got shape "
                     f"{np.shape(targets)}.")
  if not np.all(np.isfinite(y)):
    raise InputError("targets must be finite; found NaN or inf.")
  return y


def orbit_means(orbit_ids, targets, weights=None) -> np.ndarray:
  """The invariant MSE minimiser: each example's orbit mean ``[N, dims]``."""
  orbit = _dissent.renumber(orbit_ids)
  y = _targets(targets, orbit.shape[0])
  w = _dissent.check_weights(weights, y.shape[0])
  num = int(orbit.max()) + 1
  mass = np.bincount(orbit, w, num)
  sums = np.zeros((num, y.shape[1]))
  np.add.at(sums, orbit, w[:, None] * y)
  mean = sums / np.where(mass > 0, mass, 1.0)[:, None]
  return mean[orbit]


def orbit_variance(orbit_ids, targets, weights=None) -> np.ndarray:
  r"""Weighted variance :math:`\mathrm{Var}_O(f)` of every orbit, ``[O]``.

  Orbits numbered as :func:`enn_sym.bounds.renumber`; a zero-mass orbit has
  variance 0.
  """
  orbit = _dissent.renumber(orbit_ids)
  y = _targets(targets, orbit.shape[0])
  w = _dissent.check_weights(weights, y.shape[0])
  sq = np.sum((y - orbit_means(orbit, y, w)) ** 2, axis=1)
  num = int(orbit.max()) + 1
  mass = np.bincount(orbit, w, num)
  return np.bincount(orbit, w * sq, num) / np.where(mass > 0, mass, 1.0)


def regression_error_lower_bound(orbit_ids, targets, weights=None) -> float:
  r"""Least MSE of any invariant regressor: :math:`\sum_O M_O \mathrm{Var}_O / \sum M_O`.

  Wang et al. 2023, Sec. 4 (invariant regression). Assumption: the ids are
  the orbits of the group the regressor is invariant to. Attained by
  :func:`orbit_means`.
  """
  orbit = _dissent.renumber(orbit_ids)
  y = _targets(targets, orbit.shape[0])
  w = _dissent.check_weights(weights, y.shape[0])
  sq = np.sum((y - orbit_means(orbit, y, w)) ** 2, axis=1)
  return float(np.sum(w * sq) / np.sum(w))


def theorem2_regression_error_lower_bound(orbit_ids, targets,
                                          weights=None) -> float:
  r"""Theorem 2 (Wang et al. 2024, Thm 4.8): :math:`\mathrm{err}_{reg}(h)
  \ge \int_F p(Gx) V_{Gx}[f]\,dx` for :math:`G`-invariant :math:`h`.

  Finite form :math:`\sum_O q(O) V_O[f]` (masses normalised to 1), the
  same number as :func:`regression_error_lower_bound`. Assumptions: the ids
  are the orbits of the group :math:`h` is invariant to; squared Euclidean
  error.
  """
  return regression_error_lower_bound(orbit_ids, targets, weights)


def theorem3_regression_error_lower_bound(orbit_ids, targets, rho,
                                          weights=None) -> float:
  r"""Theorem 3 (Wang et al. 2024, Thm 4.9): the equivariant regression floor.

  Each example ``i`` of orbit :math:`O` is :math:`x_i = g_i x_O` for a base
  point :math:`x_O`; ``rho[i]`` is :math:`\rho_Y(g_i)`. An equivariant
  :math:`h` has :math:`h(x_i) = \rho_i v_O` for one free vector per orbit,
  so (finite group, counting measure, :math:`\alpha = 1/|G_x|` folded into
  the points: each distinct point listed once)

  .. math:: \mathrm{err}(h) \ge \sum_O \sum_{i \in O} q_i \|f_i - \rho_i
     E_O\|^2, \quad E_O = Q_O^{-1} \sum_{i \in O} q_i \rho_i^\top f_i,
     \quad Q_O = \sum_{i \in O} q_i \rho_i^\top \rho_i,

  :math:`E_O` being the paper's :math:`E_G[f, x]` (weighted least squares).
  Zero when :math:`f` is equivariant. Assumptions: ``rho`` is consistent
  with one base point per orbit; :math:`Q_O` is invertible (else the
  pseudo-inverse gives the least-squares optimum all the same).

  Args:
    orbit_ids: ``int [N]``.
    targets: ``[N, n]`` values :math:`f(x_i)`.
    rho: ``[N, n, n]`` the output representation of :math:`g_i`.
    weights: ``[N]`` masses (default uniform; normalised to sum 1).
  """
  orbit = _dissent.renumber(orbit_ids)
  y = _targets(targets, orbit.shape[0])
  n, d = y.shape
  r = np.asarray(rho, np.float64)
  if r.shape != (n, d, d) or not np.all(np.isfinite(r)):
    raise InputError(f"rho must have shape [N, n, n] = ({n}, {d}, {d}) (the "
                     f"output representation of each g_i); got {r.shape}.")
  w = _dissent.check_weights(weights, n)
  w = w / w.sum()
  total = 0.0
  for o in range(int(orbit.max()) + 1):
    sel = orbit == o
    q, ro, f = w[sel], r[sel], y[sel]
    big_q = np.einsum("i,ija,ijb->ab", q, ro, ro)
    rhs = np.einsum("i,ija,ij->a", q, ro, f)
    e = np.linalg.pinv(big_q) @ rhs
    total += float(np.sum(q * np.sum((f - ro @ e) ** 2, axis=1)))
  return total
