r"""Berman et al. 2025's bounds on trained invariant and plain ensembles.

  python experiments/bounds.py --workdir workdir/bounds

Swiss rolls (binary; invariant = an MLP on ``(x, y)``) and a 3-class C3
circle task whose orbits carry all three labels (invariant = an MLP on
``(cos 3t, sin 3t)``); deep ensembles trained with
``enn_sym.train.fit_seeds``; confidences ``mean`` (top of the mean
predictive) and ``lower`` (least member probability of the predicted label).
Per run: every bound of ``enn_sym.bounds.finite_orbit_bounds`` (15 bins),
its gap to the measured ECE, non-vacuity, and whether plain models beat the
invariant ceiling. Writes ``results.json`` and ``results.md``.
"""

from __future__ import annotations

import json
import os
import time

from absl import app
from enn_sym import cli  # pylint: disable=g-bad-import-order
from absl import flags
import jax
import numpy as np
import optax

from enn_sym import bounds
from enn_sym import data
from enn_sym import losses
from enn_sym import networks
from enn_sym.train import fit_seeds

_HERE = os.path.dirname(os.path.abspath(__file__))


def tasks(cfg):
  """``(name, splits, invariant feature map, num_classes)`` per setting."""
  drop_z = lambda x: x[:, :2]
  for k, (c, i) in enumerate(cfg.swiss_sweep):
    make = lambda n, s: data.swiss_roll_task(
        n, c, i, noise=cfg.noise, seed=cfg.data_seed + 10 * k + s)
    yield (f"swiss c={c:g} i={i:g}", {"train": make(cfg.num_train, 0),
           "val": make(cfg.num_val, 1), "test": make(cfg.num_test, 2)},
           drop_z, 2)
  if not cfg.circle:
    return
  feats = lambda x: np.round(np.asarray(
      bounds.rotation_invariant_features(x, 3), np.float64), 5)
  splits = {name: bounds.rotation_orbit_task(n, 3, (0, 1, 2),
                                             seed=cfg.data_seed + s)
            for s, (name, n) in enumerate(zip(("train", "val", "test"),
                                              cfg.circle_orbits))}
  yield "circle C3, 3 classes", splits, feats, 3


def train_and_predict(cfg, splits, features, num_classes):
  """Trains one ensemble per seed; returns test logit stacks [S, K, N, C]."""
  prep = lambda s: {"image": np.asarray(features(s.x), np.float32),
                    "label": np.asarray(s.labels, np.int32)}
  train, val, test = (prep(splits[k]) for k in ("train", "val", "test"))
  enn = networks.make_ensemble(networks.MLP(num_classes, cfg.hidden_sizes),
                               num_classes=num_classes,
                               num_ensemble=cfg.num_ensemble)
  zs = networks.ensemble_member_indices(cfg.num_ensemble)
  loss = losses.make_enn_loss(enn, losses.make_loss("ce"), fixed_indices=zs)
  init = lambda k: losses.split_variables(
      enn.init(k, train["image"][:1], enn.indexer(k)))
  fit = fit_seeds(init, loss, train, cfg.seeds,
                  optimizer=optax.adam(cfg.learning_rate),
                  num_steps=cfg.num_steps, batch_size=cfg.batch_size,
                  eval_every=cfg.eval_every, validation=val,
                  patience=cfg.patience)
  apply = jax.jit(lambda v, x: enn.apply_multi(v, x, zs).preds)
  stacks = [np.asarray(apply({**s, "params": p}, test["image"]))
            for p, s in (fit.seed(i) for i in range(len(cfg.seeds)))]
  return np.stack(stacks), fit.stop_reason


def run(cfg, workdir: str) -> dict:
  """Runs every setting and model; writes results.json and results.md."""
  start, records = time.time(), []  # One record per setting/model/readout.
  for name, splits, feats, num_classes in tasks(cfg):
    test = splits["test"]
    ceiling = 1.0 - bounds.error_lower_bound(test.orbit_ids, test.labels,
                                             num_classes)
    for model, fmap in (("invariant", feats), ("plain", lambda x: x)):
      stacks, stops = train_and_predict(cfg, splits, fmap, num_classes)
      for readout in ("mean", "lower"):
        runs, eces, accs = [], [], []
        for stack in stacks:
          out = bounds.ensemble_readouts(stack)
          b = bounds.finite_orbit_bounds(
              test.labels, test.orbit_ids, out[readout], out["pred"],
              num_classes=num_classes, fibres=cfg.num_bins)
          accs.append(float(np.mean(out["pred"] == test.labels)))
          runs.append(bounds.bound_gaps(b, 1.0 - accs[-1]))
          eces.append(b["ece"])
        records.append({
            "setting": name, "model": model, "readout": readout,
            "accuracy": accs, "ece": eces, "ceiling": ceiling,
            "above_ceiling": [a > ceiling + 1e-9 for a in accs],
            "stop_reason": stops, "runs": runs,
            "summary": bounds.summarize_gaps(runs),
            "not_applicable": b["not_applicable"]})
  results = {"records": records, "seconds": time.time() - start}
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, "results.json"), "w") as f:
    json.dump(results, f, indent=1)
  table = markdown(records)
  with open(os.path.join(workdir, "results.md"), "w") as f:
    f.write(table + "\n")
  print(table, flush=True)
  return results


def markdown(records) -> str:
  """One row per setting, model and read-out: each bound as value (gap)."""
  keys = ("prop1_ece_upper", "thm4_ece_upper", "cor1_ece_upper",
          "cor2_ece_upper", "thm5_ece_lower", "prop4_ece_lower",
          "thm1_error_lower")
  head = ["setting", "model", "conf", "acc", "ceiling", "ece"] + list(keys)
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for r in records:
    cells = [r["setting"], r["model"], r["readout"],
             f"{np.mean(r['accuracy']):.3f}", f"{r['ceiling']:.3f}",
             f"{np.mean(r['ece']):.3f}"]
    for k in keys:
      s = r["summary"][k]
      cells.append("n/a" if not s["applies"] else
                   f"{s['value_mean']:.3g} ({s['gap_mean']:+.3g})"
                   + ("" if s["non_vacuous"] else " vac.")
                   + ("" if s["applies"] == 1 else f" [{s['applies']:.0%}]"))
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  run(_CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
  _CONFIG = cli.define_config_file(
      "config", os.path.join(_HERE, "..", "configs", "bounds.py"),
      "Path to the experiment config file.")
  _WORKDIR = flags.DEFINE_string("workdir", os.path.join("workdir", "bounds"),
                                 "Output directory.")
  app.run(main, flags_parser=cli.parse_flags)
