"""Rotated image data sets (seeded) for the symmetry experiments.

* ``mode="right_angle"``: every image rotated by a multiple of 90 degrees
  (``np.rot90``: an exact pixel permutation).
* ``mode="arbitrary"``: every image rotated by an angle drawn uniformly in
  ``[0, 360)`` degrees with bilinear interpolation about the image centre
  (``scipy.ndimage.rotate(order=1, reshape=False)``, zero fill). This is an
  approximation on a pixel grid: corners are cut and values are smoothed.

The rotation of example ``i`` is a pure function of ``(seed, index[i])``, so
a split and its rotated copy stay aligned however they are subset.
"""

from __future__ import annotations

import numpy as np

from enn_sym._validation import InputError
from enn_sym.data._embedded import ArrayDataset

ROTATION_MODES = ("right_angle", "arbitrary")


def rotation_angles(index: np.ndarray, *, seed: int, mode: str) -> np.ndarray:
  """Angles in degrees (counter-clockwise) for examples with ids ``index``."""
  if mode not in ROTATION_MODES:
    raise InputError(f"mode must be one of {ROTATION_MODES}; got {mode!r}.")
  index = np.asarray(index, np.int64)
  out = np.empty(index.shape, np.float64)
  for j, i in enumerate(index):
    rng = np.random.default_rng([seed, 2, int(i)])
    out[j] = (90.0 * rng.integers(0, 4) if mode == "right_angle"
              else rng.uniform(0.0, 360.0))
  return out


def rotate_images(images: np.ndarray, angles_deg: np.ndarray) -> np.ndarray:
  """Rotates ``[N, H, W, C]`` images counter-clockwise by per-image angles.

  Multiples of 90 degrees use ``np.rot90`` (exact); others use bilinear
  interpolation with zero fill.
  """
  images = np.asarray(images)
  if images.ndim != 4:
    raise InputError(f"images must have shape [N, H, W, C]; got "
                     f"{images.shape}.")
  from scipy import ndimage  # pylint: disable=g-import-not-at-top
  out = np.empty_like(images)
  for j, angle in enumerate(np.asarray(angles_deg, np.float64)):
    quarter = angle / 90.0
    if np.isclose(quarter, np.round(quarter), atol=1e-9):
      out[j] = np.rot90(images[j], k=int(np.round(quarter)) % 4, axes=(0, 1))
    else:
      out[j] = ndimage.rotate(images[j], angle, axes=(1, 0), reshape=False,
                              order=1, mode="constant", cval=0.0)
  return out


def rotate_dataset(dataset: ArrayDataset, *, seed: int,
                   mode: str = "right_angle") -> ArrayDataset:
  """A copy of ``dataset`` with every image rotated (see module docstring)."""
  angles = rotation_angles(dataset.index, seed=seed, mode=mode)
  return ArrayDataset(rotate_images(dataset.images, angles), dataset.labels,
                      dataset.index)


class RotatedSource:
  """A random-access source whose images are rotated on the fly.

  Works for any source (an :class:`ArrayDataset`, a TFDS data source, a
  process shard): example ``i`` is rotated by
  ``rotation_angles(index_i, seed=seed, mode=mode)``, where ``index_i`` is the
  example's data index, so the rotation does not depend on batching, order or
  sharding.
  """

  def __init__(self, source, *, seed: int, mode: str = "right_angle"):
    if mode not in ROTATION_MODES:
      raise InputError(f"mode must be one of {ROTATION_MODES}; got {mode!r}.")
    self.source, self.seed, self.mode = source, seed, mode

  def __len__(self) -> int:
    return len(self.source)

  def _rotate(self, images, index):
    angles = rotation_angles(np.atleast_1d(index), seed=self.seed,
                             mode=self.mode)
    return rotate_images(np.asarray(images), angles)

  def __getitem__(self, i: int):
    ex = dict(self.source[i])
    ex["image"] = self._rotate(np.asarray(ex["image"])[None], ex["index"])[0]
    return ex

  def get_batch(self, positions: np.ndarray):
    if hasattr(self.source, "get_batch"):
      batch = dict(self.source.get_batch(positions))
    else:
      items = [self.source[int(p)] for p in positions]
      batch = {k: np.stack([np.asarray(it[k]) for it in items])
               for k in items[0]}
    batch["image"] = self._rotate(batch["image"], batch["index"])
    return batch

  @property
  def num_classes(self):
    return getattr(self.source, "num_classes", None)
