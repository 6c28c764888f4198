r"""The Neural Testbed leaderboard (Osband et al. 2022) for this library's ENNs.

  python experiments/testbed.py --workdir workdir/testbed \
      --config.page=docs/results/testbed.md
  python experiments/testbed.py --config.preset=quick   # smoke run
  python experiments/testbed.py --config.mode=symmetric \
      --config.symmetric.page=docs/results/testbed_symmetric.md

Trains every agent of the preset once per teacher/training set (the ids i and
i + 180 share them), scores marginal (tau = 1) and joint (tau = 10) KL against
the teacher, and writes ``results.json`` and the markdown leaderboard. With
``--config.mode=symmetric`` it runs the symmetric testbed instead (plain vs
group-averaged ENNs on invariant / partly invariant / extrinsic teachers). All
logic lives in :mod:`enn_sym.testbed`.
"""

from __future__ import annotations

import json
import os
import sys
import time

from absl import app
from enn_sym import cli  # pylint: disable=g-bad-import-order
from absl import flags

from enn_sym import testbed

_HERE = os.path.dirname(os.path.abspath(__file__))


def settings(config) -> dict:
  """The preset's settings with the config's non-empty fields applied."""
  out = testbed.resolve_preset(config.preset)
  for key in ("problem_ids", "agents", "num_test_seeds", "num_enn_samples",
              "steps_scale"):
    value = config[key]
    if value:
      out[key] = tuple(value) if isinstance(value, (list, tuple)) else value
  return out


def run(config, workdir: str, command: str = "") -> dict:
  """Runs the sweep, writes ``results.json`` and the page; returns both."""
  s = settings(config)
  os.makedirs(workdir, exist_ok=True)
  start = time.perf_counter()
  records = testbed.run_sweep(
      s["problem_ids"], testbed.agent_configs(s["agents"], s["steps_scale"]),
      seeds=tuple(config.seeds), baselines=tuple(config.baselines),
      num_test_seeds=s["num_test_seeds"],
      num_enn_samples=s["num_enn_samples"], log=print)
  wall = time.perf_counter() - start
  notes = (f"Preset `{config.preset}`: {len(s['problem_ids'])} problems, "
           f"J = {s['num_test_seeds']} test seeds, M = "
           f"{s['num_enn_samples']} ENN samples, training seeds "
           f"{tuple(config.seeds)}, step scale {s['steps_scale']}.")
  page = testbed.leaderboard_markdown(
      records, command=command, wall_seconds=wall, notes=notes)
  result = {"settings": {k: list(v) if isinstance(v, tuple) else v
                         for k, v in s.items()},
            "preset": config.preset, "seeds": list(config.seeds),
            "command": command, "notes": notes,
            "records": records, "leaderboard": testbed.leaderboard(records),
            "wall_seconds": wall}
  with open(os.path.join(workdir, "results.json"), "w") as f:
    json.dump(result, f, indent=1)
  path = config.page or os.path.join(workdir, "testbed.md")
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "w") as f:
    f.write(page)
  return {"result": result, "page": page}


def run_symmetric(config, workdir: str, command: str = "") -> dict:
  """The symmetric testbed (plain vs C_n-averaged); writes its page."""
  sym = config.symmetric
  os.makedirs(workdir, exist_ok=True)
  start = time.perf_counter()
  path = sym.page or os.path.join(workdir, "testbed_symmetric.md")
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

  def save(records):
    wall = time.perf_counter() - start
    with open(os.path.join(workdir, "symmetric.json"), "w") as f:
      json.dump({"records": records, "wall_seconds": wall}, f, indent=1)
    with open(path, "w") as f:
      f.write(testbed.symmetric_markdown(records, command=command,
                                         wall_seconds=wall))

  records = testbed.run_symmetric(
      cells=tuple(tuple(c) for c in sym.cells), agent=sym.agent,
      rotations=sym.rotations, seeds=tuple(sym.seeds),
      steps_scale=sym.steps_scale, num_test_seeds=sym.num_test_seeds,
      num_enn_samples=sym.num_enn_samples, log=print, on_record=save)
  with open(path) as f:
    return {"records": records, "page": f.read()}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  args, skip = [], False
  for a in sys.argv[1:]:
    if skip or a.startswith("--workdir"):
      skip = a == "--workdir"
      continue
    args.append(a)
  command = " ".join(["python experiments/testbed.py", *args])
  if _CONFIG.value.mode == "symmetric":
    run_symmetric(_CONFIG.value, _WORKDIR.value, command)
  else:
    run(_CONFIG.value, _WORKDIR.value, command)


if __name__ == "__main__":
  # Flags are defined only when run as a script, so tests can import run().
  _CONFIG = cli.define_config_file(
      "config", os.path.join(_HERE, "..", "configs", "testbed.py"),
      "Path to the experiment config file.")
  _WORKDIR = flags.DEFINE_string("workdir", os.path.join("workdir", "testbed"),
                                 "Output directory.")
  app.run(main, flags_parser=cli.parse_flags)
