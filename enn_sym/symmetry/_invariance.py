"""Invariance error and per-group-element ("orbit") calibration.

For a predictive ``p(.|x)`` and group elements ``g_1..g_G``:

* total-variation distance ``TV_g(x) = 1/2 sum_c |p(c|g x) - p(c|x)|``;
  ``mean_tv`` averages it over examples and elements, ``max_tv`` is its
  largest value; ``flip_rate`` is the fraction of (example, element) pairs
  whose predicted class changes. An exactly invariant model has all three 0.
* orbit calibration: the usual metrics (accuracy, NLL, ECE, ...) computed on
  each transformed copy ``{g x}`` of the test set, one state per element.

Both are mergeable streaming states usable inside a jitted eval step.
For an ENN, ``p`` is the mean predictive over the index samples.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from enn_sym import _validation
from enn_sym import metrics as metrics_lib

Array = jax.Array


class InvarianceState(NamedTuple):
  """Sums over (example, element) pairs; ``tv_max`` merges by ``max``."""

  tv_sum: Array
  tv_max: Array
  flips: Array
  count: Array


def _probs(values: Array, input_kind: str) -> Array:
  if input_kind == "logits":
    return jax.nn.softmax(values.astype(jnp.float32), axis=-1)
  return values.astype(jnp.float32)


@dataclasses.dataclass(frozen=True)
class InvarianceError:
  """Streaming invariance error of a predictive under a set of elements.

  ``update(state, reference, transformed, mask)`` takes the prediction on the
  original inputs ``[batch, classes]`` and on the transformed inputs
  ``[G, batch, classes]`` (logits or probabilities: ``input_kind``).
  """

  _: dataclasses.KW_ONLY
  input_kind: str

  def __post_init__(self):
    _validation.check_input_kind(self.input_kind)

  def empty(self) -> InvarianceState:
    return InvarianceState(jnp.zeros((), jnp.float32),
                           jnp.zeros((), jnp.float32),
                           jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))

  def update(self, state: InvarianceState, reference: Array,
             transformed: Array, mask: Array | None = None
             ) -> InvarianceState:
    _validation.check_ndim(reference, 2, "reference", "[batch, classes]")
    _validation.check_ndim(transformed, 3, "transformed",
                           "[G, batch, classes] (one row per group element)")
    if tuple(np.shape(transformed)[1:]) != tuple(np.shape(reference)):
      raise _validation.InputError(
          f"transformed must have shape [G] + reference.shape = [G, "
          f"{', '.join(map(str, np.shape(reference)))}]; got "
          f"{tuple(np.shape(transformed))}.")
    batch = np.shape(reference)[0]
    _validation.check_mask(mask, batch)
    _validation.check_finite(reference, "reference")
    _validation.check_finite(transformed, "transformed")
    valid = (jnp.ones((batch,), jnp.float32) if mask is None
             else jnp.asarray(mask, jnp.float32))
    p = _probs(reference, self.input_kind)
    q = _probs(transformed, self.input_kind)
    tv = 0.5 * jnp.sum(jnp.abs(q - p[None]), axis=-1)          # [G, B]
    flips = jnp.argmax(q, -1) != jnp.argmax(p, -1)[None]       # [G, B]
    w = jnp.broadcast_to(valid[None] > 0, tv.shape)
    return InvarianceState(
        state.tv_sum + jnp.sum(jnp.where(w, tv, 0.0)),
        jnp.maximum(state.tv_max, jnp.max(jnp.where(w, tv, 0.0))),
        state.flips + jnp.sum(w & flips).astype(jnp.int32),
        state.count + jnp.sum(w).astype(jnp.int32))

  def merge(self, a: InvarianceState, b: InvarianceState) -> InvarianceState:
    return InvarianceState(a.tv_sum + b.tv_sum, jnp.maximum(a.tv_max, b.tv_max),
                           a.flips + b.flips, a.count + b.count)

  def compute(self, state: InvarianceState) -> dict:
    n = jnp.maximum(state.count, 1).astype(jnp.float32)
    return {"invariance_tv_mean": state.tv_sum / n,
            "invariance_tv_max": state.tv_max,
            "flip_rate": state.flips.astype(jnp.float32) / n}


@dataclasses.dataclass(frozen=True)
class OrbitCalibration:
  """Mean-predictive metrics on each transformed copy of the data.

  ``update(state, stacks, labels, mask)`` takes logit stacks
  ``[G, K, batch, classes]`` (element ``g``'s index samples) and keeps one
  :class:`enn_sym.metrics.EnsemblePredictive` state per element, plus the
  invariance error of the mean predictive against element 0 (which must be
  the identity). ``compute`` returns per-element arrays ``[G]`` for
  ``accuracy, nll, ece, mutual_info`` and the invariance metrics.
  """

  num_elements: int
  num_bins: int = 15

  @property
  def _predictive(self):
    return metrics_lib.EnsemblePredictive(num_bins=self.num_bins,
                                          input_kind="logits")

  def empty(self):
    one = self._predictive.empty()
    per = jax.tree.map(lambda a: jnp.stack([a] * self.num_elements), one)
    return {"per_element": per,
            "invariance": InvarianceError(input_kind="probs").empty()}

  def update(self, state, stacks: Array, labels: Array, mask: Array):
    if np.ndim(stacks) != 4 or np.shape(stacks)[0] != self.num_elements:
      raise _validation.InputError(
          f"stacks must have shape [G={self.num_elements}, K, batch, "
          f"classes]; got {tuple(np.shape(stacks))}.")
    per = jax.vmap(self._predictive.update, in_axes=(0, 0, None, None))(
        state["per_element"], stacks, labels, mask)
    mean_probs = jnp.mean(jax.nn.softmax(stacks.astype(jnp.float32), -1),
                          axis=1)                              # [G, B, C]
    inv = InvarianceError(input_kind="probs").update(
        state["invariance"], mean_probs[0], mean_probs, mask)
    return {"per_element": per, "invariance": inv}

  def compute(self, state) -> dict:
    per = jax.vmap(self._predictive.compute)(state["per_element"])
    out = {f"orbit_{k}": np.asarray(per[k])
           for k in ("accuracy", "nll", "ece", "mutual_info")}
    out.update({k: np.asarray(v) for k, v in InvarianceError(
        input_kind="probs").compute(state["invariance"]).items()})
    return out
