"""Models, losses and optimizers from a config."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from enn_sym import base as base_lib
from enn_sym import losses
from enn_sym import networks as nw
from enn_sym.train import _config


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """An ENN and how it is indexed in training and evaluation.

  Attributes:
    name: the model kind (``base``, ``epinet``, ``ensemble``, ``dropout``).
    enn: the network.
    train_indices: ``key -> zs`` for one training step.
    eval_indices: ``key -> zs`` for evaluation (a fixed key each time).
  """

  name: str
  enn: base_lib.EpistemicNetwork
  train_indices: Callable[[jax.Array], Any]
  eval_indices: Callable[[jax.Array], Any]


def make_base_network(config, num_classes: int, *, dropout: bool = False):
  rate = config.model.dropout_rate if dropout else 0.0
  if config.model.base == "mlp":
    return nw.MLP(num_classes, tuple(config.model.mlp_hidden_sizes), rate)
  return nw.LeNet(num_classes, tuple(config.model.lenet_channels),
                  tuple(config.model.lenet_dense_sizes), rate)


def _sampler(enn, num):
  return lambda key: enn.sample_indices(key, num)


def make_model(kind: str, config, num_classes: int) -> ModelSpec:
  """The ENN of one model kind, with its train / eval index policy."""
  if kind == "base":
    enn = nw.make_base_enn(make_base_network(config, num_classes), num_classes)
    return ModelSpec(kind, enn, _sampler(enn, 1), _sampler(enn, 1))
  if kind == "epinet":
    cfg = config.model.epinet
    enn = nw.make_epinet(
        make_base_network(config, num_classes), num_classes=num_classes,
        index_dim=cfg.index_dim, hidden_sizes=tuple(cfg.hidden_sizes),
        include_inputs=cfg.include_inputs, prior=cfg.prior or None,
        prior_scale=cfg.prior_scale)
    return ModelSpec(kind, enn,
                     _sampler(enn, config.loss.num_index_samples),
                     _sampler(enn, config.eval_num_indices))
  if kind == "ensemble":
    cfg = config.model.ensemble
    enn = nw.make_ensemble(
        make_base_network(config, num_classes), num_classes=num_classes,
        num_ensemble=cfg.num_ensemble, prior=cfg.prior or None,
        prior_scale=cfg.prior_scale)
    members = nw.ensemble_member_indices(cfg.num_ensemble)
    return ModelSpec(kind, enn, lambda key: members, lambda key: members)
  if kind == "dropout":
    enn = nw.make_mc_dropout(
        make_base_network(config, num_classes, dropout=True),
        num_classes=num_classes)
    return ModelSpec(kind, enn, _sampler(enn, 1),
                     _sampler(enn, config.eval_num_indices))
  raise _config.ConfigError(f"Unknown model kind {kind!r}; valid: "
                            f"{_config.MODEL_KINDS}.")


def make_single_loss(config):
  names = _config.LOSS_HPARAMS[config.loss.name]
  return losses.make_loss(config.loss.name,
                          **{n: config.loss[n] for n in names})


def make_loss_fn(spec: ModelSpec, config):
  """``loss_fn(params, state, batch, key)``; indices from the spec's policy."""
  return losses.make_enn_loss(
      spec.enn, make_single_loss(config), index_fn=spec.train_indices,
      bootstrap=config.loss.bootstrap or None, bootstrap_seed=config.seed,
      weight_decay=config.loss.weight_decay)


def make_schedule(config) -> optax.Schedule:
  opt = config.optimizer
  lr, steps = opt.learning_rate, config.num_steps
  if opt.schedule == "constant":
    schedule = optax.constant_schedule(lr)
  elif opt.schedule == "cosine":
    schedule = optax.cosine_decay_schedule(lr, steps)
  elif opt.schedule == "warmup_cosine":
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, lr, max(1, opt.warmup_steps), max(steps, opt.warmup_steps + 1))
  else:
    schedule = optax.piecewise_constant_schedule(
        lr, {int(f * steps): opt.step_factor for f in opt.step_boundaries})
  if opt.warmup_steps and opt.schedule != "warmup_cosine":
    warm = optax.linear_schedule(0.0, lr, opt.warmup_steps)
    schedule = optax.join_schedules([warm, schedule], [opt.warmup_steps])
  return schedule


def make_optimizer(config) -> optax.GradientTransformation:
  opt, schedule = config.optimizer, make_schedule(config)
  if opt.name == "adam":
    return optax.adam(schedule)
  if opt.name == "adamw":
    return optax.adamw(schedule, weight_decay=opt.decoupled_weight_decay)
  tx = optax.sgd(schedule, momentum=opt.momentum or None)
  if opt.decoupled_weight_decay:
    tx = optax.chain(optax.add_decayed_weights(opt.decoupled_weight_decay), tx)
  return tx


def example_input(shape) -> jax.Array:
  return jnp.zeros((1,) + tuple(shape), jnp.float32)
