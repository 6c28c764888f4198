r"""Berman et al. 2025, Figure 3: MLP vs z-invariant DSS net on Swiss rolls.

  JAX_COMPILATION_CACHE_DIR=/tmp/xla python experiments/swiss_roll.py \
      --workdir=docs/results/swiss_roll_run

The sheet's section 5.1 protocol (``configs/swiss_roll.py``: presets and
deviations), trained with ``enn_sym.train.fit_seeds`` (seeds vmapped, steps
fused, stopped seeds dropped); ``finite_orbit_bounds`` on the test orbit
closure; ENN versions report mutual information. Writes ``results.json``,
``swiss_roll.png`` and ``reproductions.md``.
"""

import json
import os
import time

from absl import app
from enn_sym import cli  # pylint: disable=g-bad-import-order
from absl import flags
import jax
import jax.numpy as jnp
import optax

from enn_sym import bounds
from enn_sym import losses
from enn_sym import networks
from enn_sym.train import fit_seeds

_HERE = os.path.dirname(os.path.abspath(__file__))


def make_enn(kind: str, model: str, cfg):
  """``(enn, eval indices, loss)`` of one ENN kind on one network."""
  width = tuple(cfg.hidden_sizes if kind == "base" else cfg.enn_hidden_sizes)
  base = (networks.MLP(2, width) if model == "mlp"
          else bounds.SwissRollDSS(2, width))
  ce = losses.make_loss("ce")
  if kind == "base":
    enn = networks.make_base_enn(base, 2)
    return (enn, enn.sample_indices(jax.random.key(0), 1),
            losses.make_enn_loss(enn, ce, num_index_samples=1))
  if kind == "ensemble":
    enn = networks.make_ensemble(base, num_classes=2,
                                 num_ensemble=cfg.num_ensemble)
    zs = networks.ensemble_member_indices(cfg.num_ensemble)
    return enn, zs, losses.make_enn_loss(enn, ce, fixed_indices=zs)
  prior = networks.make_prior("mlp_ensemble", num_classes=2,
                              index_dim=cfg.epinet_index_dim)
  inv = model == "invariant"  # Head and prior must not see z then.
  enn = networks.make_epinet(
      base, num_classes=2, index_dim=cfg.epinet_index_dim, include_inputs=not
      inv, prior=bounds.PlaneSwapInvariantPrior(prior) if inv else prior)
  zs = enn.sample_indices(jax.random.key(1234), cfg.num_index_samples)
  return enn, zs, losses.make_enn_loss(
      enn, ce, num_index_samples=cfg.num_index_samples)


def run_one(cfg, kind: str, model: str, cr: float) -> dict:
  """Trains all seeds of one (ENN kind, network, ratio); one record."""
  start, seeds = time.time(), cfg.seeds if kind == "base" else cfg.enn_seeds
  splits = bounds.wang_swiss_roll(cr, 1.0 - cr, num_train=cfg.num_train,
                                  num_val=cfg.num_val, num_test=cfg.num_test,
                                  seed=cfg.data_seed)
  as_batch = lambda s: {"image": jnp.asarray(s.x), "label": s.labels}
  train, val = as_batch(splits["train"]), as_batch(splits["val"])
  test, closed = splits["test"], splits["test_closed"]
  enn, zs, loss = make_enn(kind, model, cfg)
  stack = lambda p, s, x: enn.apply_multi({**s, "params": p}, x, zs).preds
  val_error = lambda p, s, d: jnp.mean(jnp.argmax(jax.nn.softmax(  # 0-1 error
      stack(p, s, d["image"])).mean(0), -1) != d["label"])
  init = lambda k: losses.split_variables(enn.init(k, train["image"][:1],
                                                   enn.indexer(k)))
  fit = fit_seeds(init, loss, train, seeds,
                  optimizer=optax.adam(cfg.learning_rate),
                  num_steps=cfg.num_steps if kind == "base" else
                  cfg.enn_num_steps, batch_size=cfg.batch_size,
                  eval_every=cfg.eval_every, validation=val, val_fn=val_error,
                  patience=cfg.patience if kind == "base" else
                  cfg.enn_patience)
  predict = jax.jit(stack)
  on = lambda x: [predict(*fit.seed(i), jnp.asarray(x))
                  for i in range(len(seeds))]
  rec = {"enn": kind, "model": model, "correct_ratio": cr,
         "incorrect_ratio": 1.0 - cr, "ceiling": 1.0 - (1.0 - cr) / 2,
         **bounds.figure3_record(test, closed, on(test.x), on(closed.x),
                                 bins=tuple(cfg.bins),
                                 null_draws=cfg.null_draws)}
  rec.update(stop_reason=fit.stop_reason, seconds=time.time() - start,
             steps_trained=[int(v) for v in fit.steps_trained],
             best_step=[int(v) for v in fit.best_step],
             computed_seed_steps=fit.computed_seed_steps)
  print(f"{kind}/{model} cr={cr}: {rec['seconds']:.0f} s, steps "
        f"{min(rec['steps_trained'])}-{max(rec['steps_trained'])}, "
        f"{rec['accuracy_mean']:.3f} acc", flush=True)
  return rec


def run(cfg, workdir: str, report_only: bool = False, merge=()) -> dict:
  """All records; writes results.json (after every cell), the figure and
  reproductions.md."""
  start = time.time()
  jobs = [("base", m, cr) for m in cfg.models for cr in cfg.correct_ratios]
  jobs += [(k, m, cr) for k in cfg.enns for m in cfg.models
           for cr in cfg.enn_ratios]
  os.makedirs(workdir, exist_ok=True)
  results = {"preset": cfg.preset, "records": [], "seconds": 0.0,
             "config": cfg.to_dict()}
  if report_only:  # Redraw the figure and page from a run's results.json.
    path = os.path.join(workdir, "results.json")
    if not os.path.exists(path):
      raise SystemExit(f"error: {path} does not exist; run without "
                       "--report_only first.")
    with open(path) as f:
      results, jobs = json.load(f), []
    for other in merge:  # E.g. cells run in a second process.
      with open(other) as f:
        results = bounds.merge_figure3_results(results, json.load(f), other)
    if merge:
      with open(path, "w") as f:
        json.dump(results, f, indent=1)
  for job in jobs:
    results["records"].append(run_one(cfg, *job))
    results["seconds"] = time.time() - start
    with open(os.path.join(workdir, "results.json"), "w") as f:
      json.dump(results, f, indent=1)
  bounds.plot_figure3(results["records"],
                      os.path.join(workdir, "swiss_roll.png"))
  with open(os.path.join(workdir, "reproductions.md"), "w") as f:
    f.write(bounds.figure3_markdown(results))
  return results


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  run(_CONFIG.value, _WORKDIR.value, _REPORT_ONLY.value, _MERGE.value)


if __name__ == "__main__":
  _CONFIG = cli.define_config_file(
      "config", os.path.join(_HERE, "..", "configs", "swiss_roll.py"),
      "Path to the experiment config file (append :paper or :quick).")
  _WORKDIR = flags.DEFINE_string(
      "workdir", os.path.join("workdir", "swiss_roll"), "Output directory.")
  _REPORT_ONLY = flags.DEFINE_bool(
      "report_only", False, "Only redraw from <workdir>/results.json.")
  _MERGE = flags.DEFINE_list(
      "merge", [], "With --report_only: other results.json files whose "
      "cells are added (results.json is rewritten with them).")
  app.run(main, flags_parser=cli.parse_flags)
