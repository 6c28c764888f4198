"""Baseline agents of the testbed and the uniform agent's closed form (§3.6).

* ``uniform``: constant logits, ``q = 1/C``; ``KL_j = l_true + tau log C``,
  so ``E[KL] = tau * E_x[log C - H(p(.|x))]`` (:func:`uniform_expected_kl`).
* ``prior``: a fresh teacher-architecture MLP per key, divided by ``T``,
  ignoring the data (``baseline:prior``).
* ``oracle``: the teacher's own logits; ``KL_j = 0`` for every ``j``.
* ``average_class_probs``: the training class frequencies used as logits (so
  the softmax is applied to them again, as published).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from enn_sym.testbed import _problems


def uniform_agent(problem: _problems.Problem):
  """Sampler returning zero logits (uniform class probabilities)."""
  c = problem.config.num_classes
  return lambda x, key: jnp.zeros((x.shape[0], c), jnp.float32)


def oracle_agent(problem: _problems.Problem):
  """Sampler returning the teacher's logits (every key alike)."""
  return lambda x, key: problem.logits(x)


def prior_agent(problem: _problems.Problem):
  """Sampler drawing a teacher-architecture MLP from each key, ``/ T``."""
  cfg = problem.config

  def sampler(x, key):
    layers = _problems.init_teacher(key, cfg.input_dim,
                                    num_classes=cfg.num_classes)
    return _problems.mlp_logits(layers, x) / cfg.temperature

  return sampler


def average_class_probs_agent(problem: _problems.Problem):
  """Sampler returning the training class frequencies as logits."""
  c = problem.config.num_classes
  freq = jnp.bincount(problem.y_train, length=c) / problem.y_train.shape[0]
  return lambda x, key: jnp.broadcast_to(freq, (x.shape[0], c)).astype(
      jnp.float32)


BASELINES = {
    "uniform": uniform_agent,
    "prior": prior_agent,
    "oracle": oracle_agent,
    "average_class_probs": average_class_probs_agent,
}


def uniform_expected_kl(problem: _problems.Problem, *,
                        num_samples: int = 200_000, seed: int = 0
                        ) -> tuple[float, float]:
  """``(E[KL], MC stderr)`` of the uniform agent, ``tau * E_x[log C - H(p)]``.

  The expectation over ``x`` (from the problem's input distribution) is a
  Monte Carlo average over ``num_samples`` draws from ``key(seed)``.
  """
  cfg = problem.config
  x = problem.input_sampler(jax.random.key(seed), num_samples, cfg.input_dim)
  log_p = jax.nn.log_softmax(problem.logits(x), axis=-1)
  gap = jnp.log(cfg.num_classes) + jnp.sum(jnp.exp(log_p) * log_p, axis=-1)
  mean = float(jnp.mean(gap)) * cfg.tau
  stderr = float(jnp.std(gap)) * cfg.tau / num_samples ** 0.5
  return mean, stderr
