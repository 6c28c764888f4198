r"""Paths between minima: linear interpolation and Bezier curves, with barriers.

Every path is a map :math:`\phi: [0, 1] \to \mathbb R^D` with fixed endpoints
:math:`\phi(0) = a`, :math:`\phi(1) = b`. Its *profile* is the loss along a
grid of ``num_points`` equally spaced :math:`t` (ends included), refined by
``num_refine`` more points spread evenly over the two grid cells around the
grid maximum. From it:

* ``max_loss`` :math:`= \max_t L(\phi(t))` (the saddle height of the path; it
  includes the endpoints, so it is at least ``max(L(a), L(b))``);
* ``barrier`` :math:`= \max_t L(\phi(t)) - \max(L(a), L(b)) \ge 0` (Frankle
  et al. 2020; Garipov et al. 2018).

A maximum sampled on a grid is a lower bound of the true one; the refinement
makes the error second order in the cell width for a smooth maximum.

Bezier curves (Garipov et al. 2018) of degree :math:`n = k + 1` with ``k``
free control points ("bends") :math:`\theta_1..\theta_k`:

.. math::
   \phi(t) = \sum_{j=0}^{n} \binom{n}{j} (1 - t)^{n-j} t^j\, \theta_j,
   \qquad \theta_0 = a,\ \theta_n = b,

fitted by minimising :math:`\mathbb E_{t \sim U(0,1)} L(\phi(t))` over the
bends with Adam (``num_t`` stratified draws of ``t`` per step) inside one
``lax.scan``; :func:`fit_bezier_pairs` vmaps that over pairs of endpoints. The
bends start on the straight line (at :math:`j / n`) plus Gaussian noise of
``init_noise`` times the endpoint distance, which breaks the symmetry of a
straight line through a ridge.

References:
  T. Garipov, P. Izmailov, D. Podoprikhin, D. Vetrov, A. G. Wilson, "Loss
  surfaces, mode connectivity, and fast ensembling of DNNs", NeurIPS 2018.
  J. Frankle, G. K. Dziugaite, D. Roy, M. Carbin, "Linear mode connectivity
  and the lottery ticket hypothesis", ICML 2020.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from scipy import special

from enn_sym import _validation as _v
from enn_sym._validation import InputError

Array = jax.Array


class PathProfile(NamedTuple):
  """The loss along one path (or a stack of paths, leading axis = pair).

  Attributes:
    t: ``[..., num_points + num_refine]`` sorted path parameters.
    loss: ``[..., num_points + num_refine]`` the loss at ``t``.
    max_loss: ``[...]`` the sampled maximum (the path's saddle height).
    t_max: ``[...]`` where it is reached.
    barrier: ``[...]`` ``max_loss - max(loss(0), loss(1))``.
  """

  t: Array
  loss: Array
  max_loss: Array
  t_max: Array
  barrier: Array


def _check_batch_size(batch_size, name="batch_size"):
  if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(
      batch_size, (int, np.integer)) or batch_size < 1):
    raise InputError(f"{name} must be None (all at once) or an int >= 1; got "
                     f"{batch_size!r}.")


def _check_grid(num_points, num_refine):
  if isinstance(num_points, bool) or not isinstance(
      num_points, (int, np.integer)) or num_points < 3:
    raise InputError(f"num_points must be an int >= 3 (grid of t in [0, 1]); "
                     f"got {num_points!r}.")
  if isinstance(num_refine, bool) or not isinstance(
      num_refine, (int, np.integer)) or num_refine < 0:
    raise InputError(f"num_refine must be an int >= 0; got {num_refine!r}.")


def profile(loss_at: Callable[[Array], Array], num_points: int = 201,
            num_refine: int = 64, t_batch_size: int | None = 32
            ) -> PathProfile:
  """The :class:`PathProfile` of ``t -> loss_at(t)`` (vmapped over ``t``).

  Jittable. ``loss_at`` maps a scalar ``t`` to a scalar loss. The ``t`` are
  vmapped in chunks of ``t_batch_size`` (``None``: all at once), which bounds
  memory when the profile is itself vmapped over many pairs.
  """
  _check_grid(num_points, num_refine)
  _check_batch_size(t_batch_size, "t_batch_size")
  grid = jnp.linspace(0.0, 1.0, num_points)
  values = batched_map(loss_at, grid, t_batch_size)
  t, loss = grid, values
  if num_refine:
    k = jnp.argmax(values)
    step = 1.0 / (num_points - 1)
    lo = jnp.clip(grid[k] - step, 0.0, 1.0)
    hi = jnp.clip(grid[k] + step, 0.0, 1.0)
    # Interior points of [lo, hi] (the grid already holds lo, grid[k], hi).
    fine = lo + (hi - lo) * (jnp.arange(1, num_refine + 1) /
                             (num_refine + 1.0))
    t = jnp.concatenate([grid, fine])
    loss = jnp.concatenate([values, batched_map(loss_at, fine,
                                                t_batch_size)])
    order = jnp.argsort(t)
    t, loss = t[order], loss[order]
  i = jnp.argmax(loss)
  ends = jnp.maximum(values[0], values[-1])
  return PathProfile(t, loss, loss[i], t[i], loss[i] - ends)


def linear_path(a: Array, b: Array, t: Array) -> Array:
  """:math:`(1 - t) a + t b`."""
  return (1.0 - t) * a + t * b


def bezier_path(a: Array, b: Array, bends: Array, t: Array) -> Array:
  """The Bezier curve with ends ``a``, ``b`` and ``bends [k, D]`` at ``t``."""
  control = jnp.concatenate([a[None], bends, b[None]], axis=0)  # [n + 1, D]
  n = control.shape[0] - 1
  j = np.arange(n + 1)
  binom = jnp.asarray(special.comb(n, j), a.dtype)
  coeff = binom * (1.0 - t) ** (n - j) * t ** j  # [n + 1]
  # An elementwise weighted sum, not ``coeff @ control``: a dot runs at the
  # backend's default matmul precision (TF32 on recent GPUs, bf16 passes on
  # TPU), which would perturb every point of the curve and move the endpoints
  # off ``a`` and ``b``. At t = 0 (1) the coefficients are exactly one-hot,
  # so the sum returns ``a`` (``b``) bit for bit.
  return jnp.sum(coeff[:, None] * control, axis=0)


def linear_profile(loss_fn: Callable[[Array], Array], a: Array, b: Array,
                   num_points: int = 201, num_refine: int = 64) -> PathProfile:
  """Profile of the straight segment from ``a`` to ``b`` (jittable)."""
  return profile(lambda t: loss_fn(linear_path(a, b, t)), num_points,
                 num_refine)


def bezier_profile(loss_fn: Callable[[Array], Array], a: Array, b: Array,
                   bends: Array, num_points: int = 201,
                   num_refine: int = 64) -> PathProfile:
  """Profile of a Bezier curve (jittable)."""
  return profile(lambda t: loss_fn(bezier_path(a, b, bends, t)), num_points,
                 num_refine)


def init_bends(key: Array, a: Array, b: Array, num_bends: int,
               init_noise: float) -> Array:
  """Bends on the segment at ``j / (k + 1)`` plus noise ``init_noise |b - a|``.

  The noise has the scale of the per-coordinate distance
  ``|b - a| / sqrt(D)``.
  """
  frac = jnp.arange(1, num_bends + 1, dtype=a.dtype) / (num_bends + 1.0)
  line = a[None] + frac[:, None] * (b - a)[None]
  scale = init_noise * jnp.linalg.norm(b - a) / np.sqrt(a.shape[0])
  return line + scale * jax.random.normal(key, line.shape, a.dtype)


def fit_bezier(loss_fn: Callable[[Array], Array], a: Array, b: Array,
               key: Array, *, num_bends: int = 1, num_steps: int = 200,
               learning_rate: float = 1e-2, num_t: int = 8,
               init_noise: float = 0.0) -> tuple[Array, Array]:
  """Fits one Bezier curve; returns ``(bends [k, D], losses [steps])``.

  Jittable with ``loss_fn`` and the keyword arguments static. Minimises the
  mean loss at ``num_t`` stratified random ``t`` per step (``t_i = (i +
  u_i) / num_t``); the endpoints never move (they are not parameters).
  """
  init_key, t_key = jax.random.split(key)
  bends = init_bends(init_key, a, b, num_bends, init_noise)
  schedule = optax.cosine_decay_schedule(learning_rate, num_steps)
  opt = optax.adam(schedule)

  def curve_loss(bends, ts):
    pts = jax.vmap(lambda t: bezier_path(a, b, bends, t))(ts)
    return jnp.mean(jax.vmap(loss_fn)(pts))

  grad_fn = jax.value_and_grad(curve_loss)

  def step(carry, k):
    bends, state = carry
    u = jax.random.uniform(k, (num_t,), a.dtype)
    ts = (jnp.arange(num_t, dtype=a.dtype) + u) / num_t
    value, g = grad_fn(bends, ts)
    updates, state = opt.update(g, state, bends)
    return (optax.apply_updates(bends, updates), state), value

  (bends, _), values = jax.lax.scan(step, (bends, opt.init(bends)),
                                    jax.random.split(t_key, num_steps))
  return bends, values


def check_curve_args(num_bends, num_steps, learning_rate, num_t, init_noise):
  """Validates the curve-fitting hyperparameters (host side)."""
  if isinstance(num_bends, bool) or not isinstance(
      num_bends, (int, np.integer)) or not 1 <= num_bends <= 8:
    raise InputError(f"num_bends must be an int in [1, 8] (Bezier control "
                     f"points between the endpoints); got {num_bends!r}.")
  _v.check_positive_int(num_steps, "num_steps")
  _v.check_positive_int(num_t, "num_t")
  _v.check_scalar(learning_rate, "learning_rate", low=0.0, low_open=True)
  _v.check_scalar(init_noise, "init_noise", low=0.0)


def _check_pairs(a, b):
  a = jnp.asarray(a)
  b = jnp.asarray(b)
  if a.ndim != 2 or a.shape != b.shape:
    raise InputError(
        f"starts and ends must both have shape [pairs, D]; got "
        f"{tuple(a.shape)} and {tuple(b.shape)}.")
  return a, b


def linear_profiles(loss_fn: Callable[[Array], Array], starts: Array,
                    ends: Array, *, num_points: int = 201,
                    num_refine: int = 64,
                    batch_size: int | None = 16) -> PathProfile:
  """:func:`linear_profile` for ``[pairs, D]`` endpoints, vmapped (jitted).

  ``batch_size`` bounds how many pairs are vmapped at once (``lax.map``
  over chunks; ``None``: all), which bounds memory: the profile evaluates
  ``batch_size * 32`` parameter vectors at a time.
  """
  starts, ends = _check_pairs(starts, ends)
  _check_grid(num_points, num_refine)
  _check_batch_size(batch_size)
  return _LINEAR_MANY(loss_fn, starts, ends, num_points, num_refine, batch_size)


def batched_map(fn, xs, batch_size):
  """``vmap`` over all pairs, or over chunks of ``batch_size`` (``lax.map``)."""
  num = jax.tree.leaves(xs)[0].shape[0]
  if batch_size is None or batch_size >= num:
    return jax.vmap(fn)(xs)
  return jax.lax.map(fn, xs, batch_size=batch_size)


def _linear_many(loss_fn, starts, ends, num_points, num_refine, batch_size):
  one = lambda ab: linear_profile(loss_fn, ab[0], ab[1], num_points,
                                  num_refine)
  return batched_map(one, (starts, ends), batch_size)


def fit_bezier_pairs(loss_fn: Callable[[Array], Array], starts: Array,
                     ends: Array, key: Array, *, num_bends: int = 1,
                     num_steps: int = 200, learning_rate: float = 1e-2,
                     num_t: int = 8, init_noise: float = 0.0,
                     num_points: int = 201, num_refine: int = 64,
                     batch_size: int | None = 64, pair_ids: Any = None
                     ) -> tuple[Array, PathProfile, Array]:
  """Fits Bezier curves for ``[pairs, D]`` endpoints, vmapped (one jit).

  Pair ``p`` uses ``jax.random.fold_in(key, pair_ids[p])`` (default
  ``pair_ids = arange(pairs)``), so a pair's curve does not depend on which
  other pairs are in the batch. ``batch_size`` pairs are fitted at once
  (``None``: all); the profiles use chunks of 16 pairs. A ``loss_fn`` that is
  a ``jax.tree_util.Partial`` is passed to the jitted code as an argument
  (its bound arrays are data, so problems of the same shapes share one
  compilation); any other callable is static.

  Returns:
    ``(bends [pairs, k, D], profiles, train_losses [pairs, steps])``.
  """
  starts, ends = _check_pairs(starts, ends)
  check_curve_args(num_bends, num_steps, learning_rate, num_t, init_noise)
  _check_grid(num_points, num_refine)
  _check_batch_size(batch_size)
  ids = (np.arange(starts.shape[0]) if pair_ids is None
         else np.asarray(pair_ids))
  if ids.shape != (starts.shape[0],) or not np.issubdtype(ids.dtype,
                                                          np.integer):
    raise InputError(f"pair_ids must be [{starts.shape[0]}] integers; got "
                     f"{ids.dtype} of shape {ids.shape}.")
  keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.asarray(ids))
  return _BEZIER_MANY(loss_fn, starts, ends, keys, num_bends, num_steps,
                      float(learning_rate), num_t, float(init_noise),
                      num_points, num_refine, batch_size)


def _bezier_many(loss_fn, starts, ends, keys, num_bends, num_steps,
                 learning_rate, num_t, init_noise, num_points, num_refine,
                 batch_size):

  def one(args):
    a, b, k = args
    bends, values = fit_bezier(loss_fn, a, b, k, num_bends=num_bends,
                               num_steps=num_steps,
                               learning_rate=learning_rate, num_t=num_t,
                               init_noise=init_noise)
    return bends, values

  bends, values = batched_map(one, (starts, ends, keys), batch_size)

  def prof_one(args):
    a, b, bends = args
    return bezier_profile(loss_fn, a, b, bends, num_points, num_refine)

  profs = batched_map(prof_one, (starts, ends, bends),
                      None if batch_size is None else min(batch_size, 16))
  return bends, profs, values


class LossJit:
  """``jax.jit`` of ``fun(loss_fn, ...)`` with the loss static or as data.

  A ``loss_fn`` that is a ``jax.tree_util.Partial`` is a pytree: it is passed
  as an argument, so losses that differ only in their bound arrays (another
  data set of the same shapes) share one compilation. Any other callable is
  a static argument (one compilation per function object).
  """

  def __init__(self, fun, static_argnums):
    self._static = jax.jit(fun, static_argnums=(0,) + tuple(static_argnums))
    self._dynamic = jax.jit(fun, static_argnums=tuple(static_argnums))

  def __call__(self, loss_fn, *args):
    if isinstance(loss_fn, jax.tree_util.Partial):
      return self._dynamic(loss_fn, *args)
    return self._static(loss_fn, *args)


# Module-level jits: one compilation per (loss_fn, shapes, settings).
_LINEAR_MANY = LossJit(_linear_many, (3, 4, 5))
_BEZIER_MANY = LossJit(_bezier_many, tuple(range(4, 12)))
