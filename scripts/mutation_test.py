r"""Mutation testing of the core modules: every mutant, the covering tests.

  nice -n 10 python scripts/mutation_test.py --modules priors \
      --json mutation.json            # resumable; rerun to continue
  python scripts/mutation_test.py --json mutation.json --report

For each module below the script enumerates ALL mutants of its source files
with standard operators (no sampling unless ``--max-per-module``), and for
each mutant runs the tests that execute the mutated code (``pytest -x``,
fastest first). A mutant is *killed* when a test fails or the run times out,
*survives* when they pass, and is *uncovered* when no test executes it.
Results go to ``--json`` after every mutant, keyed by (file, enclosing
function, original -> mutated code, occurrence), not by line, so a rerun
skips what is done and an edit elsewhere in a file does not invalidate them.

Operators: comparison (``<`` <-> ``<=``, ``>`` <-> ``>=``, ``==`` <->
``!=``), arithmetic (``+`` <-> ``-``, ``*`` <-> ``/``), numeric constants
(``n`` -> ``n + 1``; ``0.0`` <-> ``1.0``), boolean (``and`` <-> ``or``,
``not x`` -> ``x``, ``True`` <-> ``False``), unary minus removed, and calls
of ``stop_gradient``, ``abs``, ``maximum``/``minimum`` (first argument
kept) and ``where`` (condition negated). Docstrings, string constants,
``raise``/``assert`` statements and annotations are never mutated.

How it stays affordable on 2 shared cores:

1. Test selection by line coverage, computed once per source file: the
   module's candidate test files run once under a ``sys.settrace`` tracer
   limited to the source files (``jax.clear_caches()`` before each test so
   that jitted code is traced, i.e. executed, by every test that uses it).
   A mutant runs only the tests that executed its line(s) (for a mutated
   default argument: the function's body; for class-level code: the class),
   sorted by their measured time and capped at ``--budget`` seconds.
2. A fork server: the driver imports JAX, Flax, Optax, pytest and enn_sym
   once, then forks a child per mutant. A mutant inside a function body is
   applied by swapping the ``__code__`` of the live function objects (found
   by file, qualified name and first line); a mutated default argument by
   swapping ``__defaults__``. The child runs ``pytest.main`` on the selected
   test ids, so no interpreter start, JAX import or module reimport is paid.
   Mutants at module or class level (constants, dataclass fields,
   decorators) are written into a scratch copy and run in a fresh
   ``python -m pytest`` process.

3. Cheaper reruns and kills (session 3; docs/testing.md lists them): the
   tests that killed a sibling mutant (same function, then file) run first;
   a survivor is run again only on the tests of new or changed test files
   (each result records every candidate file's key); module-level mutants
   run in a forked child that reimports enn_sym (self-checked at start);
   the timeout is 30 + 3 x the covering tests' measured time. A default
   argument also selects the tests that name its function. ``--sample N
   --seed S`` runs a seeded uniform sample first and ``--report`` then gives
   its rate with a Wilson 95% interval.

Why not mutmut or cosmic-ray: both are maintained and pip-installable
(mutmut 3.8 was checked), but mutmut needs its configuration in setup.cfg or
pyproject.toml (owned by another part of the project), copies the project
and first runs the whole test selection to map tests to functions, and
cosmic-ray needs a session database and a worker setup; neither forks from
a warm JAX process, and a fresh process per mutant costs ~6 s of imports
alone here. This driver has no state besides its JSON file.

Mutants judged equivalent (no test can tell them apart from the original;
each with its reason) are listed in ``EQUIVALENT`` below; the kill rate is
reported over the non-equivalent ones. Not part of the default test suite.
"""

from __future__ import annotations

import argparse
import ast
import copy
import gc
import glob
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _files(pattern: str) -> list[str]:
  return sorted(os.path.relpath(p, REPO)
                for p in glob.glob(os.path.join(REPO, pattern))
                if not p.endswith("__init__.py"))


# module -> (source files, candidate test files: run once for coverage).
MODULES = {
    "priors": (["enn_sym/networks/_priors.py"],
               ["tests/test_networks.py", "tests/test_networks_mutants.py",
                "tests/test_registries.py", "tests/test_mutants_priors.py"]),
    "wrappers": (["enn_sym/symmetry/_wrappers.py"],
                 ["tests/test_symmetry_wrappers.py",
                  "tests/test_mutants_wrappers.py"]),
    "enns": (["enn_sym/networks/_enns.py"],
             ["tests/test_networks.py", "tests/test_networks_mutants.py",
              "tests/test_mutants_enns.py"]),
    "losses": (_files("enn_sym/losses/_*.py"),
               ["tests/test_losses_single.py", "tests/test_enn_losses.py",
                "tests/test_mutation_losses.py",
                "tests/test_mutants_losses.py"]),
    "metrics": (_files("enn_sym/metrics/_*.py"),
                ["tests/test_metrics.py", "tests/test_metrics_enn.py",
                 "tests/test_metrics_errors.py",
                 "tests/test_metrics_checked.py",
                 "tests/test_metrics_bootstrap.py", "tests/test_registries.py",
                 "tests/test_mutants_metrics.py"]),
    "bounds": (_files("enn_sym/bounds/_*.py"),
               ["tests/test_bounds.py", "tests/test_bounds_gence.py",
                "tests/test_bounds_lipschitz.py",
                "tests/test_bounds_statements.py",
                "tests/test_figure_legends.py", "tests/test_swiss_roll.py",
                "tests/test_mutants_bounds.py"]),
}
ALL_SOURCES = sorted({p for sources, _ in MODULES.values() for p in sources})
DEFAULT_MODULES = ("priors", "wrappers", "enns", "losses", "metrics",
                   "bounds")

# mutant key ("file::enclosing function::original  ->  mutated::occurrence",
# as in the JSON and the report) -> why it is equivalent.
_PRI = "enn_sym/networks/_priors.py"
_ENN = "enn_sym/networks/_enns.py"
_LOS = "enn_sym/losses/_enn.py"
_SGL = "enn_sym/losses/_single.py"
EQUIVALENT: dict[str, str] = {
    f"{_PRI}::EnsembleDense.__call__::self.bias_std > 0  ->  "
    "self.bias_std >= 0::1":
        "at bias_std == 0 the mutant draws normal(stddev=0) biases, which "
        "are zeros like the original's zeros initialiser (flax derives each "
        "parameter's key from its name, so no other draw moves)",
    f"{_PRI}::EnsembleDense.__call__::1  ->  2::2":
        "variance_scaling in_axis=1 -> 2 (= out_axis) on an [E, in, out] "
        "kernel with batch_axis 0: fan_in = shape[in_axis] * total / "
        "(shape[in_axis] shape[out_axis] E) = in either way",
    f"{_PRI}::MLPEnsemblePriorV010.__call__::1  ->  2::1":
        "variance_scaling in_axis=1 -> 2 (= out_axis), no batch axis: "
        "fan_in = total / shape[out_axis] = E * in either way",
    f"{_PRI}::RandomFeaturePrior.__call__::-1  ->  1::1":
        "d = h.shape[-1] -> h.shape[1] on the 2-D [batch, features] h",
    f"{_PRI}::MLPEnsemblePriorV010.__call__::-1  ->  1::1":
        "h.shape[-1] -> h.shape[1] on the 2-D [batch, features] h",
    f"{_ENN}::EpinetHead.__call__::-1  ->  1::2":
        "concatenate(..., axis=-1) -> axis=1 of two 2-D arrays",
    f"{_ENN}::make_ensemble.<locals>.init::0  ->  1::1":
        "the one-hot index passed to the prior's init: .at[0] -> .at[1]; a "
        "prior's parameters depend on the index's shape only",
    f"{_ENN}::make_ensemble.<locals>.init::1.0  ->  0.0::1":
        "the same one-hot index (value 1 -> 0): only its shape reaches the "
        "prior's parameters",
    f"{_ENN}::make_ensemble.<locals>.init::1  ->  2::1":
        "the prior's key fold_in(key, 1) -> fold_in(key, 2): another fixed "
        "key, still distinct from the members' split(fold_in(key, 0)); the "
        "prior is specified in distribution only",
    f"{_ENN}::_BaseWithEpinet.__call__::False  ->  True::1":
        "the default of train; every caller (init and apply of make_epinet) "
        "passes train explicitly",
    **{f"{_ENN}::make_{k}.<locals>.init::False  ->  True::1":
       "init(..., train=False) -> train=True: the variables init returns do "
       "not depend on train for these bases (Dropout has no parameters and "
       "Flax's BatchNorm does not update its statistics while "
       "initialising; tests/test_mutants_enns.py::"
       "test_init_keeps_fresh_statistics_and_eval_is_the_default checks "
       "the statistics)" for k in ("base_enn", "epinet", "ensemble",
                                   "mc_dropout")},
    **{f"{_LOS}::_index_hash::{m}::1":
       "a constant of the MC-dropout key hash, which is specified only as "
       "'a hash of the key's bits selects an independent draw (no "
       "published rule)'; the mutant is another deterministic hash"
       for m in ("jnp.arange(bits.shape[0], dtype=jnp.uint32) * "
                 "jnp.uint32(2) + jnp.uint32(2654435761)  ->  "
                 "jnp.arange(bits.shape[0], dtype=jnp.uint32) * "
                 "jnp.uint32(2) - jnp.uint32(2654435761)",
                 "jnp.arange(bits.shape[0], dtype=jnp.uint32) * "
                 "jnp.uint32(2)  ->  jnp.arange(bits.shape[0], "
                 "dtype=jnp.uint32) / jnp.uint32(2)",
                 "bits * mult  ->  bits / mult",
                 "2654435761  ->  2654435762", "2  ->  3")},
    **{f"{_SGL}::{scope}::-1  ->  1::{n}":
       f"{what} -> axis or index 1 of a 2-D [batch, classes] array (the "
       "logits are checked to be 2-D first)"
       for scope, n, what in (
           ("_prepare", 1, "np.shape(logits)[-1] < 1"),
           ("_prepare", 2, "np.shape(logits)[-1] in check_labels"),
           ("_log_probs_and_nll", 1, "log_softmax(axis=-1)"),
           ("_lp_norm", 1, "max(axis=-1, keepdims=True)"),
           ("_lp_norm", 2, "sum(axis=-1, keepdims=True)"),
           ("_focal_kernel", 1, "logits.shape[-1] == 1"),
           ("_soft_ece_kernel", 1, "softmax(axis=-1) of [batch, bins]"))},
    f"{_SGL}::_abs::jax.lax.stop_gradient(jnp.sign(x))  ->  jnp.sign(x)::1":
        "jnp.sign has zero derivative everywhere, so value and gradient "
        "are unchanged",
    f"{_LOS}::_poisson_quantile::-1  ->  1::1":
        "sum(..., axis=-1) -> axis=1 of the 2-D comparison",
    f"{_LOS}::_poisson_quantile::12  ->  13::1":
        "max_count 12 -> 13: in float32 the Poisson(1) CDF is 1.0 from "
        "k = 11 on (P(N > 11) ~ 1e-9 < 2^-24), and u < 1, so no count above "
        "11 is reachable either way",
    f"{_LOS}::_poisson_quantile::max_count + 1  ->  max_count - 1::1":
        "counts up to 11 instead of 12: the same float32 saturation (the "
        "CDF rounds to 1.0 from k = 11)",
    f"{_LOS}::_poisson_quantile::1  ->  2::1":
        "arange(max_count + 2): one more count, past the float32 saturation",
    f"{_LOS}::_poisson_quantile::u[:, None] >= cdf[None, :-1]  ->  "
    "u[:, None] > cdf[None, :-1]::1":
        "differs only when a float32 uniform equals one of 12 CDF values "
        "exactly (probability ~12 x 2^-24 per weight)",
    f"{_LOS}::_poisson_quantile::1  ->  2::4":
        "cdf[:-1] -> cdf[:-2]: drops the comparison with the CDF at 11, "
        "which is 1.0 in float32, never <= u < 1",
    f"{_LOS}::_gaussian_index_weights::u > 1.0 - p  ->  u >= 1.0 - p::1":
        "differs only when u = Phi(.) equals 1 - p exactly (measure zero)",
}

_BIN = "enn_sym/metrics/_binned.py"
_2D = ("of the 2-D [batch, classes] values (update checks the rank first)")
EQUIVALENT.update({
    **{f"{_BIN}::BinnedCalibration._update::-1  ->  1::{n}":
       f"a max, argmax or sum over axis=-1 -> axis 1 {_2D}"
       for n in (1, 2, 3, 4)},
    f"{_BIN}::ClasswiseCalibration.update::-1  ->  1::1":
        f"np.shape(values)[-1] -> [1] {_2D}",
    f"{_BIN}::ClasswiseCalibration._compute::-1  ->  1::1":
        "sum(gap, axis=-1) -> axis=1 of the 2-D [K, M] state",
    **{f"enn_sym/metrics/_bootstrap.py::BootstrapECE._update::-1  ->  1::{n}":
       "max / argmax over axis=-1 -> axis 1 of the 2-D [batch, classes] "
       "probs (a stack is averaged to 2-D first)" for n in (1, 2)},
    **{f"enn_sym/metrics/_bootstrap.py::BootstrapECE._compute::-1  ->  1::{n}":
       "a sum over axis=-1 -> axis 1 of the 2-D [B, M] replicate state"
       for n in (1, 2)},
    **{f"enn_sym/metrics/_classification.py::brier_terms::-1  ->  1::{n}":
       "probs.shape[-1] / sum(axis=-1) -> index or axis 1: brier_terms is "
       "private to the package and called only on 2-D [batch, classes] "
       "probabilities (Brier of one prediction or of the mean predictive)"
       for n in (1, 2)},
    "enn_sym/metrics/_common.py::sanitize::0  ->  1::3":
        "padded rows' labels 0 -> 1: every use of labels is masked by valid "
        "(where, or a 0 weight on a finite or integer term); with one "
        "class the label 1 is out of range, its gather fills NaN (gradient "
        "0) and its scatter is dropped, both masked",
    "enn_sym/metrics/_common.py::take_label::1  ->  2::1":
        "broadcast_to(labels[:, None], (..., 1)) -> (..., 2): two copies of "
        "the label column, and only column 0 of the gather is kept",
    "enn_sym/metrics/_regression.py::GaussianCalibration._compute::1.0  ->  0.0::1":
        "ratio(): where(den > 0, num / where(den > 0, den, 0), 0): the inner "
        "0 only reaches the branch the outer where() discards",
    "enn_sym/metrics/_temperature.py::<module>::3  ->  4::1":
        "_fit's static_argnums (3, 4, 5, 6) -> (4, 4, 5, 6): num_iters is "
        "then traced, and it only sets the fori_loop's trip count, which "
        "JAX accepts traced (a while_loop): the same values",
    "enn_sym/metrics/_common.py::bin_index::1  ->  2::2":
        "gather path: guess clipped to M - 2 instead of M - 1; the true bin "
        "is then M - 2 or M - 1 and the one-step correction against the "
        "two neighbouring edges lands on it either way",
    "enn_sym/metrics/_common.py::safe_div::jnp.maximum(den, 1)  ->  den::1":
        "every caller passes integer counts, so maximum(den, 1) = den where "
        "den > 0, and where() discards the den = 0 branch (values only; "
        "no metric is differentiated)",
    "enn_sym/metrics/_bootstrap.py::<module>::12  ->  13::1":
        "_MAX_WEIGHT 12 -> 13 adds the threshold F(12), but in float32 "
        "already F(10) = F(11) = 1.0 and u < 1, so no weight changes",
    "enn_sym/metrics/_bootstrap.py::BootstrapECE._update::0.0  ->  1.0::1":
        "padded rows' confidence 0 -> 1 enters conf_sum only times their "
        "bootstrap weight, which is 0 (weights * valid)",
    f"{_BIN}::ClasswiseCalibration._compute::0  ->  1::1":
        "total = sum(count[0]) -> count[1]: every class's row of count sums "
        "to N, and with K = 1 JAX clamps the static index 1 to 0",
    f"{_BIN}::BinnedCalibration._compute::n > 0  ->  n >= 0::1":
        "where(n >= 0, |acc - conf|, 0): at n = 0 both safe_div values are "
        "0, so the gap is 0 either way",
})

_DST = "enn_sym/bounds/_distributions.py"
_FIN = "enn_sym/bounds/_finite.py"
_RESHAPE = ("reshape(-1) -> reshape(-2): numpy takes any negative size as "
            "the one unknown dimension")
EQUIVALENT.update({
    f"{_DST}::discrete_distribution::1  ->  2::1": _RESHAPE,
    f"{_DST}::discrete_distribution::1  ->  2::2": _RESHAPE,
    f"{_DST}::per_atom::1  ->  2::1": _RESHAPE,
    f"{_FIN}::_fibre_ids::1  ->  2::3": _RESHAPE,
    "enn_sym/bounds/_gence.py::_errors::1  ->  2::1": _RESHAPE,
    "enn_sym/bounds/_dissent.py::orbit_ids_from_group::1  ->  2::2":
        _RESHAPE,
    "enn_sym/bounds/_dissent.py::orbit_ids_from_group::1  ->  2::4":
        _RESHAPE,
    "enn_sym/bounds/_dissent.py::orbit_masses::0  ->  1::3":
        "zeros((max + 1 if n else 0, C)) -> else 1: n == 0 has raised two "
        "lines above, so the else branch is never taken",
    "enn_sym/bounds/_figure3.py::_verdict::lo > 0  ->  lo >= 0::2":
        "the second lo > 0 is reached only when lo > 0 or hi < 0, so "
        "lo != 0 there and lo >= 0 is the same test",
    "enn_sym/bounds/_report.py::ensemble_readouts::-1  ->  1::1":
        "mean.argmax(-1) -> argmax(1) of the 2-D [N, C] mean predictive",
    "enn_sym/bounds/_tasks.py::_spirals::16  ->  17::2":
        "floor(16 cr) -> floor(17 cr): cr is a multiple of 1/8 (checked by "
        "wang_swiss_roll, _spirals' only caller), so 16 cr = k is an even "
        "integer and floor(k + cr) = k for cr < 1; at cr = 1, 17 instead of "
        "16 gives the same chunk pairs (range(0, k - 1, 2)) and kinds",
    "enn_sym/bounds/_tasks.py::wang_swiss_roll::2  ->  3::1":
        "searchsorted over arange(max + 3) instead of max + 2: one extra "
        "trailing start that starts[inv[i] + 1] (<= max + 1) never reads",
    "enn_sym/bounds/_regression.py::orbit_means::1  ->  2::1":
        "num = max + 2 orbits instead of max + 1: one extra zero-mass row "
        "that mean[orbit] never indexes",
    f"{_DST}::quad::high <= low  ->  high < low::1":
        "at high == low scipy's quad of the empty interval returns 0.0, "
        "what the early return gives",
    f"{_FIN}::finite_orbit_bounds::1  ->  2::9":
        "spread()'s fill value -1 -> -2 for the maximum: only orbits "
        "without live members keep it, and those are masked by live_orbit",
    f"{_FIN}::finite_orbit_bounds::1  ->  2::11":
        "first = full(-1) -> full(-2): every live orbit's entry is "
        "overwritten and only live orbits are read",
})

# Part of the coverage key: a survivor is run again when the selection
# rule changes ("v2": default arguments also select the tests that name
# the function).
SELECTION = "v2"

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




def _scopes(tree: ast.AST) -> dict[int, dict]:
  """id(node) -> where it lives: scope (qualname), mode, covering lines.

  mode "swap": inside a function body (applied by a __code__ swap), cover =
  the node's own lines; "default": a default argument of a module- or
  class-level def (cover = the def); "reimport": module or class level code
  and decorators (cover = the class, or None for the whole file).
  """
  info = {}

  def rec(node, scope, mode, cover, extra=None):
    for sub in ast.walk(node):
      span = cover
      if mode == "swap" and hasattr(sub, "lineno"):
        span = (sub.lineno, sub.end_lineno)
      info.setdefault(id(sub), {"scope": scope, "mode": mode, "cover": span,
                                "def": extra})

  def walk(node, qual, func, klass):
    here = func or qual or "<module>"
    mode = "swap" if func else "reimport"
    cover = None if func else klass
    for child in ast.iter_child_nodes(node):
      if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                            ast.ClassDef)):
        name = f"{qual}.{child.name}" if qual else child.name
        info[id(child)] = {"scope": here, "mode": mode, "cover": cover,
                           "def": None}
        outer = list(child.decorator_list)
        if isinstance(child, ast.ClassDef):
          outer += child.bases + [k.value for k in child.keywords]
        for sub in outer:
          rec(sub, here, mode, cover)
        if isinstance(child, ast.ClassDef):
          walk(ast.Module(body=child.body, type_ignores=[]), name, func,
               None if func else (child.lineno, child.end_lineno))
          continue
        span = (child.lineno, child.end_lineno)
        for sub in child.args.defaults + [
            d for d in child.args.kw_defaults if d is not None]:
          if func:
            rec(sub, func, "swap", None)
          else:
            rec(sub, name, "default", span, (child.name, child.lineno))
        walk(ast.Module(body=child.body, type_ignores=[]),
             name + ".<locals>", name, None)
      else:
        rec_one = {"scope": here, "mode": mode, "cover": cover, "def": None}
        if func and hasattr(child, "lineno"):
          rec_one["cover"] = (child.lineno, child.end_lineno)
        info.setdefault(id(child), rec_one)
        walk(child, qual, func, klass)

  walk(tree, "", None, None)
  return info


_ENUMERATED: dict = {}


def _read(path: str) -> str:
  with open(path) as f:
    return f.read()


def _enumerate(path: str) -> list[dict]:
  """Every mutant of one source file, with a stable key (memoised)."""
  source = _read(os.path.join(REPO, path))
  if _ENUMERATED.get(path, (None,))[0] == source:
    return _ENUMERATED[path][1]
  tree = ast.parse(source)
  scopes = _scopes(tree)
  nodes = list(ast.walk(tree))
  out, seen = [], {}
  for index, kind in _sites(tree):
    node = nodes[index]
    where = scopes.get(id(node)) or {"scope": "<module>", "mode": "reimport",
                                      "cover": None, "def": None}
    _, what, line = _mutate(tree, index, kind)
    base = f"{path}::{where['scope']}::{what}"
    seen[base] = seen.get(base, 0) + 1
    out.append({"key": f"{base}::{seen[base]}", "file": path,
                "scope": where["scope"], "mutation": what, "line": line,
                "index": index, "kind": list(kind), "mode": where["mode"],
                "cover": where["cover"], "def": where["def"]})
  _ENUMERATED[path] = (source, out)
  return out


def _sha(*paths: str, root: str = REPO) -> str:
  h = hashlib.sha256()
  for p in paths:
    full = os.path.join(root, p)
    if os.path.exists(full):
      h.update(p.encode())
      with open(full, "rb") as f:
        h.update(f.read())
  return h.hexdigest()[:16]


# ---------------------------------------------------------------- coverage
# Loaded as a pytest plugin (-p mutation_test) in the coverage pass only.

_COV = {"files": None, "tests": {}, "cur": None}


def _tracer_for(files, hits):
  def local(frame, event, arg):
    if event == "line":
      hits.add((frame.f_code.co_filename, frame.f_lineno))
    return local

  def global_(frame, event, arg):
    if frame.f_code.co_filename in files:
      hits.add((frame.f_code.co_filename, frame.f_lineno))
      return local
    return None
  return global_


def pytest_runtest_protocol(item, nextitem):  # noqa: D103 (pytest hook)
  if not os.environ.get("MUTCOV_OUT"):
    return None
  import threading  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  if _COV["files"] is None:
    _COV["files"] = set(os.environ["MUTCOV_FILES"].split(os.pathsep))
  jax.clear_caches()
  hits = set()
  tracer = _tracer_for(_COV["files"], hits)
  _COV["cur"] = {"ok": True}
  start = time.perf_counter()
  sys.settrace(tracer)
  threading.settrace(tracer)
  try:
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid,
                                       location=item.location)
    from _pytest.runner import runtestprotocol  # pylint: disable=g-import-not-at-top
    reports = runtestprotocol(item, nextitem=nextitem, log=True)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid,
                                        location=item.location)
  finally:
    sys.settrace(None)
    threading.settrace(None)
  ok = all(r.passed or (r.when != "call" and not r.failed) for r in reports)
  ok = ok and any(r.when == "call" and r.passed for r in reports)
  lines = {}
  for f, n in hits:
    lines.setdefault(f, set()).add(n)
  _COV["tests"][item.nodeid] = {
      "t": round(time.perf_counter() - start, 3), "ok": ok,
      "lines": {os.path.relpath(f, os.environ["MUTCOV_ROOT"]): sorted(v)
                for f, v in lines.items()}}
  return True


def pytest_sessionfinish(session, exitstatus):  # noqa: D103 (pytest hook)
  if os.environ.get("MUTCOV_OUT"):
    with open(os.environ["MUTCOV_OUT"], "w") as f:
      json.dump(_COV["tests"], f)


def _coverage(scratch: str, sources: list[str], tests: list[str],
              log) -> dict:
  tests = [t for t in tests if os.path.exists(os.path.join(scratch, t))]
  out = os.path.join(scratch, "coverage.json")
  env = dict(os.environ, JAX_PLATFORMS="cpu", MUTCOV_OUT=out,
             MUTCOV_ROOT=scratch, PYTHONDONTWRITEBYTECODE="1",
             MUTCOV_FILES=os.pathsep.join(os.path.join(scratch, s)
                                          for s in sources),
             PYTHONPATH=os.pathsep.join([scratch,
                                         os.path.join(REPO, "scripts")]))
  cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-p", "mutation_test", "-m", "not slow and not long", *tests]
  start = time.time()
  proc = subprocess.run(cmd, cwd=scratch, env=env, capture_output=True,
                        text=True, check=False)
  log(f"  coverage pass: {len(tests)} test files, "
      f"{time.time() - start:.0f} s, exit {proc.returncode}")
  if not os.path.exists(out):
    raise RuntimeError("coverage pass wrote nothing:\n" + proc.stdout[-3000:]
                       + proc.stderr[-3000:])
  data = json.load(open(out))
  os.remove(out)
  return data


_TEST_SOURCES: dict = {}


def _test_source(scratch: str, nodeid: str) -> str:
  """The source of the test function (with its decorators) of a node id."""
  path, _, rest = nodeid.partition("::")
  name = rest.split("::")[-1].split("[")[0]
  if path not in _TEST_SOURCES:
    try:
      text = _read(os.path.join(scratch, path))
      tree = ast.parse(text)
    except (OSError, SyntaxError):
      _TEST_SOURCES[path] = {}
    else:
      defs = {}
      for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
          start = min([node.lineno] + [d.lineno for d in node.decorator_list])
          lines = text.splitlines()[start - 1:node.end_lineno]
          defs.setdefault(node.name, "\n".join(lines))
      _TEST_SOURCES[path] = defs
  return _TEST_SOURCES[path].get(name, "")


def _select(mutant: dict, cov: dict, budget: float, rank=None,
            scratch: str = "") -> tuple[list[str], bool]:
  """The covering tests, capped at budget seconds.

  Ordered by ``rank`` (test id -> 0 for tests that killed a mutant of the
  same function, 1 for the same file; others 2), then by measured time, so
  the test most likely to fail runs first under ``-x``. Which tests are
  selected does not depend on the order, only which one runs first.
  A mutated default argument also selects the tests whose source names the
  function (a test reading ``inspect.signature(f)`` executes no line of f).
  """
  path, span = mutant["file"], mutant["cover"]
  if mutant["mode"] == "reimport":
    # Module- and class-level code runs at import, inside no test, and a
    # test may depend on it (a dataclass default) without running a line
    # of it: every test that ran any line of the file.
    span = None
  word = None
  if mutant["mode"] == "default" and mutant.get("def") and scratch:
    import re  # pylint: disable=g-import-not-at-top
    word = re.compile(r"\b%s\b" % re.escape(mutant["def"][0]))
  rank = rank or {}
  chosen = []
  for nodeid, rec in cov.items():
    if not rec["ok"]:
      continue
    lines = rec["lines"].get(path, ())
    if (lines and (span is None or any(span[0] <= n <= span[1]
                                       for n in lines))) or (
                                           word is not None and word.search(
                                               _test_source(scratch, nodeid))):
      chosen.append((rank.get(nodeid, 2), rec["t"], nodeid))
  chosen.sort()
  out, total = [], 0.0
  for _, t, nodeid in chosen:
    if out and total + t > budget:
      return out, True
    out.append(nodeid)
    total += t
  return out, False


def _wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
  """Wilson score 95% interval of a binomial proportion k / n."""
  if n == 0:
    return float("nan"), float("nan")
  p = k / n
  centre = (p + z * z / (2 * n)) / (1 + z * z / n)
  half = z * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5 / (1 + z * z / n)
  return max(0.0, centre - half), min(1.0, centre + half)


def _sample(module: str, n: int, seed: int) -> list[str]:
  """A seeded uniform random sample (without replacement) of the keys."""
  import random  # pylint: disable=g-import-not-at-top
  keys = sorted(_keys(module))
  return sorted(random.Random(f"{seed}:{module}").sample(
      keys, min(n, len(keys))))


# ------------------------------------------------------------- fork server

_LIVE: dict = {}


def _index_live(scratch: str) -> None:
  """(file, qualname) -> live function objects of the scratch enn_sym."""
  _LIVE.clear()
  root = os.path.join(scratch, "enn_sym")
  for obj in gc.get_objects():
    code = getattr(obj, "__code__", None)
    if type(obj).__name__ == "function" and code is not None and (
        code.co_filename.startswith(root)):
      _LIVE.setdefault((code.co_filename, code.co_qualname), []).append(obj)


def _codes(code) -> dict:
  out = {}
  stack = [code]
  while stack:
    c = stack.pop()
    out.setdefault((c.co_qualname, c.co_firstlineno), c)
    stack.extend(k for k in c.co_consts if hasattr(k, "co_qualname"))
  return out


def _apply_in_process(mutant: dict, scratch: str, tree, mutated) -> bool:
  """Swap the mutant into the live functions; False if it cannot be."""
  filename = os.path.join(scratch, mutant["file"])
  if mutant["mode"] == "swap":
    old = _codes(compile(tree, filename, "exec"))
    new = _codes(compile(mutated, filename, "exec"))
    changed = [k for k, c in new.items() if k in old and old[k] != c
               and not k[0].endswith("<module>")]
    if not changed or any(k not in old for k in new):
      return False
    done = 0
    for key in changed:
      for fn in _LIVE.get((filename, key[0]), []):
        if fn.__code__.co_firstlineno != key[1]:
          continue
        try:
          fn.__code__ = new[key]
        except ValueError:
          return False
        done += 1
    return done > 0
  if mutant["mode"] == "default":
    name, lineno = mutant["def"]
    defs = [n for n in ast.walk(mutated) if isinstance(
        n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name
            and n.lineno == lineno]
    fns = _LIVE.get((filename, mutant["scope"]), [])
    if len(defs) != 1 or not fns:
      return False
    module = sys.modules[fns[0].__module__]
    ev = lambda e: eval(  # pylint: disable=eval-used
        compile(ast.fix_missing_locations(ast.Expression(e)), filename,
                "eval"), vars(module))
    args = defs[0].args
    try:
      defaults = tuple(ev(d) for d in args.defaults) or None
      kw = {a.arg: ev(d) for a, d in zip(args.kwonlyargs, args.kw_defaults)
            if d is not None} or None
    except Exception:  # pylint: disable=broad-except
      return False
    firsts = {fn.__code__.co_firstlineno for fn in fns}
    if len(firsts) != 1:
      return False
    for fn in fns:
      fn.__defaults__, fn.__kwdefaults__ = defaults, kw
    return True
  return False


def _pytest_args(tests: list[str]) -> list[str]:
  # -W: the warm parent imported hypothesis (a pytest plugin) before pytest
  # could rewrite it, which the suite's filterwarnings=error would raise.
  return ["-x", "-q", "-p", "no:cacheprovider",
          "-W", "ignore::pytest.PytestAssertRewriteWarning", "-m",
          "not slow and not long", *tests]


_CHILD = {"pid": None}  # the running mutant, killed with the driver.


def _on_term(signum, frame):
  del frame
  if _CHILD["pid"]:
    try:
      os.kill(_CHILD["pid"], signal.SIGKILL)
    except OSError:
      pass
  sys.exit(128 + signum)


def _wait(pid: int, timeout: float) -> int | None:
  """Exit status of the child, or None after a timeout (child killed)."""
  _CHILD["pid"] = pid
  end = time.time() + timeout
  while True:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
      return os.waitstatus_to_exitcode(status)
    if time.time() > end:
      os.kill(pid, signal.SIGKILL)
      os.waitpid(pid, 0)
      return None
    time.sleep(0.05)


def _reimport_in_child(mutant, scratch, mutated) -> bool:
  """In a forked child: the mutant written into the scratch copy and every
  ``enn_sym`` module dropped from ``sys.modules``, so that the tests import
  the package afresh (JAX, Flax, NumPy stay imported) and see the mutated
  module-level code. The parent restores the file when the child is done."""
  import importlib  # pylint: disable=g-import-not-at-top
  target = os.path.join(scratch, mutant["file"])
  with open(target, "w") as f:
    f.write(ast.unparse(mutated) if mutated is not None else _ORIGINAL[
        mutant["file"]])
  for name in [n for n in sys.modules
               if n == "enn_sym" or n.startswith("enn_sym.")]:
    del sys.modules[name]
  importlib.invalidate_caches()
  return True


_ORIGINAL: dict = {}  # file -> its original source (the scratch copy's).


def _check_reimport(module, scratch, cov, logfile, log) -> bool:
  """Whether the reimporting child works: the UNMUTATED module reimported
  in a forked child must pass its fastest covering tests; else module-level
  mutants fall back to a fresh interpreter."""
  path = MODULES[module][0][0]
  fake = {"file": path, "mode": "reimport", "cover": None}
  tests = _select(fake, cov, 3.0)[0][:5]
  if not tests:
    return False
  status, by = _run_forked(fake, scratch, None, None, tests, 120, logfile,
                           reimport=True)
  log(f"  reimport-in-fork self-check ({len(tests)} tests of {path}): "
      f"{status} {by}")
  return status == "survived"


_PARSED: dict = {}


def _parsed(path: str, source: str):
  if _PARSED.get(path, (None,))[0] != source:
    _PARSED[path] = (source, ast.parse(source))
  return _PARSED[path][1]


def _run_forked(mutant, scratch, tree, mutated, tests, timeout, logfile="",
                reimport=False):
  """'killed' / 'survived' / 'timeout', or None if it cannot be swapped.

  reimport: module-level mutants (see _reimport_in_child) in a forked child
  instead of a fresh interpreter."""
  r, w = os.pipe()
  if reimport:
    _ORIGINAL.setdefault(mutant["file"], open(os.path.join(
        scratch, mutant["file"])).read())
  pid = os.fork()
  if pid == 0:  # child
    os.close(r)
    if reimport:
      ok = _reimport_in_child(mutant, scratch, mutated)
    else:
      ok = _apply_in_process(mutant, scratch, tree, mutated)
    os.write(w, b"1" if ok else b"0")
    if not ok:
      os.close(w)
      os._exit(99)
    import pytest  # pylint: disable=g-import-not-at-top
    devnull = os.open(logfile or os.devnull,
                      os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    failed = []

    class _First:  # Records the test that killed the mutant.

      def pytest_runtest_logreport(self, report):
        if report.failed and not failed:
          failed.append(report.nodeid)

      def pytest_collectreport(self, report):
        if report.failed and not failed:
          failed.append("collecting " + (report.nodeid or "the session"))

    try:
      rc = pytest.main(_pytest_args(tests), plugins=[_First()])
    except BaseException:  # pylint: disable=broad-except
      import traceback  # pylint: disable=g-import-not-at-top
      traceback.print_exc()
      rc = 98
    sys.stdout.flush()
    sys.stderr.flush()
    os.write(w, ("\n" + (failed[0] if failed else "")).encode())
    os.close(w)
    os._exit(int(rc))
  os.close(w)
  try:
    rc = _wait(pid, timeout)
  finally:
    if reimport:
      with open(os.path.join(scratch, mutant["file"]), "w") as f:
        f.write(_ORIGINAL[mutant["file"]])
  chunks = []
  while True:
    chunk = os.read(r, 65536)
    if not chunk:
      break
    chunks.append(chunk)
  os.close(r)
  text = b"".join(chunks).decode(errors="replace")
  if not text.startswith("1"):
    return None, ""
  by = text[2:]
  if rc is None:
    return "timeout", by
  if rc != 0 and not by:  # No failed report, e.g. a crash: say so.
    by = f"(exit status {rc}, no failed test report)"
  return ("survived" if rc == 0 else "killed"), by


def _run_reimport(mutant, scratch, source, mutated, tests, timeout):
  """Writes the mutant into the scratch copy and runs a fresh pytest."""
  target = os.path.join(scratch, mutant["file"])
  with open(target, "w") as f:
    f.write(ast.unparse(mutated))
  env = dict(os.environ, PYTHONPATH=scratch, JAX_PLATFORMS="cpu",
             PYTHONDONTWRITEBYTECODE="1")
  proc = subprocess.Popen([sys.executable, "-m", "pytest",
                           *_pytest_args(tests)], cwd=scratch, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
  _CHILD["pid"] = proc.pid
  try:
    out = proc.communicate(timeout=timeout)[0].decode(errors="replace")
    status = "survived" if proc.returncode == 0 else "killed"
    by = next((line.split()[1] for line in out.splitlines()
               if line.startswith(("FAILED ", "ERROR ")) and
               len(line.split()) > 1), "")
  except subprocess.TimeoutExpired:
    proc.kill()
    proc.communicate()
    status, by = "timeout", ""
  finally:
    with open(target, "w") as f:
      f.write(source)
  return status, by


# ------------------------------------------------------------------ report

def _keys(module: str) -> list[str]:
  return [m["key"] for p in MODULES[module][0] for m in _enumerate(p)]


def _summary(results: dict, module: str) -> dict:
  """Counts over the mutants of the current sources (stale keys ignored)."""
  rows = [dict(results[k], key=k) for k in _keys(module) if k in results]
  eq = [r for r in rows if r["status"] in ("survived", "uncovered")
        and r["key"] in EQUIVALENT]
  killed = sum(r["status"] in ("killed", "timeout") for r in rows)
  alive = [r for r in rows if r["status"] in ("survived", "uncovered")
           and r not in eq]
  non_eq = len(rows) - len(eq)
  return {"mutants": len(rows), "killed": killed,
          "timeout": sum(r["status"] == "timeout" for r in rows),
          "equivalent": len(eq), "survived": len(alive),
          "uncovered": sum(r["status"] == "uncovered" for r in alive),
          "kill_rate": killed / non_eq if non_eq else float("nan"),
          "alive": alive, "eq": eq}


def _report(results: dict, modules, total_sites: dict, sample: int = 0,
            seed: int = 0) -> None:
  print("| module | mutants | killed (of which timeout) | judged "
        "equivalent | surviving non-equivalent | kill rate (non-equivalent) |")
  print("|---|---|---|---|---|---|")
  for module in modules:
    s = _summary(results, module)
    done = f"{s['mutants']}" + (
        f" of {total_sites[module]}" if total_sites.get(module, s["mutants"])
        != s["mutants"] else "")
    print(f"| {module} | {done} | {s['killed']} ({s['timeout']}) | "
          f"{s['equivalent']} | {s['survived']} | {s['kill_rate']:.1%} |")
  for module in modules if sample else ():
    keys = set(_sample(module, sample, seed))
    rows = [k for k in keys if k in results]
    eq = [k for k in rows if k in EQUIVALENT and results[k]["status"] in (
        "survived", "uncovered")]
    killed = sum(results[k]["status"] in ("killed", "timeout") for k in rows)
    n = len(rows) - len(eq)
    lo, hi = _wilson(killed, n)
    print(f"  SAMPLE {module}: {len(rows)} of a uniform random sample of "
          f"{len(keys)} (seed {seed}) run, {len(eq)} judged equivalent, "
          f"{killed} of {n} killed = {killed / n if n else float('nan'):.1%}"
          f" (Wilson 95% CI {lo:.1%} to {hi:.1%})")
  for module in modules:
    s = _summary(results, module)
    for r in s["alive"]:
      print(f"  ALIVE {module} {r['file']}:{r['line']} {r['status']}: "
            f"{r['key']}")
    for r in s["eq"]:
      print(f"  EQUIVALENT {module} {r['file']}:{r['line']}: {r['key']}: "
            f"{EQUIVALENT[r['key']]}")


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--modules", nargs="+", default=list(DEFAULT_MODULES),
                      choices=sorted(MODULES))
  parser.add_argument("--json", required=True,
                      help="results file; resumed from when it exists")
  parser.add_argument("--budget", type=float, default=30.0,
                      help="the covering tests run first, fastest first, up "
                      "to this many measured seconds; the others run only "
                      "if the mutant survives those")
  parser.add_argument("--timeout", type=float, default=0.0,
                      help="seconds per mutant (a timeout counts as killed);"
                      " default 30 + 3 x the selected tests' time")
  parser.add_argument("--max-per-module", type=int, default=0,
                      help="run only the first N pending mutants of each "
                      "module (0 = all)")
  parser.add_argument("--rerun", choices=("none", "changed"),
                      default="changed", help="changed: run a finished "
                      "mutant again when its file changed, or when it "
                      "survived and the covering tests changed")
  parser.add_argument("--rerun-killed-by", default="",
                      help="also run again the killed mutants whose killing "
                      "test id contains this text (after editing that test)")
  parser.add_argument("--sample", type=int, default=0,
                      help="run first a seeded uniform random sample of N "
                      "mutants of each module (then the others, as far as "
                      "--max-per-module allows); --report then also gives "
                      "the sample's kill rate with a Wilson 95%% CI")
  parser.add_argument("--seed", type=int, default=0,
                      help="seed of --sample")
  parser.add_argument("--fresh-process", action="store_true",
                      help="module-level mutants in a fresh interpreter "
                      "(the old way) instead of a forked child that "
                      "reimports enn_sym")
  parser.add_argument("--only-mode", choices=("swap", "default",
                                                "reimport"), default=None,
                      help="only mutants applied this way (default: the "
                      "mutated default arguments)")
  parser.add_argument("--test-files", nargs="+", default=None,
                      help="candidate test files instead of the module's "
                      "list (a mutant they do not kill is then not known "
                      "to survive the module's other tests)")
  parser.add_argument("--only", default="", help="only mutants whose key "
                      "contains this text")
  parser.add_argument("--jax-cache", default=os.path.join(
      tempfile.gettempdir(), "enn_sym_mutants_jax_cache"),
                      help="JAX persistent compilation cache shared by the "
                      "runs (programs that a mutant does not change compile "
                      "once); '' to disable")
  parser.add_argument("--child-log", default="",
                      help="append the forked test runs' output here")
  parser.add_argument("--report", action="store_true",
                      help="print the table from --json and exit")
  args = parser.parse_args(argv)

  state = {"results": {}, "coverage": {}}
  if os.path.exists(args.json):
    state = json.load(open(args.json))
  results, covcache = state["results"], state["coverage"]
  sites = {m: sum(len(_enumerate(p)) for p in MODULES[m][0])
           for m in args.modules}
  if args.report:
    _report(results, args.modules, sites, args.sample, args.seed)
    return 0

  def save():
    tmp = args.json + ".tmp"
    with open(tmp, "w") as f:
      json.dump(state, f)
    os.replace(tmp, args.json)

  def log(msg):
    print(msg, flush=True)

  signal.signal(signal.SIGTERM, _on_term)
  with open(args.json + ".pid", "w") as f:
    f.write(str(os.getpid()))
  scratch = tempfile.mkdtemp(prefix="enn_sym_mutants_")
  for part in ("enn_sym", "tests"):
    shutil.copytree(os.path.join(REPO, part), os.path.join(scratch, part),
                    ignore=shutil.ignore_patterns("__pycache__"))
  for name in ("setup.cfg", "pyproject.toml"):
    if os.path.exists(os.path.join(REPO, name)):
      shutil.copy(os.path.join(REPO, name), scratch)
  os.environ["JAX_PLATFORMS"] = "cpu"
  os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
  if args.jax_cache:  # Read by JAX at import, here and in every subprocess.
    os.environ.update(JAX_COMPILATION_CACHE_DIR=args.jax_cache,
                      JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                      JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
  sys.dont_write_bytecode = True
  sys.path.insert(0, scratch)
  os.chdir(scratch)
  # The warm parent: imports only (no JAX backend is started before fork).
  import importlib  # pylint: disable=g-import-not-at-top
  for name in ("jax", "jax.numpy", "flax", "flax.linen", "optax", "numpy",
               "pytest", "hypothesis", "enn_sym", "enn_sym.metrics",
               "enn_sym.losses", "enn_sym.networks", "enn_sym.symmetry",
               "enn_sym.bounds"):
    importlib.import_module(name)
  for module in args.modules:
    for path in MODULES[module][0]:
      importlib.import_module(path[:-3].replace("/", "."))
  assert all(m.__file__.startswith(scratch) for n, m in sys.modules.items()
             if n.startswith("enn_sym") and getattr(m, "__file__", None))
  _index_live(scratch)
  try:
    for module in args.modules:
      sources, tests = MODULES[module]
      tests = args.test_files or tests
      tests = [t for t in tests if os.path.exists(os.path.join(REPO, t))]
      # Coverage per test file of all the core sources at once (cached: a
      # test file is traced again only when it or a core source changed).
      percov = covcache.setdefault("by_test_file", {})
      cov = {}
      for test in tests:
        # Keyed by the scratch copy's files, the ones that are traced.
        key = _sha(*ALL_SOURCES, test, "tests/conftest.py", root=scratch)
        if percov.get(test, {}).get("key") != key:
          log(f"coverage of the core sources by {test}")
          percov[test] = {"key": key, "tests": _coverage(
              scratch, ALL_SOURCES, [test], log)}
          save()
        cov.update(percov[test]["tests"])
      covkey = hashlib.sha256((SELECTION + "".join(
          percov[t]["key"] for t in tests)).encode()).hexdigest()[:16]
      # The tests that killed mutants so far, by function and by file: run
      # first for the next mutant of the same function (or file).
      killers: dict = {}
      for r in results.values():
        if r.get("status") == "killed" and r.get("killed_by") in cov:
          killers.setdefault((r["file"], r["scope"]), set()).add(
              r["killed_by"])
          killers.setdefault(r["file"], set()).add(r["killed_by"])
      reimport_ok = not args.fresh_process and _check_reimport(
          module, scratch, cov, args.child_log, log)
      sampled = set(_sample(module, args.sample, args.seed)
                    if args.sample else ())
      order = [(path, m) for path in sources for m in _enumerate(path)]
      order = ([x for x in order if x[1]["key"] in sampled]
               + [x for x in order if x[1]["key"] not in sampled])
      pending = 0
      for path, mutant in order:
        if True:  # (keeps the loop body's indentation)
          source = open(os.path.join(REPO, path)).read()
          tree = _parsed(path, source)
          fsha = _sha(path)
          key = mutant["key"]
          if args.only and args.only not in key:
            continue
          if args.only_mode and mutant["mode"] != args.only_mode:
            continue
          old = results.get(key)
          if old and args.rerun_killed_by and args.rerun_killed_by in old.get(
              "killed_by", ""):
            old = None  # Its killing test changed: run it again.
          if old and key in EQUIVALENT and old["sha"] == fsha and old[
              "status"] in ("survived", "uncovered"):
            continue  # Judged equivalent: no test can kill it.
          if old and (args.rerun == "none" or (
              old["status"] in ("killed", "timeout") and old["sha"] == fsha)
                      or (old["sha"] == fsha and old["cov"] == covkey
                          and not (old["status"] == "survived"
                                   and old.get("capped")
                                   and not old.get("full")))):
            continue
          if args.max_per_module and pending >= args.max_per_module:
            break
          pending += 1
          rank = {t: 1 for t in killers.get(path, ())}
          rank.update({t: 0 for t in killers.get((path, mutant["scope"]),
                                                  ())})
          selected, capped = _select(mutant, cov, args.budget, rank,
                                     scratch)
          everything, _ = _select(mutant, cov, float("inf"), rank, scratch)
          filekeys = {t: percov[t]["key"] for t in tests}
          if old and old["status"] == "survived" and old.get("full") and (
              old["sha"] == fsha and old.get("selection") == SELECTION
              and "filekeys" in old):
            # It passed every covering test of the files whose key (their
            # text, conftest and the core sources) is unchanged, and would
            # again (the tests are deterministic): run only the tests of
            # the new or changed test files.
            fresh = {t for t in tests
                     if old["filekeys"].get(t) != filekeys[t]}
            everything = [i for i in everything if i.split("::")[0] in fresh]
            selected, total = [], 0.0
            for i in everything:  # the first chunk, as in _select.
              if selected and total + cov[i]["t"] > args.budget:
                break
              selected.append(i)
              total += cov[i]["t"]
            capped = len(selected) < len(everything)
            if not everything:
              old.update(cov=covkey, filekeys=filekeys)
              save()
              continue
          rec = {k: mutant[k] for k in ("file", "scope", "mutation", "line",
                                        "mode")}
          rec.update(sha=fsha, cov=covkey, tests=len(selected),
                     capped=capped, selection=SELECTION, filekeys=filekeys)
          if args.test_files:
            rec["test_files_only"] = list(args.test_files)
          start = time.time()
          if not selected:
            rec["status"] = "uncovered"
          else:
            mutated, _, _ = _mutate(tree, mutant["index"],
                                    tuple(mutant["kind"]))
            rest = everything[len(selected):]
            for chunk in (selected, rest):  # rest: only if it survived.
              if not chunk:
                continue
              est = sum(cov[t]["t"] for t in chunk)
              timeout = args.timeout or 30 + 3 * est
              status = None
              if mutant["mode"] in ("swap", "default"):
                status, by = _run_forked(mutant, scratch, tree, mutated,
                                         chunk, timeout, args.child_log)
              if status is None and reimport_ok:
                rec["mode"] = "reimport"
                status, by = _run_forked(mutant, scratch, tree, mutated,
                                         chunk, timeout, args.child_log,
                                         reimport=True)
              if status is None:
                rec["mode"] = "reimport"
                status, by = _run_reimport(mutant, scratch, source, mutated,
                                           chunk, timeout)
              rec["status"], rec["killed_by"] = status, by
              if status != "survived":
                break
            if rec["status"] == "killed" and by in cov:
              killers.setdefault((path, mutant["scope"]), set()).add(by)
              killers.setdefault(path, set()).add(by)
            rec["full"] = status == "survived"  # every covering test ran.
            rec["tests"] = len(everything) if status == "survived" else len(
                selected)
          rec["s"] = round(time.time() - start, 2)
          results[key] = rec
          save()
          log(f"  {module} {path}:{mutant['line']} {rec['status']} "
              f"({rec['mode']}, {len(selected)} tests, {rec['s']} s): "
              f"{mutant['mutation']}  {rec.get('killed_by', '')}")
      s = _summary(results, module)
      log(f"{module}: {s['killed']} killed of {s['mutants']} "
          f"(sites {sites[module]}), {s['equivalent']} equivalent, "
          f"{s['survived']} alive -> {s['kill_rate']:.1%}")
  finally:
    os.chdir(REPO)
    shutil.rmtree(scratch, ignore_errors=True)
  _report(results, args.modules, sites, args.sample, args.seed)
  return 0


if __name__ == "__main__":
  sys.exit(main())
