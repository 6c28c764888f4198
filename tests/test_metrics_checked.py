"""Validation under jit: checked mode (checkify) and the static checks.

Outside jit the metric updates check values on the host; inside jit they
cannot, and a bad input gives a silent wrong number (asserted below, so the
gap that checked mode closes is documented). ``metrics.checked`` compiles
the checks in.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from enn_sym import _validation
from enn_sym import metrics
from enn_sym import symmetry

InputError = _validation.InputError

_RNG = np.random.default_rng(0)
LOGITS = jnp.asarray(3.0 * _RNG.normal(size=(16, 10)), jnp.float32)
PROBS = jax.nn.softmax(LOGITS)
LABELS = jnp.asarray(_RNG.integers(0, 10, size=16), jnp.int32)
STACK = jnp.asarray(2.0 * _RNG.normal(size=(3, 16, 10)), jnp.float32)


def _single(metric):
  def step(state, values, labels, mask):
    return metric.update(state, values, labels, mask)
  return step


def _joint(metric):
  def step(state, values, labels, mask):
    return metric.update(state, values, labels, mask, jax.random.key(0))
  return step


SINGLE = {
    "binned": metrics.BinnedCalibration(input_kind="probs"),
    "classwise": metrics.ClasswiseCalibration(10, input_kind="probs"),
    "accuracy": metrics.Accuracy(input_kind="probs"),
    "nll": metrics.NegativeLogLikelihood(input_kind="probs"),
    "brier": metrics.BrierScore(input_kind="probs"),
}
STACKED = {
    "ensemble": (metrics.EnsemblePredictive(input_kind="probs"), _single),
    "joint": (metrics.JointLogLoss(input_kind="probs", num_samples=4), _joint),
}


def _cases():
  for name, metric in SINGLE.items():
    yield name, metric, _single(metric), PROBS
  for name, (metric, make) in STACKED.items():
    yield name, metric, make(metric), jax.nn.softmax(STACK)


CASES = list(_cases())
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("name,metric,step,probs",
                         [c for c in CASES if c[0] in ("classwise", "joint")],
                         ids=["classwise", "joint"])
def test_checked_equals_unchecked_on_good_input(name, metric, step, probs):
  del name
  mask = jnp.ones(16).at[3].set(0)
  plain = jax.jit(step)(metric.empty(), probs, LABELS, mask)
  checked = metrics.checked(step)(metric.empty(), probs, LABELS, mask)
  for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(checked)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def _logits_like(probs):
  return jnp.log(probs) * 3.0  # Negative entries, rows do not sum to 1.


PROBLEMS = [
    ("logits_as_probs", "declared as probabilities but has negative entries"),
    ("unnormalised", "rows do not sum to 1"),
    ("label_out_of_range", r"labels must lie in \[0, 10\).*got values in "
                           r"\[\d+, 10\]"),
    ("negative_label", r"labels must lie in \[0, 10\).*got values in \[-1,"),
    ("nan", r"contains \d+ non-finite value\(s\)"),
    ("bad_mask", "mask must contain only 0"),
]
# Every problem on one single-prediction and one stacked metric; two
# problems on the others (each case compiles three programs).
_FULL = ("binned", "ensemble")
REJECT_CASES = [(case, problem) for case in CASES for problem in PROBLEMS
                if case[0] in _FULL or problem[0] in ("logits_as_probs",
                                                      "label_out_of_range")]


@pytest.mark.parametrize(
    "case,problem", REJECT_CASES,
    ids=[f"{c[0]}-{p[0]}" for c, p in REJECT_CASES])
def test_checked_mode_rejects_under_jit(case, problem):
  _, metric, step, probs = case
  problem, match = problem
  values, labels, mask = probs, LABELS, jnp.ones(16)
  if problem == "logits_as_probs":
    values = _logits_like(probs)
  elif problem == "unnormalised":
    values = probs * 0.5
  elif problem == "label_out_of_range":
    labels = labels.at[5].set(10)
  elif problem == "negative_label":
    labels = labels.at[5].set(-1)
  elif problem == "nan":
    values = values.at[..., 2, 1].set(jnp.nan)
  elif problem == "bad_mask":
    mask = mask.at[0].set(0.5)
  # Plain jit accepts it (no value checks on tracers) ...
  jax.jit(step)(metric.empty(), values, labels, mask)
  # ... the host check rejects it outside jit, and so does checked mode.
  with pytest.raises(InputError, match=match):
    step(metric.empty(), values, labels, mask)
  with pytest.raises(InputError, match=match):
    metrics.checked(step)(metric.empty(), values, labels, mask)


def test_plain_jit_gives_a_silent_wrong_number():
  # The failure checked mode exists for: logits declared as probabilities.
  metric = metrics.BinnedCalibration(input_kind="probs")
  state = jax.jit(_single(metric))(metric.empty(), LOGITS, LABELS, None)
  assert float(metric.compute(state)["ece"]) > 1.0  # An ECE is <= 1.


@pytest.mark.parametrize("name,metric,step,probs", CASES[:1] + CASES[-1:],
                         ids=[IDS[0], IDS[-1]])
def test_checked_mode_ignores_padded_rows(name, metric, step, probs):
  del name
  values = probs.at[..., 4, :].set(jnp.nan)
  labels = LABELS.at[4].set(99)
  mask = jnp.ones(16).at[4].set(0)
  metrics.checked(step)(metric.empty(), values, labels, mask)


def test_checkify_form_inside_a_larger_jit():
  metric = metrics.BinnedCalibration(input_kind="probs")
  step = jax.jit(metrics.checkify(_single(metric)))
  error, state = step(metric.empty(), PROBS, LABELS, None)
  metrics.raise_if_error(error)
  assert int(state.count.sum()) == 16
  error, _ = step(metric.empty(), PROBS, LABELS.at[0].set(12), None)
  with pytest.raises(InputError, match=r"labels must lie in \[0, 10\)"):
    metrics.raise_if_error(error)


def test_checked_with_shardings():
  mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("data",))
  rep = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  metric = metrics.Accuracy(input_kind="probs")
  step = metrics.checked(_single(metric), out_shardings=rep)
  assert int(step(metric.empty(), PROBS, LABELS, None).count) == 16
  with pytest.raises(InputError, match="non-finite"):
    step(metric.empty(), PROBS.at[0, 0].set(jnp.inf), LABELS, None)


def test_logits_metrics_check_finiteness_in_checked_mode():
  metric = metrics.EnsemblePredictive(input_kind="logits")
  step = metrics.checked(_single(metric))
  step(metric.empty(), STACK, LABELS, None)
  with pytest.raises(InputError, match="non-finite"):
    step(metric.empty(), STACK.at[1, 3, 0].set(jnp.nan), LABELS, None)


# ---------------------------------------------------------------------------
# fit_temperature rejects probabilities.


def test_fit_temperature_rejects_probabilities():
  with pytest.raises(InputError, match="logits look like probabilities"):
    metrics.fit_temperature(PROBS, LABELS)
  with pytest.raises(InputError, match="logits look like probabilities"):
    metrics.fit_temperature(jax.nn.softmax(STACK), LABELS)
  fit = metrics.checked(metrics.fit_temperature)
  with pytest.raises(InputError, match="logits look like probabilities"):
    fit(PROBS, LABELS)
  # Real logits (and log-probabilities) are accepted, checked or not.
  t = float(fit(LOGITS, LABELS))
  assert t == pytest.approx(float(metrics.fit_temperature(LOGITS, LABELS)))
  metrics.fit_temperature(jnp.log(PROBS), LABELS)


def test_fit_temperature_probability_check_ignores_padding():
  # One real row of logits among padded probability rows is not probs.
  values = PROBS.at[0].set(LOGITS[0])
  mask = jnp.zeros(16).at[0].set(1)
  metrics.fit_temperature(values, LABELS, mask)
  with pytest.raises(InputError, match="look like probabilities"):
    metrics.fit_temperature(values, LABELS, jnp.ones(16).at[0].set(0))


# ---------------------------------------------------------------------------
# Static checks on image layouts (they run under jit too).


class _Sum(nn.Module):

  @nn.compact
  def __call__(self, x):
    return nn.Dense(3)(x.reshape(x.shape[0], -1))


@pytest.mark.parametrize("group", [symmetry.CyclicGroup(2),
                                   symmetry.CyclicGroup(4),
                                   symmetry.DihedralGroup(4)],
                         ids=lambda g: g.name)
def test_group_averaged_rejects_nchw(group):
  model = symmetry.GroupAveraged(_Sum(), group)
  nchw = jnp.zeros((2, 1, 28, 28))
  with pytest.raises(InputError) as info:
    model.init(jax.random.key(0), nchw)
  message = str(info.value)
  assert "channels-first (NCHW)" in message
  assert "(2, 1, 28, 28)" in message
  assert "jnp.moveaxis(x, -3, -1)" in message
  model.init(jax.random.key(0), jnp.moveaxis(nchw, -3, -1))  # NHWC is fine.


def test_nchw_is_rejected_under_jit_and_for_rgb():
  group = symmetry.CyclicGroup(4)
  with pytest.raises(InputError, match="channels-first"):
    jax.jit(group.orbit)(jnp.zeros((5, 3, 32, 32)))
  with pytest.raises(InputError, match="channels-first"):
    jax.jit(lambda x: group.act(1, x))(jnp.zeros((3, 32, 32)))
  # Plausible channels-last inputs pass: grey, RGB, small images, many
  # channels on a large map.
  for shape in ((2, 32, 32, 3), (2, 7, 7, 64), (4, 4, 2)):
    symmetry.CyclicGroup(2).act(1, jnp.zeros(shape))


def test_non_square_message_names_the_layout():
  with pytest.raises(InputError) as info:
    symmetry.CyclicGroup(4).act(1, jnp.zeros((2, 20, 28, 1)))
  message = str(info.value)
  assert "(2, 20, 28, 1)" in message
  assert "[..., height, width, channels]" in message
  assert "height 20, width 28" in message
