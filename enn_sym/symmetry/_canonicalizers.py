r"""Canonicalizers: equivariant maps from inputs to group elements.

A canonicalizer is a map :math:`h: X \to G` with :math:`h(g x) = g\,h(x)`.
Then :math:`c(x) = h(x)^{-1} x` is invariant,
:math:`c(gx) = h(x)^{-1} g^{-1} g x = c(x)`, and any network applied to
:math:`c(x)` is invariant (:class:`enn_sym.symmetry.Canonicalized`). A
canonicalizer here is a linen module returning :class:`Canonicalization`
``(inputs, elements, scores)`` = (:math:`c(x)`, :math:`h(x)`, the scores of a
learned canonicalizer or ``None``).

Learned, :math:`C_n` on images (:class:`CnCanonicalizer`; Kaba et al. 2023,
Mondal et al. 2023). A small group-convolution network (lifting conv with
rot90-rotated filters, optional p4 group convs, spatial mean pooling, a
channel readout shared by the rotations) gives one score per element,
:math:`s(R_u x)_r = s(x)_{r - u}` (rotating the input cyclically shifts the
scores), so :math:`h(x) = \arg\max_r s(x)_r` is equivariant. Limited to
``n`` in {1, 2, 4}: other angles would need interpolated filters, whose
equivariance is only approximate, and then :math:`h` is not equivariant
exactly. ``argmax`` has no gradient; the canonical input is computed with a
straight-through estimator

.. math:: w = \mathrm{onehot}(\arg\max s) + \sigma(s/\tau) -
   \mathrm{sg}[\sigma(s/\tau)],\qquad c(x) = \sum_k w_k\, k^{-1} x,

whose forward value is exactly :math:`h(x)^{-1} x` and whose gradient is
that of the softmax-weighted mixture of the :math:`|G|` canonical candidates.
:func:`canonicalization_prior_loss` (cross-entropy of the scores towards the
identity, Mondal et al. 2023) is added to the training loss with a weight so
that upright training data stays upright (the downstream network then sees
its usual pose).

Closed form, SO(3)/O(3) on point clouds (:class:`PCACanonicalizer`). With
the centred covariance :math:`C = \frac1N\sum_n (p_n - \bar p)(p_n - \bar
p)^\top` and its eigenvectors :math:`v_1, v_2, v_3` by decreasing eigenvalue,
:math:`C(Rx) = R\,C(x)\,R^\top` maps eigenvectors to :math:`R v_i` up to
sign. The sign of each axis is fixed by the third moment :math:`m_i =
\sum_n ((p_n - \bar p)\cdot v_i)^3`: :math:`v_i \leftarrow
\mathrm{sign}(m_i)\, v_i` (:math:`+1` if :math:`m_i = 0`), which is invariant
because :math:`(Rp \cdot Rv)^3 = (p \cdot v)^3`. For O(3) the frame is
:math:`F = [v_1, v_2, v_3]` (:math:`\det F = \pm 1`); for SO(3) the third
axis is :math:`v_3 = v_1 \times v_2` (so :math:`\det F = +1` and
:math:`R v_1 \times R v_2 = R(v_1 \times v_2)` for :math:`R \in SO(3)`).
Then :math:`h(x) = F` and :math:`c(x) = x F` (points in frame coordinates).

What is guaranteed, exactly:

* :class:`PCACanonicalizer` is invariant (:math:`c(Rx) = c(x)`) when the
  three eigenvalues are distinct (SO(3): :math:`\lambda_1 > \lambda_2 >
  \lambda_3`) and the third moments used for the signs are non-zero
  (:math:`m_1, m_2` for SO(3); all three for O(3)). If two eigenvalues
  coincide, the eigenvectors of that eigenspace are not determined (``eigh``
  returns an arbitrary basis of it) and nothing is guaranteed; if some
  :math:`m_i = 0` (e.g. a cloud symmetric under the reflection along
  :math:`v_i`), the sign is decided by round-off and the output can flip
  between two poses. Near these sets the float32 error grows like
  :math:`\varepsilon\,\|C\|/\mathrm{gap}` and like :math:`\varepsilon/|m_i|`.
* :class:`~enn_sym.symmetry.FrameAveraged` (Puny et al. 2022) averages over
  all sign choices (4 frames with :math:`\det = +1` for SO(3), 8 for O(3)),
  a set that is equivariant whenever the eigenvalues are distinct, whatever
  the third moments are. It is therefore invariant on every cloud with
  distinct eigenvalues, including sign-ambiguous (reflection-symmetric) ones,
  but it still has no guarantee when eigenvalues coincide (the frame is then a
  continuum that 4 or 8 samples do not cover).

References:
  S.-O. Kaba, A. K. Mondal, Y. Zhang, Y. Bengio, S. Ravanbakhsh,
  "Equivariance with learned canonicalization functions", ICML 2023.
  A. K. Mondal, S. S. Panigrahi, S.-O. Kaba, S. Rajeswar, S. Ravanbakhsh,
  "Equivariant adaptation of large pretrained models", NeurIPS 2023.
  O. Puny, M. Atzmon, H. Ben-Hamu, I. Misra, A. Grover, E. J. Smith,
  Y. Lipman, "Frame averaging for invariant and equivariant network design",
  ICLR 2022.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from enn_sym import _validation
from enn_sym.symmetry import _groups
from enn_sym.symmetry import _p4

Array = jax.Array
_HIGHEST = jax.lax.Precision.HIGHEST


class Canonicalization(NamedTuple):
  """Output of a canonicalizer for a batch.

  Attributes:
    inputs: the canonical inputs :math:`h(x)^{-1} x`, shape of ``x``.
    elements: :math:`h(x)`, one element code per example (``[batch]`` ints
      for :math:`C_n`, ``[batch, 3, 3]`` frames for SO(3)/O(3)).
    scores: ``[batch, |G|]`` element scores (learned canonicalizers; columns
      in ``group.elements()`` order), or ``None``.
  """

  inputs: Array
  elements: Array
  scores: Array | None = None


def straight_through_weights(scores: Array, temperature: float = 1.0
                             ) -> Array:
  r"""``onehot(argmax s) + softmax(s/tau) - stop_gradient(softmax(s/tau))``.

  The forward value is exactly the one-hot of the argmax (the softmax terms
  cancel to exact zeros); the gradient is that of ``softmax(s / tau)``.
  """
  soft = jax.nn.softmax(scores / temperature, axis=-1)
  hard = jax.nn.one_hot(jnp.argmax(scores, axis=-1), scores.shape[-1],
                        dtype=soft.dtype)
  return hard + (soft - jax.lax.stop_gradient(soft))


def canonicalization_prior_loss(scores: Array, identity_index: int = 0
                                ) -> Array:
  r"""Mean cross-entropy of the scores towards the identity element.

  :math:`-\frac1B \sum_b \log \mathrm{softmax}(s_b)_{e}` (Mondal et al.
  2023): pulls the canonical pose of the training data towards the identity,
  so a downstream network sees inputs in their usual orientation. Add it to
  the training loss with a weight (e.g. 0.1 to 1).

  Args:
    scores: ``[batch, |G|]`` canonicalizer scores (``Canonicalization.scores``,
      sown by ``Canonicalized`` as ``intermediates``).
    identity_index: column of the identity (0 for every built-in group).

  Returns:
    a scalar.
  """
  _validation.check_ndim(scores, 2, "scores", "[batch, group_order]")
  order = np.shape(scores)[-1]
  if not 0 <= identity_index < order:
    raise _validation.InputError(
        f"identity_index must be in [0, {order}) (the score columns); got "
        f"{identity_index!r}.")
  logp = jax.nn.log_softmax(scores.astype(jnp.float32), axis=-1)
  return -jnp.mean(logp[:, identity_index])


def _canonical_mixture(group, x: Array, weights: Array) -> Array:
  """``sum_k w_k act(k^{-1}, x)`` over the elements ``k`` (exact for one-hot).

  Elementwise products and an unrolled sum of ``|G|`` terms: no matmul, so
  the one-hot forward pass is exact on every backend (``1 * c + 0 * c'``),
  and no reduction over a leading axis, which XLA:CPU runs ~100x slower than
  the same adds fused elementwise.
  """
  codes = group._codes()  # pylint: disable=protected-access
  inv = np.asarray(group.inverse(codes))
  orbit = group.orbit(x)  # [G, B, ...], orbit[j] = act(codes[j], x).
  position = {int(c): j for j, c in enumerate(codes)}
  w = weights.astype(orbit.dtype).reshape(
      weights.shape + (1,) * (x.ndim - 1))
  out = None
  for k, g_inv in enumerate(inv):
    term = w[:, k] * orbit[position[int(g_inv)]]
    out = term if out is None else out + term
  return out


def _block_mean(x: Array, d: int) -> Array:
  """Mean over ``d x d`` blocks of ``[B, H, W, C]`` (H, W divisible by d).

  Written as ``d^2`` strided slices added elementwise, which XLA:CPU runs
  ~10x faster than ``avg_pool``'s reduce-window.
  """
  total = None
  for i in range(d):
    for j in range(d):
      part = x[:, i::d, j::d]
      total = part if total is None else total + part
  return total / (d * d)


class CnCanonicalizer(nn.Module):
  r"""Learned canonicalizer for :math:`C_n` (n in {1, 2, 4}) on images.

  Score network: optional ``downsample`` x ``downsample`` average pooling
  (equivariant when the size is divisible) -> lifting conv with the filter
  rotated ``n`` ways -> ReLU -> [2x2 max pool if even -> group conv 3x3 ->
  ReLU]* -> spatial mean -> a channel readout shared by the rotations ->
  ``[batch, n]`` scores. See the module docstring for the equivariance and
  the straight-through estimator.

  Attributes:
    group: a :class:`CyclicGroup` with ``n`` in {1, 2, 4}.
    channels: channels per rotation of the lifting conv and the group convs.
    kernel_size: odd size of the lifting filter.
    downsample: average-pooling factor applied first (1 = none); the image
      size must be divisible by it.
    temperature: softmax temperature of the straight-through surrogate.
  """

  group: _groups.CyclicGroup = _groups.CyclicGroup(4)
  channels: Sequence[int] = (8,)
  kernel_size: int = 5
  downsample: int = 2
  temperature: float = 1.0

  def __post_init__(self):
    if not isinstance(self.group, _groups.CyclicGroup) or self.group.n not in (
        1, 2, 4):
      raise _validation.InputError(
          f"CnCanonicalizer needs CyclicGroup(n) with n in (1, 2, 4) (quarter "
          f"turns keep the score network exactly equivariant); got "
          f"{self.group!r}.")
    _validation.check_positive_int(self.downsample, "downsample")
    if not self.channels:
      raise _validation.InputError("CnCanonicalizer needs at least one "
                                   "channel size.")
    _validation.check_scalar(self.temperature, "temperature", low=0.0,
                             low_open=True)
    super().__post_init__()

  @nn.compact
  def __call__(self, x: Array) -> Canonicalization:
    if np.ndim(x) != 4:
      raise _validation.InputError(
          f"CnCanonicalizer expects images [batch, height, width, channels]; "
          f"got shape {tuple(np.shape(x))}. Add a channel axis with "
          f"x[..., None].")
    h_size, w_size = x.shape[1:3]
    if h_size != w_size or h_size % self.downsample:
      raise _validation.InputError(
          f"CnCanonicalizer needs square images whose size is divisible by "
          f"downsample={self.downsample}; got height {h_size}, width "
          f"{w_size}.")
    n = self.group.n
    h = x.astype(jnp.float32)
    if self.downsample > 1:
      h = _block_mean(h, self.downsample)
    h = nn.relu(_p4.LiftingConv(self.channels[0], self.kernel_size, n)(h))
    for ch in self.channels[1:]:
      h = nn.relu(_p4.GroupConv(ch, 3, n)(_p4.pool_if_even(h)))
    h = jnp.mean(h, axis=(1, 2))  # [B, C, n]
    scores = nn.Dense(1, name="readout")(jnp.swapaxes(h, 1, 2))[..., 0]
    weights = straight_through_weights(scores, self.temperature)
    inputs = _canonical_mixture(self.group, x, weights)
    elements = jnp.argmax(scores, -1).astype(jnp.int32)  # Column k = code k.
    return Canonicalization(inputs.astype(x.dtype), elements, scores)


# ---------------------------------------------------------------------------
# Closed-form frames for point clouds.


def _check_clouds(x, name: str) -> None:
  if np.ndim(x) != 3 or np.shape(x)[-1] != 3:
    raise _validation.InputError(
        f"{name} expects point clouds of shape [batch, num_points, 3]; got "
        f"shape {tuple(np.shape(x))}.")


def principal_axes(x: Array) -> tuple[Array, Array]:
  r"""Eigenvalues and eigenvectors of the centred covariance, decreasing.

  Args:
    x: point clouds ``[..., N, 3]``.

  Returns:
    ``(eigenvalues [..., 3], axes [..., 3, 3])`` with ``axes[..., :, i]``
    the eigenvector of the ``i``-th largest eigenvalue (signs arbitrary).
  """
  x = jnp.asarray(x, jnp.float32)
  xc = x - jnp.mean(x, axis=-2, keepdims=True)
  cov = jnp.einsum("...ni,...nj->...ij", xc, xc,
                   precision=_HIGHEST) / x.shape[-2]
  evals, evecs = jnp.linalg.eigh(cov)
  return evals[..., ::-1], evecs[..., ::-1]


def pca_frame(x: Array, *, proper: bool = True) -> Array:
  r"""The PCA frame :math:`F(x)` (module docstring), ``[..., 3, 3]``.

  Columns are the principal axes by decreasing variance, each signed so that
  the third moment of the projected, centred points is non-negative. With
  ``proper=True`` (SO(3)) the third column is the cross product of the first
  two, so :math:`\det F = +1`; with ``proper=False`` (O(3)) it is signed by
  its own third moment. Equivariant, :math:`F(x R^\top) = R F(x)`, under the
  conditions of the module docstring.
  """
  x = jnp.asarray(x, jnp.float32)
  _, axes = principal_axes(x)
  xc = x - jnp.mean(x, axis=-2, keepdims=True)
  proj = jnp.einsum("...ni,...ij->...nj", xc, axes, precision=_HIGHEST)
  signs = jnp.where(jnp.sum(proj ** 3, axis=-2) >= 0, 1.0, -1.0)
  axes = axes * signs[..., None, :]
  if proper:
    third = jnp.cross(axes[..., :, 0], axes[..., :, 1], axis=-1)
    axes = jnp.concatenate([axes[..., :, :2], third[..., :, None]], axis=-1)
  return axes


def frame_coordinates(x: Array, frames: Array) -> Array:
  """``x @ F``: the points expressed in the frame ``F`` (``act(F^{-1}, x)``)."""
  return jnp.einsum("...ni,...ij->...nj", x, frames, precision=_HIGHEST)


def check_matrix_group(group, name: str) -> None:
  if not isinstance(group, (_groups.SO3, _groups.O3)):
    raise _validation.InputError(
        f"{name} needs group SO3() or O3(); got {group!r}.")


class PCACanonicalizer(nn.Module):
  """Closed-form SO(3)/O(3) canonicalizer for point clouds (no parameters).

  ``h(x) = pca_frame(x)`` and ``c(x) = x h(x)`` (module docstring, including
  what is guaranteed when eigenvalues are (near-)degenerate).

  Attributes:
    group: ``SO3()`` (frames with det +1) or ``O3()``.
  """

  group: _groups.SO3 | _groups.O3 = _groups.SO3()

  def __post_init__(self):
    check_matrix_group(self.group, "PCACanonicalizer")
    super().__post_init__()

  def __call__(self, x: Array) -> Canonicalization:
    _check_clouds(x, "PCACanonicalizer")
    frames = pca_frame(x, proper=isinstance(self.group, _groups.SO3))
    return Canonicalization(frame_coordinates(x, frames), frames, None)


def sign_frames(x: Array, *, proper: bool = True) -> Array:
  r"""All PCA frames of ``x`` over the sign choices, ``[S, batch, 3, 3]``.

  ``proper=True`` (SO(3)): the 4 frames :math:`[s_1 v_1, s_2 v_2, s_1 s_2\,
  v_1 \times v_2]`; ``proper=False`` (O(3)): the 8 frames :math:`[s_1 v_1,
  s_2 v_2, s_3 v_3]`. As a set this is equivariant whenever the eigenvalues
  are distinct (Puny et al. 2022), whatever the third moments.
  """
  _, axes = principal_axes(x)
  if proper:
    signs = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]], np.float32)
    first_two = axes[None, ..., :, :2] * signs[:, None, None, :]
    third = jnp.cross(first_two[..., :, 0], first_two[..., :, 1], axis=-1)
    return jnp.concatenate([first_two, third[..., :, None]], axis=-1)
  signs = np.array([[a, b, c] for a in (1, -1) for b in (1, -1)
                    for c in (1, -1)], np.float32)
  return axes[None] * signs[:, None, None, :]
