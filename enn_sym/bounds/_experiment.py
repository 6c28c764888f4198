r"""The bounds experiment: invariant vs unconstrained ENNs on the Swiss roll.

For each ``(correct, incorrect)`` symmetry fraction of
:func:`enn_sym.data.swiss_roll_task` (the rest extrinsic), trains an epinet
and an ensemble on an MLP base, plain and made invariant to the plane swap
by averaging every index's logits over the group
(:func:`enn_sym.symmetry.make_group_averaged_enn`, exact), over several
seeds (``jax.vmap`` over the seeds: one compiled program per model). On an
orbit-closed test set it reports accuracy, ECE (mean predictive, 15 bins),
mutual information, the accuracy ceiling ``1 - error_lower_bound`` and the
ECE bounds of :func:`enn_sym.bounds.calibration_bounds`.

Also reads out the 6-vs-9 orbit (:func:`enn_sym.data.six_nine_task`) on the
embedded MNIST-5k test split, and compares it with the results of
``experiments/six_vs_nine.py`` when a ``results.json`` of that script is
given.
"""

from __future__ import annotations

import json
import math
import os
import time
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax

from enn_sym import data as data_lib
from enn_sym import losses
from enn_sym import networks
from enn_sym import symmetry
from enn_sym.bounds import _calibration
from enn_sym.bounds import _dissent

MODELS = ("epinet", "ensemble")
VARIANTS = ("invariant", "plain")


def make_enn(model: str, variant: str, cfg) -> Any:
  """The ENN of ``model`` (epinet / ensemble), group-averaged if invariant."""
  base = networks.MLP(2, tuple(cfg.hidden_sizes))
  if model == "epinet":
    enn = networks.make_epinet(
        base, num_classes=2, index_dim=cfg.epinet.index_dim,
        hidden_sizes=tuple(cfg.epinet.hidden_sizes),
        prior_scale=cfg.epinet.prior_scale)
  elif model == "ensemble":
    enn = networks.make_ensemble(base, num_classes=2,
                                 num_ensemble=cfg.ensemble.num_ensemble)
  else:
    raise ValueError(f"model must be one of {MODELS}; got {model!r}.")
  if variant == "invariant":
    enn = symmetry.make_group_averaged_enn(enn, data_lib.PlaneSwapGroup(),
                                           average="logits")
  elif variant != "plain":
    raise ValueError(f"variant must be one of {VARIANTS}; got {variant!r}.")
  return enn


def make_trainer(model: str, variant: str, cfg):
  """A jitted ``(seeds, train_x, train_y, test_x) -> logit stacks`` function.

  Trains one model per seed (``jax.vmap`` over the seeds, ``lax.scan`` over
  the steps) and returns the test logit stacks, ``float32 [S, K, N_test,
  2]``. Built once per model and variant and reused across the sweep (the
  compile dominates the cost of these small runs).
  """
  enn = make_enn(model, variant, cfg)
  fixed = (networks.ensemble_member_indices(cfg.ensemble.num_ensemble)
           if model == "ensemble" else None)
  loss_fn = losses.make_enn_loss(
      enn, losses.make_loss("ce"), num_index_samples=cfg.num_index_samples,
      fixed_indices=fixed, weight_decay=cfg.weight_decay)
  schedule = optax.cosine_decay_schedule(cfg.learning_rate, cfg.num_steps)
  opt = optax.adam(schedule)
  num_steps, batch_size = int(cfg.num_steps), int(cfg.batch_size)

  def one(seed, x, y, xt):
    key = jax.random.key(seed)
    k_init, k_train, k_eval = jax.random.split(key, 3)
    variables = enn.init(k_init, x[:2], enn.indexer(k_init))
    params, state = losses.split_variables(variables)

    def step(carry, k):
      params, opt_state = carry
      k_batch, k_loss = jax.random.split(k)
      idx = jax.random.randint(k_batch, (batch_size,), 0, x.shape[0])
      batch = {"image": x[idx], "label": y[idx]}
      (_, _), grads = jax.value_and_grad(loss_fn, has_aux=True)(
          params, state, batch, k_loss)
      updates, opt_state = opt.update(grads, opt_state, params)
      return (optax.apply_updates(params, updates), opt_state), None

    (params, _), _ = jax.lax.scan(
        step, (params, opt.init(params)),
        jax.random.split(k_train, num_steps))
    zs = (fixed if fixed is not None
          else enn.sample_indices(k_eval, cfg.eval_num_indices))
    return enn.apply_multi({**state, "params": params}, xt, zs).preds

  run = jax.jit(jax.vmap(one, in_axes=(0, None, None, None)))

  def trainer(seeds, train_x, train_y, test_x) -> np.ndarray:
    return np.asarray(run(jnp.asarray(seeds, jnp.uint32),
                          jnp.asarray(train_x), jnp.asarray(train_y),
                          jnp.asarray(test_x)))

  return trainer


def predictive(logit_stack: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Mean predictive ``[N, C]`` (float64) and mutual information ``[N]``."""
  logp = np.asarray(jax.nn.log_softmax(jnp.asarray(logit_stack), -1),
                    np.float64)
  p = np.exp(logp)
  mean = p.mean(0)
  mean = mean / mean.sum(-1, keepdims=True)
  ent = lambda q, lq: -np.sum(q * lq, -1)
  total = ent(mean, np.log(np.maximum(mean, 1e-300)))
  expected = ent(p, logp).mean(0)
  return mean, np.maximum(total - expected, 0.0)


def _stats(values) -> dict:
  v = np.asarray(values, np.float64)
  return {"mean": float(v.mean()), "std": float(v.std()),
          "values": [float(a) for a in v]}


def run_setting(cfg, correct: float, incorrect: float, index: int,
                trainers: dict | None = None) -> dict:
  """All models and variants on one symmetry setting.

  ``trainers`` caches :func:`make_trainer` per ``(model, variant)``.
  """
  trainers = {} if trainers is None else trainers
  train = data_lib.swiss_roll_task(cfg.num_train, correct, incorrect,
                                   noise=cfg.noise,
                                   seed=cfg.data_seed + 1000 * index)
  test = data_lib.swiss_roll_task(cfg.num_test, correct, incorrect,
                                  noise=cfg.noise,
                                  seed=cfg.data_seed + 1000 * index + 1)
  seeds = [cfg.seed + s for s in range(cfg.num_seeds)]
  floor = _dissent.error_lower_bound(test.orbit_ids, test.labels, 2)
  out = {"correct": correct, "incorrect": incorrect,
         "extrinsic": max(0.0, 1.0 - correct - incorrect),
         "population_error_floor": incorrect / 2,
         "test_error_floor": floor, "test_ceiling": 1.0 - floor,
         "num_test": len(test), "models": {}}
  for model in cfg.models:
    for variant in cfg.variants:
      start = time.time()
      if (model, variant) not in trainers:
        trainers[model, variant] = make_trainer(model, variant, cfg)
      stacks = trainers[model, variant](seeds, train.x, train.labels, test.x)
      rows = []
      for stack in stacks:
        probs, mi = predictive(stack)
        b = _calibration.calibration_bounds(
            probs, test.labels, test.orbit_ids, num_bins=cfg.num_bins)
        rows.append({**b._asdict(), "accuracy": 1.0 - b.error,
                     "mutual_info": float(mi.mean()), "holds": b.holds()})
      keys = ("accuracy", "error", "ece", "mutual_info", "lower", "upper",
              "lower_paper", "upper_paper", "upper_binary",
              "upper_unconstrained")
      summary = {k: _stats([r[k] for r in rows]) for k in keys}
      summary["invariant"] = all(r["invariant"] for r in rows)
      summary["all_orbits_dissent"] = all(r["all_orbits_dissent"]
                                          for r in rows)
      summary["bounds_hold"] = all(r["holds"] for r in rows)
      summary["seconds"] = time.time() - start
      out["models"][f"{variant}/{model}"] = summary
  return out


def six_vs_nine_readout(cfg) -> dict:
  """The 6/9 orbit on the embedded MNIST-5k test split (and trained models)."""
  splits = data_lib.load_embedded("mnist5k", seed=cfg.split_seed)
  test = splits["test"]
  # The orbits are the same under C2 and C4: quarter turns of digits carry no
  # mass (six_nine_task), so the pairing is computed once.
  task = data_lib.six_nine_task(test.images, test.labels, group="c2")
  floor = _dissent.error_lower_bound(task.orbit_ids, task.labels, 2)
  k = _dissent.total_dissent(task.orbit_ids, task.labels, 2, normalize=True)
  k_min = float(k[k > 0].min())
  c2 = {"n6": int(np.sum(task.labels == 0)),
        "n9": int(np.sum(task.labels == 1)),
        "error_floor": floor, "ceiling": 1.0 - floor, "min_dissent": k_min,
        "all_orbits_dissent": bool(np.all(k > 0)),
        "ece_upper_binary": 1.0 - k_min}
  out = {"c2": c2, "c4": dict(c2)}
  path = cfg.results_json
  if path and os.path.exists(path):
    with open(path) as f:
      res = json.load(f)
    reads = {}
    ceiling = out["c2"]["ceiling"]
    for variant, models in res.get("variants", {}).items():
      for model, m in models.items():
        reads[f"{variant}/{model}"] = {
            "acc_69": m.get("acc_69"), "ece": m.get("ece"),
            "mi_69": m.get("mi_69"), "ceiling": ceiling,
            "above_ceiling": (m.get("acc_69", 0.0) > ceiling + 1e-9
                              if variant != "plain" else None)}
    out["trained"] = reads
  return out


def markdown(results: Mapping[str, Any]) -> str:
  """The results table (mean ± std over seeds)."""
  cols = ("c", "i", "e", "model", "acc", "ceiling", "ece", "ece_lo",
          "ece_hi", "ece_hi_paper", "mi", "holds")
  lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
  pm = lambda s: f"{s['mean']:.3f} ± {s['std']:.3f}"
  num = lambda s: ("-" if math.isnan(s["mean"]) else f"{s['mean']:.3f}")
  for row in results["sweep"]:
    for name, m in row["models"].items():
      lines.append("| " + " | ".join([
          f"{row['correct']:.2f}", f"{row['incorrect']:.2f}",
          f"{row['extrinsic']:.2f}", name, pm(m["accuracy"]),
          f"{row['test_ceiling']:.3f}" if name.startswith("invariant")
          else "(1)", pm(m["ece"]), num(m["lower"]), num(m["upper"]),
          num(m["upper_paper"]) if m["all_orbits_dissent"] else
          f"({num(m['upper_paper'])})", f"{m['mutual_info']['mean']:.4f}",
          "yes" if m["bounds_hold"] else "NO"]) + " |")
  text = "\n".join(lines)
  sv = results.get("six_vs_nine")
  if sv:
    c2 = sv["c2"]
    text += (f"\n\n6-vs-9 orbit (mnist5k test: {c2['n6']} sixes, {c2['n9']} "
             f"nines): invariant accuracy ceiling {c2['ceiling']:.3f} under "
             f"C2 and {sv['c4']['ceiling']:.3f} under C4; binary ECE bound "
             f"1 - k* = {c2['ece_upper_binary']:.3f} (claimed only if every "
             f"orbit dissents: {c2['all_orbits_dissent']}).")
    for name, r in sv.get("trained", {}).items():
      text += (f"\n- {name}: acc_69 {r['acc_69']:.3f} (ceiling "
               f"{r['ceiling']:.3f}), ece {r['ece']:.3f}")
  return text


def plot(path: str, results: Mapping[str, Any]) -> None:
  """Accuracy and ECE against the incorrect fraction, with the bounds."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  sweep = sorted(results["sweep"], key=lambda r: (r["extrinsic"],
                                                  r["incorrect"]))
  fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
  xs = np.arange(len(sweep))
  labels = [f"c={r['correct']:.2f}\ni={r['incorrect']:.2f}" for r in sweep]
  ax1.plot(xs, [r["test_ceiling"] for r in sweep], "k--",
           label="invariant ceiling 1 - floor")
  names = list(sweep[0]["models"])
  for j, name in enumerate(names):
    acc = [r["models"][name]["accuracy"] for r in sweep]
    ece = [r["models"][name]["ece"] for r in sweep]
    off = 0.06 * (j - (len(names) - 1) / 2)
    ax1.errorbar(xs + off, [a["mean"] for a in acc],
                 [a["std"] for a in acc], fmt="o-", ms=4, label=name)
    ax2.errorbar(xs + off, [e["mean"] for e in ece],
                 [e["std"] for e in ece], fmt="o-", ms=4, label=name)
    if name.startswith("invariant"):
      lo = [r["models"][name]["lower"]["mean"] for r in sweep]
      hi = [r["models"][name]["upper"]["mean"] for r in sweep]
      ax2.fill_between(xs, lo, hi, alpha=0.12,
                       label=f"{name} fibre-wise bounds")
  ax1.set_ylabel("test accuracy")
  ax2.set_ylabel("test ECE (15 bins)")
  ax2.set_yscale("symlog", linthresh=0.01)
  for ax in (ax1, ax2):
    ax.set_xticks(xs, labels, fontsize=7)
    ax.legend(fontsize=6)
  fig.suptitle("Swiss roll: correct (c) / incorrect (i) / extrinsic "
               "symmetry; invariant vs plain ENNs")
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def run_bounds_experiment(config, workdir: str) -> dict:
  """Runs the sweep and the 6/9 read-out; writes json, markdown and a plot."""
  start = time.time()
  trainers = {}
  results = {"sweep": [run_setting(config, float(c), float(i), k, trainers)
                       for k, (c, i) in enumerate(config.sweep)]}
  if config.six_vs_nine.enabled:
    results["six_vs_nine"] = six_vs_nine_readout(config.six_vs_nine)
  results["seconds"] = time.time() - start
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, "results.json"), "w") as f:
    json.dump(results, f, indent=2, sort_keys=True)
  table = markdown(results)
  with open(os.path.join(workdir, "results.md"), "w") as f:
    f.write(table + "\n")
  plot(os.path.join(workdir, "bounds.png"), results)
  print("\n" + table, flush=True)
  return results
