r"""Mutation testing of the core modules: mutate, run the covering tests.

  nice python scripts/mutation_test.py --max-per-module 20 --seed 0 \
      --json mutation.json

For each module below, the script enumerates mutants of the source with
standard operators, samples up to ``--max-per-module`` of them uniformly
(seeded; mutants matching ``--always``, by default the epinet's
``stop_gradient``, are always included), writes each mutant into a scratch copy of the repository and runs the tests
that cover the module (``pytest -x``, fast subset). A mutant is *killed*
when the tests fail (or time out) and *survives* when they pass. It prints
the kill rate per module and the surviving mutants (file, line, the
original and mutated code) and writes them to ``--json``.

Operators: comparison (``<`` <-> ``<=``, ``>`` <-> ``>=``, ``==`` <->
``!=``), arithmetic (``+`` <-> ``-``, ``*`` <-> ``/``), numeric constants
(``n`` -> ``n + 1``; ``0.0`` <-> ``1.0``), boolean (``and`` <-> ``or``,
``not x`` -> ``x``, ``True`` <-> ``False``), unary minus removed, and calls
of ``stop_gradient``, ``abs``, ``maximum``/``minimum`` (first argument
kept) and ``where`` (condition negated). Docstrings, string constants,
``raise`` statements (messages) and annotations are never mutated.

Why not mutmut or cosmic-ray: both are maintained and pip-installable
(mutmut 3.8 was checked), but mutmut needs its configuration in setup.cfg
or pyproject.toml (owned by another part of the project), copies the project
and first runs the whole test selection to map tests to functions, and
cosmic-ray needs a session database and a worker setup; on a shared 2-core
machine where one JAX test process costs 5-30 s a bounded, sampled,
per-module run was needed. This driver is ~200 lines and has no state.

Not part of the default test suite (it runs the tests hundreds of times).
``enn_sym/bounds/`` is excluded from the default module list while it is
being rewritten; pass ``--modules bounds`` to include it once it settles.
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# module name -> [(source file, the tests that cover it: a fast subset)].
_M = "tests/test_metrics.py"
MODULES = {
    "metrics": [
        ("enn_sym/metrics/_binned.py", [_M]),
        ("enn_sym/metrics/_classification.py", [_M]),
        ("enn_sym/metrics/_common.py", [_M]),
        ("enn_sym/metrics/_enn.py", ["tests/test_metrics_enn.py"]),
        ("enn_sym/metrics/_temperature.py", [
            "tests/test_metrics_enn.py", "tests/test_metrics_errors.py",
            "tests/test_metrics_checked.py::"
            "test_fit_temperature_rejects_probabilities",
            "tests/test_metrics_checked.py::"
            "test_fit_temperature_probability_check_ignores_padding"]),
        ("enn_sym/metrics/_bootstrap.py", ["tests/test_metrics_bootstrap.py"]),
        ("enn_sym/metrics/_checked.py", ["tests/test_metrics_checked.py"]),
    ],
    "losses": [
        ("enn_sym/losses/_single.py", ["tests/test_losses_single.py"]),
        ("enn_sym/losses/_enn.py", ["tests/test_enn_losses.py"]),
    ],
    "enns": [("enn_sym/networks/_enns.py",
              ["tests/test_networks_mutants.py", "tests/test_networks.py"])],
    "priors": [("enn_sym/networks/_priors.py", ["tests/test_networks.py"])],
    "wrappers": [("enn_sym/symmetry/_wrappers.py",
                  ["tests/test_symmetry_wrappers.py"])],
    "bounds": [(f"enn_sym/bounds/{name}", ["tests/test_bounds.py"])
               for name in sorted(os.listdir(os.path.join(REPO, "enn_sym",
                                                          "bounds")))
               if name.endswith(".py")] if os.path.isdir(
                   os.path.join(REPO, "enn_sym", "bounds")) else [],
}
DEFAULT_MODULES = ("metrics", "losses", "enns", "priors", "wrappers")

_SWAP_CMP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE,
             ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}
_SWAP_BIN = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div,
             ast.Div: ast.Mult}
_DROP_CALLS = ("stop_gradient", "abs", "maximum", "minimum")


def _protected(tree: ast.AST) -> set[int]:
  """ids of nodes never mutated: docstrings, raises, annotations, asserts."""
  ids = set()

  def mark(node):
    for sub in ast.walk(node):
      ids.add(id(sub))

  for node in ast.walk(tree):
    if isinstance(node, (ast.Raise, ast.Assert, ast.JoinedStr)):
      mark(node)
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
      for arg in node.args.args + node.args.kwonlyargs:
        if arg.annotation is not None:
          mark(arg.annotation)
      if node.returns is not None:
        mark(node.returns)
    if isinstance(node, ast.AnnAssign):
      mark(node.annotation)
    body = getattr(node, "body", None)
    if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and (
        isinstance(body[0].value, ast.Constant)):
      mark(body[0])
  return ids


def _sites(tree: ast.AST):
  """(node index, operator description) for every mutable site."""
  skip = _protected(tree)
  nodes = list(ast.walk(tree))
  for i, node in enumerate(nodes):
    if id(node) in skip:
      continue
    if isinstance(node, ast.Compare):
      for j, op in enumerate(node.ops):
        if type(op) in _SWAP_CMP:
          yield i, ("cmp", j)
    elif isinstance(node, ast.BinOp) and type(node.op) in _SWAP_BIN:
      if not any(isinstance(s, ast.Constant) and isinstance(s.value, str)
                 for s in (node.left, node.right)):
        yield i, ("bin",)
    elif isinstance(node, ast.BoolOp):
      yield i, ("bool",)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op,
                                                      (ast.Not, ast.USub)):
      yield i, ("unary",)
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float,
                                                                 bool):
      yield i, ("const",)
    elif isinstance(node, ast.Call):
      name = (node.func.attr if isinstance(node.func, ast.Attribute)
              else getattr(node.func, "id", ""))
      if name in _DROP_CALLS and node.args:
        yield i, ("drop_call",)
      elif name == "where" and len(node.args) == 3:
        yield i, ("negate_where",)


class _Replace(ast.NodeTransformer):

  def __init__(self, target, new):
    self.target, self.new = target, new

  def visit(self, node):
    if node is self.target:
      return self.new
    return self.generic_visit(node)


def _mutate(tree: ast.AST, index: int, kind: tuple):
  """A mutated deep copy of ``tree`` and a one-line description."""
  tree = copy.deepcopy(tree)
  node = list(ast.walk(tree))[index]
  before = ast.unparse(node)
  new = node
  if kind[0] == "cmp":
    node.ops[kind[1]] = _SWAP_CMP[type(node.ops[kind[1]])]()
  elif kind[0] == "bin":
    node.op = _SWAP_BIN[type(node.op)]()
  elif kind[0] == "bool":
    node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
  elif kind[0] == "unary":
    new = node.operand
  elif kind[0] == "const":
    v = node.value
    if isinstance(v, bool):
      node.value = not v
    elif isinstance(v, float) and v in (0.0, 1.0):
      node.value = 1.0 - v
    else:
      node.value = v + 1
  elif kind[0] == "drop_call":
    new = node.args[0]
  elif kind[0] == "negate_where":
    node.args[0] = ast.UnaryOp(op=ast.Invert(), operand=node.args[0])
  tree = ast.fix_missing_locations(_Replace(node, new).visit(tree))
  return tree, f"{before}  ->  {ast.unparse(new)}", getattr(node, "lineno", 0)


def _run_tests(scratch: str, tests: list[str], timeout: float) -> bool:
  """True when the tests pass."""
  env = dict(os.environ, PYTHONPATH=scratch, JAX_PLATFORMS="cpu")
  cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
         "-m", "not slow", *tests]
  try:
    proc = subprocess.run(cmd, cwd=scratch, env=env, capture_output=True,
                          timeout=timeout, check=False)
  except subprocess.TimeoutExpired:
    return False
  return proc.returncode == 0


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--modules", nargs="+", default=list(DEFAULT_MODULES),
                      choices=sorted(MODULES))
  parser.add_argument("--max-per-module", type=int, default=20,
                      help="mutants sampled uniformly from all sites of a "
                      "module (0 = all)")
  parser.add_argument("--always", nargs="*", default=["stop_gradient"],
                      help="always include mutants whose text contains "
                      "one of these")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--json", default="", help="write the report here")
  parser.add_argument("--timeout", type=float, default=900.0,
                      help="seconds per test run (a timeout counts as "
                      "killed)")
  args = parser.parse_args(argv)

  scratch = tempfile.mkdtemp(prefix="enn_sym_mutants_")
  for part in ("enn_sym", "tests"):
    shutil.copytree(os.path.join(REPO, part), os.path.join(scratch, part),
                    ignore=shutil.ignore_patterns("__pycache__"))
  for name in ("setup.cfg", "pyproject.toml"):
    if os.path.exists(os.path.join(REPO, name)):
      shutil.copy(os.path.join(REPO, name), scratch)
  rng = random.Random(args.seed)
  report = {"seed": args.seed, "max_per_module": args.max_per_module,
            "modules": {}}
  try:
    for module in args.modules:
      killed, survivors, total, enumerated = 0, [], 0, 0
      candidates = []  # (path, tests, tree, index, kind) over the module.
      trees = {}
      for path, tests in MODULES[module]:
        source = open(os.path.join(REPO, path)).read()
        trees[path] = (ast.parse(source), source)
        for index, kind in _sites(trees[path][0]):
          candidates.append((path, tests, index, kind))
      enumerated = len(candidates)
      forced = [c for c in candidates if args.always and any(
          a in _mutate(trees[c[0]][0], c[2], c[3])[1] for a in args.always)]
      rest = [c for c in candidates if c not in forced]
      budget = max(args.max_per_module - len(forced), 0)
      if args.max_per_module and len(rest) > budget:
        rest = rng.sample(rest, budget)
      for path, tests, index, kind in forced + rest:
        tree, source = trees[path]
        mutant, what, line = _mutate(tree, index, kind)
        target = os.path.join(scratch, path)
        with open(target, "w") as f:
          f.write(ast.unparse(mutant))
        passed = _run_tests(scratch, tests, args.timeout)
        with open(target, "w") as f:
          f.write(source)
        total += 1
        if passed:
          survivors.append({"file": path, "line": line, "mutation": what,
                            "tests": tests})
        else:
          killed += 1
        print(f"  {module} {path}:{line} {'SURVIVED' if passed else 'killed'}"
              f": {what}", flush=True)
      rate = killed / total if total else float("nan")
      report["modules"][module] = {
          "files": dict(MODULES[module]), "sites": enumerated,
          "sampled": total, "killed": killed, "kill_rate": rate,
          "survivors": survivors}
      print(f"{module}: killed {killed}/{total} ({rate:.0%}), {total} "
            f"sampled from {enumerated} sites", flush=True)
  finally:
    shutil.rmtree(scratch, ignore_errors=True)
  if args.json:
    with open(args.json, "w") as f:
      json.dump(report, f, indent=1)
  return 0


if __name__ == "__main__":
  sys.exit(main())
