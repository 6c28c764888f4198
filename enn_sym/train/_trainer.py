"""``Trainer(config, workdir)``: every seed of every model kind of a config.

One :class:`Trainer` owns a workdir. For each model kind in
``config.models`` it trains all seeds of ``config.seeds`` (default
``(config.seed,)``) at once: the train state carries a leading seed axis and
one jitted program vmaps the optimizer step over it (``steps_per_call``
steps fused with ``lax.scan`` per dispatch). Seed ``s`` initialises from
``jax.random.key(s)``, reads the training data in the order of
``train_batches(seed=s)`` and bootstraps with seed ``s``, so its numbers are
those of a run with ``seeds=(s,)`` alone.

Per seed and step the program checks the loss and the updated parameters
(and BatchNorm statistics) for finiteness; a seed whose step is not finite
keeps its previous state and stops (``stop_reason = 'non_finite'``). With
early stopping (``config.early_stopping.patience > 0``) the validation
metric is checked every ``eval_every`` steps; a seed that has not improved
by ``min_delta`` for ``patience`` evaluations freezes (``early_stopping``),
and its best-validation parameters, kept in the state, are the ones
evaluated at the end. Both freezes happen inside the vmapped program (the
other seeds train on).

Checkpoints (``workdir/<kind>/checkpoints/<step>``) are written only of
states training can continue from: before saving step ``t`` the loss of the
state on batch ``t + 1`` (the very loss step ``t + 1`` computes) and its
parameters are checked finite for every seed still training.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any, Mapping

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
import tqdm
from jax.sharding import NamedSharding, PartitionSpec as P

from enn_sym import base as base_lib
from enn_sym import data as data_lib
from enn_sym import metrics as metrics_lib
from enn_sym.symmetry import _invariance
from enn_sym.train import _checkpoints
from enn_sym.train import _config
from enn_sym.train import _data
from enn_sym.train import _models
from enn_sym.train import _progress
from enn_sym.train import _report
from enn_sym.train import _steps

_EVAL_KEY_SALT = 0x5EED
_AUGMENT_SALT = 0xA06
RUNNING, EARLY_STOPPING, NON_FINITE = 0, 1, 2
STOP_REASONS = {RUNNING: "max_steps", EARLY_STOPPING: "early_stopping",
                NON_FINITE: "non_finite"}


class NonFiniteLossError(RuntimeError):
  """The training loss or the updated parameters became NaN or inf."""


class RunState(flax.struct.PyTreeNode):
  """The checkpointed state of all seeds of one model kind.

  Attributes:
    train: the :class:`TrainState`, every leaf with a leading seed axis.
    best: ``{'params', 'state'}`` at the best validation metric (early
      stopping), else ``{}``.
    seed: int32 ``[S]``, the seeds.
    active: bool ``[S]``, still training.
    stop: int32 ``[S]``, 0 running, 1 early stopping, 2 non-finite.
    steps_trained: int32 ``[S]``, optimizer steps applied.
    nonfinite_step: int32 ``[S]``, the step that was not finite (or -1).
    best_metric: float32 ``[S]``, the best validation metric (inf: none).
    best_step: int32 ``[S]``.
    bad_evals: int32 ``[S]``, evaluations since the last improvement.
  """

  train: _steps.TrainState
  best: Any
  seed: jax.Array
  active: jax.Array
  stop: jax.Array
  steps_trained: jax.Array
  nonfinite_step: jax.Array
  best_metric: jax.Array
  best_step: jax.Array
  bad_evals: jax.Array

  @property
  def step(self) -> int:
    return int(self.train.step[0])


def _all_finite(tree) -> jax.Array:
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
            if jnp.issubdtype(x.dtype, jnp.inexact)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


def _select(pred, new, old):
  return jax.tree.map(lambda a, b: jnp.where(pred, a, b), new, old)


def seeds_of(config) -> tuple[int, ...]:
  """``config.seeds``, or ``(config.seed,)`` when empty."""
  return tuple(int(s) for s in config.seeds) or (int(config.seed),)


def _augment_group(config):
  if not config.data.augment_group:
    return None
  group = _models.make_group(config.data.augment_group)
  if config.data.name == "tetris":
    group = _models.PointCloudAction(group)
  return group


class ModelRun:
  """All seeds of one model kind: jitted programs, state, checkpoints."""

  def __init__(self, kind: str, trainer: "Trainer"):
    config = trainer.config
    self.kind, self.config, self.trainer = kind, config, trainer
    self.data, self.mesh = trainer.data, trainer.mesh
    self.spec = _models.make_model(kind, config, trainer.data.num_classes)
    self.optimizer = _models.make_optimizer(config, self.spec)
    self.seeds = seeds_of(config)
    self.early = config.early_stopping.patience > 0
    self.ckpt = _checkpoints.CheckpointStore(
        os.path.join(trainer.workdir, kind, "checkpoints"),
        config.keep_checkpoints, enabled=trainer.is_main)
    self.eval_metrics = _steps.EvalMetrics.from_config(
        config, trainer.data.num_classes)
    self.num_traces = 0
    self.steps_run = 0  # Optimizer steps taken by this process.
    self.restored_step = None
    self.state: RunState | None = None
    seeds = jnp.asarray(self.seeds, jnp.int32)
    eval_keys = jax.vmap(lambda s: jax.random.fold_in(
        jax.random.key(s), _EVAL_KEY_SALT))(seeds)
    self.eval_zs = jax.vmap(lambda k: self.spec.eval_indices(
        jax.random.fold_in(k, 0)))(eval_keys)
    self.joint_keys = jax.vmap(lambda k: jax.random.fold_in(k, 1))(eval_keys)
    self._build()

  # -- jitted programs ------------------------------------------------------

  def _build(self):
    spec, config, tx = self.spec, self.config, self.optimizer
    group = _augment_group(config)
    rep = _steps.replicated(self.mesh)

    def seed_loss(params, state, batch, key, seed):
      if group is not None:
        k_aug = jax.random.fold_in(key, _AUGMENT_SALT)
        g = group.sample(k_aug, 1)[0]
        batch = {**batch, "image": group.act(g, batch["image"])}
      loss_fn = _models.make_loss_fn(spec, config, bootstrap_seed=seed)
      return loss_fn(params, state, batch, key)

    def seed_step(ts, active, seed, batch):
      key = jax.random.fold_in(jax.random.wrap_key_data(ts.rng), ts.step)
      (loss, aux), grads = jax.value_and_grad(seed_loss, has_aux=True)(
          ts.params, ts.state, batch, key, seed)
      updates, opt_state = tx.update(grads, ts.opt_state, ts.params)
      params = optax.apply_updates(ts.params, updates)
      new_state = dict(ts.state)
      if base_lib.BATCH_STATS in aux:
        new_state[base_lib.BATCH_STATS] = aux[base_lib.BATCH_STATS]
      finite = (jnp.isfinite(loss) & _all_finite(params)
                & _all_finite(new_state))
      ok = active & finite
      new = _steps.TrainState(
          step=ts.step + 1, params=_select(ok, params, ts.params),
          state=_select(ok, new_state, ts.state),
          opt_state=_select(ok, opt_state, ts.opt_state), rng=ts.rng)
      accuracy = jnp.mean(jnp.argmax(aux["logits"], -1) == batch["label"][None])
      out = {"loss": loss, "data_loss": aux["data_loss"], "l2": aux["l2"],
             "train_accuracy": accuracy,
             "grad_norm": optax.global_norm(grads)}
      return new, ok, active & ~finite, out

    def one_step(rs: RunState, batch):
      ts, ok, failed, out = jax.vmap(seed_step)(rs.train, rs.active, rs.seed,
                                                batch)
      rs = rs.replace(
          train=ts, active=rs.active & ~failed,
          stop=jnp.where(failed, NON_FINITE, rs.stop),
          nonfinite_step=jnp.where(failed, ts.step, rs.nonfinite_step),
          steps_trained=rs.steps_trained + ok.astype(jnp.int32))
      return rs, out

    def gather(arrays, idx):
      return {k: v[idx] for k, v in arrays.items()}

    def multi_step(rs, arrays, xs):
      self.num_traces += 1  # Runs at trace time only: counts compilations.
      def body(rs, x):
        batch = gather(arrays, x) if arrays is not None else x
        return one_step(rs, batch)
      return jax.lax.scan(body, rs, xs)

    def probe(rs, arrays, x):
      batch = gather(arrays, x) if arrays is not None else x

      def one(ts, seed, batch):
        key = jax.random.fold_in(jax.random.wrap_key_data(ts.rng), ts.step)
        loss, _ = seed_loss(ts.params, ts.state, batch, key, seed)
        return jnp.isfinite(loss) & _all_finite(ts.params)

      return jax.vmap(one)(rs.train, rs.seed, batch)

    data_spec = P(None, None, _steps.DATA_AXIS)
    self._xs_sharding = NamedSharding(self.mesh, data_spec)
    self._x_sharding = NamedSharding(self.mesh, P(None, _steps.DATA_AXIS))
    self.multi_step = jax.jit(multi_step, donate_argnums=(0,),
                              out_shardings=(rep, rep))
    self.probe = jax.jit(probe, out_shardings=rep)

    enn, em = spec.enn, self.eval_metrics

    def eval_step(variables, states, batch, zs, temperature, key, i):
      def one(v, s, z, t, k):
        logits = enn.apply_multi(v, batch["image"], z).preds
        return em.update(s, logits, batch["label"], batch["mask"], t,
                         jax.random.fold_in(k, i))
      return jax.vmap(one)(variables, states, zs, temperature, key)

    def predict(variables, batch, zs):
      return jax.vmap(lambda v, z: enn.apply_multi(v, batch["image"], z).preds
                      )(variables, zs)

    dat = _steps.data_sharded(self.mesh)
    # metrics.checked compiles the metric value checks in (checkify): a
    # non-finite prediction or a bad label raises InputError after the call.
    jit = metrics_lib.checked if config.metrics.checked else jax.jit
    self.eval_step = jit(eval_step, in_shardings=(
        rep, rep, dat, rep, rep, rep, None), out_shardings=rep)
    self.predict_step = jax.jit(predict, in_shardings=(rep, dat, rep),
                                out_shardings=NamedSharding(
                                    self.mesh, P(None, None, _steps.DATA_AXIS)))

    def init(seeds):
      def one(seed):
        key = jax.random.key(seed)
        k_init, k_index, k_run = jax.random.split(key, 3)
        x = _models.example_input(self.data.image_shape)
        variables = dict(enn.init(k_init, x, enn.indexer(k_index)))
        params = variables.pop(base_lib.PARAMS)
        return _steps.TrainState(
            step=jnp.zeros((), jnp.int32), params=params, state=variables,
            opt_state=tx.init(params), rng=jax.random.key_data(k_run))
      ts = jax.vmap(one)(seeds)
      n = seeds.shape[0]
      best = ({"params": ts.params, "state": ts.state} if self.early else {})
      return RunState(
          train=ts, best=best, seed=seeds, active=jnp.ones(n, bool),
          stop=jnp.zeros(n, jnp.int32), steps_trained=jnp.zeros(n, jnp.int32),
          nonfinite_step=jnp.full(n, -1, jnp.int32),
          best_metric=jnp.full(n, jnp.inf, jnp.float32),
          best_step=jnp.zeros(n, jnp.int32), bad_evals=jnp.zeros(n, jnp.int32))

    self._init = jax.jit(init, out_shardings=rep)

    def keep_best_tree(rs, improved):
      def sel(a, b):
        shape = (-1,) + (1,) * (a.ndim - 1)
        return jnp.where(improved.reshape(shape), a, b)
      new = {"params": rs.train.params, "state": rs.train.state}
      return rs.replace(best=jax.tree.map(sel, new, rs.best))

    self._keep_best = jax.jit(keep_best_tree, donate_argnums=(0,),
                              out_shardings=rep)

  # -- state ----------------------------------------------------------------

  def fresh_state(self) -> RunState:
    rs = self._init(jnp.asarray(self.seeds, jnp.int32))
    # Own buffers for the best copy (jit may return one buffer for both, and
    # the train step donates the train state).
    return rs.replace(best=_copy_tree(rs.best))

  def init_or_restore(self, frozen_base: RunState | None = None) -> int:
    """Restores the newest intact checkpoint, else a fresh state.

    Args:
      frozen_base: the trained ``base`` run's state, whose weights become
        the frozen base of a ``freeze_base`` epinet (fresh states only).

    Returns:
      The step of the state.
    """
    state = self.fresh_state()
    restored = self.ckpt.restore(state)
    if restored is not None:
      step, leaves = restored
      treedef = jax.tree.structure(state)
      rep = _steps.replicated(self.mesh)
      state = jax.device_put(jax.tree.unflatten(
          treedef, [np.asarray(l, dtype=np.asarray(t).dtype) for l, t in
                    zip(leaves, jax.tree.leaves(state))]), rep)
      self.restored_step = step
    else:
      self.restored_step = 0
      if frozen_base is not None:
        # A copy: this run's train step donates its state, which must not
        # delete the base run's buffers (the base is evaluated afterwards).
        variables = _models.frozen_base_variables(
            state.train.variables, _copy_tree(_variables_of(frozen_base)))
        params = variables.pop(base_lib.PARAMS)
        ts = state.train.replace(params=params, state=variables,
                                 opt_state=jax.jit(jax.vmap(
                                     self.optimizer.init))(params))
        best = (_copy_tree({"params": params, "state": variables})
                if self.early else state.best)
        state = state.replace(train=ts, best=best)
    self.state = state
    self.trainer.writer.drop_after(self.kind, self.restored_step)
    self.trainer.writer.write({"model": self.kind, "split": "restore",
                               "step": self.restored_step})
    return self.restored_step

  # -- evaluation -----------------------------------------------------------

  def variables(self, which: str = "final"):
    """Per-seed variables: ``'final'`` (current) or ``'best'`` (the best
    validation params with early stopping, else the current ones)."""
    rs = self.state
    if which == "best" and self.early:
      return {**rs.best["state"], base_lib.PARAMS: rs.best["params"]}
    return rs.train.variables

  def evaluate(self, split: str, temperature=None, which: str = "best"
               ) -> list[dict]:
    """Per-seed metric dicts on ``split``."""
    rep = _steps.replicated(self.mesh)
    n = len(self.seeds)
    empty = self.eval_metrics.empty()
    states = jax.device_put(jax.tree.map(
        lambda x: jnp.broadcast_to(x, (n,) + jnp.shape(x)), empty), rep)
    t = jnp.ones(n, jnp.float32) if temperature is None else jnp.asarray(
        temperature, jnp.float32).reshape(n)
    variables = self.variables(which)
    with self.data.eval_iter(split, self.trainer.local_eval_batch,
                             self.config.data.prefetch) as batches:
      for i, batch in enumerate(batches):
        states = self.eval_step(variables, states,
                                _steps.global_batch(batch, self.mesh),
                                self.eval_zs, jax.device_put(t, rep),
                                self.joint_keys, jnp.int32(i))
    return [self.eval_metrics.compute(jax.tree.map(lambda x: x[s], states))
            for s in range(n)]

  def predict(self, split: str, which: str = "best") -> dict:
    """``{'logits': [S, K, N, C], 'labels': [N]}`` on ``split``."""
    logits, labels, masks = [], [], []
    variables = self.variables(which)
    with self.data.eval_iter(split, self.trainer.local_eval_batch,
                             self.config.data.prefetch) as batches:
      for batch in batches:
        gb = _steps.global_batch(batch, self.mesh)
        out = self.predict_step(variables, gb, self.eval_zs)
        if self.data.process_count > 1:
          from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
          out, lab, msk = (multihost_utils.process_allgather(a, tiled=True)
                           for a in (out, gb["label"], gb["mask"]))
        else:
          lab, msk = gb["label"], gb["mask"]
        logits.append(np.asarray(out))
        labels.append(np.asarray(lab))
        masks.append(np.asarray(msk))
    mask = np.concatenate(masks).astype(bool)
    return {"logits": np.concatenate(logits, axis=2)[:, :, mask],
            "labels": np.concatenate(labels)[mask]}

  def fit_temperatures(self) -> np.ndarray:
    out = self.predict("validation")
    return np.asarray([float(metrics_lib.fit_temperature(l, out["labels"]))
                       for l in out["logits"]], np.float32)

  def orbit_evaluation(self) -> list[dict]:
    """Per-seed, per-group-element test metrics and the invariance error."""
    config = self.config
    group = _models.make_group(config.symmetry.eval_group)
    if config.data.name == "tetris":
      group = _models.PointCloudAction(group)
    elements = _models.group_elements(group, config.symmetry.num_samples,
                                      config.seed)
    orbit = _invariance.OrbitCalibration(int(elements.shape[0]),
                                         config.metrics.num_bins)
    enn = self.spec.enn

    def step(variables, ostates, batch, zs):
      def one(v, o, z):
        stacks = jax.vmap(lambda g: enn.apply_multi(
            v, group.act(g, batch["image"]), z).preds)(elements)
        # Mean predictive of every orbit member: [|G|, B] confidence and
        # prediction, for the published bounds on the test orbits.
        mean = jnp.mean(jax.nn.softmax(stacks.astype(jnp.float32), -1), 1)
        return (orbit.update(o, stacks, batch["label"], batch["mask"]),
                jnp.max(mean, -1), jnp.argmax(mean, -1))
      return jax.vmap(one)(variables, ostates, zs)

    rep = _steps.replicated(self.mesh)
    step = jax.jit(step, in_shardings=(rep, rep, _steps.data_sharded(
        self.mesh), rep), out_shardings=rep)
    n = len(self.seeds)
    ostates = jax.device_put(jax.tree.map(
        lambda x: jnp.broadcast_to(x, (n,) + jnp.shape(x)), orbit.empty()),
                             rep)
    variables = self.variables("best")
    # Bounds need every orbit member, so only finite groups, one process.
    bounds_on = group.order is not None and self.data.process_count == 1
    confs, preds, labels = [], [], []
    with self.data.eval_iter("test", self.trainer.local_eval_batch,
                             config.data.prefetch) as batches:
      for batch in batches:
        gb = _steps.global_batch(batch, self.mesh)
        ostates, conf, pred = step(variables, ostates, gb, self.eval_zs)
        if bounds_on:
          keep = np.asarray(gb["mask"]) > 0
          confs.append(np.asarray(conf)[..., keep])
          preds.append(np.asarray(pred)[..., keep])
          labels.append(np.asarray(gb["label"])[keep])
    outs = []
    for s in range(n):
      out = orbit.compute(jax.tree.map(lambda x: x[s], ostates))
      out["orbit_elements"] = np.asarray(elements)
      if bounds_on:
        out["finite_orbit_bounds"] = orbit_bounds(
            np.concatenate(confs, -1)[s], np.concatenate(preds, -1)[s],
            np.concatenate(labels), self.data.num_classes,
            config.metrics.num_bins)
      outs.append(out)
    return outs

  # -- training -------------------------------------------------------------

  def _raise_non_finite(self, rs: RunState) -> None:
    stop = np.asarray(rs.stop)
    if not np.all(stop == NON_FINITE):
      return
    bad = np.asarray(rs.nonfinite_step)
    steps = self.ckpt.steps()
    where = (f"the last good checkpoint is step {steps[-1]} in "
             f"{self.ckpt.directory} (it restores to finite parameters with "
             f"a finite loss)" if steps else
             "no checkpoint was saved before it, so none exists")
    seeds = ", ".join(f"seed {s} at step {b}" for s, b in zip(self.seeds, bad))
    changes = '"optimizer.learning_rate",'
    raise NonFiniteLossError(
        f"[{self.kind}] the training loss or the updated parameters became "
        f"non-finite ({seeds}). Training stopped; {where}. To continue: a new "
        f"--workdir with changed settings (e.g. a lower "
        f"config.optimizer.learning_rate), or resume from the kept "
        f"checkpoint with a deliberately changed optimizer setting: "
        f"--config.optimizer.learning_rate=<lower> "
        f"--config.resume_changes='({changes})'.")

  def _early_stopping_check(self, rs: RunState, step: int) -> RunState:
    self.state = rs
    results = self.evaluate("validation", which="final")
    es = self.config.early_stopping
    metric = np.asarray([float(r[es.metric]) for r in results], np.float32)
    for s, r in zip(self.seeds, results):
      self.trainer.writer.write({"model": self.kind, "step": step,
                                 "split": "validation", "seed": s,
                                 **_scalars(r)})
    active = np.asarray(rs.active)
    best = np.asarray(rs.best_metric)
    improved = active & np.isfinite(metric) & (metric < best - es.min_delta)
    bad = np.where(improved, 0, np.asarray(rs.bad_evals) + active)
    stop_now = active & ~improved & (bad >= es.patience)
    rep = _steps.replicated(self.mesh)
    put = lambda x: jax.device_put(x, rep)  # pylint: disable=unnecessary-lambda-assignment
    rs = self._keep_best(rs, put(improved))
    return rs.replace(
        best_metric=put(np.where(improved, metric, best).astype(np.float32)),
        best_step=put(np.where(improved, step, np.asarray(rs.best_step))
                      .astype(np.int32)),
        bad_evals=put(bad.astype(np.int32)),
        active=put(active & ~stop_now),
        stop=put(np.where(stop_now, EARLY_STOPPING, np.asarray(rs.stop))
                 .astype(np.int32)))

  def _save(self, rs: RunState, stream, step: int) -> bool:
    """Saves ``rs`` at ``step`` if every training seed can continue."""
    active = np.asarray(rs.active)
    if active.any():
      ok = np.asarray(self.probe(rs, stream.arrays, stream.peek_one()))
      if not np.all(ok | ~active):
        return False
    self.ckpt.save(step, rs)
    return True

  def train(self) -> RunState:
    config, trainer = self.config, self.trainer
    rs = self.state
    start = rs.step
    n_call = config.steps_per_call
    stream = self.data.train_stream(self.seeds, trainer.local_batch, start,
                                    self.mesh, self._xs_sharding,
                                    self._x_sharding)
    progress = _progress.Progress(
        config.num_steps, start, self.kind,
        config.batch_size * len(self.seeds),
        enabled=config.progress_bar and trainer.is_main,
        clock=trainer.clock, bar_factory=trainer.bar_factory)
    step = start
    try:
      self._raise_non_finite(rs)
      while step < config.num_steps and bool(np.any(np.asarray(rs.active))):
        rs, outs = self.multi_step(rs, stream.arrays, stream.take(n_call))
        step += n_call
        self.steps_run += n_call
        # The clock starts after the first (compiling) call.
        progress.advance(n_call, lambda: jax.block_until_ready(outs["loss"]))
        is_last = step >= config.num_steps
        if step % config.log_every == 0 or is_last:
          record = jax.device_get(jax.tree.map(lambda x: x[-1], outs))
          rate = progress.rate()
          losses = np.asarray(record["loss"])
          progress.set_postfix(loss=f"{float(np.mean(losses)):.4f}",
                               ex_s=f"{rate:.0f}")
          for i, s in enumerate(self.seeds):
            trainer.writer.write({
                "model": self.kind, "step": step, "split": "train",
                "seed": s, "examples_per_sec": rate,
                **{k: float(v[i]) for k, v in record.items()}})
          self._raise_non_finite(rs)
        eval_now = step % config.eval_every == 0
        if eval_now or is_last or step % config.checkpoint_every == 0:
          # Evaluations and checkpoint writes are not timed.
          progress.pause(lambda: jax.block_until_ready(rs))  # pylint: disable=cell-var-from-loop
        if self.early and (eval_now or is_last):
          rs = self._early_stopping_check(rs, step)
        done = not bool(np.any(np.asarray(rs.active)))
        # Evaluate before saving: a run stopped during this evaluation then
        # resumes from the previous checkpoint and redoes it.
        if eval_now and not is_last and not done:
          self.state = rs
          for s, r in zip(self.seeds, self.evaluate("test", which="final")):
            trainer.writer.write({"model": self.kind, "step": step,
                                  "split": "test", "seed": s, **_scalars(r)})
        if step % config.checkpoint_every == 0 or is_last or done:
          self._raise_non_finite(rs)
          self._save(rs, stream, step)
        progress.resume()
      self._raise_non_finite(rs)
    finally:
      self.state = rs
      stream.close()
      progress.close()
    return rs

  def _bench_inputs(self):
    if self.state is None:
      self.init_or_restore()
    if getattr(self, "_bench_stream", None) is None:
      self._bench_stream = self.data.train_stream(
          self.seeds, self.trainer.local_batch, self.state.step, self.mesh,
          self._xs_sharding, self._x_sharding)
    return self._bench_stream, self.state

  def run_calls(self, num_calls: int) -> float:
    """Runs ``num_calls`` dispatches of the training program (each
    ``steps_per_call`` steps of every seed) from the current state, with
    no logging, evaluation or checkpoint; returns the wall seconds (after
    blocking on the result). For benchmarks: this is the pipeline's step,
    with the state, the data and the indices passed as arguments."""
    stream, rs = self._bench_inputs()
    t0 = time.perf_counter()
    for _ in range(num_calls):
      rs, _ = self.multi_step(rs, stream.arrays,
                              stream.take(self.config.steps_per_call))
    jax.block_until_ready(rs)
    self.state = rs
    return time.perf_counter() - t0

  def step_cost(self) -> dict[str, float]:
    """XLA's cost analysis of the compiled training program that
    :meth:`run_calls` dispatches: ``{'flops', 'bytes_accessed'}``.

    A count of the compiled operations, independent of machine load (XLA
    counts a loop body once, so with ``steps_per_call > 1`` it is still the
    cost of one step). Compiles the program if needed; runs nothing.
    """
    stream, rs = self._bench_inputs()
    xs = jax.tree.map(lambda a: jax.ShapeDtypeStruct(
        (self.config.steps_per_call,) + a.shape, a.dtype,
        sharding=self._xs_sharding), stream.peek_one())
    cost = self.multi_step.lower(rs, stream.arrays, xs).compile(
    ).cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return {"flops": float(cost["flops"]),
            "bytes_accessed": float(cost["bytes accessed"])}

  def final_evaluation(self) -> list[dict]:
    config = self.config
    n = len(self.seeds)
    temperature = np.ones(n, np.float32)
    if config.temperature_scaling and "validation" in self.data.splits:
      temperature = self.fit_temperatures()
    results = self.evaluate("test", temperature)
    orbits = (self.orbit_evaluation() if config.symmetry.eval_group
              else [{}] * n)
    rs = self.state
    stop = np.asarray(rs.stop)
    trained = np.asarray(rs.steps_trained)
    best_step = (np.asarray(rs.best_step) if self.early else trained)
    for i, (s, r) in enumerate(zip(self.seeds, results)):
      r["temperature"] = np.float32(temperature[i])
      r.update(orbits[i])
      r["stop_reason"] = STOP_REASONS[int(stop[i])]
      r["steps_trained"] = int(trained[i])
      r["best_step"] = int(best_step[i])
      self.trainer.writer.write({"model": self.kind, "step": rs.step,
                                 "split": "test", "final": True, "seed": s,
                                 **_scalars(r)})
    return results


def _copy_tree(tree):
  return jax.tree.map(lambda x: jnp.array(x, copy=True), tree)


def _variables_of(rs: RunState):
  """The variables a trained run ends with (best with early stopping)."""
  if rs.best:
    return {**rs.best["state"], base_lib.PARAMS: rs.best["params"]}
  return rs.train.variables


def _scalars(result: Mapping[str, Any]) -> dict:
  return {k: float(v) for k, v in result.items()
          if not isinstance(v, (str, Mapping)) and np.ndim(v) == 0}


def summarize(seeds, results: list[dict], keys) -> dict:
  """The shared summary layout of one model kind (see docs/training.md)."""
  out: dict[str, Any] = {"seeds": list(seeds), "per_seed": {}, "ci95": {}}
  for k in keys:
    if k not in results[0]:
      continue
    values = np.asarray([np.asarray(r[k], np.float64) for r in results])
    mean = values.mean(0)
    out[k] = _report.to_jsonable(mean)
    out["per_seed"][k] = _report.to_jsonable(values)
    if values.ndim == 1:
      out["ci95"][k] = list(_report.ci95(values))
  for k in ("stop_reason", "steps_trained", "best_step"):
    out[k] = [r[k] for r in results]
  if "finite_orbit_bounds" in results[0]:
    per_seed = [r["finite_orbit_bounds"] for r in results]
    out["per_seed"]["finite_orbit_bounds"] = per_seed
    # Mean over seeds of each bound that applies to every seed.
    out["finite_orbit_bounds"] = {
        k: float(np.mean([b[k] for b in per_seed]))
        for k in per_seed[0] if k != "not_applicable"
        and all(b[k] is not None for b in per_seed)}
  return out


def orbit_bounds(confidences, predictions, labels, num_classes: int,
                 num_bins: int) -> dict:
  """Berman et al. 2025's bounds on the test orbits of a finite group.

  Args:
    confidences, predictions: ``[|G|, N]`` the mean predictive's top
      probability and class on ``g x_n`` for every group element ``g``.
    labels: ``[N]``; every member of ``x_n``'s orbit carries ``x_n``'s label
      (the evaluation set is the orbit closure of the test split).
    num_classes: number of classes.
    num_bins: fibres are the ECE's equal-width confidence bins, so ``ece``
      is the binned ECE of the orbit-closed test set.

  Returns:
    :func:`enn_sym.bounds.finite_orbit_bounds` without its per-fibre detail:
    the bounds (``None`` where a statement does not apply, e.g. for a model
    that is not invariant on the orbits), ``ece``, ``k_star``, ``cor1_m``,
    ``thm5_m`` and ``not_applicable``.
  """
  from enn_sym import bounds  # pylint: disable=g-import-not-at-top
  order, n = np.shape(confidences)
  result = bounds.finite_orbit_bounds(
      np.tile(np.asarray(labels), order), np.tile(np.arange(n), order),
      np.asarray(confidences, np.float64).reshape(-1),
      predictions=np.asarray(predictions).reshape(-1),
      num_classes=num_classes, fibres=int(num_bins))
  result.pop("fibres", None)
  return _report.to_jsonable(result)


class Trainer:
  """Trains, evaluates and summarises every model of a config in a workdir.

  Usage::

    trainer = Trainer(config, workdir)
    trainer.init_or_restore()     # {kind: restored step}
    trainer.train()               # all kinds, all seeds
    trainer.evaluate("test")      # per-seed metrics of the only model
    trainer.predict("test")       # {'logits': [S, K, N, C], 'labels': [N]}
    trainer.summary()             # final evaluation, writes summary.json

  Args:
    config: a config following :func:`enn_sym.train.default_config`
      (validated here).
    workdir: the output directory, tied to ``config`` (see
      ``enn_sym.train._checkpoints``).
    data: one's own data in place of the named data set of ``config.data``:
      :class:`enn_sym.data.Splits` or a dict ``{'train', 'test'[,
      'validation']}`` of splits, each a dict of numpy arrays ``{'image':
      [N, H, W, C], 'label': int [N]}`` or any source. The workdir records
      the data's content hash (``data.user`` in ``config.json``), so it
      resumes only on the same data.

  Raises:
    ConfigError: a bad config, or a workdir written by another config or
      other data.
    InputError: bad user data (the message names the split and the fix).
  """

  # The progress bar's clock and bar (tests inject fakes; see _progress).
  clock = time.perf_counter
  bar_factory = tqdm.tqdm

  def __init__(self, config, workdir: str, data: Any = None):
    splits = None if data is None else data_lib.as_splits(data)
    _config.validate_config(config)
    if splits is not None:
      _data.check_user_data(config, splits)
    n = jax.device_count()
    if config.batch_size % n:
      raise _config.ConfigError(
          f"config.batch_size = {config.batch_size} must be divisible by the "
          f"number of devices ({n}) to shard the batch; use a multiple of "
          f"{n}.")
    self.config, self.workdir = config, workdir
    self.is_main = jax.process_index() == 0
    try:
      os.makedirs(workdir, exist_ok=True)
    except OSError as e:
      raise _config.ConfigError(f"cannot create --workdir {workdir!r}: "
                                f"{e.strerror}; choose a writable "
                                f"directory.") from None
    bound = (config if splits is None
             else _data.user_data_config(config, splits))
    _checkpoints.bind_workdir(bound, workdir, write=self.is_main)
    self.writer = _report.RunWriter(
        os.path.join(workdir, "metrics.jsonl"),
        tensorboard_dir=(os.path.join(workdir, "tensorboard")
                         if config.tensorboard else None),
        enabled=self.is_main)
    self.mesh = _steps.make_mesh()
    self.data = _data.RunData(config, splits)
    self.local_batch = config.batch_size // self.data.process_count
    local_devices = jax.local_device_count()
    per_process = math.ceil(config.eval_batch_size / self.data.process_count)
    # Eval batches are padded (and masked) to a multiple of the devices.
    self.local_eval_batch = math.ceil(per_process / local_devices) * (
        local_devices)
    self.runs = {kind: ModelRun(kind, self) for kind in config.models}
    self._results: dict[str, list[dict]] = {}

  def _run(self, kind: str | None) -> ModelRun:
    if kind is None:
      if len(self.runs) != 1:
        raise _config.ConfigError(
            f"this config trains {list(self.runs)}: pass kind= one of them.")
      kind = next(iter(self.runs))
    if kind not in self.runs:
      raise _config.ConfigError(f"kind {kind!r} is not in config.models "
                                f"{list(self.runs)}.")
    run = self.runs[kind]
    if run.state is None:
      self.init_or_restore()
    if run.state is None:
      raise _config.ConfigError(f"{kind!r} has no state yet: its frozen base "
                                f"is trained first; call train().")
    return run

  def init_or_restore(self) -> dict[str, int]:
    """Restores (or initialises) every model kind; ``{kind: step}``.

    A frozen-base epinet without a checkpoint waits for its base to be
    trained (``train()`` initialises it).
    """
    steps = {}
    for kind, run in self.runs.items():
      if run.state is not None:
        steps[kind] = run.state.step
      elif run.spec.freeze_base and not run.ckpt.steps():
        continue
      else:
        steps[kind] = run.init_or_restore()
    return steps

  def train(self) -> dict[str, dict]:
    """Trains every kind in order; ``{kind: {stop_reason, steps_trained,
    best_step}}`` (lists over seeds)."""
    self.init_or_restore()
    out = {}
    for kind, run in self.runs.items():
      if run.state is None:
        run.init_or_restore(frozen_base=self.runs["base"].state)
      rs = run.train()
      out[kind] = {
          "stop_reason": [STOP_REASONS[int(s)] for s in np.asarray(rs.stop)],
          "steps_trained": np.asarray(rs.steps_trained).tolist(),
          "best_step": np.asarray(rs.best_step).tolist()}
    self.writer.flush()
    return out

  def evaluate(self, split: str, kind: str | None = None) -> dict:
    """``{metric: [S] values}`` of one model on ``split`` (the best
    validation params with early stopping, else the current ones)."""
    results = self._run(kind).evaluate(split)
    return {k: np.stack([r[k] for r in results]) for k in results[0]}

  def predict(self, split: str, kind: str | None = None) -> dict:
    """``{'logits': [S, K, N, C], 'labels': [N]}`` of one model."""
    return self._run(kind).predict(split)

  def summary(self) -> dict:
    """Final evaluation of every kind; writes ``summary.json``, plots."""
    summary = {}
    for kind in self.runs:
      run = self._run(kind)
      results = run.final_evaluation()
      self._results[kind] = results
      extra = run.eval_metrics.extra_keys()
      keys = (_report.SUMMARY_KEYS + _report.EXTRA_KEYS + _report.ORBIT_KEYS
              + tuple(k for k in results[0] if k.split("/")[0] in extra))
      summary[kind] = summarize(run.seeds, results, keys)
      if self.is_main and self.config.plots:
        _report.save_reliability_diagram(
            os.path.join(self.workdir, f"reliability_{kind}.png"), results[0],
            f"{kind} on {self.data.name} (test, seed "
            f"{run.seeds[0]})")
    if self.is_main:
      _report.write_summary(self.workdir, summary)
    self.writer.flush()
    return summary
