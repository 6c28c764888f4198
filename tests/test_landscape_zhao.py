"""Validation against Zhao et al. (2025): deep linear networks.

The minimum of ``||Y - W_l ... W_1 X||^2`` (full-rank data, square
``h x h`` weights) has ``2^(l - 1)`` connected components, told apart by the
signs of ``det W_i``. Any path between different sign patterns passes a
singular ``W_k`` and so rises to at least the Eckart-Young certificate
``c*``, which is attained. Checked here: the certificate against a
hand-computed value and an independent numerical minimisation, the path that
attains it, the GL+ quotient (balanced gauge, rotation onto the partner),
and that the adaptive search after that quotient gives exactly the sign
partition below ``c*`` and cross-class barriers within a tolerance of ``c*``.

Reference: B. Zhao, N. Dehmamy, R. Walters, R. Yu, "Understanding mode
connectivity via parameter space symmetry", ICML 2025 (arXiv:2505.23681).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import optimize

from enn_sym import landscape as ls
from enn_sym._validation import InputError


def test_certificate_square_data_is_sigma_min_of_y_squared():
  # Reference sheet §4: h = 3, rng(0), X then Y standard normal.
  rng = np.random.default_rng(0)
  x, y = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
  np.testing.assert_allclose(np.linalg.svd(y, compute_uv=False),
                             [3.0345, 0.7980, 0.2915], atol=1e-4)
  cert = ls.disconnection_certificate(x, y)
  np.testing.assert_allclose(cert * np.sum(y ** 2), 0.084981, atol=1e-6)
  # The naive sigma_min(A)^2 (0.186166) is wrong for non-whitened X.
  a = y @ np.linalg.inv(x)
  naive = np.linalg.svd(a, compute_uv=False)[-1] ** 2
  np.testing.assert_allclose(naive, 0.186166, atol=1e-6)
  assert abs(naive - cert * np.sum(y ** 2)) > 0.1


def _rank_deficient_min(x, y, restarts=20):
  """min ||Y - P X||^2 / ||Y||^2 over rank(P) <= h - 1 by BFGS (P = B C)."""
  h = x.shape[0]
  rng = np.random.default_rng(1)

  def f(z):
    b, c = z[:h * (h - 1)].reshape(h, h - 1), z[h * (h - 1):].reshape(h - 1, h)
    return np.sum((y - b @ c @ x) ** 2) / np.sum(y ** 2)

  return min(optimize.minimize(f, rng.standard_normal(2 * h * (h - 1)),
                               method="BFGS", tol=1e-12).fun
             for _ in range(restarts))


@pytest.mark.parametrize("h,n,whiten", [(3, 3, False), (3, 7, False),
                                        (2, 5, False), (3, 7, True)])
def test_certificate_general_data_matches_constrained_minimum(h, n, whiten):
  rng = np.random.default_rng(h * 10 + n)
  x, y = rng.standard_normal((h, n)), rng.standard_normal((h, n))
  if whiten:  # X X^T = I: then the bound is residual + sigma_min(A)^2.
    evals, evecs = np.linalg.eigh(x @ x.T)
    x = evecs @ np.diag(evals ** -0.5) @ evecs.T @ x
  cert = ls.disconnection_certificate(x, y)
  np.testing.assert_allclose(cert, _rank_deficient_min(x, y), rtol=1e-5)
  a = y @ x.T @ np.linalg.inv(x @ x.T)
  residual = np.sum((y - a @ x) ** 2) / np.sum(y ** 2)
  naive = residual + np.linalg.svd(a, compute_uv=False)[-1] ** 2 / np.sum(
      y ** 2)
  if whiten:
    np.testing.assert_allclose(cert, naive, rtol=1e-10)
  else:
    assert abs(cert - naive) > 1e-3 * cert


@pytest.mark.parametrize("h,depth,n", [(3, 3, 3), (2, 4, 6)])
def test_certificate_path_attains_the_bound_and_flips_two_signs(h, depth, n):
  problem = ls.zhao_linear_problem(h, depth, seed=2, num_examples=n)
  path = ls.certificate_path(problem, (0, depth - 1), num_points=301)
  x, y = problem.x, problem.y
  losses = []
  for theta in path:  # float64 numpy reference of the loss
    prod = x
    for w in theta.reshape(depth, h, h):
      prod = w @ prod
    losses.append(np.sum((y - prod) ** 2) / np.sum(y ** 2))
  losses = np.asarray(losses)
  np.testing.assert_allclose(losses.max(), problem.certificate, rtol=1e-10)
  minimum = np.sum((y - y @ x.T @ np.linalg.inv(x @ x.T) @ x) ** 2) / np.sum(
      y ** 2)
  np.testing.assert_allclose(losses[[0, -1]], minimum, atol=1e-12)
  s0, s1 = ls.sign_pattern(path[[0, -1]], h, depth)
  np.testing.assert_array_equal(s0 != s1, np.eye(depth)[0] + np.eye(depth)[-1])
  # The JAX loss agrees with the reference.
  np.testing.assert_allclose(jax.vmap(problem.loss)(jnp.asarray(path[::30])),
                             losses[::30], rtol=1e-4, atol=1e-6)


def test_balance_hand_computed_scalar_layers():
  # h = 1: every |w_k| becomes |P|^(1/l), the signs stay.
  np.testing.assert_allclose(ls.balance([2.0, -8.0], 1, 2), [4.0, -4.0])
  np.testing.assert_allclose(ls.balance([-1.0, 2.0, -4.0], 1, 3),
                             [-2.0, 2.0, -2.0])


def _partials(theta, h, depth):
  ws = np.asarray(theta, np.float64).reshape(depth, h, h)
  out = [ws[0]]
  for w in ws[1:]:
    out.append(w @ out[-1])
  return ws, out


@pytest.mark.parametrize("h,depth", [(2, 2), (3, 3), (3, 4)])
def test_balance_is_balanced_same_product_reached_by_spd(h, depth):
  rng = np.random.default_rng(h + 10 * depth)
  theta = rng.standard_normal(depth * h * h)
  bal = ls.balance(theta, h, depth)
  ws, q = _partials(theta, h, depth)
  wb, qb = _partials(bal, h, depth)
  np.testing.assert_allclose(qb[-1], q[-1], atol=1e-12)  # same product
  for k in range(depth - 1):  # balanced: W_{k+1}^T W_{k+1} = W_k W_k^T
    np.testing.assert_allclose(wb[k + 1].T @ wb[k + 1], wb[k] @ wb[k].T,
                               atol=1e-10)
    # Reached from theta by g_k = Q'_k Q_k^-1 symmetric positive definite:
    # the segment (1 - s) I + s g_k stays in GL+, a constant-loss path.
    g = qb[k] @ np.linalg.inv(q[k])
    np.testing.assert_allclose(g, g.T, atol=1e-10)
    assert np.linalg.eigvalsh(g).min() > 0
  np.testing.assert_array_equal(ls.sign_pattern(bal, h, depth),
                                ls.sign_pattern(theta, h, depth))
  np.testing.assert_allclose(ls.balance(bal, h, depth), bal, atol=1e-10)


def _random_minimum(problem, rng, signs=None):
  h, depth = problem.width, problem.depth
  a = problem.y @ problem.x.T @ np.linalg.inv(problem.x @ problem.x.T)
  while True:
    ws = rng.standard_normal((depth, h, h))
    ws[-1] = a @ np.linalg.inv(np.linalg.multi_dot(list(ws[:-1][::-1]))
                               if depth > 2 else ws[0])
    theta = ws.ravel()
    if signs is None or np.array_equal(ls.sign_pattern(theta, h, depth),
                                       signs):
      return theta


@pytest.mark.parametrize("h,depth", [(2, 3), (3, 3), (2, 4)])
def test_linear_aligner_joins_a_class_never_two(h, depth):
  problem = ls.zhao_linear_problem(h, depth, seed=1)
  rng = np.random.default_rng(0)
  align = ls.make_linear_aligner(h, depth)
  a = _random_minimum(problem, rng)
  sa = ls.sign_pattern(a, h, depth)
  same = _random_minimum(problem, rng, sa)
  other = sa.copy()
  other[[0, -1]] *= -1
  cross = _random_minimum(problem, rng, other)
  # One class: the quotient representatives coincide.
  x, y = align(a, same)
  assert np.abs(a - same).max() > 0.1
  np.testing.assert_allclose(x, y, atol=1e-8)
  # Across classes: the signs survive (only GL+ acts), the loss too.
  x, y = align(a, cross)
  np.testing.assert_array_equal(ls.sign_pattern(y, h, depth), other)
  np.testing.assert_array_equal(ls.sign_pattern(x, h, depth), sa)
  assert np.abs(x - y).max() > 1e-3
  np.testing.assert_allclose(problem.loss(jnp.asarray(y, jnp.float32)), 0.0,
                             atol=1e-5)
  # rotate=False keeps the rotations: one class is not joined by it alone.
  x, y = ls.make_linear_aligner(h, depth, rotate=False)(a, same)
  assert np.abs(x - y).max() > 1e-3


def test_linear_bad_input():
  with pytest.raises(InputError, match="singular"):
    ls.disconnection_certificate(np.ones((2, 3)), np.ones((2, 3)))
  with pytest.raises(InputError, match="A = Y X"):
    ls.disconnection_certificate(np.eye(2), np.diag([1.0, 0.0]))
  with pytest.raises(InputError, match="depth"):
    ls.zhao_linear_problem(2, 1)
  with pytest.raises(InputError, match="num_examples"):
    ls.zhao_linear_problem(3, 2, num_examples=2)
  with pytest.raises(InputError, match="entries"):
    ls.sign_pattern(np.zeros(7), 2, 2)
  with pytest.raises(InputError, match="singular one"):
    ls.balance(np.zeros(8), 2, 2)
  with pytest.raises(InputError, match="entries"):
    ls.balance(np.zeros(7), 2, 2)
  with pytest.raises(InputError, match="saddle"):
    ls.certify(np.zeros((3, 3)), [0, 1], 1.0)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _train(loss, keys, num_steps, init_fn):
  """Full-batch Adam from each key (the data are arguments: one compile)."""
  opt = optax.adam(optax.cosine_decay_schedule(0.05, num_steps))

  def one(k):
    th = init_fn(k)

    def step(carry, _):
      th, st = carry
      upd, st = opt.update(jax.grad(loss)(th), st)
      return (optax.apply_updates(th, upd), st), None

    (th, _), _ = jax.lax.scan(step, (th, opt.init(th)), None,
                              length=num_steps)
    return th

  return jax.vmap(one)(keys)


def _init(h, depth):
  return jax.tree_util.Partial(
      lambda key: jax.random.normal(key, (depth * h * h,)) / np.sqrt(h))


_INITS = {}


def _minima(problem, num, seed):
  key = (problem.width, problem.depth)
  init = _INITS.setdefault(key, _init(*key))
  theta = np.asarray(_train(problem.loss, jax.random.split(
      jax.random.key(seed), num), 3000, init))
  losses = np.asarray(jax.vmap(problem.loss)(jnp.asarray(theta)))
  # Keep the runs that reached the minimum (loss far below the level).
  return theta[losses < problem.certificate * 1e-2]


# Every problem must come out exact. Without the GL+ quotient
# (``make_linear_aligner``) 25 of the 30 were: on h=2 l=3 seed 3, h=2 l=4
# seeds 3, 4 and h=3 l=4 seeds 1, 3 a within-class pair's best Bezier curve
# still crossed the singular set twice (saddle 1.0-1.5 c*) and split a class;
# balancing alone (``rotate=False``) still split h=2 l=3 seed 3.
_MIN_EXACT = 30


def _sign_partition_exact(h, depth, seed):
  """Searches one problem's minima; True when the partition is exact.

  Asserts on the way what must hold on every problem: no component joins
  two sign classes, and the best barrier between classes is never below the
  certificate and within 10% of it.
  """
  problem = ls.zhao_linear_problem(h, depth, seed=seed)
  minima = _minima(problem, 12 if depth < 4 else 16, seed)
  patterns = ls.sign_pattern(minima, h, depth)
  truth = ls.pattern_labels(patterns)
  assert len(minima) >= 10 and len(set(truth.tolist())) >= 2, seed
  # Zhao et al.: the sign product is fixed by det A on the minima.
  a = problem.y @ np.linalg.inv(problem.x)
  assert np.all(np.prod(patterns, 1) == np.sign(np.linalg.det(a)))
  level = problem.certificate / 2
  res = ls.search_paths(problem.loss, minima, key=jax.random.key(seed),
                        schedule=((2, 200), (3, 600), (4, 1200)),
                        learning_rate=0.05, level=level,
                        batch_size=None, fixed_shapes=True,
                        align=ls.make_linear_aligner(h, depth))
  found = res.combined.labels(level)
  # Never joined across sign classes: each component in one class.
  for comp in set(found.tolist()):
    assert len(set(truth[found == comp].tolist())) == 1, (h, depth, seed)
  ok = ls.canonical_partition(found) == ls.canonical_partition(truth)
  print(f"h={h} l={depth} seed={seed}: exact={ok} components="
        f"{len(set(found.tolist()))} classes={len(set(truth.tolist()))}")
  cert = ls.certify(res.saddle, truth, problem.certificate)
  assert cert["holds"], (h, depth, seed, cert)  # never below c*
  assert cert["ratio"] < 1.1, (h, depth, seed, cert)  # and close to it
  return bool(ok)


@pytest.mark.slow
@pytest.mark.parametrize("h, depth", [(2, 2), (3, 3)])
def test_adaptive_search_recovers_the_sign_partition_on_seed_0(h, depth):
  # The default suite's share of the sweep below: problems measured exact.
  assert _sign_partition_exact(h, depth, 0)


@pytest.mark.long
def test_adaptive_search_recovers_the_sign_partition():
  # The whole sweep (widths 2-3, depths 2-4, 5 problem seeds), marked long
  # and left out of the default suite (`python -m pytest -m long` runs it;
  # wall time in docs/testing.md).
  exact, problems = 0, 0
  for h, depth in [(2, 2), (3, 2), (2, 3), (3, 3), (2, 4), (3, 4)]:
    for seed in range(5):
      problems += 1
      exact += _sign_partition_exact(h, depth, seed)
  assert exact >= _MIN_EXACT, (exact, problems)
