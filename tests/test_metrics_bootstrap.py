"""BootstrapECE (streaming Poisson bootstrap CI) and scalars()/arrays()."""

import math

import hypothesis
from hypothesis import strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from enn_sym import _validation
from enn_sym import metrics
from tests import numpy_reference as ref

_RNG = np.random.default_rng(1)
N, C, B = 60, 4, 50
LOGITS = (2.0 * _RNG.normal(size=(N, C))).astype(np.float32)
LABELS = _RNG.integers(0, C, size=N).astype(np.int32)
STACK = (2.0 * _RNG.normal(size=(3, N, C))).astype(np.float32)


def _numpy_bootstrap(probs, labels, weights, num_bins, mask=None):
  """ECE of each resample: example i repeated w_bi times (a real resample,
  through the numpy reference ECE)."""
  valid = np.ones(len(labels), bool) if mask is None else mask != 0
  out = []
  for w in np.asarray(weights):
    idx = np.repeat(np.arange(len(labels)), np.where(valid, w, 0))
    out.append(ref.top_label(probs[idx], labels[idx], num_bins, "probs")[
        "ece"] if idx.size else 0.0)
  return np.array(out)


def _batches(n, size):
  return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def test_poisson_weights_distribution():
  w = np.asarray(metrics.poisson_weights(jax.random.key(3), 400, 500))
  assert w.dtype == np.int32 and w.min() >= 0 and w.max() <= 12
  # Mean and variance 1 (standard error ~ 1/sqrt(2e5) ~ 0.002 and 0.0045).
  assert abs(w.mean() - 1.0) < 0.01
  assert abs(w.var() - 1.0) < 0.02
  # P(w = k) = e^-1 / k! (binomial standard errors < 0.0011).
  for k in range(4):
    assert abs(np.mean(w == k) - math.exp(-1) / math.factorial(k)) < 0.005


@pytest.mark.parametrize("stacked", [False, True])
def test_bootstrap_matches_numpy_bootstrap_with_same_weights(stacked):
  values = STACK if stacked else LOGITS
  probs = (np.mean(ref.to_probs(STACK, "logits"), axis=0) if stacked
           else ref.to_probs(LOGITS, "logits"))
  mask = np.ones(N, np.float32)
  mask[[3, 17, 58]] = 0
  metric = metrics.BootstrapECE(10, num_replicates=B, input_kind="logits")
  state = metric.empty()
  weights = []
  for j, sl in enumerate(_batches(N, 20)):
    key = jax.random.fold_in(jax.random.key(0), j)
    batch_values = values[:, sl] if stacked else values[sl]
    state = metric.update(state, batch_values, LABELS[sl], mask[sl], key)
    weights.append(np.asarray(metrics.poisson_weights(
        key, B, sl.stop - sl.start)))
  weights = np.concatenate(weights, axis=1)
  out = metric.compute(state)
  expected = _numpy_bootstrap(probs, LABELS, weights, 10, mask)
  np.testing.assert_allclose(np.asarray(out["ece_replicates"]), expected,
                             atol=2e-6)
  lo, hi = np.quantile(expected, [0.025, 0.975])
  assert float(out["ece_low"]) == pytest.approx(lo, abs=2e-6)
  assert float(out["ece_high"]) == pytest.approx(hi, abs=2e-6)
  assert float(out["ece_std"]) == pytest.approx(np.std(expected), abs=2e-6)
  valid = mask != 0
  point = ref.top_label(probs[valid], LABELS[valid], 10, "probs")["ece"]
  assert float(out["ece"]) == pytest.approx(point, abs=1e-6)
  assert int(out["count"]) == valid.sum()


def test_hand_computed_replicates():
  # Two examples, one bin: p = (0.9, 0.1) correct, p = (0.6, 0.4) wrong.
  probs = np.array([[0.9, 0.1], [0.6, 0.4]], np.float32)
  labels = np.array([0, 1], np.int32)
  metric = metrics.BootstrapECE(1, num_replicates=64, input_kind="probs")
  key = jax.random.key(5)
  out = metric.compute(metric.update(metric.empty(), probs, labels, None,
                                     key))
  w = np.asarray(metrics.poisson_weights(key, 64, 2))
  # ECE_b = |w1 * 1 - (0.9 w1 + 0.6 w2)| / (w1 + w2), 0 for an empty draw.
  total = w.sum(1)
  expected = np.where(total > 0, np.abs(w[:, 0] - 0.9 * w[:, 0] - 0.6 *
                                        w[:, 1]) / np.maximum(total, 1), 0)
  np.testing.assert_allclose(np.asarray(out["ece_replicates"]), expected,
                             atol=1e-6)
  assert float(out["ece"]) == pytest.approx(abs(1 - 1.5) / 2)


def test_merge_jit_and_sharded_batches_agree():
  metric = metrics.BootstrapECE(input_kind="logits", num_replicates=B)
  keys = [jax.random.fold_in(jax.random.key(1), j) for j in range(2)]
  halves = [metric.update(metric.empty(), LOGITS[sl], LABELS[sl], None, k)
            for sl, k in zip(_batches(N, 30), keys)]
  merged = metric.merge(*halves)
  step = jax.jit(metric.update)
  state = metric.empty()
  for sl, k in zip(_batches(N, 30), keys):
    state = step(state, LOGITS[sl], LABELS[sl], None, k)
  for a, b in zip(jax.tree.leaves(merged), jax.tree.leaves(state)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)
  mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("data",))
  sharded = jax.device_put(LOGITS[:30], jax.sharding.NamedSharding(
      mesh, jax.sharding.PartitionSpec("data")))
  s1 = step(metric.empty(), sharded, LABELS[:30], None, keys[0])
  np.testing.assert_array_equal(np.asarray(s1.count),
                                np.asarray(halves[0].count))


def test_padding_changes_nothing():
  metric = metrics.BootstrapECE(input_kind="logits", num_replicates=B)
  key = jax.random.key(2)
  padded = np.concatenate([LOGITS, np.full((4, C), np.nan, np.float32)])
  labels = np.concatenate([LABELS, np.full(4, 77, np.int32)])
  mask = np.concatenate([np.ones(N), np.zeros(4)])
  a = metric.compute(metric.update(metric.empty(), padded, labels, mask,
                                   key))
  w = np.asarray(metrics.poisson_weights(key, B, N + 4))[:, :N]
  expected = _numpy_bootstrap(ref.to_probs(LOGITS, "logits"), LABELS, w, 15)
  np.testing.assert_allclose(np.asarray(a["ece_replicates"]), expected,
                             atol=2e-6)


def test_interval_covers_and_narrows_with_data():
  # A calibrated predictor (labels drawn from its own probabilities): the
  # interval of a large sample is narrower than that of a small one.
  rng = np.random.default_rng(7)
  probs = rng.dirichlet(np.ones(3), size=4000).astype(np.float32)
  labels = np.array([rng.choice(3, p=p / p.sum()) for p in probs], np.int32)
  metric = metrics.BootstrapECE(10, num_replicates=100, input_kind="probs")
  widths = []
  for n in (200, 4000):
    out = metric.compute(metric.update(metric.empty(), probs[:n], labels[:n],
                                       None, jax.random.key(n)))
    assert float(out["ece_low"]) <= float(out["ece"]) + 0.02
    assert float(out["ece_low"]) <= float(out["ece_high"])
    widths.append(float(out["ece_high"] - out["ece_low"]))
  assert widths[1] < 0.5 * widths[0]


def test_bad_arguments():
  with pytest.raises(_validation.InputError, match="key is required"):
    metrics.BootstrapECE(input_kind="logits").update(
        metrics.BootstrapECE(input_kind="logits").empty(), LOGITS, LABELS)
  with pytest.raises(_validation.InputError, match="num_replicates"):
    metrics.BootstrapECE(input_kind="logits", num_replicates=0)
  with pytest.raises(_validation.InputError, match="confidence"):
    metrics.BootstrapECE(input_kind="logits", confidence=1.0)
  metric = metrics.BootstrapECE(input_kind="probs")
  with pytest.raises(_validation.InputError, match="probabilities"):
    metric.update(metric.empty(), LOGITS, LABELS, None, jax.random.key(0))


# ---------------------------------------------------------------------------
# scalars() and arrays().


@pytest.mark.parametrize("metric", [
    metrics.BinnedCalibration(input_kind="logits"),
    metrics.ClasswiseCalibration(C, input_kind="logits"),
    metrics.Accuracy(input_kind="logits"),
    metrics.BootstrapECE(input_kind="logits", num_replicates=8),
], ids=lambda m: type(m).__name__)
def test_scalars_and_arrays_split_compute(metric):
  args = (jax.random.key(0),) if isinstance(metric, metrics.BootstrapECE) \
      else ()
  state = metric.update(metric.empty(), LOGITS, LABELS, None, *args)
  full = metric.compute(state)
  scalars, arrays = metric.scalars(state), metric.arrays(state)
  assert set(scalars) | set(arrays) == set(full)
  assert not set(scalars) & set(arrays)
  for k, v in scalars.items():
    assert isinstance(v, (int, float)) and v == pytest.approx(
        float(full[k]))
  assert isinstance(scalars["count"], int) and scalars["count"] == N
  for k, v in arrays.items():
    assert isinstance(v, np.ndarray) and v.ndim >= 1
    np.testing.assert_array_equal(v, np.asarray(full[k]))


def test_binned_split_names():
  metric = metrics.BinnedCalibration(input_kind="logits")
  state = metric.update(metric.empty(), LOGITS, LABELS)
  assert set(metric.scalars(state)) == {"ece", "mce", "rms_ce", "accuracy",
                                        "count"}
  assert set(metric.arrays(state)) == {"bin_accuracy", "bin_confidence",
                                       "bin_count", "bin_edges"}


@hypothesis.given(st.integers(1, 40), st.integers(0, 10**6))
@hypothesis.settings(max_examples=10)
def test_replicates_are_weighted_eces(n, seed):
  # Law: each replicate equals the ECE of the data with its weights, so it
  # lies in [0, 1] and equals the point ECE when every weight is equal.
  # (n real rows padded to 40: one compiled update.)
  rng = np.random.default_rng(seed)
  probs = rng.dirichlet(np.ones(3), size=40).astype(np.float32)
  labels = rng.integers(0, 3, size=40).astype(np.int32)
  mask = (np.arange(40) < n).astype(np.float32)
  metric = metrics.BootstrapECE(5, num_replicates=16, input_kind="probs")
  key = jax.random.key(seed)
  out = metric.compute(metric.update(metric.empty(), probs, labels, mask,
                                     key))
  rep = np.asarray(out["ece_replicates"])
  assert np.all(rep >= 0) and np.all(rep <= 1 + 1e-6)
  w = np.asarray(metrics.poisson_weights(key, 16, 40))[:, :n]
  equal = np.all(w == w[:, :1], axis=1) & (w[:, 0] > 0)
  np.testing.assert_allclose(rep[equal], float(out["ece"]), atol=1e-5)
