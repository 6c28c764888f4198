"""``train_and_evaluate(config, workdir)``: the whole run.

For each model kind in ``config.models``: initialise (or resume from the
latest checkpoint in ``workdir/<model>/checkpoints``), train with the jitted
data-parallel step, evaluate every ``eval_every`` steps with the streaming
metrics inside the jitted eval step, and at the end fit a temperature on the
validation split and evaluate the test split raw and temperature-scaled.
Outputs in ``workdir``: ``metrics.jsonl`` (train logs and evals),
``summary.json``, ``reliability_<model>.png``.
"""

from __future__ import annotations

import os
import time
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import tqdm

from enn_sym import data as data_lib
from enn_sym import metrics as metrics_lib
from enn_sym.data import _pointsets
from enn_sym.data import _rotated
from enn_sym.symmetry import _invariance
from enn_sym.train import _config
from enn_sym.train import _models
from enn_sym.train import _report
from enn_sym.train import _steps

_EVAL_KEY_SALT = 0x5EED


class NonFiniteLossError(RuntimeError):
  """The training loss became NaN or inf."""


def maybe_initialize_distributed() -> bool:
  """``jax.distributed.initialize()`` when the environment asks for it.

  That is when ``JAX_COORDINATOR_ADDRESS`` is set (explicit clusters), or
  ``ENN_SYM_DISTRIBUTED=1`` (TPU pods and SLURM, where JAX discovers the
  cluster itself). Call before any other JAX call.
  """
  if (os.environ.get("JAX_COORDINATOR_ADDRESS")
      or os.environ.get("ENN_SYM_DISTRIBUTED") == "1"):
    jax.distributed.initialize()
    return True
  return False


class _Data:
  """The splits of one run, this process's part of them, preprocessing."""

  def __init__(self, config):
    name = config.data.name
    self.num_classes = _config.NUM_CLASSES[name]
    if config.data.source == "embedded" and name == "tetris":
      points = _pointsets.tetris_dataset(
          config.data.tetris_per_class, seed=config.data.split_seed,
          rotate=config.data.tetris_rotate)
      splits = _pointsets.split_pointsets(
          points, fractions=tuple(config.data.fractions),
          seed=config.data.split_seed)
      self.splits = {k: v for k, v in splits.items() if len(v)}
    elif config.data.source == "embedded":
      splits = data_lib.load_embedded(name, seed=config.data.split_seed,
                                      fractions=tuple(config.data.fractions))
      self.splits = {k: v for k, v in splits.items() if len(v)}
    else:
      data_dir = config.data.data_dir or None
      self.splits = {
          "train": data_lib.load_tfds_source(name, config.data.train_split,
                                             data_dir=data_dir),
          "test": data_lib.load_tfds_source(name, config.data.test_split,
                                            data_dir=data_dir)}
      if config.data.validation_split:
        self.splits["validation"] = data_lib.load_tfds_source(
            name, config.data.validation_split, data_dir=data_dir)
    if config.data.rotate:
      self.splits = {k: _rotate(v, config.data.split_seed, config.data.rotate)
                     for k, v in self.splits.items()}
    self.process_count = jax.process_count()
    self.local = {
        k: data_lib.shard_for_process(v, drop_remainder=(k == "train"))
        for k, v in self.splits.items()}
    if name == "tetris":
      self.train_preprocess = self.eval_preprocess = None
    else:
      normalize = bool(config.data.normalize) or None
      self.train_preprocess = data_lib.make_preprocess(
          name, train=True, seed=config.seed, normalize=normalize)
      self.eval_preprocess = data_lib.make_preprocess(
          name, train=False, normalize=normalize)
    test = self.splits["test"]
    first = (test.get_batch(np.arange(1))["image"] if hasattr(test, "get_batch")
             else [test[0]["image"]])
    if self.eval_preprocess is not None:
      first = self.eval_preprocess(first)
    self.image_shape = np.shape(first)[1:]

  def eval_iter(self, split: str, batch_size: int, prefetch: int):
    num = data_lib.num_eval_batches(len(self.splits[split]),
                                    batch_size=batch_size,
                                    process_count=self.process_count)
    return data_lib.eval_batches(self.local[split], batch_size=batch_size,
                                 preprocess=self.eval_preprocess,
                                 num_batches=num, prefetch=prefetch)


def _rotate(source, seed: int, mode: str):
  if isinstance(source, data_lib.ArrayDataset):
    return _rotated.rotate_dataset(source, seed=seed, mode=mode)
  return _rotated.RotatedSource(source, seed=seed, mode=mode)


def _check_devices(config) -> None:
  n = jax.device_count()
  for field in ("batch_size", "eval_batch_size"):
    if config[field] % n:
      raise _config.ConfigError(
          f"config.{field} = {config[field]} must be divisible by the number "
          f"of devices ({n}) to shard the batch; use a multiple of {n}.")


def _abstract(state):
  return jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
      state)


class _Run:
  """Training and evaluation of one model kind."""

  def __init__(self, kind: str, config, workdir: str, data: _Data, mesh,
               writer: _report.JsonlWriter):
    self.kind, self.config, self.data, self.mesh = kind, config, data, mesh
    self.writer = writer
    self.spec = _models.make_model(kind, config, data.num_classes)
    self.optimizer = _models.make_optimizer(config, kind)
    self.num_traces = 0

    def count_trace():
      self.num_traces += 1

    self.train_step = _steps.make_train_step(
        _models.make_loss_fn(self.spec, config), self.optimizer, mesh,
        on_trace=count_trace)
    self.eval_metrics = _steps.EvalMetrics(
        config.metrics.num_bins, config.metrics.joint_tau,
        config.metrics.joint_kappa, config.metrics.joint_num_samples)
    self.eval_step = _steps.make_eval_step(self.spec.enn, self.eval_metrics,
                                           mesh)
    self.predict_step = _steps.make_predict_step(self.spec.enn, mesh)
    eval_key = jax.random.fold_in(jax.random.key(config.seed), _EVAL_KEY_SALT)
    self.eval_zs, self.joint_key = (
        self.spec.eval_indices(jax.random.fold_in(eval_key, 0)),
        jax.random.fold_in(eval_key, 1))
    self.ckpt = ocp.CheckpointManager(
        os.path.abspath(os.path.join(workdir, kind, "checkpoints")),
        options=ocp.CheckpointManagerOptions(
            max_to_keep=config.keep_checkpoints, create=True))
    self.local_batch = config.batch_size // data.process_count
    self.local_eval_batch = config.eval_batch_size // data.process_count

  # -- state ----------------------------------------------------------------

  def initial_state(self, frozen_base=None):
    """A fresh state, or the latest checkpoint's.

    Args:
      frozen_base: the trained ``base`` model's state, whose weights (and
        BatchNorm statistics) become the frozen base of a
        ``model.epinet.freeze_base`` epinet; unused when resuming (the
        checkpoint holds them).
    """
    state = _steps.init_state(
        self.spec.enn, self.optimizer,
        _models.example_input(self.data.image_shape), self.config.seed,
        self.mesh)
    latest = self.ckpt.latest_step()
    if latest is not None:
      state = self.ckpt.restore(
          latest, args=ocp.args.StandardRestore(_abstract(state)))
    elif frozen_base is not None:
      variables = _models.frozen_base_variables(state.variables,
                                                frozen_base.variables)
      params = variables.pop("params")
      state = state.replace(params=params, state=variables)
    return state

  # -- evaluation -----------------------------------------------------------

  def evaluate(self, state, split: str, temperature: float = 1.0) -> dict:
    rep = _steps.replicated(self.mesh)
    states = jax.device_put(self.eval_metrics.empty(), rep)
    t = jax.device_put(jnp.float32(temperature), rep)
    with self.data.eval_iter(split, self.local_eval_batch,
                             self.config.data.prefetch) as batches:
      for i, batch in enumerate(batches):
        states = self.eval_step(state, states,
                                _steps.global_batch(batch, self.mesh),
                                self.eval_zs, t,
                                jax.random.fold_in(self.joint_key, i))
    return self.eval_metrics.compute(states)

  def orbit_evaluation(self, state) -> dict:
    """Per-group-element test metrics and the invariance error."""
    config = self.config
    group = _models.make_group(config.symmetry.eval_group)
    if config.data.name == "tetris":
      group = _models.PointCloudAction(group)
    elements = _models.group_elements(group, config.symmetry.num_samples,
                                      config.seed)
    orbit = _invariance.OrbitCalibration(int(elements.shape[0]),
                                         config.metrics.num_bins)
    enn = self.spec.enn

    def step(state, ostate, batch, zs):
      stacks = jax.vmap(lambda g: enn.apply_multi(
          state.variables, group.act(g, batch["image"]), zs).preds)(elements)
      return orbit.update(ostate, stacks, batch["label"], batch["mask"])

    rep = _steps.replicated(self.mesh)
    step = jax.jit(step, in_shardings=(rep, rep, _steps.data_sharded(
        self.mesh), rep), out_shardings=rep)
    ostate = jax.device_put(orbit.empty(), rep)
    with self.data.eval_iter("test", self.local_eval_batch,
                             config.data.prefetch) as batches:
      for batch in batches:
        ostate = step(state, ostate, _steps.global_batch(batch, self.mesh),
                      self.eval_zs)
    out = orbit.compute(ostate)
    out["orbit_elements"] = np.asarray(elements)
    return out

  def fit_temperature(self, state) -> float:
    """Fits T on the validation split (NLL of the mean predictive)."""
    logits, labels, masks = [], [], []
    with self.data.eval_iter("validation", self.local_eval_batch,
                             self.config.data.prefetch) as batches:
      for batch in batches:
        gb = _steps.global_batch(batch, self.mesh)
        out = self.predict_step(state, gb, self.eval_zs)
        if self.data.process_count > 1:
          from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
          out, lab, msk = (multihost_utils.process_allgather(a, tiled=True)
                           for a in (out, gb["label"], gb["mask"]))
        else:
          lab, msk = gb["label"], gb["mask"]
        logits.append(np.asarray(out))
        labels.append(np.asarray(lab))
        masks.append(np.asarray(msk))
    return float(metrics_lib.fit_temperature(
        np.concatenate(logits, axis=1), np.concatenate(labels),
        np.concatenate(masks)))

  # -- training -------------------------------------------------------------

  def _check_finite(self, pending, first_step: int, last_good) -> None:
    values = np.asarray(jax.device_get(pending), np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
      raise NonFiniteLossError(
          f"[{self.kind}] the training loss became {values[bad[0]]} at step "
          f"{first_step + int(bad[0]) + 1}. Training stopped; the last good "
          f"checkpoint (step {last_good}) is kept in {self.ckpt.directory}. "
          f"Lower config.optimizer.learning_rate or check the inputs.")

  def train(self, state):
    config = self.config
    start = int(state.step)
    last_good = start if start else None
    pending, pending_from = [], start
    t_log, n_log = time.perf_counter(), 0
    bar = tqdm.tqdm(total=config.num_steps, initial=start, desc=self.kind,
                    disable=not config.progress_bar or jax.process_index(),
                    dynamic_ncols=True, mininterval=1.0)
    batches = data_lib.train_batches(
        self.data.local["train"], batch_size=self.local_batch,
        seed=config.seed, preprocess=self.data.train_preprocess,
        start_step=start, prefetch=config.data.prefetch)
    try:
      for step in range(start + 1, config.num_steps + 1):
        state, out = self.train_step(
            state, _steps.global_batch(next(batches), self.mesh))
        pending.append(out["loss"])
        n_log += 1
        bar.update(1)
        is_last = step == config.num_steps
        if step % config.log_every == 0 or is_last:
          self._check_finite(pending, pending_from, last_good)
          pending, pending_from = [], step
          elapsed = time.perf_counter() - t_log
          rate = n_log * config.batch_size / max(elapsed, 1e-9)
          record = {k: float(v) for k, v in jax.device_get(out).items()}
          bar.set_postfix(loss=f"{record['loss']:.4f}", ex_s=f"{rate:.0f}")
          self.writer.write({"model": self.kind, "step": step,
                             "split": "train", "examples_per_sec": rate,
                             **record})
          t_log, n_log = time.perf_counter(), 0
        save = step % config.checkpoint_every == 0 or is_last
        if save:
          self._check_finite(pending, pending_from, last_good)
          pending, pending_from = [], step
        # Evaluate before saving: a run stopped during this evaluation then
        # resumes from the previous checkpoint and redoes it, rather than
        # from this step's checkpoint with this step's test record missing.
        if step % config.eval_every == 0 and not is_last:
          result = self.evaluate(state, "test")
          self.writer.write({"model": self.kind, "step": step, "split": "test",
                             **_scalars(result)})
        if save:
          self.ckpt.save(step, args=ocp.args.StandardSave(state))
          last_good = step
    finally:
      batches.close()
      bar.close()
      self.ckpt.wait_until_finished()
    return state

  def final_evaluation(self, state) -> dict:
    temperature = 1.0
    if self.config.temperature_scaling and "validation" in self.data.splits:
      temperature = self.fit_temperature(state)
    result = self.evaluate(state, "test", temperature)
    result["temperature"] = np.float32(temperature)
    if self.config.symmetry.eval_group:
      result.update(self.orbit_evaluation(state))
    self.writer.write({"model": self.kind, "step": int(state.step),
                       "split": "test", "final": True, **_scalars(result)})
    return result


def _scalars(result: Mapping[str, Any]) -> dict:
  return {k: float(v) for k, v in result.items() if np.ndim(v) == 0}


def train_and_evaluate(config, workdir: str) -> dict[str, dict[str, float]]:
  """Trains and evaluates every model in ``config.models``.

  Args:
    config: an ``ml_collections.ConfigDict`` following
      :func:`enn_sym.train.default_config` (validated here).
    workdir: output directory; a run resumes from the checkpoints in it.

  Returns:
    ``{model: {metric: value}}``: the final test metrics, also written to
    ``workdir/summary.json``.
  """
  _config.validate_config(config)
  _check_devices(config)
  os.makedirs(workdir, exist_ok=True)
  is_main = jax.process_index() == 0
  writer = _report.JsonlWriter(os.path.join(workdir, "metrics.jsonl"),
                               enabled=is_main)
  mesh = _steps.make_mesh()
  data = _Data(config)
  summary, trained = {}, {}
  for kind in config.models:
    run = _Run(kind, config, workdir, data, mesh, writer)
    frozen = (trained.get("base") if kind == "epinet"
              and config.model.epinet.freeze_base else None)
    state = run.train(run.initial_state(frozen))
    if kind == "base":
      trained[kind] = state
    result = run.final_evaluation(state)
    summary[kind] = {k: float(result[k]) for k in _report.SUMMARY_KEYS}
    for k in _report.ORBIT_KEYS:
      if k in result:
        summary[kind][k] = _report.to_jsonable(result[k])
    if is_main and config.plots:
      _report.save_reliability_diagram(
          os.path.join(workdir, f"reliability_{kind}.png"), result,
          f"{kind} on {config.data.name} (test)")
    run.ckpt.close()
  if is_main:
    _report.write_summary(workdir, summary)
    keys = _report.SUMMARY_KEYS + tuple(
        k for k in _report.ORBIT_SCALARS if config.symmetry.eval_group)
    print("\n" + _report.format_table(summary, keys), flush=True)
  return summary
