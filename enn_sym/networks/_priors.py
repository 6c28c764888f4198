"""Fixed random prior functions and the prior registry.

A prior is a linen module with ``__call__(x, z) -> logits [batch, classes]``
for ONE index ``z`` of shape ``[index_dim]``. Its weights are drawn once at
``init`` and then frozen: the ENN stores them in the ``prior`` variable
collection, which the optimizer and weight decay never see, and the prior's
output enters the predictions through ``stop_gradient``.

Built-in priors are ensembles of ``index_dim`` small random functions combined
linearly in ``z``: ``prior(x, z) = sum_i z_i f_i(x)`` (Osband et al. 2023, the
epinet prior). Linearity in ``z`` makes the expensive part (the ``f_i(x)``)
independent of the index, so under ``vmap`` over ``K`` indices it runs once.
For a deep ensemble, ``z = one_hot(member)`` selects member ``i``'s own prior.

Registering a new prior::

  @register_prior("my_prior")
  def make_my_prior(num_classes, index_dim, **kwargs):
    return MyPriorModule(num_classes=num_classes, index_dim=index_dim, **kwargs)

and select it in a config with ``prior="my_prior"``.
"""

from __future__ import annotations

import inspect
from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
PriorFactory = Callable[..., nn.Module]

_REGISTRY: dict[str, PriorFactory] = {}


def register_prior(name: str, *, overwrite: bool = False):
  """Decorator that registers ``factory(num_classes, index_dim, **kw)``."""

  def decorator(factory: PriorFactory) -> PriorFactory:
    if name in _REGISTRY and not overwrite:
      raise ValueError(
          f"A prior named {name!r} is already registered; pick another name "
          f"or pass overwrite=True.")
    _REGISTRY[name] = factory
    return factory

  return decorator


def list_priors() -> tuple[str, ...]:
  return tuple(sorted(_REGISTRY))


def get_prior(name: str) -> PriorFactory:
  try:
    return _REGISTRY[name]
  except KeyError:
    raise ValueError(
        f"Unknown prior {name!r}; registered priors: {list(list_priors())}. "
        f"Register a new one with @enn_sym.register_prior({name!r}).") from None


def make_prior(name: str, *, num_classes: int, index_dim: int,
               **kwargs) -> nn.Module:
  """Builds a registered prior, checking ``kwargs`` against its signature."""
  factory = get_prior(name)
  params = inspect.signature(factory).parameters
  takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
  if not takes_any:
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
      valid = sorted(set(params) - {"num_classes", "index_dim"})
      raise ValueError(
          f"Prior {name!r} got unknown option(s) {unknown}; valid options: "
          f"{valid}.")
  return factory(num_classes=num_classes, index_dim=index_dim, **kwargs)


def _check_index(z: Array, index_dim: int) -> None:
  if z.shape != (index_dim,):
    raise ValueError(
        f"A prior takes one index z of shape [index_dim] = ({index_dim},); got "
        f"shape {z.shape}. For K indices vmap over z (EpistemicNetwork."
        f"apply_multi does this).")


class EnsembleDense(nn.Module):
  """``E`` independent dense layers: ``[B, E, in] -> [B, E, out]``.

  With ``shared_input=True`` the input is ``[B, in]`` and is fed to every
  member (the first layer of an ensemble). Kernels are truncated normal with
  variance ``1 / fan_in`` per member (the member axis is a batch axis of the
  initialiser; before version 0.1.1 it was counted into the fan-in, which
  shrank every kernel by ``1/sqrt(num_members)``); biases are ``N(0, bias_std^2)`` (zero when
  ``bias_std == 0``, the default).
  """

  num_members: int
  features: int
  shared_input: bool = False
  bias_std: float = 0.0

  @nn.compact
  def __call__(self, h: Array) -> Array:
    fan_in = h.shape[-1]
    kernel = self.param(
        "kernel", nn.initializers.variance_scaling(1.0, "fan_in",
                                                   "truncated_normal",
                                                   in_axis=1, out_axis=2,
                                                   batch_axis=(0,)),
        (self.num_members, fan_in, self.features))
    bias_init = (nn.initializers.normal(stddev=self.bias_std)
                 if self.bias_std > 0 else nn.initializers.zeros)
    bias = self.param("bias", bias_init, (self.num_members, self.features))
    if self.shared_input:
      return jnp.einsum("bi,eio->beo", h, kernel) + bias
    return jnp.einsum("bei,eio->beo", h, kernel) + bias


def mlp_prior_second_moment(num_hidden_layers: int, index_dim: int,
                            input_second_moment: float = 1.0) -> float:
  """Target ``E[(f_1(x, z) - f_0(x, z))^2]`` of a zero-bias ``mlp_ensemble``
  prior with ``z ~ N(0, I_index_dim)`` (the epinet's Gaussian index).

  With kernels of variance ``1/fan_in`` and zero biases, each ReLU layer
  halves the second moment of a symmetric pre-activation and each linear
  layer keeps it (in expectation over the weights), so every output logit of
  every member has ``E[g_c(x)^2] = m (1/2)^L`` for ``L`` hidden layers and
  inputs with ``E[|x|^2] / dim = m``. The difference of two independent
  logits doubles it and ``sum_k z_k g_k`` multiplies it by ``E|z|^2 =
  index_dim``: the target is ``2 * index_dim * m / 2^L``. Multiply by
  ``prior_scale^2`` for the scaled prior; for a one-hot ensemble index use
  ``index_dim = 1``.
  """
  return 2.0 * index_dim * input_second_moment * 0.5 ** num_hidden_layers


class MLPEnsemblePrior(nn.Module):
  """``sum_i z_i f_i(x)`` with ``f_i`` random ReLU MLPs on flattened ``x``.

  Scale set on purpose: kernels have variance ``1/fan_in`` and all biases are
  zero by default, as in the epinet prior of the Neural Testbed (reference
  sheet ``neural_testbed.md`` §5.2: zero-bias prior MLPs), so the root mean
  square of a prior logit difference is ``sqrt(mlp_prior_second_moment(L,
  index_dim))`` (2.83 for one hidden layer and ``index_dim = 8``, 2.0 for
  two: second moments 8 and 4) and it varies with ``x`` rather than being a per-function constant.
  ``bias_std`` draws the biases of the later layers from ``N(0,
  bias_std^2)``, ``input_bias_std`` (default: ``bias_std``) those of the
  first layer. Up to version 0.1.0 every bias was ``N(0, 1)`` (reachable as
  ``bias_std=1.0``): on the testbed's (5, 5) prior that made the logit
  differences mostly constant in ``x`` with 2-3x the target spread.
  """

  num_classes: int
  index_dim: int
  hidden_sizes: Sequence[int] = (10,)
  bias_std: float = 0.0
  input_bias_std: float | None = None

  @nn.compact
  def __call__(self, x: Array, z: Array) -> Array:
    _check_index(z, self.index_dim)
    h = x.reshape((x.shape[0], -1)).astype(jnp.float32)
    first_std = (self.bias_std if self.input_bias_std is None
                 else self.input_bias_std)
    shared = True
    for width in self.hidden_sizes:
      std = first_std if shared else self.bias_std
      h = nn.relu(EnsembleDense(self.index_dim, width, shared_input=shared,
                                bias_std=std)(h))
      shared = False
    std = first_std if shared else self.bias_std
    out = EnsembleDense(self.index_dim, self.num_classes,
                        shared_input=shared, bias_std=std)(h)
    return jnp.einsum("bec,e->bc", out, z)


class _SmallConvNet(nn.Module):
  num_classes: int
  channels: Sequence[int]

  @nn.compact
  def __call__(self, x: Array) -> Array:
    h = x
    for ch in self.channels:
      h = nn.relu(nn.Conv(ch, (3, 3), strides=(2, 2), padding="SAME")(h))
    h = jnp.mean(h, axis=(1, 2))
    return nn.Dense(self.num_classes,
                    bias_init=nn.initializers.normal(1.0))(h)


class ConvEnsemblePrior(nn.Module):
  """``sum_i z_i f_i(x)`` with ``f_i`` small random conv nets on images."""

  num_classes: int
  index_dim: int
  channels: Sequence[int] = (4, 8)

  @nn.compact
  def __call__(self, x: Array, z: Array) -> Array:
    _check_index(z, self.index_dim)
    if x.ndim != 4:
      raise ValueError(
          f"The conv_ensemble prior needs images [batch, H, W, C]; got shape "
          f"{x.shape}. Use the mlp_ensemble prior for vector inputs.")
    members = nn.vmap(
        _SmallConvNet, variable_axes={"params": 0},
        split_rngs={"params": True}, in_axes=None, out_axes=1,
        axis_size=self.index_dim)(self.num_classes, tuple(self.channels))
    out = members(x.astype(jnp.float32))  # [B, E, C]
    return jnp.einsum("bec,e->bc", out, z)


class RandomFeaturePrior(nn.Module):
  """Random Fourier features ``phi(x) = sqrt(2/F) cos(W x + b)`` (an RBF-kernel
  GP sample when ``F`` is large), read out per index: ``sum_i z_i R_i phi(x)``.
  """

  num_classes: int
  index_dim: int
  num_features: int = 256
  lengthscale: float = 1.0

  @nn.compact
  def __call__(self, x: Array, z: Array) -> Array:
    _check_index(z, self.index_dim)
    h = x.reshape((x.shape[0], -1)).astype(jnp.float32)
    d = h.shape[-1]
    w = self.param("w", nn.initializers.normal(1.0 / self.lengthscale),
                   (d, self.num_features))
    b = self.param("b", nn.initializers.uniform(2 * np.pi),
                   (self.num_features,))
    phi = np.sqrt(2.0 / self.num_features) * jnp.cos(h @ w / np.sqrt(d) + b)
    readout = self.param("readout", nn.initializers.normal(1.0),
                         (self.index_dim, self.num_features, self.num_classes))
    return jnp.einsum("bf,efc,e->bc", phi, readout, z)


@register_prior("mlp_ensemble")
def _make_mlp_ensemble(num_classes: int, index_dim: int,
                       hidden_sizes: Sequence[int] = (10,),
                       bias_std: float = 0.0,
                       input_bias_std: float | None = None) -> nn.Module:
  for name, value in (("bias_std", bias_std),
                      ("input_bias_std", input_bias_std)):
    if value is not None and not value >= 0:
      raise ValueError(f"mlp_ensemble prior: {name} must be >= 0; got "
                       f"{value!r}.")
  return MLPEnsemblePrior(num_classes, index_dim, tuple(hidden_sizes),
                          float(bias_std), input_bias_std)


@register_prior("conv_ensemble")
def _make_conv_ensemble(num_classes: int, index_dim: int,
                        channels: Sequence[int] = (4, 8)) -> nn.Module:
  return ConvEnsemblePrior(num_classes, index_dim, tuple(channels))


@register_prior("random_features")
def _make_random_features(num_classes: int, index_dim: int,
                          num_features: int = 256,
                          lengthscale: float = 1.0) -> nn.Module:
  return RandomFeaturePrior(num_classes, index_dim, num_features, lengthscale)


class MLPEnsemblePriorV010(nn.Module):
  """The ``mlp_ensemble`` prior as initialised up to version 0.1.0.

  Kept only to reproduce old numbers (``prior="mlp_ensemble_v0_1_0"``):
  kernels of variance ``1 / (index_dim * fan_in)`` (the member axis counted
  into the fan-in) and every bias ``N(0, 1)``, so the output is dominated by
  a per-function constant. Do not use it for new work.
  """

  num_classes: int
  index_dim: int
  hidden_sizes: Sequence[int] = (10,)

  @nn.compact
  def __call__(self, x: Array, z: Array) -> Array:
    _check_index(z, self.index_dim)
    h = x.reshape((x.shape[0], -1)).astype(jnp.float32)
    kernel_init = nn.initializers.variance_scaling(
        1.0, "fan_in", "truncated_normal", in_axis=1, out_axis=2)
    widths = [h.shape[-1], *self.hidden_sizes, self.num_classes]
    for i, (fan_in, width) in enumerate(zip(widths[:-1], widths[1:])):
      kernel = self.param(f"kernel_{i}", kernel_init,
                          (self.index_dim, fan_in, width))
      bias = self.param(f"bias_{i}", nn.initializers.normal(1.0),
                        (self.index_dim, width))
      spec = "bi,eio->beo" if i == 0 else "bei,eio->beo"
      h = jnp.einsum(spec, h, kernel) + bias
      if i < len(widths) - 2:
        h = nn.relu(h)
    return jnp.einsum("bec,e->bc", h, z)


@register_prior("mlp_ensemble_v0_1_0")
def _make_mlp_ensemble_v010(num_classes: int, index_dim: int,
                            hidden_sizes: Sequence[int] = (10,)
                            ) -> nn.Module:
  return MLPEnsemblePriorV010(num_classes, index_dim, tuple(hidden_sizes))
