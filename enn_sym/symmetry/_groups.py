r"""Symmetry groups and their actions on images and point clouds.

Every group is a frozen dataclass with the same protocol (:class:`Group`):

* ``name`` (``"C4"``, ``"D4"``, ``"SO2"``, ``"SO3"``, ``"O3"``), ``order``
  (``|G|``, or ``None`` for a continuous group) and ``exact``: whether
  ``act`` is an exact group action on arrays, i.e. ``act(e, x) == x`` and
  ``act(g, act(h, x)) == act(compose(g, h), x)`` hold (bit for bit for pixel
  permutations, to float round-off for rotation matrices). Interpolated image
  rotations are *not* exact and say so.
* ``elements()`` stacks all element codes (finite groups; a continuous group
  raises), ``sample(key, num)`` draws ``num`` codes (uniform / Haar),
  ``identity()``, ``compose(g, h)`` (:math:`gh`: apply ``h`` first) and
  ``inverse(g)`` work on codes, elementwise over leading axes of batched codes.
  ``compose`` and ``inverse`` use only arithmetic operators, so numpy codes
  give numpy results (used for static bookkeeping) and JAX codes JAX results.
* ``act(g, x)`` transforms inputs for ONE element ``g`` (vmap over ``g`` for
  many): images ``[..., H, W, C]`` or point clouds ``[..., N, 3]`` with any
  leading axes. ``input_ndim`` is the rank of one input (3 for images, 2 for
  point clouds); the wrappers use it to check batches.
* ``orbit(x)`` (finite groups) is ``[act(g, x) for g in elements()]``
  stacked on a new leading axis, computed with static codes (pixel
  permutations without ``lax.switch``, one interpolation per distinct
  residual angle).

Element codes:

* :class:`CyclicGroup` :math:`C_n`: int ``k`` = counter-clockwise rotation by
  :math:`2\pi k/n`. For ``n`` in {1, 2, 4} every element is a multiple of a
  quarter turn, an exact pixel permutation (``rot90``). Otherwise the angle is
  split as :math:`2\pi k/n = q\pi/2 + r` with :math:`q = \lfloor 4k/n +
  1/2\rfloor` and :math:`|r| \le \pi/4`: the residual :math:`r` is applied by
  bilinear interpolation (approximate) and the quarter turns exactly, so the
  elements of :math:`C_n` that are quarter turns (all of
  :math:`C_4 \subset C_n` when :math:`4 | n`) still act exactly.
* :class:`DihedralGroup` :math:`D_n` (order :math:`2n`): int ``k + n f`` with
  ``f`` in {0, 1} = :math:`R^k M^f` (mirror ``j -> W-1-j`` first, then rotate).
  With :math:`M R M = R^{-1}`: :math:`(k_1, f_1)(k_2, f_2) = (k_1 +
  (-1)^{f_1} k_2 \bmod n,\ f_1 \oplus f_2)` and :math:`(k, f)^{-1} = ((-1)^{1-f}
  k \bmod n, f)` (reflections are involutions). Exact iff ``n`` in {1, 2, 4}.
* :class:`SO2Sampled`: float angle in :math:`[0, 2\pi)`, sampled uniformly;
  acts by the same quarter-turn + interpolated-residual rotation; approximate.
* :class:`SO3` / :class:`O3`: float32 ``[3, 3]`` matrices acting on point
  clouds by :math:`x \mapsto x R^\top` (each point :math:`p \mapsto Rp`);
  sampled from the Haar measure (:mod:`enn_sym.symmetry._rotations`, Mezzadri
  2007). ``O3`` includes the reflections (:math:`\det R = -1`).

With ``circular_mask=True`` the image groups zero the pixels outside the
inscribed circle on input and output. The action is then an action on masked
images: ``act(e, x) = mask(x)`` (a projection), and the axioms hold on
``mask(x)``.

Registry: config files select groups by name (``config.symmetry.group``).
:func:`register_group` adds one: a new group is one class with the protocol
above plus one decorator::

  @register_group("c3_exact")
  class MyGroup: ...

and :func:`get_group` builds it (``list_groups()`` lists the names).

References:
  T. Cohen, M. Welling, "Group equivariant convolutional networks", ICML 2016.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from enn_sym import _registry
from enn_sym import _validation
from enn_sym.symmetry import _image_ops
from enn_sym.symmetry import _rotations

Array = jax.Array
Element = Any  # An element code (see the module docstring).


class Group(Protocol):
  """The protocol shared by all groups (see the module docstring)."""

  name: str
  exact: bool
  order: int | None
  input_ndim: int

  def elements(self) -> Array:
    ...

  def sample(self, key: Array, num: int) -> Array:
    ...

  def identity(self) -> Element:
    ...

  def compose(self, g: Element, h: Element) -> Element:
    ...

  def inverse(self, g: Element) -> Element:
    ...

  def act(self, g: Element, x: Array) -> Array:
    ...

  def orbit(self, x: Array) -> Array:
    ...


def _check_n(n, group: str) -> None:
  if isinstance(n, (bool, np.bool_)) or not isinstance(
      n, (int, np.integer)) or n < 1:
    raise _validation.InputError(
        f"{group}: n must be a positive integer (the number of rotations); "
        f"got {n!r}.")


def _check_num(num) -> int:
  _validation.check_positive_int(num, "num")
  return int(num)


def _not_finite(group: str) -> _validation.InputError:
  return _validation.InputError(
      f"{group} is a continuous group: it has no finite list of elements(). "
      f"Use sample(key, num) (e.g. GroupAveraged(..., num_samples=16)).")


def _check_square(x, group: str) -> None:
  _image_ops.check_square_images(x, group)


def _quarter_and_residual(turns, n_per_turn):
  r"""``2 pi turns / n_per_turn = q pi/2 + r`` with ``|r| <= pi/4``.

  ``turns`` is an integer (static or traced) for :math:`C_n`. Returns ``(q,
  r)``; ``r`` is computed from the integer ``4 turns - q n`` so it is exactly
  zero whenever the element is a quarter turn.
  """
  if _image_ops.is_static(turns):
    num = 4 * int(turns)
    q = (2 * num + n_per_turn) // (2 * n_per_turn)  # floor(4k/n + 1/2).
    return q % 4, 2 * math.pi * (num - q * n_per_turn) / (4 * n_per_turn)
  num = 4 * jnp.asarray(turns, jnp.int32)
  q = (2 * num + n_per_turn) // (2 * n_per_turn)
  r = (2 * np.pi / (4 * n_per_turn)) * (num - q * n_per_turn).astype(
      jnp.float32)
  return q % 4, r


def _angle_quarter_and_residual(angle):
  """Same split for a real angle (radians)."""
  if _image_ops.is_static(angle):
    a = float(angle)
    q = math.floor(a / (math.pi / 2) + 0.5)
    return q % 4, a - q * (math.pi / 2)
  a = jnp.asarray(angle, jnp.float32)
  q = jnp.floor(a / (jnp.pi / 2) + 0.5)
  return q.astype(jnp.int32) % 4, a - q * (jnp.pi / 2)


def _rotate(x, q, r, *, mask: bool, exact_only: bool) -> Array:
  """``mask(rot90_q(rotate_r(mask(x))))``, no interpolation for a static 0."""
  x = jnp.asarray(x)
  if mask:
    x = _image_ops.apply_circular_mask(x)
  static_zero = _image_ops.is_static(r) and float(r) == 0.0
  interpolate = not (exact_only or static_zero)
  h, w = np.shape(x)[-3:-1]
  if interpolate and h == w:
    # The quarter turn folded into the interpolation taps (one gather).
    x = _image_ops.rotate_image(x, r, quarter_turns=q)
    return _image_ops.apply_circular_mask(x) if mask else x
  if interpolate:
    x = _image_ops.rotate_image(x, r)
  if h != w:  # Only half turns reach here (checked by the callers).
    x = _image_ops.rot180_or_identity(x, q // 2)
  else:
    x = _image_ops.rot90(x, q)
  if mask and interpolate:
    x = _image_ops.apply_circular_mask(x)
  return x


def _static_orbit(x, quarter_residuals, *, mask: bool, exact_only: bool,
                  flips=None) -> Array:
  """Stacks ``[R_q rotate_r M^f x]`` with one interpolation per distinct r."""
  x = jnp.asarray(x)
  if mask:
    x = _image_ops.apply_circular_mask(x)
  flips = flips if flips is not None else [0] * len(quarter_residuals)
  cache = {}
  copies = []
  for (q, r), f in zip(quarter_residuals, flips):
    key = (round(r, 12), f)
    if key not in cache:
      y = _image_ops.flip_horizontal(x, f)
      if r != 0.0 and not exact_only:
        y = _image_ops.rotate_image(y, r, circular_mask=mask)
      cache[key] = y
    y = cache[key]
    h, w = np.shape(y)[-3:-1]
    copies.append(_image_ops.rot90(y, q) if h == w
                  else _image_ops.rot180_or_identity(y, q // 2))
  return jnp.stack(copies)


# ---------------------------------------------------------------------------
# Image groups.


@dataclasses.dataclass(frozen=True)
class CyclicGroup:
  r"""The cyclic group :math:`C_n` of rotations by :math:`2\pi k/n` on images.

  Attributes:
    n: the number of rotations (>= 1).
    circular_mask: zero the pixels outside the inscribed circle on input and
      output (the action is then on masked images; see module docstring).
  """

  n: int
  circular_mask: bool = False

  input_ndim = 3

  def __post_init__(self):
    _check_n(self.n, "CyclicGroup")

  @property
  def name(self) -> str:
    return f"C{self.n}"

  @property
  def order(self) -> int:
    return self.n

  @property
  def exact(self) -> bool:
    """Quarter turns only (n in {1, 2, 4}): pixel permutations."""
    return 4 % self.n == 0

  def _codes(self) -> np.ndarray:
    return np.arange(self.n, dtype=np.int32)

  def elements(self) -> Array:
    return jnp.asarray(self._codes())

  def sample(self, key: Array, num: int) -> Array:
    return jax.random.randint(key, (_check_num(num),), 0, self.n, jnp.int32)

  def identity(self) -> Array:
    return jnp.zeros((), jnp.int32)

  def compose(self, g, h):
    return (g + h) % self.n

  def inverse(self, g):
    return (-g) % self.n

  def _check(self, x) -> None:
    if 2 % self.n == 0:
      _image_ops.check_images(x)
    else:
      _check_square(x, f"CyclicGroup({self.n})")

  def act(self, g, x: Array) -> Array:
    """Rotates images ``[..., H, W, C]`` counter-clockwise by 2 pi g / n."""
    self._check(x)
    q, r = _quarter_and_residual(g, self.n)
    return _rotate(x, q, r, mask=self.circular_mask, exact_only=self.exact)

  def orbit(self, x: Array) -> Array:
    """``[n, ..., H, W, C]``: ``x`` rotated by every element, in code order."""
    self._check(x)
    qr = [_quarter_and_residual(int(k), self.n) for k in self._codes()]
    return _static_orbit(x, qr, mask=self.circular_mask,
                         exact_only=self.exact)


@dataclasses.dataclass(frozen=True)
class DihedralGroup:
  r"""The dihedral group :math:`D_n` (rotations and mirrors) on images.

  Code ``k + n f`` = :math:`R^k M^f`: the horizontal mirror ``j -> W-1-j``
  (if ``f = 1``) followed by the rotation by :math:`2\pi k/n`. Order ``2n``.

  Attributes:
    n: the number of rotations (>= 1).
    circular_mask: as in :class:`CyclicGroup`.
  """

  n: int
  circular_mask: bool = False

  input_ndim = 3

  def __post_init__(self):
    _check_n(self.n, "DihedralGroup")

  @property
  def name(self) -> str:
    return f"D{self.n}"

  @property
  def order(self) -> int:
    return 2 * self.n

  @property
  def exact(self) -> bool:
    return 4 % self.n == 0

  def _codes(self) -> np.ndarray:
    return np.arange(2 * self.n, dtype=np.int32)

  def elements(self) -> Array:
    return jnp.asarray(self._codes())

  def sample(self, key: Array, num: int) -> Array:
    return jax.random.randint(key, (_check_num(num),), 0, 2 * self.n,
                              jnp.int32)

  def identity(self) -> Array:
    return jnp.zeros((), jnp.int32)

  def split(self, g):
    """``(k, f)``: rotation steps and mirror bit of code ``g``."""
    return g % self.n, g // self.n

  def compose(self, g, h):
    k1, f1 = self.split(g)
    k2, f2 = self.split(h)
    k = (k1 + (1 - 2 * f1) * k2) % self.n
    return k + self.n * ((f1 + f2) % 2)

  def inverse(self, g):
    k, f = self.split(g)
    return ((2 * f - 1) * k) % self.n + self.n * f

  def _check(self, x) -> None:
    if 2 % self.n == 0:
      _image_ops.check_images(x)
    else:
      _check_square(x, f"DihedralGroup({self.n})")

  def act(self, g, x: Array) -> Array:
    """Mirrors (if ``f``) then rotates images ``[..., H, W, C]``."""
    self._check(x)
    k, f = self.split(g)
    q, r = _quarter_and_residual(k, self.n)
    x = _image_ops.flip_horizontal(jnp.asarray(x), f)
    return _rotate(x, q, r, mask=self.circular_mask, exact_only=self.exact)

  def orbit(self, x: Array) -> Array:
    """``[2n, ..., H, W, C]``: ``x`` under every element, in code order."""
    self._check(x)
    codes = self._codes()
    qr = [_quarter_and_residual(int(k), self.n) for k in codes % self.n]
    return _static_orbit(x, qr, mask=self.circular_mask,
                         exact_only=self.exact,
                         flips=[int(f) for f in codes // self.n])


@dataclasses.dataclass(frozen=True)
class SO2Sampled:
  r"""Rotations by any angle, sampled uniformly in :math:`[0, 2\pi)`.

  Continuous (``order = None``; ``elements()`` raises) and approximate on a
  pixel grid: the angle is split into quarter turns (exact) and a residual in
  :math:`[-\pi/4, \pi/4]` applied by bilinear interpolation.

  Attributes:
    circular_mask: as in :class:`CyclicGroup`.
  """

  circular_mask: bool = False

  input_ndim = 3
  name = "SO2"
  order = None
  exact = False

  def elements(self) -> Array:
    raise _not_finite(self.name)

  def orbit(self, x: Array) -> Array:
    raise _not_finite(self.name)

  def sample(self, key: Array, num: int) -> Array:
    return jax.random.uniform(key, (_check_num(num),), jnp.float32, 0.0,
                              2 * jnp.pi)

  def identity(self) -> Array:
    return jnp.zeros((), jnp.float32)

  def compose(self, g, h):
    return (g + h) % (2 * np.pi)

  def inverse(self, g):
    return (-g) % (2 * np.pi)

  def act(self, g, x: Array) -> Array:
    """Rotates images ``[..., H, W, C]`` by ``g`` radians counter-clockwise."""
    _check_square(x, "SO2Sampled")
    q, r = _angle_quarter_and_residual(g)
    return _rotate(x, q, r, mask=self.circular_mask, exact_only=False)


# ---------------------------------------------------------------------------
# Point-cloud groups.


def _check_points(x, group: str) -> None:
  if np.ndim(x) < 2 or np.shape(x)[-1] != 3:
    raise _validation.InputError(
        f"{group} acts on point clouds of shape [..., num_points, 3]; got "
        f"shape {tuple(np.shape(x))}.")


class _MatrixGroup:
  """Shared code of SO3 and O3 (codes are ``[3, 3]`` orthogonal matrices)."""

  input_ndim = 2
  order = None
  exact = True
  name = ""

  def elements(self) -> Array:
    raise _not_finite(self.name)

  def orbit(self, x: Array) -> Array:
    raise _not_finite(self.name)

  def identity(self) -> Array:
    return jnp.eye(3, dtype=jnp.float32)

  def compose(self, g, h):
    return g @ h

  def inverse(self, g):
    return g.swapaxes(-1, -2)  # R^{-1} = R^T for orthogonal R.

  def act(self, g, x: Array) -> Array:
    """``x @ g.T``: every point ``p`` of ``[..., N, 3]`` maps to ``g p``."""
    _check_points(x, self.name)
    g = jnp.asarray(g)
    if g.shape != (3, 3):
      raise _validation.InputError(
          f"{self.name}.act takes ONE element, a [3, 3] matrix; got shape "
          f"{g.shape}. Use jax.vmap over a stack of elements.")
    return jnp.einsum("...nj,ij->...ni", x, g,
                      precision=jax.lax.Precision.HIGHEST)


@dataclasses.dataclass(frozen=True)
class SO3(_MatrixGroup):
  """Rotations of 3D point clouds (:math:`\\det R = +1`), Haar sampled."""

  name = "SO3"

  def sample(self, key: Array, num: int) -> Array:
    return _rotations.random_rotations(key, _check_num(num))


@dataclasses.dataclass(frozen=True)
class O3(_MatrixGroup):
  """Rotations and reflections of 3D point clouds (:math:`\\det R = \\pm 1`)."""

  name = "O3"

  def sample(self, key: Array, num: int) -> Array:
    return _rotations.random_orthogonal(key, _check_num(num))


# ---------------------------------------------------------------------------
# The registry of groups selectable by name (config.symmetry.group).

_GROUPS = _registry.Registry("group", "enn_sym.symmetry.register_group")
_PROTOCOL = ("elements", "sample", "identity", "compose", "inverse", "act",
             "orbit", "name", "exact", "order", "input_ndim")


def register_group(name: str, *, overwrite: bool = False):
  """Decorator that registers ``factory() -> group`` under ``name``.

  ``factory`` is a group class (called with no arguments) or a function
  returning a group instance; the group follows :class:`Group` and its
  ``input_ndim`` says what it acts on (3: images ``[H, W, C]``, 2: point
  clouds ``[N, 3]``), which config validation uses to match it to the data.
  After ``import``-ing the module that registers it (``config.imports`` on
  the command line), ``config.symmetry.group = name`` selects it.

  Args:
    name: the config name (``"c4"``, ``"my_group"``).
    overwrite: replace an existing registration instead of raising.
  """
  return _GROUPS.register(name, overwrite=overwrite)


def list_groups() -> tuple[str, ...]:
  """The registered group names, sorted."""
  return _GROUPS.names()


def get_group(name: str):
  """A new instance of the group registered as ``name``.

  Raises:
    InputError: unknown name (the message lists the registered ones), or a
      factory whose result lacks part of the :class:`Group` protocol.
  """
  group = _GROUPS.get(name)()
  missing = [a for a in _PROTOCOL if not hasattr(group, a)]
  if missing:
    raise _validation.InputError(
        f"The group registered as {name!r} lacks {missing} of the Group "
        f"protocol (enn_sym.symmetry.Group); add them to its class.")
  return group


def _register_builtin(name: str, make) -> None:
  register_group(name)(make)


for _n in (2, 4, 8):
  _register_builtin(f"c{_n}", lambda n=_n: CyclicGroup(n))
_register_builtin("d4", lambda: DihedralGroup(4))
_register_builtin("so2", SO2Sampled)
_register_builtin("so3", SO3)
_register_builtin("o3", O3)
