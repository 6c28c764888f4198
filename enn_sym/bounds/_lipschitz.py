r"""Lipschitz upper bounds for MLP- and DeepSets-style networks.

Propositions 2, 4 and 5 of Berman et al. 2025 need a Lipschitz constant of
the confidence :math:`h_P`. For a composition of linear maps and 1-Lipschitz
activations (ReLU, tanh) the product of the linear maps' spectral norms
bounds the Lipschitz constant (Euclidean norms); :func:`spectral_norm`
computes each one by power iteration on :math:`W^\top W` (matrix-free, so
the structured DeepSets layer needs no dense matrix).

Power iteration converges to :math:`\sigma_{\max}` from below; it stops when
the estimate changes by less than ``tol`` (relative). ``method="svd"`` gives
the exact value of a dense matrix for comparison.
"""

from __future__ import annotations

import math
import re
from typing import Callable, Mapping, Sequence

import numpy as np

from enn_sym._validation import InputError


def _check_matrix(w, name: str) -> np.ndarray:
  a = np.asarray(w, np.float64)
  if a.ndim != 2 or a.size == 0 or not np.all(np.isfinite(a)):
    raise InputError(f"{name} must be a finite non-empty 2-D matrix; got "
                     f"shape {np.shape(w)}.")
  return a


def power_iteration(matvec: Callable[[np.ndarray], np.ndarray],
                    rmatvec: Callable[[np.ndarray], np.ndarray],
                    shape_in: tuple[int, ...], *, num_iters: int = 1000,
                    tol: float = 1e-12, seed: int = 0) -> float:
  r""":math:`\sigma_{\max}` of the linear map ``matvec`` (adjoint
  ``rmatvec``) on arrays of shape ``shape_in``, by power iteration on
  :math:`A^\top A` from a seeded Gaussian start."""
  v = np.random.default_rng(seed).normal(size=shape_in)
  v /= np.linalg.norm(v)
  est = 0.0
  for _ in range(int(num_iters)):
    u = rmatvec(matvec(v))
    norm = float(np.linalg.norm(u))
    if norm == 0.0:
      return 0.0
    v = u / norm
    new = math.sqrt(norm)
    if abs(new - est) <= tol * new:
      return new
    est = new
  return est


def spectral_norm(matrix, *, method: str = "power", num_iters: int = 1000,
                  tol: float = 1e-12, seed: int = 0) -> float:
  """The largest singular value of ``matrix`` (``"power"`` or ``"svd"``)."""
  w = _check_matrix(matrix, "matrix")
  if method == "svd":
    return float(np.linalg.norm(w, 2))
  if method != "power":
    raise InputError(f"method must be 'power' or 'svd'; got {method!r}.")
  return power_iteration(lambda x: w @ x, lambda y: w.T @ y, (w.shape[1],),
                         num_iters=num_iters, tol=tol, seed=seed)


def _dense_kernels(params) -> list[np.ndarray]:
  if isinstance(params, Mapping):
    p = params.get("params", params)
    names = [k for k in p if re.fullmatch(r"Dense_\d+", str(k))]
    if not names:
      raise InputError(
          "params must be a sequence of kernels or a flax params dict with "
          f"Dense_0, Dense_1, ... entries; got keys {sorted(p)}.")
    names.sort(key=lambda k: int(str(k).split("_")[1]))
    return [_check_matrix(p[k]["kernel"], f"{k}/kernel") for k in names]
  return [_check_matrix(w, f"kernels[{i}]") for i, w in enumerate(params)]


def mlp_lipschitz_bound(params, *, method: str = "power",
                        num_iters: int = 1000) -> float:
  r"""Lipschitz bound :math:`\prod_l \sigma_{\max}(W_l)` of an MLP's logits.

  Assumptions: layers ``x -> act(x W_l + b_l)`` with 1-Lipschitz
  activations (ReLU, tanh, ...), Euclidean norms on input and output.

  Args:
    params: the kernels ``[d_in, d_out]`` in order, or a flax params dict of
      :class:`enn_sym.networks.MLP` (``Dense_0``, ``Dense_1``, ...).
    method: ``"power"`` (power iteration) or ``"svd"``.
    num_iters: power-iteration cap.
  """
  return float(np.prod([spectral_norm(w, method=method, num_iters=num_iters)
                        for w in _dense_kernels(params)]))


def deepsets_layer_norm(a, b, set_size: int, *, method: str = "power",
                        num_iters: int = 1000) -> float:
  r"""Spectral norm of the equivariant layer :math:`X \mapsto XA +
  \mathbf 1\mathbf 1^\top X B` on sets :math:`X \in \mathbb R^{n \times d}`.

  This is a DSS / DeepSets layer with sum aggregation (Maron et al. 2020;
  Example 5's :math:`W = \tanh(\lambda_1) I + \tanh(\lambda_2)\mathbf
  1\mathbf 1^\top` is ``a = tanh(l1) I``, ``b = tanh(l2) I``). Closed form
  (``method="svd"``): :math:`\max(\sigma(A), \sigma(A + nB))`, because the
  layer acts as :math:`A + nB` on the set mean and as :math:`A` on the
  orthogonal complement. ``"power"`` iterates on the layer itself.
  """
  a = _check_matrix(a, "a")
  b = _check_matrix(b, "b")
  if a.shape != b.shape:
    raise InputError(f"a and b must have one shape; got {a.shape} and "
                     f"{b.shape}.")
  n = _check_set_size(set_size)
  if method == "svd":
    return max(spectral_norm(a, method="svd"),
               spectral_norm(a + n * b, method="svd"))
  if method != "power":
    raise InputError(f"method must be 'power' or 'svd'; got {method!r}.")
  mat = lambda x: x @ a + x.sum(0, keepdims=True) @ b
  rmat = lambda y: y @ a.T + y.sum(0, keepdims=True) @ b.T
  return power_iteration(mat, rmat, (n, a.shape[0]), num_iters=num_iters)


def _check_set_size(n) -> int:
  if isinstance(n, (bool, np.bool_)) or not isinstance(
      n, (int, np.integer)) or n < 1:
    raise InputError(f"set_size must be an integer >= 1; got {n!r}.")
  return int(n)


def deepsets_lipschitz_bound(layers: Sequence[tuple], readout, set_size: int,
                             *, pooling: str = "sum", method: str = "power",
                             num_iters: int = 1000) -> float:
  r"""Lipschitz bound of a DeepSets network's logits.

  :math:`\sigma(W_{out}) \cdot \|\mathrm{pool}\| \cdot \prod_l
  \|X \mapsto XA_l + \mathbf 1\mathbf 1^\top XB_l\|`, with
  :math:`\|\mathrm{pool}\| = \sqrt n` for sum pooling and :math:`1/\sqrt n`
  for mean pooling. Assumptions: 1-Lipschitz activations between the layers;
  Frobenius norm on sets, Euclidean on logits. Example 5 with
  :math:`|\tanh| \le 1`: :math:`\sqrt n (1 + n)`, i.e. 122.47 for the
  paper's :math:`n = 24` and 10 for the set size :math:`n = 4`.

  Args:
    layers: ``[(A_l, B_l), ...]``, each ``[d_in, d_out]``.
    readout: ``[d, classes]`` kernel after pooling.
    set_size: ``n``.
    pooling: ``"sum"`` or ``"mean"``.
    method: ``"power"`` or ``"svd"`` (closed form per layer).
    num_iters: power-iteration cap.
  """
  n = _check_set_size(set_size)
  if pooling not in ("sum", "mean"):
    raise InputError(f"pooling must be 'sum' or 'mean'; got {pooling!r}.")
  k = spectral_norm(readout, method=method, num_iters=num_iters)
  k *= math.sqrt(n) if pooling == "sum" else 1.0 / math.sqrt(n)
  for a, b in layers:
    k *= deepsets_layer_norm(a, b, n, method=method, num_iters=num_iters)
  return float(k)


def confidence_lipschitz_bound(logit_lipschitz: float) -> float:
  r"""Lipschitz bound of :math:`h_P = \max_j \mathrm{softmax}_j(z(x))`:
  :math:`\frac{\sqrt2}{4} K`.

  Proof: :math:`\partial s_j/\partial z_k = s_j(\delta_{jk} - s_k)`, so
  :math:`\|\nabla s_j\|^2 = s_j^2[(1 - s_j)^2 + \sum_{k \ne j} s_k^2] \le
  2 s_j^2 (1 - s_j)^2 \le 2/16`; a maximum of :math:`L`-Lipschitz functions
  is :math:`L`-Lipschitz. Tight for two classes at :math:`s = 1/2`.

  Args:
    logit_lipschitz: :math:`K`, a Lipschitz bound of the logits :math:`z`.
  """
  if isinstance(logit_lipschitz, (bool, np.bool_)) or not isinstance(
      logit_lipschitz, (int, float, np.integer, np.floating)) or not (
          0 <= logit_lipschitz < math.inf):
    raise InputError(f"logit_lipschitz must be a finite number >= 0; got "
                     f"{logit_lipschitz!r}.")
  return math.sqrt(2.0) / 4.0 * float(logit_lipschitz)
