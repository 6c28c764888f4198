"""Point-set data: the 3D tetris polycubes of Thomas et al. (2018).

Eight shapes of four unit cubes each, given by their cube centres on the
integer lattice (the table of the Tensor Field Networks shape-classification
demo, in its class order):

====  ==================  ==========================================
label name                cube centres
====  ==================  ==========================================
0     ``chiral_shape_1``  (0,0,0) (0,0,1) (1,0,0) (1,1,0)
1     ``chiral_shape_2``  (0,0,0) (0,0,1) (1,0,0) (1,-1,0)
2     ``square``          (0,0,0) (1,0,0) (0,1,0) (1,1,0)
3     ``line``            (0,0,0) (0,0,1) (0,0,2) (0,0,3)
4     ``corner``          (0,0,0) (0,0,1) (0,1,0) (1,0,0)
5     ``L``               (0,0,0) (0,0,1) (0,0,2) (0,1,0)
6     ``T``               (0,0,0) (0,0,1) (0,0,2) (0,1,1)
7     ``zigzag``          (0,0,0) (1,0,0) (1,1,0) (2,1,0)
====  ==================  ==========================================

``chiral_shape_2`` is the mirror image of ``chiral_shape_1`` (reflection
:math:`y \\mapsto -y`) and no rotation maps one onto the other; every other
shape is achiral (its mirror image is a rotated copy of itself). So the eight
classes are distinct under rotations (SO(3)) but only seven under rotations
and reflections (O(3)): an O(3)-invariant classifier cannot do better than
chance between labels 0 and 1, and with ``rotate='o3'`` the two chiral
classes have the *same* input distribution (the labels are then pure
aleatoric noise between them).

Point clouds are delivered as :class:`PointSetDataset`. The training pipeline
(``enn_sym.data._pipeline``) checks that batches are rank 4 ``[B, H, W, C]``,
so items and batches carry the cloud as ``'image': [P, 3, 1]`` /
``[B, P, 3, 1]`` (a trailing singleton channel); the raw ``[N, P, 3]`` array is
``dataset.points``. ``VNMLPClassifier`` accepts both layouts.

References:
  N. Thomas, T. Smidt, S. Kearnes, L. Yang, L. Li, K. Kohlhoff, P. Riley,
  "Tensor field networks: Rotation- and translation-equivariant neural
  networks for 3D point clouds", arXiv:1802.08219, 2018.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import jax
import numpy as np

from enn_sym._validation import InputError
from enn_sym.data._embedded import DEFAULT_FRACTIONS
from enn_sym.data._embedded import SPLIT_NAMES
from enn_sym.data._embedded import _check_seed
from enn_sym.data._embedded import _read_only
from enn_sym.data._embedded import split_dataset

TETRIS_CLASS_NAMES = ("chiral_shape_1", "chiral_shape_2", "square", "line",
                      "corner", "L", "T", "zigzag")
_TETRIS_CUBES = (
    ((0, 0, 0), (0, 0, 1), (1, 0, 0), (1, 1, 0)),  # chiral_shape_1
    ((0, 0, 0), (0, 0, 1), (1, 0, 0), (1, -1, 0)),  # chiral_shape_2
    ((0, 0, 0), (1, 0, 0), (0, 1, 0), (1, 1, 0)),  # square
    ((0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 0, 3)),  # line
    ((0, 0, 0), (0, 0, 1), (0, 1, 0), (1, 0, 0)),  # corner
    ((0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 0)),  # L
    ((0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 1)),  # T
    ((0, 0, 0), (1, 0, 0), (1, 1, 0), (2, 1, 0)),  # zigzag
)
ROTATIONS = ("none", "so3", "o3")

# Independent random streams of one seed.
_OFFSET_STREAM, _NOISE_STREAM, _ROTATION_STREAM = 0, 1, 2


def tetris_shapes(center: bool = False) -> np.ndarray:
  """The eight shapes' cube centres, float32 ``[8, 4, 3]`` (label order).

  Args:
    center: subtract each shape's centroid (the dataset's canonical pose).
  """
  shapes = np.asarray(_TETRIS_CUBES, np.float32)
  if center:
    shapes = shapes - shapes.mean(axis=1, keepdims=True)
  return shapes


@dataclasses.dataclass(frozen=True, eq=False)
class PointSetDataset:
  """An in-memory point-cloud classification data set (a random-access source).

  Same interface as :class:`enn_sym.data.ArrayDataset` (``len``, ``[i]``,
  ``get_batch``, ``subset``, ``num_classes``), so ``train_batches`` and
  ``eval_batches`` work unchanged.

  Attributes:
    points: ``float32 [N, P, 3]`` clouds of ``P`` points.
    labels: ``int32 [N]``.
    index: ``int32 [N]``, the example ids (kept by ``subset``; the data index
      for bootstrapping).
    rotations: ``float32 [N, 3, 3]``, the pose ``R`` of each cloud
      (``points[n] = canonical[n] @ R[n].T``), or ``None``.
    class_names: names of the classes; when given, ``num_classes`` is their
      number rather than ``max(label) + 1``.
  """

  points: np.ndarray
  labels: np.ndarray
  index: np.ndarray
  rotations: np.ndarray | None = None
  class_names: tuple[str, ...] = ()

  def __post_init__(self):
    points = np.asarray(self.points)
    labels = np.asarray(self.labels)
    index = np.asarray(self.index)
    if points.ndim != 3 or points.shape[-1] != 3:
      raise InputError(
          f"PointSetDataset.points must have shape [N, P, 3]; got shape "
          f"{points.shape}.")
    if not np.issubdtype(points.dtype, np.floating):
      raise InputError(f"PointSetDataset.points must be floats; got "
                       f"{points.dtype}.")
    n = points.shape[0]
    if labels.shape != (n,) or index.shape != (n,):
      raise InputError(
          f"PointSetDataset needs labels and index of shape [N] = ({n},) to "
          f"match points {points.shape}; got labels {labels.shape} and index "
          f"{index.shape}.")
    if not (np.issubdtype(labels.dtype, np.integer)
            and np.issubdtype(index.dtype, np.integer)):
      raise InputError(
          f"PointSetDataset.labels and .index must be integer arrays; got "
          f"{labels.dtype} and {index.dtype}.")
    if self.rotations is not None:
      rotations = np.asarray(self.rotations, np.float32)
      if rotations.shape != (n, 3, 3):
        raise InputError(
            f"PointSetDataset.rotations must have shape [N, 3, 3] = ({n}, 3, "
            f"3); got {rotations.shape}.")
      object.__setattr__(self, "rotations", _read_only(rotations))
    names = tuple(self.class_names)
    if names and labels.size and labels.max() >= len(names):
      raise InputError(
          f"labels reach {labels.max()} but only {len(names)} class_names "
          f"were given.")
    object.__setattr__(self, "points", _read_only(points.astype(np.float32)))
    object.__setattr__(self, "labels", _read_only(labels.astype(np.int32)))
    object.__setattr__(self, "index", _read_only(index.astype(np.int32)))
    object.__setattr__(self, "class_names", names)

  def __len__(self) -> int:
    return int(self.labels.shape[0])

  @property
  def images(self) -> np.ndarray:
    """``points[..., None]``: ``float32 [N, P, 3, 1]``, the pipeline layout."""
    return self.points[..., None]

  def __getitem__(self, i: int) -> dict[str, Any]:
    """One example as ``{'image': [P, 3, 1], 'label', 'index'}``."""
    return {"image": self.points[i][..., None], "label": self.labels[i],
            "index": self.index[i]}

  def get_batch(self, positions: np.ndarray) -> dict[str, np.ndarray]:
    """``{'image': [B, P, 3, 1], 'label', 'index'}`` at ``positions``."""
    positions = np.asarray(positions, dtype=np.int64)
    return {"image": self.points[positions][..., None],
            "label": self.labels[positions], "index": self.index[positions]}

  def subset(self, positions: np.ndarray) -> "PointSetDataset":
    """A new data set with the rows at ``positions`` (ids are kept)."""
    positions = np.asarray(positions, dtype=np.int64)
    rotations = (None if self.rotations is None
                 else self.rotations[positions])
    return PointSetDataset(self.points[positions], self.labels[positions],
                           self.index[positions], rotations, self.class_names)

  @property
  def num_classes(self) -> int:
    """``len(class_names)`` if given, else ``max(label) + 1`` (0 if empty)."""
    if self.class_names:
      return len(self.class_names)
    return int(self.labels.max()) + 1 if len(self) else 0

  def __repr__(self) -> str:
    return (f"PointSetDataset(points={self.points.dtype}"
            f"{list(self.points.shape)}, labels={self.labels.dtype}"
            f"{list(self.labels.shape)})")


def _check_nonneg_float(value: Any, name: str) -> float:
  if isinstance(value, (bool, np.bool_)) or not isinstance(
      value, (int, float, np.integer, np.floating)) or not np.isfinite(
          value) or value < 0:
    raise InputError(f"{name} must be a finite number >= 0; got {value!r}.")
  return float(value)


def _check_pos_int(value: Any, name: str) -> int:
  if isinstance(value, (bool, np.bool_)) or not isinstance(
      value, (int, np.integer)) or value < 1:
    raise InputError(f"{name} must be an int >= 1; got {value!r}.")
  return int(value)


def tetris_dataset(num_per_class: int, *, seed: int, rotate: str = "so3",
                   noise: float = 0.0,
                   points_per_cube: int = 1) -> PointSetDataset:
  """Seeded tetris point clouds, ``num_per_class`` of each of the 8 shapes.

  Example ``n`` (rows sorted by label, ``index = n``) is made in this order:

  1. Points: with ``points_per_cube = 1`` the 4 cube centres; with ``k > 1``,
     ``k`` points uniform in each unit cube (centre + ``U[-1/2, 1/2]^3``),
     ``P = 4 k`` points, grouped cube by cube.
  2. Noise: add i.i.d. ``N(0, noise^2)`` to every coordinate.
  3. Centre: subtract the cloud's mean (so every cloud has mean 0).
  4. Pose: ``points @ R.T`` with ``R`` the identity (``'none'``), Haar on
     SO(3) (``'so3'``) or Haar on O(3) (``'o3'``, half of the clouds are
     mirrored; see the module docstring for what this does to the chiral
     pair), from ``enn_sym.symmetry._rotations``. ``R`` is kept in
     ``dataset.rotations``.

  Steps 1-3 run in float64; the result is cast to float32 once. Offsets, noise
  and rotations use independent streams of ``seed``; the same arguments give
  bit-identical data.

  Args:
    num_per_class: clouds per shape, >= 1.
    seed: non-negative int.
    rotate: ``'none'``, ``'so3'`` or ``'o3'``.
    noise: standard deviation of the coordinate jitter (cube side = 1).
    points_per_cube: points per cube, >= 1.

  Returns:
    A :class:`PointSetDataset` with ``points [8 num_per_class, 4
    points_per_cube, 3]`` and ``class_names = TETRIS_CLASS_NAMES``.
  """
  num_per_class = _check_pos_int(num_per_class, "num_per_class")
  seed = _check_seed(seed)
  noise = _check_nonneg_float(noise, "noise")
  k = _check_pos_int(points_per_cube, "points_per_cube")
  if rotate not in ROTATIONS:
    raise InputError(f"rotate must be one of {ROTATIONS}; got {rotate!r}.")
  # Imported here so that enn_sym.data and enn_sym.symmetry can import each
  # other's packages at module level without a cycle.
  from enn_sym.symmetry import _rotations  # pylint: disable=g-import-not-at-top
  num_classes = len(_TETRIS_CUBES)
  n = num_classes * num_per_class
  labels = np.repeat(np.arange(num_classes, dtype=np.int32), num_per_class)
  cubes = np.asarray(_TETRIS_CUBES, np.float64)[labels]  # [n, 4, 3]
  points = np.repeat(cubes, k, axis=1)  # [n, 4 k, 3], cube by cube.
  if k > 1:
    rng = np.random.default_rng([seed, _OFFSET_STREAM])
    points = points + rng.uniform(-0.5, 0.5, size=points.shape)
  if noise > 0:
    rng = np.random.default_rng([seed, _NOISE_STREAM])
    points = points + noise * rng.standard_normal(points.shape)
  points = points - points.mean(axis=1, keepdims=True)
  key = jax.random.fold_in(jax.random.key(seed), _ROTATION_STREAM)
  if rotate == "none":
    rotations = np.broadcast_to(np.eye(3, dtype=np.float32), (n, 3, 3))
  elif rotate == "so3":
    rotations = np.asarray(_rotations.random_rotations(key, n))
  else:
    rotations = np.asarray(_rotations.random_orthogonal(key, n))
  points = np.einsum("npj,nij->npi", points, rotations.astype(np.float64))
  return PointSetDataset(points.astype(np.float32), labels,
                         np.arange(n, dtype=np.int32), rotations,
                         TETRIS_CLASS_NAMES)


def split_pointsets(dataset: PointSetDataset, *,
                    fractions: Sequence[float] = DEFAULT_FRACTIONS,
                    seed: int) -> dict[str, PointSetDataset]:
  """Seeded, stratified train / validation / test split of a point-set data set.

  The rows of each split are chosen exactly as :func:`split_dataset` chooses
  them for the same labels, fractions and seed (it is called on the labels);
  each split keeps the examples' ``index`` ids, poses and class names.

  Returns:
    ``{'train', 'validation', 'test'}`` -> :class:`PointSetDataset`.
  """
  if not isinstance(dataset, PointSetDataset):
    raise InputError(f"dataset must be a PointSetDataset; got "
                     f"{type(dataset).__name__}.")
  placeholder = np.zeros((len(dataset), 1, 1, 1), np.float32)
  parts = split_dataset(placeholder, dataset.labels, fractions=fractions,
                        seed=seed)
  # ArrayDataset.index holds the row positions in ``placeholder``.
  return {name: dataset.subset(parts[name].index) for name in SPLIT_NAMES}
