"""``fit_seeds``: many seeds of one model trained in one jitted program.

For data that fits in device memory (synthetic tasks, testbed problems, the
Swiss rolls, the bounds experiments): the splits are placed on the device once
and passed to the compiled program as arguments; every seed's train state gets
a leading seed axis and the step is ``jax.vmap``-ed over it; ``eval_every``
optimizer steps run per dispatch inside one ``lax.scan``, followed by the
validation check. Each seed early-stops (freezes) on its own criterion inside
the vmapped program, so a converged seed costs no more updates while the
others go on.

Randomness. Seed ``s`` uses ``key = jax.random.key(s)``: the model is built
from ``fold_in(key, 0)``; the training key is ``fold_in(key, 1)``, from which
the epoch ``e`` permutation of the training set is drawn with
``fold_in(fold_in(train_key, 0), e)`` and step ``t``'s loss key is
``fold_in(fold_in(train_key, 1), t)``. Nothing depends on which other seeds
run beside it, so a seed's result equals the run with ``seeds=(s,)`` (up to
float rounding of the batched matmuls).

Non-finite steps. A step whose loss or updated parameters are not finite is
not applied: the seed stops there with ``stop_reason == "non_finite"`` and
keeps its last finite parameters (the best-validation ones when a validation
split is given).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from enn_sym import base as base_lib
from enn_sym._validation import InputError

Array = jax.Array
Batch = Mapping[str, Array]

STOP_REASONS = ("running", "early_stopping", "max_steps", "non_finite")
_RUNNING, _EARLY, _MAX, _NONFINITE = range(4)


class _SeedState(NamedTuple):
  params: Any
  state: Any
  opt_state: Any
  train_key: Array
  step: Array          # int32: optimizer steps applied
  best_params: Any
  best_state: Any
  best_metric: Array   # float32, +inf before the first evaluation
  best_step: Array     # int32
  bad_evals: Array     # int32: evaluations since the last improvement
  reason: Array        # int32 index into STOP_REASONS


@dataclasses.dataclass(frozen=True)
class FitResult:
  """What :func:`fit_seeds` returns.

  Attributes:
    params: trained parameters with a leading seed axis ``[S, ...]``: the
      best-validation parameters when a validation split was given, else the
      final (last finite) ones.
    state: the matching non-trainable collections (``[S, ...]``).
    seeds: the seeds, in order.
    best_step: ``[S]`` step of ``params`` (the final step without validation).
    steps_trained: ``[S]`` optimizer steps applied before the seed stopped.
    stop_reason: per seed, one of ``"early_stopping"``, ``"max_steps"``,
      ``"non_finite"``.
    eval_steps: ``[E]`` the step count at each evaluation (a multiple of
      ``eval_every``, or ``num_steps``).
    val_history: ``[E, S]`` validation metric at each evaluation (``nan``
      without validation; a frozen seed repeats its last value).
    train_loss: ``[E, S]`` mean training loss over the steps each seed took
      since the previous evaluation (``nan`` where it took none).
    computed_seed_steps: seed-steps the vmapped program computed, frozen
      seeds' masked steps included (``S * eval_every`` per dispatch without
      compaction; the waste is this minus ``steps_trained.sum()``).
  """

  params: Any
  state: Any
  seeds: tuple[int, ...]
  best_step: np.ndarray
  steps_trained: np.ndarray
  stop_reason: list[str]
  eval_steps: np.ndarray
  val_history: np.ndarray
  train_loss: np.ndarray
  computed_seed_steps: int = 0

  def seed(self, i: int) -> tuple[Any, Any]:
    """``(params, state)`` of the ``i``-th seed (position, not seed value)."""
    take = lambda a: a[i]
    return jax.tree.map(take, self.params), jax.tree.map(take, self.state)


def _num_examples(data: Batch, name: str) -> int:
  if not isinstance(data, Mapping) or not data:
    raise InputError(f"{name} must be a non-empty dict of arrays with a "
                     f"leading example axis; got {type(data).__name__}.")
  sizes = {k: int(np.shape(v)[0]) if np.ndim(v) else -1
           for k, v in data.items()}
  if len(set(sizes.values())) != 1 or min(sizes.values()) < 1:
    raise InputError(f"{name}: every array needs the same, non-zero leading "
                     f"(example) axis; got leading sizes {sizes}.")
  return next(iter(sizes.values()))


def _check_args(seeds, num_steps, batch_size, eval_every, patience,
                min_delta, n_train):
  seeds = tuple(seeds)
  if not seeds or any(isinstance(s, (bool, np.bool_))
                      or not isinstance(s, (int, np.integer)) or s < 0
                      for s in seeds):
    raise InputError(f"seeds must be a non-empty sequence of non-negative "
                     f"integers; got {seeds!r}.")
  if len(set(seeds)) != len(seeds):
    raise InputError(f"seeds must be distinct; got {seeds!r}.")
  for value, name in ((num_steps, "num_steps"), (eval_every, "eval_every")):
    if (isinstance(value, (bool, np.bool_))
        or not isinstance(value, (int, np.integer)) or value < 1):
      raise InputError(f"{name} must be a positive integer; got {value!r}.")
  if batch_size is not None and (
      isinstance(batch_size, (bool, np.bool_))
      or not isinstance(batch_size, (int, np.integer))
      or not 1 <= batch_size <= n_train):
    raise InputError(f"batch_size must be None (full batch) or an integer in "
                     f"[1, {n_train}] (the training set size); got "
                     f"{batch_size!r}.")
  if patience is not None and (
      isinstance(patience, (bool, np.bool_))
      or not isinstance(patience, (int, np.integer)) or patience < 1):
    raise InputError(f"patience must be None (no early stopping) or a "
                     f"positive integer (evaluations); got {patience!r}.")
  if not np.isfinite(min_delta) or min_delta < 0:
    raise InputError(f"min_delta must be a finite number >= 0; got "
                     f"{min_delta!r}.")
  return tuple(int(s) for s in seeds)


def _all_finite(tree) -> Array:
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
            if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


def _where(cond, a, b):
  return jax.tree.map(lambda x, y: jnp.where(cond, x, y), a, b)


def fit_seeds(init_fn: Callable[[Array], tuple[Any, Any]],
              loss_fn: Callable[..., tuple[Array, Mapping[str, Any]]],
              train: Batch,
              seeds: Sequence[int],
              *,
              optimizer: optax.GradientTransformation,
              num_steps: int,
              batch_size: int | None = None,
              eval_every: int = 100,
              validation: Batch | None = None,
              val_fn: Callable[[Any, Any, Batch], Array] | None = None,
              patience: int | None = None,
              min_delta: float = 0.0,
              compact: bool = True) -> FitResult:
  """Trains one model per seed, all seeds in one vmapped, jitted program.

  Args:
    init_fn: ``key -> (params, state)``; ``params`` are trained, ``state``
      (e.g. prior weights; ``{}`` if none) is held fixed, except
      ``state['batch_stats']`` which follows ``aux['batch_stats']`` when the
      loss returns it (BatchNorm). For an ENN:
      ``lambda k: losses.split_variables(enn.init(k, x[:1], enn.indexer(k)))``.
    loss_fn: ``(params, state, batch, key) -> (loss, aux)``, e.g. from
      :func:`enn_sym.losses.make_enn_loss`.
    train: the training split, a dict of arrays with a leading example axis
      (e.g. ``{"image": x, "label": y}``; add ``"index"`` for a bootstrap).
    seeds: the seeds (distinct non-negative integers).
    optimizer: an optax transformation (schedules count the seed's own
      applied steps).
    num_steps: the most optimizer steps per seed.
    batch_size: ``None`` for full-batch steps; otherwise each epoch visits a
      fresh per-seed permutation of the training set in batches of this size
      (the last ``n % batch_size`` examples of each permutation are skipped).
    eval_every: optimizer steps between validation checks; also the number
      of steps fused into one dispatch.
    validation: the validation split (dict of arrays), or ``None``.
    val_fn: ``(params, state, validation) -> scalar``, lower is better. The
      default is ``loss_fn``'s loss on the whole validation split with the
      fixed key ``jax.random.key(0)``.
    patience: stop a seed after this many evaluations without an improvement
      of more than ``min_delta`` (needs ``validation``); ``None`` trains every
      seed to ``num_steps``.
    min_delta: the least decrease that counts as an improvement.
    compact: when at most half of the seeds in the program are running,
      continue with only the running ones (one compilation per new size);
      the numbers do not change (up to float rounding of the batched
      matmuls), only ``computed_seed_steps``.

  Returns:
    A :class:`FitResult`.
  """
  n_train = _num_examples(train, "train")
  seeds = _check_args(seeds, num_steps, batch_size, eval_every, patience,
                      min_delta, n_train)
  if validation is not None:
    _num_examples(validation, "validation")
  elif patience is not None:
    raise InputError("patience needs a validation split: pass validation=... "
                     "or patience=None.")
  if val_fn is None:
    fixed = jax.random.key(0)
    val_fn = lambda p, s, data: loss_fn(p, s, data, fixed)[0]
  has_val = validation is not None
  spe = None if batch_size is None else n_train // batch_size
  num_steps, eval_every = int(num_steps), int(eval_every)

  def init_one(seed):
    key = jax.random.key(seed)
    params, state = init_fn(jax.random.fold_in(key, 0))
    return _SeedState(
        params=params, state=state, opt_state=optimizer.init(params),
        train_key=jax.random.fold_in(key, 1), step=jnp.int32(0),
        best_params=params, best_state=state,
        best_metric=jnp.float32(jnp.inf), best_step=jnp.int32(0),
        bad_evals=jnp.int32(0), reason=jnp.int32(_RUNNING))

  def batch_at(data, key, step):
    if spe is None:
      return data
    epoch, pos = step // spe, step % spe
    perm = jax.random.permutation(
        jax.random.fold_in(jax.random.fold_in(key, 0), epoch), n_train)
    idx = jax.lax.dynamic_slice_in_dim(perm, pos * batch_size, batch_size)
    return jax.tree.map(lambda a: a[idx], data)

  grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

  def train_step(s: _SeedState, data):
    active = (s.reason == _RUNNING) & (s.step < num_steps)
    batch = batch_at(data, s.train_key, s.step)
    key = jax.random.fold_in(jax.random.fold_in(s.train_key, 1), s.step)
    (loss, aux), grads = grad_fn(s.params, s.state, batch, key)
    updates, opt_state = optimizer.update(grads, s.opt_state, s.params)
    params = optax.apply_updates(s.params, updates)
    state = s.state
    finite = jnp.isfinite(loss) & _all_finite(params)
    if isinstance(aux, Mapping) and base_lib.BATCH_STATS in aux:
      # Only the statistics change; the rest of ``state`` is fixed.
      stats = aux[base_lib.BATCH_STATS]
      state = {**state, base_lib.BATCH_STATS: stats}
      finite = finite & _all_finite(stats)
    take = active & finite
    new = s._replace(
        params=_where(take, params, s.params),
        state=_where(take, state, s.state),
        opt_state=_where(take, opt_state, s.opt_state),
        step=s.step + take.astype(jnp.int32),
        reason=jnp.where(active & ~finite, _NONFINITE, s.reason))
    return new, (jnp.where(take, loss, 0.0), take)

  def chunk_one(s: _SeedState, data, val_data):
    s, (losses, took) = jax.lax.scan(lambda c, _: train_step(c, data), s,
                                     None, length=eval_every)
    count = jnp.sum(took)
    mean_loss = jnp.where(count > 0, jnp.sum(losses) / jnp.maximum(count, 1),
                          jnp.nan)
    if has_val:
      running = s.reason == _RUNNING
      metric = jnp.asarray(val_fn(s.params, s.state, val_data), jnp.float32)
      improved = running & jnp.isfinite(metric) & (
          metric < s.best_metric - min_delta)
      bad = jnp.where(improved, 0, s.bad_evals + running.astype(jnp.int32))
      s = s._replace(
          best_params=_where(improved, s.params, s.best_params),
          best_state=_where(improved, s.state, s.best_state),
          best_metric=jnp.where(improved, metric, s.best_metric),
          best_step=jnp.where(improved, s.step, s.best_step),
          bad_evals=bad)
      if patience is not None:
        s = s._replace(reason=jnp.where(running & (bad >= patience), _EARLY,
                                        s.reason))
      shown = jnp.where(running, metric, jnp.nan)
    else:
      shown = jnp.float32(jnp.nan)
    s = s._replace(reason=jnp.where(
        (s.reason == _RUNNING) & (s.step >= num_steps), _MAX, s.reason))
    return s, mean_loss, shown

  init = jax.jit(jax.vmap(init_one))
  chunk = jax.jit(jax.vmap(chunk_one, in_axes=(0, None, None)),
                  donate_argnums=0)
  train_dev = jax.tree.map(jnp.asarray, dict(train))
  val_dev = (jax.tree.map(jnp.asarray, dict(validation)) if has_val
             else None)
  sub = init(jnp.asarray(seeds, jnp.uint32))
  # ``sub`` holds the seeds at positions ``where`` of ``full`` (None until
  # the first compaction; ``sub`` is donated to ``chunk``, ``full`` never).
  full, where, computed = None, np.arange(len(seeds)), 0
  put = lambda f, i, s: jax.tree.map(lambda a, b: a.at[i].set(b), f, s)
  eval_steps, vals, losses = [], [], []
  last_val = np.full(len(seeds), np.nan)
  for c in range(-(-num_steps // eval_every)):
    sub, mean_loss, shown = chunk(sub, train_dev, val_dev)
    computed += len(where) * eval_every
    shown_all = np.full(len(seeds), np.nan)
    shown_all[where] = np.asarray(shown, np.float64)
    loss_all = np.full(len(seeds), np.nan)
    loss_all[where] = np.asarray(mean_loss, np.float64)
    last_val = np.where(np.isnan(shown_all), last_val, shown_all)
    eval_steps.append(min((c + 1) * eval_every, num_steps))
    vals.append(last_val.copy())
    losses.append(loss_all)
    running = np.asarray(sub.reason) == _RUNNING
    if not running.any():
      break
    if compact and 2 * running.sum() <= len(where):
      full = sub if full is None else put(full, where, sub)
      keep = np.flatnonzero(running)
      sub = jax.tree.map(lambda a: a[keep], sub)
      where = where[keep]
  states = sub if full is None else put(full, where, sub)
  reason = np.asarray(states.reason)
  steps = np.asarray(states.step)
  if has_val:
    params, state = states.best_params, states.best_state
    best = np.asarray(states.best_step)
  else:
    params, state, best = states.params, states.state, steps
  return FitResult(
      params=params, state=state, seeds=seeds, best_step=best,
      steps_trained=steps,
      stop_reason=[STOP_REASONS[int(r)] for r in reason],
      eval_steps=np.asarray(eval_steps), val_history=np.stack(vals),
      train_loss=np.stack(losses), computed_seed_steps=int(computed))
