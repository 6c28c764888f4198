"""Testbed agents: the library's ENNs with the Neural Testbed's settings.

Every agent maps a :class:`~enn_sym.testbed.Problem` (its training set and
prior knowledge ``D, N, T``) to one sampler per training seed. Training runs
through :func:`enn_sym.train.fit_seeds` (all seeds in one vmapped, scan-fused
program): Adam 1e-3, batches of 100 (full batch when ``N <= 100``, where the
published stream repeats rows to fill 100), a fixed number of steps (no
early stopping: the testbed's protocol).

Published per-agent defaults (reference sheet ``neural_testbed.md`` §4, cited
by section). The published penalty is ``lam * sum(theta^2)`` with no 1/2
(§4.0), so ``weight_decay = 2 * lam`` on :func:`enn_sym.losses.l2_penalty`.

========== ============================================================
agent      settings
========== ============================================================
mlp        §4.1: MLP 50-50, ``lam = sqrt(T) D / N``, 1 index, 1000 steps
ensemble   §4.2: K = 100 MLPs 50-50, 100 random members per step,
           ``lam = sqrt(T) D / (K N)``, 1000 steps
ensemble+  §4.3: as ensemble, plus one random prior MLP 50-50 per member
           (first-layer bias ``N(0, 1/D)``, other biases 0) scaled
           ``3 / sqrt(T)``
dropout    §4.4: MLP 100-100, rate 0.1 on hidden units, one mask per call
           shared by the batch, ``lam = sqrt(T) D / N``, 1000 steps
epinet     §4.5: base MLP 50-50, epinet 15-15 on ``[x, h_2]`` (stop-gradient),
           index_dim 8, prior of 8 zero-bias MLPs 5-5 scaled ``0.3 / T``,
           ``lam = 0.2 (D / N)^0.7``, 8 indices per step, 1000 steps
           (10 000 when ``N / D > 500``)
========== ============================================================

Deviations (kept because they are this library's networks): flax's
truncated-normal kernels have std ``1/sqrt(fan_in)`` where Haiku's have
``0.88/sqrt(fan_in)``; the epinet head's first layer is split into an
``x``/feature part and a ``z`` part (:class:`enn_sym.networks.EpinetHead`);
the ensemble+ first-layer prior bias is an untruncated normal; the data
stream is a per-epoch permutation instead of a 5000-element shuffle buffer.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from enn_sym import base as base_lib
from enn_sym import losses
from enn_sym import networks
from enn_sym import train as train_lib
from enn_sym._validation import InputError
from enn_sym.testbed import _problems

Array = jax.Array
AGENT_NAMES = ("mlp", "ensemble", "ensemble+", "dropout", "epinet")


class BatchDropoutMLP(nn.Module):
  """ReLU MLP with dropout masks shared across the batch (one mask per call).

  The testbed's MC-dropout sampler applies ONE mask to every row of a batch
  (§4.4), so a joint prediction over ``tau`` inputs sees one network. (The
  library's :class:`enn_sym.networks.MLP` draws an independent mask per row,
  which makes the ``tau`` positions independent samples.)
  """

  num_classes: int
  hidden_sizes: Sequence[int] = (100, 100)
  dropout_rate: float = 0.1

  @nn.compact
  def __call__(self, x: Array, *, train: bool = False):
    h = x.reshape((x.shape[0], -1)).astype(jnp.float32)
    for width in self.hidden_sizes:
      h = nn.relu(nn.Dense(width)(h))
      h = nn.Dropout(self.dropout_rate, broadcast_dims=(0,),
                     deterministic=not train)(h)
    return nn.Dense(self.num_classes)(h), h


@dataclasses.dataclass(frozen=True)
class AgentConfig:
  """Settings of one testbed agent (defaults: the published ones, §4).

  Attributes:
    kind: one of ``AGENT_NAMES``.
    num_ensemble: ensemble size ``K`` (ensemble, ensemble+).
    l2_weight_decay: the published ``l2_weight_decay`` multiplier.
    prior_scale: ensemble+ prior multiplier before the temperature rule
      (``3 / sqrt(T)``); epinet prior multiplier before ``/ T`` (0.3).
    num_steps: training steps, or ``None`` for the published rule.
    steps_scale: multiplies the step count (quick presets use < 1).
    index_dim, epinet_hiddens, prior_hiddens: the epinet's sizes.
    num_index_samples: indices per step, or ``None`` (published: ensemble K,
      epinet index_dim, others 1).
    dropout_rate, hidden_sizes: base sizes (``None`` = published).
    bootstrap: ``None`` or a :data:`enn_sym.losses.BOOTSTRAP_KINDS` name.
    bootstrap_rule: :data:`enn_sym.losses.BOOTSTRAP_RULES` (``"index"``).
    prior: the registered prior of the epinet (``"mlp_ensemble"``;
      ``"mlp_ensemble_v0_1_0"`` reproduces the old initialisation).
    learning_rate, batch_size: Adam step and batch size.
  """

  kind: str
  num_ensemble: int = 100
  l2_weight_decay: float | None = None
  prior_scale: float | None = None
  num_steps: int | None = None
  steps_scale: float = 1.0
  index_dim: int = 8
  epinet_hiddens: tuple[int, ...] = (15, 15)
  prior_hiddens: tuple[int, ...] = (5, 5)
  num_index_samples: int | None = None
  dropout_rate: float = 0.1
  hidden_sizes: tuple[int, ...] | None = None
  bootstrap: str | None = None
  bootstrap_rule: str = "index"
  prior: str = "mlp_ensemble"
  learning_rate: float = 1e-3
  batch_size: int = 100

  def __post_init__(self):
    if self.kind not in AGENT_NAMES:
      raise InputError(f"agent kind must be one of {AGENT_NAMES}; got "
                       f"{self.kind!r}.")
    if not self.steps_scale > 0:
      raise InputError(f"steps_scale must be > 0; got {self.steps_scale!r}.")


@dataclasses.dataclass(frozen=True)
class TrainedAgent:
  """An agent trained on one problem, for several seeds.

  Attributes:
    samplers: one ``(x, key) -> logits`` per seed.
    seeds: the training seeds.
    train_seconds: wall time of training (all seeds, compile included).
    num_steps: steps each seed trained.
    stop_reason: per seed (from :class:`enn_sym.train.FitResult`).
    final_loss: per seed, the last recorded mean training loss.
  """

  samplers: tuple[Callable[[Array, Array], Array], ...]
  seeds: tuple[int, ...]
  train_seconds: float
  num_steps: int
  stop_reason: tuple[str, ...]
  final_loss: tuple[float, ...]


def published_num_steps(config: AgentConfig,
                        problem_config: _problems.ProblemConfig) -> int:
  """Training steps: the epinet's 10x rule for ``N / D > 500``, else 1000."""
  if config.num_steps is not None:
    steps = config.num_steps
  elif config.kind == "epinet" and problem_config.ratio > 500:
    steps = 10_000
  else:
    steps = 1000
  return max(1, int(round(steps * config.steps_scale)))


def weight_decay_lambda(config: AgentConfig,
                        problem_config: _problems.ProblemConfig) -> float:
  """The published ``lam`` of ``lam * sum(theta^2)`` (§4.1-§4.5)."""
  d, n, t = (problem_config.input_dim, problem_config.num_train,
             problem_config.temperature)
  if config.kind == "epinet":
    l2 = 0.2 if config.l2_weight_decay is None else config.l2_weight_decay
    return l2 * (d / n) ** 0.7
  l2 = 1.0 if config.l2_weight_decay is None else config.l2_weight_decay
  lam = l2 * math.sqrt(t) * d / n
  if config.kind in ("ensemble", "ensemble+"):
    lam /= config.num_ensemble
  return lam


def build_enn(config: AgentConfig, problem_config: _problems.ProblemConfig
              ) -> base_lib.EpistemicNetwork:
  """The ENN of an agent on a problem (sizes and prior scales of §4)."""
  c, d, t = (problem_config.num_classes, problem_config.input_dim,
             problem_config.temperature)
  kind = config.kind
  if kind == "dropout":
    hidden = config.hidden_sizes or (100, 100)
    return networks.make_mc_dropout(
        BatchDropoutMLP(c, hidden, config.dropout_rate), num_classes=c)
  base = networks.MLP(c, hidden_sizes=config.hidden_sizes or (50, 50))
  if kind == "mlp":
    return networks.make_base_enn(base, num_classes=c)
  if kind == "ensemble":
    return networks.make_ensemble(base, num_classes=c,
                                  num_ensemble=config.num_ensemble)
  if kind == "ensemble+":
    scale = 3.0 if config.prior_scale is None else config.prior_scale
    return networks.make_ensemble(
        base, num_classes=c, num_ensemble=config.num_ensemble,
        prior="mlp_ensemble", prior_scale=scale / math.sqrt(t),
        prior_kwargs={"hidden_sizes": config.hidden_sizes or (50, 50),
                      "bias_std": 0.0, "input_bias_std": 1.0 / math.sqrt(d)})
  scale = 0.3 if config.prior_scale is None else config.prior_scale
  return networks.make_epinet(
      base, num_classes=c, index_dim=config.index_dim,
      hidden_sizes=config.epinet_hiddens, include_inputs=True,
      prior=config.prior, prior_scale=scale / t,
      prior_kwargs={"hidden_sizes": config.prior_hiddens})


def _num_index_samples(config: AgentConfig) -> int:
  if config.num_index_samples is not None:
    return config.num_index_samples
  if config.kind in ("ensemble", "ensemble+"):
    return config.num_ensemble
  if config.kind == "epinet":
    return config.index_dim
  return 1


def _cross_entropy(logits, labels, weights):
  per = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
  return jnp.mean(weights * per)


def agent_loss(config: AgentConfig, problem_config: _problems.ProblemConfig,
               enn: base_lib.EpistemicNetwork):
  """``loss_fn(params, state, batch, key)``: mean over the agent's index
  samples of the (bootstrap-weighted) batch-mean cross-entropy, plus
  ``lam * sum(theta^2)`` over ``params`` (the prior is not in ``params``)."""
  return losses.make_enn_loss(
      enn, _cross_entropy, num_index_samples=_num_index_samples(config),
      bootstrap=config.bootstrap, bootstrap_rule=config.bootstrap_rule,
      weight_decay=2.0 * weight_decay_lambda(config, problem_config))


def make_sampler(enn: base_lib.EpistemicNetwork, variables: Any):
  """``(x, key) -> logits``: one index from ``key`` for the whole batch."""
  return lambda x, key: enn.apply(variables, x, enn.indexer(key)).preds


def train_agent(config: AgentConfig | str, problem: _problems.Problem,
                seeds: Sequence[int] = (0,)) -> TrainedAgent:
  """Trains ``config``'s agent on ``problem`` for every seed (one program).

  Args:
    config: an :class:`AgentConfig` or an agent name (published defaults).
    problem: the testbed problem (its ``train_data`` and prior knowledge).
    seeds: training seeds; seed ``s`` follows ``fit_seeds``' key recipe.

  Returns:
    A :class:`TrainedAgent`.
  """
  if isinstance(config, str):
    config = AgentConfig(config)
  pc = problem.config
  enn = build_enn(config, pc)
  data = problem.train_data
  x0 = data["image"][:1]

  def init_fn(key):
    return losses.split_variables(enn.init(key, x0, enn.indexer(key)))

  loss_fn = agent_loss(config, pc, enn)
  steps = published_num_steps(config, pc)
  batch = None if pc.num_train <= config.batch_size else config.batch_size
  start = time.perf_counter()
  result = train_lib.fit_seeds(
      init_fn, loss_fn, data, tuple(seeds),
      optimizer=optax.adam(config.learning_rate), num_steps=steps,
      batch_size=batch, eval_every=min(steps, 500))
  jax.block_until_ready(result.params)
  seconds = time.perf_counter() - start
  samplers = []
  for i in range(len(result.seeds)):
    params, state = result.seed(i)
    samplers.append(make_sampler(enn, {**state, base_lib.PARAMS: params}))
  last = np.asarray(result.train_loss)[-1]
  return TrainedAgent(tuple(samplers), result.seeds, seconds, steps,
                      tuple(result.stop_reason),
                      tuple(float(v) for v in last))
