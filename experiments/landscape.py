r"""Loss landscapes of a calibration objective: equivariant vs unconstrained.

  python experiments/landscape.py --workdir workdir/landscape

On SO(3)-rotated 3D tetris shapes (an SO(3)-invariant task), for an
unconstrained MLP, an SO(3)-equivariant VN-MLP (invariant readout) and an
MLP averaged over a fixed sample of SO(3) rotations, of similar parameter
counts, this script

1. trains ``sampling.num_samples`` networks per model from different seeds in
   one vmapped run (``enn_sym.landscape.sample_minima``) on the objective
   ``smooth ECE + mu * relu(NLL - tau)^2``;
2. searches paths between all pairs of minima: linear interpolation and a
   Bezier curve with the endpoints fixed, and, for the dense-ReLU models, the
   same after the permutation + rescaling quotient;
3. builds the saddle dendrogram, i.e. the number of components at every
   level ``c``, with linear paths only and with curves.

Component counts are upper bounds on the number of components the samples
occupy: a path that was not found is not a proof of disconnection.

Writes ``results.json``, ``results.md``, ``components_vs_level.png`` and
``barriers.png`` to ``--workdir``.
"""

from __future__ import annotations

import json
import os
import time

from absl import app
from enn_sym import cli  # pylint: disable=g-bad-import-order
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from enn_sym import data
from enn_sym import landscape as ls
from enn_sym import networks
from enn_sym import symmetry

_HERE = os.path.dirname(os.path.abspath(__file__))


def make_task(config):
  """``(inputs [n, P, 3], labels [n])`` of the training set."""
  ds = data.tetris_dataset(config.data.num_per_class, seed=config.data.seed,
                           rotate=config.data.rotate, noise=config.data.noise)
  return jnp.asarray(ds.points), jnp.asarray(ds.labels)


def make_module(config, name: str):
  """The linen module of model ``name``."""
  mlp = networks.MLP(8, hidden_sizes=(config.mlp_hidden,))
  if name == "mlp":
    return mlp
  if name == "vn_mlp":
    return symmetry.VNMLPClassifier(8, hidden=tuple(config.vn_hidden),
                                    head_hidden=tuple(config.vn_head_hidden))
  if name == "ga_mlp":
    return symmetry.GroupAveraged(mlp, symmetry.SO3(),
                                  num_samples=config.ga_num_samples)
  raise ValueError(f"unknown model {name!r}; use mlp, vn_mlp or ga_mlp.")


def make_objective(config, flat: ls.FlatModel, inputs, labels):
  o = config.objective
  return ls.make_objective(flat.apply, inputs, labels,
                           calibration=o.calibration, nll_bound=o.nll_bound,
                           nll_penalty=o.nll_penalty, nll_weight=o.nll_weight,
                           bandwidth=o.bandwidth, grid_size=o.grid_size)


def analyze(config, objective, minima, align=None, key=None):
  p = config.paths
  return ls.analyze_connectivity(
      objective.loss, minima, key=key, curves=p.curves,
      num_bends=p.num_bends, curve_steps=p.curve_steps,
      curve_learning_rate=p.curve_learning_rate, num_t=p.num_t,
      init_noise=p.init_noise, num_points=p.num_points,
      num_refine=p.num_refine, align=align,
      report_fn=objective.report if p.report_points else None,
      report_points=max(p.report_points, 2), batch_size=p.batch_size)


def _stats(x):
  x = np.asarray(x, np.float64)
  x = x[np.isfinite(x)]
  if not x.size:
    return {"median": float("nan"), "min": float("nan"), "max": float("nan")}
  return {"median": float(np.median(x)), "min": float(x.min()),
          "max": float(x.max())}


def summarize(res: ls.ConnectivityResult, levels, table_levels) -> dict:
  """JSON-ready summary of one analysis."""
  out = {
      "num_minima": int(res.heights.size),
      "heights": res.heights.tolist(),
      "linear_barrier": _stats(res.linear_barrier),
      "curve_barrier": _stats(res.curve_barrier),
      "linear_barriers": res.linear_barrier.tolist(),
      "curve_barriers": res.curve_barrier.tolist(),
      "levels": np.asarray(levels).tolist(),
      "components_linear": res.linear.num_components(levels).tolist(),
      "components_curve": res.combined.num_components(levels).tolist(),
      "table_components_linear": res.linear.num_components(
          table_levels).tolist(),
      "table_components_curve": res.combined.num_components(
          table_levels).tolist(),
      "merge_heights_curve": res.combined.weights.tolist(),
      "timings": res.timings,
  }
  for kind, rep in res.path_reports.items():
    out[f"{kind}_path_max_hard_ece"] = _stats(rep["hard_ece"])
  return out


def run(config, workdir: str) -> dict:
  """Runs the experiment; returns and writes the results."""
  os.makedirs(workdir, exist_ok=True)
  inputs, labels = make_task(config)
  key = jax.random.key(config.seed)
  results = {"config": config.to_dict(), "models": {}}
  analyses = {}
  for m, name in enumerate(config.models):
    start = time.perf_counter()
    flat = ls.flatten_module(make_module(config, name), inputs)
    objective = make_objective(config, flat, inputs, labels)
    s = config.sampling
    sample_key, path_key = jax.random.split(jax.random.fold_in(key, m))
    minima = ls.sample_minima(objective.loss, flat.init, sample_key,
                              s.num_samples, num_steps=s.num_steps,
                              learning_rate=s.learning_rate)
    rep = jax.vmap(objective.report)(jnp.asarray(minima.params))
    sample_time = time.perf_counter() - start
    quotients = [("none", None)]
    if name in config.quotient_models:
      quotients.append(("perm+rescale", ls.make_aligner(flat.unravel)))
    for qname, align in quotients:
      start = time.perf_counter()
      res = analyze(config, objective, minima.params, align, path_key)
      analyses[(name, qname)] = res
      entry = {"model": name, "quotient": qname, "num_params": flat.size,
               "sample_seconds": sample_time,
               "analysis_seconds": time.perf_counter() - start,
               "minima_report": {k: _stats(v) for k, v in rep.items()}}
      levels = _levels(config, res)
      entry.update(summarize(res, levels, config.table_levels))
      results["models"][f"{name}/{qname}"] = entry
      print(f"{name}/{qname}: {entry['num_minima']} minima, analysis "
            f"{entry['analysis_seconds']:.1f}s", flush=True)
  table = markdown_table(results, config.table_levels)
  results["table"] = table
  with open(os.path.join(workdir, "results.json"), "w") as f:
    json.dump(results, f, indent=1)
  with open(os.path.join(workdir, "results.md"), "w") as f:
    f.write(table + "\n")
  plot_components(os.path.join(workdir, "components_vs_level.png"), results)
  plot_barriers(os.path.join(workdir, "barriers.png"), results)
  print(table)
  return results


def _levels(config, res):
  lo = max(float(res.heights.min()) * 0.9, 1e-6)
  finite = np.concatenate([res.combined.weights, res.linear.weights,
                           res.heights])
  hi = max(float(np.max(finite)) * 1.1, lo * 10)
  return np.geomspace(lo, hi, config.num_levels)


def markdown_table(results, table_levels) -> str:
  """The README table: one row per model and quotient."""
  head = ["model", "quotient", "params", "minima", "loss min", "NLL med",
          "hard ECE med", "lin. barrier med", "curve barrier med",
          "curve max hard ECE med"]
  head += [f"#comp c={c:g} (lin/curve)" for c in table_levels]
  rows = ["| " + " | ".join(head) + " |",
          "|" + "---|" * len(head)]
  for entry in results["models"].values():
    rep = entry["minima_report"]
    cells = [entry["model"], entry["quotient"], str(entry["num_params"]),
             str(entry["num_minima"]), f"{min(entry['heights']):.4f}",
             f"{rep['nll']['median']:.3f}",
             f"{rep['hard_ece']['median']:.3f}",
             f"{entry['linear_barrier']['median']:.3g}",
             f"{entry['curve_barrier']['median']:.3g}",
             f"{_curve_hard_ece(entry):.3f}"]
    cells += [f"{a}/{b}" for a, b in zip(entry["table_components_linear"],
                                          entry["table_components_curve"])]
    rows.append("| " + " | ".join(cells) + " |")
  return "\n".join(rows)


def _curve_hard_ece(entry) -> float:
  return entry.get("curve_path_max_hard_ece", {}).get("median", float("nan"))


def _pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def plot_components(path: str, results: dict) -> None:
  """Number of components vs level c (solid: with curves, dashed: linear)."""
  plt = _pyplot()
  fig, ax = plt.subplots(figsize=(6, 4))
  for i, (label, e) in enumerate(results["models"].items()):
    color = f"C{i}"
    ax.step(e["levels"], e["components_curve"], where="post", color=color,
            label=f"{label} (curves)")
    ax.step(e["levels"], e["components_linear"], where="post", color=color,
            ls="--", alpha=0.6)
  ax.set_xscale("log")
  ax.set_xlabel("level c")
  ax.set_ylabel("#components (upper bound)")
  ax.set_title("Components of {L <= c} among sampled minima\n"
               "(solid: linear or Bezier paths; dashed: linear only)",
               fontsize=9)
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def plot_barriers(path: str, results: dict) -> None:
  """Barrier heights per pair: linear vs Bezier, per model and quotient."""
  plt = _pyplot()
  labels = list(results["models"])
  fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(labels)), 4))
  data_, ticks = [], []
  for label in labels:
    e = results["models"][label]
    for kind in ("linear", "curve"):
      v = np.asarray(e[f"{kind}_barriers"], np.float64)
      data_.append(np.maximum(v[np.isfinite(v)], 1e-6))
      ticks.append(f"{label}\n{kind}")
  ax.boxplot(data_, showfliers=True)
  ax.set_xticks(np.arange(1, len(ticks) + 1), ticks, fontsize=6)
  ax.set_yscale("log")
  ax.set_ylabel("barrier = max along path - max endpoint loss")
  ax.set_title("Barrier heights over all pairs of minima", fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  run(_CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
  _CONFIG = cli.define_config_file(
      "config", os.path.join(_HERE, "..", "configs", "landscape.py"),
      "Path to the experiment config file.")
  _WORKDIR = flags.DEFINE_string("workdir", os.path.join("workdir",
                                                         "landscape"),
                                 "Output directory.")
  app.run(main, flags_parser=cli.parse_flags)
