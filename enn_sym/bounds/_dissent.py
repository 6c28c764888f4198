r"""Orbit dissent and the error lower bound of invariant classifiers.

Notation (Wang et al. 2023, Sec. 4): a group :math:`G` acts on the inputs,
:math:`p` is the input density, :math:`f` the true labelling. For an orbit
:math:`Gx` and a label :math:`y` let :math:`m_{Gx}(y) = \int_{Gx} p(z)
1[f(z) = y]\,dz` be the mass of the orbit with label :math:`y` and
:math:`M_{Gx} = \sum_y m_{Gx}(y)` its total mass.

* total dissent :math:`k(Gx) = \min_y \int_{Gx} p(z) 1[f(z) \ne y]\,dz =
  M_{Gx} - \max_y m_{Gx}(y)`: the mass outside the orbit's majority label;
* minority dissent :math:`\kappa(Gx) = \max_y \int_{Gx} p(z) 1[f(z) \ne
  y]\,dz = M_{Gx} - \min_y m_{Gx}(y)`, the maximum running over ALL
  ``num_classes`` labels (so :math:`\kappa = M` for an orbit missing a
  label): the most an invariant classifier can get wrong on the orbit.

Two forms are provided:

* exact, for a finite data set (or any finite measure): every example ``i``
  has a mass ``weights[i]`` (default ``1/N``), a label and an orbit id; an
  orbit of a finite group acting on a finite set is the set of examples with
  the same id. Orbit members absent from the data set have mass zero and
  contribute nothing (extrinsic symmetry). :func:`orbit_ids_from_group`
  computes the ids by matching transformed points.
* numerical, for densities given as functions (:func:`numeric_dissent`): the
  orbit of a quadrature node of a fundamental domain is given as points with
  measure weights (for a finite group of isometries: its ``|G|`` images, each
  with weight 1; for a continuous group: a quadrature of the Haar measure
  times the orbit's volume element).

References:
  D. Wang, X. Zhu, J. Y. Park, R. Platt, R. Walters, "A general theory of
  correct, incorrect, and extrinsic equivariance", NeurIPS 2023
  (arXiv:2303.04745).
  E. Berman, J. Ginesin, M. Pacini, R. Walters, "On uncertainty calibration
  for equivariant functions", arXiv:2510.21691 (2025).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

from enn_sym._validation import InputError


class OrbitMasses(NamedTuple):
  """Per-orbit label masses of a finite data set.

  Attributes:
    orbit: ``int64 [N]``, the orbit of every example renumbered ``0..O-1``
      in order of first appearance.
    label_mass: ``float64 [O, C]``, :math:`m_O(y)`.
    total: ``float64`` scalar, the total mass of the data set.
  """

  orbit: np.ndarray
  label_mass: np.ndarray
  total: float


def _check_num_classes(num_classes) -> int:
  if isinstance(num_classes, (bool, np.bool_)) or not isinstance(
      num_classes, (int, np.integer)) or num_classes < 2:
    raise InputError(
        f"num_classes must be an integer >= 2 (the number of labels); got "
        f"{num_classes!r}.")
  return int(num_classes)


def _check_1d(x, name: str, n: int | None = None) -> np.ndarray:
  arr = np.asarray(x)
  if arr.ndim != 1 or (n is not None and arr.shape[0] != n):
    want = f"[N] = ({n},)" if n is not None else "[N]"
    raise InputError(
        f"{name} must have shape {want} (one entry per example); got shape "
        f"{arr.shape}.")
  return arr


def check_weights(weights, n: int, name: str = "weights") -> np.ndarray:
  """``float64 [N]`` non-negative finite masses, default ``1/N``."""
  if weights is None:
    return np.full((n,), 1.0 / max(n, 1))
  w = _check_1d(weights, name, n).astype(np.float64)
  if not np.all(np.isfinite(w)) or (w.size and w.min() < 0):
    raise InputError(
        f"{name} must be finite and non-negative (probability masses of the "
        f"examples); got min {w.min() if w.size else 0:.3g}.")
  if w.size and w.sum() <= 0:
    raise InputError(f"{name} must have a positive sum; got all zeros.")
  return w


def _check_labels(labels, num_classes: int, n: int | None = None,
                  name: str = "labels") -> np.ndarray:
  arr = _check_1d(labels, name, n)
  if not np.issubdtype(arr.dtype, np.integer):
    raise InputError(
        f"{name} must be integer class ids in [0, {num_classes}); got dtype "
        f"{arr.dtype}. Convert one-hot labels with argmax(axis=-1).")
  if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
    raise InputError(
        f"{name} must lie in [0, {num_classes}) (num_classes = {num_classes});"
        f" got values in [{arr.min()}, {arr.max()}].")
  return arr.astype(np.int64)


def renumber(ids) -> np.ndarray:
  """Orbit ids renumbered ``0..O-1`` in order of first appearance."""
  ids = _check_1d(ids, "orbit_ids")
  if not (np.issubdtype(ids.dtype, np.integer)
          or np.issubdtype(ids.dtype, np.bool_)):
    raise InputError(
        f"orbit_ids must be integers (examples with the same id form one "
        f"orbit); got dtype {ids.dtype}.")
  _, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
  order = np.argsort(np.argsort(first))
  return order[inverse].astype(np.int64)


def orbit_masses(orbit_ids, labels, num_classes: int,
                 weights=None) -> OrbitMasses:
  """Per-orbit label masses :math:`m_O(y)` (see :class:`OrbitMasses`)."""
  num_classes = _check_num_classes(num_classes)
  orbit = renumber(orbit_ids)
  n = orbit.shape[0]
  if n == 0:
    raise InputError(
        "orbit_ids and labels must be non-empty (at least one example); got "
        "0 examples.")
  labels = _check_labels(labels, num_classes, n)
  w = check_weights(weights, n)
  mass = np.zeros((int(orbit.max()) + 1 if n else 0, num_classes))
  np.add.at(mass, (orbit, labels), w)
  return OrbitMasses(orbit, mass, float(w.sum()))


def total_dissent(orbit_ids, labels, num_classes: int, weights=None, *,
                  normalize: bool = False) -> np.ndarray:
  r"""Total dissent :math:`k(O) = M_O - \max_y m_O(y)` of every orbit.

  Wang et al. 2023, Sec. 4, the definition of total dissent: the mass of the
  orbit outside its majority label.

  Args:
    orbit_ids: ``int [N]``, examples with equal ids form one orbit.
    labels: ``int [N]`` in ``[0, num_classes)``.
    num_classes: ``C``.
    weights: ``[N]`` masses (default ``1/N``, the empirical distribution).
    normalize: divide by the orbit mass :math:`M_O` (the fraction of the
      orbit outside its majority label, in ``[0, 1 - 1/C]``).

  Returns:
    ``float64 [O]``, orbits numbered as :func:`renumber`.
  """
  om = orbit_masses(orbit_ids, labels, num_classes, weights)
  size = om.label_mass.sum(1)
  k = size - om.label_mass.max(1)
  return _normalize(k, size) if normalize else k


def minority_dissent(orbit_ids, labels, num_classes: int, weights=None, *,
                     normalize: bool = False) -> np.ndarray:
  r"""Minority dissent :math:`\kappa(O) = M_O - \min_y m_O(y)`.

  Berman et al. 2025 (the quantity entering their ECE lower bound): the
  largest mass an invariant classifier can misclassify on the orbit, the
  maximum running over all ``num_classes`` labels. Arguments as
  :func:`total_dissent`.
  """
  om = orbit_masses(orbit_ids, labels, num_classes, weights)
  size = om.label_mass.sum(1)
  kappa = size - om.label_mass.min(1)
  return _normalize(kappa, size) if normalize else kappa


def _normalize(v, size):
  return np.divide(v, size, out=np.zeros_like(v), where=size > 0)


def error_lower_bound(orbit_ids, labels, num_classes: int,
                      weights=None) -> float:
  r"""Least error of any invariant classifier: :math:`\sum_O k(O) / \sum_O M_O`.

  Wang et al. 2023, Sec. 4 (the error lower bound for invariant
  classification under partially incorrect symmetry):
  :math:`\mathrm{err}(h) \ge \int_F k(Gx)\,dx` for every
  :math:`G`-invariant :math:`h`, :math:`F` a fundamental domain. Here the
  integral over :math:`F` is the sum over the orbits of the finite measure,
  divided by its total mass (so it is an error *rate*). Assumption: the
  orbit ids are the orbits of the group the classifier is invariant to,
  restricted to the data (members outside it have mass zero). The bound is
  attained by :func:`orbit_majority_classifier`.

  Returns:
    A float in ``[0, 1 - 1/C]``; ``1 -`` it is the accuracy ceiling.
  """
  om = orbit_masses(orbit_ids, labels, num_classes, weights)
  k = om.label_mass.sum(1) - om.label_mass.max(1)
  return float(k.sum() / om.total)


def orbit_majority_classifier(orbit_ids, labels, num_classes: int,
                              weights=None) -> np.ndarray:
  """The invariant classifier that predicts each orbit's majority label.

  It attains :func:`error_lower_bound` (ties go to the smallest label).

  Returns:
    ``int64 [N]``, the prediction for every example (constant on orbits).
  """
  om = orbit_masses(orbit_ids, labels, num_classes, weights)
  return np.argmax(om.label_mass, axis=1)[om.orbit]


def orbit_ids_from_group(points, transforms, *, decimals: int = 6
                         ) -> np.ndarray:
  """Orbit ids of a finite point set under a finite group.

  Args:
    points: ``[N, ...]`` array.
    transforms: a sequence of callables ``[N, ...] -> [N, ...]``, ALL the
      group elements acting on a batch; or an object with ``elements()``
      and ``act(g, x)`` (the :mod:`enn_sym.symmetry` group protocol).
      Generators alone suffice only when the point set is closed under each
      of them: an image outside the set breaks the chain, so e.g. a quarter
      turn alone does not link ``x`` with its half turn when the quarter
      turns of ``x`` are absent (that orbit would come out split).
    decimals: points within ``10 ** -decimals`` of each other in every
      coordinate (max-norm) are the same point. Matching is by distance,
      not by rounding, so images computed in lower precision (e.g. a JAX
      group acting in float32 on float64 points) or landing on either side
      of a rounding boundary still match.

  Returns:
    ``int64 [N]`` orbit ids (numbered as :func:`renumber`). Two examples get
    the same id when a chain of transforms maps one onto the other; an
    image that is not in the data set links nothing (a zero-mass member).
  """
  pts = np.asarray(points, np.float64)
  if pts.ndim < 1 or pts.shape[0] == 0:
    raise InputError(
        f"points must have shape [N, ...] with N >= 1; got {pts.shape}.")
  if hasattr(transforms, "elements") and hasattr(transforms, "act"):
    group = transforms
    fns = [lambda x, g=g: np.asarray(group.act(g, x))
           for g in np.asarray(group.elements())]
  else:
    fns = list(transforms)
  if isinstance(decimals, (bool, np.bool_)) or not isinstance(
      decimals, (int, np.integer)):
    raise InputError(f"decimals must be an integer; got {decimals!r}.")
  if not np.all(np.isfinite(pts)):
    raise InputError("points must be finite; found NaN or inf.")
  from scipy import spatial  # pylint: disable=g-import-not-at-top
  n = pts.shape[0]
  flat = pts.reshape(n, -1)
  tol = 10.0 ** (-int(decimals))
  tree = spatial.cKDTree(flat)
  parent = np.arange(n)

  def find(i):
    while parent[i] != i:
      parent[i] = parent[parent[i]]
      i = parent[i]
    return i

  def union(i, j):
    parent[find(i)] = find(j)

  for i, j in tree.query_pairs(tol, p=np.inf):  # Duplicates are one point.
    union(i, j)
  for fn in fns:
    moved = np.asarray(fn(pts), np.float64)
    if moved.shape != pts.shape:
      raise InputError(
          f"every transform must keep the shape {pts.shape} of points; one "
          f"returned {moved.shape}.")
    if not np.all(np.isfinite(moved)):
      raise InputError("a transform returned NaN or inf points.")
    dist, idx = tree.query(moved.reshape(n, -1), k=1, p=np.inf,
                           distance_upper_bound=tol * (1 + 1e-9))
    for i in np.flatnonzero(np.isfinite(dist)):
      union(i, int(idx[i]))
  return renumber(np.array([find(i) for i in range(n)]))


# ---------------------------------------------------------------------------
# Densities given as functions.


class NumericDissent(NamedTuple):
  """Dissent at the quadrature nodes of a fundamental domain.

  Attributes:
    total: ``[Q]`` :math:`k(Gx_q)`.
    minority: ``[Q]`` :math:`\\kappa(Gx_q)`.
    mass: ``[Q]`` :math:`M_{Gx_q}`.
    node_weights: ``[Q]`` the quadrature weights of the domain.
  """

  total: np.ndarray
  minority: np.ndarray
  mass: np.ndarray
  node_weights: np.ndarray

  def error_lower_bound(self) -> float:
    r""":math:`\int_F k(Gx)\,dx` (Wang et al. 2023, Sec. 4)."""
    return float(np.sum(self.node_weights * self.total))

  def total_mass(self) -> float:
    r""":math:`\int_F M_{Gx}\,dx`, 1 for a normalised density."""
    return float(np.sum(self.node_weights * self.mass))


def numeric_dissent(density: Callable[[Any], Any],
                    labelling: Callable[[Any], Any],
                    orbit: Callable[[Any], tuple[Any, Any]],
                    nodes, node_weights, num_classes: int, *,
                    normalization_atol: float = 1e-3) -> NumericDissent:
  r"""Total and minority dissent of a density given as functions.

  :math:`k(Gx) = \min_y \sum_j w_j\,p(z_j) 1[f(z_j) \ne y]` where
  :math:`(z_j, w_j)` is a quadrature of the orbit :math:`Gx` (``orbit``),
  evaluated at the nodes :math:`x_q` of a fundamental domain :math:`F`.
  Integrating ``node_weights * total`` over the nodes gives the error lower
  bound of Wang et al. 2023 (Sec. 4).

  Args:
    density: ``p``, maps ``[M, ...]`` points to ``[M]`` densities.
    labelling: ``f``, maps ``[M, ...]`` points to ``int [M]`` labels.
    orbit: maps ONE node to ``(points [J, ...], weights [J])``: the orbit
      quadrature, with the volume element of the orbit folded into the
      weights so that :math:`\int_F \sum_j w_j p(z_j)\,dx = \int p = 1`.
    nodes: ``[Q, ...]`` nodes of :math:`F`.
    node_weights: ``[Q]`` quadrature weights of :math:`F`.
    num_classes: ``C``.
    normalization_atol: the density must integrate to 1 within this.

  Raises:
    InputError: when the density does not integrate to one (normalise it, or
      refine the quadrature), is negative, or labels are out of range.
  """
  num_classes = _check_num_classes(num_classes)
  nodes = np.asarray(nodes, np.float64)
  if nodes.ndim < 1 or nodes.shape[0] == 0:
    raise InputError(
        f"nodes must have shape [Q, ...] with Q >= 1; got {nodes.shape}.")
  node_weights = _check_1d(node_weights, "node_weights",
                           nodes.shape[0]).astype(np.float64)
  if not np.all(np.isfinite(node_weights)) or node_weights.min() < 0:
    raise InputError(
        "node_weights must be finite and non-negative (a quadrature of the "
        f"fundamental domain, e.g. midpoint_rule); got min "
        f"{node_weights.min():.3g}.")
  total, minority, mass = [], [], []
  for q in range(nodes.shape[0]):
    pts, w = orbit(nodes[q])
    w = np.asarray(w, np.float64)
    dens = np.asarray(density(np.asarray(pts)), np.float64)
    if dens.shape != w.shape:
      raise InputError(
          f"density must return one value per orbit point (shape {w.shape});"
          f" got {dens.shape}.")
    if not np.all(np.isfinite(dens)) or dens.min() < 0:
      raise InputError(
          "density must be finite and non-negative; got a value "
          f"{dens.min():.3g}.")
    lab = _check_labels(np.asarray(labelling(np.asarray(pts))), num_classes,
                        w.shape[0], "labelling(points)")
    per_label = np.zeros((num_classes,))
    np.add.at(per_label, lab, w * dens)
    size = per_label.sum()
    mass.append(size)
    total.append(size - per_label.max())
    minority.append(size - per_label.min())
  out = NumericDissent(np.array(total), np.array(minority), np.array(mass),
                       node_weights)
  integral = out.total_mass()
  if abs(integral - 1.0) > normalization_atol:
    raise InputError(
        f"density integrates to {integral:.6g} over the orbits of the nodes, "
        f"not 1: normalise the density (divide by {integral:.6g}) or check "
        f"that the orbit weights carry the orbit's volume element.")
  return out


def midpoint_rule(low: float, high: float, num: int
                  ) -> tuple[np.ndarray, np.ndarray]:
  """``(nodes [num], weights [num])`` of the midpoint rule on ``[low, high]``."""
  if not (isinstance(num, (int, np.integer)) and num >= 1) or not high > low:
    raise InputError(
        f"midpoint_rule needs high > low and an integer num >= 1; got low="
        f"{low}, high={high}, num={num!r}.")
  h = (high - low) / num
  return low + h * (np.arange(num) + 0.5), np.full((num,), h)
