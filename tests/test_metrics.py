"""Binned calibration, accuracy, NLL and Brier: hand cases, the numpy
reference, streaming / merging / masking / jit invariances."""

import dataclasses
import math

import hypothesis
from hypothesis import strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from enn_sym import metrics
from enn_sym.metrics import _common
from tests import numpy_reference as ref

# Hypothesis tests pad every chunk to this many rows, so each metric compiles
# once per input kind instead of once per chunk size.
PAD = 32
NUM_CLASSES = 3


def _np(tree):
  return jax.tree.map(np.asarray, tree)


def _run(metric, values, labels, mask=None):
  return _np(metric.compute(metric.update(metric.empty(), values, labels,
                                          mask)))


def random_data(seed, n, c, input_kind, scale=3.0):
  """float32 logits or probabilities and labels drawn from a tempered
  softmax (so the predictions are miscalibrated, but informative)."""
  rng = np.random.default_rng(seed)
  logits = (rng.normal(size=(n, c)) * scale).astype(np.float32)
  p = ref.softmax(logits / 1.5)
  labels = np.array([rng.choice(c, p=row) for row in p], np.int32)
  if input_kind == "probs":
    return ref.softmax(logits).astype(np.float32), labels
  return logits, labels


def all_metrics(input_kind, num_classes=NUM_CLASSES, num_bins=15,
                right_closed=False):
  return (
      metrics.BinnedCalibration(num_bins, input_kind=input_kind,
                                right_closed=right_closed),
      metrics.ClasswiseCalibration(num_classes, num_bins,
                                   input_kind=input_kind,
                                   right_closed=right_closed),
      metrics.Accuracy(input_kind=input_kind),
      metrics.NegativeLogLikelihood(input_kind=input_kind),
      metrics.BrierScore(input_kind=input_kind),
  )


def assert_states_equal(a, b, rtol=1e-6, atol=1e-6):
  """Integer fields exactly equal, float fields close."""
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    x, y = np.asarray(x), np.asarray(y)
    assert x.dtype == y.dtype and x.shape == y.shape
    if np.issubdtype(x.dtype, np.integer):
      np.testing.assert_array_equal(x, y)
    else:
      np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------
# Hand-computed cases.

# Four examples, two classes, M = 4 bins with edges 0, .25, .5, .75, 1:
#   p = [.5, .5], y = 1: c = .5 (on an edge), prediction 0 (first index on
#                        the tie), wrong;
#   p = [.25, .75], y = 1: c = .75 (on an edge), right;
#   p = [1, 0], y = 0: c = 1, right;
#   p = [0, 1], y = 0: c = 1, wrong.
HAND_PROBS = np.array([[.5, .5], [.25, .75], [1., 0.], [0., 1.]], np.float32)
HAND_LABELS = np.array([1, 1, 0, 0], np.int32)


def test_hand_ece_default_bins():
  # [lo, hi) bins: .5 opens bin 2, .75 opens bin 3, 1.0 is in the last bin.
  # bin 2: n = 1, acc 0, conf .5               -> |gap| = .5
  # bin 3: n = 3, acc 2/3, conf 2.75/3 = 11/12 -> |gap| = 1/4
  # ECE = 1/4 * .5 + 3/4 * 1/4 = .3125; MCE = .5;
  # RMS = sqrt(1/4 * .25 + 3/4 * 1/16) = sqrt(.109375).
  out = _run(metrics.BinnedCalibration(4, input_kind="probs"), HAND_PROBS,
             HAND_LABELS)
  np.testing.assert_allclose(out["ece"], 0.3125, atol=1e-7)
  np.testing.assert_allclose(out["mce"], 0.5, atol=1e-7)
  np.testing.assert_allclose(out["rms_ce"], math.sqrt(0.109375), atol=1e-7)
  np.testing.assert_allclose(out["accuracy"], 0.5)
  assert out["count"] == 4
  np.testing.assert_array_equal(out["bin_count"], [0, 0, 1, 3])
  np.testing.assert_allclose(out["bin_accuracy"], [0, 0, 0, 2 / 3])
  np.testing.assert_allclose(out["bin_confidence"], [0, 0, .5, 11 / 12])
  np.testing.assert_array_equal(out["bin_edges"], [0, .25, .5, .75, 1])


def test_hand_ece_right_closed_bins():
  # (lo, hi] bins: .5 closes bin 1, .75 closes bin 2, 1.0 closes bin 3.
  # bin 1: n = 1, acc 0, conf .5 -> .5;  bin 2: n = 1, acc 1, conf .75 -> .25
  # bin 3: n = 2, acc .5, conf 1 -> .5.
  # ECE = (.5 + .25 + 2 * .5) / 4 = .4375; MCE = .5;
  # RMS = sqrt(.25 / 4 + .0625 / 4 + 2 * .25 / 4) = sqrt(.203125).
  out = _run(metrics.BinnedCalibration(4, input_kind="probs",
                                       right_closed=True),
             HAND_PROBS, HAND_LABELS)
  np.testing.assert_allclose(out["ece"], 0.4375, atol=1e-7)
  np.testing.assert_allclose(out["mce"], 0.5, atol=1e-7)
  np.testing.assert_allclose(out["rms_ce"], math.sqrt(0.203125), atol=1e-7)
  np.testing.assert_array_equal(out["bin_count"], [0, 1, 1, 2])
  np.testing.assert_allclose(out["bin_accuracy"], [0, 0, 1, .5])


def test_hand_logits_on_edge():
  # Equal logits: softmax is exactly [.5, .5]; prediction 0, label 1: wrong.
  # ECE = |0 - .5| = .5 in either rule; bin 2 of 4 ([.5, .75)) by default,
  # bin 1 ((.25, .5]) when right-closed.
  logits = np.zeros((1, 2), np.float32)
  labels = np.array([1], np.int32)
  for right_closed, expected_bin in ((False, 2), (True, 1)):
    out = _run(metrics.BinnedCalibration(4, input_kind="logits",
                                         right_closed=right_closed),
               logits, labels)
    np.testing.assert_allclose(out["ece"], 0.5, atol=1e-7)
    np.testing.assert_array_equal(out["bin_count"],
                                  np.eye(4, dtype=int)[expected_bin])


def test_hand_one_sample_decimal_edge():
  # One sample, c = float32(0.7), wrong: ECE = MCE = RMS = c. 0.7 is not a
  # binary fraction; it is still exactly the float32 edge e_7 of M = 10, so
  # it opens bin 7 (and closes bin 6 when right-closed).
  probs = np.array([[0.3, 0.7]], np.float32)
  labels = np.array([0], np.int32)
  c = float(np.float32(0.7))
  for right_closed, expected_bin in ((False, 7), (True, 6)):
    out = _run(metrics.BinnedCalibration(10, input_kind="probs",
                                         right_closed=right_closed),
               probs, labels)
    for key in ("ece", "mce", "rms_ce"):
      np.testing.assert_allclose(out[key], c, rtol=1e-7)
    assert out["accuracy"] == 0.0
    assert int(np.argmax(out["bin_count"])) == expected_bin
    assert out["bin_count"].sum() == 1


def test_bin_index_zero_one_and_edges():
  # c = 0 -> bin 0 and c = 1 -> bin M-1 under both rules; edges open
  # (default) or close (right-closed) their bin. M = 40 uses the gather path.
  for m in (4, 40):
    e = _common.bin_edges(m)
    conf = jnp.asarray([0.0, 1.0, e[1], e[m // 2],
                        np.nextafter(e[m // 2], np.float32(0))])
    np.testing.assert_array_equal(
        _common.bin_index(conf, m), [0, m - 1, 1, m // 2, m // 2 - 1])
    np.testing.assert_array_equal(
        _common.bin_index(conf, m, right_closed=True),
        [0, m - 1, 0, m // 2 - 1, m // 2 - 1])


def test_bin_index_agrees_with_reference_near_every_edge():
  # M <= 32 counts edges with unrolled comparisons, M > 32 corrects floor(cM).
  for m in (10, 32, 33, 50):
    e = _common.bin_edges(m)
    conf = np.concatenate([e, np.nextafter(e, np.float32(-1)),
                           np.nextafter(e, np.float32(2))])
    conf = np.clip(conf, 0, 1).astype(np.float32)
    for right_closed in (False, True):
      members = ref.bin_members(conf, m, right_closed)
      expected = np.argmax(np.stack(members), axis=0)
      got = jax.jit(_common.bin_index, static_argnums=(1, 2))(
          jnp.asarray(conf), m, right_closed)
      np.testing.assert_array_equal(got, expected)


def test_no_data_gives_zeros_not_nan():
  for metric in all_metrics("logits"):
    out = _np(metric.compute(metric.empty()))
    for key, value in out.items():
      if key != "bin_edges":
        assert np.all(value == 0), (type(metric).__name__, key)


def test_all_padding_batch_changes_nothing():
  logits, labels = random_data(0, PAD, NUM_CLASSES, "logits")
  for metric in all_metrics("logits"):
    state = metric.update(metric.empty(), logits, labels, np.zeros(PAD))
    assert_states_equal(state, metric.empty(), rtol=0, atol=0)


def test_hand_classwise():
  # K = 3 classes, M = 2 bins ([0, .5), [.5, 1]); N = 3.
  #   p = [1, 0, 0] y = 0;  p = [.5, .25, .25] y = 1;  p = [.25, .25, .5] y = 2
  # class 0: p0 = 1, .5 (bin 1), .25 (bin 0); label 0 only for example 1.
  #   bin 0: sum p .25, #label 0 -> .25; bin 1: sum 1.5, #label 1 -> .5
  #   -> (.25 + .5) / 3 = .25
  # class 1: p1 = 0 (exactly 0: bin 0), .25, .25 (bin 0); label 1 once.
  #   bin 0: sum .5, #label 1 -> .5 -> .5 / 3
  # class 2: p2 = 0, .25 (bin 0), .5 (bin 1); label 2 once (example 3).
  #   bin 0: sum .25, #0 -> .25; bin 1: sum .5, #1 -> .5 -> .25
  # classwise ECE = (.25 + 1/6 + .25) / 3 = 2/9.
  probs = np.array([[1, 0, 0], [.5, .25, .25], [.25, .25, .5]], np.float32)
  labels = np.array([0, 1, 2], np.int32)
  out = _run(metrics.ClasswiseCalibration(3, 2, input_kind="probs"), probs,
             labels)
  np.testing.assert_allclose(out["classwise_ece"], 2 / 9, atol=1e-7)
  np.testing.assert_allclose(out["class_ece"], [.25, 1 / 6, .25], atol=1e-7)
  assert out["count"] == 3


def test_hand_nll_brier_accuracy():
  # p = [.25, .75] with label 1: NLL = -log .75, Brier = .25^2 + .25^2.
  # Logits [0, log 3] give the same probabilities.
  labels = np.array([1], np.int32)
  for kind, values in (("probs", np.array([[.25, .75]], np.float32)),
                       ("logits", np.array([[0., math.log(3)]], np.float32))):
    nll = _run(metrics.NegativeLogLikelihood(input_kind=kind), values, labels)
    brier = _run(metrics.BrierScore(input_kind=kind), values, labels)
    acc = _run(metrics.Accuracy(input_kind=kind), values, labels)
    np.testing.assert_allclose(nll["nll"], -math.log(.75), rtol=1e-6)
    np.testing.assert_allclose(brier["brier"], .125, rtol=1e-6)
    assert acc["accuracy"] == 1.0 and acc["count"] == 1


def test_nll_of_zero_probability_is_finite():
  # log 0 is clipped at log(tiny float32) = -87.34, not -inf.
  out = _run(metrics.NegativeLogLikelihood(input_kind="probs"),
             np.array([[1., 0.]], np.float32), np.array([1], np.int32))
  np.testing.assert_allclose(out["nll"], -math.log(ref.TINY32), rtol=1e-6)


def test_float_sums_are_accurate_for_large_batches():
  # 2^18 examples in one batch: a sequential float32 scatter-add into two
  # bins is off by ~5e-6 relative here; the blocked sum by < 1e-7.
  rng = np.random.default_rng(10)
  n = 2**18
  p0 = rng.uniform(0.5, 1.0, n).astype(np.float32)
  probs = np.stack([p0, 1 - p0], axis=1)
  labels = np.zeros(n, np.int32)
  metric = metrics.BinnedCalibration(4, input_kind="probs")
  state = metric.update(metric.empty(), probs, labels)
  conf = probs.max(axis=1).astype(np.float64)
  expected = [conf[sel].sum() for sel in ref.bin_members(conf, 4)]
  np.testing.assert_allclose(state.conf_sum, expected, rtol=5e-7)


# ----------------------------------------------------------------------------
# Agreement with the float64 numpy reference.

REFERENCE_CASES = [
    # (seed, n, classes, input_kind, num_bins, right_closed)
    (1, 500, 3, "logits", 15, False),
    (2, 257, 10, "probs", 10, True),
    (3, 257, 10, "logits", 40, True),  # M > 32: the gather bin path.
]


@pytest.mark.parametrize("seed,n,c,kind,num_bins,right_closed",
                         REFERENCE_CASES)
def test_agrees_with_numpy_reference(seed, n, c, kind, num_bins,
                                     right_closed):
  values, labels = random_data(seed, n, c, kind)
  out = _np(metrics.calibration_report(values, labels, input_kind=kind,
                                       num_bins=num_bins,
                                       right_closed=right_closed))
  expected = ref.top_label(values, labels, num_bins, kind, right_closed)
  np.testing.assert_array_equal(out["bin_count"], expected["bin_count"])
  assert out["count"] == n
  for key in ("ece", "mce", "rms_ce", "accuracy"):
    np.testing.assert_allclose(out[key], expected[key], rtol=0, atol=1e-6,
                               err_msg=key)
  np.testing.assert_allclose(out["bin_accuracy"], expected["bin_accuracy"],
                             atol=1e-6)
  np.testing.assert_allclose(out["bin_confidence"],
                             expected["bin_confidence"], atol=1e-6)
  cw, per_class = ref.classwise_ece(values, labels, num_bins, kind,
                                    right_closed)
  np.testing.assert_allclose(out["classwise_ece"], cw, atol=1e-6)
  np.testing.assert_allclose(out["class_ece"], per_class, atol=1e-6)
  np.testing.assert_allclose(out["nll"], ref.nll(values, labels, kind),
                             atol=1e-6)
  np.testing.assert_allclose(out["brier"], ref.brier(values, labels, kind),
                             atol=1e-6)
  # The data are informative and miscalibrated: the numbers are not trivial.
  assert 0.02 < expected["ece"] < 0.5 and 0.3 < expected["accuracy"] < 0.95


def test_expected_calibration_error_matches_metric_and_jits():
  probs, labels = random_data(2, 257, 10, "probs")
  ece = metrics.expected_calibration_error(probs, labels, 10,
                                           right_closed=True)
  expected = ref.top_label(probs, labels, 10, "probs", True)["ece"]
  np.testing.assert_allclose(ece, expected, atol=1e-6)
  jitted = jax.jit(lambda p, y: metrics.expected_calibration_error(
      p, y, 10, right_closed=True))(probs, labels)
  np.testing.assert_allclose(jitted, ece, rtol=1e-6)


# ----------------------------------------------------------------------------
# Streaming, merging, masking and jit.


def pad(values, labels, junk_rng, size=PAD):
  """Pads to ``size`` rows with junk values and random valid labels."""
  n, c = values.shape
  junk = junk_rng.normal(size=(size - n, c)).astype(np.float32) * 50.0
  junk_labels = junk_rng.integers(0, c, size - n).astype(np.int32)
  mask = np.concatenate([np.ones(n), np.zeros(size - n)]).astype(np.float32)
  return (np.concatenate([values, junk]),
          np.concatenate([labels, junk_labels]), mask)


def chunk_bounds(n, cuts):
  points = sorted({min(c, n) for c in cuts} | {0, n})
  return list(zip(points[:-1], points[1:]))


@hypothesis.given(seed=st.integers(0, 2**31 - 1),
                  n=st.integers(0, PAD),
                  cuts=st.lists(st.integers(0, PAD), max_size=5),
                  kind=st.sampled_from(["logits", "probs"]))
def test_streaming_any_split_equals_one_shot(seed, n, cuts, kind):
  values, labels = random_data(seed, n, NUM_CLASSES, kind)
  junk_rng = np.random.default_rng(seed + 1)
  for metric in all_metrics(kind):
    one_shot = metric.update(metric.empty(), *pad(values, labels, junk_rng))
    state = metric.empty()
    for lo, hi in chunk_bounds(n, cuts):
      state = metric.update(state, *pad(values[lo:hi], labels[lo:hi],
                                        junk_rng))
    assert_states_equal(state, one_shot)


@hypothesis.settings(max_examples=15)
@hypothesis.given(seed=st.integers(0, 2**31 - 1),
                  cuts=st.lists(st.integers(0, PAD), min_size=2,
                                max_size=2),
                  kind=st.sampled_from(["logits", "probs"]))
def test_merge_is_associative_and_commutative(seed, cuts, kind):
  values, labels = random_data(seed, PAD, NUM_CLASSES, kind)
  junk_rng = np.random.default_rng(seed + 1)
  lo, hi = sorted(cuts)
  parts = [(0, lo), (lo, hi), (hi, PAD)]
  for metric in all_metrics(kind):
    a, b, c = (metric.update(metric.empty(), *pad(values[i:j], labels[i:j],
                                                  junk_rng))
               for i, j in parts)
    assert_states_equal(metric.merge(a, b), metric.merge(b, a), 0, 0)
    assert_states_equal(metric.merge(metric.merge(a, b), c),
                        metric.merge(a, metric.merge(b, c)))
    assert_states_equal(metric.merge(a, metric.empty()), a, 0, 0)
    whole = metric.update(metric.empty(), values, labels, np.ones(PAD))
    assert_states_equal(metrics.merge_states(metric, [a, b, c]), whole)


def test_streaming_with_unpadded_batches_of_different_sizes():
  values, labels = random_data(5, PAD, NUM_CLASSES, "logits")
  for metric in all_metrics("logits")[:2] + all_metrics("logits")[-1:]:
    one_shot = metric.update(metric.empty(), values, labels, np.ones(PAD))
    state = metric.empty()
    for lo, hi in ((0, 12), (12, PAD)):
      state = metric.update(state, values[lo:hi], labels[lo:hi])
    assert_states_equal(state, one_shot)


def test_padding_with_junk_changes_nothing():
  # Padded rows hold huge logits, NaN and inf; labels of padded rows are
  # valid ints. The state equals the one of the real rows alone.
  values, labels = random_data(6, 20, NUM_CLASSES, "logits")
  junk = np.full((PAD - 20, NUM_CLASSES), 1e30, np.float32)
  junk[0, 0], junk[1, 1] = np.nan, -np.inf
  padded = np.concatenate([values, junk])
  padded_labels = np.concatenate([labels, np.full(PAD - 20, 2, np.int32)])
  mask = np.arange(PAD) < 20
  for metric in all_metrics("logits"):
    assert_states_equal(
        metric.update(metric.empty(), padded, padded_labels, mask),
        metric.update(metric.empty(), values, labels))


def test_padding_changes_nothing_for_probs():
  # Zero rows (not summing to one) are fine as padding of probabilities.
  probs, labels = random_data(7, 20, NUM_CLASSES, "probs")
  padded = np.concatenate([probs, np.zeros((PAD - 20, NUM_CLASSES),
                                           np.float32)])
  padded_labels = np.concatenate([labels, np.zeros(PAD - 20, np.int32)])
  mask = (np.arange(PAD) < 20).astype(np.float32)
  for metric in all_metrics("probs"):
    assert_states_equal(
        metric.update(metric.empty(), padded, padded_labels, mask),
        metric.update(metric.empty(), probs, labels))


def test_jit_update_equals_eager():
  values, labels = random_data(8, PAD, NUM_CLASSES, "logits")
  mask = (np.arange(PAD) % 5 != 0).astype(np.float32)
  suite = all_metrics("logits")

  def step(states, values, labels, mask):
    return tuple(m.update(s, values, labels, mask)
                 for m, s in zip(suite, states))

  empty = tuple(m.empty() for m in suite)
  eager = step(empty, values, labels, mask)
  jitted = jax.jit(step)(empty, values, labels, mask)
  twice = jax.jit(step)(jitted, values, labels, mask)
  assert_states_equal(jitted, eager)
  for m, s, e in zip(suite, twice, eager):
    assert_states_equal(s, m.merge(e, e))


def test_metrics_are_hashable_static_constants():
  a = metrics.BinnedCalibration(10, input_kind="logits")
  assert a == metrics.BinnedCalibration(10, input_kind="logits")
  assert hash(a) == hash(metrics.BinnedCalibration(10, input_kind="logits"))
  assert a != metrics.BinnedCalibration(10, input_kind="probs")
  with pytest.raises(dataclasses.FrozenInstanceError):
    a.num_bins = 3  # type: ignore[misc]


def test_state_is_constant_size():
  # O(bins) / O(classes * bins) state, whatever the amount of data.
  values, labels = random_data(9, PAD, NUM_CLASSES, "logits")
  for metric in all_metrics("logits"):
    empty_shapes = [np.shape(x) for x in jax.tree.leaves(metric.empty())]
    state = metric.update(metric.empty(), values, labels, np.ones(PAD))
    assert [np.shape(x) for x in jax.tree.leaves(state)] == empty_shapes
    assert sum(np.size(x) for x in jax.tree.leaves(state)) <= 3 * 15 * 3
