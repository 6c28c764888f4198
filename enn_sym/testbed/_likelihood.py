"""Test batches and the marginal / joint KL estimator of the Neural Testbed.

A *sampler* is ``sampler(x [B, D], key) -> logits [B, C]``: one call with one
key is ONE epistemic sample applied to the whole batch (one ensemble member,
one index ``z``, one dropout mask; §3.1 of ``neural_testbed.md``). Samplers
must be row-wise (row ``b`` of the output depends on ``x[b]`` and ``key``
only), which holds for every MLP agent; the estimator then evaluates each test
batch's ``kappa`` distinct anchors instead of its ``tau`` repeated rows.

The estimator (§3.2), for test seed ``j`` with key ``k_j``:

1. ``(x_{1:tau}, y_{1:tau})`` from the dyadic sampler; ``l_true = sum_t log
   p(y_t | x_t)``;
2. ``l_m = sum_t log q_m(y_t | x_t)`` for ``m = 1..M`` with the problem's ENN
   keys (the same keys for every ``j``);
3. ``l_hat = log mean_m exp(l_m)`` (stable log-sum-exp; ``-inf`` if all are);
4. ``KL_j = l_true - l_hat``.

``tau = 1`` gives the marginal KL, ``tau = 10`` the joint KL; nothing is
divided by ``tau``. The per-problem value (§3.3) is the mean of ``KL_j`` after
replacing ``+inf`` by the largest finite ``KL_j``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from enn_sym.testbed import _problems

Array = jax.Array
Sampler = Callable[[Array, Array], Array]


class TestBatch(NamedTuple):
  """One dyadic test batch (§1.3).

  Attributes:
    anchors: ``[kappa, D]`` the distinct inputs.
    which: ``[tau]`` int32, the anchor of each position.
    labels: ``[tau]`` int32, an independent draw from ``p(.|x_t)`` each.
    log_lik: scalar, ``sum_t log p(y_t | x_t)`` under the teacher.
  """

  anchors: Array
  which: Array
  labels: Array
  log_lik: Array

  @property
  def x(self) -> Array:
    """``[tau, D]`` the test inputs (anchors repeated, no noise)."""
    return self.anchors[self.which]


def sample_test_batch(problem: _problems.Problem, key) -> TestBatch:
  """The test batch of one test seed: ``(kx, ky) = split(key)``; ``(k_anchor,
  k_which) = split(kx)``; ``kappa`` anchors from the input distribution,
  ``tau`` anchor choices uniform with replacement, labels per position."""
  cfg = problem.config
  kx, ky = jax.random.split(key)
  k_anchor, k_which = jax.random.split(kx)
  anchors = problem.input_sampler(k_anchor, cfg.kappa, cfg.input_dim)
  which = jax.random.randint(k_which, (cfg.tau,), 0, cfg.kappa)
  x = anchors[which]
  log_p = jax.nn.log_softmax(problem.logits(x), axis=-1)
  labels = _problems.sample_labels(ky, jnp.exp(log_p))
  log_lik = jnp.sum(jnp.take_along_axis(log_p, labels[:, None], -1))
  return TestBatch(anchors, which.astype(jnp.int32), labels, log_lik)


def sample_test_batches(problem: _problems.Problem) -> TestBatch:
  """The ``J`` test batches of a problem, stacked on a leading axis.

  Equal to ``vmap(sample_test_batch)`` over ``problem.test_keys``, computed
  with one flat label draw (much faster to compile).
  """
  return _sample_test_batches(problem)


def _sample_test_batches(problem):
  cfg = problem.config

  @jax.jit
  def run(test_keys):
    kx, ky = jax.vmap(jax.random.split, out_axes=1)(test_keys)
    k_anchor, k_which = jax.vmap(jax.random.split, out_axes=1)(kx)
    anchors = jax.vmap(lambda k: problem.input_sampler(
        k, cfg.kappa, cfg.input_dim))(k_anchor)
    which = jax.vmap(lambda k: jax.random.randint(
        k, (cfg.tau,), 0, cfg.kappa))(k_which)
    x = jnp.take_along_axis(anchors, which[..., None], axis=1)
    log_p = jax.nn.log_softmax(
        problem.logits(x.reshape(-1, cfg.input_dim)), axis=-1)
    label_keys = jax.vmap(lambda k: jax.random.split(k, cfg.tau))(ky)
    c = log_p.shape[-1]
    labels = jax.vmap(lambda k, lp: jax.random.choice(
        k, c, (1,), p=jnp.exp(lp))[0])(label_keys.reshape(-1), log_p)
    log_lik = jnp.take_along_axis(log_p, labels[:, None], -1).reshape(
        -1, cfg.tau).sum(-1)
    return TestBatch(anchors, which.astype(jnp.int32),
                     labels.reshape(-1, cfg.tau).astype(jnp.int32), log_lik)

  return run(problem.test_keys)


def sampled_log_likelihoods(sampler: Sampler, batches: TestBatch,
                            enn_keys: Array, *, chunk: int = 50) -> Array:
  """``l[m, j] = sum_t log q_m(y_jt | x_jt)``, shape ``[M, J]``.

  ``chunk`` ENN samples are vmapped at a time (memory ``chunk * J * kappa``
  logits).
  """
  num_seeds, kappa, dim = batches.anchors.shape
  flat = batches.anchors.reshape(num_seeds * kappa, dim)

  def one(key):
    logits = sampler(flat, key).reshape(num_seeds, kappa, -1)
    log_q = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    per_pos = log_q[jnp.arange(num_seeds)[:, None], batches.which,
                    batches.labels]
    return jnp.sum(per_pos, axis=-1)

  m = enn_keys.shape[0]
  chunk = max(1, min(chunk, m))
  pad = (-m) % chunk
  keys = jnp.concatenate([enn_keys, enn_keys[:pad]]) if pad else enn_keys
  keys = keys.reshape((-1, chunk) + keys.shape[1:])
  out = jax.lax.map(jax.vmap(one), keys).reshape(-1, num_seeds)
  return out[:m]


def log_mean_exp(values: Array, axis: int = 0) -> Array:
  """``log mean exp(values)`` along ``axis``; ``-inf`` when every value is."""
  peak = jnp.max(values, axis=axis, keepdims=True)
  safe = jnp.where(jnp.isfinite(peak), peak, 0.0)
  mean = jnp.mean(jnp.exp(values - safe), axis=axis, keepdims=True)
  return jnp.squeeze(jnp.log(mean) + safe, axis=axis)


def kl_per_test_seed(problem: _problems.Problem, sampler: Sampler, *,
                     chunk: int = 50,
                     batches: TestBatch | None = None) -> Array:
  """``KL_j`` for every test seed ``j`` (``[J]``, may hold ``+inf``).

  ``batches``: the problem's :func:`sample_test_batches`, if already drawn
  (they do not depend on the agent).
  """
  if batches is None:
    batches = sample_test_batches(problem)
  ll = jax.jit(lambda b, keys: sampled_log_likelihoods(
      sampler, b, keys, chunk=chunk))(batches, problem.enn_keys)
  return batches.log_lik - log_mean_exp(ll, axis=0)


def summarize_kl(kl: Array) -> dict[str, float]:
  """Per-problem aggregation (§3.3): clip ``+inf`` to the max finite value.

  Returns:
    ``kl_estimate`` (mean of the clipped values), ``kl_estimate_std``
    (population std of the raw values; ``nan`` if any is infinite),
    ``kl_stderr`` (std of the clipped values / sqrt(J), this library's Monte
    Carlo error) and ``pct_finite_kl``.
  """
  kl = np.asarray(kl, np.float64)
  finite = np.isfinite(kl)
  worst = kl[finite].max() if finite.any() else np.inf
  clipped = np.minimum(kl, worst)
  return {
      "kl_estimate": float(np.mean(clipped)),
      "kl_estimate_std": float(np.std(kl)) if finite.all() else float("nan"),
      "kl_stderr": float(np.std(clipped) / np.sqrt(kl.size))
                   if finite.any() else float("inf"),
      "pct_finite_kl": float(100.0 * finite.mean()),
  }


def evaluate_quality(problem: _problems.Problem, sampler: Sampler, *,
                     chunk: int = 50,
                     batches: TestBatch | None = None) -> dict[str, float]:
  """The testbed score of ``sampler`` on ``problem`` (see :func:`summarize_kl`).

  Deterministic: the test batches and ENN keys are fixed by the problem seed.
  """
  return summarize_kl(kl_per_test_seed(problem, sampler, chunk=chunk,
                                       batches=batches))
