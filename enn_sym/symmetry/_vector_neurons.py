"""Vector neurons (Deng et al. 2021): O(3)-equivariant layers for point clouds.

A vector-neuron feature is a list of ``C`` 3D vectors, an array
``V = [..., C, 3]`` (the last axis is the spatial one). A rotation or
reflection :math:`Q \\in O(3)` acts on every vector, :math:`V \\mapsto V Q^\\top`
(``jnp.einsum('...ci,ji->...cj', V, Q)``). A layer :math:`f` is *equivariant*
when :math:`f(V Q^\\top) = f(V) Q^\\top` and *invariant* when
:math:`f(V Q^\\top) = f(V)`.

Which group, layer by layer (the whole point of this module):

* :class:`VNLinear`: O(3)-equivariant (indeed equivariant under every 3x3
  matrix acting on the spatial axis): :math:`W (V Q^\\top) = (W V) Q^\\top`,
  no bias.
* :class:`VNLeakyReLU`: O(3)-equivariant; it only uses
  :math:`\\langle q, k\\rangle` and :math:`\\|k\\|`, which no orthogonal Q
  changes.
* :class:`VNBatchNorm`: O(3)-equivariant in train and eval mode; it rescales
  vectors by functions of their (invariant) norms.
* :func:`vn_mean_pool`: O(3)-equivariant (linear).
* :func:`vn_max_pool`, :class:`VNMaxPool`: O(3)-equivariant except at ties
  (selection by an O(3)-invariant score, discontinuous where two points tie).
* :class:`VNInvariant`: O(3)-invariant (:math:`V T^\\top` with an equivariant
  frame T). With ``chiral=True`` its extra feature is a pseudo-scalar:
  SO(3)-invariant, sign-flipped by reflections.
* :class:`VNMLPClassifier`: O(3)-invariant; with ``chiral=True``
  SO(3)-invariant only.

Chirality. Linear maps and the VN nonlinearities commute with every orthogonal
Q, reflections included, and the invariant layer :math:`V T^\\top` is
O(3)-invariant. A VN network built from them alone therefore gives *identical*
outputs on a shape and on its mirror image: it cannot tell the two members of a
chiral pair apart (e.g. the two chiral tetris shapes, see
``enn_sym.data._pointsets``). This is a property of the architecture, not of
training. ``chiral=True`` adds one *pseudo-scalar* to the invariant features,
the normalised triple product of the learned frame
:math:`T = (t_1, t_2, t_3)`,

.. math::
   s(V) = \\frac{\\det T}{(\\|T\\|_F^2 / 3)^{3/2} + \\epsilon}
        = \\frac{t_1 \\cdot (t_2 \\times t_3)}{(\\|T\\|_F^2 / 3)^{3/2} + \\epsilon}
   \\in [-1, 1],

with :math:`s(V Q^\\top) = \\det(Q)\\, s(V)`: invariant under rotations,
sign-flipped under reflections. The classifier then is SO(3)- but not
O(3)-invariant and can separate mirror images. Any O(3)-odd invariant vanishes
on an *achiral* input (its mirror image is a rotated copy, so
:math:`s = -s = 0`; e.g. six of the eight tetris shapes) and on degenerate
frames (planar inputs): the extra feature only carries information about
handedness, which is exactly what the non-chiral network lacks.

Numerics. Equivariance is exact in exact arithmetic; in float32 the error is
rounding. The tests bound it by 1e-5 relative to the output scale for every
layer and by 5e-5 for the composed classifier: the VN-LeakyReLU projection
onto :math:`k / \\|k\\|` is ill-conditioned when a learned direction
:math:`k` is short, which amplifies rounding (checked against float64). One
genuine exception: VN max pooling selects the point with the largest invariant
score, and when two points tie (symmetric inputs, e.g. a square) rounding may
select a different one after a rotation. The classifier's default readout
pools invariant *scalars* and has no such discontinuity.

Layout: features are ``[..., C, 3]`` (channels, then space), points (when
there are any) on an earlier axis, ``[B, N, C, 3]``; the reference PyTorch
code uses ``[B, C, 3, N]``.

References:
  C. Deng, O. Litany, Y. Duan, A. Poulenard, A. Tagliasacchi, L. Guibas,
  "Vector Neurons: a general framework for SO(3)-equivariant networks",
  ICCV 2021. arXiv:2104.12229.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from enn_sym._validation import InputError

Array = jax.Array

POOLINGS = ("mean", "max")


def _check_vectors(v: Array, name: str = "v", min_ndim: int = 2) -> None:
  if v.ndim < min_ndim or v.shape[-1] != 3:
    raise InputError(
        f"{name} must be vector-neuron features of shape [..., channels, 3] "
        f"(at least {min_ndim} axes, last axis 3); got shape {tuple(v.shape)}.")


def _dot(a: Array, b: Array, keepdims: bool = False) -> Array:
  return jnp.sum(a * b, axis=-1, keepdims=keepdims)


def triple_product(t: Array) -> Array:
  """``det`` of frames ``[..., 3, 3]`` with rows ``t_1, t_2, t_3``.

  :math:`\\det T = t_1 \\cdot (t_2 \\times t_3)`.

  A pseudo-scalar: :math:`\\det(T Q^\\top) = \\det(T) \\det(Q)`.
  """
  return _dot(t[..., 0, :], jnp.cross(t[..., 1, :], t[..., 2, :]))


def normalized_triple_product(t: Array, eps: float = 1e-6) -> Array:
  """Scale-free pseudo-scalar of frames ``[..., 3, 3]``, in ``[-1, 1]``.

  .. math::
     s(T) = \\frac{\\det T}{(\\|T\\|_F^2 / 3)^{3/2} + \\epsilon}.

  :math:`|\\det T| \\le \\prod_j \\|t_j\\| \\le (\\|T\\|_F^2/3)^{3/2}`
  (Hadamard, then AM-GM), so :math:`|s| \\le 1`, with equality for a scaled
  orthogonal frame. :math:`s(T Q^\\top) = \\det(Q)\\, s(T)`. Normalising by
  the Frobenius norm rather than by :math:`\\prod_j \\|t_j\\|` keeps ``s``
  small (instead of ill-conditioned) when one frame vector is nearly zero.
  """
  scale = (jnp.sum(t * t, axis=(-2, -1)) / 3.0) ** 1.5
  return triple_product(t) / (scale + eps)


class VNLinear(nn.Module):
  """Channel mixing :math:`V' = W V`, ``[..., C, 3] -> [..., features, 3]``.

  :math:`W \\in \\mathbb{R}^{C' \\times C}` acts on the channel axis only and
  there is no bias (a bias vector would not rotate with the input), so
  :math:`W (V A) = (W V) A` for every 3x3 matrix :math:`A`: equivariant under
  O(3) and indeed GL(3).

  Attributes:
    features: number of output channels :math:`C'`.
    kernel_init: initializer of the ``kernel`` ``[C, C']`` (fan-in ``C``).
  """

  features: int
  kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()

  @nn.compact
  def __call__(self, v: Array) -> Array:
    _check_vectors(v)
    kernel = self.param("kernel", self.kernel_init,
                        (v.shape[-2], self.features), jnp.float32)
    return jnp.einsum("...ci,cd->...di", v, kernel.astype(v.dtype))


class VNLeakyReLU(nn.Module):
  """VN leaky ReLU with a learned direction (Deng et al. 2021, sec. 3.2).

  For each channel, with input :math:`q` and learned direction
  :math:`k = U V` (:math:`U \\in \\mathbb{R}^{C \\times C}`, or
  :math:`\\mathbb{R}^{1 \\times C}` with ``share_direction``):

  .. math::
     q' = \\begin{cases} q & \\langle q, k\\rangle \\ge 0 \\\\
          q - \\dfrac{\\langle q, k\\rangle}{\\|k\\|^2 + \\epsilon}\\, k
          & \\text{otherwise} \\end{cases},
     \\qquad
     \\mathrm{out} = \\alpha\\, q + (1 - \\alpha)\\, q',

  i.e. a vector pointing into the half-space :math:`\\langle\\cdot, k\\rangle < 0`
  is projected onto the plane orthogonal to :math:`k` (the ReLU), then mixed
  with the identity by the negative slope :math:`\\alpha`. The output is
  continuous in :math:`V` (the two branches agree at
  :math:`\\langle q, k\\rangle = 0`) and O(3)-equivariant. As in the reference
  implementation, :math:`q = V` (the layer does not include a linear map;
  precede it with :class:`VNLinear`).

  Attributes:
    negative_slope: :math:`\\alpha`; ``0`` is the VN-ReLU.
    share_direction: one direction per example shared by all channels.
    eps: :math:`\\epsilon` in the squared norm of :math:`k`.
  """

  negative_slope: float = 0.2
  share_direction: bool = False
  eps: float = 1e-6

  @nn.compact
  def __call__(self, v: Array) -> Array:
    _check_vectors(v)
    num_dirs = 1 if self.share_direction else v.shape[-2]
    k = VNLinear(num_dirs, name="direction")(v)
    dot = _dot(v, k, keepdims=True)
    k_sq = _dot(k, k, keepdims=True)
    projected = v - (dot / (k_sq + self.eps)) * k
    relu = jnp.where(dot >= 0, v, projected)
    return self.negative_slope * v + (1.0 - self.negative_slope) * relu


def vn_norm(v: Array, eps: float = 1e-8) -> Array:
  """Smoothed norms :math:`\\sqrt{\\|v\\|^2 + \\epsilon}`, ``[..., C, 3]`` to ``[..., C]``.

  The :math:`\\epsilon` keeps the gradient finite at :math:`v = 0`.
  """
  return jnp.sqrt(_dot(v, v) + eps)


class VNBatchNorm(nn.Module):
  """Norm-based batch norm (Deng et al. 2021, sec. 3.3).

  The per-channel norms :math:`n = \\|v\\|` (``[..., C]``) are batch-normalised
  with ordinary BatchNorm (statistics over every axis but the channel axis,
  running averages in the ``batch_stats`` collection, learned affine
  ``scale``/``bias``), and each vector is rescaled to its new norm:
  :math:`v' = v\\, \\mathrm{BN}(n) / n`. Norms and their batch statistics are
  O(3)-invariant, so the layer is O(3)-equivariant in both modes. (A negative
  ``BN(n)`` flips the vector, which is still equivariant.)

  Attributes:
    momentum: running-average momentum (flax convention, 0.99).
    epsilon: BatchNorm variance epsilon.
    norm_eps: :math:`\\epsilon` of :func:`vn_norm`.
  """

  momentum: float = 0.99
  epsilon: float = 1e-5
  norm_eps: float = 1e-8

  @nn.compact
  def __call__(self, v: Array, *, train: bool = False) -> Array:
    _check_vectors(v)
    norm = vn_norm(v, self.norm_eps)
    normed = nn.BatchNorm(use_running_average=not train, momentum=self.momentum,
                          epsilon=self.epsilon, name="bn")(norm)
    return v * (normed / norm)[..., None]


def _point_axis(v: Array, axis: int) -> int:
  # The point axis must come before the channel and spatial axes.
  ax = axis + v.ndim if axis < 0 else axis
  if not 0 <= ax < v.ndim - 2:
    raise InputError(
        f"the point axis ({axis}) must be a batch axis of features "
        f"[..., points, channels, 3] (before the last two axes); got features "
        f"of shape {tuple(v.shape)}.")
  return ax


def vn_mean_pool(v: Array, axis: int = -3) -> Array:
  """Mean over the point axis: ``[..., N, C, 3] -> [..., C, 3]`` (equivariant)."""
  _check_vectors(v, min_ndim=3)
  return jnp.mean(v, axis=_point_axis(v, axis))


def vn_max_pool(v: Array, directions: Array, axis: int = -3) -> Array:
  """Max pooling by a direction (Deng et al. 2021, sec. 3.4).

  For each channel ``c`` it returns the point's vector :math:`v_{n^*, c}` with
  :math:`n^* = \\arg\\max_n \\langle v_{n,c}, k_{n,c}\\rangle` (the first one on
  ties). The score is O(3)-invariant when ``directions`` are equivariant, so
  the selection commutes with rotations, up to rounding at (near-)ties.

  Args:
    v: ``[..., N, C, 3]``.
    directions: ``k``, broadcastable to ``v`` (e.g. ``VNLinear(C)(v)``).
    axis: the point axis of ``v``.

  Returns:
    ``[..., C, 3]``.
  """
  _check_vectors(v, min_ndim=3)
  ax = _point_axis(v, axis)
  scores = _dot(v, jnp.broadcast_to(directions, v.shape))  # [..., N, C]
  idx = jnp.argmax(scores, axis=ax, keepdims=True)[..., None]
  shape = list(v.shape)
  shape[ax] = 1
  picked = jnp.take_along_axis(v, jnp.broadcast_to(idx, shape), axis=ax)
  return jnp.squeeze(picked, axis=ax)


class VNMaxPool(nn.Module):
  """:func:`vn_max_pool` with a learned direction :math:`k = W V`.

  The selection is piecewise constant in the direction weights, so they get
  zero gradient (as in the reference implementation).
  """

  axis: int = -3

  @nn.compact
  def __call__(self, v: Array) -> Array:
    _check_vectors(v, min_ndim=3)
    k = VNLinear(v.shape[-2], name="direction")(v)
    return vn_max_pool(v, k, axis=self.axis)


class VNInvariant(nn.Module):
  """Invariant features from a learned equivariant frame (Deng et al., sec. 3.5).

  :math:`T = \\mathrm{VNLinear}(3)(V) \\in \\mathbb{R}^{3 \\times 3}` per example
  (three equivariant vectors, the rows), and the invariant features are
  :math:`V T^\\top \\in \\mathbb{R}^{C \\times 3}` (the coordinates of every
  channel in the frame), flattened to ``[..., 3 C]``:
  :math:`(V Q^\\top)(T Q^\\top)^\\top = V T^\\top` for every orthogonal Q, so
  these are O(3)-invariant.

  ``chiral=True`` appends the pseudo-scalar
  :math:`\\det T / ((\\|T\\|_F^2/3)^{3/2} + \\epsilon)` (``[..., 3 C + 1]``,
  :func:`normalized_triple_product`),
  which is SO(3)-invariant and changes sign under reflections (module
  docstring).

  Attributes:
    chiral: add the pseudo-scalar feature.
    eps: :math:`\\epsilon` in its denominator.
  """

  chiral: bool = False
  eps: float = 1e-6

  @nn.compact
  def __call__(self, v: Array) -> Array:
    _check_vectors(v)
    t = VNLinear(3, name="frame")(v)  # [..., 3, 3], rows t_1, t_2, t_3.
    inv = jnp.einsum("...ci,...ji->...cj", v, t)
    feats = inv.reshape(inv.shape[:-2] + (inv.shape[-2] * 3,))
    if self.chiral:
      s = normalized_triple_product(t, self.eps)
      feats = jnp.concatenate([feats, s[..., None]], axis=-1)
    return feats


def as_point_cloud(x: Array) -> Array:
  """``[batch, N, 3]`` float32 from ``[batch, N, 3]`` or ``[batch, N, 3, 1]``.

  The second form is how the input pipeline delivers point clouds (its batches
  are rank 4; see ``enn_sym.data._pointsets``).
  """
  x = jnp.asarray(x)
  if x.ndim == 4 and x.shape[-2:] == (3, 1):
    x = x[..., 0]
  if x.ndim != 3 or x.shape[-1] != 3:
    raise InputError(
        f"point clouds must have shape [batch, points, 3] (or [batch, points, "
        f"3, 1] from the input pipeline); got shape {tuple(x.shape)}.")
  return x.astype(jnp.float32)


def lift_points(x: Array) -> Array:
  """Per-point vector features ``[B, N, 2, 3]`` of clouds ``[B, N, 3]``.

  Channel 1 is the centred point :math:`p_i = x_i - \\bar x`; channel 2 is
  :math:`\\Sigma p_i` with :math:`\\Sigma = \\frac1N \\sum_j p_j p_j^\\top`
  the cloud's covariance. Both are O(3)-equivariant
  (:math:`\\Sigma \\mapsto Q \\Sigma Q^\\top`) and translation invariant.

  Why two channels: the VN layers are per point and positively homogeneous,
  so from the single channel :math:`p_i` every feature of point ``i`` stays a
  fixed multiple of :math:`p_i` and the mean pool of a centred cloud is
  exactly zero. :math:`\\Sigma p_i` gives each point a view of the whole
  cloud without a kNN graph.
  """
  p = x - jnp.mean(x, axis=1, keepdims=True)
  cov = jnp.einsum("bni,bnj->bij", p, p) / x.shape[1]
  return jnp.stack([p, jnp.einsum("bij,bnj->bni", cov, p)], axis=2)


READOUTS = ("invariant_then_pool", "pool_then_invariant")


class VNMLPClassifier(nn.Module):
  """A VN-MLP (PointNet-style, no kNN) point-cloud classifier; an ENN base.

  Architecture, for a batch of clouds ``x: [B, N, 3]`` (or ``[B, N, 3, 1]``):

  1. Lift every point to two vector channels, :math:`x_i - \\bar x` and
     :math:`\\Sigma (x_i - \\bar x)` (covariance; :func:`lift_points`):
     ``[B, N, 2, 3]``. No kNN graph.
  2. For each width in ``hidden``: (from the second layer on, with
     ``global_context``, append the point-mean of the current features as
     extra channels to every point, the global feature of VN-PointNet) then
     :class:`VNLinear` -> (:class:`VNBatchNorm` if ``batch_norm``) ->
     :class:`VNLeakyReLU`, applied to every point.
  3. Readout to invariant features ``[B, F]``:

     * ``'invariant_then_pool'`` (default, as in the reference VN-PointNet
       classifier): append the point-mean of the features to every point,
       apply :class:`VNInvariant` to every point (``[B, N, 2C * 3 (+1)]``) and
       pool these *scalars* over points (``pooling='mean'`` or ``'max'``; an
       ordinary max of invariants, exact and without tie problems).
     * ``'pool_then_invariant'``: pool the *vectors* over points
       (:func:`vn_mean_pool` or :class:`VNMaxPool`) to ``[B, C, 3]``, then one
       :class:`VNInvariant`. Caveat: a pooled vector is an O(3)-equivariant
       vector of the cloud, and a centrally symmetric cloud (:math:`X = -X`,
       e.g. the tetris square, line and zigzag) only has the zero vector, so
       all such clouds get the *same* features (exactly zero). Kept for
       comparison; prefer the default.
  4. An ordinary ReLU MLP head (``head_hidden``) and a Dense layer to logits.

  Returns ``(logits [B, num_classes], features)`` where ``features`` is the
  last head activation (the invariant features when ``head_hidden`` is
  empty), so it can be the base of ``enn_sym.networks.make_epinet``.

  Symmetry: invariant to translations and to permutations of the points, and
  O(3)-invariant (so blind to mirror images) unless ``chiral=True``, which
  makes it SO(3)-invariant only (the pseudo-scalar of :class:`VNInvariant`,
  per point or pooled; with ``pooling='mean'`` the pooled pseudo-scalar flips
  sign under reflections, with ``'max'`` it becomes :math:`-\\min_i s_i`).
  Exact up to rounding, except ``'pool_then_invariant'`` with
  ``pooling='max'`` (VN max pool; ties on symmetric clouds). Note that
  an epinet with ``include_inputs=True`` or a prior that sees raw coordinates
  is not invariant even when this base is.

  Attributes:
    num_classes: number of logits.
    hidden: VN channel widths of the per-point layers.
    head_hidden: widths of the invariant ReLU head.
    pooling: ``'mean'`` or ``'max'``.
    readout: ``'invariant_then_pool'`` or ``'pool_then_invariant'``.
    chiral: add the pseudo-scalar (SO(3)- but not O(3)-invariant).
    negative_slope: of every :class:`VNLeakyReLU`.
    share_direction: of every :class:`VNLeakyReLU`.
    batch_norm: add :class:`VNBatchNorm` after every :class:`VNLinear`
      (training mode with ``train=True``; needs ``mutable=['batch_stats']``).
    global_context: append the point-mean features from the second layer on.
  """

  num_classes: int
  hidden: Sequence[int] = (32, 32)
  head_hidden: Sequence[int] = (64,)
  pooling: str = "mean"
  readout: str = "invariant_then_pool"
  chiral: bool = False
  negative_slope: float = 0.2
  share_direction: bool = False
  batch_norm: bool = False
  global_context: bool = True

  @nn.compact
  def __call__(self, x: Array, *, train: bool = False) -> tuple[Array, Array]:
    if self.pooling not in POOLINGS:
      raise InputError(
          f"pooling must be one of {POOLINGS}; got {self.pooling!r}.")
    if self.readout not in READOUTS:
      raise InputError(
          f"readout must be one of {READOUTS}; got {self.readout!r}.")
    if not self.hidden:
      raise InputError("hidden must list at least one VN layer width.")
    x = as_point_cloud(x)
    h = lift_points(x)  # [B, N, 2, 3]
    for i, width in enumerate(self.hidden):
      if self.global_context and i > 0:
        h = _with_point_mean(h)
      h = VNLinear(width, name=f"linear_{i}")(h)
      if self.batch_norm:
        h = VNBatchNorm(name=f"batch_norm_{i}")(h, train=train)
      h = VNLeakyReLU(self.negative_slope, self.share_direction,
                      name=f"leaky_relu_{i}")(h)
    invariant = VNInvariant(chiral=self.chiral, name="invariant")
    if self.readout == "invariant_then_pool":
      f = invariant(_with_point_mean(h))  # [B, N, F]
      f = jnp.mean(f, axis=1) if self.pooling == "mean" else jnp.max(f, axis=1)
    else:
      if self.pooling == "mean":
        pooled = vn_mean_pool(h, axis=1)
      else:
        pooled = VNMaxPool(axis=1, name="max_pool")(h)
      f = invariant(pooled)  # [B, F]
    for j, width in enumerate(self.head_hidden):
      f = nn.relu(nn.Dense(width, name=f"head_{j}")(f))
    return nn.Dense(self.num_classes, name="logits")(f), f


def _with_point_mean(h: Array) -> Array:
  """``[B, N, C, 3] -> [B, N, 2C, 3]``: every point gets the point-mean too."""
  g = jnp.broadcast_to(jnp.mean(h, axis=1, keepdims=True), h.shape)
  return jnp.concatenate([h, g], axis=-2)
