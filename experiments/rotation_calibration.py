r"""Rotation calibration: does built-in C4 invariance calibrate an ENN?

  python experiments/rotation_calibration.py --workdir /tmp/rotcal
  python experiments/rotation_calibration.py --config.base.num_steps=100

Trains each variant (plain, C4-averaged, C8-averaged, canonicalized, p4-CNN)
on right-angle-rotated MNIST-5k, evaluates it on the test split and on its C4
orbit, and times a jitted forward pass. Writes ``results.json``,
``results.md`` and ``ece_vs_group_size.png`` to the workdir and prints the
table. The helpers here (variant configs, the timing, the table, restoring a
trained model for predictions) are shared with the other symmetry
experiments in this folder.
"""

from __future__ import annotations

import copy
import json
import os
import time
from typing import Any, Mapping, Sequence

from absl import app
from enn_sym import cli  # pylint: disable=g-bad-import-order
from absl import flags
from absl import logging
import jax
import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))

# Overrides of `config.base` per variant (dotted field -> value).
VARIANTS = {
    "plain": {},
    "c4_averaged": {"symmetry.group": "c4", "symmetry.placement": "all"},
    "c8_averaged": {"symmetry.group": "c8", "symmetry.placement": "all"},
    "canonicalized": {"symmetry.group": "c4",
                      "symmetry.wrapper": "canonicalized",
                      "symmetry.placement": "base+head",
                      "model.base": "lenet"},
    "p4cnn": {"model.base": "p4cnn"},
}
# Group size of each variant's (approximate) invariance, for the plot.
GROUP_SIZE = {"plain": 1, "c4_averaged": 4, "c8_averaged": 8,
              "canonicalized": 4, "p4cnn": 4}
COLUMNS = ("accuracy", "nll", "ece", "mutual_info", "orbit_ece",
           "invariance_tv_max", "flip_rate", "us_per_example")


def override(config, overrides: Mapping[str, Any]):
  """A deep copy of ``config`` with dotted ``overrides`` applied."""
  config = copy.deepcopy(config)
  for key, value in overrides.items():
    node = config
    *path, leaf = key.split(".")
    for part in path:
      node = node[part]
    node[leaf] = value
  return config


def variant_config(config, name: str, overrides: Mapping[str, Any]):
  """``config.base`` with a variant's overrides (and model subset)."""
  extra = {}
  if name in tuple(config.get("slow_variants", ())):
    extra["models"] = tuple(
        m for m in config.base.models if m in config.slow_variant_models)
  return override(config.base, {**overrides, **extra})


def time_forward(cfg, kind: str, image_shape, batch_size: int,
                 repeats: int) -> float:
  """Microseconds per example of a jitted ``apply_multi`` (eval indices)."""
  from enn_sym.train import _config, _models  # pylint: disable=g-import-not-at-top
  spec = _models.make_model(kind, cfg, _config.NUM_CLASSES[cfg.data.name])
  key = jax.random.key(cfg.seed)
  k_init, k_index, k_zs, k_x = jax.random.split(key, 4)
  # One jitted init (eager initialisers compile op by op: slow on a CPU).
  variables = jax.jit(spec.enn.init)(
      k_init, _models.example_input(image_shape), spec.enn.indexer(k_index))
  zs = spec.eval_indices(k_zs)
  x = jax.random.normal(k_x, (batch_size,) + tuple(image_shape))
  forward = jax.jit(lambda v, x: spec.enn.apply_multi(v, x, zs).preds)
  forward(variables, x).block_until_ready()  # Compile.
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    forward(variables, x).block_until_ready()
    best = min(best, time.perf_counter() - start)
  return 1e6 * best / batch_size


def predict_test(cfg, workdir: str, kind: str):
  """Test logits ``[K, N, C]`` and labels ``[N]`` of a trained model.

  Restores the latest checkpoint in ``workdir/<kind>/checkpoints`` (what
  ``train_and_evaluate(cfg, workdir)`` left) and evaluates with the run's
  fixed evaluation indices.
  """
  from enn_sym.train import _loop, _report, _steps  # pylint: disable=g-import-not-at-top
  data = _loop._Data(cfg)  # pylint: disable=protected-access
  mesh = _steps.make_mesh()
  writer = _report.JsonlWriter(os.path.join(workdir, "unused.jsonl"),
                               enabled=False)
  run = _loop._Run(kind, cfg, workdir, data, mesh, writer)  # pylint: disable=protected-access
  try:
    state = run.initial_state()
    if int(state.step) != cfg.num_steps:
      raise RuntimeError(f"{workdir}/{kind}: checkpoint at step "
                         f"{int(state.step)}, expected {cfg.num_steps}.")
    logits, labels = [], []
    with data.eval_iter("test", run.local_eval_batch,
                        cfg.data.prefetch) as batches:
      for batch in batches:
        out = run.predict_step(state, _steps.global_batch(batch, mesh),
                               run.eval_zs)
        mask = np.asarray(batch["mask"]).astype(bool)
        logits.append(np.asarray(out)[:, mask])
        labels.append(np.asarray(batch["label"])[mask])
  finally:
    run.ckpt.close()
  return np.concatenate(logits, axis=1), np.concatenate(labels)


def uncertainty(logits: np.ndarray):
  """Per-example (total entropy, expected entropy, mutual information)."""
  logits = logits - logits.max(-1, keepdims=True)
  probs = np.exp(logits)
  probs /= probs.sum(-1, keepdims=True)
  mean = probs.mean(0)
  ent = lambda p: -np.sum(p * np.log(np.clip(p, 1e-12, None)), -1)
  total, expected = ent(mean), ent(probs).mean(0)
  return total, expected, total - expected, mean


def _cell(value) -> str:
  if isinstance(value, (list, tuple)):
    return "/".join(f"{float(v):.3f}" for v in value)
  if isinstance(value, str):
    return value
  return f"{float(value):.4f}"


def markdown_table(rows: Sequence[Mapping[str, Any]],
                   columns: Sequence[str]) -> str:
  """A markdown table: one row per dict, ``columns`` in order."""
  lines = ["| " + " | ".join(columns) + " |",
           "|" + "|".join("---" for _ in columns) + "|"]
  for row in rows:
    lines.append("| " + " | ".join(
        _cell(row[c]) if c in row else "-" for c in columns) + " |")
  return "\n".join(lines)


def write_outputs(workdir: str, results: Mapping[str, Any],
                  table: str) -> None:
  """``results.json`` and ``results.md`` in ``workdir``; prints the table."""
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, "results.json"), "w") as f:
    json.dump(results, f, indent=2, sort_keys=True)
  with open(os.path.join(workdir, "results.md"), "w") as f:
    f.write(table + "\n")
  print("\n" + table, flush=True)


def train_variants(config, workdir: str, variants: Mapping[str, Mapping],
                   image_shape=None) -> dict:
  """Trains every selected variant; ``{variant: {model: metrics}}``.

  Adds ``us_per_example`` (forward cost) and ``train_seconds`` per model.
  """
  from enn_sym import train  # pylint: disable=g-import-not-at-top
  from enn_sym.train import _loop  # pylint: disable=g-import-not-at-top
  results = {}
  for name in config.variants:
    if name not in variants:
      raise ValueError(f"Unknown variant {name!r}; valid: {list(variants)}.")
    cfg = variant_config(config, name, variants[name])
    start = time.perf_counter()
    summary = train.train_and_evaluate(cfg, os.path.join(workdir, name))
    seconds = time.perf_counter() - start
    if image_shape is None:
      image_shape = _loop._Data(cfg).image_shape  # pylint: disable=protected-access
    for kind, metrics in summary.items():
      metrics["us_per_example"] = time_forward(
          cfg, kind, image_shape, config.timing_batch_size,
          config.timing_repeats)
      metrics["train_seconds_all_models"] = seconds
    results[name] = summary
  return results


def rows_of(results: Mapping[str, Mapping[str, Mapping]]) -> list[dict]:
  return [{"variant": v, "model": m, **metrics}
          for v, models in results.items() for m, metrics in models.items()]


def plot_ece_vs_group_size(path: str, results: Mapping[str, Any]) -> None:
  """ECE against group size, one line per model over plain/C4/C8 averaging,
  the canonicalized and p4-CNN variants as separate markers at 4."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(5, 3.5))
  models = sorted({m for v in results.values() for m in v})
  markers = {"canonicalized": "s", "p4cnn": "^"}
  for i, model in enumerate(models):
    color = f"C{i}"
    line = [(GROUP_SIZE[v], results[v][model]["ece"])
            for v in ("plain", "c4_averaged", "c8_averaged")
            if v in results and model in results[v]]
    if line:
      xs, ys = zip(*line)
      ax.plot(xs, ys, "o-", color=color, label=f"{model}: averaged")
    for v, marker in markers.items():
      if v in results and model in results[v]:
        ax.plot([GROUP_SIZE[v]], [results[v][model]["ece"]], marker,
                color=color, label=f"{model}: {v}")
  ax.set_xscale("log", base=2)
  ax.set_xticks([1, 4, 8], labels=["1 (plain)", "4", "8"])
  ax.set_xlabel("group size")
  ax.set_ylabel("test ECE")
  ax.set_title("Rotated MNIST-5k: ECE vs invariance group")
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def run(config, workdir: str) -> dict:
  """Trains and evaluates all variants; returns and writes the results."""
  results = train_variants(config, workdir, VARIANTS)
  table = markdown_table(rows_of(results), ("variant", "model") + COLUMNS)
  write_outputs(workdir, results, table)
  plot_ece_vs_group_size(os.path.join(workdir, "ece_vs_group_size.png"),
                         results)
  return results


def define_flags(default_config: str):
  """The ``--config`` and ``--workdir`` flags of an experiment script."""
  config = cli.define_config_file(
      "config", os.path.join(_HERE, "..", "configs", default_config),
      "Path to the experiment config file.")
  workdir = flags.DEFINE_string(
      "workdir", os.path.join("workdir", default_config[:-3]),
      "Output directory (runs resume from its checkpoints).")
  return config, workdir


def main_for(run_fn, config_flag, workdir_flag):
  """An ``app.run`` main calling ``run_fn(config, workdir)``."""

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not flags.FLAGS["verbosity"].present:
      logging.set_verbosity(logging.WARNING)
    run_fn(config_flag.value, workdir_flag.value)

  return main


if __name__ == "__main__":
  _CONFIG, _WORKDIR = define_flags("rotation_calibration.py")
  app.run(main_for(run, _CONFIG, _WORKDIR), flags_parser=cli.parse_flags)
