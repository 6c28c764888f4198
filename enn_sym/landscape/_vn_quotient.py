r"""Symmetry quotient of the VN-MLP (:class:`enn_sym.symmetry.VNMLPClassifier`).

The parameter symmetries of a VN-LeakyReLU MLP with an invariant frame readout
and a ReLU head (reference sheet ``landscape_symmetry.md`` §5, derived there;
the layers are those of ``enn_sym.symmetry._vector_neurons``). Hidden VN
layer ``i`` has ``C`` channels: ``linear_i`` (kernel ``W [C_in, C]``, channel
``d`` is :math:`q_d = \sum_c W_{cd} v_c`) and ``leaky_relu_i`` (direction
kernel ``U [C, C]``, :math:`k_d = \sum_c U_{cd} q_c`, computed from the
layer's own ``q``). With per-channel factors :math:`\alpha_d \ne 0` and
:math:`\beta_d > 0`:

* **channel permutation** ``P``: columns of ``W``, rows *and* columns of ``U``
  (conjugation), and the rows of every consumer of the channel (the next
  ``linear``, both halves of its ``[h, mean(h)]`` input; the frame kernel;
  the first head layer's rows ``(c, j)``);
* **channel scaling** :math:`q_d \to \alpha_d q_d`: column ``d`` of ``W``
  times :math:`\alpha_d`, :math:`U_{cd} \to U_{cd}\,\mathrm{sgn}(\alpha_d)
  / \alpha_c`, consumers' rows divided by :math:`\alpha_d`. It uses
  :math:`f(\alpha q, \mathrm{sgn}(\alpha) k) = \alpha f(q, k)`, exact for
  every :math:`\alpha \ne 0`. :math:`\alpha > 0` is the connected positive
  rescaling; :math:`\mathrm{sgn}\,\alpha_d = -1` is the **sign flip** (the
  feature row and its direction row negated together): a discrete factor
  with :math:`2^C` classes per layer, kept as a label (below);
* **direction rescaling**: column ``d`` of ``U`` times :math:`\beta_d > 0`
  with no compensation; exact only with the layer's :math:`\epsilon = 0`
  (relative effect :math:`\sim \epsilon / \|k\|^2`: up to 1e-3 for the
  small features of a VN-MLP at init scale; quotiented only on request);
* **frame** :math:`G \in GL(3)`: the frame kernel ``F [2C, 3]`` (rows
  :math:`t_j = \sum_c F_{cj} v_c`) goes to :math:`F G^\top` and the first head
  kernel's ``3 x H`` block of every channel ``c`` to :math:`G^{-\top} K_c`.
  Exact for the mean-pooled invariant readout without the chiral
  pseudo-scalar; two classes, :math:`\det G \gtrless 0` (a label);
* the **head** (a ReLU MLP): permutations and positive rescalings of its
  hidden units.

:func:`vn_canonicalize` picks one point of the orbit of the *whole* group
(signs and :math:`\det G < 0` included), in this order: (1) layer by layer,
:math:`\alpha_d = \pm\|W_{:,d}\|` with the sign of the column's largest
entry (and, with ``direction_rescale``, :math:`\beta_d` making ``U``'s
columns unit vectors); (2) each
first-head unit scaled to unit norm of :math:`(B_h, b_h)` where
:math:`B_h = F K_{\cdot h}` is the frame-invariant bilinear form it applies
to the features (so this step commutes with the frame); deeper head units by
unit incoming norm; (3) the frame: :math:`F = U S V^\top \to U` (orthonormal
columns), then the remaining :math:`O(3)` fixed by the SVD of the stacked head
blocks with a largest-entry sign rule. Each step commutes with the channel
permutations, which :func:`vn_weight_matching` then finds (Git Re-Basin
coordinate descent with ``linear_sum_assignment``; the conjugated ``U`` makes
the step a linearisation, accepted only when the exact objective grows).

The discrete part is returned as a **label** (:class:`VNLabel`): the signs of
the canonicalising :math:`\alpha` per layer and channel and the sign of
:math:`\det G`. Transforming a network by a group element flips exactly the
corresponding entries (an odd sign flip of channel ``d`` flips its entry,
:math:`\det G < 0` flips the frame sign, permutations permute), so the label
tells which of the :math:`2 \cdot \prod_i 2^{C_i}` sign classes of parameter
space a minimum lies in, like the determinant signs of a deep linear network.
The quotient itself merges them (they compute the same function); whether
minima in different classes are joined by low paths in parameter space is
what the path search tests.

Supported: ``chiral=False``, ``pooling='mean'``, ``share_direction=False``,
``batch_norm=False`` (other settings break or change the frame or sign
symmetry: :class:`~enn_sym._validation.InputError`). Near-ties in a sign rule
or repeated singular values make the canonical point jump; it is still a
valid representative (function preserved), only not continuous there.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
from jax import flatten_util
import jax.numpy as jnp
import numpy as np
from scipy import optimize

from enn_sym._validation import InputError


@dataclasses.dataclass
class VNParams:
  """The arrays of a VN-MLP that its symmetries act on (float64 copies).

  Attributes:
    linear: ``[W_i [C_in, C_i]]`` per VN layer.
    direction: ``[U_i [C_i, C_i]]``.
    frame: ``F [groups * C_L, 3]`` (``groups`` = 2 with the point-mean
      channels of the default readout, else 1).
    head: ``[(kernel, bias)]`` of ``head_0..`` and ``logits``.
    groups_in: per VN layer ``i > 0``, 2 when its input is ``[h, mean(h)]``
      (global context), else 1 (0 for the first layer, fed by the lift).
    groups_out: ``groups`` of the frame.
  """

  linear: list
  direction: list
  frame: np.ndarray
  head: list
  groups_in: list
  groups_out: int

  def copy(self) -> "VNParams":
    return VNParams([w.copy() for w in self.linear],
                    [u.copy() for u in self.direction], self.frame.copy(),
                    [(k.copy(), b.copy()) for k, b in self.head],
                    list(self.groups_in), self.groups_out)


@dataclasses.dataclass(frozen=True)
class VNLabel:
  """Discrete sign class of a VN-MLP (module docstring).

  Attributes:
    channel_signs: per VN layer, ``[C_i]`` signs (+1/-1) of the
      canonicalising channel factors.
    frame_sign: sign of :math:`\\det G` of the canonicalising frame map.
  """

  channel_signs: tuple
  frame_sign: int

  def __str__(self) -> str:
    layers = "|".join("".join("+" if s > 0 else "-" for s in signs)
                      for signs in self.channel_signs)
    return f"{layers}|F{'+' if self.frame_sign > 0 else '-'}"


def _sub(params, *names):
  node = params
  for n in names:
    if not isinstance(node, dict) or n not in node:
      raise InputError(
          f"not VNMLPClassifier params: missing {'/'.join(names)} (keys "
          f"{sorted(node) if isinstance(node, dict) else type(node)}).")
    node = node[n]
  return node


def _count(params, prefix):
  i = 0
  while f"{prefix}{i}" in params:
    i += 1
  return i


def vn_layers(params: Any) -> VNParams:
  """Reads the :class:`VNParams` of ``VNMLPClassifier`` params.

  Raises:
    InputError: on params of another model, or of a VN-MLP whose settings
      break the symmetries handled here (module docstring).
  """
  if isinstance(params, dict) and "params" in params and len(params) == 1:
    params = params["params"]
  if not isinstance(params, dict):
    raise InputError(f"params must be a dict; got {type(params).__name__}.")
  if "max_pool" in params or any(k.startswith("batch_norm_") for k in params):
    raise InputError(
        "the VN quotient needs a VNMLPClassifier with pooling='mean' and "
        "batch_norm=False (VN max pooling / VN-BatchNorm change the "
        "symmetries); got params with "
        f"{sorted(k for k in params if 'pool' in k or 'batch_norm' in k)}.")
  num = _count(params, "linear_")
  if num == 0:
    raise InputError(f"not VNMLPClassifier params: no 'linear_0' (keys "
                     f"{sorted(params)}).")
  linear = [np.asarray(_sub(params, f"linear_{i}", "kernel"), np.float64)
            for i in range(num)]
  direction = [np.asarray(_sub(params, f"leaky_relu_{i}", "direction",
                               "kernel"), np.float64) for i in range(num)]
  groups_in = [0]
  for i, (w, u) in enumerate(zip(linear, direction)):
    c = w.shape[1]
    if u.shape != (c, c):
      raise InputError(
          f"leaky_relu_{i}/direction/kernel has shape {u.shape}, expected "
          f"({c}, {c}): share_direction=True (one direction for all "
          f"channels) ties the channel signs together; use "
          f"share_direction=False.")
    if i:
      prev = linear[i - 1].shape[1]
      if w.shape[0] not in (prev, 2 * prev):
        raise InputError(f"linear_{i} takes {w.shape[0]} channels; layer "
                         f"{i - 1} has {prev}.")
      groups_in.append(w.shape[0] // prev)
  frame = np.asarray(_sub(params, "invariant", "frame", "kernel"), np.float64)
  last = linear[-1].shape[1]
  if frame.shape[1] != 3 or frame.shape[0] not in (last, 2 * last):
    raise InputError(f"invariant/frame/kernel has shape {frame.shape}; "
                     f"expected ({2 * last} or {last}, 3).")
  groups_out = frame.shape[0] // last
  head = [(np.asarray(_sub(params, f"head_{j}", "kernel"), np.float64),
           np.asarray(_sub(params, f"head_{j}", "bias"), np.float64))
          for j in range(_count(params, "head_"))]
  head.append((np.asarray(_sub(params, "logits", "kernel"), np.float64),
               np.asarray(_sub(params, "logits", "bias"), np.float64)))
  if head[0][0].shape[0] != frame.shape[0] * 3:
    raise InputError(
        f"the first head layer takes {head[0][0].shape[0]} features, expected "
        f"{frame.shape[0] * 3} (3 per frame channel): chiral=True adds a "
        f"pseudo-scalar that breaks the frame symmetry; use chiral=False.")
  return VNParams(linear, direction, frame, head, groups_in, groups_out)


def with_vn_layers(params: Any, vn: VNParams) -> Any:
  """A copy of ``params`` with the arrays of ``vn`` written back (dtypes kept).
  """
  if isinstance(params, dict) and "params" in params and len(params) == 1:
    return {"params": with_vn_layers(params["params"], vn)}
  out = jax.tree.map(lambda a: a, params)  # new containers, same leaves

  def put(names, value):
    node = out
    for n in names[:-1]:
      node = node[n]
    dtype = np.asarray(node[names[-1]]).dtype
    node[names[-1]] = np.asarray(value).astype(dtype)

  for i, (w, u) in enumerate(zip(vn.linear, vn.direction)):
    put((f"linear_{i}", "kernel"), w)
    put((f"leaky_relu_{i}", "direction", "kernel"), u)
  put(("invariant", "frame", "kernel"), vn.frame)
  names = [f"head_{j}" for j in range(len(vn.head) - 1)] + ["logits"]
  for name, (k, b) in zip(names, vn.head):
    put((name, "kernel"), k)
    put((name, "bias"), b)
  return out


# ---------------------------------------------------------------------------
# Group actions.


def _consumers(vn: VNParams, i: int):
  """``(array views, setter)`` of the rows that read VN layer ``i``'s channels.

  Each view has the channel on axis 1 (``[groups, C, ...]``).
  """
  c = vn.linear[i].shape[1]
  if i + 1 < len(vn.linear):
    g = vn.groups_in[i + 1]
    return [("linear", vn.linear[i + 1].reshape(g, c, -1))]
  g = vn.groups_out
  return [("frame", vn.frame.reshape(g, c, 3)),
          ("head0", vn.head[0][0].reshape(g, c, 3, -1))]


def vn_scale_channels(vn: VNParams, layer: int, alpha: Any,
                      beta: Any | None = None) -> VNParams:
  r"""Channel scaling :math:`q_d \to \alpha_d q_d` (any nonzero :math:`\alpha`)
  and direction rescaling :math:`\beta_d > 0` of VN layer ``layer``.

  Function-preserving (module docstring); returns a new :class:`VNParams`.
  """
  alpha = np.asarray(alpha, np.float64)
  c = vn.linear[layer].shape[1]
  beta = np.ones(c) if beta is None else np.asarray(beta, np.float64)
  if alpha.shape != (c,) or beta.shape != (c,) or np.any(alpha == 0) or (
      np.any(beta <= 0)):
    raise InputError(f"alpha must be [{c}] nonzero and beta [{c}] positive "
                     f"factors for layer {layer}.")
  out = vn.copy()
  out.linear[layer] = out.linear[layer] * alpha[None, :]
  out.direction[layer] = (out.direction[layer] * (np.sign(alpha) * beta)[None]
                          / alpha[:, None])
  for kind, view in _consumers(out, layer):
    view = view / alpha.reshape((1, c) + (1,) * (view.ndim - 2))
    if kind == "linear":
      out.linear[layer + 1] = view.reshape(out.linear[layer + 1].shape)
    elif kind == "frame":
      out.frame = view.reshape(out.frame.shape)
    else:
      out.head[0] = (view.reshape(out.head[0][0].shape), out.head[0][1])
  return out


def vn_transform_frame(vn: VNParams, g: Any) -> VNParams:
  r"""The frame map :math:`F \to F G^\top`, :math:`K_c \to G^{-\top} K_c`."""
  g = np.asarray(g, np.float64)
  if g.shape != (3, 3) or abs(np.linalg.det(g)) < 1e-12:
    raise InputError(f"g must be an invertible 3x3 matrix; got shape "
                     f"{g.shape}.")
  out = vn.copy()
  out.frame = out.frame @ g.T
  k = out.head[0][0]
  blocks = k.reshape(-1, 3, k.shape[1])  # [(group, c), j, h]
  blocks = np.einsum("jk,bkh->bjh", np.linalg.inv(g).T, blocks)
  out.head[0] = (blocks.reshape(k.shape), out.head[0][1])
  return out


def vn_scale_head(vn: VNParams, layer: int, scale: Any) -> VNParams:
  """Positive rescaling of the units of head hidden layer ``layer``."""
  scale = np.asarray(scale, np.float64)
  if layer >= len(vn.head) - 1 or scale.shape != (vn.head[layer][1].size,) or (
      np.any(scale <= 0)):
    raise InputError(f"scale must be positive factors of head hidden layer "
                     f"{layer} (there are {len(vn.head) - 1}).")
  out = vn.copy()
  k, b = out.head[layer]
  out.head[layer] = (k * scale, b * scale)
  k2, b2 = out.head[layer + 1]
  out.head[layer + 1] = (k2 / scale[:, None], b2)
  return out


# Permutations: every array as a view with one axis per permuted index set.


def _views(vn: VNParams):
  """``({name: array view}, {name: axis -> perm id})`` of the perm spec.

  Perm ids: ``('vn', i)`` for VN layer ``i``, ``('head', j)`` for head hidden
  layer ``j``.
  """
  arrays, spec = {}, {}
  for i, (w, u) in enumerate(zip(vn.linear, vn.direction)):
    c = w.shape[1]
    if i == 0:
      arrays[("W", i)] = w
      spec[("W", i)] = {1: ("vn", 0)}
    else:
      g, prev = vn.groups_in[i], vn.linear[i - 1].shape[1]
      arrays[("W", i)] = w.reshape(g, prev, c)
      spec[("W", i)] = {1: ("vn", i - 1), 2: ("vn", i)}
    arrays[("U", i)] = u
    spec[("U", i)] = {0: ("vn", i), 1: ("vn", i)}
  last = len(vn.linear) - 1
  c = vn.linear[last].shape[1]
  arrays[("F",)] = vn.frame.reshape(vn.groups_out, c, 3)
  spec[("F",)] = {1: ("vn", last)}
  for j, (k, b) in enumerate(vn.head):
    out_perm = ("head", j) if j < len(vn.head) - 1 else None
    if j == 0:
      arrays[("K", 0)] = k.reshape(vn.groups_out, c, 3, k.shape[1])
      spec[("K", 0)] = {1: ("vn", last)}
      if out_perm:
        spec[("K", 0)][3] = out_perm
    else:
      arrays[("K", j)] = k
      spec[("K", j)] = {0: ("head", j - 1)}
      if out_perm:
        spec[("K", j)][1] = out_perm
    arrays[("b", j)] = b
    spec[("b", j)] = {0: out_perm} if out_perm else {}
  return arrays, spec


def _from_views(vn: VNParams, arrays) -> VNParams:
  out = vn.copy()
  for i in range(len(vn.linear)):
    out.linear[i] = arrays[("W", i)].reshape(vn.linear[i].shape)
    out.direction[i] = arrays[("U", i)]
  out.frame = arrays[("F",)].reshape(vn.frame.shape)
  out.head = [(arrays[("K", j)].reshape(k.shape), arrays[("b", j)])
              for j, (k, _) in enumerate(vn.head)]
  return out


def _perm_sizes(vn: VNParams):
  sizes = {("vn", i): w.shape[1] for i, w in enumerate(vn.linear)}
  sizes.update({("head", j): vn.head[j][1].size
                for j in range(len(vn.head) - 1)})
  return sizes


def _permute_arrays(arrays, spec, perms, skip=None):
  out = {}
  for name, a in arrays.items():
    for axis, pid in spec[name].items():
      if skip is not None and (name, axis) == skip:
        continue
      a = np.take(a, perms[pid], axis=axis)
    out[name] = a
  return out


def vn_permute(vn: VNParams, perms: dict) -> VNParams:
  """Permutes channels/units: new index ``i`` is old ``perms[id][i]``.

  ``perms`` maps ``('vn', i)`` / ``('head', j)`` to permutations (missing
  ids: identity).
  """
  arrays, spec = _views(vn)
  sizes = _perm_sizes(vn)
  full = {}
  for pid, n in sizes.items():
    p = np.asarray(perms.get(pid, np.arange(n)))
    if sorted(p.tolist()) != list(range(n)):
      raise InputError(f"perms[{pid}] must be a permutation of range({n}).")
    full[pid] = p
  unknown = set(perms) - set(sizes)
  if unknown:
    raise InputError(f"unknown permutation ids {sorted(unknown)}; valid: "
                     f"{sorted(sizes)}.")
  return _from_views(vn, _permute_arrays(arrays, spec, full))


def _objective(ref_arrays, arrays, spec, perms):
  moved = _permute_arrays(arrays, spec, perms)
  return sum(float(np.sum(ref_arrays[k] * moved[k])) for k in ref_arrays)


def vn_weight_matching(ref: VNParams, other: VNParams, *,
                       max_sweeps: int = 50, tol: float = 1e-12,
                       num_restarts: int = 8, seed: int = 0) -> dict:
  r"""Permutations of ``other`` that best match ``ref`` (Git Re-Basin).

  Maximises :math:`\sum \langle \mathrm{ref}, \pi(\mathrm{other})\rangle`
  over the channel permutations of every VN layer and the head's hidden
  units, by coordinate steps (one ``linear_sum_assignment`` per index set,
  the other permutations fixed; the conjugated ``U`` enters linearised at
  the current permutation). A step is kept only if the exact objective
  grows by more than ``tol``; a run stops after a sweep without change.
  Coordinate ascent stops at coordinate-wise optima (the problem is NP-hard,
  Ainsworth et al. 2023, Lemma 1), so it is run from the identity in the
  forward order and from ``num_restarts`` random starts and visiting orders
  (``numpy.random.default_rng(seed)``: deterministic), and the best
  objective wins. Returns ``perms`` for :func:`vn_permute`.
  """
  ra, spec = _views(ref)
  oa, _ = _views(other)
  if {k: a.shape for k, a in ra.items()} != {k: a.shape for k, a in oa.items()}:
    raise InputError("ref and other must be VN-MLPs of the same shapes.")
  sizes = _perm_sizes(ref)
  rng = np.random.default_rng(seed)
  ids = list(sizes)
  best, best_value = None, -np.inf
  for restart in range(num_restarts + 1):
    if restart == 0:
      start, order = {pid: np.arange(n) for pid, n in sizes.items()}, ids
    else:
      start = {pid: rng.permutation(n) for pid, n in sizes.items()}
      order = [ids[k] for k in rng.permutation(len(ids))]
    perms, value = _coordinate_ascent(ra, oa, spec, sizes, start, order,
                                      max_sweeps, tol)
    if value > best_value + tol:
      best, best_value = perms, value
  return best


def _coordinate_ascent(ra, oa, spec, sizes, perms, order, max_sweeps, tol):
  best = _objective(ra, oa, spec, perms)
  for _ in range(max_sweeps):
    changed = False
    for pid in order:
      n = sizes[pid]
      score = np.zeros((n, n))
      for name, axes in spec.items():
        for axis, q in axes.items():
          if q != pid:
            continue
          b = _permute_arrays({name: oa[name]}, {name: axes}, perms,
                              skip=(name, axis))[name]
          a_mat = np.moveaxis(ra[name], axis, 0).reshape(n, -1)
          b_mat = np.moveaxis(b, axis, 0).reshape(n, -1)
          score += a_mat @ b_mat.T
      _, col = optimize.linear_sum_assignment(score, maximize=True)
      if np.array_equal(col, perms[pid]):
        continue
      trial = dict(perms)
      trial[pid] = col
      value = _objective(ra, oa, spec, trial)
      if value > best + tol:
        perms, best, changed = trial, value, True
    if not changed:
      break
  return perms, best


# ---------------------------------------------------------------------------
# Canonical form.


def _pivot_sign(m: np.ndarray) -> np.ndarray:
  """Sign of the largest-magnitude entry of each column of ``m``."""
  idx = np.argmax(np.abs(m), axis=0)
  s = np.sign(m[idx, np.arange(m.shape[1])])
  return np.where(s == 0, 1.0, s)


def vn_canonicalize(vn: VNParams, *, direction_rescale: bool = False,
                    eps: float = 1e-12) -> tuple[VNParams, VNLabel]:
  """The canonical point of ``vn``'s orbit and its sign label (module doc).

  ``direction_rescale=True`` also scales ``U``'s columns to unit norm (the
  direction rescaling, exact only for the layers' :math:`\epsilon = 0`; the
  function then changes by a relative :math:`\sim \epsilon / \|k\|^2`,
  which is 1e-3 for small features). Off by default: the quotient is then
  exactly function-preserving.
  """
  out = vn.copy()
  signs = []
  for i in range(len(out.linear)):
    w = out.linear[i]
    norm = np.linalg.norm(w, axis=0)
    a = _pivot_sign(w) * np.where(norm > eps, norm, 1.0)
    signs.append(tuple(int(s) for s in np.sign(a)))
    out = vn_scale_channels(out, i, 1.0 / a)
    if not direction_rescale:
      continue
    u = out.direction[i]
    un = np.linalg.norm(u, axis=0)
    out = vn_scale_channels(out, i, np.ones(u.shape[1]),
                            1.0 / np.where(un > eps, un, 1.0))
  # Head units: frame-invariant norm for the first layer, then plain.
  for j in range(len(out.head) - 1):
    k, b = out.head[j]
    if j == 0:
      blocks = k.reshape(-1, 3, k.shape[1])  # [(group, c), j, h]
      bil = np.einsum("aj,bjh->abh", out.frame, blocks)
      norm = np.sqrt(np.sum(bil ** 2, axis=(0, 1)) + b ** 2)
    else:
      norm = np.sqrt(np.sum(k ** 2, axis=0) + b ** 2)
    out = vn_scale_head(out, j, 1.0 / np.where(norm > eps, norm, 1.0))
  # Frame: orthonormal columns, then O(3) fixed by the head blocks.
  _, s, vt = np.linalg.svd(out.frame, full_matrices=False)
  if s[-1] <= eps * max(s[0], 1.0):
    raise InputError("the frame kernel is rank deficient (singular values "
                     f"{s}); its GL(3) orbit has no canonical point.")
  g1 = np.diag(1.0 / s) @ vt
  out = vn_transform_frame(out, g1)
  k = out.head[0][0]
  stacked = np.moveaxis(k.reshape(-1, 3, k.shape[1]), 1, 0).reshape(3, -1)
  p, _, _ = np.linalg.svd(stacked, full_matrices=False)
  rot = p.T
  d = _pivot_sign((rot @ stacked).T)
  g2 = d[:, None] * rot
  out = vn_transform_frame(out, g2)
  frame_sign = int(np.sign(np.linalg.det(g2 @ g1)))
  return out, VNLabel(tuple(signs), frame_sign)


def vn_distance(a: VNParams, b: VNParams) -> float:
  """Relative distance ``||a - b|| / ||a||`` over every array."""
  fa = np.concatenate([x.ravel() for x in _views(a)[0].values()])
  fb = np.concatenate([x.ravel() for x in _views(b)[0].values()])
  return float(np.linalg.norm(fa - fb) / max(np.linalg.norm(fa), 1e-300))


def make_vn_aligner(
    unravel: Callable[[Any], Any], *, permute: bool = True,
    direction_rescale: bool = False
) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
  """``(theta_a, theta_b) -> (a', b')``: VN-MLP representatives in the quotient.

  ``a'`` = canonical point of ``a`` (:func:`vn_canonicalize`); ``b'`` =
  canonical point of ``b`` permuted by :func:`vn_weight_matching` onto
  ``a'`` (if ``permute``). Both compute the functions of ``a`` and ``b``
  (exactly, unless ``direction_rescale``). ``unravel`` maps a flat vector
  to the params (``FlatModel.unravel``).
  """

  def read(theta):
    params = jax.tree.map(np.asarray, unravel(jnp.asarray(theta)))
    return params, vn_layers(params)

  def flat(params, vn, like):
    tree = with_vn_layers(params, vn)
    return np.asarray(flatten_util.ravel_pytree(tree)[0]).astype(like.dtype)

  def align(theta_a, theta_b):
    pa, va = read(theta_a)
    pb, vb = read(theta_b)
    ca, _ = vn_canonicalize(va, direction_rescale=direction_rescale)
    cb, _ = vn_canonicalize(vb, direction_rescale=direction_rescale)
    if permute:
      cb = vn_permute(cb, vn_weight_matching(ca, cb))
    return (flat(pa, ca, np.asarray(theta_a)),
            flat(pb, cb, np.asarray(theta_b)))

  return align


def vn_label(unravel: Callable[[Any], Any], theta: Any) -> VNLabel:
  """The :class:`VNLabel` of flat VN-MLP parameters ``theta``."""
  params = jax.tree.map(np.asarray, unravel(jnp.asarray(theta)))
  return vn_canonicalize(vn_layers(params))[1]
