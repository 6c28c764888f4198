r"""Adaptive path search between minima, and disconnection certificates.

:func:`search_paths` is the robust counterpart of
:func:`enn_sym.landscape.analyze_connectivity`: every pair first gets the
straight segment, then Bezier curves of a growing budget (``schedule`` of
``(num_bends, num_steps)``, e.g. 1 bend and 200 steps, then 2 and 400, then 3
and 800). A pair moves on to the next budget only while its best barrier
still improves by more than ``rtol`` (relative) and ``atol`` (absolute), so
the budget goes where the estimate is not converged. With a counting
``level``, a pair also stops once its saddle is at most ``level`` (it is
joined at that level) or once its two minima are already joined at ``level``
through other pairs (more search there cannot change the count at
``level``; ``prune_connected``).

Per pair, the result holds the best saddle and barrier found, the budget of
the path that found it, the steps spent in total and why the search stopped.
The dendrogram of the best saddles gives the counts at every level.

What the counts mean (see :mod:`._components`): a path found below ``c``
joins two minima, a path not found proves nothing, so every count is an
**upper bound** on the number of components the samples occupy. Only where a
certificate exists is a count exact: for deep linear networks
(:mod:`._linear`) any path between different determinant-sign classes rises
to at least :math:`c^*`, so below :math:`c^*` the classes are certainly
different components and a search that joins every class gives the true
partition. :func:`certify` compares the best barrier found between classes
with the certificate.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from enn_sym import _validation as _v
from enn_sym._validation import InputError
from enn_sym.landscape import _analysis
from enn_sym.landscape import _components
from enn_sym.landscape import _paths

Array = jax.Array

DEFAULT_SCHEDULE = ((1, 200), (2, 400), (3, 800))
STOP_REASONS = ("flat", "joined_at_level", "connected_at_level", "converged",
                "budget")

UPPER_BOUND_NOTE = (
    "Component counts are upper bounds: a path that was not found does not "
    "prove disconnection. They are exact only where a certificate bounds "
    "every path between the classes from below (deep linear networks).")


@dataclasses.dataclass(frozen=True)
class SearchResult:
  """Output of :func:`search_paths` (``n`` minima, ``m`` pairs).

  Attributes:
    heights: ``[n]`` losses of the minima.
    pairs: ``[m, 2]`` pairs ``(i, j)``.
    saddle: ``[n, n]`` the best saddle (max loss along the path) found per
      pair (``inf`` elsewhere).
    best_saddle: ``[m]`` the same per pair; ``barrier``: ``[m]`` minus the
      higher endpoint; ``linear_barrier``: ``[m]`` of the straight segment.
    best_bends, best_steps: ``[m]`` budget of the path that gave the best
      saddle (``0, 0``: the straight segment).
    total_steps: ``[m]`` curve-fitting steps spent on the pair.
    stages: ``[m]`` curve budgets tried.
    stop_reason: ``[m]`` one of :data:`STOP_REASONS`.
    combined: :class:`Dendrogram` of the best saddles; ``linear``: of the
      straight segments only.
    level: the counting level (or ``None``).
    timings: seconds per stage (``'linear'``, ``'curve_<k>'``, ``'align'``).
  """

  heights: np.ndarray
  pairs: np.ndarray
  saddle: np.ndarray
  best_saddle: np.ndarray
  barrier: np.ndarray
  linear_barrier: np.ndarray
  best_bends: np.ndarray
  best_steps: np.ndarray
  total_steps: np.ndarray
  stages: np.ndarray
  stop_reason: list
  combined: _components.Dendrogram
  linear: _components.Dendrogram
  level: float | None
  timings: dict

  note = UPPER_BOUND_NOTE


def _check_schedule(schedule):
  if not schedule:
    raise InputError("schedule must list at least one (num_bends, num_steps)"
                     " budget.")
  out = []
  for item in schedule:
    try:
      bends, steps = item
    except (TypeError, ValueError):
      raise InputError(f"schedule entries must be (num_bends, num_steps); "
                       f"got {item!r}.") from None
    _paths.check_curve_args(bends, steps, 1e-2, 1, 0.0)
    out.append((int(bends), int(steps)))
  return tuple(out)


def _padded(num):
  """Pair counts padded to powers of two >= 8: few distinct jit shapes."""
  return max(8, 1 << max(int(num) - 1, 0).bit_length())


def search_paths(loss_fn: Callable[[Array], Array], minima: Any, *,
                 key: Array,
                 schedule: Sequence[tuple[int, int]] = DEFAULT_SCHEDULE,
                 rtol: float = 0.05, atol: float = 1e-6,
                 level: float | None = None, prune_connected: bool = True,
                 learning_rate: float = 1e-2, num_t: int = 8,
                 init_noise: float = 0.0, num_points: int = 201,
                 num_refine: int = 64, align: Callable | None = None,
                 batch_size: int | None = 64, pairs: Any = None,
                 fixed_shapes: bool = False) -> SearchResult:
  """Adaptive path search between all pairs of ``minima [n, D]``.

  Args:
    loss_fn: ``theta [D] -> scalar`` (a ``jax.tree_util.Partial`` is passed
      as data: one compilation per shape).
    minima: ``[n, D]`` flat parameters.
    key: PRNG key; stage ``k``, pair ``p`` fits with ``fold_in(fold_in(key,
      k), p)``.
    schedule: increasing curve budgets ``(num_bends, num_steps)``.
    rtol, atol: a pair goes on to the next budget only if the last one
      lowered its barrier by more than ``rtol * barrier + atol``; a barrier
      at most ``atol`` stops it (``'flat'``).
    level: counting level for the two level-based stops (``None``: none).
    prune_connected: with ``level``, stop pairs already joined at ``level``
      through other pairs.
    learning_rate, num_t, init_noise, num_points, num_refine, batch_size:
      as in :func:`enn_sym.landscape.analyze_connectivity`.
    align: optional quotient map ``(a, b) -> (a', b')`` per pair.
    pairs: optional ``[m, 2]`` subset of pairs.
    fixed_shapes: pad every stage's active pairs to the padded count of all
      pairs (one compilation per stage whatever the number of active pairs;
      cheaper when the loss is cheap and compilation dominates).

  Returns:
    :class:`SearchResult`.
  """
  minima = np.asarray(minima)
  if minima.ndim != 2 or minima.shape[0] < 2:
    raise InputError(
        f"minima must have shape [n, D] with n >= 2; got {minima.shape}.")
  if not np.all(np.isfinite(minima)):
    raise InputError("minima contain non-finite parameters; drop diverged "
                     "runs before the analysis.")
  schedule = _check_schedule(schedule)
  _v.check_scalar(rtol, "rtol", low=0.0)
  _v.check_scalar(atol, "atol", low=0.0)
  if level is not None:
    _v.check_scalar(level, "level")
  _paths._check_batch_size(batch_size)  # pylint: disable=protected-access
  _paths._check_grid(num_points, num_refine)  # pylint: disable=protected-access
  n = minima.shape[0]
  pairs = _analysis.all_pairs(n) if pairs is None else np.asarray(pairs)
  if pairs.ndim != 2 or pairs.shape[1] != 2 or pairs.size == 0 or not (
      np.issubdtype(pairs.dtype, np.integer)) or pairs.min() < 0 or (
          pairs.max() >= n) or np.any(pairs[:, 0] == pairs[:, 1]):
    raise InputError(f"pairs must be [m, 2] distinct integer node ids in "
                     f"[0, {n}).")
  m = len(pairs)
  timings = {}
  start = time.perf_counter()
  a, b = minima[pairs[:, 0]], minima[pairs[:, 1]]
  if align is not None:
    aligned = [align(x, y) for x, y in zip(a, b)]
    a = np.stack([x for x, _ in aligned])
    b = np.stack([y for _, y in aligned])
  timings["align"] = time.perf_counter() - start
  heights = np.asarray(_analysis._HEIGHTS(  # pylint: disable=protected-access
      loss_fn, jnp.asarray(minima)), np.float64)
  ends = np.maximum(heights[pairs[:, 0]], heights[pairs[:, 1]])

  start = time.perf_counter()
  small = _analysis._small(batch_size)  # pylint: disable=protected-access
  lin = _paths.linear_profiles(loss_fn, jnp.asarray(a), jnp.asarray(b),
                               num_points=num_points, num_refine=num_refine,
                               batch_size=small)
  timings["linear"] = time.perf_counter() - start
  best = np.maximum(np.asarray(lin.max_loss, np.float64), ends)
  linear_barrier = best - ends
  best_bends = np.zeros(m, np.int64)
  best_steps = np.zeros(m, np.int64)
  total_steps = np.zeros(m, np.int64)
  stages = np.zeros(m, np.int64)
  reason = np.array(["budget"] * m, dtype=object)
  active = np.ones(m, bool)
  prev = best - ends

  def stop_by_level():
    if level is None:
      return
    joined = active & (best <= level)
    reason[joined] = "joined_at_level"
    active[joined] = False
    if prune_connected:
      uf = _components.UnionFind(n)
      for (i, j), s in zip(pairs.tolist(), best.tolist()):
        if s <= level:
          uf.union(i, j)
      same = np.array([uf.find(i) == uf.find(j) for i, j in pairs.tolist()])
      pruned = active & same
      reason[pruned] = "connected_at_level"
      active[pruned] = False

  flat = active & (prev <= atol)
  reason[flat] = "flat"
  active[flat] = False
  stop_by_level()
  for k, (bends, steps) in enumerate(schedule):
    idx = np.flatnonzero(active)
    if not idx.size:
      break
    start = time.perf_counter()
    size = _padded(m if fixed_shapes else idx.size)
    pad = np.concatenate([idx, np.full(size - idx.size, idx[0])])
    _, prof, _ = _paths.fit_bezier_pairs(
        loss_fn, jnp.asarray(a[pad]), jnp.asarray(b[pad]),
        jax.random.fold_in(key, k), num_bends=bends, num_steps=steps,
        learning_rate=learning_rate, num_t=num_t, init_noise=init_noise,
        num_points=num_points, num_refine=num_refine, batch_size=batch_size,
        pair_ids=pad)
    saddle = np.asarray(prof.max_loss, np.float64)[:idx.size]
    saddle = np.where(np.isnan(saddle), np.inf, np.maximum(saddle, ends[idx]))
    timings[f"curve_{k}"] = time.perf_counter() - start
    total_steps[idx] += steps
    stages[idx] += 1
    better = saddle < best[idx]
    best_bends[idx[better]] = bends
    best_steps[idx[better]] = steps
    best[idx] = np.minimum(best[idx], saddle)
    barrier = best[idx] - ends[idx]
    gain = prev[idx] - barrier
    prev[idx] = barrier
    flat = barrier <= atol
    reason[idx[flat]] = "flat"
    converged = ~flat & (gain <= rtol * barrier + atol)
    reason[idx[converged]] = "converged"
    active[idx[flat | converged]] = False
    stop_by_level()
  # pylint: disable-next=protected-access
  saddle_matrix = _analysis._to_matrix(n, pairs, best)
  lin_matrix = _analysis._to_matrix(  # pylint: disable=protected-access
      n, pairs, np.asarray(lin.max_loss, np.float64))
  return SearchResult(
      heights=heights, pairs=pairs, saddle=saddle_matrix, best_saddle=best,
      barrier=best - ends, linear_barrier=linear_barrier,
      best_bends=best_bends, best_steps=best_steps, total_steps=total_steps,
      stages=stages, stop_reason=list(reason),
      combined=_components.saddle_dendrogram(heights, saddle_matrix),
      linear=_components.saddle_dendrogram(heights, lin_matrix),
      level=None if level is None else float(level), timings=timings)


def certify(saddle: Any, labels: Any, certificate: float) -> dict:
  """Best saddle found between different classes against a lower bound.

  Args:
    saddle: ``[n, n]`` best saddle per pair (``inf``: not searched), e.g.
      :attr:`SearchResult.saddle`.
    labels: ``[n]`` class of each minimum (e.g. sign-pattern ids).
    certificate: a proven lower bound on the max loss along any path between
      different classes (:func:`enn_sym.landscape.disconnection_certificate`).

  Returns:
    ``{'certificate', 'best_cross_saddle', 'ratio'`` (best / certificate),
    ``'holds'`` (no path found below the bound, up to a relative 1e-3 for
    float32 rounding), ``'num_cross_pairs'}``; ``best_cross_saddle`` is
    ``inf`` when no pair crosses classes.
  """
  saddle = np.asarray(saddle, np.float64)
  labels = np.asarray(labels)
  n = labels.shape[0]
  if saddle.shape != (n, n):
    raise InputError(f"saddle must be [{n}, {n}] for {n} labels; got "
                     f"{saddle.shape}.")
  _v.check_scalar(certificate, "certificate", low=0.0, low_open=True)
  cross = labels[:, None] != labels[None, :]
  values = np.where(cross, np.nan_to_num(saddle, nan=np.inf), np.inf)
  best = float(values.min()) if n else float("inf")
  return {"certificate": float(certificate), "best_cross_saddle": best,
          "ratio": best / float(certificate),
          "holds": bool(best >= certificate * (1 - 1e-3)),
          "num_cross_pairs": int(np.sum(np.triu(cross & np.isfinite(
              saddle), 1)))}


def certify_search(res: SearchResult, patterns: Any,
                   certificate: float) -> dict:
  """:func:`certify` of a search with sign patterns ``[n, l]`` as classes.

  Adds ``'components_below'`` (the count at ``certificate / 2``, exact there
  when the search joined every class) and ``'num_classes'`` (sign classes
  the minima hit).
  """
  ids = {}
  labels = np.asarray([ids.setdefault(tuple(p), len(ids))
                       for p in np.asarray(patterns).tolist()])
  out = certify(res.saddle, labels, certificate)
  out["components_below"] = int(res.combined.num_components(certificate / 2))
  out["num_classes"] = len(ids)
  return out
