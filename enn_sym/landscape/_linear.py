r"""Deep linear networks: Zhao et al.'s validation problem and its certificate.

The loss of an ``l``-layer linear network with square weights
:math:`W_i \in \mathbb R^{h \times h}` on data :math:`X, Y \in \mathbb
R^{h \times n}` (:math:`X X^\top \succ 0`), normalised by :math:`\|Y\|^2`,

.. math::
   L(W) = \|Y - W_l \cdots W_1 X\|_F^2 / \|Y\|_F^2 .

With :math:`A = Y X^\top (X X^\top)^{-1}` invertible, the minimum set is
:math:`\{W_l \cdots W_1 = A\}`, one free orbit of :math:`GL_h(\mathbb
R)^{l-1}`, with :math:`2^{l-1}` connected components (Zhao, Dehmamy, Walters
& Yu 2025, Prop. 4.1 and Cor. 4.2, stated there for square data
:math:`n = h`; the non-square case with :math:`X X^\top \succ 0` follows
because :math:`L` depends on the product only through a strictly convex
quadratic). A minimum's component is labelled by its **sign pattern**
:math:`s_i = \mathrm{sgn} \det W_i` (:func:`sign_pattern`), whose product is
fixed to :math:`\mathrm{sgn} \det A`.

**Certificate of disconnection** (:func:`disconnection_certificate`). A path
between minima with different sign patterns makes some :math:`\det W_i`
change sign, so it passes a singular :math:`W_i`, where the product
:math:`P` has rank :math:`\le h - 1`. With :math:`S = (X X^\top)^{1/2}`,
:math:`\|Y - P X\|^2 = \|Y - A X\|^2 + \|(A - P) S\|^2`, and by the
Eckart-Young theorem

.. math::
   \max_t L(\gamma(t)) \ \ge\ c^* =
   \big(\|Y - A X\|^2 + \sigma_{\min}(A S)^2\big) / \|Y\|^2 .

The bound is attained (the min-max loss between two sign classes equals
:math:`c^*`; reference sheet §4), so below :math:`c^*` the sign classes are
provably different components of the sublevel set, and at :math:`c^*` they
merge. For square data :math:`c^* = \sigma_{\min}(Y)^2 / \|Y\|^2`. The value
:math:`\sigma_{\min}(A)^2` found in some summaries is right only for
whitened inputs (:math:`X X^\top = I`); this module implements the general
form.

Reference:
  B. Zhao, N. Dehmamy, R. Walters, R. Yu, "Understanding mode connectivity
  via parameter space symmetry", ICML 2025 (arXiv:2505.23681).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from enn_sym import _validation as _v
from enn_sym._validation import InputError

Array = jax.Array


class LinearProblem(NamedTuple):
  """A deep linear regression problem on flat parameters.

  Attributes:
    x, y: ``[h, n]`` data (float64 numpy).
    width, depth: ``h`` and ``l``; ``theta`` is ``[l * h * h]`` (``W_1``
      first, each row-major).
    loss: ``theta -> scalar``, the normalised loss: a
      ``jax.tree_util.Partial`` holding the data, so the path search
      compiles once per shape, not once per data set.
    init: ``key -> theta``, i.i.d. normal entries of scale ``h ** -0.5``.
    certificate: :func:`disconnection_certificate` of the data.
  """

  x: np.ndarray
  y: np.ndarray
  width: int
  depth: int
  loss: Callable[[Array], Array]
  init: Callable[[Array], Array]
  certificate: float


def _check_dims(width, depth):
  _v.check_positive_int(width, "width")
  if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or (
      depth < 2):
    raise InputError(f"depth must be an int >= 2 (layers of the linear "
                     f"network); got {depth!r}.")


def linear_problem(x, y, depth: int) -> LinearProblem:
  """The :class:`LinearProblem` of data ``x, y [h, n]`` and ``depth`` layers."""
  x = np.asarray(x, np.float64)
  y = np.asarray(y, np.float64)
  if x.ndim != 2 or y.shape != x.shape:
    raise InputError(f"x and y must both be [h, n]; got {x.shape} and "
                     f"{y.shape}.")
  h = x.shape[0]
  _check_dims(h, depth)
  cert = disconnection_certificate(x, y)
  loss = jax.tree_util.Partial(_linear_loss, jnp.asarray(x, jnp.float32),
                               jnp.asarray(y, jnp.float32))
  init = jax.tree_util.Partial(_linear_init, jnp.zeros((depth, h, h)))
  return LinearProblem(x, y, h, depth, loss, init, cert)


def _linear_loss(x, y, theta):
  """``||Y - W_l .. W_1 X||^2 / ||Y||^2`` (shapes from ``x`` and ``theta``)."""
  h = x.shape[0]
  prod = x
  for w in theta.reshape(-1, h, h):
    prod = jnp.matmul(w, prod, precision=jax.lax.Precision.HIGHEST)
  return jnp.sum((y - prod) ** 2) / jnp.sum(y ** 2)


def _linear_init(template, key):
  return (jax.random.normal(key, (template.size,)) /
          np.sqrt(template.shape[-1]))


def zhao_linear_problem(width: int, depth: int, seed: int = 0,
                        num_examples: int | None = None) -> LinearProblem:
  """Standard-normal data ``X, Y [width, n]`` (``n = width``: square data).

  ``numpy.random.default_rng(seed)`` draws ``X`` then ``Y``.
  """
  _check_dims(width, depth)
  n = width if num_examples is None else num_examples
  _v.check_positive_int(n, "num_examples")
  if n < width:
    raise InputError(f"num_examples must be >= width ({width}) so that X X^T "
                     f"is invertible; got {n}.")
  rng = np.random.default_rng(seed)
  x = rng.standard_normal((width, n))
  y = rng.standard_normal((width, n))
  return linear_problem(x, y, depth)


def disconnection_certificate(x, y) -> float:
  r"""The Eckart-Young bound :math:`c^*` of the module docstring.

  Args:
    x, y: ``[h, n]`` with :math:`X X^\top` invertible and
      :math:`A = Y X^\top (X X^\top)^{-1}` invertible.

  Returns:
    :math:`(\|Y - A X\|^2 + \sigma_{\min}(A (X X^\top)^{1/2})^2) / \|Y\|^2`.

  Raises:
    InputError: if :math:`X X^\top` or :math:`A` is (numerically) singular:
      the minimum then contains singular weights and there is no sign
      partition to certify.
  """
  x = np.asarray(x, np.float64)
  y = np.asarray(y, np.float64)
  if x.ndim != 2 or y.shape != x.shape:
    raise InputError(f"x and y must both be [h, n]; got {x.shape} and "
                     f"{y.shape}.")
  gram = x @ x.T
  evals, evecs = np.linalg.eigh(gram)
  if evals[0] <= 1e-10 * max(evals[-1], 1e-300):
    raise InputError("X X^T is singular (rank-deficient inputs); the "
                     "certificate needs X of full row rank.")
  a = y @ x.T @ np.linalg.inv(gram)
  sv_a = np.linalg.svd(a, compute_uv=False)
  if sv_a[-1] <= 1e-10 * max(sv_a[0], 1e-300):
    raise InputError("A = Y X^T (X X^T)^-1 is singular; the minimum then "
                     "holds singular weights and has no sign partition.")
  root = evecs @ np.diag(np.sqrt(evals)) @ evecs.T
  sigma_min = np.linalg.svd(a @ root, compute_uv=False)[-1]
  residual = float(np.sum((y - a @ x) ** 2))
  return (residual + float(sigma_min) ** 2) / float(np.sum(y ** 2))


def sign_pattern(theta, width: int, depth: int) -> np.ndarray:
  """``[..., depth]`` signs of :math:`\\det W_i` (``slogdet``, float64)."""
  theta = np.asarray(theta, np.float64)
  _check_dims(width, depth)
  if theta.shape[-1] != depth * width * width:
    raise InputError(f"theta must end in {depth * width * width} = depth * "
                     f"width^2 entries; got shape {theta.shape}.")
  w = theta.reshape(theta.shape[:-1] + (depth, width, width))
  return np.linalg.slogdet(w)[0].astype(np.int64)


def pattern_labels(patterns) -> np.ndarray:
  """``[n]`` class ids (by first appearance) of sign patterns ``[n, l]``."""
  ids: dict = {}
  return np.asarray([ids.setdefault(tuple(p), len(ids))
                     for p in np.asarray(patterns).tolist()], np.int64)


def certificate_path(problem: LinearProblem, flip: tuple[int, int],
                     num_points: int = 301) -> np.ndarray:
  r"""The path of the reference sheet §4 that attains :math:`c^*`.

  With :math:`A S = U \Sigma V^\top` and :math:`M = \Sigma V^\top S^{-1}`
  (so :math:`U M = A`): :math:`W_1 = D_1 M`, :math:`W_k = D_k` for
  :math:`1 < k < l` and :math:`W_l = U D_l`, :math:`D_k =
  \mathrm{diag}(1, \dots, 1, e_k)`; the pair ``flip = (i, j)`` moves
  :math:`(e_i, e_j): (1, 1) \to (0, 1) \to (0, -1) \to (-1, -1)`. Returns
  ``[num_points, l h^2]`` parameters; the loss along it is at most
  :math:`c^*` and its end points are minima whose sign patterns differ in
  places ``i`` and ``j``.
  """
  h, l = problem.width, problem.depth
  i, j = flip
  if not (0 <= i < l and 0 <= j < l and i != j):
    raise InputError(f"flip must be two different layer ids in [0, {l}); "
                     f"got {flip}.")
  x, y = problem.x, problem.y
  gram = x @ x.T
  evals, evecs = np.linalg.eigh(gram)
  root = evecs @ np.diag(np.sqrt(evals)) @ evecs.T
  a = y @ x.T @ np.linalg.inv(gram)
  u, s, vt = np.linalg.svd(a @ root)
  m = np.diag(s) @ vt @ np.linalg.inv(root)  # U M = A
  e = np.ones((num_points, l))
  t = np.linspace(0.0, 3.0, num_points)
  ei = np.where(t < 1, 1 - t, np.where(t < 2, 0.0, -(t - 2)))
  ej = np.where(t < 1, 1.0, np.where(t < 2, 1 - 2 * (t - 1), -1.0))
  e[:, i], e[:, j] = ei, ej
  out = []
  for row in e:
    ws = []
    for k in range(l):
      d = np.eye(h)
      d[-1, -1] = row[k]
      if k == 0:
        w = d @ m
      elif k == l - 1:
        w = u @ d
      else:
        w = d
      ws.append(w.ravel())
    out.append(np.concatenate(ws))
  return np.stack(out)


def _polar_rotation(m):
  """The orthogonal factor ``R`` of the polar decomposition ``m = R S``."""
  u, _, vt = np.linalg.svd(m)
  return u @ vt


def balance(theta, width: int, depth: int) -> np.ndarray:
  r"""The balanced representative of ``theta`` in its :math:`GL^+` orbit.

  With the product :math:`P = W_l \cdots W_1 = U \Sigma V^\top` (distinct,
  nonzero singular values) and the partial products :math:`Q_k = W_k \cdots
  W_1` (:math:`k < l`), put :math:`M_k = Q_k V \Sigma^{-k/l} = R_k S_k`
  (polar: :math:`R_k` orthogonal, :math:`S_k \succ 0`) and act with
  :math:`g_k = R_k M_k^{-1} = R_k S_k^{-1} R_k^\top`, which is symmetric
  positive definite. The result

  .. math::
     W_1' = R_1 \Sigma^{1/l} V^\top,\quad W_k' = R_k \Sigma^{1/l}
     R_{k-1}^\top,\quad W_l' = U \Sigma^{1/l} R_{l-1}^\top

  is balanced (:math:`W_{k+1}'^\top W_{k+1}' = W_k' W_k'^\top`), has the same
  product, hence the same loss, and the same determinant signs. Because
  every :math:`g_k` lies on the segment ``(1 - s) I + s g_k`` of positive
  definite matrices, ``theta`` and its representative are joined at
  constant loss: the map is a quotient by the connected, non-compact part
  of the symmetry, and what is left between two representatives of one
  sign class is the compact :math:`SO(h)^{l-1}` of the :math:`R_k`. The
  representative does not depend on the sign choice of the SVD.

  Args:
    theta: ``[..., depth * width^2]`` parameters with invertible ``W_i``.
    width, depth: ``h`` and ``l``.

  Returns:
    The balanced parameters, same shape (float64).
  """
  theta = np.asarray(theta, np.float64)
  _check_dims(width, depth)
  if theta.shape[-1] != depth * width * width:
    raise InputError(f"theta must end in {depth * width * width} = depth * "
                     f"width^2 entries; got shape {theta.shape}.")
  flat = theta.reshape(-1, depth, width, width)
  out = np.empty_like(flat)
  for n, ws in enumerate(flat):
    partial = [ws[0]]
    for w in ws[1:]:
      partial.append(w @ partial[-1])
    u, s, vt = np.linalg.svd(partial[-1])
    if s[-1] <= 1e-12 * max(s[0], 1e-300):
      raise InputError("balance needs an invertible product W_l ... W_1; got "
                       "a (numerically) singular one.")
    rot = []
    for k in range(1, depth):
      m = partial[k - 1] @ vt.T @ np.diag(s ** (-k / depth))
      rot.append(_polar_rotation(m))
    root = np.diag(s ** (1.0 / depth))
    out[n, 0] = rot[0] @ root @ vt if depth > 1 else partial[-1]
    for k in range(1, depth - 1):
      out[n, k] = rot[k] @ root @ rot[k - 1].T
    out[n, depth - 1] = u @ root @ rot[-1].T
  return out.reshape(theta.shape)


def _nearest_rotation(m):
  """The element of ``SO(h)`` nearest to ``m`` in Frobenius norm (Kabsch)."""
  u, _, vt = np.linalg.svd(m)
  d = np.ones(m.shape[0])
  d[-1] = np.sign(np.linalg.det(u @ vt))
  return u @ np.diag(d) @ vt


def rotate_onto(a, b, width: int, depth: int) -> np.ndarray:
  r"""Moves balanced ``b`` towards balanced ``a`` by :math:`SO(h)^{l-1}`.

  Acts with :math:`W_k \to O_k W_k O_{k-1}^\top` (:math:`O_0 = O_l = I`),
  :math:`O_k` the rotation nearest to :math:`Q^a_k (Q^b_k)^{-1}` (partial
  products): the loss and the determinant signs of ``b`` do not change and,
  :math:`SO(h)` being connected, ``b`` and the result are joined at constant
  loss. For two minima of one sign class (same product, same signs) the
  result is ``a`` up to rounding; across classes some :math:`Q^a_k
  (Q^b_k)^{-1}` has determinant -1 and no rotation reaches it.
  """
  a = np.asarray(a, np.float64).reshape(depth, width, width)
  b = np.asarray(b, np.float64).reshape(depth, width, width)
  qa, qb = [a[0]], [b[0]]
  for k in range(1, depth - 1):
    qa.append(a[k] @ qa[-1])
    qb.append(b[k] @ qb[-1])
  rots = [np.eye(width)] + [_nearest_rotation(x @ np.linalg.inv(y))
                            for x, y in zip(qa, qb)] + [np.eye(width)]
  out = np.stack([rots[k + 1] @ b[k] @ rots[k].T for k in range(depth)])
  return out.reshape(-1)


def make_linear_aligner(width: int, depth: int,
                        rotate: bool = True) -> Callable:
  """The quotient map of a pair for ``search_paths`` (``align=``).

  ``(a, b) -> (balance(a), rotate_onto(balance(a), balance(b)))``: the
  quotient by the identity component :math:`(GL_h^+)^{l-1}` of the
  symmetry, which never changes a sign pattern. ``rotate=False`` keeps only
  the balancing (the positive definite part), leaving the rotations to the
  path search.
  """
  _check_dims(width, depth)

  def align(a, b):
    a, b = balance(a, width, depth), balance(b, width, depth)
    if rotate:
      b = rotate_onto(a, b, width, depth)
    return a, b

  return align
