"""Per-example probes of trained sweep cells (the symmetry experiments'
shared analysis): test predictions of a finished cell, predictive
uncertainty per example, class-pair probes (6 vs 9, chiral pairs), the
invariant nearest-neighbour ceiling, the forward cost of a model.

Predictions come from the engine's ``Trainer.predict``: logits ``[S, K, N,
C]`` (seeds, indices, examples, classes).
"""

from __future__ import annotations

import time
from typing import Mapping, Sequence

import jax
import numpy as np

from enn_sym.train import _config
from enn_sym.train import _models


def predict_cell(sweep, workdir: str, cell, kind: str, split: str = "test"
                 ) -> dict:
  """``{"logits": [S, K, N, C], "labels": [N], "seeds": [S]}`` of model
  ``kind`` of a finished ``cell`` of ``sweep`` run in ``workdir`` (the
  engine's ``Trainer.predict``: the best validation checkpoint with early
  stopping)."""
  from enn_sym.train import _trainer  # pylint: disable=g-import-not-at-top
  if "seeds" not in cell.config:
    raise _config.ConfigError(
        f"{cell.name}: predictions need the engine's config.seeds (a cell "
        f"trained one run per seed by a custom train_fn cannot be restored).")
  trainer = _trainer.Trainer(sweep._run_config(cell),  # pylint: disable=protected-access
                             sweep.cell_dir(workdir, cell))
  out = trainer.predict(split, kind)
  return {"logits": np.asarray(out["logits"]),
          "labels": np.asarray(out["labels"]), "seeds": list(sweep.seeds)}


def predictive_uncertainty(logits: np.ndarray) -> dict:
  """Per-example uncertainty of an ENN's logits ``[..., K, N, C]``.

  Returns ``total`` (entropy of the mean predictive), ``aleatoric``
  (expected entropy), ``mutual_info`` (their difference, the epistemic
  part), ``spread`` (standard deviation over the K indices of the
  probability of the class the mean predictive picks), all ``[..., N]``,
  and ``mean`` (the mean predictive ``[..., N, C]``).
  """
  logits = np.asarray(logits, np.float64)
  z = logits - logits.max(-1, keepdims=True)
  probs = np.exp(z)
  probs /= probs.sum(-1, keepdims=True)
  mean = probs.mean(-3)
  ent = lambda p: -np.sum(p * np.log(np.clip(p, 1e-300, None)), -1)
  total, aleatoric = ent(mean), ent(probs).mean(-2)
  pred = mean.argmax(-1)
  picked = np.take_along_axis(probs, pred[..., None, :, None], -1)[..., 0]
  return {"total": total, "aleatoric": aleatoric,
          "mutual_info": np.maximum(total - aleatoric, 0.0),
          "spread": picked.std(-2), "mean": mean}


def class_probe(logits: np.ndarray, labels: np.ndarray,
                classes: Sequence[int]) -> dict[str, list[float]]:
  """Per-seed accuracy and uncertainty on ``classes`` against the others.

  Args:
    logits: ``[S, K, N, C]``.
    labels: ``[N]``.
    classes: the probed classes, e.g. ``(6, 9)``; with two classes the swap
      rate (a probed example predicted as the other probed class) is given.

  Returns:
    ``{metric: [value per seed]}``: ``acc_in`` / ``acc_out``, ``swap_rate``,
    and for ``mutual_info``, ``spread`` and ``aleatoric`` the means on the
    probed (``_in``) and other (``_out``) examples and their difference
    ``<name>_diff = in - out`` (paired within a seed, so its interval across
    seeds says whether the probed classes are more uncertain).
  """
  labels = np.asarray(labels)
  inside = np.isin(labels, classes)
  if not inside.any() or inside.all():
    raise ValueError(f"class_probe: the labels must hold both classes "
                     f"{tuple(classes)} and others.")
  u = predictive_uncertainty(logits)
  pred = u["mean"].argmax(-1)
  out: dict[str, list[float]] = {}

  def add(name, values):
    out.setdefault(name, []).extend(float(v) for v in values)

  correct = pred == labels
  add("acc_in", correct[:, inside].mean(-1))
  add("acc_out", correct[:, ~inside].mean(-1))
  if len(classes) == 2:
    a, b = classes
    swapped = ((labels == a) & (pred == b)) | ((labels == b) & (pred == a))
    add("swap_rate", swapped[:, inside].mean(-1))
  for name in ("mutual_info", "spread", "aleatoric"):
    v_in, v_out = u[name][:, inside].mean(-1), u[name][:, ~inside].mean(-1)
    add(f"{name}_in", v_in)
    add(f"{name}_out", v_out)
    add(f"{name}_diff", v_in - v_out)
  return out


def load_splits(config) -> dict[str, dict[str, np.ndarray]]:
  """The splits of a config as arrays (after the config's rotation)."""
  from enn_sym.train import _data  # pylint: disable=g-import-not-at-top
  splits = _data.RunData(config).splits
  return {k: s.get_batch(np.arange(len(s))) for k, s in splits.items()}


def nearest_neighbour_ceiling(config, classes: Sequence[int] = (6, 9)
                              ) -> dict[str, float]:
  """How separable ``classes`` stay under a 180-degree turn: test accuracy
  on them of the 1-NN rule with the plain and the C2-invariant distance
  ``min_g |x - g y|`` to the training examples of ``classes``, and the
  idealised invariant ceiling ``max(n_a, n_b) / (n_a + n_b)``."""
  splits = load_splits(config)
  pick = lambda s: {k: v[np.isin(s["label"], classes)] for k, v in s.items()}
  train, test = pick(splits["train"]), pick(splits["test"])
  flat = lambda x: np.asarray(x, np.float64).reshape(len(x), -1)
  a, b = flat(test["image"]), flat(train["image"])
  sq = lambda a, b: (a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2 * a @ b.T
  dist = sq(a, b)
  turned = sq(a, flat(np.asarray(train["image"])[:, ::-1, ::-1]))
  nn = lambda d: float(np.mean(train["label"][np.argmin(d, 1)] ==
                               test["label"]))
  counts = [int(np.sum(test["label"] == c)) for c in classes]
  return {"ceiling_ideal": max(counts) / max(1, sum(counts)),
          "nn_plain": nn(dist), "nn_invariant": nn(np.minimum(dist, turned)),
          **{f"n_test_{c}": n for c, n in zip(classes, counts)}}


def forward_cost(config, kind: str, batch_size: int = 128, repeats: int = 5
                 ) -> float:
  """Microseconds per example of the jitted evaluation forward pass
  (``apply_multi`` with the evaluation indices) of model ``kind``."""
  spec = _models.make_model(kind, config, _config.NUM_CLASSES[config.data.name])
  shape = tuple(input_shape(config))
  key = jax.random.key(int(config.seed))
  k_init, k_index, k_zs, k_x = jax.random.split(key, 4)
  variables = jax.jit(spec.enn.init)(
      k_init, _models.example_input(shape), spec.enn.indexer(k_index))
  zs = spec.eval_indices(k_zs)
  x = jax.random.normal(k_x, (batch_size,) + shape)
  forward = jax.jit(lambda v, x, zs: spec.enn.apply_multi(v, x, zs).preds)
  forward(variables, x, zs).block_until_ready()  # Compile.
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    forward(variables, x, zs).block_until_ready()
    best = min(best, time.perf_counter() - start)
  return 1e6 * best / batch_size


def input_shape(config) -> tuple[int, ...]:
  """The model input shape of one example of a config's data."""
  from enn_sym.train import _data  # pylint: disable=g-import-not-at-top
  return tuple(_data.RunData(config).image_shape)


def probe_cells(sweep, workdir: str, results: Mapping, classes: Sequence[int],
                cells: Sequence[str] | None = None,
                predictions: Mapping | None = None) -> dict:
  """:func:`class_probe` of every finished cell (or of ``cells``) and
  model: ``{cell: {model: {metric: {"per_seed", "mean", "ci95"}}}}``
  (``predictions[(cell, model)]``, where given, instead of predicting)."""
  from enn_sym.train import _sweep_report  # pylint: disable=g-import-not-at-top
  out = {}
  for name in (cells if cells is not None else results["cells"]):
    if name not in results["cells"]:
      continue
    cell = sweep.cell(name)
    out[name] = {}
    for kind in cell.config.models:
      pred = (predictions or {}).get((name, kind))
      if pred is None:
        pred = predict_cell(sweep, workdir, cell, kind)
      probe = class_probe(pred["logits"], pred["labels"], classes)
      out[name][kind] = {}
      for metric, values in probe.items():
        mean, lo, hi = _sweep_report.mean_ci(values)
        out[name][kind][metric] = {"per_seed": values, "mean": mean,
                                   "ci95": [lo, hi], "seeds": pred["seeds"]}
  return out



def probe_table(probes: Mapping, metrics: Sequence[str]) -> str:
  """Markdown: one row per probed cell and model, ``metrics`` of
  :func:`probe_cells` as ``mean [95% CI]``."""
  from enn_sym.train import _sweep_report  # pylint: disable=g-import-not-at-top
  header = ["cell", "model", "seeds"] + list(metrics)
  lines = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" for _ in header) + "|"]
  for name, models in probes.items():
    for kind, p in models.items():
      row = [name, kind, str(len(next(iter(p.values()))["per_seed"]))]
      row += [_sweep_report.format_ci(p[m]["mean"], p[m]["ci95"])
              if m in p else "-" for m in metrics]
      lines.append("| " + " | ".join(row) + " |")
  return "\n".join(lines)


def probe_conclusions(sweep, probes: Mapping, axis: str, reference: str,
                      metrics: Sequence[str] = ("mutual_info_diff",
                                                "spread_diff")) -> list[dict]:
  """Does uncertainty rise on the probed classes? Per probed cell and model,
  for each ``*_diff`` metric (probed minus other examples, paired within a
  seed): its interval and conclusion (``rises`` / ``falls`` / no measurable
  difference), and the paired difference against the reference cell (same
  levels but ``axis = reference``) with its conclusion (``higher`` /
  ``lower`` than the reference)."""
  from enn_sym.train import _sweep_report as rep  # pylint: disable=g-import-not-at-top
  by_levels = {tuple(sorted(sweep.cell(n).levels.items())): n for n in probes}
  rows = []
  for name, models in probes.items():
    levels = dict(sweep.cell(name).levels)
    ref_name = by_levels.get(tuple(sorted(dict(
        levels, **{axis: reference}).items())))
    for kind, p in models.items():
      for metric in metrics:
        own = p[metric]
        row = {"cell": name, "model": kind, "metric": metric,
               "mean": own["mean"], "ci95": own["ci95"],
               "n": len(own["per_seed"]),
               "conclusion": rep.conclusion(own["ci95"], len(own["per_seed"]),
                                            lower="falls", higher="rises")}
        ref = probes.get(ref_name, {}).get(kind, {}).get(metric)
        if ref is not None and ref_name != name:
          d = rep.paired_difference(own["per_seed"], own["seeds"],
                                    ref["per_seed"], ref["seeds"])
          row.update(vs_reference=d, vs_reference_conclusion=rep.conclusion(
              d["ci95"], d["n"], lower="lower", higher="higher"))
        rows.append(row)
  return rows


def conclusions_table(rows: Sequence[Mapping]) -> str:
  """Markdown of :func:`probe_conclusions` rows."""
  from enn_sym.train import _sweep_report as rep  # pylint: disable=g-import-not-at-top
  header = ["cell", "model", "probed minus other", "95% CI", "n",
            "on the probed classes", "minus reference", "vs reference"]
  lines = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" for _ in header) + "|"]
  for r in rows:
    d = r.get("vs_reference")
    lines.append("| " + " | ".join([
        r["cell"], r["model"], r["metric"], rep.format_ci(r["mean"], r["ci95"],
                                                          4),
        str(r["n"]), r["conclusion"],
        rep.format_ci(d["mean"], d["ci95"], 4) if d else "-",
        r.get("vs_reference_conclusion", "-")]) + " |")
  return "\n".join(lines)


def reliability_grid(path: str, entries: Sequence[tuple], num_bins: int = 15
                     ) -> None:
  """Reliability diagrams, one panel per ``(title, logits [S, K, N, C],
  labels [N])`` entry: accuracy against confidence of the mean predictive
  in ``num_bins`` equal-width bins, the examples of all seeds pooled, with
  the pooled ECE in the title."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  ncols = min(4, max(1, len(entries)))
  nrows = -(-len(entries) // ncols)
  fig, grid = plt.subplots(nrows, ncols, figsize=(3 * ncols, 3 * nrows),
                           squeeze=False)
  edges = np.linspace(0.0, 1.0, num_bins + 1)
  for i, (title, logits, labels) in enumerate(entries):
    ax = grid[i // ncols][i % ncols]
    mean = predictive_uncertainty(logits)["mean"]  # [S, N, C]
    conf, pred = mean.max(-1).ravel(), mean.argmax(-1)
    correct = (pred == np.asarray(labels)[None]).ravel()
    bins = np.clip(np.digitize(conf, edges[1:-1]), 0, num_bins - 1)
    count = np.bincount(bins, minlength=num_bins)
    acc = np.bincount(bins, correct, num_bins) / np.maximum(count, 1)
    cmean = np.bincount(bins, conf, num_bins) / np.maximum(count, 1)
    ece = float(np.sum(count * np.abs(acc - cmean)) / max(count.sum(), 1))
    filled = count > 0
    centres = (edges[:-1] + edges[1:]) / 2
    ax.bar(centres[filled], acc[filled], width=1 / num_bins, edgecolor="k",
           color="tab:blue")
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set_title(f"{title}\nECE {ece:.3f} (seeds pooled)", fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
  for i in range(len(entries), nrows * ncols):
    grid[i // ncols][i % ncols].axis("off")
  fig.supxlabel("confidence")
  fig.supylabel("accuracy")
  fig.tight_layout()
  fig.savefig(path, dpi=80)
  plt.close(fig)


def passing_claims(differences: Sequence[Mapping],
                   probe_rows: Sequence[Mapping] = ()) -> list[str]:
  """Markdown bullets of the conclusions that pass the CI rule: the
  :func:`enn_sym.train.compare` rows that lower or raise a metric, and the
  :func:`probe_conclusions` rows whose signal rises or falls on the probed
  classes or differs from the reference."""
  from enn_sym.train import _sweep_report as rep  # pylint: disable=g-import-not-at-top
  skip = ("metric", "mean", "ci95", "n", "seeds", "conclusion", "model")
  out = [f"- {', '.join(str(v) for k, v in d.items() if k not in skip)}: "
         f"{d['conclusion']} {d['metric']} by "
         f"{rep.format_ci(d['mean'], d['ci95'], 4)} (n = {d['n']} seeds)"
         for d in differences if d["conclusion"] in ("lowers", "raises")]
  for r in probe_rows:
    own = r["conclusion"] in ("rises", "falls")
    ref = r.get("vs_reference_conclusion") in ("higher", "lower")
    if own or ref:
      out.append(f"- {r['cell']} ({r['model']}): {r['metric']} "
                 f"{rep.format_ci(r['mean'], r['ci95'], 4)}, "
                 f"{r['conclusion']} on the probed classes; vs the "
                 f"reference: {r.get('vs_reference_conclusion', '-')}")
  return out
