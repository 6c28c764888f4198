r"""The calibration-loss study: architectures x losses, ECE over training.

  python experiments/loss_study.py                   # CPU-scale grid (mnist5k)
  python experiments/loss_study.py --config configs/loss_study_cifar10.py \
      --workdir /data/loss_study --config.base.model.dtype=bfloat16
  # One cell per job of a job array, then the report:
  python experiments/loss_study.py --config configs/loss_study_cifar10.py \
      --workdir /data/loss_study --cell_index=$SLURM_ARRAY_TASK_ID
  python experiments/loss_study.py --config ... --workdir ... --report_only
  python experiments/loss_study.py --list            # the cells, numbered

Each cell ``<arch>/<loss>`` is one ``train_and_evaluate`` run in its own
workdir ``<workdir>/<arch>/<loss>``: test ECE, accuracy and NLL after every
epoch (``eval_every = steps_per_epoch``), temperature scaling on the
validation split at the end. Resuming: a cell whose ``summary.json`` holds
every model of ``models`` is done and skipped (an unreadable or incomplete
one is not); a cell with checkpoints resumes from the latest (the pipeline
does that), so a partly finished grid is completed without redoing work.
The report (``results.json``, ``results.md``, ``loss_study.png``: ECE
against epoch, one panel per architecture, one line per loss) is written
from whatever cells are finished.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import time
from typing import Any, Mapping, Sequence

from absl import app
from enn_sym import cli  # pylint: disable=g-bad-import-order
from absl import flags
from absl import logging

_HERE = os.path.dirname(os.path.abspath(__file__))
COLUMNS = ("arch", "loss", "model", "accuracy", "nll", "ece", "ece_ts",
           "temperature", "min_ece", "min_ece_epoch", "train_seconds")
LOSS_STYLE = {"ce": "tab:blue", "entropy_reg": "tab:orange",
              "logit_l1": "tab:green", "focal": "tab:red"}


def cells(config) -> list[tuple[str, str]]:
  """Every ``(arch, loss)`` of the grid, architecture-major, in the key
  order of the ConfigDicts (ml_collections iterates keys sorted), which is
  the numbering of ``--list`` and ``--cell_index``."""
  return [(a, l) for a in config.architectures for l in config.losses]


def select_cells(config, names: Sequence[str] = (),
                 index: int = -1) -> list[tuple[str, str]]:
  """The cells named ``arch/loss`` (all when empty), or number ``index``."""
  grid = cells(config)
  if index >= 0:
    if index >= len(grid):
      raise ValueError(f"cell_index {index} is out of range: the grid has "
                       f"{len(grid)} cells (0..{len(grid) - 1}).")
    return [grid[index]]
  if not names:
    return grid
  chosen = []
  for name in names:
    cell = tuple(name.split("/"))
    if cell not in grid:
      raise ValueError(f"Unknown cell {name!r}; valid cells: "
                       f"{['/'.join(c) for c in grid]}.")
    chosen.append(cell)
  return chosen


def _apply(node, overrides: Mapping[str, Any]) -> None:
  for key, value in overrides.items():
    if hasattr(value, "items"):
      _apply(node[key], value)
    else:
      node[key] = value


def cell_config(config, arch: str, loss: str):
  """The training config of one cell: ``base`` + the architecture's and the
  loss's overrides, ``num_steps = num_epochs * steps_per_epoch`` and an
  evaluation (and a log line) after every epoch."""
  cfg = copy.deepcopy(config.base)
  _apply(cfg, config.architectures[arch])
  _apply(cfg.loss, config.losses[loss])
  spe = int(config.steps_per_epoch)
  cfg.num_steps = int(config.num_epochs) * spe
  cfg.eval_every = spe
  cfg.log_every = spe
  cfg.checkpoint_every = spe * int(config.checkpoint_every_epochs)
  return cfg


def cell_dir(workdir: str, arch: str, loss: str) -> str:
  return os.path.join(workdir, arch, loss)


def read_summary(path: str, models: Sequence[str] = ()) -> dict | None:
  """A cell's ``summary.json``, or ``None`` when it is missing, unreadable
  (e.g. truncated by a run stopped while writing it) or lacks one of
  ``models``."""
  try:
    with open(os.path.join(path, "summary.json")) as f:
      summary = json.load(f)
  except (OSError, ValueError):
    return None
  if not isinstance(summary, dict) or not summary or any(
      not isinstance(summary.get(m), dict) for m in models):
    return None
  return summary


def cell_status(path: str, models: Sequence[str] = ()) -> str:
  """``done`` (a complete summary with every one of ``models``),
  ``partial`` (checkpoints: the run resumes from the latest) or ``todo``.

  A summary that does not parse or lacks a model (e.g. ``epinet`` added
  to ``models`` after the cell finished) does not make the cell done: the
  rerun resumes the finished models from their last checkpoint (no
  training, only the final evaluation) and rewrites the summary.
  """
  if read_summary(path, models) is not None:
    return "done"
  if os.path.isdir(path):
    for model in os.listdir(path):
      ckpts = os.path.join(path, model, "checkpoints")
      if os.path.isdir(ckpts) and any(d.isdigit() for d in os.listdir(ckpts)):
        return "partial"
  return "todo"


def run_cell(config, arch: str, loss: str, workdir: str, train_fn=None
             ) -> str:
  """Trains one cell unless it is done; returns its status before the run.

  ``train_fn(cfg, workdir)`` defaults to ``enn_sym.train.train_and_evaluate``
  (the tests pass a stand-in to check the resume logic).
  """
  path = cell_dir(workdir, arch, loss)
  cfg = cell_config(config, arch, loss)
  status = cell_status(path, cfg.models)
  if status == "done":
    print(f"[{arch}/{loss}] done, skipped", flush=True)
    return status
  if train_fn is None:
    from enn_sym import train  # pylint: disable=g-import-not-at-top
    train_fn = train.train_and_evaluate
  print(f"[{arch}/{loss}] {'resuming' if status == 'partial' else 'training'}"
        f" in {path}", flush=True)
  start = time.perf_counter()
  train_fn(cfg, path)
  seconds = time.perf_counter() - start
  with open(os.path.join(path, "timing.json"), "w") as f:
    json.dump({"train_seconds": (_train_seconds(path) or 0.0) + seconds}, f)
  return status


def _train_seconds(path: str) -> float | None:
  """The ``train_seconds`` of a cell's ``timing.json`` (``None`` if absent
  or unreadable)."""
  try:
    with open(os.path.join(path, "timing.json")) as f:
      return float(json.load(f)["train_seconds"])
  except (OSError, ValueError, KeyError, TypeError):
    return None


def read_curves(path: str, steps_per_epoch: int) -> dict:
  """Per-model test curves ``{model: {epoch, ece, accuracy, nll}}`` from a
  cell's ``metrics.jsonl`` (the last record of a step wins: a resumed run
  may have logged a step twice)."""
  by_model: dict[str, dict[int, dict]] = {}
  file = os.path.join(path, "metrics.jsonl")
  if not os.path.exists(file):
    return {}
  with open(file) as f:
    for line in f:
      try:
        rec = json.loads(line)
      except ValueError:
        continue  # A line cut short by a stopped run (then appended to).
      if not isinstance(rec, dict) or rec.get("split") != "test":
        continue
      by_model.setdefault(rec["model"], {})[int(rec["step"])] = rec
  out = {}
  for model, recs in by_model.items():
    steps = sorted(recs)
    out[model] = {"epoch": [s / steps_per_epoch for s in steps],
                  **{k: [float(recs[s][k]) for s in steps]
                     for k in ("ece", "accuracy", "nll")}}
  return out


def collect(config, workdir: str) -> dict:
  """``{"arch/loss": {"summary", "curves", "train_seconds"}}`` of the
  finished cells."""
  results = {}
  for arch, loss in cells(config):
    path = cell_dir(workdir, arch, loss)
    summary = read_summary(path, cell_config(config, arch, loss).models)
    if summary is None:
      continue
    results[f"{arch}/{loss}"] = {
        "summary": summary, "train_seconds": _train_seconds(path),
        "curves": read_curves(path, int(config.steps_per_epoch))}
  return results


def rows_of(results: Mapping[str, Any]) -> list[dict]:
  rows = []
  for name, cell in results.items():
    arch, loss = name.split("/")
    for model, summary in cell["summary"].items():
      curve = cell["curves"].get(model, {"ece": [], "epoch": []})
      row = {"arch": arch, "loss": loss, "model": model, **summary}
      if curve["ece"]:
        best = min(range(len(curve["ece"])), key=curve["ece"].__getitem__)
        row["min_ece"] = curve["ece"][best]
        row["min_ece_epoch"] = curve["epoch"][best]
      if cell["train_seconds"] is not None:
        row["train_seconds"] = cell["train_seconds"]
      rows.append(row)
  return rows


def _fmt(column: str, value: Any) -> str:
  if isinstance(value, str):
    return value
  if column in ("min_ece_epoch", "train_seconds"):
    return f"{float(value):.0f}"
  return f"{float(value):.4f}"


def markdown_table(rows: Sequence[Mapping[str, Any]],
                   columns: Sequence[str] = COLUMNS) -> str:
  lines = ["| " + " | ".join(columns) + " |",
           "|" + "|".join("---" for _ in columns) + "|"]
  for row in rows:
    lines.append("| " + " | ".join(
        _fmt(c, row[c]) if c in row else "-" for c in columns) + " |")
  return "\n".join(lines)


def plot(path: str, config, results: Mapping[str, Any]) -> None:
  """ECE against epoch: one panel per architecture, one line per loss
  (solid: base model; dashed: epinet), the temperature-scaled final ECE as
  a hollow marker at the last epoch."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  archs = list(config.architectures)
  fig, axes = plt.subplots(1, len(archs), figsize=(4.2 * len(archs), 3.6),
                           sharey=True, squeeze=False)
  for ax, arch in zip(axes[0], archs):
    for loss in config.losses:
      cell = results.get(f"{arch}/{loss}")
      if cell is None:
        continue
      color = LOSS_STYLE.get(loss)
      for model, curve in cell["curves"].items():
        if model not in cell["summary"] or not curve["epoch"]:
          continue
        style = "-" if model == "base" else "--"
        label = loss if model == "base" else f"{loss} ({model})"
        ax.plot(curve["epoch"], curve["ece"], style, color=color, lw=1.4,
                label=label)
        ece_ts = cell["summary"][model]["ece_ts"]
        ax.plot([curve["epoch"][-1]], [ece_ts], "o", mfc="none", color=color)
    ax.set_title(arch)
    ax.set_xlabel("epoch")
    ax.grid(alpha=0.3)
  axes[0][0].set_ylabel("test ECE (o: after temperature scaling)")
  filled = [ax for ax in axes[0] if ax.get_legend_handles_labels()[0]]
  if filled:
    filled[-1].legend(fontsize=8)
  fig.suptitle(config.get("figure_title", "test ECE during training"))
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)


def report(config, workdir: str) -> tuple[dict, str]:
  """Writes ``results.json``, ``results.md`` and ``loss_study.png``."""
  results = collect(config, workdir)
  table = markdown_table(rows_of(results))
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, "results.json"), "w") as f:
    json.dump(results, f, indent=2, sort_keys=True)
  with open(os.path.join(workdir, "results.md"), "w") as f:
    f.write(table + "\n")
  if results:
    plot(os.path.join(workdir, "loss_study.png"), config, results)
  return results, table


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  config, workdir = _CONFIG.value, _WORKDIR.value
  if _LIST.value:
    for i, (arch, loss) in enumerate(cells(config)):
      models = cell_config(config, arch, loss).models
      print(f"{i:3d}  {arch}/{loss}  "
            f"{cell_status(cell_dir(workdir, arch, loss), models)}")
    return
  from enn_sym import data, train  # pylint: disable=g-import-not-at-top
  try:
    chosen = select_cells(config, _CELLS.value, _CELL_INDEX.value)
    for arch, loss in chosen:
      train.validate_config(cell_config(config, arch, loss))
  except (ValueError, train.ConfigError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)
  start = time.perf_counter()
  if not _REPORT_ONLY.value:
    train.maybe_initialize_distributed()
    if _CACHE.value:
      import jax  # pylint: disable=g-import-not-at-top
      jax.config.update("jax_compilation_cache_dir",
                        _CACHE.value.replace("<workdir>", workdir))
      jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    try:
      for arch, loss in chosen:
        run_cell(config, arch, loss, workdir)
    except (data.DatasetNotFoundError, train.NonFiniteLossError) as e:
      print(f"error: {e}", file=sys.stderr)
      sys.exit(1)
  if _CELL_INDEX.value >= 0 and not _REPORT_ONLY.value:
    return  # A job-array task: the report runs once, after all tasks.
  import jax  # pylint: disable=g-import-not-at-top
  if jax.process_index():
    return
  _, table = report(config, workdir)
  print(f"\n{table}\n\nwall time {time.perf_counter() - start:.0f} s; "
        f"outputs in {workdir}", flush=True)


def _define_flags():
  """The script's flags (defined only when run as a script, so that tests
  can import this module next to other experiment scripts)."""
  global _CONFIG, _WORKDIR, _CELLS, _CELL_INDEX, _REPORT_ONLY, _LIST, _CACHE  # pylint: disable=global-statement
  _CONFIG = cli.define_config_file(
      "config", os.path.join(_HERE, "..", "configs", "loss_study_mnist5k.py"),
      "Path to a loss-study config file with get_config().")
  _WORKDIR = flags.DEFINE_string("workdir", "workdir/loss_study",
                                 "Output directory (one sub-folder per cell).")
  _CELLS = flags.DEFINE_list("cells", [], "Cells to run, e.g. resnet18/focal "
                             "(default: all).")
  _CELL_INDEX = flags.DEFINE_integer(
      "cell_index", -1, "Run only cell number i of --list (for job arrays).")
  _REPORT_ONLY = flags.DEFINE_bool("report_only", False,
                                   "Train nothing; report the finished cells.")
  _LIST = flags.DEFINE_bool("list", False, "Print the numbered cells and exit.")
  _CACHE = flags.DEFINE_string(
      "compilation_cache", "<workdir>/jax_cache",
      "JAX persistent compilation cache ('' = off). Cells of one architecture "
      "share their evaluation and prediction programs, so only the train step "
      "compiles per loss; a rerun compiles nothing.")


if __name__ == "__main__":
  _define_flags()
  app.run(main, flags_parser=cli.parse_flags)
