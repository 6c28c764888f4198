r"""Wall time of the all-pairs landscape analysis: 32 minima of a 2-layer MLP.

  python experiments/bench_landscape.py            # the benchmark (target <= 120 s)
  python experiments/bench_landscape.py --loop-pairs 8   # + python-loop ratio

The task and objective are those of ``experiments/landscape.py`` (128
SO(3)-rotated tetris clouds; MLP 12-16-8, 344 parameters; smooth ECE with an
NLL constraint). 32 minima are trained by ``enn_sym.train.fit_seeds`` (one
vmapped run, 1000 full-batch Adam steps), then all 496
pairs get a linear profile (265 points) and a 1-bend Bezier curve (Adam,
``--curve-steps`` steps, ``--num-t`` t per step) and its profile, and the
dendrograms are built. Printed: the time of each phase, measured after a
warm-up run on the same pairs (so compilation is counted separately), and,
with ``--loop-pairs k``, the per-pair time of a Python loop over pairs calling
the jitted single-pair fit (alone, and with its profile, which is what the
vmapped time includes), against the vmapped per-pair time; the ratio is
loop (fit + profile) / vmapped, like for like.
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from enn_sym import data
from enn_sym import landscape as ls
from enn_sym import networks
from enn_sym import train

_HERE = os.path.dirname(os.path.abspath(__file__))


def _config():
  import importlib.util  # pylint: disable=g-import-not-at-top
  spec = importlib.util.spec_from_file_location(
      "landscape_config", os.path.join(_HERE, "..", "configs", "landscape.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def _mlp_problem(config):
  """``experiments/landscape.py``'s ``mlp`` problem: ``(init, loss_of, batch)``."""
  ds = data.tetris_dataset(config.data.num_per_class, seed=config.problem_seed,
                           rotate="so3", noise=config.data.noise)
  batch = {"x": jnp.asarray(ds.points), "y": jnp.asarray(ds.labels)}
  flat = ls.flatten_module(networks.MLP(8, tuple(config.mlp_hidden)),
                           batch["x"])

  def loss_of(b, kind):
    del kind  # The benchmark's objective is smooth_ece.
    return ls.make_objective(flat.apply, b["x"], b["y"],
                             calibration="smooth_ece",
                             nll_bound=config.nll_bound,
                             nll_penalty=config.nll_penalty).loss

  return flat.init, loss_of, batch


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--num-minima", type=int, default=32)
  parser.add_argument("--curve-steps", type=int, default=200)
  parser.add_argument("--num-t", type=int, default=4)
  parser.add_argument("--batch-size", type=int, default=64)
  parser.add_argument("--loop-pairs", type=int, default=0)
  args = parser.parse_args()
  config = _config()
  init, loss_of, batch = _mlp_problem(config)
  loss = loss_of(batch, "smooth_ece")
  start = time.perf_counter()
  fit = train.fit_seeds(lambda k: (init(k), {}),
                        lambda p, s, b, k: (loss_of(b, "smooth_ece")(p), {}),
                        batch, list(range(args.num_minima)),
                        optimizer=optax.adam(optax.cosine_decay_schedule(
                            0.01, 1000)), num_steps=1000, eval_every=500)
  minima = np.asarray(fit.params)
  sample_s = time.perf_counter() - start
  kw = dict(num_bends=1, curve_steps=args.curve_steps,
            curve_learning_rate=0.03, num_t=args.num_t,
            batch_size=args.batch_size)
  # Warm-up on the same minima: the jitted pair functions compile per shape
  # (number of pairs) and per branch (vmap vs chunked lax.map), so a warm-up
  # on fewer pairs would leave the compilation inside the timed run.
  start = time.perf_counter()
  ls.analyze_connectivity(loss, minima,
                          key=jax.random.key(1), **kw)
  warm_s = time.perf_counter() - start
  start = time.perf_counter()
  res = ls.analyze_connectivity(loss, minima,
                                key=jax.random.key(1), **kw)
  total_s = time.perf_counter() - start
  num_pairs = len(res.pairs)
  print(f"jax {jax.__version__}, {jax.device_count()} {jax.devices()[0].platform}"
        f" device(s), {os.cpu_count()} cpu cores")
  print(f"training {args.num_minima} minima (fit_seeds, 1000 Adam steps): "
        f"{sample_s:.1f} s (incl. compile)")
  print(f"first run (compilation + run): {warm_s:.1f} s")
  print(f"all {num_pairs} pairs: {total_s:.1f} s  (linear "
        f"{res.timings['linear']:.1f} s, curves {res.timings['curve']:.1f} s)"
        f"  -> {'PASS' if total_s <= 120 else 'OVER'} the 120 s target")
  level = float(np.median(res.heights)) * 1.5
  print(f"components at c = {level:.4f}: linear "
        f"{res.linear.num_components(level)}, with curves "
        f"{res.combined.num_components(level)}")
  if args.loop_pairs:
    k = args.loop_pairs
    a = jnp.asarray(minima[res.pairs[:k, 0]])
    b = jnp.asarray(minima[res.pairs[:k, 1]])
    fit = jax.jit(lambda a, b, key: ls.fit_bezier(
        loss, a, b, key, num_bends=1, num_steps=args.curve_steps,
        learning_rate=0.03, num_t=args.num_t))

    def fit_and_profile(a, b, key):
      bends, _ = fit(a, b, key)
      return ls.bezier_profile(loss, a, b, bends)

    fit_prof = jax.jit(fit_and_profile)

    def loop_time(fn):
      jax.block_until_ready(fn(a[0], b[0], jax.random.key(0)))
      start = time.perf_counter()
      for p in range(k):
        jax.block_until_ready(fn(a[p], b[p], jax.random.key(p)))
      return (time.perf_counter() - start) / k

    loop_fit = loop_time(fit)
    loop_per_pair = loop_time(fit_prof)
    vmap_per_pair = res.timings["curve"] / num_pairs
    print(f"curve fit per pair: python loop {loop_fit * 1e3:.1f} ms (fit "
          f"only), {loop_per_pair * 1e3:.1f} ms (+ profile); vmapped "
          f"{vmap_per_pair * 1e3:.1f} ms (incl. its profile) -> "
          f"{loop_per_pair / vmap_per_pair:.2f}x")

if __name__ == "__main__":
  main()
