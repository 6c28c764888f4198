r"""The Neural Testbed (Osband et al. 2022) for this library's ENNs.

  python experiments/testbed.py --workdir workdir/testbed_default \
      --config.page=docs/results/testbed.md      # both parts, one page
  python experiments/testbed.py --config.preset=quick   # smoke run
  python experiments/testbed.py --workdir docs/results/testbed \
      --config.page=docs/results/testbed.md --config.report_only=True

Part 1, the leaderboard: trains every agent of the preset once per
teacher/training set (the ids i and i + 180 share them), scores marginal
(tau = 1) and joint (tau = 10) KL against the teacher (``results.json``).
Part 2, the symmetric testbed: plain vs group-averaged ENNs on invariant /
partly invariant / extrinsic teachers, early-stopped (``symmetric.json``).
``--config.mode`` runs one part; the page is always assembled from every part
saved in the workdir, and ``report_only`` only re-renders it. All logic lives
in :mod:`enn_sym.testbed`.
"""

import json
import os
import sys
import time

from absl import app
from enn_sym import cli  # pylint: disable=g-bad-import-order
from absl import flags

from enn_sym import testbed

_HERE = os.path.dirname(os.path.abspath(__file__))
_FOOTER = ("See also: [testbed_fixes.md](testbed_fixes.md) (before/after for "
           "each fix); protocol and API in [../testbed.md](../testbed.md).")


def settings(config) -> dict:
  """The leaderboard preset's settings with the config's non-empty fields."""
  out = testbed.resolve_preset(config.preset)
  for key in ("problem_ids", "agents", "num_test_seeds", "num_enn_samples",
              "steps_scale"):
    value = config[key]
    if value:
      out[key] = tuple(value) if isinstance(value, (list, tuple)) else value
  return out


def symmetric_settings(config) -> dict:
  """The symmetric preset's settings with ``config.symmetric`` applied."""
  sym, out = config.symmetric, testbed.resolve_symmetric_preset(config.preset)
  for key in ("cells", "seeds", "max_steps", "eval_every", "patience",
              "num_test_seeds", "num_enn_samples", "num_inputs", "num_labels"):
    if sym[key]:
      out[key] = sym[key]
  if sym.min_delta >= 0:
    out["min_delta"] = sym.min_delta
  out["cells"] = [list(c) for c in out["cells"]]
  out["seeds"] = [int(s) for s in out["seeds"]]
  out.update(agent=sym.agent, rotations=sym.rotations,
             steps_scale=sym.steps_scale)
  return out


def _dump(workdir, name, obj):
  with open(os.path.join(workdir, name), "w") as f:
    json.dump(obj, f, indent=1)


def run(config, workdir: str, command: str = "") -> dict:
  """The leaderboard part: ``results.json``, then the page."""
  s = settings(config)
  os.makedirs(workdir, exist_ok=True)
  start, load = time.perf_counter(), [os.getloadavg()[0]]
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
  result = {"settings": {k: list(v) if isinstance(v, tuple) else v
                         for k, v in s.items()},
            "preset": config.preset, "seeds": list(config.seeds),
            "command": command, "notes": notes,
            "records": records, "leaderboard": testbed.leaderboard(records),
            "wall_seconds": wall, "load_average": load + [os.getloadavg()[0]]}
  _dump(workdir, "results.json", result)
  return {"result": result, "page": write_page(config, workdir, command)}


def run_symmetric(config, workdir: str, command: str = "") -> dict:
  """The symmetric part: ``symmetric.json`` (after every record), the page."""
  s = symmetric_settings(config)
  os.makedirs(workdir, exist_ok=True)
  start, load = time.perf_counter(), [os.getloadavg()[0]]

  def save(records):
    load.append(os.getloadavg()[0])
    _dump(workdir, "symmetric.json", {
        "settings": s, "command": command, "records": records,
        "wall_seconds": time.perf_counter() - start, "load_average": load})

  records = testbed.run_symmetric(log=print, on_record=save, **s)
  save(records)
  return {"records": records, "page": write_page(config, workdir, command)}


def write_page(config, workdir: str, command: str = "",
               require: bool = False) -> str:
  """Assembles the page from the parts saved in ``workdir``."""
  parts = testbed.load_parts(workdir, require=require)
  page = testbed.results_page(parts["leaderboard"], parts["symmetric"],
                              command=command, footer=_FOOTER)
  path = config.page or os.path.join(workdir, "testbed.md")
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "w") as f:
    f.write(page)
  return page


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  config, workdir = _CONFIG.value, _WORKDIR.value
  args, skip = [], False
  for a in sys.argv[1:]:  # a report names the workdir it reads; runs do not
    if not config.report_only and (skip or a.startswith("--workdir")):
      skip = a == "--workdir"
      continue
    args.append(a)
  command = " ".join(["python experiments/testbed.py", *args])
  parts = testbed.run_parts(config.mode)
  if config.report_only:
    write_page(config, workdir, command, require=True)
    return
  if "leaderboard" in parts:
    run(config, workdir, command)
  if "symmetric" in parts:
    run_symmetric(config, workdir, command)


if __name__ == "__main__":
  # Flags are defined only when run as a script, so tests can import run().
  _CONFIG = cli.define_config_file(
      "config", os.path.join(_HERE, "..", "configs", "testbed.py"),
      "Path to the experiment config file.")
  _WORKDIR = flags.DEFINE_string("workdir", os.path.join("workdir", "testbed"),
                                 "Output directory.")
  app.run(main, flags_parser=cli.parse_flags)
