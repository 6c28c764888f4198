"""Tests: tetris point sets, PointSetDataset and the input pipeline on them.

Shape equivalence is decided exactly: the best orthogonal alignment (Kabsch,
with or without the ``det = +1`` constraint) over all 4! point orderings.
"""

import functools
import itertools

import numpy as np
import pytest

from enn_sym._validation import InputError
from enn_sym.data import _pipeline
from enn_sym.data import _pointsets
from enn_sym.data._embedded import split_dataset

NAMES = _pointsets.TETRIS_CLASS_NAMES


def kabsch_rmsd(a, b, proper):
  """Min RMSD of ``b`` vs ``a Q^T`` over orthogonal Q (det +1 if ``proper``)
  and over all orderings of ``b``'s points. Both clouds are centred first."""
  a = a - a.mean(0)
  b = b - b.mean(0)
  best = np.inf
  for perm in itertools.permutations(range(len(b))):
    bp = b[list(perm)]
    u, _, vt = np.linalg.svd(a.T @ bp)  # Q = V diag(1, 1, d) U^T.
    d = np.sign(np.linalg.det(vt.T @ u.T)) if proper else 1.0
    q = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    best = min(best, np.sqrt(np.mean(np.sum((a @ q.T - bp) ** 2, -1))))
  return best


@functools.lru_cache(maxsize=None)
def dataset(rotate="so3", seed=0, noise=0.0, k=1, n=4):
  return _pointsets.tetris_dataset(n, seed=seed, rotate=rotate, noise=noise,
                                   points_per_cube=k)


# ---------------------------------------------------------------------------
# The shapes.


def test_shapes_are_tetrominoes_of_unit_cubes():
  shapes = _pointsets.tetris_shapes()
  assert shapes.shape == (8, 4, 3) and shapes.dtype == np.float32
  assert len(NAMES) == 8 and NAMES[:2] == ("chiral_shape_1", "chiral_shape_2")
  for s in shapes.astype(np.int64):
    assert len({tuple(p) for p in s}) == 4  # Four distinct cubes.
    # Face-connected: the unit-distance graph on the centres is connected.
    adj = np.sum(np.abs(s[:, None] - s[None]), -1) == 1
    reach = np.eye(4, dtype=bool)
    for _ in range(3):
      reach = reach | (reach.astype(int) @ adj.astype(int) > 0)
    assert reach.all()
  centred = _pointsets.tetris_shapes(center=True)
  np.testing.assert_allclose(centred.mean(1), 0.0, atol=1e-7)
  np.testing.assert_allclose(centred, shapes - shapes.mean(1, keepdims=True))


def test_kabsch_check_has_power():
  rng = np.random.default_rng(0)
  a = _pointsets.tetris_shapes()[0].astype(np.float64)
  q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
  q *= np.sign(np.linalg.det(q))  # A rotation.
  b = (a @ q.T)[[2, 0, 3, 1]] + 5.0  # Rotated, shuffled, translated.
  assert kabsch_rmsd(a, b, proper=True) < 1e-6
  assert kabsch_rmsd(a, -b, proper=True) > 0.1  # Inversion: a mirror image.
  assert kabsch_rmsd(a, -b, proper=False) < 1e-6


def test_chiral_pair_are_mirror_images_but_not_rotations():
  shapes = _pointsets.tetris_shapes().astype(np.float64)
  a, b = shapes[0], shapes[1]
  np.testing.assert_array_equal(a * [1, -1, 1], b)  # y -> -y, point by point.
  assert kabsch_rmsd(a, b, proper=False) < 1e-6
  assert kabsch_rmsd(a, b, proper=True) > 0.1


def test_classes_are_distinct_under_so3_and_only_the_pair_under_o3():
  shapes = _pointsets.tetris_shapes().astype(np.float64)
  for i, j in itertools.combinations(range(8), 2):
    assert kabsch_rmsd(shapes[i], shapes[j], proper=True) > 0.1, (i, j)
    improper = kabsch_rmsd(shapes[i], shapes[j], proper=False)
    assert (improper < 1e-6) == ((i, j) == (0, 1)), (i, j, improper)
  # Every other shape is achiral: its mirror image is a rotated copy.
  for i in range(8):
    mirror_is_rotation = kabsch_rmsd(shapes[i], shapes[i] * [1, -1, 1],
                                     proper=True) < 1e-6
    assert mirror_is_rotation == (i >= 2), i


# ---------------------------------------------------------------------------
# tetris_dataset.


def test_dataset_shapes_labels_and_centring():
  data = dataset()
  assert isinstance(data, _pointsets.PointSetDataset)
  assert len(data) == 32 and data.points.shape == (32, 4, 3)
  assert data.points.dtype == np.float32
  np.testing.assert_array_equal(data.labels, np.repeat(np.arange(8), 4))
  np.testing.assert_array_equal(data.index, np.arange(32))
  assert data.num_classes == 8 and data.class_names == NAMES
  np.testing.assert_allclose(data.points.mean(1), 0.0, atol=1e-6)
  assert not data.points.flags.writeable


def test_dataset_poses_are_exact_seeded_rotations():
  canonical = _pointsets.tetris_shapes(center=True).astype(np.float64)
  for rotate in ("none", "so3", "o3"):
    data = dataset(rotate)
    r = data.rotations.astype(np.float64)
    det = np.linalg.det(r)
    np.testing.assert_allclose(np.einsum("nji,njk->nik", r, r),
                               np.broadcast_to(np.eye(3), r.shape), atol=1e-5)
    expected = np.einsum("npj,nij->npi", canonical[data.labels], r)
    np.testing.assert_allclose(data.points, expected, atol=1e-5)
    if rotate == "none":
      np.testing.assert_array_equal(r, np.broadcast_to(np.eye(3), r.shape))
      np.testing.assert_array_equal(data.points, canonical[data.labels]
                                    .astype(np.float32))
    elif rotate == "so3":
      np.testing.assert_allclose(det, 1.0, atol=1e-5)
      assert len(np.unique(r.round(4), axis=0)) == len(r)  # All different.
    else:
      np.testing.assert_allclose(np.abs(det), 1.0, atol=1e-5)
      assert (det < 0).any() and (det > 0).any()


def test_o3_data_mixes_the_chiral_pair():
  """With rotate='o3' a chiral_shape_1 cloud IS a chiral_shape_2 shape
  exactly when its pose is a reflection."""
  shapes = _pointsets.tetris_shapes().astype(np.float64)
  data = dataset("o3")
  for pts, label, r in zip(data.points, data.labels, data.rotations):
    if label > 1:
      continue
    mirrored = np.linalg.det(r) < 0
    same = kabsch_rmsd(shapes[label], pts, proper=True) < 1e-5
    other = kabsch_rmsd(shapes[1 - label], pts, proper=True) < 1e-5
    assert (same, other) == (not mirrored, mirrored)


def test_dataset_is_deterministic_in_the_seed():
  a = _pointsets.tetris_dataset(4, seed=0, rotate="so3", noise=0.1,
                                points_per_cube=3)
  b = _pointsets.tetris_dataset(4, seed=0, rotate="so3", noise=0.1,
                                points_per_cube=3)
  c = _pointsets.tetris_dataset(4, seed=1, rotate="so3", noise=0.1,
                                points_per_cube=3)
  np.testing.assert_array_equal(a.points, b.points)
  np.testing.assert_array_equal(a.rotations, b.rotations)
  assert not np.allclose(a.points, c.points, atol=0.1)
  assert not np.allclose(a.rotations, c.rotations, atol=0.1)


def test_noise_and_points_per_cube():
  clean = dataset("none")
  noisy = dataset("none", noise=0.05)
  diff = (noisy.points - clean.points).astype(np.float64)
  # Jitter minus its per-cloud mean: sd = 0.05 * sqrt(3 / 4).
  assert 0.8 * 0.05 * np.sqrt(0.75) < diff.std() < 1.2 * 0.05 * np.sqrt(0.75)
  np.testing.assert_allclose(diff.mean(1), 0.0, atol=1e-6)

  k = 25
  many = dataset("none", k=k)
  assert many.points.shape == (32, 4 * k, 3)
  cubes = _pointsets.tetris_shapes(center=True)[many.labels]  # [32, 4, 3]
  # Point p of cube c is cube centre + u - mean(u) with u ~ U[-1/2, 1/2]^3.
  u = many.points - np.repeat(cubes, k, axis=1)
  spread = u.max(1) - u.min(1)
  assert np.all(spread <= 1.0 + 1e-5) and np.all(spread > 0.8)
  np.testing.assert_allclose(many.points.mean(1), 0.0, atol=1e-5)


@pytest.mark.parametrize("kwargs", [
    dict(num_per_class=0), dict(num_per_class=2.0), dict(seed=-1),
    dict(rotate="se3"), dict(noise=-0.1), dict(noise=float("nan")),
    dict(points_per_cube=0), dict(points_per_cube=True)])
def test_dataset_bad_arguments_raise(kwargs):
  args = dict(num_per_class=2, seed=0)
  args.update(kwargs)
  num = args.pop("num_per_class")
  with pytest.raises(InputError):
    _pointsets.tetris_dataset(num, **args)


# ---------------------------------------------------------------------------
# PointSetDataset and the pipeline.


def test_pointset_dataset_interface():
  data = dataset()
  item = data[5]
  assert item["image"].shape == (4, 3, 1)
  np.testing.assert_array_equal(item["image"][..., 0], data.points[5])
  assert item["label"] == 1 and item["index"] == 5
  batch = data.get_batch(np.array([7, 0, 31]))
  assert set(batch) == {"image", "label", "index"}
  assert batch["image"].shape == (3, 4, 3, 1)
  np.testing.assert_array_equal(batch["label"], [1, 0, 7])
  np.testing.assert_array_equal(batch["index"], [7, 0, 31])
  assert data.images.shape == (32, 4, 3, 1)
  sub = data.subset(np.array([31, 30, 4]))
  assert isinstance(sub, _pointsets.PointSetDataset)
  np.testing.assert_array_equal(sub.index, [31, 30, 4])
  np.testing.assert_array_equal(sub.rotations, data.rotations[[31, 30, 4]])
  np.testing.assert_array_equal(sub.points, data.points[[31, 30, 4]])
  assert sub.num_classes == 8  # From the class names, not max(label) + 1.
  plain = _pointsets.PointSetDataset(data.points[:4], data.labels[:4],
                                     data.index[:4])
  assert plain.num_classes == 1 and plain.rotations is None
  assert "PointSetDataset(points=float32[32, 4, 3]" in repr(data)


@pytest.mark.parametrize("points,labels,index,match", [
    (np.zeros((2, 4, 2)), np.zeros(2, int), np.arange(2), r"\[N, P, 3\]"),
    (np.zeros((2, 4, 3)), np.zeros(3, int), np.arange(2), "labels"),
    (np.zeros((2, 4, 3)), np.zeros(2), np.arange(2), "integer"),
    (np.zeros((2, 4, 3), int), np.zeros(2, int), np.arange(2), "floats"),
])
def test_pointset_dataset_validation(points, labels, index, match):
  with pytest.raises(InputError, match=match):
    _pointsets.PointSetDataset(points, labels, index)
  with pytest.raises(InputError, match="class_names"):
    _pointsets.PointSetDataset(np.zeros((2, 4, 3)), np.array([0, 3]),
                               np.arange(2), class_names=("a", "b"))


def test_split_matches_split_dataset_and_keeps_ids():
  data = dataset("none", n=5)
  parts = _pointsets.split_pointsets(data, seed=3)
  ref = split_dataset(np.zeros((40, 1, 1, 1)), data.labels, seed=3)
  ids = []
  for name in ("train", "validation", "test"):
    part = parts[name]
    assert isinstance(part, _pointsets.PointSetDataset)
    np.testing.assert_array_equal(part.index, ref[name].index)
    np.testing.assert_array_equal(part.points, data.points[part.index])
    np.testing.assert_array_equal(part.labels, data.labels[part.index])
    ids.append(part.index)
  assert sorted(np.concatenate(ids)) == list(range(40))
  counts = np.bincount(parts["train"].labels, minlength=8)
  assert counts.sum() == 28 and set(counts) <= {3, 4}  # 0.7 * 5 per class.
  again = _pointsets.split_pointsets(data, seed=3)["test"].index
  np.testing.assert_array_equal(again, parts["test"].index)
  with pytest.raises(InputError, match="PointSetDataset"):
    _pointsets.split_pointsets(ref["train"], seed=0)


def test_train_and_eval_batches_work_unchanged():
  data = dataset()
  with _pipeline.train_batches(data, batch_size=8, seed=0,
                               prefetch=0) as it:
    first = [next(it) for _ in range(5)]
  with _pipeline.train_batches(data, batch_size=8, seed=0, start_step=4,
                               prefetch=0) as it:
    resumed = next(it)
  for key in ("image", "label", "index"):
    np.testing.assert_array_equal(resumed[key], first[4][key])
  b = first[0]
  assert b["image"].shape == (8, 4, 3, 1) and b["image"].dtype == np.float32
  np.testing.assert_array_equal(b["image"][..., 0], data.points[b["index"]])
  np.testing.assert_array_equal(b["label"], data.labels[b["index"]])
  epoch = np.concatenate([batch["index"] for batch in first[:4]])
  assert sorted(epoch) == list(range(32))  # One epoch: a permutation.

  with _pipeline.eval_batches(data, batch_size=12, prefetch=0) as it:
    batches = list(it)
  assert len(batches) == 3
  last = batches[-1]
  np.testing.assert_array_equal(last["mask"], [1] * 8 + [0] * 4)
  np.testing.assert_array_equal(last["index"][8:], -1)
  np.testing.assert_array_equal(last["image"][8:], 0.0)
  np.testing.assert_array_equal(
      np.concatenate([b["index"] for b in batches])[:32], np.arange(32))
