"""Every bad input to the metrics raises a ValueError naming the argument.

All checks run on the host before anything is compiled, so these tests are
cheap.
"""

import jax
import numpy as np
import pytest

from enn_sym import metrics

C = 3
LOGITS = np.zeros((4, C), np.float32)
PROBS = np.full((4, C), 1 / C, np.float32)
LABELS = np.array([0, 1, 2, 0], np.int32)


def single_metrics(kind):
  return [
      metrics.BinnedCalibration(input_kind=kind),
      metrics.ClasswiseCalibration(C, input_kind=kind),
      metrics.Accuracy(input_kind=kind),
      metrics.NegativeLogLikelihood(input_kind=kind),
      metrics.BrierScore(input_kind=kind),
  ]


def stack_metrics(kind):
  return [metrics.EnsemblePredictive(input_kind=kind),
          metrics.JointLogLoss(input_kind=kind)]


def update(metric, values, labels, mask=None):
  """Calls ``update`` with the right extra arguments for the metric."""
  if isinstance(metric, metrics.JointLogLoss):
    return metric.update(metric.empty(), values, labels, mask,
                         jax.random.key(0))
  return metric.update(metric.empty(), values, labels, mask)


def cases(kind):
  """(metric, good values) pairs for every metric, single and stacked."""
  good = LOGITS if kind == "logits" else PROBS
  return ([(m, good) for m in single_metrics(kind)]
          + [(m, np.stack([good] * 2)) for m in stack_metrics(kind)])


ALL = cases("logits") + cases("probs")
IDS = [f"{type(m).__name__}-{m.input_kind}" for m, _ in ALL]


@pytest.mark.parametrize("metric,values", ALL, ids=IDS)
def test_wrong_rank(metric, values):
  wrong = values[0] if values.ndim == 3 else values[None]
  with pytest.raises(ValueError, match=r"values must (have shape|be a logit "
                     r"stack)"):
    update(metric, wrong, LABELS)
  with pytest.raises(ValueError, match=r"labels must have shape \[batch\]"):
    update(metric, values, LABELS[:, None])


@pytest.mark.parametrize("metric,values", ALL, ids=IDS)
def test_mismatched_batch(metric, values):
  with pytest.raises(ValueError, match="values and labels disagree on the "
                     "batch size"):
    update(metric, values, LABELS[:3])


@pytest.mark.parametrize("metric,values", ALL, ids=IDS)
def test_labels_out_of_range(metric, values):
  with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
    update(metric, values, np.array([0, 1, 3, 0], np.int32))
  with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
    update(metric, values, np.array([0, -1, 2, 0], np.int32))


@pytest.mark.parametrize("metric,values", ALL, ids=IDS)
def test_non_integer_labels(metric, values):
  with pytest.raises(ValueError, match="labels must be integer class ids"):
    update(metric, values, LABELS.astype(np.float32))


@pytest.mark.parametrize("metric,values", ALL, ids=IDS)
def test_non_finite_values(metric, values):
  for bad in (np.nan, np.inf):
    broken = values.copy()
    broken[..., 1, 0] = bad
    with pytest.raises(ValueError, match=r"values contains \d+ non-finite"):
      update(metric, broken, LABELS)


@pytest.mark.parametrize("metric,values", cases("probs"),
                         ids=IDS[len(ALL) // 2:])
def test_probs_must_be_distributions(metric, values):
  unnormalised = values * 1.5
  with pytest.raises(ValueError, match="values was declared as probabilities "
                     "but its rows do not sum to 1"):
    update(metric, unnormalised, LABELS)
  negative = values.copy()
  negative[..., 0, :] = [1.5, -0.25, -0.25]
  with pytest.raises(ValueError, match="values was declared as probabilities "
                     "but has negative entries"):
    update(metric, negative, LABELS)


@pytest.mark.parametrize("metric,values", ALL, ids=IDS)
def test_bad_mask(metric, values):
  with pytest.raises(ValueError, match=r"mask must have shape \[batch\]"):
    update(metric, values, LABELS, np.ones(3, np.float32))
  with pytest.raises(ValueError, match=r"mask must have shape \[batch\]"):
    update(metric, values, LABELS, np.ones((4, 1), np.float32))
  with pytest.raises(ValueError, match="mask must contain only 0"):
    update(metric, values, LABELS, np.array([1, .5, 1, 0], np.float32))


@pytest.mark.parametrize("metric,values", ALL, ids=IDS)
def test_value_checks_skip_padded_rows(metric, values):
  # The same bad rows are accepted when masked out (no error), so the value
  # checks above are about real rows. Nothing is compiled: update is only
  # traced (jax.eval_shape) after the host checks pass.
  broken = values.copy()
  broken[..., 1, :] = np.nan
  labels = LABELS.copy()
  labels[1] = 99
  mask = np.array([1, 0, 1, 1], np.float32)
  if isinstance(metric, metrics.JointLogLoss):
    key = jax.random.key(0)
    jax.eval_shape(lambda: metric.update(metric.empty(), broken, labels,
                                         mask, key))
  else:
    jax.eval_shape(lambda: metric.update(metric.empty(), broken, labels,
                                         mask))
  with pytest.raises(ValueError, match="non-finite"):
    update(metric, broken, labels, np.ones(4, np.float32))


@pytest.mark.parametrize("make", [
    lambda kind: metrics.BinnedCalibration(input_kind=kind),
    lambda kind: metrics.ClasswiseCalibration(C, input_kind=kind),
    lambda kind: metrics.Accuracy(input_kind=kind),
    lambda kind: metrics.NegativeLogLikelihood(input_kind=kind),
    lambda kind: metrics.BrierScore(input_kind=kind),
    lambda kind: metrics.EnsemblePredictive(input_kind=kind),
    lambda kind: metrics.JointLogLoss(input_kind=kind),
])
def test_input_kind_is_required_and_checked(make):
  for bad in ("logit", "probabilities", None):
    with pytest.raises(ValueError, match="input_kind must be one of"):
      make(bad)
  metric = make("logits")
  with pytest.raises(TypeError, match="input_kind"):
    type(metric)(**{f: getattr(metric, f) for f in ("num_classes",)
                    if hasattr(metric, f)})


def test_bad_constructor_arguments():
  with pytest.raises(ValueError, match="num_bins must be a positive integer"):
    metrics.BinnedCalibration(0, input_kind="logits")
  with pytest.raises(ValueError, match="num_bins must be a positive integer"):
    metrics.BinnedCalibration(2.5, input_kind="logits")
  with pytest.raises(ValueError, match="num_classes must be a positive"):
    metrics.ClasswiseCalibration(0, input_kind="logits")
  with pytest.raises(ValueError, match="right_closed must be a bool"):
    metrics.BinnedCalibration(input_kind="logits", right_closed="yes")
  with pytest.raises(ValueError, match="tau must be a positive integer"):
    metrics.JointLogLoss(input_kind="logits", tau=0)
  with pytest.raises(ValueError, match="kappa must be a positive integer"):
    metrics.JointLogLoss(input_kind="logits", kappa=True)
  with pytest.raises(ValueError, match="num_samples must be a positive"):
    metrics.JointLogLoss(input_kind="logits", num_samples=-1)


def test_classwise_num_classes_must_match():
  metric = metrics.ClasswiseCalibration(4, input_kind="logits")
  with pytest.raises(ValueError, match="values has 3 classes .* num_classes "
                     "= 4"):
    metric.update(metric.empty(), LOGITS, LABELS)


def test_joint_needs_one_key():
  metric = metrics.JointLogLoss(input_kind="logits")
  stack = np.stack([LOGITS] * 2)
  with pytest.raises(ValueError, match="key is required"):
    metric.update(metric.empty(), stack, LABELS)
  with pytest.raises(ValueError, match="key must be one PRNG key"):
    metric.update(metric.empty(), stack, LABELS, None,
                  jax.random.split(jax.random.key(0), 3))


def test_states_of_other_metrics_are_rejected():
  binned = metrics.BinnedCalibration(10, input_kind="logits")
  other = metrics.BinnedCalibration(5, input_kind="logits")
  with pytest.raises(ValueError, match="state has field shapes"):
    binned.update(other.empty(), LOGITS, LABELS)
  with pytest.raises(ValueError, match="b must be a BinnedState"):
    binned.merge(binned.empty(), metrics.Accuracy(input_kind="logits").empty())
  with pytest.raises(ValueError, match="state must be a AccuracyState"):
    metrics.Accuracy(input_kind="logits").compute(binned.empty())
  with pytest.raises(ValueError, match="states must be a non-empty"):
    metrics.merge_states(binned, [])


def test_one_shot_helpers_check_inputs():
  with pytest.raises(ValueError, match="values was declared as probabilities"):
    metrics.expected_calibration_error(LOGITS + 1.0, LABELS)
  with pytest.raises(ValueError, match="input_kind must be one of"):
    metrics.calibration_report(LOGITS, LABELS, input_kind="logit")
  with pytest.raises(ValueError, match="labels must lie in"):
    metrics.calibration_report(LOGITS, LABELS + 1, input_kind="logits")


def test_temperature_bad_inputs():
  fit = metrics.fit_temperature
  with pytest.raises(ValueError, match=r"logits must have shape \[batch, "
                     r"classes\] or be a logit stack"):
    fit(LOGITS[0], LABELS)
  with pytest.raises(ValueError, match="logits must have shape"):
    fit(LOGITS[None, None], LABELS)
  with pytest.raises(ValueError, match="logits and labels disagree"):
    fit(LOGITS, LABELS[:2])
  with pytest.raises(ValueError, match="labels must lie in"):
    fit(LOGITS, LABELS + 1)
  with pytest.raises(ValueError, match="labels must be integer"):
    fit(LOGITS, LABELS.astype(np.float32))
  broken = LOGITS.copy()
  broken[0, 0] = np.inf
  with pytest.raises(ValueError, match="logits contains 1 non-finite"):
    fit(broken, LABELS)
  with pytest.raises(ValueError, match=r"mask must have shape \[batch\]"):
    fit(LOGITS, LABELS, np.ones(5))
  with pytest.raises(ValueError, match="mask marks no real example"):
    fit(LOGITS, LABELS, np.zeros(4))
  with pytest.raises(ValueError, match="num_iters must be a positive"):
    fit(LOGITS, LABELS, num_iters=0)
  with pytest.raises(ValueError, match="min_temperature must be positive"):
    fit(LOGITS, LABELS, min_temperature=-1.0)
  with pytest.raises(ValueError, match="need min_temperature < 1"):
    fit(LOGITS, LABELS, min_temperature=2.0, max_temperature=3.0)
  with pytest.raises(ValueError, match="temperature must be positive"):
    metrics.apply_temperature(LOGITS, 0.0)
  with pytest.raises(ValueError, match="temperature must be a scalar"):
    metrics.apply_temperature(LOGITS, np.ones(2))
