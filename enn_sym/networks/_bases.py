"""Base networks. Every base returns ``(logits, features)``.

``features`` are the penultimate activations ``[batch, feature_dim]``: the input
of the epinet head. ``train`` switches dropout (and, in bases that have it,
BatchNorm) to training mode; dropout draws from the ``'dropout'`` RNG stream.

Registry: config files select bases by name (``config.model.base``).
:func:`register_base` adds one, so a new base is one module plus one
decorator::

  @register_base("my_net", inputs="image")
  def make_my_net(num_classes, *, dropout_rate=0.0, width=32):
    return MyNet(num_classes, width, dropout_rate)

``config.model.base = "my_net"`` then builds it with the options in
``config.model.base_kwargs`` (``{"width": 64}``).
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from enn_sym import _registry
from enn_sym import _validation

Array = jax.Array


class MLP(nn.Module):
  """Fully connected ReLU network on flattened inputs.

  Attributes:
    num_classes: number of output logits.
    hidden_sizes: widths of the hidden layers (the last one is the feature).
    dropout_rate: dropout after every hidden layer when ``train=True``.
  """

  num_classes: int
  hidden_sizes: Sequence[int] = (50, 50)
  dropout_rate: float = 0.0

  @nn.compact
  def __call__(self, x: Array, *, train: bool = False) -> tuple[Array, Array]:
    h = x.reshape((x.shape[0], -1)).astype(jnp.float32)
    for width in self.hidden_sizes:
      h = nn.relu(nn.Dense(width)(h))
      if self.dropout_rate > 0:
        h = nn.Dropout(self.dropout_rate, deterministic=not train)(h)
    return nn.Dense(self.num_classes)(h), h


class LeNet(nn.Module):
  """LeNet-style CNN for ``[batch, H, W, C]`` images.

  Two ``5x5`` convolutions (``SAME`` padding, so 8x8 digits work too), each
  followed by ReLU and ``2x2`` max pooling, then dense layers.
  """

  num_classes: int
  channels: Sequence[int] = (6, 16)
  dense_sizes: Sequence[int] = (120, 84)
  dropout_rate: float = 0.0

  @nn.compact
  def __call__(self, x: Array, *, train: bool = False) -> tuple[Array, Array]:
    if x.ndim != 4:
      raise ValueError(
          f"LeNet expects images of shape [batch, height, width, channels]; "
          f"got shape {x.shape}. Add a channel axis with x[..., None].")
    h = x.astype(jnp.float32)
    for ch in self.channels:
      h = nn.relu(nn.Conv(ch, (5, 5), padding="SAME")(h))
      h = nn.max_pool(h, (2, 2), strides=(2, 2), padding="SAME")
    h = h.reshape((h.shape[0], -1))
    for width in self.dense_sizes:
      h = nn.relu(nn.Dense(width)(h))
      if self.dropout_rate > 0:
        h = nn.Dropout(self.dropout_rate, deterministic=not train)(h)
    return nn.Dense(self.num_classes)(h), h


def split_base_output(out) -> tuple[Array, Array]:
  """``(logits, features)`` from a base's output.

  A base that returns a bare array is treated as returning its logits, which
  then double as features (documented fallback for user networks).
  """
  if isinstance(out, (tuple, list)) and len(out) == 2:
    return out[0], out[1]
  if isinstance(out, jax.Array):
    return out, out
  raise TypeError(
      "A base network must return (logits, features) or a logits array; got "
      f"{type(out).__name__}.")


# ---------------------------------------------------------------------------
# The registry of bases selectable by name (config.model.base).

BASE_INPUTS = ("image", "points", "any")
_BASES = _registry.Registry("base", "enn_sym.networks.register_base")


def register_base(name: str, *, inputs: str = "any", overwrite: bool = False):
  """Decorator that registers ``factory(num_classes, *, dropout_rate, **kw)``.

  The factory returns a linen module ``(x, *, train=False) -> (logits,
  features)`` (or bare logits, see :func:`split_base_output`). After
  ``import``-ing the module that registers it (``config.imports`` on the
  command line), ``config.model.base = name`` selects it and
  ``config.model.base_kwargs`` holds its options (checked against the
  factory's signature).

  Args:
    name: the config name.
    inputs: what the base takes: ``"image"`` (``[batch, H, W, C]``),
      ``"points"`` (point clouds ``[batch, N, 3]``) or ``"any"``; config
      validation matches it to the data.
    overwrite: replace an existing registration instead of raising.
  """
  if inputs not in BASE_INPUTS:
    raise _validation.InputError(
        f"register_base({name!r}): inputs must be one of {list(BASE_INPUTS)};"
        f" got {inputs!r}.")
  return _BASES.register(name, overwrite=overwrite, inputs=inputs)


def list_bases() -> tuple[str, ...]:
  """The registered base names, sorted (built-ins included)."""
  return _BASES.names()


def base_inputs(name: str) -> str:
  """What the base registered as ``name`` takes: image, points or any."""
  return _BASES.info(name)["inputs"]


def base_options(name: str) -> tuple[str, ...]:
  """The options (keyword arguments) the factory of ``name`` accepts."""
  params = inspect.signature(_BASES.get(name)).parameters
  return tuple(p for p in params if p not in ("num_classes", "dropout_rate")
               and params[p].kind not in (params[p].VAR_POSITIONAL,
                                          params[p].VAR_KEYWORD))


def check_base_options(name: str, options: dict[str, Any]) -> None:
  """Raises :class:`InputError` naming options that ``name`` does not take."""
  params = inspect.signature(_BASES.get(name)).parameters
  if any(p.kind is p.VAR_KEYWORD for p in params.values()):
    return
  unknown = sorted(set(options) - set(base_options(name)))
  if unknown:
    raise _validation.InputError(
        f"Base {name!r} got unknown option(s) {unknown}; valid options: "
        f"{list(base_options(name))}.")


def make_base(name: str, num_classes: int, *, dropout_rate: float = 0.0,
              **options) -> nn.Module:
  """Builds the registered base ``name`` (options checked first)."""
  check_base_options(name, options)
  return _BASES.get(name)(num_classes, dropout_rate=dropout_rate, **options)


def _builtin(name: str, inputs: str) -> Callable:
  return register_base(name, inputs=inputs)


@_builtin("mlp", "any")
def _make_mlp(num_classes, *, dropout_rate=0.0, hidden_sizes=(50, 50)):
  return MLP(num_classes, tuple(hidden_sizes), dropout_rate)


@_builtin("lenet", "image")
def _make_lenet(num_classes, *, dropout_rate=0.0, channels=(6, 16),
                dense_sizes=(120, 84)):
  return LeNet(num_classes, tuple(channels), tuple(dense_sizes), dropout_rate)


# The other built-ins live in modules that import this one; their factories
# import them when called. The training pipeline builds all built-ins from
# their own config fields (config.model.*), and user bases through
# make_base with config.model.base_kwargs.
@_builtin("p4cnn", "image")
def _make_p4cnn(num_classes, *, dropout_rate=0.0, channels=(8, 16)):
  from enn_sym.symmetry import _p4  # pylint: disable=g-import-not-at-top
  return _p4.P4CNN(num_classes, tuple(channels), dropout_rate=dropout_rate)


@_builtin("vn_mlp", "points")
def _make_vn_mlp(num_classes, *, dropout_rate=0.0, hidden_sizes=(32, 32),
                 chiral=False):
  del dropout_rate
  from enn_sym.symmetry import _vector_neurons  # pylint: disable=g-import-not-at-top
  return _vector_neurons.VNMLPClassifier(num_classes, tuple(hidden_sizes),
                                         chiral=chiral)


def _image_model(name):
  def make(num_classes, *, dropout_rate=0.0, num_filters=64, stage_sizes=(),
           stem="cifar", dtype=jnp.float32):
    del dropout_rate
    from enn_sym.networks import _resnet, _vgg  # pylint: disable=g-import-not-at-top
    if name == "vgg16":
      return _vgg.VGG(num_classes, tuple(stage_sizes) or _vgg.VGG16_STAGES,
                      num_filters, dtype)
    default_sizes, block = _resnet.RESNET_STAGES[int(name[len("resnet"):])]
    return _resnet.ResNet(num_classes, tuple(stage_sizes) or default_sizes,
                          block, num_filters, stem, dtype)
  return make


for _name in ("resnet18", "resnet50", "vgg16"):
  _builtin(_name, "image")(_image_model(_name))
