r"""Training throughput of a config's models through the pipeline's program.

  python experiments/bench_train.py [--steps 300] [--config configs/default.py] \
      [--json out.json]

For each model of the config: training examples/s of the pipeline's own
training program (``Trainer.runs[kind].run_calls``: the seed-vmapped,
``steps_per_call``-fused step with on-device data where the split fits),
for ``steps_per_call`` 1 and 100, after a warm-up that compiles it.
"""

from __future__ import annotations

import json
import os
import tempfile

from absl import app
from enn_sym import cli  # pylint: disable=g-bad-import-order
from absl import flags
import jax

from enn_sym import train

_HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv):
  del argv
  out = {"platform": jax.devices()[0].platform,
         "devices": jax.device_count()}
  print(f"jax {jax.__version__}, {jax.device_count()} "
        f"{jax.devices()[0].platform} device(s); {_STEPS.value} timed steps")
  print(f"{'model':10s} {'steps/call':>10s} {'examples/s':>11s} "
        f"{'ms/step':>8s}")
  with tempfile.TemporaryDirectory() as workdir:
    for kind in _CONFIG.value.models:
      for per_call in (1, 100):
        config = _CONFIG.value.copy_and_resolve_references()
        config.models, config.progress_bar, config.plots = (kind,), False, False
        config.steps_per_call = per_call
        config.num_steps = config.log_every = config.eval_every = (
            config.checkpoint_every) = 100_000
        run = train.Trainer(config, os.path.join(
            workdir, f"{kind}{per_call}")).runs[kind]
        run.run_calls(2)  # Compile and warm up.
        calls = max(1, _STEPS.value // per_call)
        seconds = run.run_calls(calls)
        steps = calls * per_call
        rate = steps * config.batch_size / seconds
        print(f"{kind:10s} {per_call:10d} {rate:11.0f} "
              f"{1e3 * seconds / steps:8.3f}")
        out[f"{kind}_steps_per_call{per_call}_examples_per_s"] = rate
  if _JSON.value:
    with open(_JSON.value, "w") as f:
      json.dump(out, f, indent=1, sort_keys=True)


if __name__ == "__main__":
  # Flags are defined only when run as a script (importable next to others).
  _CONFIG = cli.define_config_file(
      "config", os.path.join(_HERE, "..", "configs", "default.py"),
      "Path to a config file with get_config().")
  _STEPS = flags.DEFINE_integer("steps", 300, "Timed steps per model.")
  _JSON = flags.DEFINE_string("json", "", "Write the figures to this file.")
  app.run(main, flags_parser=cli.parse_flags)
