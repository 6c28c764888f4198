"""Data for enn_sym: embedded digits, TFDS data sources and a numpy pipeline.

* Embedded (no download): :func:`load_mnist5k`, :func:`load_digits8x8`,
  :func:`split_dataset`, :func:`load_embedded` -> :class:`ArrayDataset`.
* TFDS via ``tfds.data_source`` (ArrayRecord, random access, no TensorFlow):
  :func:`load_tfds_source` -> :class:`TfdsSource`; :class:`DatasetNotFoundError`
  when a data set is not prepared. ``tensorflow_datasets`` is imported only
  when :func:`load_tfds_source` is called.
* Multi-host: :func:`shard_for_process`, :func:`process_shard_bounds`.
* Synthetic tasks with known orbits (for :mod:`enn_sym.bounds`):
  :func:`swiss_roll_task` (+ :class:`PlaneSwapGroup`), :func:`circle_task`,
  :func:`six_nine_task` -> :class:`SymmetryTask`.
* Bring your own data: :class:`Splits` (arrays or sources for train,
  validation and test) for ``enn_sym.train.Trainer(..., data=...)``.
* Pipeline: :func:`train_batches` (endless, seeded, resumable),
  :func:`eval_batches` (padded, masked), :func:`make_preprocess`.
"""

from enn_sym.data._embedded import ArrayDataset
from enn_sym.data._embedded import DEFAULT_FRACTIONS
from enn_sym.data._embedded import EMBEDDED_DATASETS
from enn_sym.data._embedded import load_digits8x8
from enn_sym.data._embedded import load_embedded
from enn_sym.data._embedded import load_mnist5k
from enn_sym.data._embedded import mnist5k_path
from enn_sym.data._embedded import split_dataset
from enn_sym.data._embedded import stratified_subset
from enn_sym.data._pipeline import BatchIterator
from enn_sym.data._pipeline import epoch_permutation
from enn_sym.data._pipeline import eval_batches
from enn_sym.data._pipeline import num_eval_batches
from enn_sym.data._pipeline import train_batches
from enn_sym.data._pointsets import PointSetDataset
from enn_sym.data._pointsets import split_pointsets
from enn_sym.data._pointsets import tetris_dataset
from enn_sym.data._pointsets import tetris_shapes
from enn_sym.data._preprocess import CIFAR100_MEAN
from enn_sym.data._preprocess import CIFAR100_STD
from enn_sym.data._preprocess import CIFAR10_MEAN
from enn_sym.data._preprocess import CIFAR10_STD
from enn_sym.data._preprocess import IMAGENET_MEAN
from enn_sym.data._preprocess import IMAGENET_STD
from enn_sym.data._preprocess import make_preprocess
from enn_sym.data._preprocess import Preprocess
from enn_sym.data._preprocess import PREPROCESS_DATASETS
from enn_sym.data._rotated import ROTATION_MODES
from enn_sym.data._rotated import RotatedSource
from enn_sym.data._rotated import rotate_dataset
from enn_sym.data._rotated import rotate_images
from enn_sym.data._rotated import rotation_angles
from enn_sym.data._sharding import process_shard_bounds
from enn_sym.data._sharding import shard_for_process
from enn_sym.data._sharding import SourceView
from enn_sym.data._sources import read_batch
from enn_sym.data._sources import Source
from enn_sym.data._splits import as_splits
from enn_sym.data._splits import Splits
from enn_sym.data._synthetic import circle_orbit
from enn_sym.data._synthetic import circle_task
from enn_sym.data._synthetic import PlaneSwapGroup
from enn_sym.data._synthetic import sector_labelling
from enn_sym.data._synthetic import six_nine_task
from enn_sym.data._synthetic import swiss_roll_task
from enn_sym.data._synthetic import symmetry_fractions
from enn_sym.data._synthetic import SymmetryTask
from enn_sym.data._tfds import DatasetNotFoundError
from enn_sym.data._tfds import default_data_dir
from enn_sym.data._tfds import load_tfds_source
from enn_sym.data._tfds import TFDS_DATASETS
from enn_sym.data._tfds import TfdsSource

__all__ = [
    "ArrayDataset",
    "BatchIterator",
    "CIFAR100_MEAN",
    "CIFAR100_STD",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "DEFAULT_FRACTIONS",
    "DatasetNotFoundError",
    "EMBEDDED_DATASETS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PREPROCESS_DATASETS",
    "PlaneSwapGroup",
    "PointSetDataset",
    "ROTATION_MODES",
    "RotatedSource",
    "Preprocess",
    "Source",
    "SourceView",
    "Splits",
    "SymmetryTask",
    "TFDS_DATASETS",
    "TfdsSource",
    "as_splits",
    "circle_orbit",
    "circle_task",
    "default_data_dir",
    "epoch_permutation",
    "eval_batches",
    "load_digits8x8",
    "load_embedded",
    "load_mnist5k",
    "load_tfds_source",
    "make_preprocess",
    "mnist5k_path",
    "num_eval_batches",
    "process_shard_bounds",
    "read_batch",
    "rotate_dataset",
    "rotate_images",
    "rotation_angles",
    "sector_labelling",
    "shard_for_process",
    "six_nine_task",
    "split_dataset",
    "split_pointsets",
    "stratified_subset",
    "swiss_roll_task",
    "symmetry_fractions",
    "tetris_dataset",
    "tetris_shapes",
    "train_batches",
]
