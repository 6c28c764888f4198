"""Experiment scripts: a bad command-line override is one clear line."""

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(script, *args):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  return subprocess.run([sys.executable, f"experiments/{script}", *args],
                        cwd=REPO, env=env, capture_output=True, text=True,
                        timeout=120, check=False)


@pytest.mark.parametrize("script,flag,expected", [
    ("train.py", "--config.num_step=3",
     "--config.num_step: the config has no key 'num_step'. Did you mean "
     "\"num_steps\""),
    ("train.py", "--config.num_steps=abc", "invalid literal for int()"),
    ("six_vs_nine.py", "--config.base.data.nme=x",
     "--config.base.data.nme: the config has no key 'nme'. Did you mean "
     "\"name\""),
])
def test_bad_override_is_one_line_and_exit_2(script, flag, expected):
  proc = _run(script, flag, "--workdir", "/nonexistent/never-written")
  assert proc.returncode == 2, proc.stderr
  assert proc.stderr.startswith("error: "), proc.stderr
  assert expected in proc.stderr
  assert "Traceback" not in proc.stderr


def test_experiment_scripts_define_no_flags_on_import():
  # Tests import several scripts into one process (pytest-xdist mixes test
  # files freely): a flag defined at import time would clash
  # (DuplicateFlagError) depending on the test order.
  code = (
      "import glob, importlib.util, os, sys\n"
      "from absl import app, flags, logging\n"
      "import orbax.checkpoint  # defines flags of its own\n"
      "sys.path.insert(0, 'experiments')\n"
      "before = set(flags.FLAGS)\n"
      "for path in sorted(glob.glob('experiments/*.py')):\n"
      "  name = '_x_' + os.path.basename(path)[:-3]\n"
      "  spec = importlib.util.spec_from_file_location(name, path)\n"
      "  spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
      "new = sorted(set(flags.FLAGS) - before)\n"
      "print(new)\n"
      "sys.exit(1 if new else 0)\n")
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=180,
                        check=False)
  assert proc.returncode == 0, proc.stdout + proc.stderr
