r"""Connected components of sampled minima: union-find and a saddle dendrogram.

The graph: one node per sampled minimum :math:`i` with height
:math:`h_i = L(\theta_i)`, and an edge :math:`(i, j)` of weight
:math:`w_{ij}` = the lowest saddle height found on any path searched between
them (the maximum of the loss along the path, endpoints included, so
:math:`w_{ij} \ge \max(h_i, h_j)`; ``inf`` or ``nan`` where no path was
searched). At level :math:`c` the nodes are the minima with :math:`h_i \le c`
and the edges those with :math:`w_{ij} \le c`.

One minimum spanning tree answers every level at once. By the cut property,
the MST edges of weight :math:`\le c` span the same components as all edges of
weight :math:`\le c`, and such an edge only joins nodes with
:math:`h \le c`, so

.. math::
   \#\mathrm{components}(c) = \#\{i : h_i \le c\}
                             - \#\{e \in \mathrm{MST} : w_e \le c\}.

This is a dendrogram (single-linkage clustering with merge heights
:math:`w_e`).

What a count means. An edge is a path that was *found* to stay below
``c``; a missing edge is a search that failed, which proves nothing: a better
curve may exist. Counts are therefore **upper bounds** on the number of
components of :math:`\{L \le c\}` that the samples occupy (and the samples may
miss components altogether). One caveat runs the other way: an edge's weight
is the maximum of the loss at the *sampled* points of its path (a lower bound
of the path's true maximum, see :mod:`._paths`), so a spike narrower than the
grid, refined only near the grid maximum, can go unseen.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable

import numpy as np

from enn_sym._validation import InputError


class UnionFind:
  """Disjoint sets over ``0..n-1`` (path halving, union by size)."""

  def __init__(self, n: int):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
      raise InputError(f"n must be an int >= 0 (number of nodes); got {n!r}.")
    self._parent = list(range(n))
    self._size = [1] * n
    self.num_sets = n

  def find(self, i: int) -> int:
    parent = self._parent
    while parent[i] != i:
      parent[i] = parent[parent[i]]
      i = parent[i]
    return i

  def union(self, i: int, j: int) -> bool:
    """Merges the sets of ``i`` and ``j``; True when they were different."""
    ri, rj = self.find(i), self.find(j)
    if ri == rj:
      return False
    if self._size[ri] < self._size[rj]:
      ri, rj = rj, ri
    self._parent[rj] = ri
    self._size[ri] += self._size[rj]
    self.num_sets -= 1
    return True

  def labels(self) -> np.ndarray:
    """Component ids ``0..k-1`` numbered by first appearance."""
    ids: dict[int, int] = {}
    return np.asarray([ids.setdefault(self.find(i), len(ids))
                       for i in range(len(self._parent))], np.int64)


def connected_components(num_nodes: int,
                         edges: Iterable[tuple[int, int]]) -> np.ndarray:
  """Component labels ``[num_nodes]`` (ids by first appearance) of a graph."""
  uf = UnionFind(num_nodes)
  for i, j in edges:
    _check_node(i, num_nodes)
    _check_node(j, num_nodes)
    uf.union(int(i), int(j))
  return uf.labels()


def _check_node(i, n):
  if not 0 <= int(i) < n:
    raise InputError(f"edge endpoint {i} is not a node id in [0, {n}).")


def canonical_partition(labels) -> tuple[tuple[int, ...], ...]:
  """A partition as sorted tuples of node ids (to compare two labelings).

  Negative labels (``-1`` from :meth:`Dendrogram.labels`: nodes above the
  level, in no component) are left out rather than grouped together.
  """
  labels = np.asarray(labels)
  groups: dict[int, list[int]] = {}
  for i, lab in enumerate(labels.tolist()):
    if lab < 0:
      continue
    groups.setdefault(lab, []).append(i)
  return tuple(sorted(tuple(g) for g in groups.values()))


@dataclasses.dataclass(frozen=True)
class Dendrogram:
  """Component counts at every level (module docstring).

  Attributes:
    heights: ``[n]`` node heights :math:`h_i`.
    edges: ``[m, 2]`` the minimum-spanning-forest edges, by weight.
    weights: ``[m]`` their weights (merge heights), ascending.
  """

  heights: np.ndarray
  edges: np.ndarray
  weights: np.ndarray

  def num_components(self, levels) -> np.ndarray:
    """Number of components at each level (same shape as ``levels``)."""
    levels = np.asarray(levels, np.float64)
    nodes = np.searchsorted(np.sort(self.heights), levels, side="right")
    merges = np.searchsorted(self.weights, levels, side="right")
    return (nodes - merges).astype(np.int64)

  def labels(self, level: float) -> np.ndarray:
    """``[n]`` component ids at ``level``; ``-1`` for nodes above it."""
    uf = UnionFind(len(self.heights))
    for (i, j), w in zip(self.edges.tolist(), self.weights.tolist()):
      if w <= level:
        uf.union(i, j)
    raw = uf.labels()
    out = np.full(len(self.heights), -1, np.int64)
    ids: dict[int, int] = {}
    for i in range(len(self.heights)):
      if self.heights[i] <= level:
        out[i] = ids.setdefault(int(raw[i]), len(ids))
    return out

  def merge_levels(self) -> np.ndarray:
    """The sorted levels where the count changes (node births and merges)."""
    return np.unique(np.concatenate([self.heights, self.weights]))


def saddle_dendrogram(heights, saddles) -> Dendrogram:
  """The :class:`Dendrogram` of minima ``heights [n]`` and ``saddles [n, n]``.

  ``saddles[i, j]`` is the lowest saddle height found between ``i`` and
  ``j`` (symmetrised with the minimum of the two triangles); ``inf``/``nan``
  = no path. Weights are clipped below at ``max(h_i, h_j)``. Kruskal's
  algorithm on the upper triangle.
  """
  heights = np.asarray(heights, np.float64)
  saddles = np.asarray(saddles, np.float64)
  n = heights.shape[0] if heights.ndim == 1 else -1
  if heights.ndim != 1 or saddles.shape != (n, n):
    raise InputError(
        f"heights must have shape [n] and saddles [n, n]; got "
        f"{heights.shape} and {saddles.shape}.")
  if not np.all(np.isfinite(heights)):
    raise InputError("heights must be finite (drop diverged runs first).")
  s = np.where(np.isnan(saddles), np.inf, saddles)
  s = np.minimum(s, s.T)
  iu, ju = np.triu_indices(n, k=1)
  w = np.maximum(s[iu, ju], np.maximum(heights[iu], heights[ju]))
  finite = np.isfinite(w)
  iu, ju, w = iu[finite], ju[finite], w[finite]
  order = np.argsort(w, kind="stable")
  uf = UnionFind(n)
  edges, weights = [], []
  for k in order:
    if uf.union(int(iu[k]), int(ju[k])):
      edges.append((int(iu[k]), int(ju[k])))
      weights.append(w[k])
  return Dendrogram(heights, np.asarray(edges, np.int64).reshape(-1, 2),
                    np.asarray(weights, np.float64))


def _check_heights(heights):
  heights = np.asarray(heights, np.float64)
  if heights.ndim != 1 or heights.size == 0 or not np.all(
      np.isfinite(heights)):
    raise InputError(f"heights must be a non-empty finite [n] array of "
                     f"minima losses; got shape {heights.shape}.")
  return heights


def relative_levels(heights, deltas) -> np.ndarray:
  r"""Levels relative to a model's own minima: :math:`h_{\min} + \delta
  (\mathrm{median}(h) - h_{\min})`.

  Two models whose minima lie at different loss scales are compared at
  levels that select comparable sets of their own minima (``delta = 0``: the
  lowest minimum only, ``delta = 1``: about half of them, larger: all of
  them and the saddles between them), instead of at one absolute level that
  holds every minimum of one model and none of the other.

  Args:
    heights: ``[n]`` losses of the minima.
    deltas: relative positions :math:`\delta \ge 0` (any shape).

  Returns:
    Levels, the shape of ``deltas``.
  """
  heights = _check_heights(heights)
  deltas = np.asarray(deltas, np.float64)
  if not np.all(np.isfinite(deltas)) or np.any(deltas < 0):
    raise InputError("deltas must be finite and >= 0 (0 = the lowest "
                     "minimum, 1 = the median minimum).")
  low = heights.min()
  return low + deltas * (np.median(heights) - low)


def quantile_levels(heights, quantiles) -> np.ndarray:
  """Levels at ``quantiles`` in [0, 1] of a model's minima losses (linear)."""
  heights = _check_heights(heights)
  q = np.asarray(quantiles, np.float64)
  if not np.all((q >= 0) & (q <= 1)):
    raise InputError("quantiles must lie in [0, 1].")
  return np.quantile(heights, q)
