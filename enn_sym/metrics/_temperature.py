"""Temperature scaling (Guo et al. 2017) fitted on held-out logits.

With ``beta = 1 / T`` the masked NLL of one network,

``L(beta) = (1/N) sum_i [logsumexp_j(beta l_ij) - beta l_{i y_i}]``,

is convex in ``beta`` (a log-sum-exp of functions linear in ``beta``; its
second derivative is the variance of ``l_i`` under ``softmax(beta l_i)``), so
it has one minimiser and ``dL/du`` with ``u = log beta`` changes sign once.
For a stack ``[K, batch, C]`` the NLL of the mean predictive of the tempered
members,

``L(beta) = -(1/N) sum_i log((1/K) sum_k softmax(beta l_ki)_{y_i})``,

need not be convex. The fit is therefore robust rather than clever, and has a
fixed cost (jittable): evaluate ``L`` on a grid of ``u`` covering
``[min_temperature, max_temperature]``, bisect the sign of ``dL/du`` between
the neighbours of the best grid point for ``num_iters`` steps, and return the
best of {bisection result, best grid point, T = 1}. So the fitted ``T`` never
has a larger NLL than ``T = 1`` on the fitting data, and for one network it
is the exact minimiser when that lies inside the range (else the nearest end).
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
  loss = functools.partial(_tempered_nll, logits=logits, labels=labels,
                           valid=valid)
  grid = jnp.linspace(-math.log(max_t), -math.log(min_t), num_grid)
  best = jnp.argmin(jax.lax.map(loss, grid))
  lo = grid[jnp.maximum(best - 1, 0)]
  hi = grid[jnp.minimum(best + 1, num_grid - 1)]
  slope = jax.grad(loss)

  def bisect(_, bracket):
    lo, hi = bracket
    mid = 0.5 * (lo + hi)
    rising = slope(mid) > 0
    return jnp.where(rising, lo, mid), jnp.where(rising, mid, hi)

  lo, hi = jax.lax.fori_loop(0, num_iters, bisect, (lo, hi))
  candidates = jnp.stack([0.5 * (lo + hi), grid[best], jnp.zeros(())])
  values = jnp.stack([loss(u) for u in candidates])
  return jnp.exp(-candidates[jnp.argmin(values)])


def apply_temperature(logits: Array, temperature: Array | float) -> Array:
  """``logits / T`` (any shape; ``T`` a positive scalar)."""
  _check_temperature(temperature, "temperature")
  if np.ndim(temperature) != 0:
    raise _validation.InputError(
        f"temperature must be a scalar; got shape "
        f"{tuple(np.shape(temperature))}.")
  return jnp.asarray(logits) / temperature
