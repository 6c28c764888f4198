"""Lipschitz bounds against closed forms; Theorem 3 by hand."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from enn_sym import bounds
from enn_sym import networks
from enn_sym._validation import InputError


def test_spectral_norm_closed_forms():
  assert bounds.spectral_norm(np.diag([3.0, -7.0, 2.0])) == pytest.approx(7.0)
  u, v = np.array([1.0, 2.0, 2.0]), np.array([3.0, 4.0])
  assert bounds.spectral_norm(np.outer(u, v)) == pytest.approx(15.0)
  # a I + b 11^T (n x n): max(|a|, |a + n b|).
  n = 6
  for a, b in ((1.0, 1.0), (2.0, -1.0), (0.5, -0.05)):
    w = a * np.eye(n) + b * np.ones((n, n))
    assert bounds.spectral_norm(w) == pytest.approx(max(abs(a),
                                                        abs(a + n * b)))
  rng = np.random.default_rng(0)
  for shape in ((5, 3), (8, 8), (2, 30)):
    w = rng.normal(size=shape)
    assert bounds.spectral_norm(w) == pytest.approx(
        np.linalg.svd(w, compute_uv=False)[0], rel=1e-8)


def test_deepsets_layer_norm_power_matches_closed_form():
  rng = np.random.default_rng(1)
  for n in (1, 3, 10):
    a, b = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    power = bounds.deepsets_layer_norm(a, b, n)
    closed = bounds.deepsets_layer_norm(a, b, n, method="svd")
    assert power == pytest.approx(closed, rel=1e-7)
    # The dense operator on vec(X) (row-major): I (x) A^T + 11^T (x) B^T.
    dense = np.kron(np.eye(n), a.T) + np.kron(np.ones((n, n)), b.T)
    assert closed == pytest.approx(np.linalg.norm(dense, 2), rel=1e-10)


@pytest.mark.slow
def test_mlp_bound_covers_the_gradients_of_a_flax_mlp():
  model = networks.MLP(3, (16, 16))
  x = jax.random.normal(jax.random.key(0), (64, 5))
  params = model.init(jax.random.key(1), x)["params"]
  k = bounds.mlp_lipschitz_bound(params)
  kernels = [np.asarray(params[f"Dense_{i}"]["kernel"]) for i in range(3)]
  assert k == pytest.approx(np.prod([np.linalg.norm(w, 2) for w in kernels]),
                            rel=1e-6)
  assert bounds.mlp_lipschitz_bound(kernels, method="svd") == pytest.approx(
      k, rel=1e-6)
  biases = [np.asarray(params[f"Dense_{i}"]["bias"]) for i in range(3)]
  x = np.asarray(x)
  ref = np.asarray(model.apply({"params": params}, x)[0])

  def logits(z):  # The MLP written out (ReLU between the layers).
    for i, (w, b) in enumerate(zip(kernels, biases)):
      z = z @ w + b
      z = jax.nn.relu(z) if i < 2 else z
    return z

  np.testing.assert_allclose(np.asarray(jax.vmap(logits)(x)), ref,
                             rtol=1e-4, atol=1e-5)
  jac = jax.jit(jax.vmap(jax.jacfwd(logits)))(x)  # [64, 3, 5]
  norms = np.linalg.norm(np.asarray(jac), ord=2, axis=(1, 2))
  assert norms.max() <= k * (1 + 1e-5)
  # h_P = max softmax: Lipschitz sqrt(2)/4 K.
  conf = lambda z: jnp.max(jax.nn.softmax(logits(z)))
  grads = jax.jit(jax.vmap(jax.grad(conf)))(x)
  assert np.linalg.norm(np.asarray(grads), axis=1).max() <= (
      bounds.confidence_lipschitz_bound(k) * (1 + 1e-5))


def test_confidence_bound_is_tight_for_two_classes():
  # Logits z = (t, 0) with K = 1: h_P = sigmoid(|t|), slope 1/4 at t = 0;
  # along (1, -1) / sqrt(2) the slope is sqrt(2) / 4.
  grad = jax.grad(lambda t: jnp.max(jax.nn.softmax(
      jnp.array([t, -t]) / math.sqrt(2))))(1e-6)
  assert float(grad) == pytest.approx(bounds.confidence_lipschitz_bound(1.0),
                                      rel=1e-4)


def test_lipschitz_bad_input():
  with pytest.raises(InputError, match="matrix"):
    bounds.spectral_norm(np.ones(3))
  with pytest.raises(InputError, match="method"):
    bounds.spectral_norm(np.ones((2, 2)), method="qr")
  with pytest.raises(InputError, match="Dense_0"):
    bounds.mlp_lipschitz_bound({"Conv_0": {}})
  with pytest.raises(InputError, match="set_size"):
    bounds.deepsets_lipschitz_bound([], np.ones((1, 1)), 0)
  with pytest.raises(InputError, match="pooling"):
    bounds.deepsets_lipschitz_bound([], np.ones((1, 1)), 2, pooling="max")


def test_theorem3_equivariant_regression_floor_by_hand():
  # C_2 acting on R^1 outputs by the sign: rho = (1, -1) on each orbit.
  ids = np.array([0, 0, 1, 1])
  rho = np.array([1.0, -1.0, 1.0, -1.0]).reshape(4, 1, 1)
  # Equivariant targets f(gx) = g f(x): floor 0.
  f = np.array([[2.0], [-2.0], [0.5], [-0.5]])
  assert bounds.theorem3_regression_error_lower_bound(ids, f, rho) == (
      pytest.approx(0.0))
  # Orbit 0 targets (2, 2): v must fit 2 and -v = 2: E = 0, error 4 + 4;
  # orbit 1 equivariant. Floor (1/4) * 8 = 2.
  f2 = np.array([[2.0], [2.0], [0.5], [-0.5]])
  assert bounds.theorem3_regression_error_lower_bound(ids, f2, rho) == (
      pytest.approx(2.0))
  # Trivial representation: Theorem 3 = Theorem 2 (orbit variance).
  eye = np.ones((4, 1, 1))
  assert bounds.theorem3_regression_error_lower_bound(ids, f2, eye) == (
      pytest.approx(bounds.theorem2_regression_error_lower_bound(ids, f2)))
  # 2-D rotation by 90 degrees: f(gx) = R f(x) is exact; any other field is
  # a weighted least-squares problem: compare with a brute-force solve.
  rot = np.array([[0.0, -1.0], [1.0, 0.0]])
  reps = np.stack([np.linalg.matrix_power(rot, k) for k in range(4)])
  base = np.array([1.0, 2.0])
  assert bounds.theorem3_regression_error_lower_bound(
      np.zeros(4, int), reps @ base, reps) == pytest.approx(0.0, abs=1e-12)
  rng = np.random.default_rng(0)
  f3, w = rng.normal(size=(4, 2)), rng.uniform(0.1, 1, 4)
  wn = w / w.sum()
  v = np.linalg.lstsq(np.concatenate([np.sqrt(wn[i]) * reps[i]
                                      for i in range(4)]),
                      np.concatenate([np.sqrt(wn[i]) * f3[i]
                                      for i in range(4)]), rcond=None)[0]
  ref = sum(wn[i] * np.sum((f3[i] - reps[i] @ v) ** 2) for i in range(4))
  assert bounds.theorem3_regression_error_lower_bound(
      np.zeros(4, int), f3, reps, w) == pytest.approx(ref)
  with pytest.raises(InputError, match="rho"):
    bounds.theorem3_regression_error_lower_bound(ids, f, np.ones((4, 2, 2)))
