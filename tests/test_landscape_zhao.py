"""Validation against Zhao et al. (2023): deep linear networks.

The minimum of ``||Y - W_l ... W_1 X||^2`` with full-rank square ``X, Y``
(``h x h``) has ``2^(l - 1)`` connected components, told apart by the signs
of ``det W_1 .. det W_{l-1}`` (the sign of ``det W_l`` then follows). Any path
between different sign patterns passes a singular ``W_k``, where the product
has rank ``< h`` and, by Eckart-Young, the normalised loss is at least
``sigma_h(Y)^2 / ||Y||_F^2``: the level ``c`` is set below that bound, so a
merge across patterns is impossible and the test checks that the curve
search merges everything else. Linear interpolation alone leaves more
components: straight segments leave the minimum set.

Reference: B. Zhao, N. Dehmamy, R. Walters, R. Yu, "Understanding mode
connectivity via parameter space symmetry", 2023 (arXiv:2305.19413).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from enn_sym import landscape as ls


def _problem(h, depth, seed=0):
  rng = np.random.default_rng(seed)
  x = jnp.asarray(rng.standard_normal((h, h)), jnp.float32)
  y = jnp.asarray(rng.standard_normal((h, h)), jnp.float32)
  sv = np.linalg.svd(np.asarray(y), compute_uv=False)
  bound = float(sv[-1] ** 2 / np.sum(sv ** 2))

  def loss(theta):
    prod = x
    for w in theta.reshape(depth, h, h):
      prod = w @ prod
    return jnp.sum((y - prod) ** 2) / jnp.sum(y ** 2)

  def init(key):
    return jax.random.normal(key, (depth * h * h,))

  return loss, init, bound


@pytest.mark.parametrize("h,depth,num", [(2, 2, 12), (3, 2, 12), (2, 3, 24)])
def test_curves_find_exactly_the_sign_components(h, depth, num):
  loss, init, bound = _problem(h, depth)
  level = bound / 4
  minima = ls.sample_minima(loss, init, jax.random.key(0), num,
                            num_steps=1000, learning_rate=0.05, level=1e-4)
  assert len(minima.losses) >= num - 2  # (almost) every run converged
  weights = minima.params.reshape(-1, depth, h, h)
  signs = np.sign(np.linalg.det(weights[:, :depth - 1].astype(np.float64)))
  patterns = {}
  truth = [patterns.setdefault(tuple(s), len(patterns)) for s in signs]
  assert len(patterns) == 2 ** (depth - 1)  # the samples hit every component

  res = ls.analyze_connectivity(loss, minima.params, key=jax.random.key(1),
                                num_bends=2, curve_steps=200,
                                curve_learning_rate=0.05, num_t=8,
                                batch_size=None)  # one vmap: less to compile
  # Curves: exactly 2^(depth-1) components, the sign partition.
  assert res.combined.num_components(level) == 2 ** (depth - 1)
  assert (ls.canonical_partition(res.combined.labels(level))
          == ls.canonical_partition(truth))
  # Linear paths alone do not merge them.
  assert res.linear.num_components(level) > 2 ** (depth - 1)
  # Theory check: no path across patterns goes below the rank bound.
  i, j = res.pairs.T
  across = np.asarray(truth)[i] != np.asarray(truth)[j]
  saddle = np.minimum(res.linear_saddle, res.curve_saddle)[i, j]
  assert np.all(saddle[across] >= bound * (1 - 1e-3))
