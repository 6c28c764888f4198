"""VGG with batch norm (Simonyan & Zisserman 2015) as an ENN base.

Layout: images ``[batch, H, W, C]``. Each stage is ``n`` ``3x3`` conv + BN +
ReLU layers followed by a ``2x2`` max-pool; stage ``i`` has
``min(num_filters * 2**i, 8 * num_filters)`` filters (64, 128, 256, 512, 512
for VGG-16). After the last pool the activations are global-average-pooled
(for 32x32 inputs and five stages the map is 1x1, so this is the plain
flatten of the CIFAR VGG) into ``features`` ``[batch, channels]``, and a
single linear layer gives the logits (the CIFAR variant; the three-layer
ImageNet classifier is not built).

Convolutions keep their bias, as in the common PyTorch CIFAR VGG, so the
parameter count is 14,728,266 for VGG-16-BN with 10 classes (asserted in
``tests/test_image_models.py``; without conv biases it would be 14,724,042).
BatchNorm and mixed precision behave as in :mod:`enn_sym.networks._resnet`.
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array

VGG16_STAGES = (2, 2, 3, 3, 3)


class VGG(nn.Module):
  """A VGG-BN base returning ``(logits, features)``.

  Attributes:
    num_classes: number of output logits.
    stage_sizes: conv layers per stage (VGG-16: ``(2, 2, 3, 3, 3)``).
    num_filters: filters of the first stage (64 in VGG-16).
    dtype: compute dtype; parameters, logits and features are float32.
  """

  num_classes: int
  stage_sizes: Sequence[int] = VGG16_STAGES
  num_filters: int = 64
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array, *, train: bool = False) -> tuple[Array, Array]:
    if x.ndim != 4:
      raise ValueError(
          f"VGG expects images of shape [batch, height, width, channels]; "
          f"got shape {x.shape}. Add a channel axis with x[..., None].")
    h = x.astype(self.dtype)
    for i, num_convs in enumerate(self.stage_sizes):
      width = min(self.num_filters * 2 ** i, 8 * self.num_filters)
      for j in range(num_convs):
        h = nn.Conv(width, (3, 3), padding=((1, 1), (1, 1)), dtype=self.dtype,
                    param_dtype=jnp.float32,
                    kernel_init=nn.initializers.variance_scaling(
                        2.0, "fan_out", "normal"),
                    name=f"conv{i + 1}_{j + 1}")(h)
        h = nn.BatchNorm(use_running_average=not train, momentum=0.9,
                         epsilon=1e-5, dtype=self.dtype,
                         param_dtype=jnp.float32,
                         name=f"bn{i + 1}_{j + 1}")(h)
        h = nn.relu(h)
      h = nn.max_pool(h, (2, 2), strides=(2, 2), padding="SAME")
    features = jnp.mean(h.astype(jnp.float32), axis=(1, 2))
    logits = nn.Dense(self.num_classes, dtype=jnp.float32,
                      param_dtype=jnp.float32, name="classifier")(features)
    return logits, features


def vgg16(num_classes: int, *, num_filters: int = 64,
          dtype: Any = jnp.float32) -> VGG:
  """VGG-16 with batch norm and a single linear classifier."""
  return VGG(num_classes, VGG16_STAGES, num_filters, dtype)
