"""TFDS image data sets through ``tfds.data_source`` (random access, no TF).

``tfds.data_source`` reads ArrayRecord files with numpy only: TensorFlow is
never imported. ``tensorflow_datasets`` itself is imported lazily, inside
:func:`load_tfds_source`, so ``import enn_sym.data`` stays light.

Nothing is ever downloaded: data sets must be prepared beforehand, in the
``array_record`` format, on a machine with network access::

  tfds build cifar10 --file_format=array_record --data_dir=DIR

and the folder copied to ``DIR`` here (``data_dir=DIR``, or ``$TFDS_DATA_DIR``,
or ``~/tensorflow_datasets``). A missing data set raises
:class:`DatasetNotFoundError` with that instruction.

What tfds 4.9 raises, found by experiment (``download=False`` with an explicit
``data_dir``): for a data set that is not prepared, and for one prepared only
as TFRecord, ``builder.as_data_source`` raises ``NotImplementedError`` ("Random
access data source for file format tfrecord is not supported"), because a
builder without files defaults to the TFRecord format. That is the exception
caught here, and the files on disk tell the two cases apart in the message.
(Forcing ``builder_kwargs={'file_format': 'array_record'}`` instead gives a
``KeyError`` from the empty ``SplitDict`` when nothing is prepared and a
``ValueError`` at builder construction when TFRecord files exist, and it
would refuse a data set prepared in several formats, so it is not used.)
"""

from __future__ import annotations

import dataclasses
import glob
import os
from typing import Any

import numpy as np

from enn_sym._validation import InputError
from enn_sym.data._sources import stack_images

TFDS_DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100",
                 "imagenet2012")


class DatasetNotFoundError(FileNotFoundError):
  """A TFDS data set is not prepared (in a random-access format) locally.

  Attributes:
    dataset: the requested name.
    data_dir: the directory that was searched.
  """

  def __init__(self, message: str, *, dataset: str | None = None,
               data_dir: str | None = None):
    super().__init__(message)
    self.dataset = dataset
    self.data_dir = data_dir

  def __str__(self) -> str:
    return self.args[0]


def default_data_dir() -> str:
  """``$TFDS_DATA_DIR`` if set, else ``~/tensorflow_datasets`` (read now).

  tfds freezes its own default when it is imported; this reads the
  environment at call time and the result is passed to tfds explicitly.
  """
  return os.path.expanduser(os.environ.get(
      "TFDS_DATA_DIR", os.path.join("~", "tensorflow_datasets")))


def _base_name(name: str) -> str:
  return name.split("/")[0].split(":")[0]


def _not_found_message(name: str, split: str, data_dir: str,
                       explicit_dir: bool) -> str:
  base = _base_name(name)
  where = data_dir if explicit_dir else (
      f"{data_dir} (the default: $TFDS_DATA_DIR, else ~/tensorflow_datasets)")
  found = sorted(glob.glob(os.path.join(
      glob.escape(data_dir), glob.escape(base), "**", "dataset_info.json"),
                           recursive=True))
  if found:
    head = (f"TFDS data set {name!r} (split {split!r}) is in {where} but not "
            f"in a random-access format (array_record or parquet), or not in "
            f"the version this tfds reads; found "
            f"{', '.join(os.path.dirname(f) for f in found)}.")
  else:
    head = (f"TFDS data set {name!r} (split {split!r}) is not prepared in "
            f"{where}; enn_sym never downloads.")
  build = (f"tfds build {base} --file_format=array_record "
           f"--data_dir={data_dir}")
  if base == "imagenet2012":
    manual = os.path.join(data_dir, "downloads", "manual")
    how = (f"ImageNet cannot be downloaded automatically: on a machine with "
           f"the files, put ILSVRC2012_img_train.tar and "
           f"ILSVRC2012_img_val.tar (from https://image-net.org) into {manual} "
           f"and run\n  {build} "
           f"--manual_dir={manual}\nthen copy {os.path.join(data_dir, base)} "
           f"here.")
  else:
    how = (f"On a machine with network access run\n  {build}\nthen copy "
           f"{os.path.join(data_dir, base)} here (or pass data_dir=).")
  return f"{head}\n{how}"


@dataclasses.dataclass(frozen=True, eq=False)
class TfdsSource:
  """A TFDS split as a random-access source of ``{'image', 'label', 'index'}``.

  ``image`` is the decoded ``uint8 [H, W, C]`` array, ``label`` an int and
  ``index`` the example's position in the split (its global id).

  Attributes:
    name: the TFDS name, e.g. ``'cifar10'``.
    split: the TFDS split string, e.g. ``'train'`` or ``'train[:90%]'``.
    data_dir: the directory it was read from.
    source: the ``tfds.data_source`` object.
  """

  name: str
  split: str
  data_dir: str
  source: Any

  def __len__(self) -> int:
    return len(self.source)

  def __getitem__(self, i: int) -> dict[str, Any]:
    i = int(i)
    if not 0 <= i < len(self):
      raise IndexError(f"position {i} out of range for {self!r}.")
    ex = self.source[i]
    return {"image": np.asarray(ex["image"]), "label": int(ex["label"]),
            "index": i}

  def get_batch(self, positions: np.ndarray) -> dict[str, Any]:
    """Reads the examples at ``positions`` one by one.

    The batched ``__getitems__`` of tfds data sources is not used:
    ``tfds.testing.mock_data`` breaks it in tfds 4.9.10 (its mock loses the
    bound ``self``).
    """
    items = [self[int(p)] for p in positions]
    return {"image": stack_images([ex["image"] for ex in items]),
            "label": np.asarray([ex["label"] for ex in items], np.int32),
            "index": np.asarray([ex["index"] for ex in items], np.int32)}

  @property
  def num_classes(self) -> int | None:
    """From the data set's ``label`` feature, when it has one."""
    try:
      return int(self.source.dataset_info.features["label"].num_classes)
    except (AttributeError, KeyError, TypeError):
      return None

  @property
  def fingerprint(self) -> str:
    """Stands for the content (``enn_sym.data.Splits`` does not read the
    split to hash it): the TFDS name, split and size."""
    return f"tfds:{self.name}:{self.split}:{len(self)}"

  def __repr__(self) -> str:
    return (f"TfdsSource(name={self.name!r}, split={self.split!r}, "
            f"num_examples={len(self)}, data_dir={self.data_dir!r})")


def load_tfds_source(name: str, split: str, *,
                     data_dir: str | os.PathLike | None = None) -> TfdsSource:
  """Opens a prepared TFDS split for random access (no download, no TF).

  Args:
    name: one of ``TFDS_DATASETS`` (``mnist``, ``fashion_mnist``,
      ``cifar10``, ``cifar100``, ``imagenet2012``), optionally with a config or
      version as tfds spells it (``'cifar10:3.0.2'``).
    split: a TFDS split string (``'train'``, ``'test'``, ``'train[:90%]'``).
    data_dir: where the prepared data lives; defaults to
      :func:`default_data_dir`.

  Returns:
    A :class:`TfdsSource`. For multi-host runs pass it through
    :func:`shard_for_process`.

  Raises:
    DatasetNotFoundError: the data set is not prepared in ``data_dir`` as
      array_record (the message says how to prepare it).
    InputError: unknown name.
  """
  if _base_name(name) not in TFDS_DATASETS:
    raise InputError(
        f"Unknown TFDS data set {name!r}; supported: "
        f"{', '.join(TFDS_DATASETS)}. (Embedded data sets: use "
        f"load_embedded('mnist5k' | 'digits').)")
  explicit_dir = data_dir is not None
  data_dir = (os.path.expanduser(os.fspath(data_dir)) if explicit_dir
              else default_data_dir())
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  try:
    source = tfds.data_source(name, split=split, data_dir=data_dir,
                              download=False)
  except NotImplementedError:
    raise DatasetNotFoundError(
        _not_found_message(name, split, data_dir, explicit_dir),
        dataset=name, data_dir=data_dir) from None
  return TfdsSource(name=name, split=split, data_dir=data_dir, source=source)
