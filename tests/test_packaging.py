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


# --- Installed use: version, configs, console scripts, typing. ------------

import filecmp  # noqa: E402
import glob  # noqa: E402
import re  # noqa: E402
import zipfile  # noqa: E402

import pytest  # noqa: E402

import enn_sym  # noqa: E402
from enn_sym import _console  # noqa: E402
from enn_sym import configs as packaged_configs  # noqa: E402


def _setup_cfg():
  cfg = configparser.ConfigParser()
  cfg.read(os.path.join(REPO, "setup.cfg"))
  return cfg


def test_one_version_source():
  cfg = _setup_cfg()
  assert cfg["metadata"]["version"].strip() == "attr: enn_sym.__version__"
  assert re.fullmatch(r"\d+\.\d+\.\d+", enn_sym.__version__)
  with open(os.path.join(REPO, "CHANGELOG.md")) as f:
    changelog = f.read()
  assert f"## {enn_sym.__version__}" in changelog
  # No other file states a version.
  with open(os.path.join(REPO, "pyproject.toml")) as f:
    assert "version" not in f.read()


def test_packaged_configs_are_identical_to_configs():
  edit = sorted(os.path.basename(p)
                for p in glob.glob(os.path.join(REPO, "configs", "*.py")))
  packaged = sorted(os.path.basename(p) for p in glob.glob(
      os.path.join(packaged_configs.DIRECTORY, "*.py"))
                    if not os.path.basename(p).startswith("_"))
  fix = "refresh the copies: cp configs/*.py enn_sym/configs/"
  assert edit == packaged, fix
  for name in edit:
    assert filecmp.cmp(os.path.join(REPO, "configs", name),
                       os.path.join(packaged_configs.DIRECTORY, name),
                       shallow=False), f"enn_sym/configs/{name} differs; {fix}"


def test_packaged_config_names_resolve():
  assert "default" in packaged_configs.names()
  path = packaged_configs.path("enn_sym:default")
  assert path == os.path.join(packaged_configs.DIRECTORY, "default.py")
  assert packaged_configs.path("default") == path
  assert packaged_configs.resolve("enn_sym:digits:x") == (
      packaged_configs.path("digits") + ":x")
  assert packaged_configs.resolve("configs/x.py") == "configs/x.py"
  with pytest.raises(ValueError, match=r"No packaged config 'enn_sym:nope'; "
                     r"packaged configs: \[.*'enn_sym:default'"):
    packaged_configs.path("enn_sym:nope")
  argv = _console.resolve_config_argv(
      ["prog", "--config=enn_sym:digits", "--config.num_steps=3",
       "--workdir", "w", "--config", "enn_sym:default"])
  assert argv == ["prog", f"--config={packaged_configs.path('digits')}",
                  "--config.num_steps=3", "--workdir", "w", "--config",
                  packaged_configs.path("default")]


def test_console_scripts_are_declared_and_importable():
  scripts = {}
  for line in _setup_cfg()["options.entry_points"]["console_scripts"].split(
      "\n"):
    if line.strip():
      name, target = (s.strip() for s in line.split("="))
      scripts[name] = target
  assert set(scripts) == {"enn-sym-train", "enn-sym-sweep"}
  module, func = scripts["enn-sym-train"].split(":")
  assert module == "enn_sym._console" and callable(getattr(_console, func))
  module, func = scripts["enn-sym-sweep"].split(":")
  assert module == "enn_sym.train"
  from enn_sym import train  # pylint: disable=g-import-not-at-top
  if not hasattr(train, func):
    pytest.skip(f"enn_sym.train.{func} is provided by the sweep branch")
  assert callable(getattr(train, func))


def _run_train_script(args, cwd):
  code = "from enn_sym._console import train_main; train_main()"
  env = dict(os.environ, PYTHONPATH=REPO, JAX_PLATFORMS="cpu")
  return subprocess.run([sys.executable, "-c", code] + args, cwd=cwd, env=env,
                        capture_output=True, text=True, timeout=600,
                        check=False)


@pytest.mark.slow
def test_enn_sym_train_runs_a_packaged_config(tmp_path):
  proc = _run_train_script(
      ["--config=enn_sym:digits", "--config.num_steps=2",
       "--config.models=('base',)", "--config.progress_bar=False",
       "--config.plots=False", f"--workdir={tmp_path / 'run'}"], tmp_path)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "accuracy" in proc.stdout and (tmp_path / "run" /
                                        "summary.json").exists()


@pytest.mark.slow
def test_enn_sym_train_bad_config_is_one_line(tmp_path):
  proc = _run_train_script(["--config=enn_sym:nope"], tmp_path)
  assert proc.returncode == 2
  assert proc.stderr.strip().startswith("error: --config: No packaged config")
  assert len(proc.stderr.strip().splitlines()) == 1
  proc = _run_train_script(["--config=enn_sym:digits",
                            "--config.num_step=2"], tmp_path)
  assert proc.returncode == 2 and "Did you mean" in proc.stderr
  assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_wheel_ships_configs_types_and_scripts(tmp_path):
  pytest.importorskip("wheel")
  import shutil  # pylint: disable=g-import-not-at-top
  src = tmp_path / "src"  # A copy: building writes build/ next to setup.cfg.
  shutil.copytree(os.path.join(REPO, "enn_sym"), src / "enn_sym",
                  ignore=shutil.ignore_patterns("__pycache__"))
  for name in ("setup.cfg", "pyproject.toml", "README.md"):
    shutil.copy(os.path.join(REPO, name), src / name)
  proc = subprocess.run(
      [sys.executable, "-m", "pip", "wheel", "--no-deps",
       "--no-build-isolation", "--no-index", "-w", str(tmp_path), str(src)],
      cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  (wheel,) = glob.glob(str(tmp_path / "*.whl"))
  assert f"enn_sym-{enn_sym.__version__}-" in os.path.basename(wheel)
  names = zipfile.ZipFile(wheel).namelist()
  assert "enn_sym/py.typed" in names
  assert "enn_sym/configs/default.py" in names
  entry = [n for n in names if n.endswith("entry_points.txt")]
  text = zipfile.ZipFile(wheel).read(entry[0]).decode()
  assert "enn-sym-train = enn_sym._console:train_main" in text


def test_test_extras_hold_what_the_optional_tests_import():
  """Tests that importorskip an optional package run in CI only when the
  `test` extra installs it: TensorBoard (tensorboardX), the notebooks
  (nbclient, nbformat, ipykernel), the TFDS tests."""
  extras = _setup_cfg()["options.extras_require"]

  def names(extra):
    return {re.split(r"[<>=\[ ]", line.strip())[0].lower()
            for line in extras[extra].strip().splitlines() if line.strip()}

  test = names("test")
  assert {"tensorboardx", "nbclient", "nbformat", "ipykernel",
          "tensorflow-datasets", "hypothesis"} <= test
  assert names("tensorboard") == {"tensorboardx"} <= test
  assert names("tfds") <= test
  skipped = set()
  for path in glob.glob(os.path.join(REPO, "tests", "*.py")):
    with open(path) as f:
      skipped |= set(re.findall(r"importorskip\(\"(\w+)", f.read()))
  module_of = {"tensorboardx": "tensorboardX", "tensorflow-datasets":
               "tensorflow_datasets"}
  provided = {module_of.get(n, n) for n in test}
  assert skipped <= provided, skipped - provided
