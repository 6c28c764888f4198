r"""Group convolutions on :math:`C_n`, ``n`` in {1, 2, 4} (p4 for n = 4).

Cohen & Welling (2016). A *p4 feature map* has shape ``[batch, H, W, C, n]``:
one planar map per channel and rotation :math:`r \in C_n`. Writing
:math:`R_r` for the counter-clockwise rotation by :math:`2\pi r/n` (a pixel
permutation, ``rot90`` by :math:`4r/n` quarter turns), rotating the input
image by :math:`R_u` transforms every feature map as

.. math:: F'(x, r) = F(R_u^{-1} x,\ r - u),

i.e. spatially rotated AND cyclically shifted along the rotation axis.

* Lifting correlation (image -> p4):
  :math:`[f \star \psi](x, r) = \sum_y f(y)\,\psi(R_r^{-1}(y - x))`, i.e. one
  ordinary correlation with the filter bank :math:`\{R_r \psi\}_r`.
* Group correlation (p4 -> p4):
  :math:`[F \star \psi](x, r) = \sum_{y, s} F(y, s)\,\psi(R_r^{-1}(y - x),\ s
  - r)`: the filter for output rotation :math:`r` is the base filter rotated
  spatially by :math:`R_r` with its input-rotation axis rolled by :math:`r`.
  Substituting :math:`y = R_u y'`, :math:`s = s' + u` proves the equivariance
  above.

Both are one ``lax.conv_general_dilated`` with the ``n`` transformed filters
stacked on the output channels (the filter bank is built once per call from
the base parameters; it is tiny). Biases are shared across rotations. Odd
kernel sizes with ``SAME`` padding pad symmetrically, which keeps the
equivariance exact up to float round-off; 2x2 pooling keeps it only on even
sizes, so :class:`P4CNN` pools only there.

References:
  T. Cohen, M. Welling, "Group equivariant convolutional networks", ICML 2016.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from enn_sym import _validation
from enn_sym.symmetry import _image_ops

Array = jax.Array

_DIMS = ("NHWC", "HWIO", "NHWC")


def _check_layer(n, kernel_size, layer: str) -> None:
  if n not in (1, 2, 4):
    raise _validation.InputError(
        f"{layer}: n must be 1, 2 or 4 (rotations by quarter turns are exact "
        f"on pixel grids); got {n!r}.")
  if (isinstance(kernel_size, bool) or not isinstance(kernel_size, int)
      or kernel_size < 1 or kernel_size % 2 == 0):
    raise _validation.InputError(
        f"{layer}: kernel_size must be an odd positive int (even kernels pad "
        f"asymmetrically and break the equivariance); got {kernel_size!r}.")


def _rotate_kernel(w: Array, r: int, n: int) -> Array:
  """Spatial rotation of a ``[k, k, ...]`` kernel by ``r`` steps of C_n."""
  return jnp.rot90(w, r * (4 // n), axes=(0, 1))


class LiftingConv(nn.Module):
  """Image ``[B, H, W, C]`` -> C_n feature map ``[B, H, W, features, n]``.

  Attributes:
    features: output channels per rotation.
    kernel_size: odd spatial size of the (square) filter.
    n: group order, 1, 2 or 4.
    use_bias: add one bias per channel (shared by the rotations).
  """

  features: int
  kernel_size: int = 5
  n: int = 4
  use_bias: bool = True

  @nn.compact
  def __call__(self, x: Array) -> Array:
    _check_layer(self.n, self.kernel_size, "LiftingConv")
    if x.ndim != 4:
      raise _validation.InputError(
          f"LiftingConv expects images [batch, height, width, channels]; got "
          f"shape {x.shape}.")
    k, cin = self.kernel_size, x.shape[-1]
    psi = self.param("kernel", nn.initializers.lecun_normal(),
                     (k, k, cin, self.features))
    bank = jnp.stack([_rotate_kernel(psi, r, self.n) for r in range(self.n)],
                     axis=-1)  # [k, k, cin, features, n]
    y = jax.lax.conv_general_dilated(
        x.astype(psi.dtype), bank.reshape(k, k, cin, self.features * self.n),
        (1, 1), "SAME", dimension_numbers=_DIMS)
    y = y.reshape(y.shape[:3] + (self.features, self.n))
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros,
                         (self.features,))[:, None]
    return y


class GroupConv(nn.Module):
  """C_n feature map ``[B, H, W, C, n]`` -> ``[B, H, W, features, n]``.

  Attributes:
    features: output channels per rotation.
    kernel_size: odd spatial size of the filter.
    n: group order, 1, 2 or 4 (must match the input's last axis).
    use_bias: one bias per channel, shared by the rotations.
  """

  features: int
  kernel_size: int = 3
  n: int = 4
  use_bias: bool = True

  @nn.compact
  def __call__(self, x: Array) -> Array:
    _check_layer(self.n, self.kernel_size, "GroupConv")
    if x.ndim != 5 or x.shape[-1] != self.n:
      raise _validation.InputError(
          f"GroupConv expects C_{self.n} feature maps [batch, height, width, "
          f"channels, {self.n}]; got shape {x.shape}.")
    k, cin, n = self.kernel_size, x.shape[-2], self.n
    psi = self.param("kernel",
                     nn.initializers.lecun_normal(in_axis=(2, 3), out_axis=4),
                     (k, k, cin, n, self.features))
    # Output rotation r: rot_r(w) with w[..., s, :] = psi[..., s - r, :].
    bank = jnp.stack([_rotate_kernel(jnp.roll(psi, r, axis=3), r, n)
                      for r in range(n)], axis=-1)  # [k, k, cin, n, f, n]
    y = jax.lax.conv_general_dilated(
        x.reshape(x.shape[:3] + (cin * n,)).astype(psi.dtype),
        bank.reshape(k, k, cin * n, self.features * n), (1, 1), "SAME",
        dimension_numbers=_DIMS)
    y = y.reshape(y.shape[:3] + (self.features, n))
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros,
                         (self.features,))[:, None]
    return y


def pool_if_even(y: Array) -> Array:
  """2x2 max pooling (stride 2) of ``[B, H, W, ...]`` when H and W are even.

  On an even size the pooling windows tile the square symmetrically, so the
  pooling commutes with quarter turns; on an odd size it would not, and the
  map is returned unchanged.
  """
  h, w = y.shape[1:3]
  if h % 2 or w % 2:
    return y
  flat = y.reshape(y.shape[:3] + (-1,))
  out = nn.max_pool(flat, (2, 2), strides=(2, 2), padding="VALID")
  return out.reshape(out.shape[:3] + y.shape[3:])


class P4CNN(nn.Module):
  r"""A rotation-invariant CNN built from p4 group convolutions.

  Lifting conv (5x5) -> ReLU -> [group conv (3x3) -> ReLU]* with 2x2 max
  pooling after each layer while the size is even -> max over the rotation
  axis (equivariant planar maps) -> mean over space (invariant) -> dense
  layers -> logits. Exactly invariant to quarter turns of square images (up
  to float round-off), by construction; returns ``(logits, features)`` like
  :mod:`enn_sym.networks` bases, so it can be an epinet base.

  Attributes:
    num_classes: number of logits.
    channels: channels per rotation of the lifting and group convs (each
      p4 layer holds 4x as many planar maps).
    dense_sizes: widths of the dense layers after the invariant pooling (the
      last is the feature).
    dropout_rate: dropout after the dense layers when ``train=True``.
  """

  num_classes: int
  channels: Sequence[int] = (8, 16)
  dense_sizes: Sequence[int] = (64,)
  dropout_rate: float = 0.0

  @nn.compact
  def __call__(self, x: Array, *, train: bool = False
               ) -> tuple[Array, Array]:
    _image_ops.check_images(x)
    if x.ndim != 4 or x.shape[1] != x.shape[2]:
      raise _validation.InputError(
          f"P4CNN expects square images [batch, height, width, channels]; got "
          f"shape {x.shape}. Add a channel axis with x[..., None].")
    if not self.channels:
      raise _validation.InputError("P4CNN needs at least one channel size.")
    h = nn.relu(LiftingConv(self.channels[0], 5)(x.astype(jnp.float32)))
    h = pool_if_even(h)
    for ch in self.channels[1:]:
      h = pool_if_even(nn.relu(GroupConv(ch, 3)(h)))
    h = jnp.max(h, axis=-1)  # Pool over rotations: [B, H, W, C].
    h = jnp.mean(h, axis=(1, 2))  # Pool over space: invariant.
    for width in self.dense_sizes:
      h = nn.relu(nn.Dense(width)(h))
      if self.dropout_rate > 0:
        h = nn.Dropout(self.dropout_rate, deterministic=not train)(h)
    return nn.Dense(self.num_classes)(h), h

