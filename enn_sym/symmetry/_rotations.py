"""Random and explicit 3D rotations (float32).

* :func:`random_orthogonal` draws from the Haar (uniform) measure on the
  orthogonal group :math:`O(3)`; :func:`random_rotations` from the Haar measure
  on :math:`SO(3) = \\{R \\in O(3): \\det R = +1\\}`.
* :func:`rotation_about_axis` is Rodrigues' formula; :func:`is_rotation` checks
  :math:`R^\\top R = I` and :math:`\\det R = +1` to a tolerance.

Sampling (Mezzadri 2007). Let :math:`A` have i.i.d. :math:`N(0, 1)` entries and
:math:`A = Q_0 R_0` be its QR decomposition. The QR factor :math:`Q_0` alone is
*not* Haar distributed, because the decomposition is only unique up to the
signs of the diagonal of :math:`R_0` and LAPACK fixes them in a way that
depends on :math:`A`. With :math:`\\Lambda = \\mathrm{diag}(\\mathrm{sign}\\,
\\mathrm{diag}(R_0))` the corrected factor :math:`Q = Q_0 \\Lambda` is the unique
QR factor with a positive diagonal in :math:`R`, and since the Gaussian law of
:math:`A` is invariant under :math:`A \\mapsto U A` for every :math:`U \\in O(3)`,
:math:`Q` is exactly Haar on :math:`O(3)`.

From :math:`O(3)` to :math:`SO(3)`: in odd dimension :math:`\\det(-I) = -1`, so
:math:`R = \\det(Q)\\, Q` always has determinant :math:`+1`. This is exactly Haar
on :math:`SO(3)`: the event :math:`\\det Q = +1` has probability 1/2 and, given
it, :math:`Q` is Haar on :math:`SO(3)`; given :math:`\\det Q = -1`, :math:`Q`
is uniform on the coset :math:`-SO(3)` (left invariance of the Haar measure
under :math:`-I`), so :math:`-Q` is again Haar on :math:`SO(3)`. A mixture of
two copies of the same law is that law.

Haar facts used by the tests: :math:`\\mathbb{E}[R] = 0` on both groups, and
for :math:`R` Haar on :math:`SO(3)` the rotation angle :math:`\\theta \\in [0,
\\pi]`, with :math:`\\mathrm{tr}\\,R = 1 + 2\\cos\\theta`, has density
:math:`(1 - \\cos\\theta)/\\pi` and CDF :math:`(\\theta - \\sin\\theta)/\\pi`
(see :func:`haar_angle_cdf`).

References:
  F. Mezzadri, "How to generate random matrices from the classical compact
  groups", Notices of the AMS 54(5), 2007, 592-604. arXiv:math-ph/0609050.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


def _check_num(num) -> int:
  if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or num < 0:
    raise ValueError(
        f"num must be a non-negative int (the number of matrices to draw); "
        f"got {num!r}.")
  return int(num)


def random_orthogonal(key: Array, num: int) -> Array:
  """``num`` i.i.d. Haar-distributed elements of :math:`O(3)`.

  QR of a Gaussian matrix with the sign correction
  :math:`Q = Q_0\\,\\mathrm{diag}(\\mathrm{sign}\\,\\mathrm{diag}\\,R_0)` (Mezzadri
  2007); :math:`\\det Q = \\pm 1` with probability 1/2 each.

  Args:
    key: a PRNG key.
    num: number of matrices.

  Returns:
    float32 array ``[num, 3, 3]``.
  """
  return _random_orthogonal(key, _check_num(num))


@functools.partial(jax.jit, static_argnums=1)
def _random_orthogonal(key: Array, num: int) -> Array:
  a = jax.random.normal(key, (num, 3, 3), jnp.float32)
  q, r = jnp.linalg.qr(a)
  d = jnp.diagonal(r, axis1=-2, axis2=-1)
  # sign(0) would be 0; a zero diagonal has probability zero but map it to +1.
  signs = jnp.where(d < 0, -1.0, 1.0).astype(jnp.float32)
  return q * signs[:, None, :]  # Q diag(signs): scales the columns.


def random_rotations(key: Array, num: int) -> Array:
  """``num`` i.i.d. Haar-distributed rotations in :math:`SO(3)`.

  :math:`R = \\det(Q)\\,Q` with :math:`Q` Haar on :math:`O(3)`
  (:func:`random_orthogonal`); exactly Haar on :math:`SO(3)` because
  :math:`\\det(-I_3) = -1` (module docstring).

  Args:
    key: a PRNG key.
    num: number of rotations.

  Returns:
    float32 array ``[num, 3, 3]`` with determinant +1.
  """
  return _random_rotations(key, _check_num(num))


@functools.partial(jax.jit, static_argnums=1)
def _random_rotations(key: Array, num: int) -> Array:
  q = _random_orthogonal(key, num)
  det_sign = jnp.where(jnp.linalg.det(q) < 0, -1.0, 1.0).astype(jnp.float32)
  return q * det_sign[:, None, None]


def rotation_about_axis(axis, angle) -> Array:
  """Rotation by ``angle`` (radians, right-handed) about ``axis`` (Rodrigues).

  :math:`R = I + \\sin\\theta\\,K + (1 - \\cos\\theta)\\,K^2` with :math:`K` the
  cross-product matrix of the unit axis :math:`k` (:math:`K v = k \\times v`).

  Args:
    axis: ``[..., 3]``, any non-zero length (normalised here).
    angle: ``[...]``, broadcast against the batch dimensions of ``axis``.

  Returns:
    float32 ``[..., 3, 3]``.
  """
  axis = jnp.asarray(axis, jnp.float32)
  angle = jnp.asarray(angle, jnp.float32)
  if axis.shape[-1:] != (3,):
    raise ValueError(f"axis must have shape [..., 3]; got {axis.shape}.")
  return _rodrigues(axis, angle)


@jax.jit
def _rodrigues(axis: Array, angle: Array) -> Array:
  k = axis / jnp.linalg.norm(axis, axis=-1, keepdims=True)
  kx, ky, kz = k[..., 0], k[..., 1], k[..., 2]
  zero = jnp.zeros_like(kx)
  kmat = jnp.stack([
      jnp.stack([zero, -kz, ky], -1),
      jnp.stack([kz, zero, -kx], -1),
      jnp.stack([-ky, kx, zero], -1),
  ], -2)
  s = jnp.sin(angle)[..., None, None]
  c = jnp.cos(angle)[..., None, None]
  return jnp.eye(3, dtype=jnp.float32) + s * kmat + (1.0 - c) * (kmat @ kmat)


def is_rotation(r, atol: float = 1e-5) -> Array:
  """Whether each ``[..., 3, 3]`` matrix is in :math:`SO(3)` within ``atol``.

  Checks :math:`\\max |R^\\top R - I| \\le` ``atol`` and :math:`|\\det R - 1| \\le`
  ``atol``. Returns a boolean array of the batch shape (a scalar for one
  matrix).
  """
  r = jnp.asarray(r)
  if r.shape[-2:] != (3, 3):
    raise ValueError(f"r must have shape [..., 3, 3]; got {r.shape}.")
  return _is_rotation(r, atol)


@jax.jit
def _is_rotation(r: Array, atol) -> Array:
  gram = jnp.swapaxes(r, -1, -2) @ r
  ortho = jnp.max(jnp.abs(gram - jnp.eye(3, dtype=r.dtype)), axis=(-2, -1))
  det = jnp.linalg.det(r)
  return (ortho <= atol) & (jnp.abs(det - 1.0) <= atol)


def rotation_angle(r) -> Array:
  """The angle :math:`\\theta \\in [0, \\pi]` of rotations ``[..., 3, 3]``.

  :math:`\\theta = \\arccos((\\mathrm{tr}\\,R - 1)/2)`, clipped for round-off.
  """
  r = jnp.asarray(r)
  tr = jnp.trace(r, axis1=-2, axis2=-1)
  return jnp.arccos(jnp.clip((tr - 1.0) / 2.0, -1.0, 1.0))


def haar_angle_cdf(theta) -> Array:
  """CDF of the angle of a Haar rotation, :math:`(\\theta - \\sin\\theta)/\\pi`.

  The angle density on :math:`[0, \\pi]` is :math:`(1 - \\cos\\theta)/\\pi`
  (Weyl integration formula for :math:`SO(3)`), so small angles are rare.
  """
  theta = jnp.asarray(theta)
  return (theta - jnp.sin(theta)) / jnp.pi
