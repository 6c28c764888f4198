"""Bring your own data: the train / validation / test splits of a run.

:class:`Splits` holds the splits that ``enn_sym.train.Trainer(config,
workdir, data=...)`` and ``train_and_evaluate(..., data=...)`` train and
evaluate on, in place of the named data set of ``config.data``. Each split
is one of:

* a mapping of numpy arrays ``{'image': [N, H, W, C], 'label': int [N]}``
  (optionally ``'index'``: int ``[N]`` example ids, the data index of the
  bootstrap; default ``arange(N)``), stored as an :class:`ArrayDataset`
  (not copied: do not modify the arrays while training);
* an :class:`ArrayDataset`;
* any random-access :class:`~enn_sym.data.Source` (``len`` and ``[i] ->
  {'image', 'label'[, 'index']}``).

Images are integer pixels (scaled by 1/255, as uint8 MNIST) or floats (used
as they are), ``[H, W, C]`` per example and the same shape and kind in every
split. Labels are integers in ``[0, num_classes)``; ``num_classes`` defaults
to the largest label of all splits plus one.

:meth:`Splits.fingerprint` is a SHA-256 of every split's images, labels and
ids (read once, in chunks), with the sizes and shapes; the Trainer records it
in ``workdir/config.json``, so a workdir trained on other data refuses to
resume. A source too large to read at start-up may carry a ``fingerprint``
string attribute that stands for its content (then its labels are not range
checked); :class:`TfdsSource` has one.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, Mapping

import numpy as np

from enn_sym._validation import InputError
from enn_sym.data._embedded import ArrayDataset
from enn_sym.data._sources import read_batch

SPLITS = ("train", "validation", "test")
ARRAY_KEYS = ("image", "label", "index")
_CHUNK = 1024


def _from_arrays(name: str, arrays: Mapping[str, Any]) -> ArrayDataset:
  keys = set(arrays)
  if not {"image", "label"} <= keys:
    raise InputError(f"data split {name!r}: a dict of arrays needs 'image' "
                     f"and 'label'; got keys {sorted(keys)}.")
  if keys - set(ARRAY_KEYS):
    raise InputError(f"data split {name!r}: unexpected key(s) "
                     f"{sorted(keys - set(ARRAY_KEYS))}; a split holds "
                     f"'image', 'label' and optionally 'index'.")
  images = np.asarray(arrays["image"])
  labels = np.asarray(arrays["label"])
  _check_images(name, images)
  n = images.shape[0]
  if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
    raise InputError(
        f"data split {name!r}: 'label' must be integers of shape [N] = "
        f"({n},) matching the images; got {labels.dtype} {labels.shape} "
        f"(cast class ids with .astype(np.int32), one per image).")
  index = np.asarray(arrays.get("index", np.arange(n)))
  if index.shape != (n,) or not np.issubdtype(index.dtype, np.integer):
    raise InputError(f"data split {name!r}: 'index' must be integers of "
                     f"shape ({n},); got {index.dtype} {index.shape}.")
  return ArrayDataset(images, labels, index)


def _check_images(name: str, images: np.ndarray) -> None:
  if images.ndim == 3:
    raise InputError(
        f"data split {name!r}: images must be [N, H, W, C]; got shape "
        f"{images.shape}: add a channel axis with images[..., None].")
  if images.ndim != 4:
    raise InputError(f"data split {name!r}: images must be [N, H, W, C]; "
                     f"got shape {images.shape}.")
  if not (np.issubdtype(images.dtype, np.integer)
          or np.issubdtype(images.dtype, np.floating)):
    raise InputError(f"data split {name!r}: images must be integer pixels "
                     f"or floats; got dtype {images.dtype}.")
  if np.issubdtype(images.dtype, np.floating) and not np.all(
      np.isfinite(images)):
    raise InputError(f"data split {name!r}: images contain NaN or inf; "
                     f"replace them before training.")


def _as_source(name: str, value: Any) -> Any:
  if isinstance(value, Mapping):
    return _from_arrays(name, value)
  if isinstance(value, ArrayDataset):
    _check_images(name, value.images)
    return value
  if not (hasattr(value, "__len__") and hasattr(value, "__getitem__")):
    raise InputError(
        f"data split {name!r} must be a dict of numpy arrays {{'image', "
        f"'label'}}, an ArrayDataset or a Source (len and [i]); got "
        f"{type(value).__name__}.")
  return value


def _kind(dtype: np.dtype) -> str:
  return "integer" if np.issubdtype(dtype, np.integer) else "float"


def _chunks(source: Any):
  n = len(source)
  for start in range(0, n, _CHUNK):
    yield read_batch(source, np.arange(start, min(start + _CHUNK, n)))


@dataclasses.dataclass(frozen=True, eq=False)
class Splits:
  """The splits of a run on one's own data (see the module docstring).

  Attributes:
    train: the training split.
    test: the test split (final metrics).
    validation: optional; early stopping and temperature scaling need it.
    num_classes: the number of classes (default: largest label + 1).

  Raises:
    InputError: a split of the wrong type, shape or dtype, an empty split,
      image shapes or kinds that differ between splits, or labels outside
      ``[0, num_classes)`` (one line naming the split and the fix).
  """

  train: Any = None
  test: Any = None
  validation: Any = None
  num_classes: int | None = None

  def __post_init__(self):
    for name in ("train", "test"):
      if getattr(self, name) is None:
        raise InputError(f"Splits needs a {name!r} split; got None.")
    sources = {}
    for name in SPLITS:
      value = getattr(self, name)
      if value is not None:
        sources[name] = _as_source(name, value)
        object.__setattr__(self, name, sources[name])
    shapes, kinds = {}, {}
    for name, source in sources.items():
      if len(source) == 0:
        raise InputError(f"data split {name!r} is empty; give it at least "
                         f"one example.")
      first = np.asarray(read_batch(source, np.arange(1))["image"])
      _check_images(name, first)
      shapes[name], kinds[name] = first.shape[1:], _kind(first.dtype)
    if len(set(shapes.values())) > 1 or len(set(kinds.values())) > 1:
      shown = ", ".join(f"{k} {kinds[k]} {tuple(shapes[k])}" for k in shapes)
      raise InputError(
          f"the splits' images differ ({shown}); every split needs the same "
          f"[H, W, C] and the same kind (integer pixels are scaled by 1/255, "
          f"floats are not).")
    object.__setattr__(self, "_sources", sources)
    object.__setattr__(self, "image_shape", tuple(shapes["train"]))
    self._check_labels()

  @property
  def sources(self) -> dict[str, Any]:
    """``{split: source}`` of the splits given."""
    return dict(self._sources)

  def _labels(self, source) -> np.ndarray | None:
    if isinstance(source, ArrayDataset):
      return source.labels
    if isinstance(getattr(source, "fingerprint", None), str):
      return None
    return np.concatenate([b["label"] for b in _chunks(source)])

  def _check_labels(self) -> None:
    labels = {k: self._labels(s) for k, s in self._sources.items()}
    known = [l for l in labels.values() if l is not None]
    num = self.num_classes
    if num is None and len(known) < len(labels):
      own = {getattr(s, "num_classes", None) for s in self._sources.values()}
      if len(own) == 1 and None not in own:
        num = own.pop()
    if num is None:
      if len(known) < len(labels):
        raise InputError(
            "a split's labels are not read at start-up (it has a "
            "fingerprint): give Splits(num_classes=...).")
      num = int(max(int(l.max()) for l in known)) + 1
    if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or (
        num < 2):
      raise InputError(f"Splits.num_classes must be an integer >= 2 (a "
                       f"classifier needs two classes); got {num!r}.")
    object.__setattr__(self, "num_classes", int(num))
    for name, l in labels.items():
      if l is not None and (l.min() < 0 or l.max() >= num):
        raise InputError(
            f"data split {name!r}: labels must lie in [0, num_classes) = "
            f"[0, {num}); got values in [{int(l.min())}, {int(l.max())}]. "
            f"Map them to 0..{num - 1} or set Splits(num_classes=...).")

  def fingerprint(self) -> dict[str, Any]:
    """``{'sha256', 'num_classes', 'image_shape', 'sizes'}`` of the data.

    The hash covers every split's name, images (dtype, shape, bytes),
    labels and ids, or a source's own ``fingerprint`` string.
    """
    h = hashlib.sha256()
    for name, source in self._sources.items():
      h.update(f"{name}:{len(source)};".encode())
      own = getattr(source, "fingerprint", None)
      if isinstance(own, str):
        h.update(own.encode())
        continue
      batches = ([source.get_batch(np.arange(len(source)))]
                 if isinstance(source, ArrayDataset) else _chunks(source))
      for batch in batches:
        for key in ARRAY_KEYS:
          a = np.ascontiguousarray(batch[key])
          h.update(f"{key}{a.dtype.str}{a.shape}".encode())
          h.update(a.tobytes())
    return {"sha256": h.hexdigest(), "num_classes": self.num_classes,
            "image_shape": list(self.image_shape),
            "sizes": {k: len(s) for k, s in self._sources.items()}}


def as_splits(data: Any) -> Splits:
  """``data`` as :class:`Splits`: a ``Splits``, or a dict ``{'train',
  'test'[, 'validation', 'num_classes']}`` of splits."""
  if isinstance(data, Splits):
    return data
  if isinstance(data, Mapping):
    allowed = set(SPLITS) | {"num_classes"}
    if set(data) - allowed:
      raise InputError(
          f"data has unknown key(s) {sorted(set(data) - allowed)}; give "
          f"'train', 'test' and optionally 'validation' and 'num_classes' "
          f"(or enn_sym.data.Splits(...)).")
    return Splits(**data)
  raise InputError(
      f"data must be enn_sym.data.Splits(train=..., test=...) or a dict "
      f"{{'train': ..., 'test': ...}}; got {type(data).__name__}.")
