"""Metrics of epistemic neural networks on stacks ``[K, batch, classes]``.

``K`` is the number of sampled epistemic indices (see :mod:`enn_sym.base`).
:class:`EnsemblePredictive` scores the mean predictive
``pbar(y|x) = (1/K) sum_k p_k(y|x)`` and splits its entropy into the
expected (aleatoric) part and the mutual information (epistemic part).
:class:`JointLogLoss` scores the joint predictions of the ENN on small
"dyadic" batches, as in the Neural Testbed (Osband et al. 2022).
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from enn_sym import _validation
from enn_sym import base
from enn_sym.metrics import _binned
from enn_sym.metrics import _classification
from enn_sym.metrics import _common

Array = jax.Array


def _entropy(probs: Array, logprobs: Array) -> Array:
  """``-sum_j p_j log p_j`` over the last axis (``0 log 0 = 0``)."""
  return -jnp.sum(probs * logprobs, axis=-1)


class EnsembleState(NamedTuple):
  """State of :class:`EnsemblePredictive`.

  Attributes:
    calibration: binned calibration state of the mean predictive.
    nll_sum: float32, sum of ``-log pbar(y|x)``.
    brier_sum: float32, sum of the Brier terms of ``pbar``.
    predictive_entropy_sum: float32, sum of ``H(pbar(.|x))``.
    expected_entropy_sum: float32, sum of ``(1/K) sum_k H(p_k(.|x))``.
  """

  calibration: _binned.BinnedState
  nll_sum: Array
  brier_sum: Array
  predictive_entropy_sum: Array
  expected_entropy_sum: Array


@dataclasses.dataclass(frozen=True)
class EnsemblePredictive(_common.Metric):
  """Calibration, NLL, Brier and entropy split of the mean predictive.

  With ``p_k = softmax(logits_k)`` (or the given probabilities) for the ``K``
  index samples and ``pbar = (1/K) sum_k p_k``:

  * ``ece, mce, rms_ce, accuracy`` and the reliability arrays: those of
    :class:`BinnedCalibration` applied to ``pbar``;
  * ``nll = mean_i -log pbar(y_i|x_i)``, computed stably as
    ``-logsumexp_k log p_k(y|x) + log K``;
  * ``brier = mean_i sum_j (pbar_j - [j = y_i])^2``;
  * ``predictive_entropy = mean_i H(pbar(.|x_i))``,
    ``expected_entropy = mean_i (1/K) sum_k H(p_k(.|x_i))``,
    ``mutual_info = predictive_entropy - expected_entropy`` (the
    information the label carries about the index; >= 0 by concavity of
    ``H``, up to float rounding, and 0 when all members agree).

  All are 0 with no data (``count = 0``).

  Attributes:
    num_bins: bins of the calibration part.
    input_kind: ``"logits"`` or ``"probs"``. Required.
  """

  _: dataclasses.KW_ONLY
  num_bins: int = 15
  input_kind: str

  def __post_init__(self):
    _validation.check_positive_int(self.num_bins, "num_bins")
    _validation.check_input_kind(self.input_kind)

  @property
  def _calibration(self) -> _binned.BinnedCalibration:
    return _binned.BinnedCalibration(self.num_bins, input_kind="probs")

  def empty(self) -> EnsembleState:
    zero = jnp.zeros((), jnp.float32)
    return EnsembleState(self._calibration.empty(), zero, zero, zero, zero)

  def update(self, state: EnsembleState, values: Array, labels: Array,
             mask: Array | None = None) -> EnsembleState:
    """Adds a batch.

    Args:
      state: the running state.
      values: ``[K, batch, classes]`` logit (or probability) stack.
      labels: int ``[batch]``.
      mask: optional ``[batch]``, 1 = real example, 0 = padding.

    Returns:
      The new state.
    """
    self._check_state(state)
    _check_stack(values, labels, mask, self.input_kind)
    return _common.jit_update(self, state, values, labels, mask)

  def _update(self, state: EnsembleState, values: Array, labels: Array,
              mask: Array | None) -> EnsembleState:
    num_members = values.shape[0]
    valid = _common.valid_rows(mask, values.shape[1])
    values, labels = _common.sanitize(values, labels, valid, batch_axis=1)
    probs, logprobs = _common.probs_and_logprobs(values, self.input_kind)
    mean_probs = jnp.mean(probs, axis=0)
    mean_logprobs = (jax.nn.logsumexp(logprobs, axis=0)
                     - math.log(num_members))
    calibration = self._calibration._update(  # pylint: disable=protected-access
        state.calibration, mean_probs, labels, mask)

    def total(x):
      return jnp.sum(jnp.where(valid, x, 0.0))

    return EnsembleState(
        calibration=calibration,
        nll_sum=state.nll_sum - total(_common.take_label(mean_logprobs,
                                                         labels)),
        brier_sum=state.brier_sum + total(
            _classification.brier_terms(mean_probs, labels)),
        predictive_entropy_sum=state.predictive_entropy_sum + total(
            _entropy(mean_probs, mean_logprobs)),
        expected_entropy_sum=state.expected_entropy_sum + total(
            jnp.mean(_entropy(probs, logprobs), axis=0)))

  def _compute(self, state: EnsembleState) -> dict[str, Array]:
    """The metrics (see the class docstring) and reliability arrays."""
    calibration = self._calibration
    out = calibration._compute(state.calibration)
    total = out["count"]
    pred = _common.safe_div(state.predictive_entropy_sum, total)
    expected = _common.safe_div(state.expected_entropy_sum, total)
    out.update(
        nll=_common.safe_div(state.nll_sum, total),
        brier=_common.safe_div(state.brier_sum, total),
        predictive_entropy=pred,
        expected_entropy=expected,
        mutual_info=pred - expected)
    return out


def _check_stack(values, labels, mask, input_kind: str) -> None:
  _validation.check_input_kind(input_kind)
  base.check_logit_stack(values if hasattr(values, "ndim")
                         else np.asarray(values), "values")
  _validation.check_masked_predictions(values, labels, mask, input_kind,
                                       "values", stack=True)


def _check_key(key) -> None:
  if key is None:
    raise _validation.InputError(
        "key is required: JointLogLoss.update samples dyadic batches; pass "
        "a fresh jax.random.key per batch.")
  dtype = getattr(key, "dtype", None)
  typed = dtype is not None and jax.dtypes.issubdtype(dtype,
                                                      jax.dtypes.prng_key)
  if (np.shape(key) != () if typed else np.ndim(key) != 1):
    raise _validation.InputError(
        f"key must be one PRNG key (jax.random.key(seed) or PRNGKey(seed)); "
        f"got shape {tuple(np.shape(key))}.")


class JointState(NamedTuple):
  """State of :class:`JointLogLoss`.

  Attributes:
    weighted_sum: float32, ``sum_batches n_valid * mean_s J_s`` where ``J_s``
      is the joint NLL of dyadic batch ``s`` drawn from that eval batch.
    weight: int32, ``sum_batches n_valid`` (real examples seen).
    num_dyadic: int32, number of dyadic batches drawn.
  """

  weighted_sum: Array
  weight: Array
  num_dyadic: Array


@dataclasses.dataclass(frozen=True)
class JointLogLoss(_common.Metric):
  """Joint log-loss by dyadic sampling (Osband et al. 2022, Neural Testbed).

  Each ``update`` draws ``num_samples`` dyadic batches from the real examples
  of the eval batch: ``kappa`` distinct anchors uniformly among them (all of
  them, repeated, when there are fewer than ``kappa``), then ``tau`` points
  uniformly with replacement from the anchors. The joint NLL of one dyadic
  batch ``(x_i, y_i)_{i=1..tau}`` under the ``K`` index samples is

  ``J = -log((1/K) sum_k exp(sum_i log p_k(y_i|x_i)))``

  (a logsumexp, stable). Each eval batch adds ``n_valid * mean_s J_s`` and
  ``n_valid``, so batches count in proportion to their real examples (a
  padded last batch is not over-weighted) and a batch with no real example
  adds nothing. ``compute`` returns

  ``joint_nll = sum_batches n_valid mean_s J_s / (tau sum_batches n_valid)``

  in per-example units: every sampled point is marginally uniform over the
  real examples of its batch, so for ``K = 1`` (where ``J`` is a plain sum
  of ``tau`` marginal NLLs) its expectation is exactly the marginal NLL of
  the data seen. By Jensen, ``J`` never exceeds the mean over members of
  their own joint NLLs on the same dyadic batch.

  Dyadic batches are drawn within one eval batch, so eval batches should be
  in random order (not sorted by class).

  Attributes:
    input_kind: ``"logits"`` or ``"probs"``. Required.
    tau: points per dyadic batch.
    kappa: anchors per dyadic batch.
    num_samples: dyadic batches drawn per ``update``.
  """

  _: dataclasses.KW_ONLY
  tau: int = 10
  kappa: int = 2
  num_samples: int = 100
  input_kind: str

  def __post_init__(self):
    _validation.check_positive_int(self.tau, "tau")
    _validation.check_positive_int(self.kappa, "kappa")
    _validation.check_positive_int(self.num_samples, "num_samples")
    _validation.check_input_kind(self.input_kind)

  def empty(self) -> JointState:
    return JointState(jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32),
                      jnp.zeros((), jnp.int32))

  def update(self, state: JointState, values: Array, labels: Array,
             mask: Array | None = None, key: Array | None = None
             ) -> JointState:
    """Adds a batch.

    Args:
      state: the running state.
      values: ``[K, batch, classes]`` logit (or probability) stack.
      labels: int ``[batch]``.
      mask: optional ``[batch]``, 1 = real example, 0 = padding.
      key: PRNG key for the dyadic sampling. Required.

    Returns:
      The new state.
    """
    self._check_state(state)
    _check_stack(values, labels, mask, self.input_kind)
    _check_key(key)
    return _common.jit_update(self, state, values, labels, mask, key)

  def _update(self, state: JointState, values: Array, labels: Array,
              mask: Array | None, key: Array) -> JointState:
    num_members, batch, _ = values.shape
    if batch == 0:
      return state
    valid = _common.valid_rows(mask, batch)
    values, labels = _common.sanitize(values, labels, valid, batch_axis=1)
    _, logprobs = _common.probs_and_logprobs(values, self.input_kind)
    label_logprob = _common.take_label(logprobs, labels)  # [K, batch]
    n_valid = jnp.sum(valid, dtype=jnp.int32)

    # One uniform draw per dyadic batch and example (anchor scores) and per
    # point (anchor slot); jax.random.randint would cost seconds to compile.
    u = jax.random.uniform(key, (self.num_samples, batch + self.tau))
    # Distinct anchors: the top-kappa of uniform scores over real examples
    # (padding scores -1 sorts last): a uniformly random subset, in random
    # order. With a < kappa real anchors, anchor slot j reuses slot j mod a.
    num_top = min(self.kappa, batch)
    scores = jnp.where(valid, u[:, :batch], -1.0)
    _, anchors = jax.lax.top_k(scores, num_top)  # [S, num_top]
    num_real = jnp.maximum(jnp.minimum(n_valid, num_top), 1)
    slots = jnp.minimum(jnp.floor(u[:, batch:] * self.kappa).astype(jnp.int32),
                        self.kappa - 1) % num_real  # [S, tau]
    points = jnp.take_along_axis(anchors, slots, axis=1)  # [S, tau]
    joint_logprob = jnp.sum(label_logprob[:, points], axis=-1)  # [K, S]
    joint_nll = -(jax.nn.logsumexp(joint_logprob, axis=0)
                  - math.log(num_members))
    has_data = n_valid > 0
    return JointState(
        weighted_sum=state.weighted_sum + jnp.where(
            has_data, n_valid * jnp.mean(joint_nll), 0.0),
        weight=state.weight + n_valid,
        num_dyadic=state.num_dyadic + jnp.where(
            has_data, self.num_samples, 0).astype(jnp.int32))

  def _compute(self, state: JointState) -> dict[str, Array]:
    """Returns ``joint_nll`` (per example; 0 with no data), ``count`` (real
    examples seen) and ``num_dyadic``."""
    return {"joint_nll": _common.safe_div(state.weighted_sum,
                                          state.weight) / self.tau,
            "count": state.weight, "num_dyadic": state.num_dyadic}
