"""Single-prediction classification losses (one logit vector per example).

Per-example losses map ``logits [batch, classes]`` and integer ``labels
[batch]`` to ``[batch]``; :func:`soft_binned_ece` maps them to a scalar.
Everything is computed from logits through ``log_softmax`` (never ``log`` of a
probability), is jittable and differentiable, and has finite gradients for
finite logits, however confident.

Notation: ``f`` the logits of one example, ``p = softmax(f)``, ``y`` its
label, ``C`` the number of classes, ``CE = -log p_y`` and
``H(p) = -sum_j p_j log p_j`` (natural logarithms throughout).

Validation: public functions check shapes on the host (always; shapes are
static under ``jax.jit``) and values (label range and dtype, finiteness,
hyperparameter ranges) on concrete inputs; inside ``jax.jit`` the value checks
are skipped (see :mod:`enn_sym._validation`). Hyperparameters that change the
computation's structure (``num_bins``, the norm order ``p``) must be static
Python numbers.

:func:`make_loss` turns a config name and hyperparameters into a scalar
training loss ``loss(logits, labels, weights=None)``.
"""

from __future__ import annotations

import difflib
import functools
import math
import operator
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from enn_sym import _validation as _v

Array = jax.Array
LossFn = Callable[..., Array]

# Bins whose normalised soft mass is below this are treated as (numerically)
# empty in soft_binned_ece: they contribute at most this much to the sum.
_EMPTY_BIN_EPS = 1e-12


# ----------------------------------------------------------------------------
# Input handling.


def _prepare(logits: Any, labels: Any) -> tuple[Array, Array]:
  """Validates ``logits [batch, classes]`` and ``labels [batch]``."""
  _v.check_ndim(logits, 2, "logits", "[batch, classes]")
  _v.check_ndim(labels, 1, "labels", "[batch]")
  _v.check_same_leading(logits, labels, "logits", "labels")
  if np.shape(logits)[-1] < 1:
    raise _v.InputError(
        f"logits must have at least one class; got shape "
        f"{tuple(np.shape(logits))}.")
  _v.check_finite(logits, "logits")
  _v.check_labels(labels, np.shape(logits)[-1])
  logits = jnp.asarray(logits)
  if not jnp.issubdtype(logits.dtype, jnp.floating):
    logits = logits.astype(jnp.result_type(float))
  return logits, jnp.asarray(labels)


def _prepare_weights(weights: Any, batch: int, dtype: Any) -> Array:
  """``weights [batch]``: non-negative, finite (ones when ``None``)."""
  if weights is None:
    return jnp.ones((batch,), dtype)
  if np.shape(weights) != (batch,):
    raise _v.InputError(
        f"weights must have shape [batch] = ({batch},) (one non-negative "
        f"weight per example); got shape {tuple(np.shape(weights))}.")
  _v.check_finite(weights, "weights")
  if _v.is_concrete(weights):
    arr = np.asarray(weights, dtype=np.float64)
    if arr.size and arr.min() < 0:
      raise _v.InputError(
          f"weights must be non-negative (they are example counts); got "
          f"minimum {arr.min():.3g}.")
  return jnp.asarray(weights, dtype)


def _check_nonempty(logits: Array, what: str) -> None:
  if logits.shape[0] == 0:
    raise _v.InputError(
        f"logits has an empty batch (shape {tuple(logits.shape)}); {what} is "
        f"undefined for zero examples.")


def _check_num_bins(num_bins: Any) -> int:
  if isinstance(num_bins, jax.core.Tracer):
    raise _v.InputError(
        "num_bins must be a static Python int (it fixes the number of bins, "
        "a shape); got a traced value. Bind it with functools.partial instead "
        "of passing it through jax.jit.")
  if isinstance(num_bins, bool):
    raise _v.InputError(f"num_bins must be an int >= 1; got {num_bins!r}.")
  try:
    n = operator.index(num_bins)
  except TypeError:
    raise _v.InputError(
        f"num_bins must be an int >= 1; got {num_bins!r} of type "
        f"{type(num_bins).__name__}.") from None
  if n < 1:
    raise _v.InputError(f"num_bins must be an int >= 1; got {n}.")
  return n


def _check_order(p: Any, name: str = "p") -> float:
  """A static norm order ``p >= 1`` (``math.inf`` allowed).

  Returns an ``int`` for integral values (so ``x ** p`` is an integer power)
  and a ``float`` otherwise.
  """
  if isinstance(p, jax.core.Tracer) or np.ndim(p) != 0:
    raise _v.InputError(
        f"{name} must be a static Python number >= 1 (the order of a norm); "
        f"got {p!r}.")
  try:
    value = float(p)
  except (TypeError, ValueError):
    raise _v.InputError(
        f"{name} must be a number >= 1 (the order of a norm); got "
        f"{p!r}.") from None
  if math.isnan(value) or value < 1:
    raise _v.InputError(
        f"{name} must be >= 1 (the order of a norm; 1 and 2 are the usual "
        f"choices, math.inf is allowed); got {p!r}.")
  return int(value) if value.is_integer() else value


def _check_nonneg(value: Any, name: str, what: str) -> None:
  _v.check_scalar(value, name, low=0.0, hint=f" ({what})")


# ----------------------------------------------------------------------------
# Stable building blocks (no validation).


def _log_probs_and_nll(logits: Array, labels: Array) -> tuple[Array, Array]:
  """``log softmax(f)`` ``[batch, C]`` and ``-log p_y`` ``[batch]``."""
  log_probs = jax.nn.log_softmax(logits, axis=-1)
  nll = -jnp.take_along_axis(log_probs, labels[:, None], axis=-1)[:, 0]
  return log_probs, nll


def _log1m_prob(logits: Array, labels: Array) -> Array:
  """``log(1 - p_y) = logsumexp_{j != y} f_j - logsumexp_j f_j``, ``[batch]``.

  Accurate where ``log1p(-p_y)`` is not (``p_y`` rounds to 1 in float32 once
  the margin exceeds ~17) and finite for finite logits when ``C >= 2``; its
  gradient is finite because no ``log(0)`` or ``0 ** (gamma - 1)`` is formed.
  """
  is_label = labels[:, None] == jnp.arange(logits.shape[-1])
  others = jnp.where(is_label, -jnp.inf, logits)
  return (jax.nn.logsumexp(others, axis=-1)
          - jax.nn.logsumexp(logits, axis=-1))


def _confidence(logits: Array) -> Array:
  """``max_j softmax(f)_j = 1 / sum_j exp(f_j - max f)``, ``[batch]``."""
  return jnp.exp(jnp.max(jax.nn.log_softmax(logits, axis=-1), axis=-1))


def _safe_root(s: Array, p: float) -> Array:
  """``s ** (1 / p)`` for ``s >= 0`` with gradient 0 (not NaN) at ``s = 0``."""
  if p == 1:
    return s
  positive = s > 0
  safe = jnp.where(positive, s, 1.0)
  return jnp.where(positive, safe ** (1.0 / p), 0.0)


def _abs(x: Array) -> Array:
  """``|x|`` with derivative ``sign(x)``, i.e. 0 at 0 (``jnp.abs`` uses 1)."""
  return x * jax.lax.stop_gradient(jnp.sign(x))


def _lp_norm(x: Array, p: float) -> Array:
  """Row-wise ``||x||_p``; gradient 0 (a subgradient) at ``x = 0``."""
  ax = _abs(x)
  if p == 1:
    return jnp.sum(ax, axis=-1)
  if p == math.inf:
    return jnp.max(ax, axis=-1)
  # ||x||_p = m * (sum_j (|x_j| / m) ** p) ** (1/p) with m = max_j |x_j|: no
  # overflow, and the sum is in [1, C] when m > 0. At x = 0 both m and the sum
  # are replaced by 1 inside the where, so no 0 ** (1/p - 1) reaches the
  # gradient.
  m = jnp.max(ax, axis=-1, keepdims=True)
  positive = m > 0
  safe_m = jnp.where(positive, m, 1.0)
  s = jnp.sum((ax / safe_m) ** p, axis=-1, keepdims=True)
  safe_s = jnp.where(positive, s, 1.0)
  return jnp.where(positive, safe_m * safe_s ** (1.0 / p), 0.0)[..., 0]


# ----------------------------------------------------------------------------
# Jitted kernels. Public functions validate on the host and then call one of
# these, so an eager call compiles one program per input shape instead of
# dispatching (and compiling) op by op; under an outer jax.jit they are
# inlined. Hyperparameter values are traced arguments (no recompilation when
# they change); num_bins and the norm order p are static.


@jax.jit
def _ce_kernel(logits, labels, label_smoothing):
  log_probs, nll = _log_probs_and_nll(logits, labels)
  smooth = -jnp.mean(log_probs, axis=-1)
  return (1.0 - label_smoothing) * nll + label_smoothing * smooth


@jax.jit
def _focal_kernel(logits, labels, gamma):
  _, nll = _log_probs_and_nll(logits, labels)
  if logits.shape[-1] == 1:
    return nll  # p_y = 1: the loss (and its gradient) is 0.
  return jnp.exp(gamma * _log1m_prob(logits, labels)) * nll


@jax.jit
def _entropy_reg_kernel(logits, labels, alpha):
  log_probs, nll = _log_probs_and_nll(logits, labels)
  entropy = -jnp.sum(jnp.exp(log_probs) * log_probs, axis=-1)
  return nll - alpha * entropy


@functools.partial(jax.jit, static_argnames=("p",))
def _logit_norm_kernel(logits, labels, alpha, p):
  _, nll = _log_probs_and_nll(logits, labels)
  return nll + alpha * _lp_norm(logits, p)


@functools.partial(jax.jit, static_argnames=("num_bins", "p"))
def _soft_ece_kernel(logits, labels, weights, temperature, num_bins, p):
  total = jnp.sum(weights)
  weights = weights / jnp.where(total > 0, total, 1.0)  # sums to 1 (or 0)
  conf = _confidence(logits)
  correct = (jnp.argmax(logits, axis=-1) == labels).astype(conf.dtype)
  centres = (jnp.arange(num_bins, dtype=conf.dtype) + 0.5) / num_bins
  membership = jax.nn.softmax(
      -jnp.square(conf[:, None] - centres) / temperature, axis=-1)
  wu = weights[:, None] * membership  # [batch, M]
  mass = jnp.sum(wu, axis=0)  # S_b / sum_i w_i
  gap = jnp.sum(wu * (correct - conf)[:, None], axis=0)  # mass * (A_b - C_b)
  diff = gap / jnp.maximum(mass, _EMPTY_BIN_EPS)  # A_b - C_b
  return _safe_root(jnp.sum(mass * _abs(diff) ** p), p)


# ----------------------------------------------------------------------------
# Per-example losses.


def cross_entropy(logits: Any, labels: Any, *,
                  label_smoothing: Any = 0.0) -> Array:
  r"""Softmax cross-entropy with optional label smoothing, per example.

  With smoothing ``eps`` the target is ``q = (1 - eps) onehot(y) + eps / C``:

      loss = -sum_j q_j log p_j
           = (1 - eps) (-log p_y) + eps * mean_j(-log p_j).

  ``eps = 0`` gives exactly ``-log p_y``.

  References:
    Szegedy et al. 2016, "Rethinking the Inception Architecture for Computer
    Vision" (label smoothing); Muller, Kornblith & Hinton 2019, "When does
    label smoothing help?".

  Args:
    logits: ``[batch, classes]`` unnormalised log-probabilities.
    labels: ``[batch]`` integer class ids in ``[0, classes)``.
    label_smoothing: ``eps`` in ``[0, 1]``.

  Returns:
    ``[batch]`` losses.

  Raises:
    ValueError: on bad shapes, labels or ``label_smoothing`` (concrete
      values only for the value checks).
  """
  logits, labels = _prepare(logits, labels)
  _v.check_scalar(label_smoothing, "label_smoothing", low=0.0, high=1.0)
  return _ce_kernel(logits, labels, label_smoothing)


def focal_loss(logits: Any, labels: Any, *, gamma: Any = 2.0) -> Array:
  r"""Focal loss, per example.

      FL_gamma = -(1 - p_y) ** gamma * log p_y.

  The modulating factor is computed as ``exp(gamma * log(1 - p_y))`` with
  ``log(1 - p_y)`` taken from logits (:func:`_log1m_prob`), so

  * ``gamma = 0`` gives the cross-entropy exactly (``exp(0) = 1``; the
    ``0 ** 0`` of a confident example never arises);
  * the gradient is finite for every finite logit vector and every
    ``gamma >= 0``, including ``0 < gamma < 1`` at ``p_y`` ~ 1 where
    ``d/dp (1 - p) ** gamma`` is infinite (the naive ``(1 - p) ** gamma``
    gives ``0 * inf = NaN`` there).

  With one class ``p_y = 1`` and the loss is 0.

  Bound: ``FL_gamma >= CE - gamma * H2(p_y) >= CE - gamma * H(p)`` for every
  ``gamma >= 0``, with ``H2`` the binary entropy. Mukhoti et al. 2020 prove
  the outer bound for ``gamma >= 1`` from Bernoulli's
  ``(1 - p)^gamma >= 1 - gamma p``, which fails for ``0 < gamma < 1``. For all
  ``gamma >= 0``, with ``q = 1 - p_y``, ``a = -log p_y``, ``b = -log q``:
  ``1 - q^gamma = 1 - exp(-gamma b) <= gamma b``, so ``FL - CE >= -gamma a b``;
  ``a b <= p_y a + q b = H2(p_y)`` (equivalently ``p_y / b + q / a >= 1``,
  true as ``b <= p_y / q`` and ``a <= q / p_y``); and ``H2(p_y) <= H(p)`` by
  the grouping rule.

  References:
    Lin, Goyal, Girshick, He & Dollar 2017, "Focal Loss for Dense Object
    Detection"; Mukhoti et al. 2020, "Calibrating Deep Neural Networks using
    Focal Loss".

  Args:
    logits: ``[batch, classes]``.
    labels: ``[batch]`` integer class ids.
    gamma: focusing parameter, ``>= 0``.

  Returns:
    ``[batch]`` losses.

  Raises:
    ValueError: on bad shapes, labels or a negative ``gamma``.
  """
  logits, labels = _prepare(logits, labels)
  _check_nonneg(gamma, "gamma", "the focusing parameter; gamma = 0 is CE")
  return _focal_kernel(logits, labels, gamma)


def entropy_regularized_ce(logits: Any, labels: Any, *,
                           alpha: Any = 0.1) -> Array:
  r"""Cross-entropy with a confidence penalty, per example.

      loss = -log p_y - alpha * H(p),   H(p) = -sum_j p_j log p_j.

  ``alpha = 0`` is CE exactly. A negative ``alpha`` (entropy *minimisation*)
  is rejected: it pushes towards over-confidence, the opposite of this loss.

  Reference:
    Pereyra, Tucker, Chorowski, Kaiser & Hinton 2017, "Regularizing Neural
    Networks by Penalizing Confident Output Distributions".

  Args:
    logits: ``[batch, classes]``.
    labels: ``[batch]`` integer class ids.
    alpha: penalty strength, ``>= 0``.

  Returns:
    ``[batch]`` losses.

  Raises:
    ValueError: on bad shapes, labels or a negative ``alpha``.
  """
  logits, labels = _prepare(logits, labels)
  _check_nonneg(alpha, "alpha", "the confidence-penalty strength")
  return _entropy_reg_kernel(logits, labels, alpha)


def logit_norm_penalty_ce(logits: Any, labels: Any, *, alpha: Any = 0.01,
                          p: Any = 1) -> Array:
  r"""Cross-entropy plus a penalty on the size of the logits, per example.

      loss = -log p_y + alpha * ||f||_p,
      ||f||_p = (sum_j |f_j| ** p) ** (1 / p)   (max_j |f_j| for p = inf).

  The norm is of the raw logits (not centred). Its gradient at ``f = 0`` is
  taken as 0 (a subgradient; the naive formula gives NaN for ``p > 1``).
  ``alpha = 0`` is CE exactly.

  Reference:
    Dauphin & Cubuk 2021, "Deconstructing the Regularization of BatchNorm"
    (the logit penalty, there with the squared L2 norm); compared in
    Kornblith et al. 2021, "Why Do Better Loss Functions Lead to Less
    Transferable Features?". The unsquared L_p norm with L1 as the default is
    this library's variant.

  Args:
    logits: ``[batch, classes]``.
    labels: ``[batch]`` integer class ids.
    alpha: penalty strength, ``>= 0`` (a negative value makes the loss
      unbounded below).
    p: static norm order ``>= 1`` (1, 2, ..., or ``math.inf``).

  Returns:
    ``[batch]`` losses.

  Raises:
    ValueError: on bad shapes, labels, a negative ``alpha`` or ``p < 1``.
  """
  logits, labels = _prepare(logits, labels)
  _check_nonneg(alpha, "alpha", "the logit-norm penalty strength; a negative "
                "value makes the loss unbounded below")
  return _logit_norm_kernel(logits, labels, alpha, _check_order(p))


# ----------------------------------------------------------------------------
# Batch-level calibration objective.


def soft_binned_ece(logits: Any, labels: Any, *, num_bins: int = 15,
                    temperature: Any = 0.01, weights: Any = None,
                    p: Any = 2) -> Array:
  r"""Soft-binned expected calibration error (SB-ECE_p) of a batch.

  With confidence ``c_i = max_j p_ij``, correctness ``a_i = 1[argmax_j f_ij =
  y_i]`` (hard 0/1; ties go to the lowest class id), example weights ``w_i``
  and ``M`` bins with centres ``xi_b = (b + 1/2) / M``:

      u_b(c) = softmax_b(-(c - xi_b) ** 2 / temperature)    (soft membership)
      S_b    = sum_i w_i u_b(c_i)                           (soft bin mass)
      A_b    = sum_i w_i u_b(c_i) a_i / S_b,  C_b = sum_i w_i u_b(c_i) c_i / S_b
      SB-ECE_p = (sum_b (S_b / sum_i w_i) |A_b - C_b| ** p) ** (1 / p).

  Gradients flow through ``c_i`` and ``u_b(c_i)``, not through ``a_i``. As
  ``temperature -> 0`` the membership becomes the nearest-centre (equal-width)
  bin, so SB-ECE_1 tends to the usual binned ECE. The value lies in ``[0, 1]``.

  Numerics: ``A_b - C_b`` is ``sum_i w_i u_b(c_i) (a_i - c_i) / S_b`` with
  ``S_b`` (after normalising the weights to sum 1) clamped below at 1e-12;
  since ``|A_b - C_b| <= 1`` such a bin contributes at most 1e-12, and no
  ``0 / 0`` reaches the value or the gradient. The outer ``1/p``-th root has
  gradient 0 (not NaN) where the sum is exactly 0.

  Weights are soft counts: integer weights equal repeating examples, scaling
  all weights changes nothing, a weight of 0 removes the example.

  Reference:
    Karandikar, Cain, Tran, Lakshminarayanan, Shlens, Mozer & Roelofs 2021,
    "Soft Calibration Objectives for Neural Networks" (NeurIPS). Hard binned
    ECE: Naeini, Cooper & Hauskrecht 2015; Guo, Pleiss, Sun & Weinberger 2017.

  Args:
    logits: ``[batch, classes]`` with ``batch >= 1``.
    labels: ``[batch]`` integer class ids.
    num_bins: static ``M >= 1``.
    temperature: ``> 0``; smaller is closer to hard binning (and less smooth).
    weights: optional ``[batch]`` non-negative weights with a positive sum
      (ones when ``None``). Under ``jax.jit`` an all-zero weight vector gives 0.
    p: static order ``>= 1`` of the calibration error.

  Returns:
    A scalar.

  Raises:
    ValueError: on bad shapes or labels, an empty batch, ``num_bins < 1``,
      ``temperature <= 0``, ``p < 1`` or bad weights.
  """
  logits, labels = _prepare(logits, labels)
  _check_nonempty(logits, "the calibration error")
  num_bins = _check_num_bins(num_bins)
  _v.check_scalar(temperature, "temperature", low=0.0, low_open=True,
                  hint=" (the softness of the bin membership)")
  order = _check_order(p)
  weights = _prepare_weights(weights, logits.shape[0], logits.dtype)
  if _v.is_concrete(weights) and not float(jnp.sum(weights)) > 0:
    raise _v.InputError(
        "weights must have a positive sum (at least one example counted); "
        "got all zeros.")
  return _soft_ece_kernel(logits, labels, weights, temperature,
                          num_bins=num_bins, p=order)


# ----------------------------------------------------------------------------
# Registry.


def _ce_plus_soft_ece_terms(logits, labels, weights, *, lam, num_bins,
                            temperature):
  ce = cross_entropy(logits, labels)
  ece = soft_binned_ece(logits, labels, num_bins=num_bins,
                        temperature=temperature, weights=weights)
  return jnp.mean(weights * ce) + lam * ece


# name -> (per-example loss or None, default hyperparameters)
_REGISTRY: Mapping[str, tuple[LossFn | None, Mapping[str, Any]]] = {
    "ce": (cross_entropy, {}),
    "label_smoothing": (cross_entropy, {"label_smoothing": 0.1}),
    "focal": (focal_loss, {"gamma": 2.0}),
    "entropy_reg": (entropy_regularized_ce, {"alpha": 0.1}),
    "logit_norm": (logit_norm_penalty_ce, {"alpha": 0.01, "p": 1}),
    "ce+soft_ece": (None, {"lam": 1.0, "num_bins": 15, "temperature": 0.01}),
}

LOSS_NAMES: tuple[str, ...] = tuple(_REGISTRY)

_HPARAM_CHECKS: Mapping[str, Callable[[Any], Any]] = {
    "label_smoothing": lambda v: _v.check_scalar(
        v, "label_smoothing", low=0.0, high=1.0),
    "gamma": lambda v: _check_nonneg(v, "gamma", "the focusing parameter"),
    "alpha": lambda v: _check_nonneg(v, "alpha", "the penalty strength"),
    "p": _check_order,
    "lam": lambda v: _check_nonneg(v, "lam", "the weight of the soft-ECE "
                                   "term"),
    "num_bins": _check_num_bins,
    "temperature": lambda v: _v.check_scalar(
        v, "temperature", low=0.0, low_open=True),
}


def _suggest(word: str, options: tuple[str, ...]) -> str:
  close = difflib.get_close_matches(word, options, n=1)
  return f" (did you mean {close[0]!r}?)" if close else ""


def make_loss(name: str, **hparams: Any) -> Callable[..., Array]:
  r"""A scalar training loss ``loss(logits, labels, weights=None)`` by name.

  ``loss`` returns the weighted mean of the per-example loss,

      loss = (1 / batch) sum_i w_i l_i     (= mean(weights * per_example)),

  with ``w = 1`` when ``weights`` is ``None``. This is *not* normalised by
  ``sum_i w_i``: bootstrap weights (e.g. Poisson(1) or multinomial counts)
  have mean 1, so on average it is the plain mean, and a weight of 0 drops an
  example while keeping the scale of the loss fixed. For ``"ce+soft_ece"``
  the loss is ``mean(w * CE) + lam * soft_binned_ece(..., weights=w)``: the
  weights enter the soft-ECE term as soft counts (p = 2 there), so there
  they must not all be 0.

  Names and hyperparameters (defaults in brackets):

  * ``"ce"``: none.
  * ``"label_smoothing"``: ``label_smoothing`` [0.1].
  * ``"focal"``: ``gamma`` [2.0].
  * ``"entropy_reg"``: ``alpha`` [0.1].
  * ``"logit_norm"``: ``alpha`` [0.01], ``p`` [1].
  * ``"ce+soft_ece"``: ``lam`` [1.0], ``num_bins`` [15],
    ``temperature`` [0.01].

  Hyperparameter values are validated here, inputs at each call; ``loss`` is
  jittable and differentiable in ``logits``.

  Args:
    name: one of :data:`LOSS_NAMES`.
    **hparams: hyperparameters of that loss (others are an error).

  Returns:
    ``loss(logits [batch, C], labels [batch], weights [batch] | None) ->
    scalar``.

  Raises:
    ValueError: for an unknown name, an unknown or misspelled hyperparameter,
      or an out-of-range value.
  """
  if not isinstance(name, str) or name not in _REGISTRY:
    hint = _suggest(name, LOSS_NAMES) if isinstance(name, str) else ""
    raise _v.InputError(
        f"Unknown loss name {name!r}{hint}; valid names: {LOSS_NAMES}.")
  per_example, defaults = _REGISTRY[name]
  valid = tuple(defaults)
  unknown = [k for k in hparams if k not in defaults]
  if unknown:
    hints = "".join(_suggest(k, valid) for k in unknown[:1])
    accepted = (f"valid hyperparameters: {valid}" if valid else
                "it takes no hyperparameters")
    raise _v.InputError(
        f"make_loss({name!r}) got unknown hyperparameter(s) "
        f"{tuple(unknown)}{hints}; {accepted}.")
  hp = {**defaults, **hparams}
  for key, value in hp.items():
    _HPARAM_CHECKS[key](value)

  def loss(logits: Any, labels: Any, weights: Any = None) -> Array:
    logits, labels = _prepare(logits, labels)
    _check_nonempty(logits, "the mean loss")
    w = _prepare_weights(weights, logits.shape[0], logits.dtype)
    if per_example is None:
      return _ce_plus_soft_ece_terms(logits, labels, w, **hp)
    return jnp.mean(w * per_example(logits, labels, **hp))

  loss.__name__ = f"{name.replace('+', '_plus_')}_loss"
  loss.__qualname__ = loss.__name__
  loss.__doc__ = (f"make_loss({name!r}) with {dict(hp)}: "
                  f"mean(weights * per_example_loss).")
  return loss
