r"""Synthetic classification tasks with known orbits (for enn_sym.bounds).

Every task is a :class:`SymmetryTask`: inputs, labels, and the orbit id of
every example under the task's group, so that the dissent and the error
floor of invariant models can be computed exactly
(:func:`enn_sym.bounds.error_lower_bound`). The data sets are orbit-closed:
every orbit member of positive mass is in the set, members of zero mass are
not (they are the "extrinsic" part).

* :func:`swiss_roll_task` -- Wang et al. 2023's Swiss roll: two interleaved
  spirals (label = arm) in the planes ``z = 0`` and ``z = 1``, with the
  2-element group :class:`PlaneSwapGroup` swapping the planes. Along the
  spiral, a fraction ``correct`` of the mass lies on orbits whose two points
  share a label (correct symmetry), ``incorrect`` on orbits whose two points
  have opposite labels (incorrect symmetry: normalised dissent 1/2), and
  ``extrinsic = 1 - correct - incorrect`` in the plane ``z = 0`` only, whose
  swapped images carry no mass (extrinsic symmetry). The error floor of an
  invariant classifier is ``incorrect / 2``.
* :func:`circle_task` -- points on the unit circle with :math:`C_n` (or
  SO(2)) rotation invariance and a configurable labelling.
* :func:`six_nine_task` -- the 6/9 orbit: upright 6s and 9s where a 6 and
  the 9 closest to its 180-degree turn are declared one orbit under
  :math:`C_2` (the idealisation "a turned 9 is a 6"); under :math:`C_4` the
  quarter turns of an upright digit have no mass, so the orbits and the
  ceiling are the same.

References:
  D. Wang, X. Zhu, J. Y. Park, R. Platt, R. Walters, "A general theory of
  correct, incorrect, and extrinsic equivariance", NeurIPS 2023.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from enn_sym._validation import InputError

CORRECT, INCORRECT, EXTRINSIC = 0, 1, 2


@dataclasses.dataclass(frozen=True, eq=False)
class SymmetryTask:
  """A classification data set with the orbit of every example.

  Attributes:
    x: ``float32 [N, ...]`` inputs.
    labels: ``int32 [N]``.
    orbit_ids: ``int64 [N]``; equal ids = one orbit of the task's group.
    kind: ``int8 [N]``: 0 correct, 1 incorrect, 2 extrinsic symmetry of the
      example's orbit (-1 where not defined).
    num_classes: number of labels.
  """

  x: np.ndarray
  labels: np.ndarray
  orbit_ids: np.ndarray
  kind: np.ndarray
  num_classes: int

  def __len__(self) -> int:
    return int(self.labels.shape[0])


def _check_count(value, name: str, minimum: int = 1) -> int:
  if isinstance(value, (bool, np.bool_)) or not isinstance(
      value, (int, np.integer)) or value < minimum:
    raise InputError(f"{name} must be an integer >= {minimum}; got "
                     f"{value!r}.")
  return int(value)


def _check_fraction(value, name: str) -> float:
  if isinstance(value, (bool, np.bool_)) or not isinstance(
      value, (int, float, np.integer, np.floating)) or not (
          0.0 <= float(value) <= 1.0):
    raise InputError(
        f"{name} must be a fraction in [0, 1] (of the data mass); got "
        f"{value!r}.")
  return float(value)


def symmetry_fractions(correct, incorrect, extrinsic=None
                       ) -> tuple[float, float, float]:
  """Checked ``(correct, incorrect, extrinsic)`` fractions summing to 1."""
  c = _check_fraction(correct, "correct")
  i = _check_fraction(incorrect, "incorrect")
  if c + i > 1.0 + 1e-9:
    raise InputError(
        f"correct + incorrect must be <= 1 (the rest is extrinsic); got "
        f"correct={c} + incorrect={i} = {c + i}. Lower one of them.")
  if extrinsic is None:
    return c, i, max(0.0, 1.0 - c - i)
  e = _check_fraction(extrinsic, "extrinsic")
  if abs(c + i + e - 1.0) > 1e-6:
    raise InputError(
        f"correct + incorrect + extrinsic must sum to 1; got {c} + {i} + {e}"
        f" = {c + i + e}. Leave extrinsic=None to use 1 - correct - "
        f"incorrect.")
  return c, i, e


@dataclasses.dataclass(frozen=True)
class PlaneSwapGroup:
  r"""The 2-element group swapping the planes ``z = 0`` and ``z = 1``.

  Element codes ``0`` (identity) and ``1``. ``act(1, x)`` maps the last
  coordinate ``z -> 1 - z``: on the two planes this is the translation by
  :math:`\pm 1` of Wang et al.'s Swiss roll (a translation by 1 alone is not
  an involution of :math:`\mathbb{R}^3`; the reflection is the 2-element
  group acting the same way on the data). Exact; inputs ``[..., 3]`` (or any
  ``[..., d]``, acting on the last coordinate). Follows the
  :class:`enn_sym.symmetry.Group` protocol.
  """

  name: str = "Z2_plane_swap"
  exact: bool = True
  order: int = 2
  input_ndim: int = 1

  def elements(self) -> jax.Array:
    return jnp.arange(2, dtype=jnp.int32)

  def sample(self, key: jax.Array, num: int) -> jax.Array:
    return jax.random.randint(key, (num,), 0, 2, dtype=jnp.int32)

  def identity(self):
    return 0

  def compose(self, g, h):
    return (g + h) % 2

  def inverse(self, g):
    return g

  def act(self, g, x):
    x = jnp.asarray(x)
    z = x[..., -1]
    g = jnp.asarray(g, x.dtype)
    return x.at[..., -1].set(z + g * (1.0 - 2.0 * z))

  def orbit(self, x):
    return jnp.stack([self.act(g, x) for g in (0, 1)])


def _orbit_counts(n: int, c: float, i: float, e: float
                  ) -> tuple[int, int, int]:
  """Orbit counts ``(n_c, n_i, n_e)`` with ``2 n_c + 2 n_i + n_e = n``.

  Rounds the pair counts ``c n / 2`` and ``i n / 2`` half up and, when that
  overshoots ``n``, lowers the one rounded up the most, so every mass
  fraction is realised within one orbit (``2 / n``) and there are exactly
  ``n`` points.
  """
  exact_c, exact_i = c * n / 2, i * n / 2
  n_c, n_i = int(math.floor(exact_c + 0.5)), int(math.floor(exact_i + 0.5))
  while 2 * (n_c + n_i) > n:
    if n_c - exact_c >= n_i - exact_i and n_c > 0:
      n_c -= 1
    else:
      n_i -= 1
  n_e = n - 2 * (n_c + n_i)
  if e <= 1e-9 and n_e > 0:
    if n % 2:
      raise InputError(
          f"num_points must be even when extrinsic = 0 (every correct or "
          f"incorrect orbit has two points); got num_points={n}. Use "
          f"{n - 1} or {n + 1}, or allow some extrinsic mass.")
    n_i += n_e // 2  # Unreachable for c + i = 1 and n even; kept safe.
    n_e = 0
  return n_c, n_i, n_e


def _spiral_xy(s: np.ndarray, arm: np.ndarray) -> np.ndarray:
  """Points of the two-arm spiral, arc parameter ``s`` in [0, 1]."""
  theta = math.pi / 2 + 3 * math.pi * s
  radius = theta / (3.5 * math.pi)
  phase = math.pi * arm
  return np.stack([radius * np.cos(theta + phase),
                   radius * np.sin(theta + phase)], axis=-1)


def swiss_roll_task(num_points: int, correct: float, incorrect: float,
                    extrinsic: float | None = None, *, noise: float = 0.02,
                    seed: int = 0) -> SymmetryTask:
  """The Swiss-roll task of Wang et al. 2023 with given symmetry fractions.

  The arc parameter ``s`` of the spiral is cut into three consecutive pieces
  (correct, incorrect, extrinsic), their lengths proportional to the number
  of orbits of each kind, so orbits are spread evenly along the arc. Each
  orbit picks an arm (label) at random; correct and incorrect orbits put one
  point at ``z = 0`` (label = arm) and its swap at ``z = 1`` (label = arm,
  resp. 1 - arm); an extrinsic orbit is one point at ``z = 0``. Gaussian
  ``noise`` (std) is added to ``x, y`` before copying, so the two points of
  an orbit are exact swaps.

  Args:
    num_points: ``N``, exactly the number of points returned (mass
      fractions are realised to within one orbit, ``2 / N``); must be even
      when ``extrinsic`` is 0.
    correct: fraction of the data mass on correct-symmetry orbits.
    incorrect: fraction on incorrect-symmetry orbits (``correct +
      incorrect <= 1``).
    extrinsic: ``None`` (= ``1 - correct - incorrect``) or that value.
    noise: std of the ``x, y`` noise.
    seed: the data seed (same seed, same data).

  Returns:
    A :class:`SymmetryTask` with ``x`` of shape ``[N, 3]`` and 2 classes.
  """
  n = _check_count(num_points, "num_points", 2)
  c, i, e = symmetry_fractions(correct, incorrect, extrinsic)
  if isinstance(noise, (bool, np.bool_)) or not isinstance(
      noise, (int, float, np.integer, np.floating)) or not (
          0 <= noise < math.inf):
    raise InputError(f"noise must be a finite number >= 0 (a std); got "
                     f"{noise!r}.")
  n_c, n_i, n_e = _orbit_counts(n, c, i, e)
  counts = (n_c, n_i, n_e)
  rng = np.random.default_rng(seed)
  total = max(1, sum(counts))
  edges = np.cumsum((0,) + counts) / total
  xs, ys, orbits, kinds = [], [], [], []
  next_orbit = 0
  for kind, count in enumerate(counts):
    if count == 0:
      continue
    s = edges[kind] + (edges[kind + 1] - edges[kind]) * rng.random(count)
    arm = rng.integers(0, 2, count)
    xy = _spiral_xy(s, arm) + noise * rng.standard_normal((count, 2))
    ids = next_orbit + np.arange(count)
    next_orbit += count
    xs.append(np.concatenate([xy, np.zeros((count, 1))], 1))
    ys.append(arm)
    orbits.append(ids)
    kinds.append(np.full(count, kind))
    if kind != EXTRINSIC:
      xs.append(np.concatenate([xy, np.ones((count, 1))], 1))
      ys.append(arm if kind == CORRECT else 1 - arm)
      orbits.append(ids)
      kinds.append(np.full(count, kind))
  perm = rng.permutation(sum(len(y) for y in ys))
  cat = lambda parts: np.concatenate(parts)[perm]
  return SymmetryTask(cat(xs).astype(np.float32),
                      cat(ys).astype(np.int32), cat(orbits).astype(np.int64),
                      cat(kinds).astype(np.int8), 2)


def sector_labelling(sector_labels: Sequence[int]
                     ) -> Callable[[np.ndarray], np.ndarray]:
  r"""``theta -> label``: equal sectors ``[2 pi j / S, 2 pi (j+1) / S)``.

  Sector ``j`` gets ``sector_labels[j]``. E.g. ``(0, 1, 0, 1)``: quarter
  circles alternating. Angles are taken modulo :math:`2\pi`.
  """
  lab = np.asarray(sector_labels)
  if lab.ndim != 1 or lab.size == 0 or not np.issubdtype(lab.dtype,
                                                         np.integer) or (
                                                             lab.min() < 0):
    raise InputError(
        f"sector_labels must be a non-empty sequence of non-negative integer "
        f"labels, one per sector; got {sector_labels!r}.")
  num = lab.size

  def labelling(theta):
    t = np.mod(np.asarray(theta, np.float64), 2 * math.pi)
    j = np.minimum((t / (2 * math.pi) * num).astype(np.int64), num - 1)
    return lab[j]

  return labelling


def circle_orbit(group_order: int | None, num_haar: int = 720
                 ) -> Callable[[float], tuple[np.ndarray, np.ndarray]]:
  r"""The orbit quadrature of an angle under :math:`C_n` or SO(2).

  For :func:`enn_sym.bounds.numeric_dissent` with densities in
  :math:`\theta` (w.r.t. :math:`d\theta`): :math:`C_n` maps :math:`\theta`
  to its ``n`` rotations (weight 1 each; fundamental domain :math:`[0,
  2\pi/n)`); SO(2) (``group_order=None``) has one orbit, the whole circle,
  integrated by the midpoint rule with ``num_haar`` nodes (weight
  :math:`2\pi/\text{num\_haar}`; the fundamental domain is one point, weight
  1).
  """
  if group_order is None:
    _check_count(num_haar, "num_haar")
    h = 2 * math.pi / num_haar
    pts = h * (np.arange(num_haar) + 0.5)
    return lambda theta: (np.mod(theta + pts, 2 * math.pi),
                          np.full(num_haar, h))
  n = _check_count(group_order, "group_order")
  shifts = 2 * math.pi * np.arange(n) / n
  return lambda theta: (np.mod(theta + shifts, 2 * math.pi), np.ones(n))


def circle_task(num_orbits: int, labelling, *, group_order: int | None,
                num_classes: int, density=None, seed: int = 0
                ) -> tuple[SymmetryTask, np.ndarray]:
  r"""Labelled points on the unit circle with :math:`C_n` / SO(2) orbits.

  :math:`C_n` (``group_order = n``): ``num_orbits`` angles are drawn
  uniformly in the fundamental domain :math:`[0, 2\pi/n)` and each is
  emitted with its ``n`` rotations, so ``N = n * num_orbits`` and the set is
  orbit-closed. SO(2) (``group_order=None``): ``num_orbits`` uniform angles,
  all in the single orbit (the circle). With a ``density`` (callable on
  angles, w.r.t. :math:`d\theta`) the angles are still uniform and the
  returned masses are importance weights; they are in ``weights``.

  Args:
    num_orbits: number of orbits (``C_n``) or of points (SO(2)).
    labelling: ``theta -> int labels`` (e.g. :func:`sector_labelling`), or
      a sequence of sector labels.
    group_order: ``n`` or ``None`` for SO(2).
    num_classes: number of labels.
    density: optional density of the angle.
    seed: data seed.

  Returns:
    ``(task, weights)``: ``task.x`` is ``float32 [N, 2]`` (``cos, sin``);
    ``weights`` ``float64 [N]`` sums to 1.
  """
  num = _check_count(num_orbits, "num_orbits")
  _check_count(num_classes, "num_classes", 2)
  if not callable(labelling):
    labelling = sector_labelling(labelling)
  rng = np.random.default_rng(seed)
  if group_order is None:
    theta = 2 * math.pi * rng.random(num)
    ids = np.zeros(num, np.int64)
  else:
    n = _check_count(group_order, "group_order")
    base = 2 * math.pi / n * rng.random(num)
    theta = (base[:, None] + 2 * math.pi * np.arange(n)[None] / n).reshape(-1)
    ids = np.repeat(np.arange(num), n)
  labels = np.asarray(labelling(theta))
  if labels.shape != theta.shape or not np.issubdtype(labels.dtype,
                                                      np.integer):
    raise InputError(
        "labelling must map an array of angles to integer labels of the same "
        f"shape; got {labels.shape} {labels.dtype}.")
  if labels.min() < 0 or labels.max() >= num_classes:
    raise InputError(
        f"labelling returned labels in [{labels.min()}, {labels.max()}], "
        f"outside [0, num_classes={num_classes}); raise num_classes or fix "
        f"the labelling.")
  if density is None:
    w = np.full(theta.shape, 1.0 / theta.size)
  else:
    d = np.asarray(density(theta), np.float64)
    if d.shape != theta.shape or not np.all(np.isfinite(d)) or d.min() < 0:
      raise InputError(
          "density must map angles to finite non-negative values of the same"
          " shape.")
    if d.sum() <= 0:
      raise InputError("density is zero at every sampled angle.")
    w = d / d.sum()
  x = np.stack([np.cos(theta), np.sin(theta)], 1).astype(np.float32)
  kind = np.full(theta.shape, -1, np.int8)
  return SymmetryTask(x, labels.astype(np.int32), ids, kind,
                      int(num_classes)), w


def six_nine_task(images, labels, *, group: str = "c2",
                  six: int = 6, nine: int = 9) -> SymmetryTask:
  r"""The 6/9 orbit task on upright digits (labels: 0 = six, 1 = nine).

  Keeps the 6s and 9s of ``images [N, H, W, C]`` and pairs each 6 with a
  distinct 9 by a minimum-cost assignment of the squared distance
  :math:`\|x_6 - \mathrm{rot}_{180}(x_9)\|^2` (scipy's
  ``linear_sum_assignment``). A pair is declared one :math:`C_2` orbit: the
  idealisation that a turned 9 *is* a 6, under which an exactly invariant
  classifier cannot separate them. Unpaired digits (``|n_6 - n_9|`` of them)
  are singleton orbits. ``group="c4"`` gives the same orbits: the quarter
  turns of upright digits carry no mass (extrinsic). Error floor of an
  invariant classifier: ``min(n6, n9) / (n6 + n9)``.

  ``kind`` is 1 (incorrect) on paired and 2 (extrinsic) on unpaired digits.
  """
  from scipy import optimize  # pylint: disable=g-import-not-at-top
  if group not in ("c2", "c4"):
    raise InputError(f"group must be 'c2' or 'c4'; got {group!r}.")
  images = np.asarray(images, np.float32)
  labels = np.asarray(labels)
  if images.ndim != 4 or labels.shape != (images.shape[0],):
    raise InputError(
        f"images must be [N, H, W, C] with labels [N]; got {images.shape} "
        f"and {labels.shape}.")
  i6 = np.flatnonzero(labels == six)
  i9 = np.flatnonzero(labels == nine)
  if i6.size == 0 or i9.size == 0:
    raise InputError(
        f"six_nine_task needs at least one {six} and one {nine} in labels.")
  a = images[i6].reshape(i6.size, -1).astype(np.float64)
  b = images[i9][:, ::-1, ::-1].reshape(i9.size, -1).astype(np.float64)
  cost = (a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2 * a @ b.T
  rows, cols = optimize.linear_sum_assignment(cost)
  ids6 = np.arange(i6.size)
  ids9 = i6.size + np.arange(i9.size)
  ids9[cols] = rows
  kind6 = np.full(i6.size, EXTRINSIC, np.int8)
  kind9 = np.full(i9.size, EXTRINSIC, np.int8)
  kind6[rows] = INCORRECT
  kind9[cols] = INCORRECT
  x = np.concatenate([images[i6], images[i9]])
  y = np.concatenate([np.zeros(i6.size), np.ones(i9.size)]).astype(np.int32)
  return SymmetryTask(x, y, np.concatenate([ids6, ids9]).astype(np.int64),
                      np.concatenate([kind6, kind9]), 2)
