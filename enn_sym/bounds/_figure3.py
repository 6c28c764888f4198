"""Figure 3 of Berman et al. 2025 from ``experiments/swiss_roll.py`` records:
one cell's record from its seeds' predictions, the plot in the paper's
layout and the comparison page."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from enn_sym.bounds import _dissent
from enn_sym.bounds import _finite
from enn_sym.bounds import _report
from enn_sym.bounds import _statements

_Z = 1.959963984540054


def _rows(records, enn="base", model=None):
  rows = [r for r in records if r["enn"] == enn and (
      model is None or r["model"] == model)]
  return sorted(rows, key=lambda r: r["correct_ratio"])


def figure3_record(test, closed, test_stacks, closed_stacks, *,
                   bins: Sequence[int] = (100, 15), null_draws: int = 200
                   ) -> dict[str, Any]:
  """The measured part of one (network, ratio) record, over seeds.

  Args:
    test: the test :class:`OrbitSplit` (``x``, ``labels``).
    closed: its orbit closure (``orbit_ids``, ``kind``: 1 incorrect orbit).
    test_stacks: per seed, the ``[K, N, 2]`` logits of the ENN's evaluation
      indices on ``test.x`` (``K = 1`` for a plain network).
    closed_stacks: the same on ``closed.x``.
    bins: ECE bins; the first is the headline ``ece``, the others
      ``ece{m}``; the bounds use ``bins[-1]`` fibres (``bounds``) and
      ``bins[0]`` (``bounds_{bins[0]}``).
    null_draws: calibrated-label draws for the ECE noise floor (``ece_null``).

  Returns:
    ``test_ceiling`` (1 - Thm 1 on the closure), ``{name}_mean`` and
    ``{name}_sem`` over seeds for accuracy, ece, ece{m} and ece_null,
    per-seed ``mi_incorrect`` / ``mi_correct`` (None without such orbits)
    and the seed-mean bounds.
  """
  per = {k: [] for k in ("acc", "mi_incorrect", "mi_correct", "null",
                         *(f"ece{m}" for m in bins))}
  found = {m: [] for m in bins}
  for i, (st, sc) in enumerate(zip(test_stacks, closed_stacks)):
    out = _report.ensemble_readouts(st)
    hit = out["pred"] == test.labels
    per["acc"].append(float(hit.mean()))
    for m in bins:
      per[f"ece{m}"].append(_report.binned_ece(out["mean"], hit, m))
    per["null"].append(_report.calibrated_ece_null(
        out["mean"], bins[0], null_draws, seed=i)[0])
    oc = _report.ensemble_readouts(sc)
    for m in bins:
      found[m].append(_finite.finite_orbit_bounds(
          closed.labels, closed.orbit_ids, oc["mean"], oc["pred"], fibres=m))
    for name, k in (("mi_incorrect", 1), ("mi_correct", 0)):
      sel = closed.kind == k
      per[name].append(float(oc["mi"][sel].mean()) if sel.any() else None)
  stat = lambda v: (float(np.mean(v)), float(np.std(v, ddof=1) / np.sqrt(
      len(v))) if len(v) > 1 else 0.0)  # Mean and SEM over seeds.
  rec = {"test_ceiling": 1.0 - _dissent.error_lower_bound(
      closed.orbit_ids, closed.labels, 2)}
  for name, key in (("accuracy", "acc"), ("ece", f"ece{bins[0]}"),
                    *((f"ece{m}", f"ece{m}") for m in bins[1:]),
                    ("ece_null", "null")):
    rec[f"{name}_mean"], rec[f"{name}_sem"] = stat(per[key])
  for name in ("mi_incorrect", "mi_correct"):
    rec[name] = [v for v in per[name] if v is not None] or None
  rec["bounds"] = _report.mean_bounds(found[bins[-1]])
  rec[f"bounds_{bins[0]}"] = _report.mean_bounds(found[bins[0]])
  return rec


def merge_figure3_results(results: Mapping[str, Any],
                          other: Mapping[str, Any], source: str
                          ) -> dict[str, Any]:
  """``results`` plus the records of ``other`` (another run's
  ``results.json``, e.g. the ENN cells run in a second process) that it
  lacks, by (ENN, network, ratio); ``merged`` lists each source with its
  wall time, and the page states it."""
  key = lambda r: (r["enn"], r["model"], r["correct_ratio"])
  have = {key(r) for r in results["records"]}
  out = dict(results)
  out["records"] = list(results["records"]) + [
      r for r in other["records"] if key(r) not in have]
  out["merged"] = list(results.get("merged", [])) + [
      {"source": source, "seconds": other["seconds"],
       "records": sum(key(r) not in have for r in other["records"])}]
  return out


def plot_figure3(records: Sequence[Mapping[str, Any]], path: str) -> None:
  """Accuracy and ECE (100 bins) against the correct ratio, mean ± SEM, with
  the ceiling 1 - icr/2 and the invariant net's Cor. 1 / Thm 5 bounds."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
  for model, style in (("mlp", "o-"), ("invariant", "s-")):
    rows = _rows(records, model=model)
    if not rows:
      continue
    x = [100 * r["correct_ratio"] for r in rows]
    ax1.errorbar(x, [r["accuracy_mean"] for r in rows],
                 [r["accuracy_sem"] for r in rows], fmt=style, ms=4,
                 capsize=2, label=model)
    ax2.errorbar(x, [r["ece_mean"] for r in rows],
                 [r["ece_sem"] for r in rows], fmt=style, ms=4, capsize=2,
                 label=f"{model} (100 bins)")
    if model == "invariant":
      ax1.plot(x, [r["ceiling"] for r in rows], "k--",
               label="ceiling 1 - icr/2")
      ax2.plot(x, [r["ece_null_mean"] for r in rows], ":", color="gray",
               label="calibrated model's ECE (100 bins)")
      for key, lab in (("cor1_ece_upper", "Cor. 1 upper"),
                       ("thm5_ece_lower", "Thm 5 lower")):
        vals = [r["bounds"][key] for r in rows]
        if all(v is not None for v in vals):
          ax2.plot(x, vals, "--", lw=1, label=f"invariant {lab} (15 bins)")
  ax1.set(xlabel="correct symmetry (%)", ylabel="test accuracy",
          ylim=(0.5, 1.02))
  ax2.set(xlabel="correct symmetry (%)", ylabel="test ECE", ylim=(0, 1.0))
  for ax in (ax1, ax2):  # Below the panel, outside the data.
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15),
              ncol=2, frameon=False)
  fig.suptitle("Swiss rolls (correct + incorrect = 1): mean ± SEM over seeds")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def _diff(a, b, key):
  """``b - a`` of ``key_mean`` with a normal 95% interval from the SEMs."""
  d = b[f"{key}_mean"] - a[f"{key}_mean"]
  h = _Z * math.hypot(a[f"{key}_sem"], b[f"{key}_sem"])
  return d, d - h, d + h


def _verdict(lo, hi, sign):
  if lo > 0 or hi < 0:
    return "agrees" if (lo > 0) == (sign > 0) else "opposite sign"
  return "no measurable difference"


def figure3_markdown(results: Mapping[str, Any]) -> str:
  """The Swiss-roll part of ``docs/results/reproductions.md``."""
  recs = results["records"]
  cfg = results["config"]
  n = cfg["num_test"]
  out = [
      "## Berman et al. 2025, Figure 3: Swiss rolls", "",
      f"Generated by `python experiments/swiss_roll.py "
      f"--config=configs/swiss_roll.py:{results['preset']}` "
      f"({results['seconds'] / 60:.1f} min on 2 shared CPU cores). "
      f"Preset `{results['preset']}`: width {_width(cfg['hidden_sizes'])}, "
      f"at most "
      f"{cfg['num_steps']} steps, patience {cfg['patience']} x "
      f"{cfg['eval_every']} steps on the validation 0-1 error, "
      f"{len(cfg['seeds'])} seeds, {n} test points. Deviations from the "
      f"protocol: {cfg.get('deviations', 'not recorded')}"
      + "".join(f" {m['records']} records are from another run, "
                f"`{m['source']}` ({m['seconds'] / 60:.1f} min, same "
                "config but its cells), merged by `--merge`."
                for m in results.get("merged", [])), "",
      "![Figure 3](swiss_roll.png)", "",
      "| model | cr | accuracy | ceiling | test ceiling | ECE (100 bins) |"
      " ECE (15 bins) | calibrated ECE (100) | Prop 1 | Cor 1 | Thm 5 | stop |"
      " steps (best) |", "|---" * 13 + "|"]
  fmt = lambda v: "n/a" if v is None else f"{v:.3f}"
  for model in ("mlp", "invariant"):
    for r in _rows(recs, model=model):
      b = r["bounds"]
      stops = {s: r["stop_reason"].count(s) for s in set(r["stop_reason"])}
      out.append(
          f"| {model} | {r['correct_ratio']:.3f} | {r['accuracy_mean']:.3f}"
          f" ± {r['accuracy_sem']:.3f} | {r['ceiling']:.3f} | "
          f"{r['test_ceiling']:.3f} | "
          f"{r['ece_mean']:.3f} ± {r['ece_sem']:.3f} | "
          f"{r['ece15_mean']:.3f} ± {r['ece15_sem']:.3f} | "
          f"{r['ece_null_mean']:.3f} | {fmt(b['prop1_ece_upper'])} | "
          f"{fmt(b['cor1_ece_upper'])} | {fmt(b['thm5_ece_lower'])} | "
          f"{', '.join(f'{k} {v}' for k, v in sorted(stops.items()))} | "
          f"{_span(r, 'steps_trained')} ({_span(r, 'best_step')}) |")
  out += ["", "ceiling = 1 - icr/2 (population); test ceiling = 1 - Thm 1 "
          "on the orbit closure of the test set (each test point and its "
          "swap partner). The 200 sampled test points are not orbit-closed, "
          "so an invariant net's accuracy on them can exceed either ceiling "
          "by sampling noise. Bounds: `finite_orbit_bounds` on the orbit "
          "closure, 15-bin fibres, seed means; n/a = an assumption fails "
          "(the MLP is not invariant).",
          "", "### Against the paper's reported trend", "",
          "| claim (paper) | here: change from the lowest to the highest "
          "correct ratio, 95% CI | verdict |", "|---|---|---|"]
  inv, mlp = _rows(recs, model="invariant"), _rows(recs, model="mlp")
  claims = (("invariant accuracy rises", inv, "accuracy", +1),
            ("invariant ECE falls", inv, "ece", -1),
            ("MLP accuracy roughly flat", mlp, "accuracy", 0),
            ("MLP ECE roughly flat", mlp, "ece", 0))
  for text, rows, key, sign in claims:
    if len(rows) < 2:
      continue
    d, lo, hi = _diff(rows[0], rows[-1], key)
    verdict = (_verdict(lo, hi, sign) if sign else
               ("agrees (no measurable change)" if lo <= 0 <= hi
                else "changes"))
    out.append(f"| {text} | {d:+.3f} [{lo:+.3f}, {hi:+.3f}] | {verdict} |")
  if inv:
    low = inv[0]
    out += ["", f"At the lowest correct ratio ({low['correct_ratio']:.3f}) "
            f"the invariant net has accuracy {low['accuracy_mean']:.3f} "
            f"(paper: below about 0.70) and 100-bin ECE "
            f"{low['ece_mean']:.3f} (paper: up to about 0.25)."]
  half = _statements.proposition6_half_width(n, 0.05)
  nulls = [r["ece_null_mean"] for r in recs if r["enn"] == "base"] or [
      math.nan]  # No base cells: an ENN-only run, merged later.
  out += ["", "**Estimator noise.** With "
          f"{n} test points and 100 bins most bins hold one or two points: "
          "a perfectly calibrated model with the trained models' "
          f"confidences has a 100-bin ECE of {min(nulls):.3f} to "
          f"{max(nulls):.3f} on average (column 'calibrated ECE'), and the "
          f"Hoeffding half-width of Proposition 6 at delta = 0.05 is "
          f"{half:.3f}. ECE differences below that are not resolved by this "
          "estimator; the 15-bin column is less biased."]
  enn_rows = [r for r in recs if r["enn"] != "base"]
  if enn_rows:
    e = enn_rows[0]
    out += ["", "### Does the mutual information flag the incorrect "
            "symmetry?", "",
            "Mean MI on incorrect-orbit minus correct-orbit test points "
            "(orbit closure), over seeds, 95% t-interval; a cell with a seed "
            "stopped at the step ceiling is 'not converged' and draws no "
            "conclusion. ENNs: width "
            f"{_width(cfg.get('enn_hidden_sizes'))}, at most "
            f"{cfg.get('enn_num_steps')} steps, patience "
            f"{cfg.get('enn_patience')} x {cfg['eval_every']} steps, "
            f"{len(e['stop_reason'])} seeds.", "",
            "| ENN | model | cr | MI incorrect | MI correct | difference | "
            "flags? | stop | steps (best) |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(enn_rows, key=lambda r: (r["enn"], r["model"],
                                             r["correct_ratio"])):
      inc, cor = r["mi_incorrect"], r["mi_correct"]
      if not inc or not cor:
        out.append(f"| {r['enn']} | {r['model']} | {r['correct_ratio']:.3f}"
                   " | - | - | - | no orbits of one kind |")
        continue
      d = np.asarray(inc) - np.asarray(cor)
      h = _t95(len(d)) * d.std(ddof=1) / math.sqrt(len(d)) if len(d) > 1 \
          else 0.0
      flag = ("yes" if d.mean() - h > 0 else
              "no (lower)" if d.mean() + h < 0 else "no measurable difference")
      if "max_steps" in r["stop_reason"]:
        flag = "not converged"
      stops = {s: r["stop_reason"].count(s) for s in set(r["stop_reason"])}
      out.append(f"| {r['enn']} | {r['model']} | {r['correct_ratio']:.3f} |"
                 f" {np.mean(inc):.4f} | {np.mean(cor):.4f} | "
                 f"{d.mean():+.4f} ± {h:.4f} | {flag} | "
                 f"{', '.join(f'{k} {v}' for k, v in sorted(stops.items()))}"
                 f" | {_span(r, 'steps_trained')} ({_span(r, 'best_step')}) |")
  return "\n".join(out) + "\n"


def _width(sizes) -> str:
  """Hidden sizes as ``512-512`` (tuple or, from JSON, list)."""
  return "-".join(str(v) for v in sizes) if sizes else "not recorded"


def _span(r, key: str) -> str:
  """``min-max`` of a per-seed list of a record (``-`` if absent)."""
  v = r.get(key)
  return f"{min(v)}-{max(v)}" if v else "-"


def _t95(n: int) -> float:
  from scipy import stats  # pylint: disable=g-import-not-at-top
  return float(stats.t.ppf(0.975, n - 1))
