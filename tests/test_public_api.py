"""Experiment scripts and notebooks use only public API and stay thin.

Fails if a file under experiments/ (or a code cell of notebooks/*.ipynb)
imports a private module (``enn_sym.<pkg>._<name>``, ``from enn_sym.<pkg>
import _<name>``) or a private name (``from enn_sym... import _x``, or an
attribute access ``<enn_sym module alias>._x``), or if an experiment script
is longer than 150 lines.
"""

from __future__ import annotations

import ast
import glob
import json
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_LINES = 150


def _private(part: str) -> bool:
  return part.startswith("_") and not part.startswith("__")


def private_uses(source: str) -> list[str]:
  """Every private enn_sym import or attribute in ``source`` (one line
  each: ``line N: what``)."""
  tree = ast.parse(source)
  found, aliases = [], set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      for a in node.names:
        if a.name.split(".")[0] == "enn_sym":
          if any(_private(p) for p in a.name.split(".")):
            found.append(f"line {node.lineno}: import {a.name}")
          aliases.add(a.asname or a.name.split(".")[0])
    elif isinstance(node, ast.ImportFrom) and node.module and (
        node.module.split(".")[0] == "enn_sym"):
      if any(_private(p) for p in node.module.split(".")):
        found.append(f"line {node.lineno}: from {node.module} import ...")
      for a in node.names:
        if _private(a.name):
          found.append(f"line {node.lineno}: from {node.module} import "
                       f"{a.name}")
        else:
          aliases.add(a.asname or a.name)
  for node in ast.walk(tree):
    if isinstance(node, ast.Attribute) and _private(node.attr):
      root = node.value
      while isinstance(root, ast.Attribute):
        root = root.value
      if isinstance(root, ast.Name) and root.id in aliases:
        found.append(f"line {node.lineno}: {ast.unparse(node)}")
  return sorted(found, key=lambda f: int(f.split(":")[0].split()[1]))


def _scripts():
  return sorted(os.path.relpath(p, REPO)
                for p in glob.glob(os.path.join(REPO, "experiments", "*.py")))


def _notebook_sources():
  out = []
  for path in sorted(glob.glob(os.path.join(REPO, "notebooks", "*.ipynb"))):
    with open(path) as f:
      cells = json.load(f)["cells"]
    code = [c for c in cells if c.get("cell_type") == "code"]
    lines = []
    for c in code:
      src = c["source"]
      src = "".join(src) if isinstance(src, list) else src
      # IPython magics and shell escapes are not Python.
      lines += [l for l in src.splitlines()
                if not l.lstrip().startswith(("%", "!"))]
    out.append((os.path.relpath(path, REPO), "\n".join(lines)))
  return out


def test_the_checker_finds_every_form():
  source = "\n".join([
      "from enn_sym.train import _loop",
      "import enn_sym.train._steps as steps",
      "from enn_sym.symmetry._groups import CyclicGroup",
      "from enn_sym import _validation",
      "from enn_sym.train import _private_name, Sweep",
      "from enn_sym import train",
      "x = train._report.SUMMARY_KEYS",
      "import enn_sym",
      "y = enn_sym.metrics._binned",
      "z = other._private  # not enn_sym: fine",
      "from enn_sym.train import Sweep as _S  # private alias of public: fine",
      "w = train.__name__",
  ])
  found = private_uses(source)
  assert [f.split(":")[0] for f in found] == [
      "line 1", "line 2", "line 3", "line 4", "line 5", "line 7", "line 9"]


@pytest.mark.parametrize("path", _scripts())
def test_experiment_uses_only_public_api(path):
  with open(os.path.join(REPO, path)) as f:
    found = private_uses(f.read())
  assert not found, f"{path} uses private API: " + "; ".join(found)


@pytest.mark.parametrize("path", _scripts())
def test_experiment_is_thin(path):
  with open(os.path.join(REPO, path)) as f:
    n = len(f.read().splitlines())
  assert n <= MAX_LINES, (f"{path} has {n} lines (> {MAX_LINES}): move its "
                          f"logic into the library.")


def test_notebooks_use_only_public_api():
  for path, source in _notebook_sources():
    found = private_uses(source)
    assert not found, f"{path} uses private API: " + "; ".join(found)


@pytest.mark.parametrize("path", _scripts())
def test_no_script_loads_another_through_sys_path(path):
  with open(os.path.join(REPO, path)) as f:
    uses = "sys.path" in f.read()
  assert not uses, f"{path} edits sys.path: move the shared code to the library"
