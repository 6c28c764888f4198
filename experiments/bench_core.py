r"""The training engine's cost model, side by side in one run.

  python experiments/bench_core.py --json bench_core.json [--quick]

Timed steps are the pipeline's own (``Trainer.runs[kind].run_calls``: state,
on-device data and batch positions as jit arguments). Variants are timed in
rounds whose order rotates; each ratio is the median of the per-round
ratios, of wall time, of process CPU time (``cpu_``, less sensitive to other
jobs on the machine) and of XLA's flop count of the step (``flops_``, load
independent). The keys are defined in docs/benchmarks.md.
"""

import json, os, tempfile, time  # noqa: E401

from absl import app
from enn_sym import cli  # pylint: disable=g-bad-import-order
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np
import optax

from enn_sym import losses
from enn_sym import networks as nw
from enn_sym import train

def _config(**overrides):
  c = train.default_config()
  c.models, c.progress_bar, c.plots = ("epinet",), False, False
  c.eval_every = c.checkpoint_every = c.log_every = c.num_steps = 100_000
  c.update_from_flattened_dict(overrides)
  return c


def _runs(variants, workdir):
  return {n: train.Trainer(_config(**o), os.path.join(workdir, n)).runs[
      o.get("models", ("epinet",))[0]] for n, o in variants.items()}


def _interleaved(runs, rounds, steps):
  """Wall, CPU seconds of ``steps`` steps per variant; order rotates."""
  names = list(runs)
  for run in runs.values():
    run.run_calls(2)  # Compile and warm up.
  wall, cpu = {k: [] for k in names}, {k: [] for k in names}
  for r in range(rounds):
    for name in names[r % len(names):] + names[:r % len(names)]:
      run, c0 = runs[name], time.process_time()
      wall[name].append(run.run_calls(steps // run.config.steps_per_call))
      cpu[name].append(time.process_time() - c0)
  return [{k: np.asarray(v) for k, v in t.items()} for t in (wall, cpu)]


def bench_lenet(workdir, rounds, steps):
  lenet = {"model.base": "lenet", "model.epinet.prior": "conv_ensemble"}
  no_prior = {**lenet, "model.epinet.prior": ""}
  runs = _runs({"base": {**lenet, "models": ("base",)},
                "k1": {**lenet, "loss.num_index_samples": 1}, "k8": lenet,
                "k1_noprior": {**no_prior, "loss.num_index_samples": 1},
                "k8_noprior": no_prior}, workdir)
  flops = {k: np.asarray([r.step_cost()["flops"]]) for k, r in runs.items()}
  wall, cpu = _interleaved(runs, rounds, steps)  # Parts: in base steps.
  parts = {"prior_forward": ("k1", "k1_noprior"),
           "head": ("k1_noprior", "base"), "extra_indices": ("k8", "k1"),
           "extra_indices_head": ("k8_noprior", "k1_noprior")}
  out = {"base_lenet_ms_per_step": 1e3 * np.median(wall["base"]) / steps,
         "base_lenet_mflops_per_step": flops["base"][0] / 1e6}
  for prefix, t in (("", wall), ("cpu_", cpu), ("flops_", flops)):
    ratio = lambda a, b: float(np.median(t[a] / t[b]))  # noqa: E731
    out.update({f"{prefix}epinet_{a}_over_{b}_lenet": ratio(a, b) for a, b in
                (("k8", "base"), ("k1", "base"), ("k8", "k1"),
                 ("k8_noprior", "base"))})
    out.update({f"{prefix}overhead_{k}_lenet": float(np.median(
        (t[a] - t[b]) / t["base"])) for k, (a, b) in parts.items()})
  return out


def bench_testbed(steps):
  x = jax.random.normal(jax.random.key(0), (1000, 10))
  y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(jnp.int32)
  data = {"image": x, "label": y, "index": jnp.arange(1000)}
  enn = nw.make_epinet(nw.MLP(2, (50, 50)), num_classes=2, index_dim=8,
                       hidden_sizes=(15, 15), include_inputs=True,
                       prior="mlp_ensemble", prior_scale=0.3,
                       prior_kwargs={"hidden_sizes": (5, 5)})
  loss_fn = losses.make_enn_loss(enn, losses.make_loss("ce"),
                                 num_index_samples=8, bootstrap="bernoulli",
                                 weight_decay=1e-4)
  init = lambda k: losses.split_variables(enn.init(k, x[:1], enn.indexer(k)))  # noqa: E731
  def wall(num):
    t0 = time.perf_counter()
    train.fit_seeds(init, loss_fn, data, (0,), optimizer=optax.adam(1e-3),
                    num_steps=num, batch_size=200, eval_every=100)
    return time.perf_counter() - t0

  wall(100)
  return {"mlp_testbed_steps_per_s": steps / (wall(steps + 100) - wall(100))}


def bench_seeds(workdir, steps):
  base = dict(num_steps=steps, checkpoint_every=steps, eval_every=steps,
              log_every=steps, temperature_scaling=False)

  def run(name, **o):
    t0 = time.perf_counter()
    train.Trainer(_config(**base, **o), os.path.join(workdir, name)).train()
    return time.perf_counter() - t0

  sequential = sum(run(f"seq{s}", seed=s) for s in range(8))
  vmapped = run("vmapped", seeds=tuple(range(8)))
  return {"seeds8_sequential_s": sequential, "seeds8_vmapped_s": vmapped,
          "seeds8_vmapped_over_sequential": sequential / vmapped}


def bench_fused(workdir, rounds):
  runs = _runs({f"spc{n}": {"steps_per_call": n} for n in (1, 10, 100)},
               workdir)
  wall, cpu = _interleaved(runs, rounds, 100)
  out = {"per_step_steps_per_s": 100 / float(np.median(wall["spc1"])),
         "fused_steps_per_s": 100 / float(np.median(wall["spc100"]))}
  for prefix, t in (("", wall), ("cpu_", cpu)):
    for n in (10, 100):
      out[f"{prefix}fused{'' if n == 100 else n}_over_per_step"] = float(
          np.median(t["spc1"] / t[f"spc{n}"]))
  return out


def main(_):
  rounds, steps = (5, 2) if _QUICK.value else (21, 4)
  out = {"platform": jax.devices()[0].platform, "jax": jax.__version__,
         "loadavg_start": os.getloadavg(), "cpu_count": os.cpu_count()}
  t0 = time.perf_counter()
  with tempfile.TemporaryDirectory() as workdir:
    for part in (lambda: bench_lenet(workdir, rounds, steps),
                 lambda: bench_fused(workdir, rounds),
                 lambda: bench_testbed(2000),
                 lambda: bench_seeds(workdir, 1000)):
      out.update(part())
      print(json.dumps(out, indent=1, default=float), flush=True)
  out.update(loadavg_end=os.getloadavg(), wall_s=time.perf_counter() - t0)
  if _JSON.value:
    with open(_JSON.value, "w") as f:
      json.dump(out, f, indent=1, sort_keys=True, default=float)


if __name__ == "__main__":
  # Flags are defined only when run as a script (importable next to others).
  _JSON = flags.DEFINE_string("json", "", "Write the figures to this file.")
  _QUICK = flags.DEFINE_bool("quick", False, "Fewer repeats.")
  app.run(main, flags_parser=cli.parse_flags)
