"""Temperature scaling (Guo et al. 2017) fitted on held-out logits.

With ``beta = 1 / T`` the masked NLL of one network,

``L(beta) = (1/N) sum_i [logsumexp_j(beta l_ij) - beta l_{i y_i}]``,

is convex in ``beta`` (a log-sum-exp of functions linear in ``beta``; its
second derivative is the variance of ``l_i`` under ``softmax(beta l_i)``), so
``dL/du`` with ``u = log beta`` changes sign at most once.
For a stack ``[K, batch, C]`` the NLL of the mean predictive of the tempered
members,

``L(beta) = -(1/N) sum_i log((1/K) sum_k softmax(beta l_ki)_{y_i})``,

need not be convex. The fit is therefore robust rather than clever, and has a
fixed cost (jittable, one compiled loop): evaluate ``L`` and ``dL/du`` on a
log-spaced grid of ``u`` covering ``[min_temperature, max_temperature]`` and
at ``u = 0`` (``T = 1``), then bisect the sign of ``dL/du`` between the
neighbours of the best grid point for ``num_iters`` steps. The result is
the bracket's final midpoint (the root of the slope, which float32 rounding
moves far less than it moves the argmin of the flat NLL values) unless its
NLL exceeds that of the best point evaluated by more than rounding (1e-6
relative), in which case that best point. So the fitted ``T`` never has a
larger NLL than ``T = 1`` on the fitting data (beyond 1e-6 relative), and
for one network it is the minimiser (to float precision) when that lies
inside the range (else the nearest end).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from enn_sym import _validation
from enn_sym.metrics import _common

Array = jax.Array


def _check_logits(logits, labels, mask) -> None:
  if np.ndim(logits) not in (2, 3):
    raise _validation.InputError(
        f"logits must have shape [batch, classes] or be a logit stack "
        f"[K, batch, classes]; got shape {tuple(np.shape(logits))}.")
  _validation.check_masked_predictions(logits, labels, mask, "logits",
                                       "logits", stack=np.ndim(logits) == 3)
  if mask is not None and _validation.is_concrete(mask):
    if not np.any(np.asarray(mask) != 0):
      raise _validation.InputError(
          "mask marks no real example (all 0): nothing to fit a "
          "temperature on.")
  if np.shape(logits)[-2] == 0:
    raise _validation.InputError(
        "logits has an empty batch: nothing to fit a temperature on.")
  _check_not_probabilities(logits, mask)


_PROBS_MESSAGE = (
    "logits look like probabilities (every real row is in [0, 1] and sums "
    "to 1): fit_temperature scales logits, and on probabilities it returns a "
    "meaningless T (often the max_temperature). Pass the model's logits, or "
    "jnp.log(probs).")


def _check_not_probabilities(logits, mask, atol: float = 1e-4) -> None:
  """Rejects probabilities passed as logits (host; checkify in checked mode).

  Logits whose every row lies in [0, 1] and sums to 1 within ``atol`` are
  taken for probabilities. Real logits essentially never satisfy both.
  """
  stack = np.ndim(logits) == 3
  if _validation.is_concrete(logits, mask):
    arr = np.asarray(logits, np.float64)
    if mask is not None:
      keep = np.asarray(mask) != 0
      arr = arr[:, keep] if stack else arr[keep]
    if arr.size and arr.min() >= 0.0 and arr.max() <= 1.0 and np.all(
        np.abs(arr.sum(-1) - 1.0) <= atol):
      raise _validation.InputError(_PROBS_MESSAGE)
    return
  if not _validation.traced_checks_enabled():
    return
  x = jnp.asarray(logits, jnp.float32)
  valid = (jnp.ones(x.shape[-2], bool) if mask is None
           else jnp.asarray(mask) != 0)
  rows = valid[None] if stack else valid
  in_unit = jnp.all((x >= 0.0) & (x <= 1.0), axis=-1)
  sums_to_one = jnp.abs(jnp.sum(x, axis=-1) - 1.0) <= atol
  looks_like_probs = jnp.all((in_unit & sums_to_one) | ~rows) & jnp.any(rows)
  _validation.traced_check(~looks_like_probs, _PROBS_MESSAGE)


def _check_temperature(value, name: str) -> None:
  if _validation.is_concrete(value):
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or not np.all(arr > 0):
      raise _validation.InputError(
          f"{name} must be positive and finite; got {value!r}.")


def fit_temperature(logits: Array, labels: Array, mask: Array | None = None,
                    *, num_iters: int = 30, num_grid: int = 33,
                    min_temperature: float = 0.01,
                    max_temperature: float = 100.0) -> Array:
  """The temperature ``T`` minimising the masked NLL of ``softmax(l / T)``.

  Args:
    logits: held-out logits ``[batch, C]``, or a stack ``[K, batch, C]`` (then
      the NLL of the mean predictive of the tempered members).
    labels: int ``[batch]``.
    mask: optional ``[batch]``, 1 = real example, 0 = padding.
    num_iters: bisection steps on ``dNLL / dlog(beta)``.
    num_grid: grid points (log-spaced) over the temperature range.
    min_temperature: smallest temperature considered.
    max_temperature: largest temperature considered.

  Returns:
    A float32 scalar ``T`` in ``[min_temperature, max_temperature]``.

  Raises:
    InputError: bad shapes or hyperparameters (always); non-finite logits,
      labels out of range, a mask of other values than 0/1, no real example,
      or probabilities passed as logits (rows in [0, 1] summing to 1): on
      the host for concrete inputs, and inside ``jit`` only in checked mode
      (:func:`enn_sym.metrics.checked`).
  """
  _check_logits(logits, labels, mask)
  _validation.check_positive_int(num_iters, "num_iters")
  _validation.check_positive_int(num_grid, "num_grid")
  if num_grid < 2:
    raise _validation.InputError(f"num_grid must be >= 2; got {num_grid}.")
  _check_temperature(min_temperature, "min_temperature")
  _check_temperature(max_temperature, "max_temperature")
  if not min_temperature < 1.0 < max_temperature:
    raise _validation.InputError(
        f"need min_temperature < 1 < max_temperature; got "
        f"[{min_temperature}, {max_temperature}].")
  if mask is None:  # One compiled program for masked and unmasked calls.
    mask = jnp.ones(np.shape(logits)[-2], jnp.float32)
  return _fit(logits, labels, mask, num_iters, num_grid,
              float(min_temperature), float(max_temperature))


def _tempered_nll(log_beta: Array, logits: Array, labels: Array,
                  valid: Array) -> Array:
  """Masked mean NLL of softmax(beta * logits) (of the mean predictive for a
  stack)."""
  logprobs = jax.nn.log_softmax(jnp.exp(log_beta) * logits, axis=-1)
  label_logprob = _common.take_label(logprobs, labels)
  if logits.ndim == 3:
    label_logprob = (jax.nn.logsumexp(label_logprob, axis=0)
                     - math.log(logits.shape[0]))
  total = jnp.sum(jnp.where(valid, -label_logprob, 0.0))
  return total / jnp.maximum(jnp.sum(valid), 1)


@functools.partial(jax.jit, static_argnums=(3, 4, 5, 6))
def _fit(logits, labels, mask, num_iters, num_grid, min_t, max_t):
  valid = _common.valid_rows(mask, logits.shape[-2])
  logits, labels = _common.sanitize(logits, labels, valid,
                                    batch_axis=logits.ndim - 2)
  value_and_slope = jax.value_and_grad(functools.partial(
      _tempered_nll, logits=logits, labels=labels, valid=valid))
  # Points in u = log(beta) = -log(T); u = 0 (T = 1) is evaluated too.
  grid = np.linspace(-math.log(max_t), -math.log(min_t), num_grid)
  step = grid[1] - grid[0]
  points = jnp.asarray(np.append(grid, 0.0), jnp.float32)
  num_points = num_grid + 1

  # One loop (one compiled body): iterations < num_points evaluate the grid
  # and keep the bracket [best - step, best + step]; later ones bisect it on
  # the sign of the slope. The best point evaluated overall is returned.
  def body(i, carry):
    best_u, best_value, lo, hi = carry
    on_grid = i < num_points
    mid = 0.5 * (lo + hi)
    u = jnp.where(on_grid, points[jnp.minimum(i, num_points - 1)], mid)
    value, slope = value_and_slope(u)
    better = value < best_value
    best_u = jnp.where(better, u, best_u)
    best_value = jnp.where(better, value, best_value)
    rising = slope > 0
    lo = jnp.where(on_grid, jnp.maximum(best_u - step, grid[0]),
                   jnp.where(rising, lo, mid))
    hi = jnp.where(on_grid, jnp.minimum(best_u + step, grid[-1]),
                   jnp.where(rising, mid, hi))
    return best_u, best_value, lo, hi

  zero = jnp.zeros((), jnp.float32)
  best_u, best_value, lo, hi = jax.lax.fori_loop(
      0, num_points + num_iters + 1, body,
      (zero, jnp.full((), jnp.inf, jnp.float32), zero, zero))
  # Near the optimum the NLL is flat to float32 rounding, so which of the
  # last few bisection points has the smallest *value* is decided by rounding
  # noise (a relative jitter of ~1e-4 in T between runs that differ in the
  # last bits of the logits). The root of the slope is located far more
  # stably, so return the final bracket's midpoint unless it is worse than
  # the best point by more than rounding.
  root = 0.5 * (lo + hi)
  root_value = value_and_slope(root)[0]
  tolerance = 1e-6 * (1.0 + jnp.abs(best_value))
  use_root = root_value <= best_value + tolerance
  return jnp.exp(-jnp.where(use_root, root, best_u))


def apply_temperature(logits: Array, temperature: Array | float) -> Array:
  """``logits / T`` (any shape; ``T`` a positive scalar)."""
  _check_temperature(temperature, "temperature")
  if np.ndim(temperature) != 0:
    raise _validation.InputError(
        f"temperature must be a scalar; got shape "
        f"{tuple(np.shape(temperature))}.")
  return jnp.asarray(logits) / temperature
