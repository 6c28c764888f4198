r"""Components of minima: VN-MLP vs MLP (quotiented), and the Zhao validation.

  python experiments/landscape.py [--config.problem=zhao_linear] --workdir W
  (--report_only --workdir A,B --doc PATH: one page from results.json files)

Per problem, objective, sampling seed: ``train.fit_seeds`` minima (early
stopping), quotient, ``ls.search_paths``, counts at levels of the run's own
minima (upper bounds; exact below the certificate) -> results.json, figures."""

from __future__ import annotations

import json
import os
import sys
import time

from absl import app
from enn_sym import cli  # pylint: disable=g-bad-import-order
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np
import optax

from enn_sym import data
from enn_sym import landscape as ls
from enn_sym import networks
from enn_sym import symmetry
from enn_sym import train

_HERE = os.path.dirname(os.path.abspath(__file__))


def make_problem(config, name):
  """``(init, loss_of(batch, objective), batch, objectives, align, info)``."""
  if name == "zhao_linear":
    p = ls.zhao_linear_problem(config.width, config.depth, config.problem_seed)
    info = lambda th: {"sign_pattern": ls.sign_pattern(th, p.width,
                                                       p.depth).tolist()}
    return (p.init, lambda b, o: p.loss, {"x": jnp.asarray(p.x.T)}, ("mse",),
            ls.make_linear_aligner(p.width, p.depth) if config.quotient
            else None, info, p)
  if name not in ("mlp", "vn_mlp"):
    raise ValueError(f"unknown problem {name!r}: zhao_linear|mlp|vn_mlp.")
  ds = data.tetris_dataset(config.data.num_per_class, seed=config.problem_seed,
                           rotate="so3", noise=config.data.noise)
  batch = {"x": jnp.asarray(ds.points), "y": jnp.asarray(ds.labels)}
  module = (networks.MLP(8, hidden_sizes=tuple(config.mlp_hidden))
            if name == "mlp" else symmetry.VNMLPClassifier(
                8, hidden=tuple(config.vn_hidden),
                head_hidden=tuple(config.vn_head_hidden)))
  flat = ls.flatten_module(module, batch["x"])
  align = ((ls.make_aligner if name == "mlp" else ls.make_vn_aligner)(
      flat.unravel) if config.quotient else None)
  info = ((lambda th: {"vn_label": str(ls.vn_label(flat.unravel, th))})
          if name == "vn_mlp" else (lambda th: {}))
  def loss_of(b, kind):
    kw = (dict(calibration="none", nll_weight=1.0) if kind == "nll" else
          dict(calibration=kind, nll_bound=config.nll_bound,
               nll_penalty=config.nll_penalty))
    return ls.make_objective(flat.apply, b["x"], b["y"], **kw).loss

  return flat.init, loss_of, batch, tuple(config.objectives), align, info, None


def train_minima(config, problem, kind):
  """All sampling seeds' minima in one ``fit_seeds`` run (one compilation)."""
  init, loss_of, batch, t = *problem[:3], config.train
  lr = {"constant": t.learning_rate, "cosine": optax.cosine_decay_schedule(
      t.learning_rate, t.num_steps)}.get(t.schedule)
  if lr is None:
    raise train.ConfigError(f"train.schedule: 'constant'|'cosine', not "
                            f"{t.schedule!r}.")
  seeds = [1000 * s + k for s in config.sampling_seeds
           for k in range(config.num_minima)]
  return seeds, train.fit_seeds(
      lambda k: (init(k), {}), lambda p, s, b, k: (loss_of(b, kind)(p), {}),
      batch, seeds, optimizer=optax.adam(lr), num_steps=t.num_steps,
      eval_every=t.eval_every, validation=batch, patience=t.patience,
      min_delta=t.min_delta)


def search_one(config, problem, loss, seeds, fit, sampling_seed):
  """Path search between one sampling seed's minima (``loss``: full batch)."""
  align, info, linear = problem[4:]
  keep = [i for i, (sd, r) in enumerate(zip(seeds, fit.stop_reason))
          if sd // 1000 == sampling_seed and r != "non_finite"]
  minima = np.asarray(fit.params)[keep]
  s = config.search
  res = ls.search_paths(
      loss, minima, key=jax.random.key(sampling_seed),
      schedule=tuple(map(tuple, s.schedule)), rtol=s.rtol, atol=s.atol,
      learning_rate=s.learning_rate, num_t=s.num_t, num_points=s.num_points,
      num_refine=s.num_refine, align=align, batch_size=s.batch_size)
  minfo = [{"seed": seeds[i], "stop_reason": fit.stop_reason[i],
            "steps_trained": int(fit.steps_trained[i]), **info(minima[j])}
           for j, i in enumerate(keep)]
  out = ls.summarize_search(res, config.deltas, minfo)
  if linear is not None:
    out["certificate"] = ls.certify_search(
        res, [m["sign_pattern"] for m in minfo], linear.certificate)
  return out


def run(config, workdir: str) -> dict:
  """Runs every problem, objective and sampling seed; writes the results."""
  start = time.perf_counter()
  os.makedirs(workdir, exist_ok=True)
  runs, certs = {}, {}
  for name in config.problem.split(","):
    problem = make_problem(config, name.strip())
    for kind in problem[3]:
      loss = problem[1](problem[2], kind)
      seeds, fit = train_minima(config, problem, kind)
      for s in config.sampling_seeds:
        out = search_one(config, problem, loss, seeds, fit, s)
        runs.setdefault(f"{name}/{kind}", []).append(out)
        if "certificate" in out:
          certs[f"{name}/{kind}/seed {s}"] = out["certificate"]
        print(f"{name}/{kind} seed {s}: {out['components']}", flush=True)
  results = ls.as_jsonable({
      "config": config.to_dict(), "runs": runs, "command": " ".join(
          ["python"] + sys.argv),
      "aggregate": ls.aggregate_runs(runs), "certificates": certs,
      "comparisons": ls.compare_runs(runs, config.objectives),
      "wall_seconds": time.perf_counter() - start, "num_cpus": os.cpu_count()})
  with open(os.path.join(workdir, "results.json"), "w") as f:
    json.dump(results, f, indent=1)
  ls.write_report(results, workdir)
  return results


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  dirs = _WORKDIR.value.split(",")
  if not _REPORT_ONLY.value:
    run(_CONFIG.value, dirs[0])
  merged = ls.merge_results([json.load(open(os.path.join(d, "results.json")))
                             for d in dirs])
  print(ls.write_report(merged, dirs[0], _DOC.value))


if __name__ == "__main__":
  _CONFIG = cli.define_config_file("config", os.path.join(
      _HERE, "..", "configs", "landscape.py"), "The experiment config file.")
  _WORKDIR = flags.DEFINE_string("workdir", "workdir/landscape", "Output.")
  _DOC = flags.DEFINE_string("doc", "", "Also write the page here.")
  _REPORT_ONLY = flags.DEFINE_bool("report_only", False, "No new run.")
  app.run(main, flags_parser=cli.parse_flags)
