"""All-pairs connectivity analysis of sampled minima.

:func:`analyze_connectivity` takes ``n`` minima and, for every pair ``i < j``
(optionally after a symmetry quotient that replaces the pair by aligned
representatives, :func:`enn_sym.landscape.make_aligner`):

1. the linear profile (vmapped over pairs and over ``t``, one jit);
2. optionally a Bezier curve with the endpoints fixed (vmapped over pairs,
   the Adam fit inside ``lax.scan``, one jit), and its profile;
3. the saddle heights (max loss along the path) and barriers, as ``[n, n]``
   matrices, and :class:`Dendrogram` s for "linear paths only" and "linear or
   curve", which give the component count at every level.

Optionally ``report_fn(theta) -> dict`` (e.g. :attr:`Objective.report`) is
evaluated along each path on ``report_points`` points and its maxima over
the path are returned (the hard binned ECE along a path, which is never
optimised).

Counts are upper bounds: see :mod:`._components`.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from enn_sym._validation import InputError
from enn_sym.landscape import _components
from enn_sym.landscape import _paths

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class ConnectivityResult:
  """Output of :func:`analyze_connectivity` (``n`` minima, ``m`` pairs).

  Attributes:
    heights: ``[n]`` losses of the minima.
    pairs: ``[m, 2]`` the analysed pairs ``(i, j)``, ``i < j``.
    linear_saddle, curve_saddle: ``[n, n]`` max loss along the linear path /
      the fitted curve (``inf`` off the analysed pairs and on the diagonal;
      ``curve_saddle`` is all ``inf`` without curves).
    linear_barrier, curve_barrier: ``[m]`` barrier heights per pair.
    linear: dendrogram of linear paths only.
    combined: dendrogram of the better of the two paths per pair.
    path_reports: ``{'linear': {key: [m]}, 'curve': {key: [m]}}`` maxima of
      ``report_fn`` along each path (empty without ``report_fn``).
    timings: seconds spent in ``align``, ``linear``, ``curve``.
  """

  heights: np.ndarray
  pairs: np.ndarray
  linear_saddle: np.ndarray
  curve_saddle: np.ndarray
  linear_barrier: np.ndarray
  curve_barrier: np.ndarray
  linear: _components.Dendrogram
  combined: _components.Dendrogram
  path_reports: dict
  timings: dict


def _heights(loss_fn, minima):
  return jax.vmap(loss_fn)(minima)


_HEIGHTS = _paths.LossJit(_heights, ())


def all_pairs(n: int) -> np.ndarray:
  """``[n (n - 1) / 2, 2]`` pairs ``i < j`` in row-major order."""
  i, j = np.triu_indices(n, k=1)
  return np.stack([i, j], axis=1).astype(np.int64)


def _block(x):
  return jax.tree.map(lambda a: np.asarray(jax.block_until_ready(a)), x)


def analyze_connectivity(loss_fn: Callable[[Array], Array], minima: Any, *,
                         key: Array, curves: bool = True,
                         num_bends: int = 1, curve_steps: int = 200,
                         curve_learning_rate: float = 1e-2,
                         num_t: int = 8, init_noise: float = 0.0,
                         num_points: int = 201, num_refine: int = 64,
                         align: Callable | None = None,
                         report_fn: Callable | None = None,
                         report_points: int = 33,
                         batch_size: int | None = 64,
                         pairs: Any = None) -> ConnectivityResult:
  """Paths between all pairs of ``minima [n, D]`` and the dendrograms.

  Args:
    loss_fn: ``theta [D] -> scalar`` (jittable).
    minima: ``[n, D]`` flat parameters.
    key: PRNG key of the curve fits (pair ``p`` uses ``fold_in(key, p)``).
    curves: fit Bezier curves (otherwise linear paths only).
    num_bends: Bezier control points between the endpoints (1-3 typical).
    curve_steps, curve_learning_rate, num_t, init_noise: the curve fit
      (:func:`enn_sym.landscape.fit_bezier`).
    num_points, num_refine: profile grid (>= 200 points recommended).
    align: optional ``(a, b) -> (a', b')`` quotient map applied to each pair
      on the host (:func:`enn_sym.landscape.make_aligner`).
    report_fn: optional ``theta -> dict`` of scalars evaluated along paths.
    report_points: points per path for ``report_fn``.
    batch_size: pairs vmapped at once in the curve fits (``None``: all; the
      profiles use at most 16), which bounds memory.
    pairs: optional ``[m, 2]`` subset of pairs (default: all ``i < j``).

  Returns:
    :class:`ConnectivityResult`.
  """
  minima = np.asarray(minima)
  if minima.ndim != 2 or minima.shape[0] < 2:
    raise InputError(
        f"minima must have shape [n, D] with n >= 2; got {minima.shape}.")
  if not np.all(np.isfinite(minima)):
    raise InputError("minima contain non-finite parameters; drop diverged "
                     "runs before the analysis.")
  _paths._check_batch_size(batch_size)  # pylint: disable=protected-access
  if report_fn is not None and (isinstance(report_points, bool) or
                                not isinstance(report_points,
                                               (int, np.integer)) or
                                report_points < 2):
    raise InputError(f"report_points must be an int >= 2 (points per path "
                     f"where report_fn is evaluated); got {report_points!r}.")
  n = minima.shape[0]
  if pairs is not None:
    raw = np.asarray(pairs)
    if raw.size and not np.issubdtype(raw.dtype, np.integer):
      raise InputError(f"pairs must be integer node ids; got dtype "
                       f"{raw.dtype}.")
  pairs = all_pairs(n) if pairs is None else np.asarray(pairs, np.int64)
  if pairs.ndim != 2 or pairs.shape[1] != 2 or pairs.size == 0 or (
      pairs.min() < 0) or pairs.max() >= n or np.any(
          pairs[:, 0] == pairs[:, 1]):
    raise InputError(f"pairs must be [m, 2] distinct node ids in [0, {n}).")
  timings = {}
  start = time.perf_counter()
  a, b = minima[pairs[:, 0]], minima[pairs[:, 1]]
  if align is not None:
    aligned = [align(x, y) for x, y in zip(a, b)]
    a = np.stack([x for x, _ in aligned])
    b = np.stack([y for _, y in aligned])
  timings["align"] = time.perf_counter() - start
  a, b = jnp.asarray(a), jnp.asarray(b)
  heights = _block(_HEIGHTS(loss_fn, jnp.asarray(minima)))
  heights = np.asarray(heights, np.float64)

  start = time.perf_counter()
  lin = _block(_paths.linear_profiles(loss_fn, a, b, num_points=num_points,
                                      num_refine=num_refine,
                                      batch_size=_small(batch_size)))
  timings["linear"] = time.perf_counter() - start
  lin_saddle = _to_matrix(n, pairs, lin.max_loss)
  curve_saddle = np.full((n, n), np.inf)
  curve_barrier = np.full(len(pairs), np.nan)
  bends = None
  timings["curve"] = 0.0
  if curves:
    start = time.perf_counter()
    bends, prof, _ = _block(_paths.fit_bezier_pairs(
        loss_fn, a, b, key, num_bends=num_bends, num_steps=curve_steps,
        learning_rate=curve_learning_rate, num_t=num_t,
        init_noise=init_noise, num_points=num_points, num_refine=num_refine,
        batch_size=batch_size))
    timings["curve"] = time.perf_counter() - start
    curve_saddle = _to_matrix(n, pairs, prof.max_loss)
    curve_barrier = np.asarray(prof.barrier, np.float64)
  reports = {}
  if report_fn is not None:
    start = time.perf_counter()
    reports = _path_reports(report_fn, a, b, bends, report_points,
                           _small(batch_size))
    timings["report"] = time.perf_counter() - start
  return ConnectivityResult(
      heights=heights, pairs=pairs, linear_saddle=lin_saddle,
      curve_saddle=curve_saddle,
      linear_barrier=np.asarray(lin.barrier, np.float64),
      curve_barrier=curve_barrier,
      linear=_components.saddle_dendrogram(heights, lin_saddle),
      combined=_components.saddle_dendrogram(
          heights, np.minimum(lin_saddle, curve_saddle)),
      path_reports=reports, timings=timings)


def _small(batch_size):
  return 16 if batch_size is None else min(batch_size, 16)


def _to_matrix(n, pairs, values):
  """Symmetric ``[n, n]`` of ``values``; a pair given twice keeps the lower."""
  out = np.full((n, n), np.inf)
  values = np.asarray(values, np.float64)
  values = np.where(np.isnan(values), np.inf, values)
  # ``minimum.at``, not assignment: with a repeated (or reversed) pair a
  # plain assignment keeps the last value, dropping a lower saddle found.
  np.minimum.at(out, (pairs[:, 0], pairs[:, 1]), values)
  np.minimum.at(out, (pairs[:, 1], pairs[:, 0]), values)
  return out


def _reports_many(report_fn, a, b, bends, num, batch_size):
  ts = jnp.linspace(0.0, 1.0, num)

  def along(path):
    vals = jax.vmap(lambda t: report_fn(path(t)))(ts)
    return jax.tree.map(lambda v: jnp.max(v, axis=0), vals)

  if bends is None:
    one = lambda ab: along(lambda t: _paths.linear_path(ab[0], ab[1], t))
    return _paths.batched_map(one, (a, b), batch_size)
  one = lambda abk: along(
      lambda t: _paths.bezier_path(abk[0], abk[1], abk[2], t))
  return _paths.batched_map(one, (a, b, bends), batch_size)


_REPORTS_MANY = _paths.LossJit(_reports_many, (4, 5))


def _path_reports(report_fn, a, b, bends, num, batch_size):
  out = {"linear": _block(_REPORTS_MANY(report_fn, a, b, None, num,
                                        batch_size))}
  if bends is not None:
    out["curve"] = _block(_REPORTS_MANY(report_fn, a, b, jnp.asarray(bends),
                                        num, batch_size))
  return out
