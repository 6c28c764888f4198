"""A numpy input pipeline shared by TFDS and embedded sources.

Batches are dicts of numpy arrays::

  {'image': float32 [B, H, W, C], 'label': int32 [B], 'index': int32 [B]}

(eval batches add ``'mask': float32 [B]``). ``index`` is the example's global
id in its source (the data index used for bootstrapping).

Training order: the step-``t`` batch is a pure function of ``(seed, t)``.
Epoch ``e`` visits the source in the order of a permutation drawn from
``numpy.random.default_rng([seed, 0, e])``; each epoch is cut into
``len(source) // batch_size`` batches and the last ``len(source) %
batch_size`` examples of the permutation are dropped for that epoch (they are
different examples every epoch, so nothing is dropped for good). Step ``t``
is batch ``t % steps_per_epoch`` of epoch ``t // steps_per_epoch``, and the
preprocess is called with ``step=t``, so augmentation is reproducible too.
``train_batches(..., start_step=k)`` therefore yields exactly batches
``k, k + 1, ...`` of a run started at 0 (checkpoint resume).

Batches are produced in a background daemon thread that keeps up to
``prefetch`` (default 2) batches ready; an exception in it is re-raised in the
consumer by ``next``; ``close()`` (or leaving a ``with`` block) stops it.
"""

from __future__ import annotations

import math
import queue
import threading
import weakref
from typing import Any, Callable, Iterator

import numpy as np

from enn_sym._validation import InputError
from enn_sym.data._preprocess import to_unit_float
from enn_sym.data._sources import read_batch

Batch = dict[str, np.ndarray]
PreprocessFn = Callable[..., np.ndarray]

_SHUFFLE_STREAM = 0  # Separates shuffling seeds from augmentation seeds.
_END = object()


class _Failure:

  def __init__(self, error: BaseException):
    self.error = error


def _put(q: queue.Queue, stop: threading.Event, item: Any) -> bool:
  while not stop.is_set():
    try:
      q.put(item, timeout=0.05)
      return True
    except queue.Full:
      continue
  return False


def _produce(make_iter: Callable[[], Iterator[Batch]], q: queue.Queue,
             stop: threading.Event) -> None:
  # A plain function (not a method) so the thread holds no reference to the
  # BatchIterator, which can then be garbage collected and stop the thread.
  try:
    for item in make_iter():
      if not _put(q, stop, item):
        return
    _put(q, stop, _END)
  except BaseException as e:  # pylint: disable=broad-except
    _put(q, stop, _Failure(e))


class BatchIterator:
  """An iterator over batches made in a background thread.

  Use as ``with train_batches(...) as it: batch = next(it)``, or call
  :meth:`close`. ``prefetch=0`` makes the batches in the caller's thread.
  """

  def __init__(self, make_iter: Callable[[], Iterator[Batch]], *,
               prefetch: int = 2, name: str = "enn_sym-data"):
    if isinstance(prefetch, bool) or not isinstance(prefetch, int) or (
        prefetch < 0):
      raise InputError(f"prefetch must be an int >= 0; got {prefetch!r}.")
    self._done = False
    self._sync = None
    self._thread = None
    if prefetch == 0:
      self._sync = make_iter()
      return
    self._queue: queue.Queue = queue.Queue(maxsize=prefetch)
    self._stop = threading.Event()
    self._thread = threading.Thread(
        target=_produce, args=(make_iter, self._queue, self._stop),
        name=name, daemon=True)
    self._finalizer = weakref.finalize(self, self._stop.set)
    self._thread.start()

  def __iter__(self) -> "BatchIterator":
    return self

  def __next__(self) -> Batch:
    if self._done:
      raise StopIteration
    if self._sync is not None:
      try:
        return next(self._sync)
      except BaseException:
        self.close()
        raise
    item = self._queue.get()
    if item is _END:
      self.close()
      raise StopIteration
    if isinstance(item, _Failure):
      self.close()
      raise item.error
    return item

  def close(self, timeout: float = 10.0) -> None:
    """Stops the producer thread and waits for it (idempotent)."""
    self._done = True
    if self._sync is not None:
      self._sync.close()
      return
    if self._thread is None:
      return
    self._stop.set()
    while True:  # Unblock a producer waiting on a full queue.
      try:
        self._queue.get_nowait()
      except queue.Empty:
        break
    self._thread.join(timeout)

  @property
  def thread(self) -> threading.Thread | None:
    """The producer thread (``None`` with ``prefetch=0``)."""
    return self._thread

  def __enter__(self) -> "BatchIterator":
    return self

  def __exit__(self, *exc) -> None:
    self.close()


def _check_batch_size(batch_size: Any) -> int:
  if isinstance(batch_size, (bool, np.bool_)) or not isinstance(
      batch_size, (int, np.integer)) or batch_size < 1:
    raise InputError(f"batch_size must be an int >= 1; got {batch_size!r}.")
  return int(batch_size)


def _check_nonneg_int(value: Any, name: str) -> int:
  if isinstance(value, (bool, np.bool_)) or not isinstance(
      value, (int, np.integer)) or value < 0:
    raise InputError(f"{name} must be a non-negative int; got {value!r}.")
  return int(value)


def epoch_permutation(num_examples: int, *, seed: int,
                      epoch: int) -> np.ndarray:
  """The visiting order of epoch ``epoch`` (a permutation of positions)."""
  rng = np.random.default_rng([seed, _SHUFFLE_STREAM, epoch])
  return rng.permutation(num_examples)


def _images(raw: Any, preprocess: PreprocessFn | None, step: int) -> np.ndarray:
  if preprocess is not None:
    return np.asarray(preprocess(raw, step=step), dtype=np.float32)
  if isinstance(raw, list):
    raise InputError(
        "the images of this source differ in shape; pass preprocess="
        "make_preprocess(...) that resizes them (e.g. 'imagenet2012').")
  return to_unit_float(raw)


def _make_batch(source: Any, positions: np.ndarray,
                preprocess: PreprocessFn | None, step: int) -> Batch:
  raw = read_batch(source, positions)
  images = _images(raw["image"], preprocess, step)
  if images.ndim != 4 or images.shape[0] != len(positions):
    raise InputError(
        f"preprocess must return [B, H, W, C] with B = {len(positions)}; got "
        f"shape {images.shape}.")
  return {"image": images, "label": raw["label"], "index": raw["index"]}


def train_batches(source: Any, *, batch_size: int, seed: int,
                  preprocess: PreprocessFn | None = None, start_step: int = 0,
                  prefetch: int = 2) -> BatchIterator:
  """An endless, seeded, resumable stream of training batches.

  See the module docstring for the order (per-epoch shuffling from
  ``(seed, epoch)``, remainder dropped within each epoch) and the guarantee
  that batch ``t`` is a pure function of ``(seed, t)``.

  Args:
    source: a random-access source (see ``enn_sym.data._sources``).
    batch_size: examples per batch, ``1 <= batch_size <= len(source)``.
    seed: non-negative int seeding the shuffling (augmentation has its own
      seed in the preprocess).
    preprocess: ``preprocess(images, step=t) -> float32 [B, H, W, C]``, e.g.
      ``make_preprocess(name, train=True, seed=seed)``; ``None`` only scales
      uint8 to ``[0, 1]``.
    start_step: global step of the first batch (for resuming).
    prefetch: batches made ahead in the background thread (0: no thread).

  Returns:
    A :class:`BatchIterator` of ``{'image', 'label', 'index'}`` batches.
  """
  batch_size = _check_batch_size(batch_size)
  seed = _check_nonneg_int(seed, "seed")
  start_step = _check_nonneg_int(start_step, "start_step")
  n = len(source)
  if batch_size > n:
    raise InputError(
        f"batch_size ({batch_size}) is larger than the data set ({n} "
        f"examples): no full training batch can be made. Use a smaller "
        f"batch_size or more data.")
  steps_per_epoch = n // batch_size

  def make_iter() -> Iterator[Batch]:
    step, epoch, perm = start_step, -1, None
    while True:
      e, b = divmod(step, steps_per_epoch)
      if e != epoch:
        epoch, perm = e, epoch_permutation(n, seed=seed, epoch=e)
      positions = perm[b * batch_size:(b + 1) * batch_size]
      yield _make_batch(source, positions, preprocess, step)
      step += 1

  return BatchIterator(make_iter, prefetch=prefetch, name="enn_sym-train")


def num_eval_batches(num_examples: int, *, batch_size: int,
                     process_count: int = 1) -> int:
  """Eval batches per process so that every process runs the same number.

  With ``shard_for_process(drop_remainder=False)`` the largest shard has
  ``ceil(num_examples / process_count)`` examples; pass the result as
  ``eval_batches(..., num_batches=...)`` on every process.
  """
  batch_size = _check_batch_size(batch_size)
  if process_count < 1:
    raise InputError(f"process_count must be >= 1; got {process_count}.")
  return math.ceil(math.ceil(num_examples / process_count) / batch_size)


def eval_batches(source: Any, *, batch_size: int,
                 preprocess: PreprocessFn | None = None,
                 num_batches: int | None = None,
                 prefetch: int = 2) -> BatchIterator:
  """Every example exactly once, in order, in equal-shape padded batches.

  The last batch is padded up to ``batch_size``; padded rows have
  ``mask = 0``, zero images, ``label = 0`` and ``index = -1``; real rows have
  ``mask = 1``. All batches have the same shapes, so a jitted eval step
  compiles once. ``batch_size`` may exceed ``len(source)`` (one padded batch).

  Args:
    source: a random-access source.
    batch_size: rows per batch, >= 1.
    preprocess: as in :func:`train_batches` (use ``train=False``).
    num_batches: total batches to yield, at least ``ceil(len / batch_size)``;
      extra batches are all padding (multi-host: see
      :func:`num_eval_batches`). Default ``ceil(len / batch_size)``.
    prefetch: batches made ahead in the background thread (0: no thread).

  Returns:
    A :class:`BatchIterator` of ``{'image', 'label', 'index', 'mask'}``.
  """
  batch_size = _check_batch_size(batch_size)
  n = len(source)
  needed = math.ceil(n / batch_size)
  if num_batches is None:
    num_batches = needed
  num_batches = _check_nonneg_int(num_batches, "num_batches")
  if num_batches < needed:
    raise InputError(
        f"num_batches ({num_batches}) is too small to visit all {n} examples "
        f"with batch_size {batch_size}; it must be >= {needed}.")
  if n == 0 and num_batches > 0:
    raise InputError(
        "cannot make padded eval batches from an empty source (the image "
        "shape is unknown); give every process at least one example.")

  def make_iter() -> Iterator[Batch]:
    shape = None
    for k in range(num_batches):
      positions = np.arange(k * batch_size, min((k + 1) * batch_size, n))
      real = len(positions)
      if real:
        batch = _make_batch(source, positions, preprocess, k)
        shape = batch["image"].shape[1:]
      else:
        batch = {"image": np.zeros((0,) + shape, np.float32),
                 "label": np.zeros(0, np.int32),
                 "index": np.zeros(0, np.int32)}
      pad = batch_size - real
      if pad:
        batch = {
            "image": np.concatenate(
                [batch["image"], np.zeros((pad,) + shape, np.float32)]),
            "label": np.concatenate([batch["label"], np.zeros(pad, np.int32)]),
            "index": np.concatenate(
                [batch["index"], np.full(pad, -1, np.int32)]),
        }
      batch["mask"] = (np.arange(batch_size) < real).astype(np.float32)
      yield batch

  return BatchIterator(make_iter, prefetch=prefetch, name="enn_sym-eval")
