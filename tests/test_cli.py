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
