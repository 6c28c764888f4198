r"""Evaluation tasks with known orbits for the bounds experiments.

* :func:`wang_swiss_roll`: the Swiss rolls of Wang et al. 2024 as built by
  their code (``ext_theory/spiral/main.py``, restated in the reference
  sheet, section 5.1), used in Berman et al. 2025, Figure 3.
* :class:`SwissRollDSS`: the z-invariant network of that figure (two DSS
  layers, Maron et al. 2020, on a 2-slot set).
* :func:`rotation_orbit_task`: points on a circle under :math:`C_n`
  rotations with sector labels, a multi-class task whose every orbit carries
  several labels (so Theorem 5's :math:`m` is positive), with the invariant
  features :func:`rotation_invariant_features`.

These build data and models; training happens elsewhere
(``experiments/*.py`` with :func:`enn_sym.train.fit_seeds`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import flax.linen as nn

import jax.numpy as jnp
import numpy as np

from enn_sym._validation import InputError

NUM_RADII = 100_000

@dataclasses.dataclass(frozen=True)
class OrbitSplit:
  """One split: inputs ``x [N, d]``, ``labels [N]``, ``orbit_ids [N]`` and
  (where known) ``kind [N]``: 0 correct, 1 incorrect, 2 extrinsic symmetry."""

  x: np.ndarray
  labels: np.ndarray
  orbit_ids: np.ndarray
  kind: np.ndarray | None = None

  def __len__(self) -> int:
    return int(self.labels.shape[0])

def _spirals(correct_ratio: float, incorrect_ratio: float):
  """All ``2 * NUM_RADII`` points, labels and kinds of the Wang rolls."""
  n = NUM_RADII
  r = np.arange(n) * 5e-7
  theta = 90 * math.pi * r
  xy1 = np.stack([10 * r * np.cos(theta), 10 * r * np.sin(theta)], 1)
  xy2 = np.stack([10 * r * np.cos(theta + 3), 10 * r * np.sin(theta + 3)], 1)
  z1, z2 = np.zeros(n), np.ones(n)
  chunk = n // 16
  num_correct = int(math.floor(16 * correct_ratio + 1e-9))
  for c in range(0, num_correct - 1, 2):  # Pairs of chunks (c, c + 1).
    even = slice(c * chunk, (c + 1) * chunk)
    odd = slice((c + 1) * chunk, (c + 2) * chunk)
    # Spiral 1: odd chunk's xy copied onto the even chunk (copies z = 0,
    # originals z = 1); spiral 2 with odd and even swapped.
    xy1[even] = xy1[odd]
    z1[even], z1[odd] = 0.0, 1.0
    xy2[odd] = xy2[even]
    z2[odd], z2[even] = 0.0, 1.0
  lo = int(round(correct_ratio * n))
  hi = int(round((correct_ratio + incorrect_ratio) * n))
  xy2[lo:hi] = xy1[lo:hi]  # Incorrect: opposite labels on the same xy.
  x = np.concatenate([np.c_[xy1, z1], np.c_[xy2, z2]]).astype(np.float64)
  labels = np.r_[np.zeros(n, np.int32), np.ones(n, np.int32)]
  kind = np.full(n, 2, np.int8)
  kind[:num_correct * chunk] = 0
  kind[lo:hi] = 1
  return x, labels, np.r_[kind, kind]

def wang_swiss_roll(correct_ratio: float, incorrect_ratio: float, *,
                    num_train: int = 200, num_val: int = 200,
                    num_test: int = 200, seed: int = 0
                    ) -> dict[str, OrbitSplit]:
  r"""The Swiss-roll splits of Wang et al. 2024 / Berman et al. 2025 Fig. 3.

  Two spirals of ``NUM_RADII`` points each (:math:`r \in [0, 0.05)` in
  steps of :math:`5 \cdot 10^{-7}`, :math:`\theta = 90\pi r`; spiral 1
  :math:`(10r\cos\theta, 10r\sin\theta, 0)` label 0, spiral 2 the same at
  :math:`\theta + 3` and :math:`z = 1`, label 1). The first
  :math:`\lfloor 16\,cr \rfloor` of 16 chunks are made correct (each xy at
  both heights with one label), indices :math:`[cr N, (cr + icr) N)`
  incorrect (spiral 2's xy set to spiral 1's), the rest extrinsic. All
  points are shuffled (``seed``) and the splits drawn disjointly.

  ``"test"`` is the sampled test set; ``"test_closed"`` adds, for every test
  point, its swap partner from the pool (same xy, other height) when it
  exists, so it is orbit-closed and the finite bounds apply; orbit ids are
  shared by partners.

  Args:
    correct_ratio: ``cr``, a multiple of 1/8 in ``[0, 1]``.
    incorrect_ratio: ``icr``, ``cr + icr <= 1``.
    num_train, num_val, num_test: split sizes (200 each in the paper).
    seed: the shuffle seed.
  """
  cr, icr = float(correct_ratio), float(incorrect_ratio)
  if not (0 <= cr <= 1 and 0 <= icr <= 1 and cr + icr <= 1 + 1e-9) or (
      abs(cr * 8 - round(cr * 8)) > 1e-9):
    raise InputError(
        "correct_ratio must be a multiple of 1/8 in [0, 1] and "
        f"correct_ratio + incorrect_ratio <= 1; got {correct_ratio!r}, "
        f"{incorrect_ratio!r}.")
  x, labels, kind = _spirals(cr, icr)
  total = num_train + num_val + num_test
  if total > x.shape[0]:
    raise InputError(f"num_train + num_val + num_test must be <= "
                     f"{x.shape[0]}; got {total}.")
  order = np.random.default_rng(seed).permutation(x.shape[0])
  pick = {"train": order[:num_train],
          "val": order[num_train:num_train + num_val],
          "test": order[num_train + num_val:total]}
  # Orbit key: xy (copied exactly, so equal floats); z is what the swap
  # changes.
  inv = np.unique(x[:, :2], axis=0, return_inverse=True)[1].reshape(-1)
  order = np.argsort(inv, kind="stable")
  starts = np.searchsorted(inv[order], np.arange(inv.max() + 2))
  out = {k: OrbitSplit(x[v].astype(np.float32), labels[v], np.asarray(v),
                       kind[v]) for k, v in pick.items()}
  closed, ids = [], []
  seen = set()
  for i in pick["test"]:
    members = order[starts[inv[i]]:starts[inv[i] + 1]]
    partners = [j for j in members if x[j, 2] != x[i, 2]]
    group = [i] + partners[:1]
    for j in group:
      if j not in seen:
        seen.add(j)
        closed.append(j)
        ids.append(min(group))
  closed = np.asarray(closed)
  out["test_closed"] = OrbitSplit(x[closed].astype(np.float32),
                                  labels[closed], np.asarray(ids),
                                  kind[closed])
  return out

class SwissRollDSS(nn.Module):
  """The z-invariant DSS network of Berman et al. 2025, Figure 3.

  ``(x, y)`` goes into slot ``z`` of a 2-element set (the other slot is 0);
  each layer is ``relu(h_i W + (h_0 + h_1) V + b)`` per element ``i``; a
  sum over the set and a linear readout follow. Swapping ``z`` permutes the
  slots, so the logits are exactly invariant. Returns ``(logits,
  features)`` like :class:`enn_sym.networks.MLP`.

  A layer is computed in the sum/difference basis of the two slots, with
  two matmuls instead of three: ``out_0 + out_1 = (h_0 + h_1)(W + 2V) + 2b``
  and ``out_0 - out_1 = (h_0 - h_1) W`` (the same function and parameters;
  ``W``, ``V`` ``lecun_normal``, ``b`` zeros, as ``nn.Dense``).
  """

  num_classes: int = 2
  hidden_sizes: Sequence[int] = (512, 512)

  @nn.compact
  def __call__(self, x, *, train: bool = False):
    del train
    x = jnp.asarray(x, jnp.float32)
    xy, upper = x[:, :2], (x[:, 2:3] > 0.5)
    h0, h1 = jnp.where(upper, 0.0, xy), jnp.where(upper, xy, 0.0)
    init = nn.initializers.lecun_normal()
    for i, width in enumerate(self.hidden_sizes):
      shape = (h0.shape[-1], width)
      w = self.param(f"layer{i}_element", init, shape)
      v = self.param(f"layer{i}_set", init, shape)
      b = self.param(f"layer{i}_bias", nn.initializers.zeros, (width,))
      total = (h0 + h1) @ (w + 2.0 * v)
      diff = (h0 - h1) @ w
      h0 = nn.relu(0.5 * (total + diff) + b)
      h1 = nn.relu(0.5 * (total - diff) + b)
    features = h0 + h1
    return nn.Dense(self.num_classes)(features), features


def rotation_orbit_task(num_orbits: int, order: int, sector_labels:
                        Sequence[int], *, seed: int = 0) -> OrbitSplit:
  r"""Points on the unit circle under :math:`C_n` rotations, sector labels.

  Each orbit is a random angle :math:`\theta` and its ``order`` rotations
  :math:`\theta + 2\pi k/n`; a point's label is that of the sector (of
  ``len(sector_labels)`` equal sectors) it falls in. With ``order`` equal
  to the number of sectors and labels ``0..C-1``, every orbit carries every
  label once (:math:`\kappa(O) = (1 - 1/C)\,q(O)`, Theorem 5's
  :math:`m = 1/C`).

  Returns:
    An :class:`OrbitSplit` with ``x = (cos, sin)`` of the angles.
  """
  rng = np.random.default_rng(seed)
  theta0 = rng.uniform(0, 2 * math.pi, num_orbits)
  theta = (theta0[:, None] + 2 * math.pi * np.arange(order) / order).reshape(-1)
  s = len(sector_labels)
  sector = np.floor(np.mod(theta, 2 * math.pi) / (2 * math.pi / s)).astype(
      int) % s
  labels = np.asarray(sector_labels, np.int32)[sector]
  x = np.stack([np.cos(theta), np.sin(theta)], 1).astype(np.float32)
  return OrbitSplit(x, labels, np.repeat(np.arange(num_orbits), order))

def rotation_invariant_features(x, order: int):
  r"""``(cos n\theta, sin n\theta)`` of points ``x = (cos, sin)``: exactly
  :math:`C_n`-invariant features (jax or numpy arrays)."""
  theta = jnp.arctan2(x[..., 1], x[..., 0])
  return jnp.stack([jnp.cos(order * theta), jnp.sin(order * theta)], -1)



class PlaneSwapInvariantPrior(nn.Module):
  """Makes an epinet prior z-invariant: ``inner(x[:, :2], z)``.

  The plane swap changes only the height ``z``; a function of ``(x, y)``
  alone is invariant to it. Use with ``make_epinet(..., include_inputs=False,
  prior=PlaneSwapInvariantPrior(prior))`` on an invariant base so the whole
  epinet is invariant.
  """

  inner: nn.Module

  @nn.compact
  def __call__(self, x, z):
    return self.inner(jnp.asarray(x)[:, :2], z)
