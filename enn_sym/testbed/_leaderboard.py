"""Running agents over a problem sweep and scoring them (§3.5).

``run_sweep`` trains each agent once per (teacher, training set): the
``classification`` ids ``i`` and ``i + 180`` share both (§1.4), so one trained
agent is scored at ``tau = 1`` and ``tau = 10``. ``leaderboard`` aggregates
per agent and ``tau``: the mean KL over problems, its standard error (the
published rule: average within groups of equal ``seed mod 10``, then the
population std of the group means over ``sqrt(#groups)``), and the mean KL
normalised by the uniform agent's.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Mapping, Sequence

import numpy as np

from enn_sym._validation import InputError
from enn_sym.testbed import _agents
from enn_sym.testbed import _baselines
from enn_sym.testbed import _likelihood
from enn_sym.testbed import _problems

KL_FILL = 1e6

# name: (problem ids, test seeds, ENN samples, steps scale, agents)
PRESETS: dict[str, dict[str, Any]] = {
    "quick": dict(problem_ids=(25, 205), num_test_seeds=50,
                  num_enn_samples=10, steps_scale=0.02,
                  agents=("mlp", "epinet")),
    "default": dict(
        problem_ids=(0, 180, 25, 205, 35, 215, 80, 260, 85, 265, 140, 320),
        num_test_seeds=1000, num_enn_samples=100, steps_scale=1.0,
        agents=("mlp", "epinet", "ensemble", "ensemble+", "dropout")),
    "full": dict(problem_ids=tuple(range(_problems.NUM_PROBLEMS)),
                 num_test_seeds=1000, num_enn_samples=1000, steps_scale=1.0,
                 agents=_agents.AGENT_NAMES),
}


def problem_pair(problem_id: int) -> int:
  """The id sharing teacher and training set (``i <-> i + 180``)."""
  return (problem_id + 180) % 360


def run_sweep(problem_ids: Sequence[int],
              agents: Mapping[str, _agents.AgentConfig],
              *, seeds: Sequence[int] = (0,),
              baselines: Sequence[str] = ("uniform", "prior"),
              num_test_seeds: int = 1000, num_enn_samples: int = 1000,
              log=None) -> list[dict[str, Any]]:
  """Scores ``agents`` (and ``baselines``) on ``problem_ids``.

  Args:
    problem_ids: ``classification`` ids.
    agents: display name -> :class:`AgentConfig`.
    seeds: training seeds (vmapped in one program); the per-problem KL is
      the mean over seeds.
    baselines: names from :data:`enn_sym.testbed.BASELINES`.
    num_test_seeds, num_enn_samples: ``J`` and ``M`` of the estimator.
    log: optional ``print``-like callable for progress lines.

  Returns:
    One record per (agent, problem): ``agent``, ``problem_id``, ``tau``,
    ``input_dim``, ``num_train``, ``temperature``, ``seed``, ``kl``
    (mean over training seeds), ``kl_per_seed``, ``kl_stderr`` (Monte Carlo,
    mean over seeds), ``train_seconds`` (shared by a pair), ``stop_reason``.
  """
  ids = [int(i) for i in problem_ids]
  if not ids:
    raise InputError("problem_ids is empty; pass at least one id.")
  for name in baselines:
    if name not in _baselines.BASELINES:
      raise InputError(f"Unknown baseline {name!r}; known: "
                       f"{sorted(_baselines.BASELINES)}.")
  groups: dict[int, list[int]] = {}
  for pid in ids:
    groups.setdefault(min(pid, problem_pair(pid)), []).append(pid)
  records = []
  for members in groups.values():
    problems = [_problems.make_problem(_problems.problem_config(
        pid, num_test_seeds=num_test_seeds,
        num_enn_samples=num_enn_samples)) for pid in members]
    batches = [_likelihood.sample_test_batches(p) for p in problems]
    scored = {name: (None, _baselines.BASELINES[name]) for name in baselines}
    for name, config in agents.items():
      trained = _agents.train_agent(config, problems[0], seeds)
      scored[name] = (trained, None)
    for name, (trained, baseline) in scored.items():
      for problem, batch in zip(problems, batches):
        if trained is None:
          samplers, seconds, reasons = [baseline(problem)], 0.0, ["n/a"]
        else:
          samplers = trained.samplers
          seconds, reasons = trained.train_seconds, list(trained.stop_reason)
        results = [_likelihood.evaluate_quality(problem, s, batches=batch)
                   for s in samplers]
        kls = [r["kl_estimate"] for r in results]
        cfg = problem.config
        record = dict(
            agent=name, problem_id=cfg.problem_id, tau=cfg.tau,
            input_dim=cfg.input_dim, num_train=cfg.num_train,
            temperature=cfg.temperature, seed=cfg.seed,
            kl=float(np.mean(kls)), kl_per_seed=kls,
            kl_stderr=float(np.mean([r["kl_stderr"] for r in results])),
            train_seconds=seconds, stop_reason=reasons)
        records.append(record)
        if log is not None:
          log(f"{name:>12} problem {cfg.problem_id:3d} tau {cfg.tau:2d} "
              f"KL {record['kl']:.4f} (train {seconds:.1f}s)")
  return records


def clean_kl(values) -> np.ndarray:
  """Leaderboard cleaning (§3.5): negative -> 0, non-finite -> 1e6."""
  v = np.asarray(values, np.float64)
  v = np.where(np.isfinite(v), v, KL_FILL)
  return np.maximum(v, 0.0)


def seed_group_stderr(kl, seeds, num_groups: int = 10) -> float:
  """Standard error by ``seed mod num_groups`` groups (§3.5, ddof 0)."""
  kl, seeds = np.asarray(kl, np.float64), np.asarray(seeds)
  means = [kl[seeds % num_groups == g].mean()
           for g in np.unique(seeds % num_groups)]
  return float(np.std(means) / np.sqrt(len(means)))


def leaderboard(records: Sequence[Mapping[str, Any]],
                uniform: str = "uniform") -> list[dict[str, Any]]:
  """Per (agent, tau): mean KL, stderr, normalised KL, time, #problems."""
  rows = []
  agents = list(dict.fromkeys(r["agent"] for r in records))
  taus = sorted({r["tau"] for r in records})
  for tau in taus:
    base = [r for r in records if r["agent"] == uniform and r["tau"] == tau]
    norm = float(np.mean(clean_kl([r["kl"] for r in base]))) if base else 1.0
    for agent in agents:
      sel = [r for r in records if r["agent"] == agent and r["tau"] == tau]
      if not sel:
        continue
      kl = clean_kl([r["kl"] for r in sel])
      seeds = [r["seed"] for r in sel]
      rows.append(dict(
          agent=agent, tau=tau, num_problems=len(sel),
          mean_kl=float(kl.mean()),
          stderr=seed_group_stderr(kl, seeds),
          normalized_kl=float(kl.mean() / norm),
          normalized_stderr=seed_group_stderr(kl, seeds) / norm,
          train_seconds=float(sum(r["train_seconds"] for r in sel
                                  if r["tau"] == tau))))
  return rows


def wall_time_line(wall_seconds: float, load=None) -> str:
  """``Wall time: ... min on 2 shared CPU cores`` plus, given samples of the
  1-min load average taken during the run, their mean and range."""
  line = f"Wall time: {wall_seconds / 60:.1f} min on 2 shared CPU cores"
  if load:
    v = np.asarray(load, np.float64)
    line += (f" (1-min load average during the run: mean {v.mean():.1f}, "
             f"range {v.min():.1f}-{v.max():.1f}, {v.size} samples)")
  return line + "."


def _fmt(x: float) -> str:
  return f"{x:.4f}" if abs(x) < 1e4 else f"{x:.3g}"


def leaderboard_markdown(records: Sequence[Mapping[str, Any]], *,
                         title: str = "Neural Testbed leaderboard",
                         command: str = "", wall_seconds: float | None = None,
                         notes: str = "", level: int = 1,
                         load=None) -> str:
  """The results page: leaderboard table, then per-problem values.

  ``level``: the heading level of the title (sections are one deeper).
  ``load``: 1-min load averages sampled during the run (see
  :func:`wall_time_line`).
  """
  h = "#" * level
  lines = [f"{h} {title}", ""]
  if command:
    lines += ["Generated by", "", "```bash", command, "```", ""]
  if wall_seconds is not None:
    lines += [wall_time_line(wall_seconds, load), ""]
  if notes:
    lines += [notes, ""]
  lines += [f"{h}# Leaderboard", "",
            "Mean KL over the problems of each tau (tau = 1: marginal, "
            "tau = 10: joint), its standard error (groups of seed mod 10), "
            "the mean normalised by the uniform agent's, and the total "
            "training time (a tau = 1 / tau = 10 pair shares one training "
            "run, counted in both rows).", "",
            "| agent | tau | problems | mean KL | stderr | normalised KL | "
            "train s |", "|---|---|---|---|---|---|---|"]
  for row in leaderboard(records):
    lines.append(
        f"| {row['agent']} | {row['tau']} | {row['num_problems']} | "
        f"{_fmt(row['mean_kl'])} | {_fmt(row['stderr'])} | "
        f"{row['normalized_kl']:.3f} ± {row['normalized_stderr']:.3f} | "
        f"{row['train_seconds']:.0f} |")
  agents = list(dict.fromkeys(r["agent"] for r in records))
  ids = sorted({r["problem_id"] for r in records})
  lines += ["", f"{h}# Per problem", "",
            "KL per problem (mean over training seeds).", "",
            "| id | tau | D | N | T | " + " | ".join(agents) + " |",
            "|---" * (5 + len(agents)) + "|"]
  for pid in ids:
    sel = {r["agent"]: r for r in records if r["problem_id"] == pid}
    any_r = next(iter(sel.values()))
    cells = [_fmt(sel[a]["kl"]) if a in sel else "" for a in agents]
    lines.append(f"| {pid} | {any_r['tau']} | {any_r['input_dim']} | "
                 f"{any_r['num_train']} | {any_r['temperature']} | "
                 + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def resolve_preset(name: str) -> dict[str, Any]:
  """The settings of a named preset (see :data:`PRESETS`)."""
  if name not in PRESETS:
    raise InputError(f"Unknown testbed preset {name!r}; choose one of "
                     f"{sorted(PRESETS)}.")
  return dict(PRESETS[name])


def parse_agent(spec: str, steps_scale: float = 1.0) -> _agents.AgentConfig:
  """``"kind"`` or ``"kind:key=value,key=value"`` -> :class:`AgentConfig`.

  Values are parsed as int, float, ``None``/``True``/``False`` or a string,
  e.g. ``"epinet:prior=mlp_ensemble_v0_1_0"``, ``"ensemble:num_ensemble=10"``,
  ``"epinet:bootstrap=bernoulli,bootstrap_rule=hash_v0_1_0"``.
  """
  kind, _, rest = spec.partition(":")
  fields = {f.name for f in dataclasses.fields(_agents.AgentConfig)}
  kwargs: dict[str, Any] = {"steps_scale": steps_scale}
  for item in filter(None, rest.split(",")):
    key, eq, raw = item.partition("=")
    if not eq or key not in fields or key == "kind":
      raise InputError(f"Bad agent option {item!r} in {spec!r}: write "
                       f"key=value with key one of {sorted(fields - {'kind'})}.")
    value: Any = raw
    for cast in (int, float):
      try:
        value = cast(raw)
        break
      except ValueError:
        pass
    value = {"None": None, "True": True, "False": False}.get(raw, value)
    kwargs[key] = value
  return _agents.AgentConfig(kind, **kwargs)


def agent_configs(specs: Sequence[str], steps_scale: float = 1.0
                  ) -> dict[str, _agents.AgentConfig]:
  """Display name (the spec) -> config, see :func:`parse_agent`."""
  return {spec: parse_agent(spec, steps_scale) for spec in specs}


def timed(fn, *args, **kwargs):
  """``(result, seconds)`` of ``fn(*args, **kwargs)``."""
  start = time.perf_counter()
  out = fn(*args, **kwargs)
  return out, time.perf_counter() - start
