r"""The training engine's cost model, side by side in one run.

  python experiments/bench_core.py --json bench_core.json [--quick]

Timed steps are the pipeline's own (``Trainer.runs[kind].run_calls``: state,
on-device data and batch positions as jit arguments); ratios are medians of
round-robin per-round ratios. JSON keys (docs/benchmarks.md):

* epinet_k8_over_base_lenet, epinet_k1_over_base_lenet,
  epinet_k8_over_k1_lenet: LeNet base on 28x28x1 (embedded MNIST), batch
  128, 10 classes, the conv_ensemble prior; epinet_k8_noprior_over_base_lenet
  (same epinet without a prior) splits the overhead into head and prior.
* mlp_testbed_steps_per_s: the Neural Testbed epinet (issue 10) through
  ``enn_sym.train.fit_seeds``.
* seeds8_vmapped_over_sequential: 8 single-seed 1,000-step runs of the
  default epinet (each compiling its own program) over one 8-seed run.
* fused_over_per_step: steps/s, steps_per_call=100 over 1.
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
  for key, value in overrides.items():
    node, *path = [c] + key.split(".")
    for part in path[:-1]:
      node = node[part]
    node[path[-1]] = value
  return c


def _runs(variants, workdir):
  return {name: train.Trainer(_config(**o), os.path.join(workdir, name)
                              ).runs[o.get("models", ("epinet",))[0]]
          for name, o in variants.items()}


def _interleaved(runs, rounds, calls):
  for run in runs.values():
    run.run_calls(2)  # Compile and warm up.
  times = {k: [] for k in runs}
  for _ in range(rounds):
    for name, run in runs.items():
      times[name].append(run.run_calls(calls))
  return {k: np.asarray(v) for k, v in times.items()}


def bench_lenet(workdir, rounds, calls):
  lenet = {"model.base": "lenet", "model.epinet.prior": "conv_ensemble"}
  runs = _runs({
      "base": {**lenet, "models": ("base",)},
      "k1": {**lenet, "loss.num_index_samples": 1},
      "k8": {**lenet, "loss.num_index_samples": 8},
      "k8_noprior": {**lenet, "model.epinet.prior": ""},
  }, workdir)
  t = _interleaved(runs, rounds, calls)
  med = lambda a, b: float(np.median(t[a] / t[b]))  # noqa: E731
  return {"base_lenet_ms_per_step": 1e3 * float(np.median(t["base"])) / calls,
          "epinet_k8_over_base_lenet": med("k8", "base"),
          "epinet_k1_over_base_lenet": med("k1", "base"),
          "epinet_k8_over_k1_lenet": med("k8", "k1"),
          "epinet_k8_noprior_over_base_lenet": med("k8_noprior", "base")}


def bench_testbed(steps):
  key = jax.random.key(0)
  x = jax.random.normal(key, (1000, 10))
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
  base = {"num_steps": steps, "checkpoint_every": steps, "eval_every": steps,
          "log_every": steps, "temperature_scaling": False}

  def run(name, **o):
    t0 = time.perf_counter()
    train.Trainer(_config(**base, **o), os.path.join(workdir, name)).train()
    return time.perf_counter() - t0

  sequential = sum(run(f"seq{s}", seed=s) for s in range(8))
  vmapped = run("vmapped", seeds=tuple(range(8)))
  return {"seeds8_sequential_s": sequential, "seeds8_vmapped_s": vmapped,
          "seeds8_vmapped_over_sequential": sequential / vmapped}


def bench_fused(workdir, rounds):
  runs = _runs({"per_step": {"steps_per_call": 1},
                "fused": {"steps_per_call": 100}}, workdir)
  per, fused = [], []
  for _ in range(rounds + 1):  # The first round compiles.
    per.append(100 / runs["per_step"].run_calls(100))
    fused.append(100 / runs["fused"].run_calls(1))
  per, fused = np.asarray(per[1:]), np.asarray(fused[1:])
  return {"per_step_steps_per_s": float(np.median(per)),
          "fused_steps_per_s": float(np.median(fused)),
          "fused_over_per_step": float(np.median(fused / per))}


def main(argv):
  del argv
  rounds, calls = (3, 10) if _QUICK.value else (7, 20)
  out = {"platform": jax.devices()[0].platform, "jax": jax.__version__}
  with tempfile.TemporaryDirectory() as workdir:
    out.update(bench_lenet(workdir, rounds, calls))
    out.update(bench_testbed(2000))
    out.update(bench_seeds(workdir, 1000))
    out.update(bench_fused(workdir, rounds))
  print("\n".join(f"{k:40s} {v}" for k, v in out.items()))
  if _JSON.value:
    with open(_JSON.value, "w") as f:
      json.dump(out, f, indent=1, sort_keys=True)


if __name__ == "__main__":
  # Flags are defined only when run as a script (importable next to others).
  _JSON = flags.DEFINE_string("json", "", "Write the figures to this file.")
  _QUICK = flags.DEFINE_bool("quick", False, "Fewer repeats.")
  app.run(main, flags_parser=cli.parse_flags)
