"""Host-side input validation for public entry points.

Every check names the argument, what was expected and how to fix it. Checks
that need values (label range, finiteness, probabilities summing to one) run
only on concrete arrays: inside ``jax.jit`` the arguments are tracers and the
value checks are skipped so jitted inner functions stay fast. Shape checks
always run (shapes are static).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

INPUT_KINDS = ("logits", "probs")


class InputError(ValueError):
  """Bad input to an enn_sym entry point (subclass of ValueError)."""


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
  check_finite(values, name)
  check_labels(labels, np.shape(values)[-1])
  if input_kind == "probs":
    check_probs(values, name)
