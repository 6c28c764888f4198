r"""Regression: the orbit-variance error floor of invariant models.

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

Not implemented: the generalised ENCE bounds of Berman et al. 2025, whose
exact statement could not be retrieved; see the package docstring.
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
