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


# ---------------------------------------------------------------------------
# Repeated flags replace; user errors are one line with exit status 2.

_CONFIG_FILE = """
import ml_collections
def get_config():
  c = ml_collections.ConfigDict()
  c.sizes = (50, 50)
  c.models = ("base", "epinet")
  c.plots = True
  c.n = 3
  return c
"""

# {runner} is `cli.run(main)` or `app.run(main, flags_parser=cli.parse_flags)`.
_SCRIPT = """
import atexit, os, sys
from absl import app, flags
from enn_sym import cli

atexit.register(lambda: print("atexit ran", flush=True))

def main(argv):
  c = _CONFIG.value
  print(repr((tuple(c.sizes), tuple(c.models), c.plots, c.n)))
  mode = _MODE.value
  if mode == "os":
    os.makedirs(_WORKDIR.value, exist_ok=True)
    open(os.path.join(_WORKDIR.value, "out.txt"), "w").close()
  elif mode == "input":
    from enn_sym import _validation
    raise _validation.InputError("labels must lie in [0, 10)")
  elif mode == "config":
    from enn_sym import train
    c = train.default_config()
    c.model.epinet.prior = "no_such_prior"
    train.validate_config(c)
  elif mode == "bug":
    raise KeyError("a bug keeps its traceback")

if __name__ == "__main__":
  _CONFIG = cli.define_config_file("config", {config!r}, "config file")
  _WORKDIR = flags.DEFINE_string("workdir", "/tmp", "workdir")
  _MODE = flags.DEFINE_string("mode", "", "what to fail with")
  {runner}
"""

_RUNNERS = {"cli.run": "cli.run(main)",
            "app.run": "app.run(main, flags_parser=cli.parse_flags)"}


def _make_script(tmp_path, runner):
  config = tmp_path / "cfg.py"
  config.write_text(_CONFIG_FILE)
  path = tmp_path / f"script_{runner.split('.')[0]}.py"
  path.write_text(_SCRIPT.format(config=str(config), runner=_RUNNERS[runner]))

  def run(*args):
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, str(path), *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True,
                          timeout=120, check=False)

  return run


@pytest.fixture(name="script")
def _script(tmp_path):
  """A script run through ``cli.run(main)``."""
  return _make_script(tmp_path, "cli.run")


def _values(proc):
  assert proc.returncode == 0, proc.stderr
  lines = [l for l in proc.stdout.strip().splitlines() if l != "atexit ran"]
  return eval(lines[-1])  # pylint: disable=eval-used


def _assert_one_error_line(proc, *expected):
  assert proc.returncode == 2, (proc.returncode, proc.stderr)
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
  for text in expected:
    assert text in lines[0], lines[0]


def test_repeated_tuple_override_replaces(script):
  sizes, models, plots, n = _values(script(
      "--config.sizes=(50,50)", "--config.sizes=(64,)",
      "--config.models=('base','epinet')", "--config.models", "ensemble",
      "--noconfig.plots", "--config.plots", "--config.n=4", "--config.n=5"))
  assert sizes == (64,)
  assert models == ("ensemble",)
  assert plots is True
  assert n == 5


def test_single_tuple_override_and_defaults(script):
  assert _values(script("--config.sizes=(7,8,9)")) == (
      (7, 8, 9), ("base", "epinet"), True, 3)


def test_dedupe_overrides_keeps_last_and_other_args():
  from enn_sym import cli  # pylint: disable=g-import-not-at-top
  cli._CONFIG_FLAGS.add("config")  # pylint: disable=protected-access
  argv = ["prog", "--config.a=(1,)", "--workdir", "w", "--config.a", "(2,)",
          "--config.b=1", "--", "--config.a=(3,)"]
  assert cli.dedupe_overrides(argv) == [
      "prog", "--workdir", "w", "--config.a", "(2,)", "--config.b=1", "--",
      "--config.a=(3,)"]
  assert cli.dedupe_overrides(["prog", "--noconfig.p", "--config.p"]) == [
      "prog", "--config.p"]


@pytest.mark.parametrize("mode,expected", [
    ("input", ("labels must lie in [0, 10)",)),
    ("config", ("config.model.epinet.prior: must be one of the registered [",
                "@enn_sym.register_prior(")),
])
def test_user_error_in_main_is_one_line(script, mode, expected):
  proc = script(f"--mode={mode}")
  _assert_one_error_line(proc, *expected)
  # cli.run exits through SystemExit(2): the interpreter shuts down normally.
  assert "atexit ran" in proc.stdout


@pytest.mark.parametrize("mode", ["input", "config"])
def test_app_run_with_parse_flags_is_one_line_too(tmp_path, mode):
  # Scripts that keep app.run(main, flags_parser=cli.parse_flags) get the
  # same line and status through the excepthook parse_flags installs.
  run = _make_script(tmp_path, "app.run")
  _assert_one_error_line(run(f"--mode={mode}"))
  assert _values(run("--config.sizes=(1,)", "--config.sizes=(2,)"))[0] == (
      2,)


def test_file_typed_workdir_is_one_line(script, tmp_path):
  blocker = tmp_path / "a_file"
  blocker.write_text("")
  _assert_one_error_line(script("--mode=os", f"--workdir={blocker}"),
                         str(blocker), "--workdir")


def test_unwritable_workdir_is_one_line(script, tmp_path):
  if os.geteuid() == 0:  # Root writes through permissions; /proc refuses.
    workdir = "/proc/enn_sym_unwritable/run"
  else:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    workdir = str(locked / "run")
  _assert_one_error_line(script("--mode=os", f"--workdir={workdir}"),
                         "enn_sym_unwritable" if os.geteuid() == 0
                         else "locked")


def test_missing_config_file_is_one_line(script, tmp_path):
  missing = tmp_path / "nope.py"
  _assert_one_error_line(script(f"--config={missing}"),
                         f"--config={missing}: cannot load the config file",
                         "No such file", "get_config()")


def test_bug_keeps_its_traceback(script):
  proc = script("--mode=bug")
  assert proc.returncode == 1
  assert "Traceback" in proc.stderr and "a bug keeps its traceback" in (
      proc.stderr)


@pytest.mark.slow
@pytest.mark.parametrize("script_name", ["train.py", "six_vs_nine.py"])
def test_experiment_script_missing_config_file(script_name):
  proc = _run(script_name, "--config=/nonexistent/config.py")
  _assert_one_error_line(
      proc, "--config=/nonexistent/config.py: cannot load the config file",
      "No such file")


@pytest.mark.slow
def test_experiment_script_file_typed_workdir(tmp_path):
  blocker = tmp_path / "a_file"
  blocker.write_text("")
  proc = _run("train.py", f"--workdir={blocker}", "--config.num_steps=1",
              "--config.models=('base',)")
  _assert_one_error_line(proc, str(blocker))


def test_no_intact_checkpoint_is_a_user_error():
  # A workdir whose checkpoints are all unreadable: one error: line (exit 2
  # through cli.run), naming the fix, not a traceback.
  from enn_sym import cli, train  # pylint: disable=g-import-not-at-top
  message = cli.user_error_message(train.CheckpointError(
      "no intact checkpoint in /w; use a new --workdir"))
  assert message is not None and "new --workdir" in message
  assert cli.user_error_message(RuntimeError("a bug")) is None
