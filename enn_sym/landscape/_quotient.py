r"""Symmetry quotient of ReLU MLPs: hidden-unit permutations and rescalings.

A dense network is a list of layers ``(kernel [in, out], bias [out])``;
hidden layer ``l`` is the output of layer ``l`` and the input of layer
``l + 1``. Two parameter symmetries leave the function unchanged:

* **Permutations** of the units of a hidden layer: ``kernel_l[:, p]``,
  ``bias_l[p]``, ``kernel_{l+1}[p, :]`` (any activation).
* **Positive rescaling** for a positively homogeneous activation (ReLU,
  leaky ReLU): unit ``j`` scaled by ``a > 0`` on the way in
  (``kernel_l[:, j]``, ``bias_l[j]``) and by ``1/a`` on the way out
  (``kernel_{l+1}[j, :]``), since :math:`\mathrm{relu}(a z) = a\,
  \mathrm{relu}(z)`.

:func:`normalize_rescaling` picks one point of each rescaling orbit: going
forward layer by layer, every hidden unit's incoming vector ``(kernel_l[:, j],
bias_l[j])`` is scaled to unit norm and the scale is pushed into the next
layer. It is idempotent, and two networks in one orbit map to the same point.
Rescaling is a *connected* symmetry (:math:`a(t) > 0` is a loss-preserving
path), so it never changes which component a minimum is in; it changes the
geometry that linear interpolation sees.

:func:`weight_matching` finds the permutations that bring network ``B`` close
to network ``A`` (Ainsworth, Hayase & Srinivasa 2023, "Git Re-Basin"):
maximise :math:`\sum_l \langle W^A_l, P_l W^B_l P_{l-1}^\top\rangle` by
coordinate descent over the hidden layers, each step an exact linear
assignment (``scipy.optimize.linear_sum_assignment``) with the other
permutations fixed, until no permutation changes. For one hidden layer the
first step is already the global optimum. Permutations are discrete: two
minima related by one are functionally identical but usually far apart, so
quotienting can merge components.

Both are valid quotients only for objectives that depend on the network's
*function* (NLL, ECE); weight decay is not rescaling invariant.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
from jax import flatten_util
import jax.numpy as jnp
import numpy as np
from scipy import optimize

from enn_sym._validation import InputError

Layers = list  # [(kernel [in, out], bias [out]), ...]


def _check_layers(layers: Sequence[Any], name: str = "layers") -> None:
  if len(layers) < 2:
    raise InputError(f"{name} must hold at least 2 dense layers (one hidden "
                     f"layer) to have hidden units; got {len(layers)}.")
  for l, (kernel, bias) in enumerate(layers):
    if np.ndim(kernel) != 2 or np.shape(bias) != (np.shape(kernel)[1],):
      raise InputError(
          f"{name}[{l}] must be (kernel [in, out], bias [out]); got shapes "
          f"{np.shape(kernel)} and {np.shape(bias)}.")
    if l and np.shape(kernel)[0] != np.shape(layers[l - 1][0])[1]:
      raise InputError(
          f"{name}[{l}] takes {np.shape(kernel)[0]} inputs but layer {l - 1} "
          f"has {np.shape(layers[l - 1][0])[1]} outputs.")


def dense_layers(params: Any, prefix: str = "Dense_") -> Layers:
  """``[(kernel, bias), ...]`` of a flax params dict with ``Dense_0..Dense_L``.

  Finds the sub-dict holding the ``prefix``-named layers (e.g. under
  ``'module'`` for :class:`enn_sym.symmetry.GroupAveraged`).
  """
  node = params
  while isinstance(node, dict) and not any(
      str(k).startswith(prefix) for k in node) and len(node) == 1:
    node = next(iter(node.values()))
  if not isinstance(node, dict):
    raise InputError(f"no '{prefix}<i>' layers found in the params.")
  names = _layer_names(node, prefix)
  if not names:
    raise InputError(f"no '{prefix}<i>' layers found in params with keys "
                     f"{sorted(node)}.")
  return [(node[k]["kernel"], node[k]["bias"]) for k in names]


def with_dense_layers(params: Any, layers: Layers,
                      prefix: str = "Dense_") -> Any:
  """A copy of ``params`` with its ``Dense_i`` layers replaced by ``layers``."""
  if isinstance(params, dict) and not any(
      str(k).startswith(prefix) for k in params) and len(params) == 1:
    (k, v), = params.items()
    return {k: with_dense_layers(v, layers, prefix)}
  out = dict(params)
  # The same names, in the same (numeric) order, as dense_layers read them,
  # so a round trip never adds keys (which would change the flat layout).
  names = _layer_names(out, prefix)
  if len(names) != len(layers):
    names = [f"{prefix}{i}" for i in range(len(layers))]
  for name, (kernel, bias) in zip(names, layers):
    out[name] = {**out.get(name, {}), "kernel": kernel, "bias": bias}
  return out


def _layer_names(node, prefix):
  names = [k for k in node if str(k).startswith(prefix)]
  try:
    return sorted(names, key=lambda k: int(str(k)[len(prefix):]))
  except ValueError:
    raise InputError(
        f"layer names must be '{prefix}<int>'; got {sorted(names)}.") from None


def mlp_apply(layers: Layers, x: Any, negative_slope: float = 0.0) -> Any:
  """Forward pass of the dense (leaky) ReLU network ``layers`` (reference).

  Runs in numpy (float64 stays float64) when ``x`` and the kernels are numpy
  arrays, in JAX otherwise.
  """
  on_host = isinstance(x, np.ndarray) and all(
      isinstance(k, np.ndarray) for k, _ in layers)
  xp = np if on_host else jnp  # numpy in float64 on the host, else JAX
  h = xp.asarray(x)
  for l, (kernel, bias) in enumerate(layers):
    h = h @ kernel + bias
    if l < len(layers) - 1:
      h = xp.where(h >= 0, h, negative_slope * h)
  return h


def permute_hidden(layers: Layers, perms: Sequence[Any]) -> Layers:
  """Permutes hidden layer ``l`` by ``perms[l]``.

  New unit ``i`` is old unit ``perms[l][i]``.
  """
  _check_layers(layers)
  if len(perms) != len(layers) - 1:
    raise InputError(f"need one permutation per hidden layer "
                     f"({len(layers) - 1}); got {len(perms)}.")
  out = [[np.asarray(k), np.asarray(b)] for k, b in layers]
  for l, p in enumerate(perms):
    p = np.asarray(p)
    width = out[l][0].shape[1]
    if sorted(p.tolist()) != list(range(width)):
      raise InputError(f"perms[{l}] must be a permutation of range({width}).")
    out[l][0] = out[l][0][:, p]
    out[l][1] = out[l][1][p]
    out[l + 1][0] = out[l + 1][0][p, :]
  return [(k, b) for k, b in out]


def normalize_rescaling(layers: Layers, eps: float = 1e-12) -> Layers:
  """Unit-norm incoming weights per hidden unit, the scale pushed forward.

  See the module docstring.
  """
  _check_layers(layers)
  out = [[np.asarray(k, np.float64), np.asarray(b, np.float64)]
         for k, b in layers]
  for l in range(len(out) - 1):
    kernel, bias = out[l]
    norm = np.sqrt(np.sum(kernel ** 2, axis=0) + bias ** 2)
    norm = np.where(norm > eps, norm, 1.0)
    out[l][0] = kernel / norm
    out[l][1] = bias / norm
    out[l + 1][0] = out[l + 1][0] * norm[:, None]
  dtype = np.asarray(layers[0][0]).dtype
  return [(k.astype(dtype), b.astype(dtype)) for k, b in out]


def weight_matching(ref: Layers, other: Layers, *,
                    max_sweeps: int = 50) -> list[np.ndarray]:
  """Permutations of ``other``'s hidden units that best match ``ref``.

  See the module docstring.

  Returns ``perms`` for :func:`permute_hidden`. Deterministic: starts from
  the identity and sweeps the hidden layers in order.
  """
  _check_layers(ref, "ref")
  _check_layers(other, "other")
  if [np.shape(k) for k, _ in ref] != [np.shape(k) for k, _ in other]:
    raise InputError("ref and other must have the same layer shapes.")
  ref = [(np.asarray(k, np.float64), np.asarray(b, np.float64))
         for k, b in ref]
  oth = [(np.asarray(k, np.float64), np.asarray(b, np.float64))
         for k, b in other]
  num_hidden = len(ref) - 1
  perms = [np.arange(ref[l][0].shape[1]) for l in range(num_hidden)]
  for _ in range(max_sweeps):
    changed = False
    for l in range(num_hidden):
      # Incoming: kernel_l with its rows (layer l-1 units) already permuted.
      k_in = oth[l][0] if l == 0 else oth[l][0][perms[l - 1], :]
      score = ref[l][0].T @ k_in + np.outer(ref[l][1], oth[l][1])
      # Outgoing: kernel_{l+1} with its columns permuted (if hidden).
      k_out = oth[l + 1][0]
      if l + 1 < num_hidden:
        k_out = k_out[:, perms[l + 1]]
      score = score + ref[l + 1][0] @ k_out.T
      _, col = optimize.linear_sum_assignment(score, maximize=True)
      if not np.array_equal(col, perms[l]):
        perms[l] = col
        changed = True
    if not changed:
      break
  return perms


def make_aligner(unravel: Callable[[Any], Any], *, permute: bool = True,
                 rescale: bool = True, prefix: str = "Dense_"
                 ) -> Callable[[np.ndarray, np.ndarray],
                               tuple[np.ndarray, np.ndarray]]:
  """``(theta_a, theta_b) -> (a', b')``: representatives in the quotient.

  ``a' = N(a)`` and ``b' = P(N(b))`` with ``N`` = :func:`normalize_rescaling`
  (if ``rescale``) and ``P`` the :func:`weight_matching` permutation aligning
  ``N(b)`` to ``N(a)`` (if ``permute``). ``a'`` computes the same function as
  ``a`` and ``b'`` the same as ``b``. ``unravel`` maps a flat vector to the
  params pytree (``FlatModel.unravel``); the dense layers are found by
  :func:`dense_layers`.
  """
  if not (permute or rescale):
    raise InputError("make_aligner needs permute=True or rescale=True.")

  def flat(params):
    return np.asarray(flatten_util.ravel_pytree(params)[0])

  def align(theta_a, theta_b):
    pa = jax.tree.map(np.asarray, unravel(jnp.asarray(theta_a)))
    pb = jax.tree.map(np.asarray, unravel(jnp.asarray(theta_b)))
    la, lb = dense_layers(pa, prefix), dense_layers(pb, prefix)
    if rescale:
      la, lb = normalize_rescaling(la), normalize_rescaling(lb)
    if permute:
      lb = permute_hidden(lb, weight_matching(la, lb))
    return (flat(with_dense_layers(pa, la, prefix)),
            flat(with_dense_layers(pb, lb, prefix)))

  return align
