"""Small configs and a subprocess runner shared by the training tests.

Run as a script, it trains ``tiny_config`` (plus ``--config.X=Y`` style
overrides given as ``key=value`` arguments) in the workdir given first, and
prints the summary as JSON on its last line, with ``num_devices``,
``restored`` (``{kind: step}`` restored at start) and ``steps_run``
(``{kind: optimizer steps this process took}``). The multi-device test runs it
under ``XLA_FLAGS=--xla_force_host_platform_device_count=8``.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys

from enn_sym import train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_file(path: str, name: str):
  """Imports the repository file ``path`` (e.g. ``configs/x.py``) as a
  module called ``name`` (scripts and configs are not a package)."""
  spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, path))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def tiny_config(**overrides):
  config = train.default_config()
  config.models = ("base",)
  config.num_steps = 2
  config.batch_size = 16
  config.eval_batch_size = 40
  config.log_every = 1
  config.eval_every = 1000
  config.checkpoint_every = 1000
  config.eval_num_indices = 3
  config.loss.num_index_samples = 2
  config.model.mlp_hidden_sizes = (16,)
  config.model.epinet.hidden_sizes = (8,)
  config.model.epinet.index_dim = 3
  config.model.ensemble.num_ensemble = 2
  config.metrics.joint_num_samples = 10
  config.progress_bar = False
  config.plots = False
  for key, value in overrides.items():
    node = config
    *path, leaf = key.split(".")
    for part in path:
      node = node[part]
    node[leaf] = value
  return config


def run_subprocess(workdir: str, overrides: dict, num_devices: int = 1,
                   timeout: float = 600) -> dict:
  env = dict(os.environ)
  env["XLA_FLAGS"] = (f"--xla_force_host_platform_device_count={num_devices}"
                      if num_devices > 1 else "")
  env["JAX_PLATFORMS"] = "cpu"
  args = [f"{k}={v!r}" for k, v in overrides.items()]
  proc = subprocess.run(
      [sys.executable, os.path.abspath(__file__), workdir, *args], env=env,
      capture_output=True, text=True, timeout=timeout, cwd=REPO, check=False)
  if proc.returncode:
    raise AssertionError(f"subprocess failed:\n{proc.stderr[-4000:]}")
  return json.loads(proc.stdout.strip().splitlines()[-1])


def _main(argv):
  import jax  # pylint: disable=g-import-not-at-top
  workdir, *pairs = argv
  overrides = {}
  for pair in pairs:
    key, value = pair.split("=", 1)
    overrides[key] = ast.literal_eval(value)
  trainer = train.Trainer(tiny_config(**overrides), workdir)
  restored = trainer.init_or_restore()
  trainer.train()
  summary = trainer.summary()
  summary["num_devices"] = jax.device_count()
  # What this process did: the steps it restored and the steps it trained.
  summary["restored"] = restored
  summary["steps_run"] = {k: r.steps_run for k, r in trainer.runs.items()}
  print(json.dumps(summary))


if __name__ == "__main__":
  _main(sys.argv[1:])
