"""ResNets (He et al. 2016) as ENN bases: ``(logits, features)``.

Layout: images ``[batch, H, W, C]``. ``features`` are the global-average-pooled
activations of the last stage, ``[batch, 8 * num_filters]`` (basic blocks) or
``[batch, 32 * num_filters]`` (bottleneck blocks): the input of an epinet
head.

* **Stems.** ``stem="cifar"``: one ``3x3`` stride-1 convolution and no
  max-pool (the usual CIFAR adaptation, e.g. Mukhoti et al. 2020);
  ``stem="imagenet"``: ``7x7`` stride-2 convolution and ``3x3`` stride-2
  max-pool.
* **Blocks.** Basic (two ``3x3``) or bottleneck (``1x1``, ``3x3``, ``1x1`` with
  expansion 4); the stride of a stage is on the ``3x3`` convolution; a
  projection shortcut (``1x1`` conv + BN) wherever the shape changes.
  Convolutions have no bias (BatchNorm follows each).
* **BatchNorm.** ``train=True`` normalises with batch statistics and updates
  the ``batch_stats`` collection (momentum 0.9, epsilon 1e-5, as PyTorch's
  0.1 / 1e-5); ``train=False`` uses the running averages.
* **Mixed precision.** ``dtype`` is the compute dtype (e.g. ``bfloat16``);
  parameters stay ``float32`` (``param_dtype``), BatchNorm statistics are
  computed in float32, and the classifier runs in float32, so logits and
  features are ``float32`` whatever ``dtype`` is.

Parameter counts (10 classes, 32x32 inputs, CIFAR stem, ``num_filters=64``),
asserted in ``tests/test_image_models.py``: ResNet-18 11,173,962; ResNet-50
23,520,842 (the figures of the common PyTorch CIFAR ResNets).
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array

RESNET_STAGES = {18: ((2, 2, 2, 2), "basic"), 34: ((3, 4, 6, 3), "basic"),
                 50: ((3, 4, 6, 3), "bottleneck")}
STEMS = ("cifar", "imagenet")
BLOCKS = ("basic", "bottleneck")

_CONV_INIT = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


def _norm(train: bool, dtype: Any, name: str | None = None) -> nn.BatchNorm:
  return nn.BatchNorm(use_running_average=not train, momentum=0.9,
                      epsilon=1e-5, dtype=dtype, param_dtype=jnp.float32,
                      name=name)


def _conv(features: int, kernel: int, stride: int, dtype: Any,
          name: str | None = None) -> nn.Conv:
  return nn.Conv(features, (kernel, kernel), strides=(stride, stride),
                 padding=[(kernel // 2, kernel // 2)] * 2, use_bias=False,
                 kernel_init=_CONV_INIT, dtype=dtype, param_dtype=jnp.float32,
                 name=name)


class BasicBlock(nn.Module):
  """Two ``3x3`` conv-BN layers and a residual connection."""

  features: int
  stride: int = 1
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array, *, train: bool) -> Array:
    h = nn.relu(_norm(train, self.dtype)(
        _conv(self.features, 3, self.stride, self.dtype)(x)))
    h = _norm(train, self.dtype)(_conv(self.features, 3, 1, self.dtype)(h))
    if self.stride != 1 or x.shape[-1] != self.features:
      x = _norm(train, self.dtype, "shortcut_bn")(
          _conv(self.features, 1, self.stride, self.dtype, "shortcut")(x))
    return nn.relu(h + x)


class BottleneckBlock(nn.Module):
  """``1x1`` (reduce), ``3x3`` (stride), ``1x1`` (expand by 4), residual."""

  features: int
  stride: int = 1
  dtype: Any = jnp.float32
  expansion: int = 4

  @nn.compact
  def __call__(self, x: Array, *, train: bool) -> Array:
    out = self.features * self.expansion
    h = nn.relu(_norm(train, self.dtype)(
        _conv(self.features, 1, 1, self.dtype)(x)))
    h = nn.relu(_norm(train, self.dtype)(
        _conv(self.features, 3, self.stride, self.dtype)(h)))
    h = _norm(train, self.dtype)(_conv(out, 1, 1, self.dtype)(h))
    if self.stride != 1 or x.shape[-1] != out:
      x = _norm(train, self.dtype, "shortcut_bn")(
          _conv(out, 1, self.stride, self.dtype, "shortcut")(x))
    return nn.relu(h + x)


class ResNet(nn.Module):
  """A ResNet base returning ``(logits, features)``.

  Attributes:
    num_classes: number of output logits.
    stage_sizes: blocks per stage; stage ``i`` has ``num_filters * 2**i``
      filters and stride 2 from the second stage on.
    block: ``"basic"`` or ``"bottleneck"``.
    num_filters: filters of the stem and the first stage (64 in the
      standard models; smaller values make a narrow ResNet for tests and
      CPU studies).
    stem: ``"cifar"`` or ``"imagenet"`` (see the module docstring).
    dtype: compute dtype (``float32`` or ``bfloat16``); parameters,
      logits and features are float32.
  """

  num_classes: int
  stage_sizes: Sequence[int] = (2, 2, 2, 2)
  block: str = "basic"
  num_filters: int = 64
  stem: str = "cifar"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array, *, train: bool = False) -> tuple[Array, Array]:
    if x.ndim != 4:
      raise ValueError(
          f"ResNet expects images of shape [batch, height, width, channels]; "
          f"got shape {x.shape}. Add a channel axis with x[..., None].")
    if self.block not in BLOCKS:
      raise ValueError(f"ResNet block must be one of {BLOCKS}; got "
                       f"{self.block!r}.")
    if self.stem not in STEMS:
      raise ValueError(f"ResNet stem must be one of {STEMS}; got "
                       f"{self.stem!r}.")
    h = x.astype(self.dtype)
    if self.stem == "cifar":
      h = _conv(self.num_filters, 3, 1, self.dtype, "stem_conv")(h)
    else:
      h = _conv(self.num_filters, 7, 2, self.dtype, "stem_conv")(h)
    h = nn.relu(_norm(train, self.dtype, "stem_bn")(h))
    if self.stem == "imagenet":
      h = nn.max_pool(h, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
    block_cls = BasicBlock if self.block == "basic" else BottleneckBlock
    for i, num_blocks in enumerate(self.stage_sizes):
      for j in range(num_blocks):
        stride = 2 if i > 0 and j == 0 else 1
        h = block_cls(self.num_filters * 2 ** i, stride, dtype=self.dtype,
                      name=f"stage{i + 1}_block{j + 1}")(h, train=train)
    features = jnp.mean(h.astype(jnp.float32), axis=(1, 2))
    logits = nn.Dense(self.num_classes, dtype=jnp.float32,
                      param_dtype=jnp.float32, name="classifier")(features)
    return logits, features


def resnet18(num_classes: int, *, num_filters: int = 64, stem: str = "cifar",
             dtype: Any = jnp.float32) -> ResNet:
  """ResNet-18: basic blocks ``(2, 2, 2, 2)``."""
  return ResNet(num_classes, RESNET_STAGES[18][0], "basic", num_filters, stem,
                dtype)


def resnet50(num_classes: int, *, num_filters: int = 64, stem: str = "cifar",
             dtype: Any = jnp.float32) -> ResNet:
  """ResNet-50: bottleneck blocks ``(3, 4, 6, 3)``."""
  return ResNet(num_classes, RESNET_STAGES[50][0], "bottleneck", num_filters,
                stem, dtype)
