"""Models, losses and optimizers from a config."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from enn_sym import base as base_lib
from enn_sym import losses
from enn_sym import networks as nw
from enn_sym.networks import _resnet as nw_resnet
from enn_sym.networks import _vgg as nw_vgg
from enn_sym.symmetry import _canonicalizers
from enn_sym.symmetry import _enn_wrappers
from enn_sym.symmetry import _groups
from enn_sym.symmetry import _p4
from enn_sym.symmetry import _vector_neurons
from enn_sym.symmetry import _wrappers
from enn_sym.train import _config


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """An ENN and how it is indexed in training and evaluation.

  Attributes:
    name: the model kind (``base``, ``epinet``, ``ensemble``, ``dropout``).
    enn: the network.
    train_indices: ``key -> zs`` for one training step.
    eval_indices: ``key -> zs`` for evaluation (a fixed key each time).
    l2_fn: ``params -> scalar``, the penalty ``loss.weight_decay`` scales
      (``None``: all params; the frozen-base epinet skips its base).
    aux_loss_fn: ``extra -> scalar`` added to the loss (the canonicalizer's
      prior), or ``None``.
    param_labels: ``params -> labels`` ('train' | 'frozen') for the
      optimizer, or ``None`` (everything trained).
    freeze_base: the epinet starts from the trained ``base`` model.

  The training loop reads every model-specific choice from here, never from
  ``config.model`` / ``config.symmetry``.
  """

  name: str
  enn: base_lib.EpistemicNetwork
  train_indices: Callable[[jax.Array], Any]
  eval_indices: Callable[[jax.Array], Any]
  l2_fn: Callable[[Any], jax.Array] | None = None
  aux_loss_fn: Callable[[Any], jax.Array] | None = None
  param_labels: Callable[[Any], Any] | None = None
  freeze_base: bool = False


class PointCloudAction:
  """A point-cloud group acting on pipeline batches ``[B, P, 3, 1]``."""

  def __init__(self, group):
    self.group = group
    self.order = group.order
    self.name = group.name

  def act(self, g, x):
    return self.group.act(g, x[..., 0])[..., None]

  def elements(self):
    return self.group.elements()

  def sample(self, key, num):
    return self.group.sample(key, num)

  def identity(self):
    return self.group.identity()


def make_group(name: str):
  """A group from its registered config name (enn_sym.symmetry.list_groups)."""
  return _groups.get_group(name)


def group_elements(group, num_samples: int, seed: int):
  """All elements of a finite group, else the identity and ``num_samples - 1``
  fixed sampled elements (element 0 is always the identity)."""
  if group.order is not None:
    return group.elements()
  rest = group.sample(jax.random.key(seed), num_samples - 1)
  ident = jnp.asarray(group.identity())[None]
  return jnp.concatenate([ident, rest.astype(ident.dtype)])


class _Squeeze(nn.Module):
  """Drops the trailing channel axis of ``[B, P, 3, 1]`` point batches."""

  module: nn.Module

  def __call__(self, x, *args, **kwargs):
    return self.module(x[..., 0], *args, **kwargs)


def make_base_network(config, num_classes: int, *, dropout: bool = False):
  """The base network, wrapped for invariance when ``placement`` is
  ``base`` or ``base+head`` (``all`` wraps the whole ENN, see make_model)."""
  rate = config.model.dropout_rate if dropout else 0.0
  name = config.model.base
  if name == "mlp":
    net = nw.MLP(num_classes, tuple(config.model.mlp_hidden_sizes), rate)
  elif name == "lenet":
    net = nw.LeNet(num_classes, tuple(config.model.lenet_channels),
                   tuple(config.model.lenet_dense_sizes), rate)
  elif name == "p4cnn":
    net = _p4.P4CNN(num_classes, tuple(config.model.p4_channels),
                    dropout_rate=rate)
  elif name in _config.BATCHNORM_BASES:
    net = make_image_model(config, num_classes)
  elif name == "vn_mlp":
    net = _Squeeze(_vector_neurons.VNMLPClassifier(
        num_classes, tuple(config.model.vn_hidden_sizes),
        chiral=config.model.vn_chiral))
  else:  # A registered user base (enn_sym.networks.register_base).
    net = nw.make_base(name, num_classes, dropout_rate=rate,
                       **dict(config.model.base_kwargs))
    if config.data.name == "tetris":
      net = _Squeeze(net)
  sym = config.symmetry
  if not sym.group or sym.placement == "all":
    return net
  group = make_group(sym.group)
  points = config.data.name == "tetris"
  if points:  # Wrappers act on [B, P, 3]; the pipeline carries [B, P, 3, 1].
    net = net.module if isinstance(net, _Squeeze) else _Unsqueeze(net)
  num = None if group.order is not None else sym.num_samples
  if sym.wrapper == "averaged":
    net = _wrappers.GroupAveraged(net, group, sym.average, num_samples=num,
                                  seed=config.seed)
  elif sym.wrapper == "frame_averaged":
    net = _wrappers.FrameAveraged(net, group, sym.average)
  else:
    net = _wrappers.Canonicalized(
        net, _canonicalizers.CnCanonicalizer(group))
  return _Squeeze(net) if points else net


def compute_dtype(config):
  """The compute dtype of ``config.model.dtype`` (params stay float32)."""
  return {"float32": jnp.float32, "bfloat16": jnp.bfloat16}[config.model.dtype]


def make_image_model(config, num_classes: int) -> nn.Module:
  """ResNet-18/50 or VGG-16-BN from ``config.model`` (width, stages, stem,
  dtype); ``model.stage_sizes = ()`` keeps the architecture's own."""
  m = config.model
  dtype = compute_dtype(config)
  sizes = tuple(m.stage_sizes)
  if m.base == "vgg16":
    return nw.VGG(num_classes, sizes or nw_vgg.VGG16_STAGES, m.num_filters,
                  dtype)
  depth = int(m.base[len("resnet"):])
  default_sizes, block = nw_resnet.RESNET_STAGES[depth]
  return nw.ResNet(num_classes, sizes or default_sizes, block, m.num_filters,
                   m.resnet_stem, dtype)


class FrozenBase(nn.Module):
  """A base that always runs in evaluation mode (BatchNorm on its running
  averages, no statistics update) with no gradient through its outputs: the
  frozen base of ``model.epinet.freeze_base``. Its weights sit under
  ``base`` in its own scope; the optimizer leaves them unchanged (see
  :func:`make_optimizer`)."""

  base: nn.Module

  def __call__(self, x, *, train: bool = False):
    del train
    logits, features = nw.split_base_output(self.base(x, train=False))
    return (jax.lax.stop_gradient(logits), jax.lax.stop_gradient(features))


def frozen_base_variables(epinet_variables, base_variables):
  """The epinet's variables with its frozen base taken from a trained base
  model's variables (``params`` and ``batch_stats``, if any)."""
  out = dict(epinet_variables)
  for col, value in base_variables.items():
    if col not in out or "base" not in out[col]:
      continue
    inner = dict(out[col])
    inner["base"] = {**inner["base"], "base": value}
    out[col] = inner
  return out


class _Unsqueeze(nn.Module):
  module: nn.Module

  def __call__(self, x, *args, **kwargs):
    return self.module(x[..., None], *args, **kwargs)


def _sampler(enn, num):
  return lambda key: enn.sample_indices(key, num)


def canonicalization_loss(weight: float):
  """``extra -> weight * prior loss`` of the sown canonicalization scores."""

  def aux(extra):
    inter = extra.get("intermediates") or {}
    scores = [v for path, v in jax.tree_util.tree_leaves_with_path(inter)
              if "canonicalization_scores" in jax.tree_util.keystr(path)]
    if not scores:
      return jnp.zeros((), jnp.float32)
    # Leading axes: the K index samples (the scores do not depend on z).
    return weight * sum(jnp.mean(_canonicalizers.canonicalization_prior_loss(
        s.reshape((-1, s.shape[-1])))) for s in scores) / len(scores)

  return aux


def make_model(kind: str, config, num_classes: int) -> ModelSpec:
  """The ENN of one model kind, with its train / eval index policy and the
  model-specific loss and optimizer pieces (see :class:`ModelSpec`)."""
  spec = _make_model(kind, config, num_classes)
  sym = config.symmetry
  if sym.group and sym.wrapper == "canonicalized":
    spec = dataclasses.replace(spec, aux_loss_fn=canonicalization_loss(
        sym.canonicalizer_prior_weight))
  if kind == "epinet" and config.model.epinet.freeze_base:
    # A frozen base is left out of the L2 term: it would add a constant to
    # the logged loss and its gradient to grad_norm (the optimizer zeroes
    # the base's updates either way, see make_optimizer).
    spec = dataclasses.replace(
        spec, freeze_base=True, param_labels=_frozen_base_labels,
        l2_fn=lambda p: losses.l2_penalty(
            {k: v for k, v in p.items() if k != "base"}))
  if sym.group and sym.placement == "all":
    group = make_group(sym.group)
    if config.data.name == "tetris":
      group = PointCloudAction(group)
    enn = _enn_wrappers.make_group_averaged_enn(
        spec.enn, group, average=sym.average,
        elements=group_elements(group, sym.num_samples, config.seed))
    spec = dataclasses.replace(spec, enn=enn)
  return spec


def _make_model(kind: str, config, num_classes: int) -> ModelSpec:
  if kind == "base":
    enn = nw.make_base_enn(make_base_network(config, num_classes), num_classes)
    return ModelSpec(kind, enn, _sampler(enn, 1), _sampler(enn, 1))
  if kind == "epinet":
    cfg = config.model.epinet
    include_inputs = cfg.include_inputs and not (
        config.symmetry.group and config.symmetry.placement == "base+head")
    base = make_base_network(config, num_classes)
    if cfg.freeze_base:
      base = FrozenBase(base)
    enn = nw.make_epinet(
        base, num_classes=num_classes,
        index_dim=cfg.index_dim, hidden_sizes=tuple(cfg.hidden_sizes),
        include_inputs=include_inputs, prior=cfg.prior or None,
        prior_scale=cfg.prior_scale,
        prior_kwargs=dict(cfg.prior_kwargs) or None)
    return ModelSpec(kind, enn,
                     _sampler(enn, config.loss.num_index_samples),
                     _sampler(enn, config.eval_num_indices))
  if kind == "ensemble":
    cfg = config.model.ensemble
    enn = nw.make_ensemble(
        make_base_network(config, num_classes), num_classes=num_classes,
        num_ensemble=cfg.num_ensemble, prior=cfg.prior or None,
        prior_scale=cfg.prior_scale,
        prior_kwargs=dict(cfg.prior_kwargs) or None)
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


def make_loss_fn(spec: ModelSpec, config, bootstrap_seed: Any = None):
  """``loss_fn(params, state, batch, key)``; indices, L2 and auxiliary
  losses from the spec.

  Args:
    spec: from :func:`make_model`.
    config: the run config (``config.loss`` is read).
    bootstrap_seed: the bootstrap weights' seed (default ``config.seed``);
      may be a traced scalar, so a seed-vmapped step gives every seed its
      own bootstrap.
  """
  return losses.make_enn_loss(
      spec.enn, make_single_loss(config), index_fn=spec.train_indices,
      aux_loss_fn=spec.aux_loss_fn, bootstrap=config.loss.bootstrap or None,
      bootstrap_seed=(config.seed if bootstrap_seed is None
                      else bootstrap_seed),
      weight_decay=config.loss.weight_decay, l2_fn=spec.l2_fn)


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


def make_optimizer(config, kind: "str | ModelSpec | None" = None
                   ) -> optax.GradientTransformation:
  """The optimizer of ``config.optimizer``.

  Args:
    config: the run config.
    kind: a :class:`ModelSpec` (its ``param_labels`` decide which weights
      are frozen), or a model kind name (then the frozen-base epinet,
      ``kind='epinet'`` with ``model.epinet.freeze_base``, freezes its base).
      Frozen weights get zero updates (no momentum, no weight decay: they
      stay bit-identical).
  """
  opt, schedule = config.optimizer, make_schedule(config)
  if opt.name == "adam":
    tx = optax.adam(schedule)
  elif opt.name == "adamw":
    tx = optax.adamw(schedule, weight_decay=opt.decoupled_weight_decay)
  else:
    tx = optax.sgd(schedule, momentum=opt.momentum or None)
    if opt.decoupled_weight_decay:
      tx = optax.chain(optax.add_decayed_weights(opt.decoupled_weight_decay),
                       tx)
  if isinstance(kind, ModelSpec):
    labels = kind.param_labels
  else:
    labels = (_frozen_base_labels if kind == "epinet"
              and config.model.epinet.freeze_base else None)
  if labels is not None:
    tx = optax.multi_transform({"train": tx, "frozen": optax.set_to_zero()},
                               labels)
  return tx


def _frozen_base_labels(params):
  return {k: jax.tree.map(lambda _, k=k: "frozen" if k == "base" else "train",
                          v) for k, v in params.items()}


def example_input(shape) -> jax.Array:
  return jnp.zeros((1,) + tuple(shape), jnp.float32)
