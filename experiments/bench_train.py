r"""Training throughput of the default config, and where the step time goes.

  python experiments/bench_train.py [--steps 300] [--config configs/default.py]

For each model of the config: training examples/s of the real loop
(asynchronous dispatch, prefetching input thread), then a second pass that
blocks after every step to split wall time into time waiting for input
(next batch + host-to-device transfer) and time in the jitted step.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time

import jax

from enn_sym import data as data_lib
from enn_sym.train import _loop
from enn_sym.train import _report
from enn_sym.train import _steps

_HERE = os.path.dirname(os.path.abspath(__file__))


def _config(path):
  spec = importlib.util.spec_from_file_location("bench_config", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--config", default=os.path.join(_HERE, "..", "configs",
                                                       "default.py"))
  parser.add_argument("--steps", type=int, default=300)
  parser.add_argument("--workdir", default="/tmp/enn_sym_bench_train")
  args = parser.parse_args()
  config = _config(args.config)
  config.progress_bar = False
  print(f"jax {jax.__version__}, {jax.device_count()} {jax.devices()[0].platform}"
        f" device(s); config {os.path.basename(args.config)}, batch "
        f"{config.batch_size}, {args.steps} timed steps per model")
  data = _loop._Data(config)
  mesh = _steps.make_mesh()
  writer = _report.JsonlWriter("", enabled=False)
  print(f"{'model':10s} {'examples/s':>11s} {'input %':>8s} {'step %':>7s} "
        f"{'step ms':>8s}")
  for kind in config.models:
    run = _loop._Run(kind, config, os.path.join(args.workdir, kind), data,
                     mesh, writer)
    state = run.initial_state()
    batches = data_lib.train_batches(
        data.local["train"], batch_size=run.local_batch, seed=config.seed,
        preprocess=data.train_preprocess, prefetch=config.data.prefetch)
    with batches:
      for _ in range(5):  # Compile and warm up.
        state, out = run.train_step(state, _steps.global_batch(next(batches),
                                                               mesh))
      jax.block_until_ready(out)
      # Pass 1: the real, pipelined loop.
      t0 = time.perf_counter()
      for _ in range(args.steps):
        state, out = run.train_step(state, _steps.global_batch(next(batches),
                                                               mesh))
      jax.block_until_ready(out)
      rate = args.steps * config.batch_size / (time.perf_counter() - t0)
      # Pass 2: blocking, to attribute time.
      t_input = t_step = 0.0
      for _ in range(args.steps):
        t0 = time.perf_counter()
        batch = _steps.global_batch(next(batches), mesh)
        jax.block_until_ready(batch)
        t1 = time.perf_counter()
        state, out = run.train_step(state, batch)
        jax.block_until_ready(out)
        t2 = time.perf_counter()
        t_input += t1 - t0
        t_step += t2 - t1
    total = t_input + t_step
    print(f"{kind:10s} {rate:11.0f} {100 * t_input / total:7.1f}% "
          f"{100 * t_step / total:6.1f}% {1e3 * t_step / args.steps:8.2f}")
    run.ckpt.close()
  print("examples/s: pipelined loop; input/step %: blocking pass "
        f"(mean over {args.steps} steps).")


if __name__ == "__main__":
  main()
