"""Sweeps: a grid of config overrides, run cell by cell, collected into one
``results.json``.

A :class:`Sweep` is a base training config and named axes; each axis has
named levels and each level a set of config overrides::

  sweep = Sweep(base, {"task": {"rot90": {"data.rotate": "right_angle"},
                                "upright": {}},
                       "kind": {"epinet": {"models": ("epinet",)},
                                "ensemble": {"models": ("ensemble",)}}})

expands into the cells ``rot90/epinet``, ``rot90/ensemble``,
``upright/epinet``, ``upright/ensemble`` (axis-major, in the axes' order;
cell ``i`` of :meth:`Sweep.cells` is array index ``i``). Every cell is one
``train_and_evaluate(config, <workdir>/<cell name>)`` run. A cell is *done*
when its ``summary.json`` holds every model of its config with every one of
its seeds (it is then skipped), *partial* when its workdir holds anything
else (the engine resumes from the checkpoints there), else *todo*.

Seeds: ``seeds`` (default ``base.seeds`` where the engine's config has that
key, else ``(base.seed,)``) are trained in one run through ``config.seeds``
when the config has that key; otherwise one run per seed in
``<cell>/seed_<s>``, merged by the sweep into the cell's ``summary.json`` in
the engine's layout (``per_seed``, ``seeds``, ``ci95``, ...). Either way the
collected results have the same form.

A cell records the config it was trained with (``cell_config.json``); a cell
whose stored config differs from the sweep's (another ``num_steps``, say) is
an error naming the differing keys, not a silent resume of another
experiment.
"""

from __future__ import annotations

import copy
import dataclasses
import fnmatch
import json
import os
import sys
import time
from typing import Any, Callable, Iterable, Mapping, Sequence

import ml_collections

from enn_sym.train import _config
from enn_sym.train import _sweep_report

SLURM_ARRAY_ENV = "SLURM_ARRAY_TASK_ID"
SUMMARY = "summary.json"
CELL_CONFIG = "cell_config.json"
TIMING = "timing.json"
# Config fields that change no number: a cell trained with other values of
# these is still the same cell.
COSMETIC_KEYS = ("progress_bar", "plots", "log_every", "data.prefetch",
                 "data.data_dir", "keep_checkpoints")

TrainFn = Callable[[Any, str], Any]


@dataclasses.dataclass(frozen=True)
class Cell:
  """One cell of a sweep.

  Attributes:
    name: the levels joined by ``/`` in axis order (also the cell's workdir
      under the sweep's workdir).
    index: its position in :meth:`Sweep.cells` (the job-array index).
    levels: ``{axis: level}``.
    overrides: the merged dotted overrides of its levels (later axes win).
    config: the base config with ``overrides`` applied.
  """
  name: str
  index: int
  levels: Mapping[str, str]
  overrides: Mapping[str, Any]
  config: Any


def flatten_overrides(overrides: Mapping[str, Any], prefix: str = ""
                      ) -> dict[str, Any]:
  """Nested or dotted overrides as ``{"a.b.c": value}``.

  ``{"model": {"base": "lenet"}}`` and ``{"model.base": "lenet"}`` both give
  ``{"model.base": "lenet"}`` (config files cannot hold dotted keys, so they
  nest).
  """
  out = {}
  for key, value in overrides.items():
    path = f"{prefix}{key}"
    if isinstance(value, (Mapping, ml_collections.ConfigDict)):
      out.update(flatten_overrides(value, path + "."))
    else:
      out[path] = value
  return out


def apply_overrides(config, overrides: Mapping[str, Any]):
  """A deep copy of ``config`` with (nested or dotted) ``overrides`` set.

  Raises:
    ConfigError: an override names a key the config does not have.
  """
  config = copy.deepcopy(config)
  for key, value in flatten_overrides(overrides).items():
    node = config
    *path, leaf = key.split(".")
    for part in path:
      if part not in node:
        raise _config.ConfigError(
            f"override {key!r}: the config has no key {part!r}; overrides "
            f"must name keys of enn_sym.train.default_config().")
      node = node[part]
    if leaf not in node:
      raise _config.ConfigError(
          f"override {key!r}: the config has no key {key!r}; overrides must "
          f"name keys of enn_sym.train.default_config().")
    if isinstance(value, list):
      value = tuple(value)
    node[leaf] = value
  return config


def _jsonable(value):
  if isinstance(value, Mapping):
    return {str(k): _jsonable(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_jsonable(v) for v in value]
  if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
    return value.item()
  return value


def _flat_config(config) -> dict[str, Any]:
  return _jsonable({k: v for k, v in flatten_overrides(
      config.to_dict() if hasattr(config, "to_dict") else config).items()
                    if k not in COSMETIC_KEYS})


def _read_json(path: str):
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def _write_json(path: str, value) -> None:
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(_jsonable(value), f, indent=2, sort_keys=True)
  os.replace(tmp, path)  # Atomic: a stopped run leaves the old file whole.


def array_index_from_env(environ: Mapping[str, str] | None = None
                         ) -> int | None:
  """``SLURM_ARRAY_TASK_ID`` as an int, ``None`` when unset or empty.

  Raises:
    ConfigError: it is set to something that is not a non-negative integer.
  """
  environ = os.environ if environ is None else environ
  value = environ.get(SLURM_ARRAY_ENV, "").strip()
  if not value:
    return None
  if not value.isdigit():
    raise _config.ConfigError(
        f"{SLURM_ARRAY_ENV}={value!r} is not a non-negative integer; unset it "
        f"or pass --array_index.")
  return int(value)


class Sweep:
  """A grid of config overrides over a base training config.

  Args:
    base_config: the training config every cell starts from (an
      ``ml_collections.ConfigDict`` of :func:`enn_sym.train.default_config`
      form).
    axes: ``{axis: {level: overrides}}`` (ordered; overrides nested or
      dotted), or ``{dotted_key: [values]}`` for an axis that sets one key
      (level names ``str(value)``).
    seeds: the seeds of every cell (see the module docstring); at least one.
    exclude: ``fnmatch`` patterns of cell names left out of the grid (e.g.
      ``"*/p4cnn/ensemble"``).
    train_fn: ``train_fn(config, workdir)`` trains one run (default
      :func:`enn_sym.train.train_and_evaluate`).
  """

  def __init__(self, base_config, axes: Mapping[str, Any], *,
               seeds: Sequence[int] | None = None,
               exclude: Iterable[str] = (), train_fn: TrainFn | None = None):
    if not axes:
      raise _config.ConfigError("Sweep: axes is empty; give at least one "
                                "axis {name: {level: overrides}}.")
    self.base_config = base_config
    self.axes = {}
    for axis, levels in axes.items():
      if isinstance(levels, (Mapping, ml_collections.ConfigDict)):
        levels = {str(k): flatten_overrides(v) for k, v in levels.items()}
      else:
        levels = {str(v): {axis: v} for v in levels}
      if not levels:
        raise _config.ConfigError(f"Sweep: axis {axis!r} has no levels.")
      if any("/" in name or name in ("", ".", "..") for name in levels):
        raise _config.ConfigError(
            f"Sweep: axis {axis!r} has a level name with '/' or an empty "
            f"name ({list(levels)}); level names are path parts.")
      self.axes[str(axis)] = levels
    if seeds is None:
      seeds = (tuple(base_config.seeds) if "seeds" in base_config else ())
      seeds = seeds or (int(base_config.seed),)  # () = (config.seed,)
    self.seeds = tuple(int(s) for s in seeds)
    if not self.seeds or len(set(self.seeds)) != len(self.seeds):
      raise _config.ConfigError(
          f"Sweep: seeds must be distinct and non-empty; got {seeds!r}.")
    self.exclude = tuple(exclude)
    self.train_fn = train_fn
    self._cells = self._expand()
    if not self._cells:
      raise _config.ConfigError(
          f"Sweep: exclude={self.exclude!r} leaves no cell.")

  @classmethod
  def from_config(cls, config, train_fn: TrainFn | None = None) -> "Sweep":
    """A sweep from an experiment config with fields ``base`` (training
    config), ``axes`` (``{axis: {level: nested overrides}}``) and optional
    ``axis_order`` (ConfigDicts sort their keys), ``seeds``, ``exclude``,
    and ``preset`` / ``presets`` (see :func:`apply_preset`)."""
    config = apply_preset(config)
    order = tuple(config.get("axis_order", ()) or config.axes.keys())
    if sorted(order) != sorted(config.axes.keys()):
      raise _config.ConfigError(
          f"config.axis_order {order!r} must list every axis of config.axes "
          f"({sorted(config.axes.keys())}) once.")
    seeds = config.get("seeds", None)
    return cls(config.base, {a: config.axes[a] for a in order},
               seeds=tuple(seeds) if seeds else None,
               exclude=tuple(config.get("exclude", ())), train_fn=train_fn)

  # -- the grid -------------------------------------------------------------

  def _expand(self) -> list[Cell]:
    combos = [()]
    for axis, levels in self.axes.items():
      combos = [c + ((axis, level),) for c in combos for level in levels]
    cells = []
    for combo in combos:
      name = "/".join(level for _, level in combo)
      if any(fnmatch.fnmatchcase(name, p) for p in self.exclude):
        continue
      overrides = {}
      for axis, level in combo:
        overrides.update(self.axes[axis][level])
      config = apply_overrides(self.base_config, overrides)
      cells.append(Cell(name=name, index=len(cells), levels=dict(combo),
                        overrides=overrides, config=config))
    return cells

  @property
  def cells(self) -> list[Cell]:
    """Every cell, in array-index order."""
    return list(self._cells)

  def cell(self, name: str) -> Cell:
    for c in self._cells:
      if c.name == name:
        return c
    raise _config.ConfigError(
        f"Unknown cell {name!r}; valid cells: {[c.name for c in self._cells]}"
        f" (list them with --list).")

  def select(self, names: Sequence[str] = (), array_index: int | None = None,
             environ: Mapping[str, str] | None = None) -> list[Cell]:
    """The cells to run: ``names``, else cell ``array_index``, else cell
    ``$SLURM_ARRAY_TASK_ID`` when set, else all."""
    if names and array_index is not None:
      raise _config.ConfigError("Give --cell or --array_index, not both.")
    if names:
      return [self.cell(n) for n in names]
    if array_index is None:
      array_index = array_index_from_env(environ)
    if array_index is None:
      return self.cells
    if not 0 <= array_index < len(self._cells):
      raise _config.ConfigError(
          f"array index {array_index} is out of range: the sweep has "
          f"{len(self._cells)} cells (0..{len(self._cells) - 1}); submit "
          f"with --array=0-{len(self._cells) - 1}.")
    return [self._cells[array_index]]

  # -- running --------------------------------------------------------------

  def cell_dir(self, workdir: str, cell: Cell) -> str:
    return os.path.join(workdir, *cell.name.split("/"))

  def run_dirs(self, workdir: str, cell: Cell) -> list[str]:
    """The folders holding a cell's runs (``metrics.jsonl``, checkpoints):
    the cell's own with the engine's ``config.seeds``, else one per seed."""
    path = self.cell_dir(workdir, cell)
    if self._engine_seeds(cell):
      return [path]
    return [os.path.join(path, f"seed_{s}") for s in self.seeds]

  def _engine_seeds(self, cell: Cell) -> bool:
    return "seeds" in cell.config

  def _run_config(self, cell: Cell, seed: int | None = None):
    config = copy.deepcopy(cell.config)
    if seed is None:
      config.seeds = self.seeds
      config.seed = self.seeds[0]
    else:
      config.seed = seed
    return config

  def status(self, workdir: str, cell: Cell) -> str:
    """``done``, ``partial`` (resumable outputs) or ``todo``."""
    path = self.cell_dir(workdir, cell)
    if read_cell_summary(path, cell.config.models, self.seeds) is not None:
      return "done"
    if os.path.isdir(path) and any(
        n != CELL_CONFIG for n in os.listdir(path)):
      return "partial"
    return "todo"

  def _check_fingerprint(self, path: str, cell: Cell) -> None:
    stored = _read_json(os.path.join(path, CELL_CONFIG))
    current = {"config": _flat_config(cell.config), "seeds": list(self.seeds)}
    if stored is None:
      os.makedirs(path, exist_ok=True)
      _write_json(os.path.join(path, CELL_CONFIG), current)
      return
    differ = sorted(
        k for k in set(stored.get("config", {})) | set(current["config"])
        if stored.get("config", {}).get(k) != current["config"].get(k))
    if stored.get("seeds") != current["seeds"]:
      differ.append("seeds")
    if differ:
      raise _config.ConfigError(
          f"cell {cell.name!r} in {path} was trained with a different config "
          f"(differing: {', '.join(differ[:8])}); use another --workdir or "
          f"delete that cell's folder.")

  def run_cell(self, workdir: str, cell: Cell) -> str:
    """Trains ``cell`` unless done; returns its status before the run."""
    path = self.cell_dir(workdir, cell)
    status = self.status(workdir, cell)
    self._check_fingerprint(path, cell)
    if status == "done":
      print(f"[{cell.name}] done, skipped", flush=True)
      return status
    train_fn = self.train_fn
    if train_fn is None:
      from enn_sym.train import _loop  # pylint: disable=g-import-not-at-top
      train_fn = _loop.train_and_evaluate
    print(f"[{cell.name}] {'resuming' if status == 'partial' else 'training'}"
          f" in {path}", flush=True)
    start = time.perf_counter()
    if self._engine_seeds(cell):
      train_fn(self._run_config(cell), path)
    else:
      summaries = []
      for seed in self.seeds:
        seed_dir = os.path.join(path, f"seed_{seed}")
        summary = read_cell_summary(seed_dir, cell.config.models)
        if summary is None:
          train_fn(self._run_config(cell, seed), seed_dir)
          summary = read_cell_summary(seed_dir, cell.config.models)
        if summary is None:
          raise RuntimeError(f"[{cell.name}] seed {seed}: the run wrote no "
                             f"complete {SUMMARY} in {seed_dir}.")
        summaries.append(summary)
      _write_json(os.path.join(path, SUMMARY),
                  merge_seed_summaries(summaries, self.seeds))
    seconds = time.perf_counter() - start
    previous = _read_json(os.path.join(path, TIMING)) or {}
    _write_json(os.path.join(path, TIMING), {
        "train_seconds": float(previous.get("train_seconds", 0.0)) + seconds})
    return status

  def run(self, workdir: str, names: Sequence[str] = (),
          array_index: int | None = None,
          environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Runs the selected cells (see :meth:`select`); ``{name: status}``
    before each ran."""
    return {c.name: self.run_cell(workdir, c)
            for c in self.select(names, array_index, environ)}

  # -- collection -----------------------------------------------------------

  def collect(self, workdir: str) -> dict:
    """Every finished cell in one dict (the ``results.json`` schema of
    docs/sweeps.md)."""
    cells, missing = {}, []
    for cell in self._cells:
      path = self.cell_dir(workdir, cell)
      summary = read_cell_summary(path, cell.config.models, self.seeds)
      if summary is None:
        missing.append(cell.name)
        continue
      timing = _read_json(os.path.join(path, TIMING)) or {}
      cells[cell.name] = {
          "index": cell.index,
          "levels": dict(cell.levels),
          "overrides": _jsonable(cell.overrides),
          "train_seconds": timing.get("train_seconds"),
          "models": {m: _sweep_report.seed_statistics(summary[m])
                     for m in cell.config.models}}
    return {"axes": {a: list(levels) for a, levels in self.axes.items()},
            "seeds": list(self.seeds), "cells": cells, "missing": missing}

  def report(self, workdir: str,
             metrics: Sequence[str] = _sweep_report.TABLE_METRICS,
             figure_metrics: Sequence[str] = _sweep_report.FIGURE_METRICS
             ) -> dict:
    """Collects, and writes ``results.json``, ``results.md`` (``metrics``)
    and one figure ``<metric>.png`` per figure metric against the first
    axis."""
    results = self.collect(workdir)
    write_results(workdir, results,
                  _sweep_report.markdown_table(results, metrics))
    if results["cells"]:
      for metric in figure_metrics:
        _sweep_report.plot_metric(
            os.path.join(workdir, f"{metric}.png"), results, metric)
    return results


def write_results(workdir: str, results: Mapping[str, Any], markdown: str,
                  stem: str = "results") -> None:
  """``<stem>.json`` (atomically) and ``<stem>.md`` in ``workdir``."""
  os.makedirs(workdir, exist_ok=True)
  _write_json(os.path.join(workdir, f"{stem}.json"), results)
  with open(os.path.join(workdir, f"{stem}.md"), "w") as f:
    f.write(markdown + "\n")


def read_cell_summary(path: str, models: Sequence[str],
                      seeds: Sequence[int] | None = None) -> dict | None:
  """A run's ``summary.json`` when it holds every one of ``models`` (each
  with ``seeds``, where given, as its ``seeds``; a summary without a
  ``seeds`` field is one run of ``config.seed``, accepted when ``seeds`` is
  ``None``); else ``None`` (missing, truncated, incomplete)."""
  summary = _read_json(os.path.join(path, SUMMARY))
  if not isinstance(summary, dict) or not summary:
    return None
  for model in models:
    entry = summary.get(model)
    if not isinstance(entry, dict):
      return None
    if seeds is not None and list(entry.get("seeds", ())) != list(seeds):
      return None
  return summary


def merge_seed_summaries(summaries: Sequence[Mapping[str, Any]],
                         seeds: Sequence[int]) -> dict:
  """Single-seed summaries (one per seed, same models) merged into the
  engine's multi-seed layout: per model the mean of each scalar metric,
  ``seeds``, ``per_seed``, ``ci95``, ``stop_reason``, ``steps_trained`` and
  ``best_step`` (``None`` entries where a summary lacks them)."""
  if len(summaries) != len(seeds):
    raise ValueError(f"{len(summaries)} summaries for {len(seeds)} seeds.")
  out = {}
  for model in summaries[0]:
    entries = [s[model] for s in summaries]
    per_seed = {}
    for key in entries[0]:
      if key in ("seeds", "per_seed", "ci95", "stop_reason", "steps_trained",
                 "best_step"):
        continue
      per_seed[key] = [e.get(key) for e in entries]
    merged = {"seeds": list(seeds), "per_seed": per_seed, "ci95": {}}
    for key, values in per_seed.items():
      if all(isinstance(v, (int, float)) and not isinstance(v, bool)
             for v in values):
        mean, lo, hi = _sweep_report.mean_ci(values)
        merged[key] = mean
        merged["ci95"][key] = [lo, hi]
    for key in ("stop_reason", "steps_trained", "best_step"):
      merged[key] = [_first(e.get(key)) for e in entries]
    out[model] = merged
  return out


def _first(value):
  if isinstance(value, (list, tuple)):
    return value[0] if len(value) == 1 else list(value)
  return value


# -- the command line --------------------------------------------------------


def sweep_main(argv: Sequence[str] | None = None, *,
               default_config: str | None = None,
               default_workdir: str = "workdir/sweep",
               report_fn: Callable[[Sweep, Any, str, dict], None] | None = None,
               metrics: Sequence[str] = _sweep_report.TABLE_METRICS,
               default_cache: str = "") -> None:
  """The command line of a sweep (the ``enn-sym-sweep`` console script).

  ``enn-sym-sweep --config CONFIG.py --workdir DIR [--cell NAME ...]
  [--array_index I] [--list] [--report_only]``. ``CONFIG.py``'s
  ``get_config()`` returns ``base`` / ``axes`` (see
  :meth:`Sweep.from_config`); ``--config.X=Y`` overrides its fields.
  Without ``--cell`` or ``--array_index`` and without
  ``$SLURM_ARRAY_TASK_ID``, every cell runs; then the report of every
  finished cell is written. A job-array task (``--array_index`` or
  ``$SLURM_ARRAY_TASK_ID``: one cell) writes no report (run
  ``--report_only`` once after the array).

  Args:
    argv: the command line (default ``sys.argv``).
    default_config: the ``--config`` default (experiment scripts pass
      theirs).
    default_workdir: the ``--workdir`` default.
    report_fn: ``report_fn(sweep, config, workdir, results)`` writes an
      experiment's own page after the generic report.
    metrics: the columns of the generic ``results.md``.
    default_cache: the ``--compilation_cache`` default.
  """
  from absl import app  # pylint: disable=g-import-not-at-top
  from absl import flags  # pylint: disable=g-import-not-at-top
  from absl import logging  # pylint: disable=g-import-not-at-top
  from enn_sym import cli  # pylint: disable=g-import-not-at-top

  if "config" not in flags.FLAGS:
    cli.define_config_file("config", default_config,
                           "Sweep config file (get_config() with base, axes).")
    flags.DEFINE_string("workdir", default_workdir,
                        "Output folder: one sub-folder per cell.")
    flags.DEFINE_multi_string("cell", [], "Run only this cell (repeatable).")
    flags.DEFINE_integer("array_index", None, "Run only cell number I "
                         f"(default ${SLURM_ARRAY_ENV} when set).")
    flags.DEFINE_bool("list", False, "Print the numbered cells and exit.")
    flags.DEFINE_bool("report_only", False, "Train nothing; collect and "
                      "report the finished cells.")
    flags.DEFINE_string(
        "compilation_cache", default_cache, "JAX persistent compilation "
        "cache folder ('' = off; '<workdir>' is replaced): cells sharing "
        "programs compile them once, a rerun compiles nothing.")
  fl = flags.FLAGS

  def main(args):
    if len(args) > 1:
      raise app.UsageError(f"Unexpected arguments: {args[1:]}")
    if not fl["verbosity"].present:
      logging.set_verbosity(logging.WARNING)
    if fl.config is None:
      _exit("--config is required (a sweep config file with get_config()).")
    if fl.compilation_cache and not fl.list and not fl.report_only:
      import jax  # pylint: disable=g-import-not-at-top
      jax.config.update("jax_compilation_cache_dir", fl.compilation_cache.replace(
          "<workdir>", fl.workdir))
      jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    if not fl.list and not fl.report_only:
      from enn_sym.train import _loop  # pylint: disable=g-import-not-at-top
      _loop.maybe_initialize_distributed()
    try:
      run_from_flags(fl.config, fl.workdir, fl.cell, fl.array_index, fl.list,
                     fl.report_only, report_fn, metrics=metrics)
    except _config.ConfigError as e:
      _exit(str(e))

  app.run(main, argv=list(sys.argv if argv is None else argv),
          flags_parser=cli.parse_flags)


def _exit(message: str):
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


def run_from_flags(config, workdir: str, cells: Sequence[str] = (),
                   array_index: int | None = None, list_only: bool = False,
                   report_only: bool = False, report_fn=None,
                   train_fn: TrainFn | None = None,
                   environ: Mapping[str, str] | None = None,
                   metrics: Sequence[str] = _sweep_report.TABLE_METRICS
                   ) -> dict | None:
  """What :func:`sweep_main` does once the flags are parsed (returns the
  collected results when it reports)."""
  config = apply_preset(config)
  sweep = Sweep.from_config(config, train_fn=train_fn)
  if list_only:
    for cell in sweep.cells:
      print(f"{cell.index:4d}  {cell.name}  {sweep.status(workdir, cell)}")
    return None
  one_task = array_index is not None or (
      not cells and array_index_from_env(environ) is not None)
  chosen = sweep.select(cells, array_index, environ)
  for cell in chosen:
    _config.validate_config(sweep._run_config(cell)  # pylint: disable=protected-access
                            if sweep._engine_seeds(cell) else cell.config)  # pylint: disable=protected-access
  start = time.perf_counter()
  if not report_only:
    for cell in chosen:
      sweep.run_cell(workdir, cell)
    if one_task:
      return None  # A job-array task: the report runs once, after the array.
  results = sweep.report(workdir, metrics)
  if report_fn is not None:
    results = report_fn(sweep, config, workdir, results) or results
  print(f"\n{len(results['cells'])} of {len(sweep.cells)} cells finished; "
        f"{time.perf_counter() - start:.0f} s; outputs in {workdir}",
        flush=True)
  return results


def apply_preset(config):
  """``config`` with ``config.presets[config.preset]`` applied.

  A preset is a sequence of ``(dotted_key, value)`` pairs over the
  experiment config (ConfigDicts hold no dotted keys), e.g.
  ``(("seeds", (0, 1)), ("axes.size", {"full": {}}))``, or a mapping of
  top-level keys; a value replaces the field whole (an axis's levels, the
  exclude list). No ``preset`` field,
  or ``preset = "default"`` without such a preset, leaves ``config`` as is.

  Raises:
    ConfigError: an unknown preset name.
  """
  name = config.get("preset", "")
  presets = config.get("presets", None)
  if not name or (name == "default" and (
      presets is None or "default" not in presets)):
    return config
  if presets is None or name not in presets:
    raise _config.ConfigError(
        f"config.preset = {name!r} is not a preset; valid: "
        f"{sorted(presets.keys()) if presets is not None else []}.")
  config = copy.deepcopy(config)
  with config.unlocked():
    preset = presets[name]
    pairs = (preset.items() if isinstance(
        preset, (Mapping, ml_collections.ConfigDict)) else preset)
    for key, value in pairs:
      node = config
      *path, leaf = str(key).split(".")
      for part in path:
        node = node[part]
      if isinstance(value, ml_collections.ConfigDict):
        value = value.to_dict()
      with node.ignore_type() if isinstance(
          node, ml_collections.ConfigDict) else _null():
        node[leaf] = value
  return config


class _null:  # pylint: disable=invalid-name
  def __enter__(self):
    return self

  def __exit__(self, *args):
    return False
