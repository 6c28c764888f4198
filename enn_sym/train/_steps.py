"""Train state, the mesh, and the jitted train / eval / predict steps.

One ``Mesh`` over all devices with a single ``data`` axis: batches are
sharded on it, the train state and metric states are replicated. Steps are
``jax.jit`` with explicit shardings; the train step donates the state. The
per-step PRNG key is ``fold_in(rng, step)``, so a resumed run draws exactly
the keys an uninterrupted one would.
"""

from __future__ import annotations

from typing import Any, Callable

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from enn_sym import _validation
from enn_sym import base as base_lib
from enn_sym import metrics as metrics_lib

DATA_AXIS = "data"
# Folded into the eval key of a batch for the bootstrap weights (the joint
# log-loss uses the key itself).
_BOOTSTRAP_SALT = 0x0B007


class TrainState(flax.struct.PyTreeNode):
  """Everything a run needs to continue.

  Attributes:
    step: int32 scalar, number of optimizer steps taken.
    params: trainable weights (the ``params`` collection).
    state: the other collections: ``prior`` (frozen) and ``batch_stats``.
    opt_state: optimizer state (of ``params`` only).
    rng: uint32 key data of the run's base PRNG key.
  """

  step: jax.Array
  params: Any
  state: Any
  opt_state: Any
  rng: jax.Array

  @property
  def variables(self) -> dict:
    return {**self.state, base_lib.PARAMS: self.params}


def make_mesh() -> Mesh:
  return Mesh(np.asarray(jax.devices()), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def data_sharded(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(DATA_AXIS))


def global_batch(batch: dict, mesh: Mesh) -> dict:
  """A global array per leaf from this process's part of the batch."""
  sharding = data_sharded(mesh)
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
          for k, v in batch.items()}


def init_state(enn: base_lib.EpistemicNetwork, optimizer, x, seed: int,
               mesh: Mesh) -> TrainState:
  """Initialises the state directly with replicated sharding."""

  def init():
    key = jax.random.key(seed)
    k_init, k_index, k_run = jax.random.split(key, 3)
    variables = dict(enn.init(k_init, x, enn.indexer(k_index)))
    params = variables.pop(base_lib.PARAMS)
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      state=variables, opt_state=optimizer.init(params),
                      rng=jax.random.key_data(k_run))

  return jax.jit(init, out_shardings=replicated(mesh))()


def make_train_step(loss_fn: Callable, optimizer: optax.GradientTransformation,
                    mesh: Mesh, on_trace: Callable[[], None] | None = None):
  """``train_step(state, batch) -> (state, metrics)``, jitted and donating."""

  def train_step(state: TrainState, batch: dict):
    if on_trace is not None:
      on_trace()  # Runs at trace time only: counts compilations.
    key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
    (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params, state.state, batch, key)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    new_state = dict(state.state)
    if base_lib.BATCH_STATS in aux:
      new_state[base_lib.BATCH_STATS] = aux[base_lib.BATCH_STATS]
    logits = aux["logits"]
    accuracy = jnp.mean(jnp.argmax(logits, -1) == batch["label"][None])
    out = {"loss": loss, "data_loss": aux["data_loss"], "l2": aux["l2"],
           "train_accuracy": accuracy,
           "grad_norm": optax.global_norm(grads)}
    return state.replace(step=state.step + 1, params=params, state=new_state,
                         opt_state=opt_state), out

  rep = replicated(mesh)
  return jax.jit(train_step, in_shardings=(rep, data_sharded(mesh)),
                 out_shardings=(rep, rep), donate_argnums=(0,))


class EvalMetrics:
  """The in-loop metric bundle, one mergeable state: mean-predictive
  calibration (raw and at a temperature), the dyadic joint log-loss,
  classwise ECE, a streaming bootstrap CI of the ECE over the evaluated
  examples, and every metric registered with
  :func:`enn_sym.metrics.register_metric` (``extra``).

  Args:
    num_bins: ECE bins.
    tau, kappa, num_samples: dyadic joint log-loss (see
      :class:`enn_sym.metrics.JointLogLoss`).
    num_classes: enables classwise ECE (``classwise_ece``); None = off.
    bootstrap_replicates: ``B`` Poisson(1) replicates of the raw ECE
      (``ece_boot_low`` / ``ece_boot_high``: the 95% percentile interval
      over test examples, the CI of a single model); 0 = off.
    extra: a :class:`enn_sym.metrics.MetricBundle` of registered metrics,
      updated with the raw logit stacks; its results keep their names.
  """

  def __init__(self, num_bins: int, tau: int, kappa: int, num_samples: int,
               *, num_classes: int | None = None,
               bootstrap_replicates: int = 0,
               extra: metrics_lib.MetricBundle | None = None):
    self.predictive = metrics_lib.EnsemblePredictive(num_bins=num_bins,
                                                     input_kind="logits")
    self.joint = metrics_lib.JointLogLoss(tau=tau, kappa=kappa,
                                          num_samples=num_samples,
                                          input_kind="logits")
    self.classwise = (None if num_classes is None else
                      metrics_lib.ClasswiseCalibration(
                          num_classes, num_bins, input_kind="probs"))
    self.bootstrap = (metrics_lib.BootstrapECE(
        num_bins, num_replicates=bootstrap_replicates, input_kind="logits")
                      if bootstrap_replicates else None)
    self.extra = extra if extra is not None and len(extra) else None

  @classmethod
  def from_config(cls, config, num_classes: int) -> "EvalMetrics":
    """The bundle of a training config (``config.metrics``)."""
    m = config.metrics
    names = tuple(m.get("registered", ("all",)))
    extra = None
    if names:
      extra = metrics_lib.make_metric_bundle(
          config, None if names == ("all",) else names)
    return cls(m.num_bins, m.joint_tau, m.joint_kappa, m.joint_num_samples,
               num_classes=num_classes,
               bootstrap_replicates=int(m.get("bootstrap_replicates", 0)),
               extra=extra)

  def empty(self) -> dict:
    out = {"raw": self.predictive.empty(),
           "tempered": self.predictive.empty(), "joint": self.joint.empty()}
    if self.classwise is not None:
      out["classwise"] = self.classwise.empty()
    if self.bootstrap is not None:
      out["bootstrap"] = self.bootstrap.empty()
    if self.extra is not None:
      out["extra"] = self.extra.empty()
    return out

  def update(self, states, logits, labels, mask, temperature, key) -> dict:
    """Adds a batch of logit stacks ``[K, batch, classes]``; ``key`` must
    differ per batch (the dyadic batches and bootstrap weights)."""
    out = {
        "raw": self.predictive.update(states["raw"], logits, labels, mask),
        "tempered": self.predictive.update(states["tempered"],
                                           logits / temperature, labels, mask),
        "joint": self.joint.update(states["joint"], logits, labels, mask, key),
    }
    if self.classwise is not None:
      pbar = jnp.mean(jax.nn.softmax(logits.astype(jnp.float32), -1), 0)
      out["classwise"] = self.classwise.update(states["classwise"], pbar,
                                               labels, mask)
    if self.bootstrap is not None:
      out["bootstrap"] = self.bootstrap.update(
          states["bootstrap"], logits, labels, mask,
          jax.random.fold_in(key, _BOOTSTRAP_SALT))
    if self.extra is not None:
      out["extra"] = self.extra.update(states["extra"], logits, labels, mask)
    return out

  def compute(self, states) -> dict:
    raw = self.predictive.compute(states["raw"])
    tempered = self.predictive.compute(states["tempered"])
    out = {k: np.asarray(v) for k, v in raw.items()}
    for k in ("ece", "mce", "nll", "brier"):
      out[f"{k}_ts"] = np.asarray(tempered[k])
    out["joint_nll"] = np.asarray(self.joint.compute(states["joint"])[
        "joint_nll"])
    if self.classwise is not None:
      cw = self.classwise.compute(states["classwise"])
      out["classwise_ece"] = np.asarray(cw["classwise_ece"])
    if self.bootstrap is not None:
      boot = self.bootstrap.compute(states["bootstrap"])
      out["ece_boot_low"] = np.asarray(boot["ece_low"])
      out["ece_boot_high"] = np.asarray(boot["ece_high"])
    if self.extra is not None:
      for k, v in self.extra.compute(states["extra"]).items():
        if k in out:
          raise _validation.InputError(
              f"The registered metric {k!r} shadows a built-in result; "
              f"register it under another name.")
        out[k] = v
    return out

  def extra_keys(self) -> tuple[str, ...]:
    """Names of the registered metrics' results (for the summary)."""
    return () if self.extra is None else tuple(self.extra.metrics)


def make_eval_step(enn: base_lib.EpistemicNetwork, eval_metrics: EvalMetrics,
                   mesh: Mesh):
  """``eval_step(state, metric_states, batch, zs, temperature, key)``."""

  def eval_step(state, metric_states, batch, zs, temperature, key):
    logits = enn.apply_multi(state.variables, batch["image"], zs).preds
    return eval_metrics.update(metric_states, logits, batch["label"],
                               batch["mask"], temperature, key)

  rep = replicated(mesh)
  return jax.jit(eval_step,
                 in_shardings=(rep, rep, data_sharded(mesh), rep, rep, rep),
                 out_shardings=rep)


def make_predict_step(enn: base_lib.EpistemicNetwork, mesh: Mesh):
  """``predict_step(state, batch, zs) -> logits [K, batch, classes]``."""

  def predict(state, batch, zs):
    return enn.apply_multi(state.variables, batch["image"], zs).preds

  rep = replicated(mesh)
  return jax.jit(predict, in_shardings=(rep, data_sharded(mesh), rep),
                 out_shardings=NamedSharding(mesh, P(None, DATA_AXIS)))
