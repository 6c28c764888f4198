"""Symmetric testbed: G-invariant teachers, incorrect and extrinsic symmetry.

The group ``G`` acts linearly on the inputs (a stack of ``[D, D]`` matrices:
C_n rotations of 2-D inputs, coordinate sign flips, coordinate permutations).

* Invariant teacher: ``f_G(x) = (1/|G|) sum_g MLP(g x) / T`` (the published
  random MLP averaged over the orbit), so ``f_G(g x) = f_G(x)``.
* Incorrect symmetry (Wang et al. 2023): on a region ``A`` of input mass
  ``rho`` (``A = {x : x_1 > Phi^-1(1 - rho)}`` under ``N(0, I)``) the teacher
  is the plain MLP instead, so it is NOT invariant there; ``rho = 0`` is a
  correct symmetry.
* Extrinsic symmetry: inputs on the half-space ``x_1 >= 0`` (``|x_1|``), which
  rotations map off the support; an invariant model is then constrained only
  where no data can be.

Models: plain ENNs and group-averaged ENNs (:func:`group_average_enn`: the
whole ENN output, base, epinet and prior, averaged in logit space over G).

Metrics: the testbed's marginal / joint KL against the teacher, and the
calibration error measured *exactly* against the teacher's probabilities
(:func:`true_calibration_error`: top-label calibration with the teacher's
probability of the predicted class in place of a 0/1 label, on many fresh
inputs, so no label noise), next to the usual binned ECE from sampled labels
and its bootstrap CI.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.scipy.stats import norm

from enn_sym import base as base_lib
from enn_sym import losses
from enn_sym import metrics
from enn_sym import train as train_lib
from enn_sym._validation import InputError
from enn_sym.testbed import _agents
from enn_sym.testbed import _likelihood
from enn_sym.testbed import _problems

Array = jax.Array


def rotation_group(n: int) -> Array:
  """C_n acting on 2-D inputs: ``[n, 2, 2]`` rotation matrices."""
  if n < 1:
    raise InputError(f"rotation_group needs n >= 1; got {n}.")
  a = 2 * np.pi * np.arange(n) / n
  return jnp.asarray(np.stack([[np.cos(a), -np.sin(a)],
                               [np.sin(a), np.cos(a)]]).transpose(2, 0, 1),
                     jnp.float32)


def sign_flip_group(dim: int) -> Array:
  """All ``2^dim`` coordinate sign flips: ``[2^dim, dim, dim]``."""
  signs = np.array(np.meshgrid(*[[1.0, -1.0]] * dim)).reshape(dim, -1).T
  return jnp.asarray(np.stack([np.diag(s) for s in signs]), jnp.float32)


def act(group: Array, x: Array) -> Array:
  """``[|G|, B, D]``: every group element applied to every row of ``x``."""
  return jnp.einsum("gij,bj->gbi", group, x)


def symmetric_teacher(group: Array, incorrect_fraction: float = 0.0):
  """A ``teacher(key, config)`` for :func:`enn_sym.testbed.make_problem`.

  Args:
    group: ``[|G|, D, D]`` matrices.
    incorrect_fraction: ``rho`` in [0, 1], the ``N(0, I)`` mass of the region
      ``x_1 > Phi^-1(1 - rho)`` where the plain (non-invariant) MLP is used.
  """
  if not 0.0 <= incorrect_fraction <= 1.0:
    raise InputError(f"incorrect_fraction must be in [0, 1]; got "
                     f"{incorrect_fraction!r}.")
  threshold = float(norm.ppf(1.0 - incorrect_fraction)) if (
      incorrect_fraction > 0) else np.inf

  def teacher(key, config):
    if group.shape[1:] != (config.input_dim, config.input_dim):
      raise InputError(f"group matrices have shape {group.shape[1:]}; the "
                       f"problem has D = {config.input_dim}.")
    layers = _problems.init_teacher(key, config.input_dim,
                                    num_classes=config.num_classes)

    def logits(x):
      plain = _problems.mlp_logits(layers, x)
      inv = jnp.mean(jax.vmap(lambda h: _problems.mlp_logits(layers, h))(
          act(group, x)), axis=0)
      out = jnp.where((x[:, 0] > threshold)[:, None], plain, inv)
      return out / config.temperature

    return logits

  return teacher


def halfspace_inputs(key, num: int, input_dim: int) -> Array:
  """``x ~ N(0, I)`` folded onto ``x_1 >= 0`` (extrinsic for rotations)."""
  x = jax.random.normal(key, (num, input_dim))
  return x.at[:, 0].set(jnp.abs(x[:, 0]))


def group_average_enn(enn: base_lib.EpistemicNetwork, group: Array
                      ) -> base_lib.EpistemicNetwork:
  """``f_G(x, z) = (1/|G|) sum_g f(g x, z)`` (train and prior parts alike).

  One index ``z`` is shared by all copies, so each sample is an invariant
  function; the result is exactly invariant for any parameters.
  """

  def apply(variables, x, z, **kwargs):
    outs = jax.vmap(lambda h: enn.apply(variables, h, z, **kwargs))(
        act(group, x))
    return base_lib.ENNOutput(jnp.mean(outs.train, 0), jnp.mean(outs.prior, 0),
                              {})

  return base_lib.EpistemicNetwork(enn.init, apply, enn.indexer)


def mean_probs(sampler, x: Array, keys: Array) -> Array:
  """``[B, C]`` predictive mean over the ENN samples of ``keys``."""
  return jnp.mean(jax.vmap(lambda k: jax.nn.softmax(sampler(x, k), -1))(keys),
                  axis=0)


def true_calibration_error(pred: Array, true: Array,
                           num_bins: int = 15) -> Array:
  """Top-label calibration error with the teacher's probabilities as truth.

  ``sum_b (n_b / n) |mean_b p(y = yhat | x) - mean_b conf(x)|`` over bins of
  the confidence ``conf = max_c pred_c`` (rule ``clip(floor(conf M), 0,
  M - 1)``). Against sampled labels this is the binned ECE; here the label
  noise is gone and on many inputs the only error left is the binning's.
  """
  conf = jnp.max(pred, -1)
  hit = jnp.take_along_axis(true, jnp.argmax(pred, -1)[:, None], -1)[:, 0]
  bins = jnp.clip(jnp.floor(conf * num_bins).astype(jnp.int32), 0,
                  num_bins - 1)
  gap = jnp.zeros(num_bins).at[bins].add(hit - conf)
  return jnp.sum(jnp.abs(gap)) / conf.shape[0]


def _ece_numpy(conf, correct, num_bins):
  bins = np.clip(np.floor(conf * num_bins).astype(np.int64), 0, num_bins - 1)
  gap = np.bincount(bins, weights=correct - conf, minlength=num_bins)
  return np.abs(gap).sum() / conf.shape[0]


def bootstrap_ece(probs: np.ndarray, labels: np.ndarray, *, num_bins: int = 15,
                  num_resamples: int = 200, seed: int = 0
                  ) -> tuple[float, float, float]:
  """``(ECE, lo, hi)``: binned top-label ECE (:func:`enn_sym.metrics.
  expected_calibration_error`) and its 95% percentile bootstrap CI over
  resampled examples (same bin rule, computed in numpy)."""
  ece = float(metrics.expected_calibration_error(probs, labels, num_bins))
  probs, labels = np.asarray(probs, np.float64), np.asarray(labels)
  conf = probs.max(-1)
  correct = (probs.argmax(-1) == labels).astype(np.float64)
  rng = np.random.default_rng(seed)
  n = labels.shape[0]
  draws = [_ece_numpy(conf[i], correct[i], num_bins)
           for i in rng.integers(0, n, (num_resamples, n))]
  lo, hi = np.percentile(draws, [2.5, 97.5])
  return ece, float(lo), float(hi)


def fit_symmetric_agent(config: _agents.AgentConfig,
                        problem: _problems.Problem, group: Array | None,
                        seeds: Sequence[int], *, num_val: int = 1000,
                        patience: int = 5):
  """Trains plain (``group=None``) or group-averaged agents, all seeds at once.

  Converged models: early stopping on the NLL of a fresh validation set drawn
  from the teacher (key ``fold_in(key(problem seed), 99)``), patience in
  evaluations of 100 steps; returns ``(samplers, FitResult)``.
  """
  pc = problem.config
  enn = _agents.build_enn(config, pc)
  if group is not None:
    enn = group_average_enn(enn, group)
  x_val, y_val = _problems.sample_data(
      jax.random.fold_in(jax.random.key(pc.seed), 99), problem.logits,
      num_val, pc.input_dim, problem.input_sampler)
  val = {"image": x_val, "label": y_val,
         "index": jnp.arange(num_val, dtype=jnp.int32)}
  x0 = problem.x_train[:1]
  eval_keys = jax.random.split(jax.random.key(12345), 32)

  def val_fn(params, state, data):
    variables = {**state, base_lib.PARAMS: params}
    probs = mean_probs(_agents.make_sampler(enn, variables), data["image"],
                       eval_keys)
    return -jnp.mean(jnp.log(jnp.take_along_axis(
        probs, data["label"][:, None], -1) + 1e-12))

  result = train_lib.fit_seeds(
      lambda k: losses.split_variables(enn.init(k, x0, enn.indexer(k))),
      _agents.agent_loss(config, pc, enn), problem.train_data, tuple(seeds),
      optimizer=optax.adam(config.learning_rate),
      num_steps=_agents.published_num_steps(config, pc),
      batch_size=None if pc.num_train <= config.batch_size
      else config.batch_size,
      eval_every=100, validation=val, val_fn=val_fn, patience=patience)
  samplers = []
  for i in range(len(result.seeds)):
    params, state = result.seed(i)
    samplers.append(_agents.make_sampler(
        enn, {**state, base_lib.PARAMS: params}))
  return samplers, result


def evaluate_symmetric(problem: _problems.Problem, sampler, *,
                       num_inputs: int = 20_000, num_samples: int = 100,
                       num_labels: int = 2000) -> dict[str, float]:
  """KL (the problem's tau), exact calibration error and binned ECE (+CI)."""
  kl = _likelihood.evaluate_quality(problem, sampler)["kl_estimate"]
  key = jax.random.fold_in(jax.random.key(problem.config.seed), 7)
  k_x, k_y = jax.random.split(key)
  x = problem.input_sampler(k_x, num_inputs, problem.config.input_dim)
  keys = problem.enn_keys[:num_samples]
  pred = jax.jit(lambda x: mean_probs(sampler, x, keys))(x)
  true = problem.probs(x)
  tce = float(true_calibration_error(pred, true))
  labels = _problems.sample_labels(k_y, true[:num_labels])
  ece, lo, hi = bootstrap_ece(np.asarray(pred[:num_labels]),
                              np.asarray(labels))
  return {"kl": kl, "true_ce": tce, "ece": ece, "ece_lo": lo, "ece_hi": hi}


def t_interval(values: Sequence[float]) -> tuple[float, float, float]:
  """``(mean, lo, hi)``: Student-t 95% interval of the mean across seeds."""
  from scipy import stats  # pylint: disable=g-import-not-at-top
  v = np.asarray(values, np.float64)
  m = float(v.mean())
  if v.size < 2:
    return m, m, m
  half = float(stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1)
               / math.sqrt(v.size))
  return m, m - half, m + half


SYMMETRIC_CELLS = (
    # (num_train, incorrect_fraction, support)
    (20, 0.0, "gaussian"), (200, 0.0, "gaussian"),
    (20, 0.5, "gaussian"), (200, 0.5, "gaussian"),
    (20, 0.0, "halfspace"),
)


def run_symmetric(cells=SYMMETRIC_CELLS, *, agent: str = "epinet",
                  rotations: int = 4, temperature: float = 0.1,
                  teacher_seed: int = 1, seeds: Sequence[int] = range(5),
                  steps_scale: float = 1.0, num_test_seeds: int = 1000,
                  num_enn_samples: int = 100, log=None,
                  on_record=None) -> list[dict]:
  """Plain vs C_n-averaged agents on 2-D symmetric teachers, per cell.

  Each cell builds one teacher (``teacher_seed``) and training set, trains
  both models for every seed (early-stopped, :func:`fit_symmetric_agent`)
  and scores them at tau = 1 and tau = 10 plus the calibration errors.

  Returns:
    One record per (cell, model) with per-seed lists ``kl1``, ``kl10``,
    ``true_ce``, ``ece``, ``ece_lo``, ``ece_hi``, and ``stop_reason``.
    ``on_record(records)`` is called after each (e.g. to save partial
    results).
  """
  group = rotation_group(rotations)
  config = _agents.AgentConfig(agent, steps_scale=steps_scale)
  records = []
  for num_train, rho, support in cells:
    sampler_fn = {"gaussian": _problems.gaussian_inputs,
                  "halfspace": halfspace_inputs}[support]
    teacher = symmetric_teacher(group, rho)
    problems = {tau: _problems.make_problem(
        _problems.ProblemConfig(
            problem_id=-1, input_dim=2, num_train=num_train,
            temperature=temperature, tau=tau, seed=teacher_seed,
            num_test_seeds=num_test_seeds, num_enn_samples=num_enn_samples),
        teacher=teacher, input_sampler=sampler_fn) for tau in (1, 10)}
    for model, g in (("plain", None), (f"C{rotations}-averaged", group)):
      samplers, fit = fit_symmetric_agent(config, problems[1], g, seeds)
      rec = {"num_train": num_train, "incorrect_fraction": rho,
             "support": support, "model": model, "seeds": list(fit.seeds),
             "stop_reason": list(fit.stop_reason),
             "steps_trained": [int(v) for v in fit.steps_trained]}
      for key in ("kl1", "kl10", "true_ce", "ece", "ece_lo", "ece_hi"):
        rec[key] = []
      for s in samplers:
        one = evaluate_symmetric(problems[1], s)
        rec["kl1"].append(one["kl"])
        rec["kl10"].append(_likelihood.evaluate_quality(
            problems[10], s)["kl_estimate"])
        for key in ("true_ce", "ece", "ece_lo", "ece_hi"):
          rec[key].append(one[key])
      records.append(rec)
      if on_record is not None:
        on_record(records)
      if log is not None:
        log(f"N {num_train} rho {rho} {support} {model}: KL1 "
            f"{np.mean(rec['kl1']):.4f} KL10 {np.mean(rec['kl10']):.4f} "
            f"trueCE {np.mean(rec['true_ce']):.4f} ECE "
            f"{np.mean(rec['ece']):.4f}")
  return records


def _ci_text(values) -> str:
  m, lo, hi = t_interval(values)
  return f"{m:.4f} [{lo:.4f}, {hi:.4f}]"


def symmetric_markdown(records: Sequence[dict], *, command: str = "",
                       wall_seconds: float | None = None) -> str:
  """Results page of :func:`run_symmetric` with the CI-rule answer."""
  lines = ["# Symmetric testbed: plain vs group-averaged ENNs", ""]
  if command:
    lines += ["Generated by", "", "```bash", command, "```", ""]
  if wall_seconds is not None:
    lines += [f"Wall time: {wall_seconds / 60:.1f} min on 2 shared CPU "
              f"cores.", ""]
  lines += [
      "2-D inputs, teacher = the testbed's random MLP averaged over C_n "
      "rotations (T = 0.1), replaced by the plain MLP on a region of input "
      "mass rho (incorrect symmetry); 'halfspace' folds the inputs onto "
      "x_1 >= 0, which rotations leave (extrinsic). Each cell: one teacher, "
      "one training set, 5 training seeds, early stopping on a fresh "
      "validation set's NLL (stop reasons listed). Values: mean over seeds "
      "with a Student-t 95% CI. true CE = calibration error against the "
      "teacher's probabilities on 20k inputs (no label noise); ECE = binned "
      "ECE (15 bins) on 2000 sampled labels, with the mean of its per-seed "
      "bootstrap 95% CI.", "",
      "| N | rho | support | model | KL tau=1 | KL tau=10 | true CE | ECE "
      "| ECE boot CI | stop |", "|---|---|---|---|---|---|---|---|---|---|"]
  for r in records:
    stops = ", ".join(sorted(set(r["stop_reason"])))
    lines.append(
        f"| {r['num_train']} | {r['incorrect_fraction']} | {r['support']} | "
        f"{r['model']} | {_ci_text(r['kl1'])} | {_ci_text(r['kl10'])} | "
        f"{_ci_text(r['true_ce'])} | {_ci_text(r['ece'])} | "
        f"[{np.mean(r['ece_lo']):.4f}, {np.mean(r['ece_hi']):.4f}] | "
        f"{stops} |")
  lines += ["", "## Answer (averaged minus plain, paired by seed, 95% CI)",
            "",
            "A difference is stated only where its CI excludes zero; "
            "otherwise: no measurable difference.", "",
            "| N | rho | support | metric | difference | reading |",
            "|---|---|---|---|---|---|"]
  cells = list(dict.fromkeys((r["num_train"], r["incorrect_fraction"],
                              r["support"]) for r in records))
  for cell in cells:
    pair = [r for r in records if (r["num_train"], r["incorrect_fraction"],
                                   r["support"]) == cell]
    if len(pair) != 2:
      continue
    plain, avg = pair
    for metric in ("kl1", "kl10", "true_ce"):
      diff = np.asarray(avg[metric]) - np.asarray(plain[metric])
      m, lo, hi = t_interval(diff)
      if lo > 0:
        reading = "averaged worse (higher)"
      elif hi < 0:
        reading = "averaged better (lower)"
      else:
        reading = "no measurable difference"
      lines.append(f"| {cell[0]} | {cell[1]} | {cell[2]} | {metric} | "
                   f"{m:+.4f} [{lo:+.4f}, {hi:+.4f}] | {reading} |")
  return "\n".join(lines) + "\n"
