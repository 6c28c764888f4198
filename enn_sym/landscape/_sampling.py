"""Minima sampling: many seeds trained in one vmapped, jitted run.

``sample_minima`` trains ``num_samples`` copies of a flat-parameter model from
independent initialisations with full-batch Adam (cosine-decayed learning
rate) inside one ``lax.scan``, vmapped over the seeds, and keeps the runs whose
final loss is at most ``level``. Seed ``k`` starts from ``init(split(key,
num_samples)[k])``, so the same key gives the same minima.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import numpy as np
import optax

from enn_sym import _validation as _v
from enn_sym._validation import InputError

Array = jax.Array


class Minima(NamedTuple):
  """Sampled minima.

  Attributes:
    params: ``[num_kept, size]`` flat parameters of the kept runs.
    losses: ``[num_kept]`` their final losses.
    seeds: ``[num_kept]`` the run index of each kept minimum.
    all_losses: ``[num_samples]`` final losses of every run (``nan`` when a
      run diverged).
  """

  params: np.ndarray
  losses: np.ndarray
  seeds: np.ndarray
  all_losses: np.ndarray


def train_many(loss_fn: Callable[[Array], Array],
               init_fn: Callable[[Array], Array], key: Array,
               num_samples: int, *, num_steps: int,
               learning_rate: float) -> tuple[Array, Array]:
  """Trains ``num_samples`` seeds; returns ``(params [K, D], losses [K])``.

  Jittable (``loss_fn``/``init_fn`` static): one ``lax.scan`` of Adam steps,
  vmapped over the seeds.
  """
  schedule = optax.cosine_decay_schedule(learning_rate, num_steps)
  opt = optax.adam(schedule)
  grad_fn = jax.value_and_grad(loss_fn)

  def train_one(k):
    theta = init_fn(k)

    def step(carry, _):
      theta, state = carry
      _, g = grad_fn(theta)
      updates, state = opt.update(g, state, theta)
      return (optax.apply_updates(theta, updates), state), None

    (theta, _), _ = jax.lax.scan(step, (theta, opt.init(theta)), None,
                                 length=num_steps)
    return theta, loss_fn(theta)

  return jax.vmap(train_one)(jax.random.split(key, num_samples))


def sample_minima(loss_fn: Callable[[Array], Array],
                  init_fn: Callable[[Array], Array], key: Array,
                  num_samples: int, *, num_steps: int = 1000,
                  learning_rate: float = 1e-2,
                  level: float | None = None) -> Minima:
  """Trains many seeds in one vmapped run and keeps those below ``level``.

  Args:
    loss_fn: ``theta [D] -> scalar``.
    init_fn: ``key -> theta [D]``.
    key: PRNG key; seed ``k`` uses ``jax.random.split(key, num_samples)[k]``.
    num_samples: number of runs.
    num_steps: Adam steps per run (full batch).
    learning_rate: peak learning rate (cosine decay to 0).
    level: keep runs with a final loss ``<= level`` (``None``: keep every run
      with a finite loss).

  Returns:
    :class:`Minima`.

  Raises:
    InputError: on bad counts or rates, or when no run reaches ``level``
      (the message gives the best loss reached).
  """
  _v.check_positive_int(num_samples, "num_samples")
  _v.check_positive_int(num_steps, "num_steps")
  _v.check_scalar(learning_rate, "learning_rate", low=0.0, low_open=True)
  if level is not None:
    _v.check_scalar(level, "level")
  run = jax.jit(train_many, static_argnums=(0, 1, 3),
                static_argnames=("num_steps",))
  params, losses = run(loss_fn, init_fn, key, num_samples,
                       num_steps=num_steps, learning_rate=learning_rate)
  params = np.asarray(params)
  all_losses = np.asarray(losses, np.float64)
  keep = np.isfinite(all_losses) & np.all(np.isfinite(params), axis=1)
  if level is not None:
    keep &= all_losses <= level
  if not keep.any():
    best = np.nanmin(all_losses) if np.isfinite(all_losses).any() else np.nan
    raise InputError(
        f"no run reached level {level} (best final loss {best:.4g} of "
        f"{num_samples} runs); raise level, num_steps or learning_rate.")
  seeds = np.flatnonzero(keep)
  return Minima(params[keep], all_losses[keep], seeds, all_losses)
