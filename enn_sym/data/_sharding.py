"""Per-process input splitting for multi-host runs, on indices of a source.

Each JAX process reads a disjoint contiguous block of example positions,
exactly like ``tfds.split_for_jax_process`` / ``tfds.even_splits`` would cut
the split, but computed on the positions of a random-access source so it works
for any source (TFDS data sources, in-memory :class:`ArrayDataset`).

Rule (the same as ``tfds.even_splits``): with ``n`` examples and ``p``
processes every process gets ``n // p`` examples; the ``n % p`` left over
either go one each to the first processes (``drop_remainder=False``, the
default, so nothing is lost: sizes differ by at most one) or are dropped
(``drop_remainder=True``: all shards the same size). Eval needs every example,
so keep the default there and pad all processes to the same number of batches
with ``eval_batches(..., num_batches=num_eval_batches(...))``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from enn_sym._validation import InputError
from enn_sym.data._embedded import ArrayDataset
from enn_sym.data._sources import read_batch


def process_shard_bounds(num_examples: int, *, process_index: int,
                         process_count: int,
                         drop_remainder: bool = False) -> tuple[int, int]:
  """``[start, end)`` of the positions that ``process_index`` reads.

  Args:
    num_examples: size of the source.
    process_index: in ``[0, process_count)``.
    process_count: number of processes, >= 1.
    drop_remainder: see the module docstring.

  Returns:
    ``(start, end)`` with ``0 <= start <= end <= num_examples``.
  """
  if num_examples < 0:
    raise InputError(f"num_examples must be >= 0; got {num_examples}.")
  if process_count < 1:
    raise InputError(f"process_count must be >= 1; got {process_count}.")
  if not 0 <= process_index < process_count:
    raise InputError(
        f"process_index must lie in [0, process_count) = [0, "
        f"{process_count}); got {process_index}.")
  per = num_examples // process_count
  start, end = per * process_index, per * (process_index + 1)
  rest = num_examples % process_count
  if rest and not drop_remainder:
    start += min(process_index, rest)
    end += min(process_index + 1, rest)
  return start, end


@dataclasses.dataclass(frozen=True, eq=False)
class SourceView:
  """A contiguous block ``[start, end)`` of a random-access source.

  Items and batches keep the ``index`` of the underlying source (the global
  example id), so bootstrap weights stay attached to the right example.
  """

  source: Any
  start: int
  end: int

  def __len__(self) -> int:
    return self.end - self.start

  def __getitem__(self, i: int) -> Any:
    i = int(i)
    if not 0 <= i < len(self):
      raise IndexError(f"position {i} out of range for a view of {len(self)}.")
    ex = dict(self.source[self.start + i])
    ex.setdefault("index", self.start + i)
    return ex

  def get_batch(self, positions: np.ndarray) -> dict[str, Any]:
    return read_batch(self.source,
                      np.asarray(positions, dtype=np.int64) + self.start)

  @property
  def num_classes(self) -> int | None:
    return getattr(self.source, "num_classes", None)


def shard_for_process(source: Any, *, process_index: int | None = None,
                      process_count: int | None = None,
                      drop_remainder: bool = False) -> Any:
  """The part of ``source`` this process should read.

  Args:
    source: a random-access source (``len`` and ``[i]``).
    process_index: defaults to ``jax.process_index()``.
    process_count: defaults to ``jax.process_count()``.
    drop_remainder: see the module docstring.

  Returns:
    ``source`` itself for a single process; an :class:`ArrayDataset` for an
    :class:`ArrayDataset`; otherwise a :class:`SourceView`.
  """
  if process_index is None or process_count is None:
    import jax  # pylint: disable=g-import-not-at-top
    process_index = jax.process_index() if process_index is None else (
        process_index)
    process_count = jax.process_count() if process_count is None else (
        process_count)
  start, end = process_shard_bounds(
      len(source), process_index=process_index, process_count=process_count,
      drop_remainder=drop_remainder)
  if start == 0 and end == len(source):
    return source
  if isinstance(source, ArrayDataset):
    return source.subset(np.arange(start, end))
  return SourceView(source, start, end)
