"""Symmetric testbed: G-invariant teachers, incorrect and extrinsic symmetry.

The group ``G`` acts linearly on the inputs (a stack of ``[D, D]`` matrices:
C_n rotations of 2-D inputs, coordinate sign flips, coordinate permutations).

* Invariant teacher: ``f_G(x) = (a + b (1/|G|) sum_g MLP(g x)) / T`` (the
  published random MLP averaged over the orbit, then shifted and rescaled by
  constants ``a, b`` so that its logits have the plain MLP's mean and spread
  on ``N(0, I)``), so ``f_G(g x) = f_G(x)``.
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

import time
from typing import Callable, NamedTuple, Sequence

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
from enn_sym.testbed import _leaderboard
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


def logit_moments(logits: Array) -> tuple[Array, Array]:
  """Per-class mean ``[C]`` and scalar spread of ``logits [B, C]`` over rows.

  The spread is the RMS over rows and classes of the logits centred across
  classes and then across rows: for two classes, half the standard deviation
  of the logit difference. A softmax is unchanged by the common mode, so
  these two moments fix the teacher's class balance and sharpness.
  """
  centred = logits - jnp.mean(logits, axis=-1, keepdims=True)
  spread = jnp.sqrt(jnp.mean((centred - jnp.mean(centred, axis=0)) ** 2))
  return jnp.mean(logits, axis=0), spread


def symmetric_teacher(group: Array, incorrect_fraction: float = 0.0, *,
                      match_moments: bool = True,
                      num_reference: int = 8192):
  """A ``teacher(key, config)`` for :func:`enn_sym.testbed.make_problem`.

  Averaging a random MLP over a group cancels most of its x-dependence (for
  C4 on 2-D inputs the logit difference's spread falls about 4-6 fold, and
  the averaged teacher predicts one class on 99.6-100% of N(0, I)), so a raw
  average is a teacher without a decision boundary. With ``match_moments``
  (the default) the averaged logits are shifted and rescaled by constants
  so that their per-class mean and spread (:func:`logit_moments`) on
  ``num_reference`` draws of ``N(0, I)`` equal the plain MLP's: the
  invariant teacher then has the published teacher's class balance and
  sharpness, and differs from it only in being G-invariant (a constant
  affine map of an invariant function is invariant).

  Args:
    group: ``[|G|, D, D]`` matrices.
    incorrect_fraction: ``rho`` in [0, 1], the ``N(0, I)`` mass of the region
      ``x_1 > Phi^-1(1 - rho)`` where the plain (non-invariant) MLP is used.
    match_moments: match the averaged logits' moments to the plain MLP's
      (``False``: the raw orbit average, the behaviour before 2026-12-02).
    num_reference: reference draws for the moments (from the teacher key).
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

    def averaged(x):
      return jnp.mean(jax.vmap(lambda h: _problems.mlp_logits(layers, h))(
          act(group, x)), axis=0)

    shift, scale = 0.0, 1.0
    if match_moments:
      ref = jax.random.normal(jax.random.fold_in(key, 0x5EED),
                              (num_reference, config.input_dim))
      mean_p, spread_p = logit_moments(_problems.mlp_logits(layers, ref))
      mean_i, spread_i = logit_moments(averaged(ref))
      scale = spread_p / spread_i
      shift = mean_p - scale * mean_i

    def logits(x):
      plain = _problems.mlp_logits(layers, x)
      inv = shift + scale * averaged(x)
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


def symmetric_enn(config: _agents.AgentConfig, problem_config, group
                  ) -> base_lib.EpistemicNetwork:
  """The agent's ENN, group-averaged over ``group`` (``None``: plain)."""
  enn = _agents.build_enn(config, problem_config)
  return enn if group is None else group_average_enn(enn, group)


def fit_symmetric_agent(config: _agents.AgentConfig,
                        problem: _problems.Problem, group: Array | None,
                        seeds: Sequence[int], *, num_val: int = 1000,
                        patience: int = 5, eval_every: int = 100,
                        max_steps: int | None = None,
                        min_delta: float = 0.0):
  """Trains plain (``group=None``) or group-averaged agents, all seeds at once.

  Converged models: early stopping on the NLL of a fresh validation set drawn
  from the teacher (key ``fold_in(key(problem seed), 99)``), checked every
  ``eval_every`` steps; a seed stops after ``patience`` checks without an
  improvement of more than ``min_delta`` (the best-validation parameters are
  kept). ``max_steps`` is the ceiling (``None``: the published step count,
  :func:`enn_sym.testbed.published_num_steps`); a seed that reaches it is
  reported ``max_steps``, i.e. not converged. Returns ``(samplers,
  FitResult)``.
  """
  pc = problem.config
  enn = symmetric_enn(config, pc, group)
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

  num_steps = (_agents.published_num_steps(config, pc) if max_steps is None
               else int(max_steps))
  result = train_lib.fit_seeds(
      lambda k: losses.split_variables(enn.init(k, x0, enn.indexer(k))),
      _agents.agent_loss(config, pc, enn), problem.train_data, tuple(seeds),
      optimizer=optax.adam(config.learning_rate), num_steps=num_steps,
      batch_size=None if pc.num_train <= config.batch_size
      else config.batch_size,
      eval_every=min(eval_every, num_steps), validation=val, val_fn=val_fn,
      patience=patience, min_delta=min_delta)
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


class SymmetricEvalData(NamedTuple):
  """What :func:`evaluate_symmetric_seeds` scores against (model-free).

  Attributes:
    batches1, batches10: the dyadic test batches at ``tau = 1`` and 10.
    enn_keys: ``[M]`` the ENN keys of the KL estimator.
    ce_keys: ``[num_samples]`` the ENN keys of the predictive mean.
    x: ``[num_inputs, D]`` fresh inputs for the calibration errors.
    true: ``[num_inputs, C]`` the teacher's probabilities at ``x``.
    labels: ``[num_labels]`` labels sampled from ``true[:num_labels]``.
  """

  batches1: _likelihood.TestBatch
  batches10: _likelihood.TestBatch
  enn_keys: Array
  ce_keys: Array
  x: Array
  true: Array
  labels: Array


def symmetric_eval_data(problem1: _problems.Problem,
                        problem10: _problems.Problem, *,
                        num_inputs: int = 20_000, num_samples: int = 100,
                        num_labels: int = 2000) -> SymmetricEvalData:
  """The evaluation data of a cell, drawn as :func:`evaluate_symmetric` does
  (inputs from ``fold_in(key(problem seed), 7)``), once for every model."""
  if problem1.config.seed != problem10.config.seed:
    raise InputError("problem1 and problem10 must share the teacher seed.")
  key = jax.random.fold_in(jax.random.key(problem1.config.seed), 7)
  k_x, k_y = jax.random.split(key)
  x = problem1.input_sampler(k_x, num_inputs, problem1.config.input_dim)
  true = problem1.probs(x)
  labels = _problems.sample_labels(k_y, true[:num_labels])
  return SymmetricEvalData(
      _likelihood.sample_test_batches(problem1),
      _likelihood.sample_test_batches(problem10), problem1.enn_keys,
      problem1.enn_keys[:num_samples], x, true, labels)


def teacher_summary(problem: _problems.Problem, data: SymmetricEvalData
                    ) -> dict[str, float]:
  """How informative a cell's teacher is, on the calibration inputs.

  ``argmax_majority``: the share of inputs whose most probable class is the
  commonest one (1.0: the teacher has no decision boundary on the support);
  ``mean_top_prob``: the mean of ``max_c p(c | x)``; ``train_majority``: the
  share of the commonest training label.
  """
  true = np.asarray(data.true)
  top = np.bincount(true.argmax(-1), minlength=true.shape[-1])
  labels = np.bincount(np.asarray(problem.y_train),
                       minlength=true.shape[-1])
  return {"argmax_majority": float(top.max() / top.sum()),
          "mean_top_prob": float(true.max(-1).mean()),
          "train_majority": float(labels.max() / labels.sum())}


_EVAL_PROGRAMS: dict = {}


def _eval_program(enn: base_lib.EpistemicNetwork, cache_key, chunk: int):
  """One jitted ``(variables [S, ...], data) -> (kl1, kl10, pred)`` per ENN
  (kept in ``_EVAL_PROGRAMS`` under ``cache_key``; ``None``: not kept).

  Everything that differs between cells (teacher, test batches, inputs) is
  an argument, so cells with the same shapes reuse the compiled program.
  Seeds run one after another (``lax.map``) to bound memory; the predictive
  mean on ``data.x`` is a running sum over the ENN keys.
  """
  full_key = (cache_key, chunk)
  if cache_key is not None and full_key in _EVAL_PROGRAMS:
    return _EVAL_PROGRAMS[full_key]

  def one_seed(variables, data: SymmetricEvalData):
    sampler = _agents.make_sampler(enn, variables)
    kls = []
    for batches in (data.batches1, data.batches10):
      ll = _likelihood.sampled_log_likelihoods(sampler, batches,
                                               data.enn_keys, chunk=chunk)
      kls.append(batches.log_lik - _likelihood.log_mean_exp(ll, axis=0))

    def add(total, key):
      return total + jax.nn.softmax(sampler(data.x, key), -1), None

    total, _ = jax.lax.scan(add, jnp.zeros(data.true.shape, jnp.float32),
                            data.ce_keys)
    return kls[0], kls[1], total / data.ce_keys.shape[0]

  program = jax.jit(lambda variables, data: jax.lax.map(
      lambda v: one_seed(v, data), variables))
  if cache_key is not None:
    _EVAL_PROGRAMS[full_key] = program
  return program


def evaluate_symmetric_seeds(enn: base_lib.EpistemicNetwork, variables,
                             data: SymmetricEvalData, *, cache_key=None,
                             chunk: int = 50, num_bins: int = 15
                             ) -> list[dict[str, float]]:
  """:func:`evaluate_symmetric` (plus ``kl10``) for every seed in one program.

  Args:
    enn: the (plain or group-averaged) ENN.
    variables: its variables with a leading seed axis ``[S, ...]``.
    data: :func:`symmetric_eval_data` of the cell.
    cache_key: a hashable that identifies ``enn`` (same key = same network);
      ``None`` compiles afresh.
    chunk: ENN samples vmapped at a time in the KL estimator.

  Returns:
    Per seed: ``kl`` (tau = 1), ``kl10``, ``true_ce``, ``ece``, ``ece_lo``,
    ``ece_hi`` -- the numbers of :func:`evaluate_symmetric` and
    :func:`enn_sym.testbed.evaluate_quality` on the same problems.
  """
  program = _eval_program(enn, cache_key, chunk)
  kl1, kl10, pred = jax.device_get(program(variables, data))
  true, labels = np.asarray(data.true), np.asarray(data.labels)
  out = []
  for i in range(kl1.shape[0]):
    tce = float(true_calibration_error(jnp.asarray(pred[i]), true, num_bins))
    ece, lo, hi = bootstrap_ece(pred[i][:labels.shape[0]], labels,
                                num_bins=num_bins)
    out.append({"kl": _likelihood.summarize_kl(kl1[i])["kl_estimate"],
                "kl10": _likelihood.summarize_kl(kl10[i])["kl_estimate"],
                "true_ce": tce, "ece": ece, "ece_lo": lo, "ece_hi": hi})
  return out


def t_interval(values: Sequence[float]) -> tuple[float, float, float]:
  """``(mean, lo, hi)``: Student-t 95% interval of the mean across seeds
  (:func:`enn_sym.train.mean_ci`)."""
  return train_lib.mean_ci(values)


SYMMETRIC_CELLS = (
    # (num_train, incorrect_fraction, support); cheap cells first.
    (20, 0.0, "gaussian"), (20, 0.25, "gaussian"), (20, 0.5, "gaussian"),
    (20, 0.0, "halfspace"),
    (200, 0.0, "gaussian"), (200, 0.25, "gaussian"), (200, 0.5, "gaussian"),
    (200, 0.0, "halfspace"),
    (2000, 0.0, "gaussian"),
)

# name: settings of run_symmetric (see its docstring).
SYMMETRIC_PRESETS: dict[str, dict] = {
    "quick": dict(cells=((20, 0.0, "gaussian"),), seeds=(0, 1),
                  max_steps=100, eval_every=25, patience=2, min_delta=0.0,
                  num_test_seeds=20, num_enn_samples=5, num_inputs=1000,
                  num_labels=300),
    "default": dict(cells=SYMMETRIC_CELLS, seeds=(0, 1, 2, 3, 4),
                    max_steps=10_000, eval_every=100, patience=10,
                    min_delta=1e-3, num_test_seeds=1000,
                    num_enn_samples=100, num_inputs=20_000,
                    num_labels=2000),
}
SYMMETRIC_PRESETS["full"] = SYMMETRIC_PRESETS["default"]


def resolve_symmetric_preset(name: str) -> dict:
  """The symmetric-testbed settings of a preset (:data:`SYMMETRIC_PRESETS`)."""
  if name not in SYMMETRIC_PRESETS:
    raise InputError(f"Unknown symmetric-testbed preset {name!r}; choose one "
                     f"of {sorted(SYMMETRIC_PRESETS)}.")
  return dict(SYMMETRIC_PRESETS[name])


SUPPORTS = {"gaussian": _problems.gaussian_inputs,
            "halfspace": halfspace_inputs}


def _check_cells(cells):
  cells = tuple(tuple(c) for c in cells)
  if not cells:
    raise InputError("cells is empty; pass at least one (N, rho, support).")
  for c in cells:
    if (len(c) != 3 or not isinstance(c[0], (int, np.integer)) or c[0] < 1
        or c[2] not in SUPPORTS):
      raise InputError(f"Bad cell {c!r}: write (N >= 1, rho in [0, 1], "
                       f"support in {sorted(SUPPORTS)}).")
  return cells


def run_symmetric(cells=SYMMETRIC_CELLS, *, agent: str = "epinet",
                  rotations: int = 4, temperature: float = 0.1,
                  teacher_seed: int = 1, seeds: Sequence[int] = range(5),
                  steps_scale: float = 1.0, max_steps: int | None = 10_000,
                  eval_every: int = 100, patience: int = 10,
                  min_delta: float = 1e-3, num_test_seeds: int = 1000,
                  num_enn_samples: int = 100, num_inputs: int = 20_000,
                  num_labels: int = 2000, log=None,
                  on_record=None) -> list[dict]:
  """Plain vs C_n-averaged agents on 2-D symmetric teachers, per cell.

  Each cell builds one teacher (``teacher_seed``) and training set, trains
  both models for every seed (early-stopped, :func:`fit_symmetric_agent`
  with ``max_steps``, ``eval_every``, ``patience``, ``min_delta``) and scores
  them at tau = 1 and tau = 10 plus the calibration errors
  (:func:`evaluate_symmetric_seeds`: one compiled program per model, reused
  by every cell of the same shapes).

  Returns:
    One record per (cell, model) with per-seed lists ``kl1``, ``kl10``,
    ``true_ce``, ``ece``, ``ece_lo``, ``ece_hi``, ``stop_reason``,
    ``steps_trained``, ``best_step``, and ``train_seconds`` /
    ``eval_seconds``. ``on_record(records)`` is called after each (e.g. to
    save partial results).
  """
  cells = _check_cells(cells)
  group = rotation_group(rotations)
  config = _agents.AgentConfig(agent, steps_scale=steps_scale)
  records = []
  for num_train, rho, support in cells:
    teacher = symmetric_teacher(group, rho)
    problems = {tau: _problems.make_problem(
        _problems.ProblemConfig(
            problem_id=-1, input_dim=2, num_train=int(num_train),
            temperature=temperature, tau=tau, seed=teacher_seed,
            num_test_seeds=num_test_seeds, num_enn_samples=num_enn_samples),
        teacher=teacher, input_sampler=SUPPORTS[support]) for tau in (1, 10)}
    data = symmetric_eval_data(problems[1], problems[10],
                               num_inputs=num_inputs,
                               num_samples=num_enn_samples,
                               num_labels=num_labels)
    pc = problems[1].config
    teacher_stats = teacher_summary(problems[1], data)
    for model, g in (("plain", None), (f"C{rotations}-averaged", group)):
      start = time.perf_counter()
      _, fit = fit_symmetric_agent(
          config, problems[1], g, seeds, patience=patience,
          eval_every=eval_every, max_steps=max_steps, min_delta=min_delta)
      jax.block_until_ready(fit.params)
      train_seconds = time.perf_counter() - start
      enn = symmetric_enn(config, pc, g)
      scores = evaluate_symmetric_seeds(
          enn, {**fit.state, base_lib.PARAMS: fit.params}, data,
          cache_key=(config, pc.num_classes, pc.input_dim, pc.temperature,
                     None if g is None else rotations))
      rec = {"num_train": int(num_train), "incorrect_fraction": float(rho),
             "support": support, "model": model, "seeds": list(fit.seeds),
             "stop_reason": list(fit.stop_reason),
             "steps_trained": [int(v) for v in fit.steps_trained],
             "best_step": [int(v) for v in fit.best_step],
             "teacher": teacher_stats, "train_seconds": train_seconds,
             "eval_seconds": time.perf_counter() - start - train_seconds}
      for key, name in (("kl1", "kl"), ("kl10", "kl10"),
                        ("true_ce", "true_ce"), ("ece", "ece"),
                        ("ece_lo", "ece_lo"), ("ece_hi", "ece_hi")):
        rec[key] = [one[name] for one in scores]
      records.append(rec)
      if on_record is not None:
        on_record(records)
      if log is not None:
        log(f"N {num_train} rho {rho} {support} {model}: KL1 "
            f"{np.mean(rec['kl1']):.4f} KL10 {np.mean(rec['kl10']):.4f} "
            f"trueCE {np.mean(rec['true_ce']):.4f} ECE "
            f"{np.mean(rec['ece']):.4f} stop {stop_counts(rec)} "
            f"(train {train_seconds:.0f}s, eval {rec['eval_seconds']:.0f}s)")
  return records


def stop_counts(record: dict) -> str:
  """``"early_stopping 4, max_steps 1"``: the seeds' stop reasons counted."""
  reasons = record["stop_reason"]
  return ", ".join(f"{r} {reasons.count(r)}" for r in sorted(set(reasons)))


def converged(record: dict) -> bool:
  """Every seed stopped early (none at the step ceiling, none non-finite)."""
  return all(r == "early_stopping" for r in record["stop_reason"])


def _range_text(values) -> str:
  return f"{min(values)}-{max(values)}" if values else "n/a"


def _ci_text(values) -> str:
  m, lo, hi = t_interval(values)
  return f"{m:.4f} [{lo:.4f}, {hi:.4f}]"


def symmetric_comparisons(records: Sequence[dict],
                          metrics_: Sequence[str] = ("kl1", "kl10", "true_ce")
                          ) -> list[dict]:
  """Averaged minus plain per cell and metric, paired by seed (t 95% CI).

  ``reading``: ``"not converged"`` when a seed of either model did not stop
  early (no claim), else ``"averaged better (lower)"`` /
  ``"averaged worse (higher)"`` where the CI excludes zero, else ``"no
  measurable difference"``.
  """
  out = []
  cells = list(dict.fromkeys((r["num_train"], r["incorrect_fraction"],
                              r["support"]) for r in records))
  for cell in cells:
    pair = [r for r in records if (r["num_train"], r["incorrect_fraction"],
                                   r["support"]) == cell]
    if len(pair) != 2:
      continue
    plain, avg = pair
    if plain["seeds"] != avg["seeds"]:
      raise InputError(f"cell {cell}: the two models have different seeds "
                       f"({plain['seeds']} vs {avg['seeds']}); cannot pair.")
    for metric in metrics_:
      d = train_lib.paired_difference(avg[metric], avg["seeds"],
                                      plain[metric], plain["seeds"])
      lo, hi = d["ci95"]
      reading = ("not converged" if not (converged(plain) and converged(avg))
                 else train_lib.conclusion(
                     d["ci95"], lower="averaged better (lower)",
                     higher="averaged worse (higher)"))
      out.append({"num_train": cell[0], "incorrect_fraction": cell[1],
                  "support": cell[2], "metric": metric, "diff": d["mean"],
                  "lo": lo, "hi": hi, "reading": reading})
  return out


def symmetric_markdown(records: Sequence[dict], *, command: str = "",
                       wall_seconds: float | None = None,
                       title: str = "Symmetric testbed: plain vs "
                                    "group-averaged ENNs",
                       settings: dict | None = None, level: int = 1,
                       load=None) -> str:
  """Results of :func:`run_symmetric` with the CI-rule answer.

  ``level``: the heading level of the title (sections are one deeper);
  ``load``: 1-min load averages sampled during the run.
  """
  h = "#" * level
  lines = [f"{h} {title}", ""]
  if command:
    lines += ["Generated by", "", "```bash", command, "```", ""]
  if wall_seconds is not None:
    lines += [_leaderboard.wall_time_line(wall_seconds, load), ""]
  seeds = len(records[0]["seeds"]) if records else 0
  train = ""
  if settings:
    train = (f" Training: the published epinet settings, early stopping on "
             f"the validation NLL checked every {settings['eval_every']} "
             f"steps, patience {settings['patience']} checks, min_delta "
             f"{settings['min_delta']}, at most {settings['max_steps']} "
             f"steps; KL with J = {settings['num_test_seeds']} test seeds and "
             f"M = {settings['num_enn_samples']} ENN samples.")
    num_inputs = settings["num_inputs"]
    num_labels = settings["num_labels"]
  else:
    num_inputs, num_labels = 20_000, 2000
  lines += [
      "2-D inputs, teacher = the testbed's random MLP averaged over C_n "
      "rotations, shifted and rescaled by constants to the plain MLP's logit "
      "mean and spread on N(0, I) (so it keeps a decision boundary; T = 0.1), "
      "replaced by the plain MLP on a region of input "
      "mass rho (incorrect symmetry); 'halfspace' folds the inputs onto "
      "x_1 >= 0, which rotations leave (extrinsic). Each cell: one teacher, "
      f"one training set, {seeds} training seeds, early stopping on a fresh "
      "validation set's NLL (stop reasons counted per model; 'early_stopping' "
      "= converged, 'max_steps' = hit the ceiling; the best-validation "
      "parameters, from the 'best step', are the ones scored)." + train +
      " Values: mean "
      "over seeds with a Student-t 95% CI. true CE = calibration error "
      f"against the teacher's probabilities on {num_inputs} inputs (no label "
      f"noise); ECE = binned ECE (15 bins) on {num_labels} sampled labels, "
      "with the mean of its per-seed bootstrap 95% CI.", "",
      "| N | rho | support | model | KL tau=1 | KL tau=10 | true CE | ECE "
      "| ECE boot CI | stop | steps (mean) | best step (range) |",
      "|---|---|---|---|---|---|---|---|---|---|---|---|"]
  for r in records:
    lines.append(
        f"| {r['num_train']} | {r['incorrect_fraction']} | {r['support']} | "
        f"{r['model']} | {_ci_text(r['kl1'])} | {_ci_text(r['kl10'])} | "
        f"{_ci_text(r['true_ce'])} | {_ci_text(r['ece'])} | "
        f"[{np.mean(r['ece_lo']):.4f}, {np.mean(r['ece_hi']):.4f}] | "
        f"{stop_counts(r)} | {np.mean(r['steps_trained']):.0f} | "
        f"{_range_text(r.get('best_step'))} |")
  teachers = [r for r in records if "teacher" in r][::2]
  if teachers:
    lines += ["", "Teachers, on the calibration inputs: the share of inputs "
              "whose most probable class is the commonest one (1.0 = no "
              "decision boundary on the support), the mean top-class "
              "probability, and the commonest training label's share.", "",
              "| N | rho | support | argmax majority | mean top prob | "
              "train majority |", "|---|---|---|---|---|---|"]
    for r in teachers:
      t = r["teacher"]
      lines.append(f"| {r['num_train']} | {r['incorrect_fraction']} | "
                   f"{r['support']} | {t['argmax_majority']:.3f} | "
                   f"{t['mean_top_prob']:.3f} | {t['train_majority']:.3f} |")
  lines += ["", f"{h}# Answer (averaged minus plain, paired by seed, 95% CI)",
            "",
            "A difference is stated only where both models converged (every "
            "seed stopped early) and its CI excludes zero; otherwise: \"no "
            "measurable difference\" or \"not converged\" (no claim). The "
            "intervals are per comparison, not corrected for multiplicity, "
            "and cover training-seed variation only: each cell has one "
            "teacher and one training set.", ""]
  comparisons = symmetric_comparisons(records)
  if comparisons:
    readings = [c["reading"] for c in comparisons]
    lines += ["Summary: " + ", ".join(
        f"{readings.count(r)} of {len(readings)} {r}" for r in (
            "averaged better (lower)", "averaged worse (higher)",
            "no measurable difference", "not converged")
        if r in readings) + ".", ""]
  lines += ["| N | rho | support | metric | difference | reading |",
            "|---|---|---|---|---|---|"]
  for c in comparisons:
    lines.append(f"| {c['num_train']} | {c['incorrect_fraction']} | "
                 f"{c['support']} | {c['metric']} | {c['diff']:+.4f} "
                 f"[{c['lo']:+.4f}, {c['hi']:+.4f}] | {c['reading']} |")
  return "\n".join(lines) + "\n"
