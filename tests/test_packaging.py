"""The set-up promises: README's two commands, .ci/run, dependencies."""

import configparser
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _readme_commands():
  with open(os.path.join(REPO, "README.md")) as f:
    text = f.read()
  block = text.split("```bash\n", 1)[1].split("```", 1)[0]
  return [line for line in block.splitlines() if line.strip()]


def test_readme_opens_with_exactly_two_commands():
  with open(os.path.join(REPO, "README.md")) as f:
    head = f.read().split("```bash", 1)[0]
  assert head.strip() == "# enn_sym"
  install_run, install_test = _readme_commands()
  assert install_run == ("python -m pip install -e . && "
                         "python experiments/train.py")
  assert "'.[test]'" in install_test and "pytest" in install_test


def test_ci_runs_the_readme_test_command():
  with open(os.path.join(REPO, ".ci", "run")) as f:
    lines = [l.strip() for l in f if l.strip() and not l.startswith("#")]
  assert _readme_commands()[1] in lines


def test_dependencies_exclude_tensorflow_and_enn():
  cfg = configparser.ConfigParser()
  cfg.read(os.path.join(REPO, "setup.cfg"))
  requires = [r.strip().split(">")[0].split("=")[0].split("<")[0]
              for r in cfg["options"]["install_requires"].splitlines()
              if r.strip()]
  assert "enn" not in requires
  assert not any(r.startswith("tensorflow") for r in requires)
  assert {"jax", "flax", "optax", "chex"} <= set(requires)


def test_import_does_not_import_tensorflow():
  code = ("import sys, enn_sym, enn_sym.train, enn_sym.data; "
          "bad = [m for m in sys.modules if m.split('.')[0] in "
          "('tensorflow', 'tensorflow_datasets')]; print(bad); "
          "sys.exit(1 if bad else 0)")
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                        text=True, timeout=120, check=False)
  assert proc.returncode == 0, proc.stdout + proc.stderr
