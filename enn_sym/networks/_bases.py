"""Base networks. Every base returns ``(logits, features)``.

``features`` are the penultimate activations ``[batch, feature_dim]``: the input
of the epinet head. ``train`` switches dropout (and, in bases that have it,
BatchNorm) to training mode; dropout draws from the ``'dropout'`` RNG stream.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

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
