"""The random-access source protocol that the input pipeline reads.

A *source* is anything with ``len(source)`` and ``source[i]`` returning a
mapping with at least ``'image'`` (an ``[H, W, C]`` array, uint8 or float) and
``'label'`` (an integer), for ``0 <= i < len(source)``; an optional
``'index'`` entry is the example's global id (defaults to ``i``). Sources may
also offer ``get_batch(positions) -> {'image', 'label', 'index'}`` as a fast
path (:class:`ArrayDataset` slices its arrays; :class:`TfdsSource` and
:class:`SourceView` read item by item). ``tfds.data_source`` objects, lists of
dicts, :class:`ArrayDataset`, :class:`TfdsSource` and :class:`SourceView` are
all sources.
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol, Sequence

import numpy as np


class Source(Protocol):
  """Random access to examples ``{'image', 'label'[, 'index']}``."""

  def __len__(self) -> int:
    ...

  def __getitem__(self, i: int) -> Mapping[str, Any]:
    ...


def stack_images(images: Sequence[np.ndarray]) -> np.ndarray | list:
  """One ``[B, H, W, C]`` array if all images share a shape, else the list."""
  images = [np.asarray(im) for im in images]
  if images and all(im.shape == images[0].shape for im in images):
    return np.stack(images)
  return images


def read_batch(source: Any, positions: np.ndarray) -> dict[str, Any]:
  """Reads the examples at ``positions`` of ``source``.

  Returns:
    ``{'image': [B, H, W, C] array (or a list of B arrays when the shapes
    differ, e.g. ImageNet), 'label': int32 [B], 'index': int32 [B]}``, in the
    order of ``positions``, with the source's own dtypes for the images.
  """
  positions = np.asarray(positions, dtype=np.int64)
  if hasattr(source, "get_batch"):
    batch = source.get_batch(positions)
    return {"image": batch["image"],
            "label": np.asarray(batch["label"], np.int32),
            "index": np.asarray(batch["index"], np.int32)}
  items = [source[int(p)] for p in positions]
  return {
      "image": stack_images([ex["image"] for ex in items]),
      "label": np.asarray([ex["label"] for ex in items], np.int32).reshape(-1),
      "index": np.asarray([ex.get("index", int(p))
                           for ex, p in zip(items, positions)],
                          np.int32).reshape(-1),
  }
