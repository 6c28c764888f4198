"""Tests of the testbed agents: published settings, losses, samplers, training."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from enn_sym import base as base_lib
from enn_sym import losses
from enn_sym import testbed as tb
from enn_sym._validation import InputError

P260 = tb.problem_config(260)   # D 10, N 100, T 0.1
P105 = tb.problem_config(105)   # D 10, N 10000 (ratio 1000), T 0.01


def test_weight_decay_lambdas_match_the_sheet_columns():
  # Sheet §2.1: epinet 0.03991, MLP sqrt(T) D / N = 0.03162 on id 260.
  assert tb.weight_decay_lambda(tb.AgentConfig("epinet"), P260) == (
      pytest.approx(0.03991, rel=1e-3))
  assert tb.weight_decay_lambda(tb.AgentConfig("mlp"), P260) == (
      pytest.approx(0.03162, rel=1e-3))
  assert tb.weight_decay_lambda(tb.AgentConfig("dropout"), P260) == (
      pytest.approx(0.03162, rel=1e-3))
  for kind in ("ensemble", "ensemble+"):
    assert tb.weight_decay_lambda(tb.AgentConfig(kind), P260) == (
        pytest.approx(0.0003162, rel=1e-3))
  assert tb.weight_decay_lambda(tb.AgentConfig("epinet"), P105) == (
      pytest.approx(0.001589, rel=1e-3))
  assert tb.weight_decay_lambda(tb.AgentConfig("mlp"), P105) == (
      pytest.approx(0.0001, rel=1e-3))


def test_step_rule():
  assert tb.published_num_steps(tb.AgentConfig("epinet"), P105) == 10_000
  assert tb.published_num_steps(tb.AgentConfig("epinet"), P260) == 1000
  assert tb.published_num_steps(tb.AgentConfig("ensemble"), P105) == 1000
  assert tb.published_num_steps(tb.AgentConfig("mlp", steps_scale=0.02),
                                P260) == 20
  with pytest.raises(InputError, match="agent kind must be one of"):
    tb.AgentConfig("bnn")


def _variables(enn, x, seed=0):
  key = jax.random.key(seed)
  return enn.init(key, x, enn.indexer(key))


def test_loss_is_index_mean_ce_plus_lambda_sum_of_squares():
  problem = tb.make_problem(tb.problem_config(260, num_test_seeds=2))
  config = tb.AgentConfig("epinet")
  enn = tb.build_enn(config, problem.config)
  variables = _variables(enn, problem.x_train[:1])
  params, state = losses.split_variables(variables)
  loss_fn = tb.agent_loss(config, problem.config, enn)
  batch = problem.train_data
  loss, aux = loss_fn(params, state, batch, jax.random.key(3))
  sq = sum(float(jnp.sum(w ** 2)) for w in jax.tree.leaves(params))
  lam = 0.2 * (10 / 100) ** 0.7
  np.testing.assert_allclose(loss - aux["data_loss"], lam * sq, rtol=1e-5)
  # The data loss is the mean CE over the 8 sampled indices.
  assert aux["logits"].shape == (8, 100, 2)
  logp = jax.nn.log_softmax(aux["logits"], -1)
  ce = -jnp.take_along_axis(logp, batch["label"][None, :, None], -1).mean()
  np.testing.assert_allclose(aux["data_loss"], ce, rtol=1e-5)


def test_prior_scales_follow_the_temperature_rules():
  x = jax.random.normal(jax.random.key(0), (5, 10))
  for kind, scale in (("epinet", 0.3 / 0.1), ("ensemble+", 3 / math.sqrt(0.1))):
    config = tb.AgentConfig(kind, num_ensemble=4)
    enn = tb.build_enn(config, P260)
    variables = _variables(enn, x)
    z = enn.indexer(jax.random.key(1))
    prior = enn.apply(variables, x, z).prior
    unit = tb.build_enn(tb.AgentConfig(kind, num_ensemble=4,
                                       prior_scale=3.0 if kind == "ensemble+"
                                       else 0.3), tb.problem_config(
                                           260, temperature=1.0))
    np.testing.assert_allclose(prior, scale * unit.apply(
        variables, x, z).prior / (3.0 if kind == "ensemble+" else 0.3),
                               rtol=1e-5)
  # Epinet prior: 8 zero-bias MLPs 5-5.
  enn = tb.build_enn(tb.AgentConfig("epinet"), P260)
  prior = _variables(enn, x)[base_lib.PRIOR]
  biases = [v for k, v in jax.tree_util.tree_leaves_with_path(prior)
            if "bias" in jax.tree_util.keystr(k)]
  assert len(biases) == 3 and not any(np.any(b) for b in biases)
  kernels = [v.shape for k, v in jax.tree_util.tree_leaves_with_path(prior)
             if "kernel" in jax.tree_util.keystr(k)]
  assert kernels == [(8, 10, 5), (8, 5, 5), (8, 5, 2)]


def test_dropout_mask_is_shared_by_the_batch():
  enn = tb.build_enn(tb.AgentConfig("dropout"), P260)
  row = jax.random.normal(jax.random.key(0), (1, 10))
  x = jnp.repeat(row, 6, axis=0)
  variables = _variables(enn, x)
  sampler = tb.make_sampler(enn, variables)
  out = sampler(x, jax.random.key(5))
  np.testing.assert_allclose(out, jnp.repeat(out[:1], 6, axis=0), rtol=1e-6)
  assert not np.allclose(out, sampler(x, jax.random.key(6)))
  # Row-wise: one row alone gives the same logits as inside the batch.
  np.testing.assert_allclose(sampler(row, jax.random.key(5)), out[:1],
                             rtol=1e-5)


@pytest.mark.slow
def test_train_agent_is_deterministic_and_seeds_are_independent():
  problem = tb.make_problem(tb.problem_config(25, num_test_seeds=20,
                                              num_enn_samples=4))
  config = tb.AgentConfig("mlp", num_steps=30)
  both = tb.train_agent(config, problem, seeds=(0, 1))
  alone = tb.train_agent(config, problem, seeds=(1,))
  x = problem.x_train
  k = jax.random.key(0)
  np.testing.assert_allclose(both.samplers[1](x, k), alone.samplers[0](x, k),
                             rtol=1e-4, atol=1e-5)
  assert not np.allclose(both.samplers[0](x, k), both.samplers[1](x, k))
  assert both.stop_reason == ("max_steps", "max_steps")
  assert both.num_steps == 30
  # Training moves the agent towards the teacher on its own data.
  untrained = tb.train_agent(tb.AgentConfig("mlp", num_steps=1), problem)
  y = problem.y_train
  nll = lambda s: float(-jnp.take_along_axis(
      jax.nn.log_softmax(s(x, k)), y[:, None], -1).mean())
  assert nll(both.samplers[0]) < nll(untrained.samplers[0])
