"""Tests of enn_sym.data: embedded data, splits, pipeline, preprocessing.

TFDS-specific tests (mock_data, real ArrayRecord files, missing data sets,
lazy imports) are in tests/test_data_tfds.py.
"""

import csv
import gzip

import hypothesis
from hypothesis import strategies as st
import numpy as np
import pytest

from enn_sym import data
from enn_sym._validation import InputError
from enn_sym.data import _embedded


def _dataset(n, shape=(2, 2, 1), seed=0, dtype=np.float32):
  rng = np.random.default_rng(seed)
  if dtype == np.uint8:
    images = rng.integers(0, 256, size=(n,) + shape, dtype=np.uint8)
  else:
    images = rng.random((n,) + shape, dtype=np.float32)
  return data.ArrayDataset(images, np.arange(n) % 10, np.arange(n) + 1000)


def _take(it, k):
  with it:
    return [next(it) for _ in range(k)]


def _assert_batches_equal(a, b):
  assert len(a) == len(b)
  for x, y in zip(a, b):
    assert x.keys() == y.keys()
    for key in x:
      np.testing.assert_array_equal(x[key], y[key], err_msg=key)


# ----------------------------------------------------------------- embedded


def test_mnist5k_shape_dtype_range_balance():
  images, labels = data.load_mnist5k()
  assert images.shape == (5000, 28, 28, 1) and images.dtype == np.float32
  assert labels.shape == (5000,) and labels.dtype == np.int32
  assert images.min() == 0.0 and images.max() == 1.0
  counts = np.bincount(labels, minlength=10)
  assert len(counts) == 10 and counts.min() >= 0.9 * counts.max()
  # Every digit has ink: the label column was not read as a pixel.
  assert np.all(images.reshape(5000, -1).max(axis=1) > 0.5)


def test_mnist5k_matches_independent_csv_read():
  images, labels = data.load_mnist5k()
  rows = {0, 1234, 2500, 3777, 4999}
  with gzip.open(data.mnist5k_path(), "rt") as f:
    for r, line in enumerate(csv.reader(f)):
      if r in rows:
        values = [int(v) for v in line]
        assert len(values) == 785
        assert labels[r] == values[-1]
        np.testing.assert_allclose(
            images[r].ravel(), np.asarray(values[:-1]) / 255.0, atol=1e-7)
  assert r == 4999


def test_mnist5k_cached_and_read_only():
  a, la = data.load_mnist5k()
  b, lb = data.load_mnist5k()
  assert a is b and la is lb
  with pytest.raises(ValueError):
    a[0, 0, 0, 0] = 1.0
  with pytest.raises(ValueError):
    la[0] = 3


def test_digits8x8_matches_sklearn():
  from sklearn.datasets import load_digits
  images, labels = data.load_digits8x8()
  ref = load_digits()
  assert images.shape == (1797, 8, 8, 1) and images.dtype == np.float32
  assert labels.dtype == np.int32
  assert images.min() == 0.0 and images.max() == 1.0
  np.testing.assert_array_equal(labels, ref.target)
  for r in (0, 17, 1796):
    np.testing.assert_allclose(images[r, ..., 0], ref.images[r] / 16.0)
  counts = np.bincount(labels)
  assert len(counts) == 10 and counts.min() >= 0.9 * counts.max()


def test_array_dataset_validates_shapes():
  with pytest.raises(InputError, match=r"\[N, H, W, C\]"):
    data.ArrayDataset(np.zeros((4, 2, 2)), np.zeros(4, int), np.arange(4))
  with pytest.raises(InputError, match="labels"):
    data.ArrayDataset(np.zeros((4, 2, 2, 1)), np.zeros(3, int), np.arange(4))
  with pytest.raises(InputError, match="integer"):
    data.ArrayDataset(np.zeros((4, 2, 2, 1)), np.zeros(4), np.arange(4))


# -------------------------------------------------------------------- split


@pytest.mark.parametrize("name", ["mnist5k", "digits"])
def test_split_disjoint_covering_stratified(name):
  images, labels = (data.load_mnist5k() if name == "mnist5k"
                    else data.load_digits8x8())
  fractions = (0.7, 0.1, 0.2)
  splits = data.load_embedded(name, seed=3, fractions=fractions)
  assert list(splits) == ["train", "validation", "test"]
  ids = np.concatenate([s.index for s in splits.values()])
  np.testing.assert_array_equal(np.sort(ids), np.arange(len(labels)))
  class_sizes = np.bincount(labels)
  for f, s in zip(fractions, splits.values()):
    np.testing.assert_array_equal(s.images, images[s.index])
    np.testing.assert_array_equal(s.labels, labels[s.index])
    assert abs(len(s) - f * len(labels)) <= 1.0
    counts = np.bincount(s.labels, minlength=10)
    assert np.all(np.abs(counts - f * class_sizes) < 1.0), (counts, f)


def test_split_deterministic_per_seed_different_across_seeds():
  images, labels = data.load_digits8x8()
  a = data.split_dataset(images, labels, seed=0)
  b = data.split_dataset(images, labels, seed=0)
  c = data.split_dataset(images, labels, seed=1)
  for k in a:
    np.testing.assert_array_equal(a[k].index, b[k].index)
  assert not np.array_equal(a["test"].index, c["test"].index)


@hypothesis.given(
    sizes=st.lists(st.integers(0, 40), min_size=1, max_size=8),
    weights=st.tuples(*[st.integers(0, 10)] * 3).filter(lambda w: sum(w) > 0))
def test_stratified_counts_property(sizes, weights):
  f = np.asarray(weights, float) / sum(weights)
  counts = _embedded._stratified_counts(np.asarray(sizes), f)
  np.testing.assert_array_equal(counts.sum(axis=1), sizes)
  assert np.all(counts >= 0)
  assert np.all(np.abs(counts - np.outer(sizes, f)) < 1.0)
  assert np.all(np.abs(counts.sum(axis=0) - sum(sizes) * f) <= 1.0)


def test_split_zero_fraction_and_bad_fractions():
  images, labels = data.load_digits8x8()
  s = data.split_dataset(images, labels, fractions=(0.8, 0.0, 0.2), seed=0)
  assert len(s["validation"]) == 0 and s["validation"].images.shape[1:] == (
      8, 8, 1)
  for bad in [(0.5, 0.5), (0.7, 0.2, 0.2), (1.2, -0.1, -0.1)]:
    with pytest.raises(InputError, match="fractions"):
      data.split_dataset(images, labels, fractions=bad, seed=0)
  with pytest.raises(InputError, match="seed"):
    data.split_dataset(images, labels, seed=-1)


def test_load_embedded_unknown_name_lists_valid_names():
  with pytest.raises(InputError) as e:
    data.load_embedded("mnist", seed=0)
  assert "'mnist5k'" in str(e.value) and "'digits'" in str(e.value)


# ----------------------------------------------------------------- pipeline


def test_eval_batches_pad_1001_with_batch_100():
  ds = _dataset(1001)
  with data.eval_batches(ds, batch_size=100) as it:
    batches = list(it)
  assert len(batches) == 11
  for b in batches:
    assert b["image"].shape == (100, 2, 2, 1) and b["image"].dtype == np.float32
    assert b["label"].dtype == np.int32 and b["index"].dtype == np.int32
    assert b["mask"].shape == (100,) and b["mask"].dtype == np.float32
  mask = np.concatenate([b["mask"] for b in batches])
  assert mask.sum() == 1001
  seen = np.concatenate([b["index"] for b in batches])[mask == 1]
  np.testing.assert_array_equal(np.sort(seen), ds.index)
  assert len(np.unique(seen)) == 1001
  last = batches[-1]
  assert last["mask"][:1].tolist() == [1.0] and last["mask"][1:].sum() == 0
  assert np.all(last["index"][1:] == -1) and np.all(last["image"][1:] == 0)
  np.testing.assert_array_equal(last["image"][0], ds.images[1000])


def test_eval_batches_num_batches_and_small_sources():
  ds = _dataset(5)
  with data.eval_batches(ds, batch_size=4, num_batches=4) as it:
    batches = list(it)
  assert [b["mask"].sum() for b in batches] == [4, 1, 0, 0]
  assert all(b["image"].shape == (4, 2, 2, 1) for b in batches)
  with pytest.raises(InputError, match=">= 2"):
    data.eval_batches(ds, batch_size=4, num_batches=1)
  with data.eval_batches(ds, batch_size=8) as it:  # batch > dataset is fine.
    (only,) = list(it)
  assert only["mask"].sum() == 5
  assert data.num_eval_batches(1001, batch_size=100, process_count=3) == 4


def test_train_batches_epochs_shapes_and_seeds():
  ds = _dataset(10)
  batches = _take(data.train_batches(ds, batch_size=3, seed=0), 6)
  for b in batches:
    assert b["image"].shape == (3, 2, 2, 1) and b["image"].dtype == np.float32
    assert b["label"].dtype == np.int32 and b["index"].dtype == np.int32
    np.testing.assert_array_equal(b["image"], ds.images[b["index"] - 1000])
  for epoch in (batches[:3], batches[3:]):  # 3 full batches, one dropped.
    ids = np.concatenate([b["index"] for b in epoch])
    assert len(np.unique(ids)) == 9
  assert not np.array_equal(batches[0]["index"], batches[3]["index"])
  again = _take(data.train_batches(ds, batch_size=3, seed=0), 6)
  _assert_batches_equal(batches, again)
  other = _take(data.train_batches(ds, batch_size=3, seed=1), 6)
  assert any(not np.array_equal(a["index"], b["index"])
             for a, b in zip(batches, other))


@pytest.mark.parametrize("start", [1, 3, 5])
def test_train_batches_resume_is_exact_with_augmentation(start):
  ds = _dataset(10, shape=(32, 32, 3), dtype=np.uint8)
  pre = data.make_preprocess("cifar10", train=True, seed=7)
  full = _take(data.train_batches(ds, batch_size=3, seed=2, preprocess=pre), 9)
  resumed = _take(data.train_batches(ds, batch_size=3, seed=2, preprocess=pre,
                                     start_step=start), 9 - start)
  _assert_batches_equal(full[start:], resumed)
  # The augmentation is really on (so the comparison above covers it).
  plain = _take(data.train_batches(
      ds, batch_size=3, seed=2,
      preprocess=data.make_preprocess("cifar10", train=False)), 9)
  assert any(not np.array_equal(a["image"], b["image"])
             for a, b in zip(full, plain))


def test_train_batches_argument_errors():
  ds = _dataset(10)
  for bad in (0, -1, 1.5, True):
    with pytest.raises(InputError, match="batch_size"):
      data.train_batches(ds, batch_size=bad, seed=0)
  with pytest.raises(InputError, match=r"batch_size \(11\).*10 examples"):
    data.train_batches(ds, batch_size=11, seed=0)
  with pytest.raises(InputError, match="start_step"):
    data.train_batches(ds, batch_size=2, seed=0, start_step=-1)


def test_prefetch_zero_gives_the_same_batches():
  ds = _dataset(10)
  a = _take(data.train_batches(ds, batch_size=4, seed=5, prefetch=0), 5)
  b = _take(data.train_batches(ds, batch_size=4, seed=5, prefetch=2), 5)
  _assert_batches_equal(a, b)


class _Exploding:
  """A source whose example 7 cannot be read."""

  def __len__(self):
    return 10

  def __getitem__(self, i):
    if i == 7:
      raise RuntimeError("cannot read example 7")
    return {"image": np.zeros((2, 2, 1), np.uint8), "label": 1}


def test_producer_exception_surfaces_in_consumer():
  it = data.eval_batches(_Exploding(), batch_size=2)
  assert next(it)["mask"].sum() == 2
  with pytest.raises(RuntimeError, match="cannot read example 7"):
    for _ in range(5):
      next(it)
  it.thread.join(5)
  assert not it.thread.is_alive()
  with pytest.raises(StopIteration):
    next(it)


def test_close_stops_the_producer_thread():
  it = data.train_batches(_dataset(10), batch_size=2, seed=0)
  next(it)
  assert it.thread.is_alive() and it.thread.daemon
  it.close()
  assert not it.thread.is_alive()
  with pytest.raises(StopIteration):
    next(it)
  with data.train_batches(_dataset(10), batch_size=2, seed=0) as it2:
    next(it2)
  assert not it2.thread.is_alive()


# --------------------------------------------------------------- preprocess


def test_small_preprocess_scales_and_normalises():
  x = np.random.default_rng(0).integers(0, 256, (3, 28, 28, 1), np.uint8)
  out = data.make_preprocess("mnist", train=True, seed=0)(x, step=0)
  assert out.dtype == np.float32
  np.testing.assert_allclose(out, x / 255.0, rtol=1e-6)
  norm = data.make_preprocess("mnist", train=False, normalize=True)(x)
  np.testing.assert_allclose(norm, (x / 255.0 - 0.1307) / 0.3081, rtol=1e-5,
                             atol=1e-5)
  f = np.random.default_rng(1).random((2, 8, 8, 1), dtype=np.float32)
  np.testing.assert_array_equal(data.make_preprocess("digits", train=True)(f),
                                f)


def test_cifar_train_is_padded_crop_and_flip_eval_is_normalisation():
  x = np.random.default_rng(0).integers(1, 256, (6, 32, 32, 3), np.uint8)
  unit = x / np.float32(255.0)
  aug = data.make_preprocess("cifar10", train=True, seed=3, normalize=False)
  out = aug(x, step=11)
  assert out.shape == x.shape and out.dtype == np.float32
  padded = np.pad(unit, ((0, 0), (4, 4), (4, 4), (0, 0)))
  for j in range(len(x)):
    views = [padded[j, r:r + 32, c:c + 32] for r in range(9) for c in range(9)]
    views += [v[:, ::-1] for v in views]
    assert any(np.array_equal(out[j], v) for v in views)
  np.testing.assert_array_equal(out, aug(x, step=11))
  assert not np.array_equal(out, aug(x, step=12))
  ev = data.make_preprocess("cifar100", train=False)(x, step=11)
  np.testing.assert_allclose(
      ev, (unit - np.asarray(data.CIFAR100_MEAN)) / np.asarray(
          data.CIFAR100_STD), rtol=1e-5, atol=1e-5)


def test_imagenet_preprocess_sizes_and_determinism():
  rng = np.random.default_rng(0)
  images = [rng.integers(0, 256, (h, w, 3), np.uint8)
            for h, w in [(300, 400), (50, 30), (224, 224), (500, 260)]]
  images.append(np.full((260, 300, 1), 128, np.uint8))  # Greyscale.
  train = data.make_preprocess("imagenet2012", train=True, seed=0)
  out = train(images, step=4)
  assert out.shape == (5, 224, 224, 3) and out.dtype == np.float32
  np.testing.assert_array_equal(out, train(images, step=4))
  assert not np.array_equal(out, train(images, step=5))
  ev = data.make_preprocess("imagenet2012", train=False)(images, step=0)
  assert ev.shape == (5, 224, 224, 3)
  grey = (128 / 255.0 - np.asarray(data.IMAGENET_MEAN)) / np.asarray(
      data.IMAGENET_STD)
  np.testing.assert_allclose(ev[4], np.broadcast_to(grey, (224, 224, 3)),
                             atol=1e-5)


@hypothesis.given(h=st.integers(1, 300), w=st.integers(1, 300),
                  seed=st.integers(0, 2**31))
def test_random_resized_crop_box_is_inside(h, w, seed):
  from enn_sym.data._preprocess import random_resized_crop_box
  top, left, ch, cw = random_resized_crop_box(h, w,
                                              np.random.default_rng(seed))
  assert 0 <= top and top + ch <= h and 0 <= left and left + cw <= w
  assert ch >= 1 and cw >= 1


def test_make_preprocess_unknown_name():
  with pytest.raises(InputError, match="cifar10"):
    data.make_preprocess("svhn", train=True)


def test_preprocess_none_rejects_ragged_images():
  ragged = [{"image": np.zeros((4, 4, 3), np.uint8), "label": 0},
            {"image": np.zeros((5, 4, 3), np.uint8), "label": 1}]
  with pytest.raises(InputError, match="differ in shape"):
    with data.eval_batches(ragged, batch_size=2) as it:
      next(it)


# ----------------------------------------------------------------- sharding


@pytest.mark.parametrize("drop_remainder", [False, True])
def test_process_shards_disjoint_covering(drop_remainder):
  for n in range(0, 40):
    for count in range(1, 5):
      bounds = [data.process_shard_bounds(
          n, process_index=i, process_count=count,
          drop_remainder=drop_remainder) for i in range(count)]
      sizes = [e - s for s, e in bounds]
      assert all(bounds[i][1] == bounds[i + 1][0] or drop_remainder
                 for i in range(count - 1))
      ids = np.concatenate([np.arange(s, e) for s, e in bounds])
      assert len(np.unique(ids)) == len(ids)  # Disjoint.
      if drop_remainder:
        assert len(set(sizes)) == 1 and sizes[0] == n // count
      else:
        np.testing.assert_array_equal(ids, np.arange(n))  # Covering.
        assert max(sizes) - min(sizes) <= 1
        assert sizes == sorted(sizes, reverse=True)


def test_shard_for_process_keeps_global_index():
  ds = _dataset(11)
  shards = [data.shard_for_process(ds, process_index=i, process_count=3)
            for i in range(3)]
  assert [len(s) for s in shards] == [4, 4, 3]
  np.testing.assert_array_equal(np.concatenate([s.index for s in shards]),
                                ds.index)
  assert data.shard_for_process(ds) is ds  # One process here.
  records = [{"image": np.full((2, 2, 1), i, np.uint8), "label": i % 3}
             for i in range(11)]
  view = data.shard_for_process(records, process_index=2, process_count=3)
  assert isinstance(view, data.SourceView) and len(view) == 3
  with data.eval_batches(view, batch_size=2) as it:
    batches = list(it)
  idx = np.concatenate([b["index"][b["mask"] == 1] for b in batches])
  np.testing.assert_array_equal(idx, [8, 9, 10])
  np.testing.assert_allclose(batches[0]["image"][:, 0, 0, 0],
                             np.array([8, 9]) / 255.0)
  with pytest.raises(InputError, match="process_index"):
    data.shard_for_process(ds, process_index=3, process_count=3)
