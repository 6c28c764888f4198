"""The notebooks run on the CPU, each within 3 minutes, without a cell error.

The 3 minutes are the CPU time of the kernel and the processes it starts
(load-independent; on a quiet machine the wall time is no more than that).

They are stored without outputs and executed here with nbclient in a fresh
kernel whose working directory is a temporary folder. ``ENN_SYM_NOTEBOOK_TEST``
makes each notebook skip its Colab install cell; the kernel imports this
checkout (``PYTHONPATH``). Each notebook ends with a cell asserting its key
result, so a wrong number fails here like an exception does.
"""

from __future__ import annotations

import configparser
import glob
import os
import re
import resource
import shutil
import subprocess
import sys
import time

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = sorted(glob.glob(os.path.join(REPO, "notebooks", "*.ipynb")))
LIMIT_S = 180

def _repository_url():
  parser = configparser.ConfigParser()
  parser.read(os.path.join(REPO, "setup.cfg"))
  return parser["metadata"]["url"].strip()


# The one repository URL (setup.cfg [metadata] url; scripts/set_repository.py
# changes it everywhere for a fork).
URL = _repository_url()
INSTALL = f'"enn_sym @ git+{URL}.git"'
COLAB = "https://colab.research.google.com/github/" + URL.split(
    "github.com/", 1)[1] + "/blob/main/"


def _read(path):
  return nbformat.read(path, as_version=4)


def test_there_are_three_notebooks():
  names = [os.path.basename(p) for p in NOTEBOOKS]
  assert names == ["01_epinet_quickstart.ipynb", "02_symmetry.ipynb",
                   "03_extending.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_is_stored_clean_and_opens_with_the_install_cell(path):
  nb = _read(path)
  nbformat.validate(nb)
  code = [c for c in nb.cells if c.cell_type == "code"]
  for cell in code:
    assert not cell.get("outputs") and cell.get("execution_count") is None, (
        "store notebooks without outputs")
  install = code[0].source
  assert INSTALL in install and "ENN_SYM_NOTEBOOK_TEST" in install
  assert "GPU" in install and "TPU" in install
  # The badge opens this very notebook of the repository at URL.
  badges = re.findall(r"\]\((https://colab\.research\.google\.com/github/"
                      r"[^)]*)\)", nb.cells[0].source)
  assert badges == [COLAB + "notebooks/" + os.path.basename(path)]
  assert re.search(r"^\s*assert ", code[-1].source, re.M), (
      "the last cell asserts the notebook's key result")
  # Public API only: no private enn_sym modules or names.
  text = "\n".join(c.source for c in code)
  assert not re.search(r"enn_sym(\.\w+)*\._\w+|from enn_sym\S* import _", text)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs_on_cpu(path, tmp_path, monkeypatch):
  monkeypatch.setenv("ENN_SYM_NOTEBOOK_TEST", "1")
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")
  monkeypatch.setenv("MPLBACKEND", "Agg")
  monkeypatch.setenv("PYTHONPATH", REPO + os.pathsep + os.environ.get(
      "PYTHONPATH", ""))
  nb = _read(path)
  client = nbclient.NotebookClient(
      nb, timeout=3 * LIMIT_S, kernel_name="python3", allow_errors=False,
      resources={"metadata": {"path": str(tmp_path)}})
  def cpu_seconds():  # Of finished children: the kernel and what it ran.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime

  start, cpu_start = time.perf_counter(), cpu_seconds()
  client.execute()  # Raises CellExecutionError on any cell error.
  elapsed = time.perf_counter() - start
  cpu = cpu_seconds() - cpu_start
  # The 3-minute budget is checked on the CPU time of the kernel (and of the
  # processes it ran): on a quiet machine the wall time is at most that, and
  # unlike the wall time it does not grow when other jobs share the cores.
  assert cpu > 1.0, "the kernel's CPU time was not measured"
  print(f"{os.path.basename(path)}: {cpu:.0f} s CPU, {elapsed:.0f} s wall")
  assert cpu < LIMIT_S, (f"{os.path.basename(path)} used {cpu:.0f} s of CPU "
                         f"({elapsed:.0f} s wall)")
  last = [c for c in nb.cells if c.cell_type == "code"][-1]
  assert any("ok" in o.get("text", "") for o in last.outputs)


def _text(path):
  with open(path) as f:
    return f.read()


def _github_urls(text):
  return set(re.findall(r"https://github\.com/[\w.-]+/[\w.-]+", text))


def test_readme_docs_and_notebooks_use_the_one_repository_url():
  """README's badges, the notebooks and docs name no other copy of the
  repository than setup.cfg's url (third-party links excepted)."""
  readme = _text(os.path.join(REPO, "README.md"))
  for path in NOTEBOOKS:
    badge = COLAB + "notebooks/" + os.path.basename(path)
    assert f"]({badge})" in readme, f"README's badge for {path}"
  assert readme.count("colab.research.google.com/github/") == len(NOTEBOOKS)
  third_party = {"https://github.com/lanpa/tensorboardX"}
  texts = [readme] + [_text(p) for p in NOTEBOOKS + glob.glob(
      os.path.join(REPO, "docs", "*.md"))]
  found = set().union(*map(_github_urls, texts)) - third_party
  assert found <= {URL, URL + ".git"}, found


def test_set_repository_rewrites_every_use(tmp_path):
  script = os.path.join(REPO, "scripts", "set_repository.py")
  for name in ("setup.cfg", "README.md"):
    shutil.copy(os.path.join(REPO, name), tmp_path / name)
  for folder in ("docs", "notebooks"):
    os.makedirs(tmp_path / folder)
    for path in glob.glob(os.path.join(REPO, folder, "*.*")):
      if path.endswith((".md", ".ipynb")):
        shutil.copy(path, tmp_path / folder)
  fork = "https://github.com/someone/enn-fork"
  out = subprocess.run([sys.executable, script, fork, "--root",
                        str(tmp_path)], capture_output=True, text=True,
                       check=True)
  changed = sorted(l.split()[-1] for l in out.stdout.splitlines())
  assert {"setup.cfg", "README.md", "docs/multidevice.md"} <= set(changed)
  assert {f"notebooks/{os.path.basename(p)}" for p in NOTEBOOKS} <= set(
      changed)
  texts = [p.read_text() for p in tmp_path.rglob("*") if p.is_file()]
  assert not any(URL in t for t in texts)  # No use of the old URL is left.
  readme = (tmp_path / "README.md").read_text()
  assert readme.count("colab.research.google.com/github/someone/enn-fork/"
                      "blob/main/notebooks/") == len(NOTEBOOKS)
  for path in NOTEBOOKS:
    nb = nbformat.read(str(tmp_path / "notebooks" / os.path.basename(path)),
                       as_version=4)
    assert f'"enn_sym @ git+{fork}.git"' in nb.cells[1].source
