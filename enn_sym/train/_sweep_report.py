"""Sweep statistics and reports: seed means with 95% intervals, paired
differences and their conclusions, markdown tables, figures.

The conclusion rule (CONTRIBUTING's calibration-claim rule): a difference is
stated ("lowers" / "raises") only where its 95% interval excludes zero and at
least ``min_seeds`` seeds were paired; otherwise "no measurable difference".
"""

from __future__ import annotations

import itertools
import json
import math
import os
from typing import Any, Mapping, Sequence

import numpy as np
from scipy import stats

TABLE_METRICS = ("accuracy", "nll", "ece", "ece_ts", "brier", "joint_nll",
                 "mutual_info")
FIGURE_METRICS = ("accuracy", "nll", "ece")
NO_DIFFERENCE = "no measurable difference"
MIN_SEEDS = 5
_RUN_FIELDS = ("stop_reason", "steps_trained", "best_step")


def _is_number(v) -> bool:
  return (isinstance(v, (int, float, np.floating, np.integer))
          and not isinstance(v, bool))


def mean_ci(values: Sequence[float], level: float = 0.95
            ) -> tuple[float, float, float]:
  """Mean and Student-t ``level`` interval of the mean of ``values``.

  One value gives ``(v, v, v)`` (the summary.json convention: no spread is
  known); NaNs propagate.

  Raises:
    ValueError: ``values`` is empty.
  """
  x = np.asarray(values, np.float64)
  if x.ndim != 1 or x.size == 0:
    raise ValueError(f"mean_ci needs a non-empty 1-D sequence; got shape "
                     f"{x.shape}.")
  mean = float(x.mean())
  if x.size == 1:
    return mean, mean, mean
  half = float(stats.t.ppf(0.5 + level / 2, x.size - 1)
               * x.std(ddof=1) / math.sqrt(x.size))
  return mean, mean - half, mean + half


def seed_statistics(entry: Mapping[str, Any]) -> dict:
  """One model's summary (the engine's multi-seed layout, or a single-run
  summary without ``per_seed``) as ``{seeds, per_seed, mean, ci95,
  stop_reason, steps_trained, best_step}``; mean and interval recomputed
  from ``per_seed`` with :func:`mean_ci` for scalar metrics, element-wise
  means for vector ones (per-orbit metrics)."""
  if "per_seed" in entry:
    per_seed = {k: list(v) for k, v in entry["per_seed"].items()}
    seeds = list(entry["seeds"])
  else:
    per_seed = {k: [v] for k, v in entry.items()
                if k not in _RUN_FIELDS + ("seeds", "ci95")}
    seeds = list(entry.get("seeds", [None]))
  # Dict-valued per-seed entries (the published bounds on the test orbits)
  # become "key/sub" metrics for every sub-key that is a number in every
  # seed (a bound withheld for one seed's model is left out).
  for key, values in list(per_seed.items()):
    if values and all(isinstance(v, Mapping) for v in values):
      for sub in values[0]:
        subs = [v.get(sub) for v in values]
        if all(_is_number(x) for x in subs):
          per_seed[f"{key}/{sub}"] = subs
  mean, ci = {}, {}
  for key, values in per_seed.items():
    if values and all(_is_number(v) for v in values):
      m, lo, hi = mean_ci(values)
      mean[key], ci[key] = m, [lo, hi]
    elif values and all(isinstance(v, (list, tuple)) for v in values):
      try:
        mean[key] = np.mean(np.asarray(values, np.float64), 0).tolist()
      except ValueError:
        pass  # Ragged: keep per_seed only.
  out = {"seeds": seeds, "per_seed": per_seed, "mean": mean, "ci95": ci}
  for key in _RUN_FIELDS:
    value = entry.get(key)
    out[key] = (list(value) if isinstance(value, (list, tuple))
                else [value] * len(seeds))
  return out


def paired_difference(variant: Sequence[float], variant_seeds: Sequence[int],
                      reference: Sequence[float],
                      reference_seeds: Sequence[int]) -> dict:
  """Variant minus reference, paired by seed: ``{mean, ci95, n, seeds}``.

  Only seeds present in both enter; the interval is the Student-t 95%
  interval of the mean of the per-seed differences (``[nan, nan]`` below 2
  pairs, so that no conclusion follows from one seed).
  """
  ref = dict(zip(reference_seeds, reference))
  pairs = [(s, v, ref[s]) for s, v in zip(variant_seeds, variant) if s in ref]
  if not pairs:
    return {"mean": float("nan"), "ci95": [float("nan")] * 2, "n": 0,
            "seeds": []}
  diffs = [float(v) - float(r) for _, v, r in pairs]
  mean, lo, hi = mean_ci(diffs)
  if len(diffs) < 2:
    lo = hi = float("nan")
  return {"mean": mean, "ci95": [lo, hi], "n": len(diffs),
          "seeds": [s for s, _, _ in pairs]}


def conclusion(ci95: Sequence[float], n: int | None = None,
               min_seeds: int = MIN_SEEDS, lower: str = "lowers",
               higher: str = "raises") -> str:
  """``lower`` where the interval lies below zero, ``higher`` above, else
  ``"no measurable difference"`` (an interval containing zero, or not
  finite, or fewer than ``min_seeds`` pairs when ``n`` is given)."""
  lo, hi = (float(c) for c in ci95)
  if not (math.isfinite(lo) and math.isfinite(hi)) or lo <= 0.0 <= hi:
    return NO_DIFFERENCE
  if n is not None and n < min_seeds:
    return f"{NO_DIFFERENCE} (only {n} seeds; a claim needs {min_seeds})"
  return lower if hi < 0.0 else higher


def compare(results: Mapping[str, Any], axis: str, reference: str,
            metrics: Sequence[str], min_seeds: int = MIN_SEEDS,
            require_converged: bool = False) -> list[dict]:
  """Paired differences of every cell against its reference cell (the cell
  with the same levels except ``axis = reference``), per model and metric.

  With ``require_converged``, a pair in which any seed of either cell did
  not stop early (``stop_reason`` ``max_steps`` or ``non_finite``) gets the
  conclusion ``"not converged"`` instead of lowers / raises / no measurable
  difference, so no claim follows from it.

  Returns rows ``{levels..., model, metric, mean, ci95, n, conclusion}``.
  """
  cells = results["cells"]
  by_levels = {tuple(sorted(c["levels"].items())): c for c in cells.values()}
  rows = []
  for cell in cells.values():
    level = cell["levels"].get(axis)
    if level is None or level == reference:
      continue
    key = dict(cell["levels"], **{axis: reference})
    ref = by_levels.get(tuple(sorted(key.items())))
    if ref is None:
      continue
    for model, stats_v in cell["models"].items():
      stats_r = ref["models"].get(model)
      if stats_r is None:
        continue
      for metric in metrics:
        if metric not in stats_v["per_seed"] or metric not in stats_r[
            "per_seed"]:
          continue
        d = paired_difference(stats_v["per_seed"][metric], stats_v["seeds"],
                              stats_r["per_seed"][metric], stats_r["seeds"])
        unconverged = require_converged and any(
            r in ("max_steps", "non_finite") for r in
            list(stats_v["stop_reason"]) + list(stats_r["stop_reason"]))
        rows.append({**cell["levels"], "model": model, "metric": metric,
                     **d, "conclusion": "not converged" if unconverged
                     else conclusion(d["ci95"], d["n"], min_seeds)})
  return rows


def format_ci(mean: float, ci95: Sequence[float] | None, digits: int = 3
              ) -> str:
  """``0.123 [0.110, 0.136]`` (the mean alone without an interval)."""
  if ci95 is None or any(not math.isfinite(float(c)) for c in ci95) or (
      float(ci95[0]) == float(ci95[1])):
    return f"{float(mean):.{digits}f}"
  return (f"{float(mean):.{digits}f} [{float(ci95[0]):.{digits}f}, "
          f"{float(ci95[1]):.{digits}f}]")


def stop_reasons(model_stats: Mapping[str, Any]) -> str:
  """``early_stopping x3, max_steps x2`` (``unknown`` for engines that do
  not record it)."""
  counts: dict[str, int] = {}
  for r in model_stats.get("stop_reason", []):
    counts[str(r) if r is not None else "unknown"] = counts.get(
        str(r) if r is not None else "unknown", 0) + 1
  return ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())) or "-"


def _cell_text(st: Mapping[str, Any], metric: str) -> str:
  """A seed statistic as ``mean [lo, hi]``, a vector as ``a/b/...``, a
  per-model scalar (e.g. a timing added by a report) as a number."""
  value = st["mean"].get(metric, st.get(metric))
  if _is_number(value):
    return format_ci(value, st["ci95"].get(metric))
  if isinstance(value, (list, tuple)) and all(_is_number(v) for v in value):
    return "/".join(f"{float(v):.3f}" for v in value)
  return "-"


def markdown_table(results: Mapping[str, Any],
                   metrics: Sequence[str] = TABLE_METRICS) -> str:
  """One row per finished cell and model: the levels, the seeds, each
  metric as mean [95% CI], the stop reasons and the cell's train time."""
  axes = list(results["axes"])
  header = axes + ["model", "seeds"] + list(metrics) + ["stop_reason", "s"]
  lines = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" for _ in header) + "|"]
  for cell in results["cells"].values():
    for model, st in cell["models"].items():
      row = [cell["levels"][a] for a in axes] + [model, str(len(st["seeds"]))]
      row += [_cell_text(st, m) for m in metrics]
      seconds = cell.get("train_seconds")
      row += [stop_reasons(st), f"{seconds:.0f}" if seconds else "-"]
      lines.append("| " + " | ".join(row) + " |")
  return "\n".join(lines)


def comparison_table(rows: Sequence[Mapping[str, Any]],
                     columns: Sequence[str]) -> str:
  """Markdown table of :func:`compare` rows: ``columns`` (levels, model,
  metric), the difference with its interval, n and the conclusion."""
  header = list(columns) + ["difference [95% CI]", "n", "conclusion"]
  lines = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" for _ in header) + "|"]
  for r in rows:
    lines.append("| " + " | ".join(
        [str(r.get(c, "-")) for c in columns]
        + [format_ci(r["mean"], r["ci95"], 4), str(r["n"]),
           r["conclusion"]]) + " |")
  return "\n".join(lines)


def plot_metric(path: str, results: Mapping[str, Any], metric: str, *,
                x_axis: str | None = None,
                line_axes: Sequence[str] | None = None,
                panel_axes: Sequence[str] = (),
                x_values: Mapping[str, float] | None = None,
                log_x: bool = False, title: str | None = None) -> None:
  """``metric`` (mean, 95% CI band) against the levels of ``x_axis`` (the
  first axis by default), one line per level combination of ``line_axes``
  (the other axes) and model, one panel per combination of ``panel_axes``.

  ``x_values`` maps x levels to numbers (default: their order).
  """
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  axes = list(results["axes"])
  x_axis = x_axis or axes[0]
  if line_axes is None:
    line_axes = [a for a in axes if a != x_axis and a not in panel_axes]
  x_levels = results["axes"][x_axis]
  xs = dict(x_values) if x_values else {l: i for i, l in enumerate(x_levels)}
  panels = list(itertools.product(*(results["axes"][a] for a in panel_axes)))
  ncols = min(len(panels), 4)
  nrows = -(-len(panels) // ncols)
  fig, grid = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3.2 * nrows),
                           squeeze=False, sharey=True)
  for p, panel in enumerate(panels):
    ax = grid[p // ncols][p % ncols]
    lines: dict[str, list] = {}
    for cell in results["cells"].values():
      lv = cell["levels"]
      if tuple(lv[a] for a in panel_axes) != panel or lv[x_axis] not in xs:
        continue
      for model, st in cell["models"].items():
        if metric not in st["mean"] or not _is_number(st["mean"][metric]):
          continue
        label = "/".join([lv[a] for a in line_axes] + [model])
        lines.setdefault(label, []).append(
            (xs[lv[x_axis]], st["mean"][metric],
             *st["ci95"].get(metric, [st["mean"][metric]] * 2)))
    for i, (label, pts) in enumerate(sorted(lines.items())):
      pts.sort()
      x, m, lo, hi = (np.asarray(v, np.float64) for v in zip(*pts))
      ax.plot(x, m, "o-", color=f"C{i % 10}", lw=1.3, ms=3, label=label)
      ax.fill_between(x, lo, hi, color=f"C{i % 10}", alpha=0.2, lw=0)
    if log_x:
      ax.set_xscale("log")
    if not x_values:
      ax.set_xticks(range(len(x_levels)), x_levels)
    ax.set_title(" / ".join(panel) if panel else metric, fontsize=9)
    ax.set_xlabel(x_axis)
    ax.grid(alpha=0.3)
    if lines:  # Below the panel, outside the data.
      ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.2),
                ncol=2, frameon=False)
  for p in range(len(panels), nrows * ncols):
    grid[p // ncols][p % ncols].axis("off")
  grid[0][0].set_ylabel(metric)
  fig.suptitle(title or f"{metric} (mean over seeds, 95% CI band)")
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)


def _test_records(path: str) -> dict[str, dict[Any, dict[int, dict]]]:
  """``{model: {seed: {step: record}}}`` of the test records in a run's
  ``metrics.jsonl`` (``{}`` without one). The last record of a step wins (a
  resumed run may log a step twice) and a line cut short by a stopped run
  is skipped."""
  by_model: dict[str, dict[Any, dict[int, dict]]] = {}
  file = os.path.join(path, "metrics.jsonl")
  if not os.path.exists(file):
    return {}
  with open(file) as f:
    for line in f:
      try:
        rec = json.loads(line)
      except ValueError:
        continue
      if not isinstance(rec, dict) or rec.get("split") != "test" or (
          "model" not in rec or "step" not in rec):
        continue
      by_model.setdefault(rec["model"], {}).setdefault(
          rec.get("seed"), {})[int(rec["step"])] = rec
  return by_model


def _values(recs: Mapping[int, dict], steps: Sequence[int], key: str
            ) -> list[float]:
  return [float(recs[s][key]) if key in recs[s] else float("nan")
          for s in steps]


def read_curves(path: str, steps_per_epoch: int = 1,
                keys: Sequence[str] = ("ece", "accuracy", "nll"),
                seed: int | None = None) -> dict:
  """Per-model test curves ``{model: {"epoch": [...], key: [...]}}`` of one
  seed (``seed``, default the smallest logged) from a run's
  ``metrics.jsonl`` (``epoch = step / steps_per_epoch``). The last record
  of a step wins (a resumed run may log a step twice) and a line cut short
  by a stopped run is skipped."""
  out = {}
  for model, by_seed in _test_records(path).items():
    if seed is not None:
      recs = by_seed.get(seed, {})
    else:
      known = sorted(s for s in by_seed if s is not None)
      recs = by_seed[known[0] if known else None]
    steps = sorted(recs)
    out[model] = {"epoch": [s / steps_per_epoch for s in steps],
                  **{k: _values(recs, steps, k) for k in keys}}
  return out


def read_seed_curves(path: str, steps_per_epoch: int = 1,
                     keys: Sequence[str] = ("ece", "accuracy", "nll")
                     ) -> dict:
  """Every seed's test curves from a run's ``metrics.jsonl``:
  ``{model: {"epoch": [...], "seeds": [...], key: [[...] per seed]}}``.

  Only the steps evaluated for every seed enter (a seed-vmapped run logs
  one record per seed and step; a run stopped mid-evaluation may have
  logged some seeds only), so ``key`` is a rectangular seeds x epochs list.
  Records without a seed (a single-seed run) form the seed ``None``.
  """
  out = {}
  for model, by_seed in _test_records(path).items():
    seeds = sorted(by_seed, key=lambda s: (s is None, s if s is not None
                                           else 0))
    steps = sorted(set.intersection(*(set(by_seed[s]) for s in seeds)))
    out[model] = {"epoch": [s / steps_per_epoch for s in steps],
                  "seeds": seeds,
                  **{k: [_values(by_seed[s], steps, k) for s in seeds]
                     for k in keys}}
  return out


def curve_band(per_seed: Sequence[Sequence[float]], level: float = 0.95
               ) -> dict:
  """Mean and Student-t ``level`` interval across seeds at every point of
  seeds x epochs curves (:func:`mean_ci` per epoch): ``{"mean", "low",
  "high"}``, lists over epochs (low = high = mean for one seed)."""
  x = np.asarray(per_seed, np.float64)
  if x.ndim != 2 or x.shape[0] == 0:
    raise ValueError(f"curve_band needs seeds x epochs values; got shape "
                     f"{x.shape}.")
  cols = [mean_ci(x[:, j], level) for j in range(x.shape[1])]
  return {"mean": [c[0] for c in cols], "low": [c[1] for c in cols],
          "high": [c[2] for c in cols]}


def curve_minima(curve: Mapping[str, Any], key: str) -> dict:
  """Per seed of a :func:`read_seed_curves` curve: the lowest ``key``, its
  epoch (the first, on ties) and the last value minus the lowest (how far
  the curve rose again): ``{"min_<key>", "min_<key>_epoch",
  "<key>_rise"}``, lists over ``curve["seeds"]`` (NaN for an empty curve;
  NaN values are ignored)."""
  out: dict[str, list[float]] = {f"min_{key}": [], f"min_{key}_epoch": [],
                                 f"{key}_rise": []}
  for values in curve[key]:
    v = np.asarray(values, np.float64)
    if not np.isfinite(v).any():
      best = last = epoch = float("nan")
    else:
      i = int(np.nanargmin(v))
      best, epoch = float(v[i]), float(curve["epoch"][i])
      last = float(v[np.isfinite(v)][-1])
    out[f"min_{key}"].append(best)
    out[f"min_{key}_epoch"].append(epoch)
    out[f"{key}_rise"].append(last - best)
  return out


def add_per_seed(model_stats: dict, values: Mapping[str, Sequence[float]],
                 seeds: Sequence[Any]) -> None:
  """Adds per-seed metrics (e.g. :func:`curve_minima`, taken over the curve
  seeds ``seeds``) to one model's :func:`seed_statistics` entry: aligned to
  its ``seeds``, into ``per_seed``, ``mean`` and ``ci95``, so that tables
  and :func:`compare` see them like any other metric."""
  order = {s: i for i, s in enumerate(seeds)}
  own = model_stats["seeds"]
  if any(s not in order for s in own):
    if len(own) == len(seeds) == 1:  # a single-seed summary without ids
      order = {own[0]: 0}
    else:
      raise ValueError(f"add_per_seed: the summary's seeds {own!r} are not "
                       f"all among the curves' seeds {list(seeds)!r}.")
  for key, vals in values.items():
    per = [float(vals[order[s]]) for s in own]
    model_stats["per_seed"][key] = per
    m, lo, hi = mean_ci(per)
    model_stats["mean"][key], model_stats["ci95"][key] = m, [lo, hi]


def plot_curves(path: str, results: Mapping[str, Any],
                metrics: Sequence[str] = ("ece", "nll"), *,
                line_axis: str | None = None,
                colors: Mapping[str, str] | None = None,
                final: Mapping[str, str] | None = None,
                log_y: bool = False, title: str | None = None) -> None:
  """Test curves against epoch from each cell's ``seed_curves`` (see
  :func:`read_seed_curves`): the mean over seeds with its 95% CI band, one
  row per metric, one column per level combination of the axes other than
  ``line_axis`` (the last axis by default), one line per level of
  ``line_axis`` and model. ``final`` maps a metric to a per-model summary
  metric drawn as a hollow marker (mean) at the last epoch, e.g.
  ``{"ece": "ece_ts"}``. ``log_y``: logarithmic y axes (a late rise of a
  small NLL stays visible next to the first epochs' large values)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  axes = list(results["axes"])
  line_axis = line_axis or axes[-1]
  panel_axes = [a for a in axes if a != line_axis]
  panels = list(itertools.product(*(results["axes"][a] for a in panel_axes)))
  fig, grid = plt.subplots(len(metrics), len(panels),
                           figsize=(max(4.6 * len(panels), 7.0),
                                    3.2 * len(metrics)),
                           squeeze=False, sharex=True)
  levels = list(results["axes"][line_axis])
  for col, panel in enumerate(panels):
    for cell in results["cells"].values():
      lv = cell["levels"]
      if tuple(lv[a] for a in panel_axes) != panel:
        continue
      for model, curve in cell.get("seed_curves", {}).items():
        if model not in cell["models"] or not curve["epoch"]:
          continue
        level = lv[line_axis]
        color = (colors or {}).get(level, f"C{levels.index(level) % 10}")
        label = level if model == "base" else f"{level} ({model})"
        style = "-" if model == "base" else "--"
        for row, metric in enumerate(metrics):
          ax = grid[row][col]
          band = curve_band(curve[metric])
          ax.plot(curve["epoch"], band["mean"], style, color=color, lw=1.3,
                  label=label)
          ax.fill_between(curve["epoch"], band["low"], band["high"],
                          color=color, alpha=0.2, lw=0)
          extra = (final or {}).get(metric)
          value = cell["models"][model]["mean"].get(extra) if extra else None
          if _is_number(value):
            ax.plot([curve["epoch"][-1]], [value], "o", mfc="none",
                    color=color)
    for row, metric in enumerate(metrics):
      ax = grid[row][col]
      ax.grid(alpha=0.3, which="both")
      if log_y:
        ax.set_yscale("log")
      if row == 0:
        ax.set_title(" / ".join(panel) if panel else "", fontsize=9)
      if row == len(metrics) - 1:
        ax.set_xlabel("epoch")
      if col == 0:
        extra = (final or {}).get(metric)
        ax.set_ylabel(f"test {metric}" + (f" (o: {extra})" if extra else ""))
  handles = grid[0][-1].get_legend_handles_labels()[0]
  if handles:  # Right of the last panel, outside the data.
    grid[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1),
                       frameon=False)
  fig.suptitle(title or "test metrics during training (mean over seeds, "
               "95% CI band)", fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)


def select(results: Mapping[str, Any], drop: Sequence[str] = (),
           **levels: str) -> dict:
  """The cells of ``results`` whose levels match ``levels``; the axes in
  ``drop`` (fixed by ``levels``) are removed from ``axes`` and from each
  cell's levels, so figures and comparisons see the remaining axes only."""
  cells = {n: c for n, c in results["cells"].items()
           if all(c["levels"].get(a) == l for a, l in levels.items())}
  out = dict(results)
  out["axes"] = {a: [l for l in ls if a not in levels or l == levels[a]]
                 for a, ls in results["axes"].items() if a not in drop}
  out["cells"] = {n: {**c, "levels": {a: l for a, l in c["levels"].items()
                                      if a not in drop}}
                  for n, c in cells.items()}
  return out


def convergence_check(results: Mapping[str, Any], axis: str, reference: str,
                      doubled: str, metrics: Sequence[str]) -> list[dict]:
  """Does a headline number move when the step ceiling is doubled? For each
  cell at ``axis = doubled`` and its ``axis = reference`` twin, per model
  and metric: both means, the reference's 95% CI and ``inside`` (the doubled
  run's mean lies in it)."""
  cells = list(results["cells"].values())
  key = lambda c: tuple(sorted((a, l) for a, l in c["levels"].items()
                               if a != axis))
  refs = {key(c): c for c in cells if c["levels"].get(axis) == reference}
  rows = []
  for cell in cells:
    if cell["levels"].get(axis) != doubled or key(cell) not in refs:
      continue
    ref = refs[key(cell)]
    for model, st in cell["models"].items():
      st_r = ref["models"].get(model)
      for metric in metrics:
        if st_r is None or metric not in st["mean"] or (
            metric not in st_r["mean"]):
          continue
        lo, hi = st_r["ci95"][metric]
        m2 = st["mean"][metric]
        rows.append({**{a: l for a, l in cell["levels"].items() if a != axis},
                     "model": model, "metric": metric,
                     "mean": st_r["mean"][metric], "ci95": [lo, hi],
                     "mean_doubled": m2, "inside": bool(lo <= m2 <= hi),
                     "stop_reason": stop_reasons(st_r),
                     "stop_reason_doubled": stop_reasons(st)})
  return rows


def convergence_table(rows: Sequence[Mapping[str, Any]],
                      columns: Sequence[str]) -> str:
  """Markdown of :func:`convergence_check` rows."""
  header = list(columns) + ["model", "metric", "1x [95% CI]", "2x",
                            "2x inside 1x CI", "stop 1x", "stop 2x"]
  lines = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" for _ in header) + "|"]
  for r in rows:
    lines.append("| " + " | ".join(
        [str(r.get(c, "-")) for c in columns]
        + [r["model"], r["metric"], format_ci(r["mean"], r["ci95"]),
           f"{r['mean_doubled']:.3f}", "yes" if r["inside"] else "**no**",
           r["stop_reason"], r["stop_reason_doubled"]]) + " |")
  return "\n".join(lines)
