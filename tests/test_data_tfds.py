"""Tests of the TFDS side of enn_sym.data (never downloads, never needs TF).

* ``tfds.testing.mock_data`` with the default policy (AUTO, which falls back
  to USE_CODE because tfds ships no metadata for these data sets) patches
  ``DatasetBuilder.as_data_source`` with an ``ArrayRecordDataSource`` over
  random examples; it works without TensorFlow. Its ``__getitems__`` is broken
  in tfds 4.9.10 (the bound ``self`` is lost), so sources read item by item.
* A tiny real ArrayRecord data set is written here without TensorFlow
  (PNG-encoded ``tf.train.Example`` protos via tfds's own proto module) to
  exercise the unmocked read path.
"""

import io
import os
import subprocess
import sys

import numpy as np
import pytest

from enn_sym import data
from enn_sym._validation import InputError

tfds = pytest.importorskip("tensorflow_datasets")


def _write_fake_mnist(root, file_format="array_record", n=12):
  """Prepares ``root/mnist/<version>`` with ``n`` examples per split.

  Example ``i`` is a constant image of value ``3 * i`` with label ``i % 10``.
  With ``file_format='tfrecord'`` the shard files are empty stand-ins (only
  the metadata matters for the error path).
  """
  from PIL import Image
  from tensorflow_datasets.proto import tf_example_pb2
  builder = tfds.builder("mnist", data_dir=root, file_format=file_format)
  os.makedirs(builder.data_path, exist_ok=True)
  fmt = tfds.core.FileFormat(file_format)
  infos = []
  for split in ("train", "test"):
    template = tfds.core.ShardedFileTemplate(
        data_dir=builder.data_path, dataset_name="mnist", split=split,
        filetype_suffix=fmt.file_suffix)
    path = os.fspath(template.sharded_filepath(shard_index=0, num_shards=1))
    records = []
    for i in range(n):
      buf = io.BytesIO()
      Image.fromarray(np.full((28, 28), 3 * i, np.uint8)).save(buf, "PNG")
      ex = tf_example_pb2.Example()
      ex.features.feature["image"].bytes_list.value.append(buf.getvalue())
      ex.features.feature["label"].int64_list.value.append(i % 10)
      records.append(ex.SerializeToString())
    if file_format == "array_record":
      from array_record.python import array_record_module
      writer = array_record_module.ArrayRecordWriter(path, "group_size:1")
      for r in records:
        writer.write(r)
      writer.close()
    else:
      open(path, "wb").close()
    infos.append(tfds.core.SplitInfo(name=split, shard_lengths=[n],
                                     num_bytes=0, filename_template=template))
  builder.info.set_splits(tfds.core.SplitDict(infos))
  builder.info.set_file_format(file_format, override=True)
  builder.info.write_to_directory(builder.data_path)


@pytest.mark.parametrize("name,shape", [("mnist", (28, 28, 1)),
                                        ("cifar10", (32, 32, 3))])
def test_mock_data_source_through_the_pipeline(name, shape, tmp_path):
  with tfds.testing.mock_data(num_examples=23):
    source = data.load_tfds_source(name, "train", data_dir=tmp_path)
  assert len(source) == 23 and source.num_classes == 10
  ex = source[5]
  assert ex["image"].shape == shape and ex["image"].dtype == np.uint8
  assert ex["index"] == 5 and 0 <= ex["label"] < 10
  pre = data.make_preprocess(name, train=True, seed=0)
  with data.train_batches(source, batch_size=8, seed=1, preprocess=pre) as it:
    batches = [next(it) for _ in range(4)]
  for b in batches:
    assert b["image"].shape == (8,) + shape and b["image"].dtype == np.float32
    assert b["label"].dtype == np.int32 and b["index"].dtype == np.int32
    assert np.all((b["label"] >= 0) & (b["label"] < 10))
  assert len(np.unique(np.concatenate([b["index"] for b in batches[:2]]))) == 16
  if name == "cifar10":  # Normalised: roughly zero mean, unit scale.
    assert abs(batches[0]["image"].mean()) < 0.5
  else:
    assert 0.0 <= batches[0]["image"].min() and batches[0]["image"].max() <= 1
  with data.eval_batches(source, batch_size=10,
                         preprocess=data.make_preprocess(name, train=False)
                         ) as it:
    evals = list(it)
  assert len(evals) == 3 and all(b["image"].shape == (10,) + shape
                                 for b in evals)
  idx = np.concatenate([b["index"][b["mask"] == 1] for b in evals])
  np.testing.assert_array_equal(idx, np.arange(23))
  first = evals[0]["image"][5]
  expected = data.make_preprocess(name, train=False)(source[5]["image"][None])
  np.testing.assert_allclose(first, expected[0])


def test_mock_imagenet_variable_sizes(tmp_path):
  with tfds.testing.mock_data(num_examples=5):
    source = data.load_tfds_source("imagenet2012", "validation",
                                   data_dir=tmp_path)
  assert source.num_classes == 1000
  assert len({source[i]["image"].shape for i in range(5)}) > 1
  with data.eval_batches(source, batch_size=4, preprocess=data.make_preprocess(
      "imagenet2012", train=False)) as it:
    batches = list(it)
  assert [b["image"].shape for b in batches] == [(4, 224, 224, 3)] * 2
  assert sum(b["mask"].sum() for b in batches) == 5


def test_missing_dataset_error_names_dataset_dir_and_fix(tmp_path):
  with pytest.raises(data.DatasetNotFoundError) as e:
    data.load_tfds_source("cifar10", "train", data_dir=tmp_path)
  err = e.value
  assert isinstance(err, FileNotFoundError)
  msg = str(err)
  assert "'cifar10'" in msg and str(tmp_path) in msg
  assert (f"tfds build cifar10 --file_format=array_record "
          f"--data_dir={tmp_path}") in msg
  assert err.__cause__ is None and err.__suppress_context__
  assert err.dataset == "cifar10" and err.data_dir == str(tmp_path)
  assert len(msg.splitlines()) <= 4
  assert list(tmp_path.iterdir()) == []  # Nothing downloaded or created.


def test_missing_dataset_default_dir_and_imagenet_manual(tmp_path,
                                                         monkeypatch):
  monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
  assert data.default_data_dir() == str(tmp_path / "tfds")
  with pytest.raises(data.DatasetNotFoundError) as e:
    data.load_tfds_source("imagenet2012", "train")
  msg = str(e.value)
  assert str(tmp_path / "tfds") in msg and "TFDS_DATA_DIR" in msg
  assert "ILSVRC2012_img_train.tar" in msg
  assert f"--manual_dir={tmp_path / 'tfds' / 'downloads' / 'manual'}" in msg


def test_real_array_record_dataset_without_tensorflow(tmp_path):
  _write_fake_mnist(tmp_path)
  source = data.load_tfds_source("mnist", "train", data_dir=tmp_path)
  assert len(source) == 12 and source.num_classes == 10
  ex = source[4]
  assert ex["image"].shape == (28, 28, 1) and ex["image"].dtype == np.uint8
  assert np.all(ex["image"] == 12) and ex["label"] == 4
  with data.eval_batches(source, batch_size=5, preprocess=data.make_preprocess(
      "mnist", train=False)) as it:
    batches = list(it)
  images = np.concatenate([b["image"] for b in batches])[:12]
  np.testing.assert_allclose(images[:, 0, 0, 0], 3 * np.arange(12) / 255.0,
                             rtol=1e-6)
  assert "tensorflow" not in sys.modules


def test_tfrecord_only_dataset_is_reported_as_not_random_access(tmp_path):
  _write_fake_mnist(tmp_path, file_format="tfrecord")
  with pytest.raises(data.DatasetNotFoundError) as e:
    data.load_tfds_source("mnist", "train", data_dir=tmp_path)
  msg = str(e.value)
  assert "random-access format" in msg and "--file_format=array_record" in msg


def test_unknown_tfds_name():
  with pytest.raises(InputError, match="cifar100"):
    data.load_tfds_source("svhn_cropped", "train")


def test_shards_match_tfds_even_splits():
  for n in (0, 1, 7, 11, 40):
    split_dict = tfds.core.SplitDict([tfds.core.SplitInfo(
        name="train", shard_lengths=[n], num_bytes=0, filename_template=None)])
    for count in (1, 2, 3, 4):
      for drop in (False, True):
        subsplits = tfds.even_splits("train", n=count, drop_remainder=drop)
        for i, sub in enumerate(subsplits):
          (inst,) = sub.to_absolute(split_dict)
          ref = (inst.from_ or 0, n if inst.to is None else inst.to)
          ours = data.process_shard_bounds(n, process_index=i,
                                           process_count=count,
                                           drop_remainder=drop)
          assert ours == ref, (n, count, drop, i)


def test_shard_of_tfds_source_keeps_global_index(tmp_path):
  _write_fake_mnist(tmp_path)
  source = data.load_tfds_source("mnist", "test", data_dir=tmp_path)
  view = data.shard_for_process(source, process_index=1, process_count=2)
  assert len(view) == 6 and view[0]["index"] == 6
  with data.train_batches(view, batch_size=3, seed=0) as it:
    b = next(it)
  assert set(b["index"].tolist()) <= set(range(6, 12))
  np.testing.assert_allclose(b["image"][:, 0, 0, 0], 3 * b["index"] / 255.0,
                             rtol=1e-6)


def test_import_does_not_load_tensorflow_datasets():
  code = ("import sys, enn_sym.data; "
          "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
          "('tensorflow', 'tensorflow_datasets')); print(bad); "
          "sys.exit(1 if bad else 0)")
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get(
      "PYTHONPATH", ""))
  result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, env=env, timeout=120, check=False)
  assert result.returncode == 0, result.stdout + result.stderr
