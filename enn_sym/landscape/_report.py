"""JSON summaries, seed aggregates, a markdown report and figures of searches.

Used by ``experiments/landscape.py``. :func:`summarize_search` turns one
:class:`~enn_sym.landscape.SearchResult` into JSON (per minimum its loss and
component label at every level); :func:`aggregate` pools the runs of one
(problem, objective) over minima-sampling seeds; :func:`compare` gives the
difference of mean component counts between two groups with a Welch 95%
interval; :func:`markdown_report` writes the documentation page.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np
from scipy import stats

from enn_sym.landscape import _components
from enn_sym.landscape import _search


def summarize_search(res: _search.SearchResult, deltas: Sequence[float],
                     minima_info: Sequence[dict] | None = None) -> dict:
  """JSON-ready summary of one search at relative levels ``deltas``.

  Levels are :func:`enn_sym.landscape.relative_levels` of the result's own
  minima. ``minima_info``: optional per-minimum dicts merged into the
  per-minimum entries (seed, stop reason, sign pattern, ...).
  """
  levels = _components.relative_levels(res.heights, deltas)
  labels = np.stack([res.combined.labels(c) for c in levels], 1)
  minima = []
  for i, h in enumerate(res.heights.tolist()):
    entry = {"loss": h, "component_by_level": labels[i].tolist()}
    if minima_info is not None:
      entry.update(minima_info[i])
    minima.append(entry)
  classes = _discrete_classes(minima)
  return {
      "num_label_classes": (None if classes is None
                            else len(set(classes.tolist()))),
      "mixed_components": (None if classes is None else [
          _num_mixed(labels[:, k], classes) for k in range(len(levels))]),
      "deltas": list(map(float, deltas)), "levels": levels.tolist(),
      "components": res.combined.num_components(levels).tolist(),
      "components_linear": res.linear.num_components(levels).tolist(),
      "barriers": res.barrier.tolist(),
      "linear_barriers": res.linear_barrier.tolist(),
      "pairs": res.pairs.tolist(), "best_bends": res.best_bends.tolist(),
      "best_steps": res.best_steps.tolist(),
      "total_steps": res.total_steps.tolist(),
      "stop_reason": list(res.stop_reason), "minima": minima,
      "timings": res.timings, "note": res.note,
  }


def _discrete_classes(minima):
  """Class ids of the minima's sign pattern / VN sign label, if any."""
  for key in ("sign_pattern", "vn_label"):
    if minima and key in minima[0]:
      ids: dict = {}
      return np.asarray([ids.setdefault(str(m[key]), len(ids))
                         for m in minima])
  return None


def _num_mixed(components, classes):
  """Components at one level holding minima of more than one class."""
  return sum(len(set(classes[components == c].tolist())) > 1
             for c in set(components.tolist()) if c >= 0)


def _spread(values):
  v = np.asarray(values, np.float64)
  return {"mean": v.mean(0).tolist(), "std": v.std(0, ddof=1).tolist()
          if len(v) > 1 else np.zeros(v.shape[1:]).tolist(),
          "min": v.min(0).tolist(), "max": v.max(0).tolist()}


def aggregate(runs: Sequence[dict]) -> dict:
  """Counts per level and barriers pooled over the runs (sampling seeds)."""
  counts = [r["components"] for r in runs]
  barriers = np.concatenate([np.asarray(r["barriers"], np.float64)
                             for r in runs])
  return {"num_runs": len(runs), "deltas": runs[0]["deltas"],
          "components": _spread(counts),
          "components_linear": _spread([r["components_linear"]
                                        for r in runs]),
          "barrier_quantiles": np.quantile(
              barriers, [0.1, 0.5, 0.9]).tolist(),
          "median_barrier_per_run": [float(np.median(r["barriers"]))
                                     for r in runs],
          "minima_stop_reasons": _tally(m.get("stop_reason", "?")
                                        for r in runs for m in r["minima"]),
          "label_classes_per_run": [r.get("num_label_classes")
                                    for r in runs],
          "mixed_components": [r.get("mixed_components") for r in runs]}


def _tally(items):
  out: dict = {}
  for x in items:
    out[x] = out.get(x, 0) + 1
  return out


def compare(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]]
            ) -> list[dict]:
  """Per level: mean(a) - mean(b) with a Welch 95% interval across seeds.

  ``a``, ``b``: ``[runs, levels]`` component counts. ``'measurable'`` is True
  only when the interval excludes 0 (otherwise report "no measurable
  difference"); with identical constant counts the interval is ``[d, d]``.
  """
  a = np.asarray(a, np.float64)
  b = np.asarray(b, np.float64)
  out = []
  for k in range(a.shape[1]):
    x, y = a[:, k], b[:, k]
    diff = x.mean() - y.mean()
    va, vb = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    se = np.sqrt(va + vb)
    if se == 0:
      lo = hi = diff
    else:
      dof = se ** 4 / (va ** 2 / (len(x) - 1) + vb ** 2 / (len(y) - 1))
      half = stats.t.ppf(0.975, dof) * se
      lo, hi = diff - half, diff + half
    out.append({"diff": float(diff), "ci95": [float(lo), float(hi)],
                "measurable": bool(lo > 0 or hi < 0)})
  return out


def _fmt_spread(s, k):
  return f"{s['mean'][k]:.1f} [{s['min'][k]:g}, {s['max'][k]:g}]"


def markdown_report(results: dict, command: str) -> str:
  """The documentation page of an ``experiments/landscape.py`` run."""
  agg = results["aggregate"]
  deltas = next(iter(agg.values()))["deltas"]
  lines = ["# Loss landscapes: components of minima", "",
           "<!-- Generated by experiments/landscape.py from results.json; "
           "do not edit by hand. -->", "",
           "Commands: " + "; ".join(results.get("commands", [
               f"`{command}` ({results['wall_seconds'] / 60:.1f} min)"]))
           + f". Total run time {results['wall_seconds'] / 60:.1f} min on 2 "
           f"shared CPU cores (`os.cpu_count()` = {results['num_cpus']}); "
           "the page is regenerated from the results.json files by "
           "`python experiments/landscape.py --report_only --workdir "
           "DIR1,DIR2 --doc docs/landscape.md`.", "",
           "How to read the numbers:", "",
           f"- {_search.UPPER_BOUND_NOTE}",
           "- Levels are relative to each run's own minima: "
           "c = min + delta * (median - min) of its minima losses "
           "(`enn_sym.landscape.relative_levels`), so two models are "
           "compared on comparable sets of their own minima.",
           "- Minima: `enn_sym.train.fit_seeds`, full batch, early stopping "
           "on the objective; stop reasons per group in the last column "
           "(`early_stopping`: converged, no improvement of min_delta over "
           "patience evaluations; `max_steps`: stopped at the step cap, not "
           "converged).",
           "- Paths: straight segment, then Bezier curves with a growing "
           "budget while the barrier improves (`search_paths`), after the "
           "symmetry quotient (MLP: hidden-unit permutations and positive "
           "rescalings; VN-MLP: channel permutations, rescalings, sign flips, "
           "GL(3) frame, head permutations and rescalings; deep linear: the "
           "identity component GL+ of GL(h)^(l-1), balanced gauge and "
           "rotation onto the partner, which keeps the sign pattern; "
           "`make_aligner`, `make_vn_aligner`, `make_linear_aligner`).",
           "- The counting method is validated on deep linear networks "
           "(exact determinant-sign partition, best barrier between classes "
           "within 10% of the certificate) on 30 problems, widths 2-3, "
           "depths 2-4, 5 problem seeds: `python -m pytest -m long "
           "tests/test_landscape_zhao.py` (run time in docs/testing.md).",
           "- Counts: mean [min, max] over minima-sampling seeds.", ""]
  t = results.get("config", {}).get("train")
  if t:
    lines[-1:-1] = [
        f"- Training: Adam, learning rate {t['learning_rate']:g} "
        f"({t.get('schedule', 'cosine')}), at most {t['num_steps']} steps, "
        f"early stopping after {t['patience']} evaluations every "
        f"{t['eval_every']} steps without a decrease of {t['min_delta']:g}."]
  head = ["problem / objective", "runs", "minima/run", "barrier q10/q50/q90"]
  head += [f"#comp d={d:g}" for d in deltas] + ["minima stop reasons"]
  lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for name, g in agg.items():
    q = g["barrier_quantiles"]
    cells = [name, str(g["num_runs"]), str(g["minima_per_run"]),
             f"{q[0]:.2g} / {q[1]:.2g} / {q[2]:.2g}"]
    cells += [_fmt_spread(g["components"], k) for k in range(len(deltas))]
    cells.append(", ".join(f"{k} {v}" for k, v in
                           g["minima_stop_reasons"].items()))
    lines.append("| " + " | ".join(cells) + " |")
  labelled = {k: g for k, g in agg.items()
              if any(c is not None for c in g["label_classes_per_run"])}
  if labelled:
    lines += ["", "Discrete sign classes (VN-MLP: channel signs and frame "
              "determinant sign; deep linear: determinant signs) hit by the "
              "minima per run, and components holding minima of more than "
              "one class (per run, at each delta). The VN labels are those of "
              "the raw minima; the paths join quotient representatives, in "
              "which signs and frame are fixed, so a mixed VN component says "
              "nothing about paths between the raw sign classes:", ""]
    for name, g in labelled.items():
      lines.append(f"- {name}: classes {g['label_classes_per_run']}; mixed "
                   f"components {g['mixed_components']}")
  measurable = []
  for title, rows in results.get("comparisons", {}).items():
    lines += ["", f"**{title}** (difference of mean counts, Welch 95% "
              "interval across seeds):", ""]
    for d, r in zip(deltas, rows):
      verdict = ("measurable" if r["measurable"]
                 else "no measurable difference")
      if r["measurable"]:
        measurable.append(f"{title} at delta={d:g}")
      lines.append(f"- delta={d:g}: {r['diff']:+.2f} "
                   f"[{r['ci95'][0]:+.2f}, {r['ci95'][1]:+.2f}] ({verdict})")
  certs = results.get("certificates", {})
  if certs:
    lines += ["", "Certificates (deep linear networks; best saddle found "
              "between sign classes vs the Eckart-Young bound c*):", "",
              "| run | c* | best between classes | ratio | holds | "
              "components at c*/2 | classes hit |", "|---|---|---|---|---|---|"
              "---|"]
    for name, c in certs.items():
      lines.append(f"| {name} | {c['certificate']:.4g} | "
                   f"{c['best_cross_saddle']:.4g} | {c['ratio']:.3f} | "
                   f"{c['holds']} | {c['components_below']} | "
                   f"{c['num_classes']} |")
  lines += ["", "## What the counts show and do not show", ""]
  if results.get("comparisons"):
    lines.append("- Measurable differences (95% interval excludes 0): " + (
        "; ".join(measurable) if measurable else
        "none. At every relative level the data show no measurable "
        "difference between the compared groups."))
  lines += [
      "- At small delta (<= 1) only the lowest minima lie below the level "
      "(at delta = 1 about half of them), so the count there is mostly the "
      "number of minima below it and says little about paths; the "
      "comparison is informative at the levels that hold every minimum "
      "(delta >= 5 here), where the count reflects the barriers found.",
      "- A count is the number of groups of the *sampled* minima that the "
      "search could not join below the level: an upper bound on their "
      "components, capped by the number of minima per run. A larger count "
      "can mean a harder landscape for the path search as well as more "
      "components.",
      "- Only below a certificate (deep linear networks) is a count exact; "
      "for the ReLU MLP and the VN-MLP no lower bound on the barriers is "
      "known, so no count here proves that two minima are disconnected.",
      "- `soft_ece` (soft-binned ECE, Karandikar et al. 2021) uses the hard "
      "argmax for correctness, so the objective jumps wherever a path "
      "changes a prediction's class: a jump blocks a path like a barrier "
      "would, and its counts measure these discontinuities as much as the "
      "landscape. `smooth_ece` and NLL are continuous in the parameters.",
      "- The counts concern small networks on one synthetic point-cloud "
      "task and a few seeds; they do not establish how the number of "
      "components scales with width, data or architecture."]
  return "\n".join(lines) + "\n"


def _pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def plot_components(path: str, aggregates: dict) -> None:
  """Components vs relative level: mean over seeds, band = [min, max]."""
  plt = _pyplot()
  fig, ax = plt.subplots(figsize=(6, 4))
  for i, (name, g) in enumerate(aggregates.items()):
    c = g["components"]
    ax.plot(g["deltas"], c["mean"], color=f"C{i}", label=name)
    ax.fill_between(g["deltas"], c["min"], c["max"], color=f"C{i}",
                    alpha=0.2)
  ax.set_xscale("log")
  ax.set_xlabel("delta (level = min + delta (median - min))")
  ax.set_ylabel("#components (upper bound)")
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def plot_barriers(path: str, runs: dict) -> None:
  """Best barrier per pair, pooled over seeds, per problem / objective."""
  plt = _pyplot()
  names = list(runs)
  fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(names)), 4))
  data = [np.maximum(np.concatenate([r["barriers"] for r in runs[n]]), 1e-8)
          for n in names]
  ax.boxplot(data)
  ax.set_xticks(np.arange(1, len(names) + 1), names, fontsize=6,
                rotation=20)
  ax.set_yscale("log")
  ax.set_ylabel("best barrier (max along path - higher end)")
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def as_jsonable(x: Any) -> Any:
  """Numpy scalars/arrays inside nested containers to plain Python."""
  if isinstance(x, dict):
    return {str(k): as_jsonable(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [as_jsonable(v) for v in x]
  if isinstance(x, np.ndarray):
    return x.tolist()
  if isinstance(x, np.generic):
    return x.item()
  return x


def aggregate_runs(runs: dict) -> dict:
  """:func:`aggregate` of every ``{name: [run summaries]}`` entry."""
  return {k: {**aggregate(v), "minima_per_run": "/".join(
      str(len(r["minima"])) for r in v)} for k, v in runs.items()}


def compare_runs(runs: dict, objectives: Sequence[str]) -> dict:
  """The comparisons of the report, from ``{'<net>/<objective>': runs}``.

  Per objective, ``vn_mlp`` minus ``mlp``; per network, each calibration
  objective minus ``nll`` (component counts per level, :func:`compare`).
  """
  counts = lambda k: [r["components"] for r in runs[k]]
  out = {}
  for kind in objectives:
    if f"vn_mlp/{kind}" in runs and f"mlp/{kind}" in runs:
      out[f"{kind}: VN-MLP minus MLP"] = compare(counts(f"vn_mlp/{kind}"),
                                                 counts(f"mlp/{kind}"))
    for net in ("mlp", "vn_mlp"):
      if kind != "nll" and f"{net}/{kind}" in runs and f"{net}/nll" in runs:
        out[f"{net}: {kind} minus NLL"] = compare(counts(f"{net}/{kind}"),
                                                  counts(f"{net}/nll"))
  return out


def write_report(results: dict, workdir: str, doc: str = "",
                 command: str = "python experiments/landscape.py") -> str:
  """Writes ``landscape.md`` (and ``doc`` if given) and the two figures."""
  text = markdown_report(results, command)
  for path in [os.path.join(workdir, "landscape.md")] + ([doc] if doc else []):
    with open(path, "w") as f:
      f.write(text)
  plot_components(os.path.join(workdir, "components_vs_level.png"),
                  results["aggregate"])
  plot_barriers(os.path.join(workdir, "barriers.png"), results["runs"])
  return text


def merge_results(results_list: Sequence[dict]) -> dict:
  """One report from several ``results.json`` (later entries win on a key).

  Used to report runs made with different ``--config.problem`` together;
  ``commands`` lists each run's command and wall time.
  """
  out = {"runs": {}, "aggregate": {}, "comparisons": {}, "certificates": {},
         "wall_seconds": 0.0, "commands": []}
  for r in results_list:
    for key in ("runs", "aggregate", "comparisons", "certificates"):
      out[key].update(r.get(key, {}))
    out["wall_seconds"] += r["wall_seconds"]
    command = r.get("command", "python experiments/landscape.py")
    out["commands"].append(f"`{command}` ({r['wall_seconds'] / 60:.1f} min)")
  out["num_cpus"] = results_list[0]["num_cpus"]
  if "config" in results_list[0]:
    out["config"] = results_list[0]["config"]
  return out
