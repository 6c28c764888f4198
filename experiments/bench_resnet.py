r"""ResNet-18 training throughput on CIFAR-10-shaped data: float32 vs bfloat16.

  python experiments/bench_resnet.py                      # one epoch (GPU/TPU)
  python experiments/bench_resnet.py --steps=5 --batch_size=32   # CPU smoke

Trains ResNet-18 (CIFAR stem, 11.2M parameters) with the loss-study recipe
(SGD momentum 0.9, cross-entropy, L2 5e-4) through the pipeline's own jitted,
sharded, state-donating train step, on random 32x32x3 images with random
labels already on the device (CIFAR-10 itself is not needed: the data
pipeline is not what is timed). For each compute dtype it compiles, runs
``--warmup`` steps, then times ``--steps`` steps (default: one epoch of
45,000 images, 351 steps of 128) and prints images/s and the bfloat16
speed-up. Variants alternate over ``--rounds`` rounds and the figures are
medians. Parameters, BatchNorm statistics, the loss and the optimizer
state stay float32 in both variants.
"""

from __future__ import annotations

import json
import statistics
import time

from absl import app
from enn_sym import cli  # pylint: disable=g-bad-import-order
from absl import flags
from absl import logging

def _config(dtype: str, batch_size: int, num_filters: int):
  from enn_sym.train import default_config  # pylint: disable=g-import-not-at-top
  c = default_config()
  c.models = ("base",)
  c.data.name = "mnist5k"  # Unused: the benchmark feeds random arrays.
  c.model.base = "resnet18"
  c.model.num_filters = num_filters
  c.model.dtype = dtype
  c.optimizer.name = "sgd"
  c.optimizer.learning_rate = 0.1
  c.optimizer.schedule = "constant"
  c.loss.weight_decay = 5e-4
  c.batch_size = batch_size
  return c


def _make(dtype: str, batch_size: int, num_filters: int):
  """``(step, state, batch)`` ready to run, for one compute dtype."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from enn_sym import train  # pylint: disable=g-import-not-at-top
  cfg = _config(dtype, batch_size, num_filters)
  mesh = train.make_mesh()
  spec = train.make_model("base", cfg, 10)
  optimizer = train.make_optimizer(cfg)
  state = train.init_state(spec.enn, optimizer,
                            train.example_input((32, 32, 3)), 0, mesh)
  step = train.make_train_step(train.make_loss_fn(spec, cfg), optimizer,
                                mesh)
  rng = np.random.default_rng(0)
  batch = train.global_batch({
      "image": rng.standard_normal((batch_size, 32, 32, 3), np.float32),
      "label": rng.integers(0, 10, batch_size).astype(np.int32),
      "index": np.arange(batch_size, dtype=np.int32)}, mesh)
  start = time.perf_counter()
  state, out = step(state, batch)
  jax.block_until_ready(out["loss"])
  return step, state, batch, time.perf_counter() - start


def _time(step, state, batch, warmup: int, steps: int):
  import jax  # pylint: disable=g-import-not-at-top
  for _ in range(warmup):
    state, out = step(state, batch)
  jax.block_until_ready(state.params)
  start = time.perf_counter()
  for _ in range(steps):
    state, out = step(state, batch)
  jax.block_until_ready((state.params, out["loss"]))
  return state, time.perf_counter() - start, float(out["loss"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  import jax  # pylint: disable=g-import-not-at-top
  from enn_sym import train  # pylint: disable=g-import-not-at-top
  for dtype in _DTYPES.value:
    if dtype not in train.DTYPES:
      raise app.UsageError(f"--dtypes: {dtype!r} is not one of "
                           f"{train.DTYPES}.")
  batch, steps = _BATCH.value, _STEPS.value
  print(f"devices: {jax.device_count()} x {jax.devices()[0].device_kind} "
        f"({jax.default_backend()}); ResNet-18 (num_filters="
        f"{_NUM_FILTERS.value}), batch {batch}, {steps} timed steps "
        f"({steps * batch} images) x {_ROUNDS.value} round(s)", flush=True)
  runs = {}
  for dtype in _DTYPES.value:
    step, state, data, compile_s = _make(dtype, batch, _NUM_FILTERS.value)
    runs[dtype] = [step, state, data]
    print(f"  {dtype}: compile + first step {compile_s:.1f} s", flush=True)
  rates = {d: [] for d in runs}
  losses = {}
  for _ in range(_ROUNDS.value):
    for dtype, run in runs.items():
      run[1], seconds, losses[dtype] = _time(*run, _WARMUP.value, steps)
      rates[dtype].append(steps * batch / seconds)
  result = {d: {"images_per_s": statistics.median(r),
                "ms_per_step": 1e3 * batch / statistics.median(r),
                "final_loss": losses[d]} for d, r in rates.items()}
  print(f"{'dtype':<10} {'images/s':>10} {'ms/step':>9} {'loss':>8}")
  for dtype, r in result.items():
    print(f"{dtype:<10} {r['images_per_s']:>10.1f} {r['ms_per_step']:>9.1f} "
          f"{r['final_loss']:>8.5f}")
  if "float32" in rates and "bfloat16" in rates:
    ratios = [b / f for f, b in zip(rates["float32"], rates["bfloat16"])]
    result["bfloat16_speedup"] = statistics.median(ratios)
    print(f"bfloat16 / float32 throughput: {result['bfloat16_speedup']:.2f}x")
  if _JSON.value:
    with open(_JSON.value, "w") as f:
      json.dump(result, f, indent=2)


def _define_flags():
  """The flags (defined only when run as a script: importable next to
  other experiment scripts)."""
  global _STEPS, _WARMUP, _BATCH, _ROUNDS, _DTYPES, _NUM_FILTERS, _JSON  # pylint: disable=global-statement
  _STEPS = flags.DEFINE_integer("steps", 351, "Timed steps per round "
                                "(351 x 128 = one epoch of train[:90%]).")
  _WARMUP = flags.DEFINE_integer("warmup", 3, "Untimed steps after compiling.")
  _BATCH = flags.DEFINE_integer("batch_size", 128, "Global batch size.")
  _ROUNDS = flags.DEFINE_integer("rounds", 1, "Alternating rounds per dtype.")
  _DTYPES = flags.DEFINE_list("dtypes", ["float32", "bfloat16"],
                              "Compute dtypes to compare.")
  _NUM_FILTERS = flags.DEFINE_integer("num_filters", 64,
                                      "ResNet-18 width (64 = standard).")
  _JSON = flags.DEFINE_string("json", "", "Also write the results here.")


if __name__ == "__main__":
  _define_flags()
  app.run(main, flags_parser=cli.parse_flags)
