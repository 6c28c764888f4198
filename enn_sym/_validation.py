"""Input validation for public entry points, on the host and under jit.

Every check names the argument, what was expected and how to fix it.

Where each check runs:

* **Shape, dtype and static checks** (ranks, batch sizes, the channel axis of
  images, integer labels) always run, also while ``jax.jit`` traces, since
  shapes and dtypes are static.
* **Value checks** (finite values, labels in ``[0, num_classes)``,
  probabilities in ``[0, 1]`` summing to one, a mask of 0/1, logits that are
  really probabilities) run on the host whenever the arrays are concrete: a
  call outside ``jit`` raises :class:`InputError` before computing anything.
* Inside ``jit`` the arguments are tracers and the value checks are skipped
  (no cost), **unless** the traced code runs in checked mode
  (:func:`enn_sym.metrics.checked` / :func:`enn_sym.metrics.checkify`): then
  the same conditions are compiled in as ``jax.experimental.checkify``
  checks on the real (unmasked) rows, and the call raises
  :class:`InputError` with the same kind of message after the computation.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Iterator

import jax
from jax.experimental import checkify as jax_checkify
import jax.numpy as jnp
import numpy as np

INPUT_KINDS = ("logits", "probs")


class InputError(ValueError):
  """Bad input to an enn_sym entry point (subclass of ValueError)."""


_TRACED_CHECKS = contextvars.ContextVar("enn_sym_traced_checks",
                                        default=False)


@contextlib.contextmanager
def traced_checks() -> Iterator[None]:
  """Within this context, value checks on tracers become checkify checks.

  Only meaningful while a function is traced by ``checkify.checkify`` (see
  :func:`enn_sym.metrics.checkify`); a checkify check traced outside that
  transformation fails to lower.
  """
  token = _TRACED_CHECKS.set(True)
  try:
    yield
  finally:
    _TRACED_CHECKS.reset(token)


def traced_checks_enabled() -> bool:
  """True inside :func:`traced_checks`."""
  return _TRACED_CHECKS.get()


def traced_check(ok: Any, message: str, **values: Any) -> None:
  """``checkify.check(ok, message, **values)`` in checked mode, else no-op.

  ``message`` may name ``{values}`` (formatted at run time).
  """
  if traced_checks_enabled():
    jax_checkify.check(jnp.asarray(ok), message, **values)


def is_concrete(*arrays: Any) -> bool:
  """True when no argument is a JAX tracer (we are not inside a transform)."""
  return not any(isinstance(a, jax.core.Tracer) for a in arrays)


def check_input_kind(input_kind: str) -> None:
  if input_kind not in INPUT_KINDS:
    raise InputError(
        f"input_kind must be one of {INPUT_KINDS} (say explicitly whether the "
        f"values are logits or probabilities); got {input_kind!r}.")


def check_ndim(x: Any, ndim: int, name: str, form: str) -> None:
  if np.ndim(x) != ndim:
    raise InputError(
        f"{name} must have shape {form}; got shape {tuple(np.shape(x))}.")


def check_same_leading(a: Any, b: Any, name_a: str, name_b: str,
                       axis_name: str = "batch") -> None:
  if np.shape(a)[0] != np.shape(b)[0]:
    raise InputError(
        f"{name_a} and {name_b} disagree on the {axis_name} size: "
        f"{name_a} has shape {tuple(np.shape(a))}, {name_b} has shape "
        f"{tuple(np.shape(b))}.")


def check_finite(x: Any, name: str) -> None:
  if is_concrete(x):
    arr = np.asarray(x)
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
      bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
      raise InputError(
          f"{name} contains {bad} non-finite value(s) (NaN or inf); check the "
          f"model output or the data before computing this.")


def check_labels(labels: Any, num_classes: int, name: str = "labels") -> None:
  """Integer class ids in ``[0, num_classes)``."""
  if not np.issubdtype(np.asarray(labels).dtype if is_concrete(labels)
                       else labels.dtype, np.integer):
    raise InputError(
        f"{name} must be integer class ids in [0, {num_classes}); got dtype "
        f"{labels.dtype}. Convert one-hot labels with argmax(axis=-1).")
  if is_concrete(labels):
    arr = np.asarray(labels)
    if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
      raise InputError(
          f"{name} must lie in [0, {num_classes}) (num_classes = "
          f"{num_classes}); got values in [{arr.min()}, {arr.max()}].")


def check_probs(probs: Any, name: str = "probs", atol: float = 1e-4) -> None:
  """Non-negative rows that sum to one (within ``atol``)."""
  if is_concrete(probs):
    arr = np.asarray(probs, dtype=np.float64)
    if arr.size == 0:
      return
    if arr.min() < 0.0:
      raise InputError(
          f"{name} was declared as probabilities but has negative entries "
          f"(min {arr.min():.3g}). If these are logits pass "
          f"input_kind='logits'.")
    sums = arr.sum(axis=-1)
    worst = float(np.max(np.abs(sums - 1.0)))
    if worst > atol:
      raise InputError(
          f"{name} was declared as probabilities but its rows do not sum to 1 "
          f"(largest deviation {worst:.3g}). If these are logits pass "
          f"input_kind='logits'; otherwise normalise the rows.")


def check_mask(mask: Any, batch: int, name: str = "mask") -> None:
  if mask is None:
    return
  if np.shape(mask) != (batch,):
    raise InputError(
        f"{name} must have shape [batch] = ({batch},) with 1 for real and 0 "
        f"for padded examples; got shape {tuple(np.shape(mask))}.")


def check_predictions(values: Any, labels: Any, mask: Any, input_kind: str,
                      name: str = "logits_or_probs") -> None:
  """The full check for ``[batch, classes]`` predictions with labels."""
  check_input_kind(input_kind)
  check_ndim(values, 2, name, "[batch, classes]")
  check_ndim(labels, 1, "labels", "[batch]")
  check_same_leading(values, labels, name, "labels")
  check_mask(mask, np.shape(values)[0])
  check_finite(values, name)
  check_labels(labels, np.shape(values)[-1])
  if input_kind == "probs":
    check_probs(values, name)


def check_prediction_stack(values: Any, labels: Any, mask: Any,
                           input_kind: str,
                           name: str = "logits_or_probs") -> None:
  """The full check for ``[K, batch, classes]`` stacks with labels."""
  check_input_kind(input_kind)
  check_ndim(values, 3, name, "[K, batch, classes] (K index samples)")
  check_ndim(labels, 1, "labels", "[batch]")
  if np.shape(values)[1] != np.shape(labels)[0]:
    raise InputError(
        f"{name} and labels disagree on the batch size: {name} has shape "
        f"{tuple(np.shape(values))} ([K, batch, classes]), labels has shape "
        f"{tuple(np.shape(labels))}.")
  check_mask(mask, np.shape(values)[1])
  check_finite(values, name)
  check_labels(labels, np.shape(values)[-1])
  if input_kind == "probs":
    check_probs(values, name)


def check_scalar(value: Any, name: str, *, low: float | None = None,
                 high: float | None = None, low_open: bool = False,
                 high_open: bool = False, hint: str = "") -> None:
  """A finite real scalar hyperparameter in ``[low, high]`` (ends optional).

  ``low_open`` / ``high_open`` exclude the end point; ``hint`` (start it with
  a space) is put after the range in the message. The shape check always
  runs; the value check is skipped for tracers (a hyperparameter passed to a
  jitted function as an argument).
  """
  if np.ndim(value) != 0:
    raise InputError(
        f"{name} must be a scalar; got shape {tuple(np.shape(value))}.")
  if not is_concrete(value):
    return
  try:
    x = float(np.asarray(value))
  except (TypeError, ValueError):
    raise InputError(f"{name} must be a real number; got {value!r}.") from None
  parts = []
  if low is not None:
    parts.append(f"{'>' if low_open else '>='} {low}")
  if high is not None:
    parts.append(f"{'<' if high_open else '<='} {high}")
  ok = np.isfinite(x)
  if low is not None:
    ok = ok and (x > low if low_open else x >= low)
  if high is not None:
    ok = ok and (x < high if high_open else x <= high)
  if not ok:
    want = " " + " and ".join(parts) if parts else ""
    raise InputError(
        f"{name} must be a finite number{want}{hint}; got {x!r}.")


def check_positive_int(value: Any, name: str) -> None:
  """A Python (or numpy) integer ``>= 1``; bools are rejected."""
  if isinstance(value, (bool, np.bool_)) or not isinstance(
      value, (int, np.integer)) or value < 1:
    raise InputError(f"{name} must be a positive integer; got {value!r}.")


def check_mask_values(mask: Any, name: str = "mask") -> None:
  """A concrete mask holds only 0 (padding) and 1 (real example)."""
  if mask is None or not is_concrete(mask):
    return
  arr = np.asarray(mask)
  if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
    raise InputError(
        f"{name} must be a bool or numeric [batch] array (1 = real example, "
        f"0 = padding); got dtype {arr.dtype}.")
  if arr.size and not np.all((arr == 0) | (arr == 1)):
    bad = arr[(arr != 0) & (arr != 1)]
    raise InputError(
        f"{name} must contain only 0 (padding) and 1 (real example); got "
        f"{bad.size} other value(s), e.g. {bad.flat[0]!r}. Weighted examples "
        f"are not supported.")


def check_masked_predictions(values: Any, labels: Any, mask: Any,
                             input_kind: str,
                             name: str = "logits_or_probs", *,
                             stack: bool = False) -> None:
  """:func:`check_predictions` (or, with ``stack=True``,
  :func:`check_prediction_stack`) where the value checks see real rows only.

  Shapes are checked on the full arrays. The value checks (finiteness, label
  range, probabilities summing to one) then run on the rows whose ``mask`` is
  nonzero, so padded rows may hold anything. The mask itself must hold only
  0 and 1 (checked when concrete).
  """
  check_input_kind(input_kind)
  if stack:
    check_ndim(values, 3, name, "[K, batch, classes] (K index samples)")
  else:
    check_ndim(values, 2, name, "[batch, classes]")
  check_ndim(labels, 1, "labels", "[batch]")
  batch = np.shape(values)[1 if stack else 0]
  if batch != np.shape(labels)[0]:
    form = " ([K, batch, classes])" if stack else " ([batch, classes])"
    raise InputError(
        f"{name} and labels disagree on the batch size: {name} has shape "
        f"{tuple(np.shape(values))}{form}, labels has shape "
        f"{tuple(np.shape(labels))}.")
  check_mask(mask, batch)
  check_mask_values(mask)
  full_values, full_labels = values, labels
  if mask is not None and is_concrete(mask):
    keep = np.asarray(mask) != 0
    if is_concrete(values):
      values = np.asarray(values)
      values = values[:, keep] if stack else values[keep]
    if is_concrete(labels):
      labels = np.asarray(labels)[keep]
  # Shapes were checked above on the full arrays; the value checks below see
  # the real rows of whichever arrays are concrete (values may be a tracer
  # while labels and mask are concrete, e.g. under vmap).
  num_classes = np.shape(values)[-1]
  if traced_checks_enabled() and not is_concrete(full_values, full_labels,
                                                 mask):
    traced_prediction_checks(full_values, full_labels, mask, input_kind, name,
                             stack=stack)
  check_finite(values, name)
  check_labels(labels, num_classes)
  if input_kind == "probs":
    check_probs(values, name)


def traced_prediction_checks(values: Any, labels: Any, mask: Any,
                             input_kind: str, name: str, *,
                             stack: bool = False, atol: float = 1e-4
                             ) -> None:
  """The value checks of :func:`check_masked_predictions` as checkify checks.

  Compiled in only in checked mode (:func:`traced_checks`); padded rows
  (``mask == 0``) are ignored, as on the host.
  """
  values = jnp.asarray(values)
  labels = jnp.asarray(labels)
  batch = values.shape[1 if stack else 0]
  num_classes = values.shape[-1]
  if mask is None:
    valid = jnp.ones((batch,), bool)
  else:
    mask = jnp.asarray(mask)
    traced_check(jnp.all((mask == 0) | (mask == 1)),
                 "mask must contain only 0 (padding) and 1 (real example).")
    valid = mask != 0
  rows = valid[None, :, None] if stack else valid[:, None]
  finite = jnp.isfinite(values) | ~rows
  traced_check(jnp.all(finite),
               f"{name} contains {{bad}} non-finite value(s) (NaN or inf) in "
               f"real rows; check the model output or the data before "
               f"computing this.",
               bad=jnp.sum(~finite))
  in_range = (labels >= 0) & (labels < num_classes)
  lo = jnp.min(jnp.where(valid, labels, num_classes))
  hi = jnp.max(jnp.where(valid, labels, -1))
  traced_check(jnp.all(in_range | ~valid),
               f"labels must lie in [0, {num_classes}) (num_classes = "
               f"{num_classes}); got values in [{{lo}}, {{hi}}].",
               lo=lo, hi=hi)
  if input_kind == "probs":
    real = jnp.where(rows, values, 0.5)
    traced_check(jnp.min(real) >= 0.0,
                 f"{name} was declared as probabilities but has negative "
                 f"entries (min {{low}}). If these are logits pass "
                 f"input_kind='logits'.", low=jnp.min(real))
    deviation = jnp.where(valid[None] if stack else valid,
                          jnp.abs(jnp.sum(values, axis=-1) - 1.0), 0.0)
    traced_check(jnp.all(deviation <= atol),
                 f"{name} was declared as probabilities but its rows do not "
                 f"sum to 1 (largest deviation {{worst}}). If these are "
                 f"logits pass input_kind='logits'; otherwise normalise the "
                 f"rows.", worst=jnp.max(deviation))
