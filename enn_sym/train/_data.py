"""The data of one run: splits, preprocessing, per-seed training streams.

Training batches of seed ``s`` at step ``t`` are those of
``enn_sym.data.train_batches(train, seed=s)`` (and the preprocess seeded
with ``s``). Two ways to deliver them, with the same values:

* on the device (``config.data.on_device``, a single process, an in-memory
  split of at most ``ON_DEVICE_MAX_BYTES`` whose preprocess does not
  augment): the preprocessed split is put on the device once and each
  dispatch gets only the positions ``[steps_per_call, S, B]``, gathered
  inside the jitted step;
* otherwise the numpy pipeline, one prefetching stream per seed, stacked
  to ``[steps_per_call, S, B, ...]``.
"""

from __future__ import annotations

import collections

import jax
import numpy as np

from enn_sym import data as data_lib
from enn_sym.data import _pipeline
from enn_sym.data import _pointsets
from enn_sym.data import _rotated
from enn_sym.train import _config

ON_DEVICE_MAX_BYTES = 1 << 30


def _rotate(source, seed: int, mode: str):
  if isinstance(source, data_lib.ArrayDataset):
    return _rotated.rotate_dataset(source, seed=seed, mode=mode)
  return _rotated.RotatedSource(source, seed=seed, mode=mode)


def check_user_data(config, splits: data_lib.Splits) -> None:
  """The config fields that cannot apply to one's own data (ConfigError)."""
  if config.data.name == "tetris":
    raise _config.ConfigError(
        "config.data.name = 'tetris' (point clouds) cannot be combined with "
        "data=: user data are images [N, H, W, C]; leave data.name at its "
        "default.")
  if config.data.normalize:
    raise _config.ConfigError(
        "config.data.normalize has no statistics for user data (data=); "
        "normalise the arrays yourself and set data.normalize = False.")
  if config.early_stopping.patience and "validation" not in splits.sources:
    raise _config.ConfigError(
        "config.early_stopping.patience needs a validation split: pass "
        "Splits(validation=...) or set early_stopping.patience = 0.")


def user_data_config(config, splits: data_lib.Splits):
  """A copy of ``config`` that records the user data's fingerprint.

  ``data.source`` becomes ``'user'`` and ``data.user`` holds
  :meth:`enn_sym.data.Splits.fingerprint`; the workdir binds this copy, so
  resuming on other data (or on a named data set) is refused.
  """
  bound = config.copy_and_resolve_references()
  with bound.unlocked():
    bound.data.source = "user"
    bound.data.user = splits.fingerprint()
  return bound


class RunData:
  """The splits of one run, this process's part of them, preprocessing.

  Args:
    config: the run's config.
    splits: user data (:class:`enn_sym.data.Splits`) in place of the named
      data set of ``config.data``; no preprocessing but the 1/255 scaling of
      integer pixels.
  """

  def __init__(self, config, splits: data_lib.Splits | None = None):
    name = config.data.name
    self.config = config
    self.user = splits is not None
    self.name = "user data" if self.user else name
    self.num_classes = (splits.num_classes if self.user
                        else _config.NUM_CLASSES[name])
    if self.user:
      self.splits = splits.sources
    elif config.data.source == "embedded" and name == "tetris":
      points = _pointsets.tetris_dataset(
          config.data.tetris_per_class, seed=config.data.split_seed,
          rotate=config.data.tetris_rotate)
      splits = _pointsets.split_pointsets(
          points, fractions=tuple(config.data.fractions),
          seed=config.data.split_seed)
      self.splits = {k: v for k, v in splits.items() if len(v)}
    elif config.data.source == "embedded":
      splits = data_lib.load_embedded(name, seed=config.data.split_seed,
                                      fractions=tuple(config.data.fractions))
      self.splits = {k: v for k, v in splits.items() if len(v)}
    else:
      data_dir = config.data.data_dir or None
      self.splits = {
          "train": data_lib.load_tfds_source(name, config.data.train_split,
                                             data_dir=data_dir),
          "test": data_lib.load_tfds_source(name, config.data.test_split,
                                            data_dir=data_dir)}
      if config.data.validation_split:
        self.splits["validation"] = data_lib.load_tfds_source(
            name, config.data.validation_split, data_dir=data_dir)
    if config.data.rotate:
      self.splits = {k: _rotate(v, config.data.split_seed, config.data.rotate)
                     for k, v in self.splits.items()}
    if config.data.train_size:
      self.splits["train"] = _train_subset(self.splits["train"],
                                           config.data.train_size,
                                           config.data.split_seed)
    self.process_count = jax.process_count()
    self.local = {
        k: data_lib.shard_for_process(v, drop_remainder=(k == "train"))
        for k, v in self.splits.items()}
    self.normalize = bool(config.data.normalize) or None
    if name == "tetris" or self.user:
      self.eval_preprocess = None
    else:
      self.eval_preprocess = data_lib.make_preprocess(
          name, train=False, normalize=self.normalize)
    test = self.splits["test"]
    first = (test.get_batch(np.arange(1))["image"] if hasattr(test, "get_batch")
             else [test[0]["image"]])
    if self.eval_preprocess is not None:
      first = self.eval_preprocess(first)
    self.image_shape = np.shape(first)[1:]

  @property
  def train_preprocess(self):
    """The seed-``config.seed`` training preprocess (or ``None``)."""
    return self.train_preprocess_for(self.config.seed)

  def train_preprocess_for(self, seed: int):
    if self.config.data.name == "tetris" or self.user:
      return None
    return data_lib.make_preprocess(self.config.data.name, train=True,
                                    seed=seed, normalize=self.normalize)

  def eval_iter(self, split: str, batch_size: int, prefetch: int):
    if split not in self.splits:
      raise _config.ConfigError(
          f"the data has no {split!r} split (splits: {sorted(self.splits)}).")
    num = data_lib.num_eval_batches(len(self.splits[split]),
                                    batch_size=batch_size,
                                    process_count=self.process_count)
    return data_lib.eval_batches(self.local[split], batch_size=batch_size,
                                 preprocess=self.eval_preprocess,
                                 num_batches=num, prefetch=prefetch)

  def on_device_ok(self) -> bool:
    source = self.local["train"]
    pre = self.train_preprocess
    return (self.config.data.on_device and self.process_count == 1
            and hasattr(source, "get_batch") and hasattr(source, "labels")
            and (pre is None or pre.kind == "small")
            and _nbytes(source) <= ON_DEVICE_MAX_BYTES)

  def train_stream(self, seeds, batch_size: int, start_step: int, mesh,
                   xs_sharding, x_sharding):
    if self.on_device_ok():
      return DeviceStream(self.local["train"], self.train_preprocess, seeds,
                          batch_size, start_step, mesh, xs_sharding,
                          x_sharding)
    return HostStream(self, seeds, batch_size, start_step, xs_sharding,
                      x_sharding)


def _nbytes(source) -> int:
  arr = getattr(source, "images", None)
  if arr is None:
    arr = getattr(source, "points", None)
  return int(arr.nbytes) if arr is not None else 1 << 62


def _train_subset(source, size: int, seed: int):
  """A class-stratified subset of ``size`` examples of ``source``."""
  if not hasattr(source, "subset") or not hasattr(source, "labels"):
    raise _config.ConfigError(
        "config.data.train_size needs an in-memory train split (embedded "
        "data or arrays); set it to 0 for TFDS data or other sources.")
  n = len(source)
  if size > n:
    raise _config.ConfigError(
        f"config.data.train_size = {size} is larger than the train split "
        f"({n} examples); use at most {n} (0 = all).")
  positions = data_lib.stratified_subset(np.asarray(source.labels), size,
                                         seed=seed)
  return source.subset(positions)


class DeviceStream:
  """Positions of per-seed batches; the split lives on the device."""

  def __init__(self, source, preprocess, seeds, batch_size, start_step,
               mesh, xs_sharding, x_sharding):
    n = len(source)
    if batch_size > n:
      raise _config.ConfigError(
          f"config.batch_size ({batch_size}) is larger than the train split "
          f"({n} examples); use a smaller batch_size.")
    full = _pipeline._make_batch(source, np.arange(n), preprocess, 0)  # pylint: disable=protected-access
    rep = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    self.arrays = jax.device_put(full, rep)
    self.seeds, self.batch_size, self.n = seeds, batch_size, n
    self.steps_per_epoch = n // batch_size
    self.step = start_step
    self.xs_sharding, self.x_sharding = xs_sharding, x_sharding
    self._perms = {}

  def _positions(self, step: int) -> np.ndarray:
    e, b = divmod(step, self.steps_per_epoch)
    rows = []
    for s in self.seeds:
      if (s, e) not in self._perms:
        if len(self._perms) > 4 * len(self.seeds):
          self._perms.clear()
        self._perms[(s, e)] = data_lib.epoch_permutation(self.n, seed=s,
                                                         epoch=e)
      rows.append(self._perms[(s, e)][b * self.batch_size:
                                      (b + 1) * self.batch_size])
    return np.stack(rows).astype(np.int32)

  def take(self, num: int):
    xs = np.stack([self._positions(self.step + i) for i in range(num)])
    self.step += num
    return jax.device_put(xs, self.xs_sharding)

  def peek_one(self):
    return jax.device_put(self._positions(self.step), self.x_sharding)

  def close(self):
    pass


class HostStream:
  """Per-seed numpy pipelines, stacked to ``[N, S, B, ...]``."""

  arrays = None

  def __init__(self, data: RunData, seeds, batch_size, start_step,
               xs_sharding, x_sharding):
    cfg = data.config
    self.iters = [data_lib.train_batches(
        data.local["train"], batch_size=batch_size, seed=s,
        preprocess=data.train_preprocess_for(s), start_step=start_step,
        prefetch=cfg.data.prefetch) for s in seeds]
    self.buffer = collections.deque()
    self.xs_sharding, self.x_sharding = xs_sharding, x_sharding

  def _next(self):
    if self.buffer:
      return self.buffer.popleft()
    batches = [next(it) for it in self.iters]
    return {k: np.stack([b[k] for b in batches]) for k in batches[0]}

  def take(self, num: int):
    steps = [self._next() for _ in range(num)]
    xs = {k: np.stack([b[k] for b in steps]) for k in steps[0]}
    return {k: jax.make_array_from_process_local_data(self.xs_sharding, v)
            for k, v in xs.items()}

  def peek_one(self):
    if not self.buffer:
      batches = [next(it) for it in self.iters]
      self.buffer.append({k: np.stack([b[k] for b in batches])
                          for k in batches[0]})
    return {k: jax.make_array_from_process_local_data(self.x_sharding, v)
            for k, v in self.buffer[0].items()}

  def close(self):
    for it in self.iters:
      it.close()
