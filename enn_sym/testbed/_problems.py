"""Neural Testbed classification problems: random-MLP teacher, data, sweep.

Restated from Osband et al. 2022 ("The Neural Testbed: Evaluating Joint
Predictions", arXiv 2110.04629) and its public code as summarised in the
project's reference sheet ``neural_testbed.md`` (sections cited as §n):

* Teacher (§1.1): a ReLU MLP ``D -> 50 -> 50 -> 2``; weights ``TN(1/sqrt(fan_in))``
  (normal truncated to two standard-deviation parameters, actual std about
  ``0.88/sqrt(fan_in)``), first bias ``N(0, 1/D)`` (untruncated), other biases
  zero; ``logits(x) = MLP(x) / T``.
* Data (§1.2, §1.3): ``x ~ N(0, I_D)``, ``y ~ Categorical(softmax(logits(x)))``
  per row; ``N`` training points fixed per problem; each test seed draws a
  fresh batch of ``tau`` points from the dyadic sampler (``kappa = 2``
  Gaussian anchors, ``tau`` positions drawn uniformly with replacement, no
  noise, an independent label per position).
* Keys (§1.4): the problem seed ``s`` starts a stream ``S(key(s))`` whose
  ``next`` splits off a sub-key; teacher, data and evaluation keys are the
  first, second and third draws. The teacher is initialised from its key by a
  stream consumed in the order ``W1, b1, W2, W3``.
* Sweep (§2.1): 360 problems, ``tau`` outermost, then ``D``, ``N/D``,
  temperature and 5 seeds; seeds restart at 1 for each ``tau`` block.

Everything is a pure function of the problem seed: the same id gives the same
teacher, training set and test keys (the teacher's weights follow the
published key recipe; whether they are bit-identical to the Haiku code depends
on the jax version, so the tests compare statistics, not bits).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Iterator, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from enn_sym._validation import InputError

Array = jax.Array

TAUS = (1, 10)
INPUT_DIMS = (2, 10, 100)
RATIOS = (1, 10, 100, 1000)
TEMPERATURES = (0.01, 0.1, 0.5)
SEEDS_PER_CONFIG = 5
NUM_PROBLEMS = 360
HIDDEN_SIZES = (50, 50)
NUM_CLASSES = 2


@dataclasses.dataclass(frozen=True)
class ProblemConfig:
  """One testbed problem (§2.1 fixed fields).

  Attributes:
    problem_id: the ``classification/<id>`` number, or ``-1`` for a custom one.
    input_dim: ``D``.
    num_train: ``N``.
    temperature: ``T``, the teacher's logit divisor.
    tau: number of jointly evaluated test inputs.
    seed: the problem seed (teacher, training set and test keys).
    kappa: number of dyadic anchors per test batch.
    num_test_seeds: ``J``, test batches averaged per problem.
    num_enn_samples: ``M``, epistemic samples per test batch.
    num_classes: ``C`` (2 in every sweep).
  """

  problem_id: int
  input_dim: int
  num_train: int
  temperature: float
  tau: int
  seed: int
  kappa: int = 2
  num_test_seeds: int = 1000
  num_enn_samples: int = 1000
  num_classes: int = NUM_CLASSES

  @property
  def ratio(self) -> float:
    return self.num_train / self.input_dim

  def __post_init__(self):
    for name in ("input_dim", "num_train", "tau", "kappa", "num_test_seeds",
                 "num_enn_samples", "num_classes"):
      value = getattr(self, name)
      if not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"ProblemConfig.{name} must be a positive integer; "
                         f"got {value!r}.")
    if not self.temperature > 0:
      raise InputError(f"ProblemConfig.temperature must be > 0; got "
                       f"{self.temperature!r}.")


def problem_config(problem_id: int, **overrides) -> ProblemConfig:
  """The ``classification/<problem_id>`` problem by its closed form (§2.1).

  ``b = id mod 180``; ``tau = 1`` if ``id < 180`` else 10; ``seed = b + 1``;
  ``T = TEMPERATURES[(b // 5) % 3]``; ``ratio = RATIOS[(b // 15) % 4]``;
  ``D = INPUT_DIMS[b // 60]``; ``N = ratio * D``. ``overrides`` replace
  fields (e.g. ``num_test_seeds=100`` for a quick run).
  """
  if not isinstance(problem_id, (int, np.integer)) or not (
      0 <= problem_id < NUM_PROBLEMS):
    raise InputError(f"problem_id must be an integer in [0, {NUM_PROBLEMS}); "
                     f"got {problem_id!r}.")
  b = int(problem_id) % 180
  d = INPUT_DIMS[b // 60]
  config = ProblemConfig(
      problem_id=int(problem_id), input_dim=d,
      num_train=RATIOS[(b // 15) % 4] * d,
      temperature=TEMPERATURES[(b // 5) % 3],
      tau=TAUS[0] if problem_id < 180 else TAUS[1], seed=b + 1)
  return dataclasses.replace(config, **overrides)


def classification_sweep(**overrides) -> tuple[ProblemConfig, ...]:
  """All 360 problems, in id order, by enumerating the published loop nest."""
  configs = []
  for tau in TAUS:
    seed = 0
    for d in INPUT_DIMS:
      for ratio in RATIOS:
        for temperature in TEMPERATURES:
          for _ in range(SEEDS_PER_CONFIG):
            seed += 1
            configs.append(ProblemConfig(
                problem_id=len(configs), input_dim=d, num_train=ratio * d,
                temperature=temperature, tau=tau, seed=seed))
  return tuple(dataclasses.replace(c, **overrides) for c in configs)


class KeyStream:
  """``S(key)``: every ``next`` splits ``(key, sub) = split(key)``, keeps
  ``key`` and returns ``sub`` (a Haiku ``PRNGSequence`` with reserve 1)."""

  def __init__(self, key):
    if isinstance(key, (int, np.integer)):
      key = jax.random.key(int(key))
    self._key = key

  def __iter__(self) -> Iterator[Array]:
    return self

  def __next__(self) -> Array:
    self._key, sub = jax.random.split(self._key)
    return sub


def _truncated_normal(key, stddev: float, shape) -> Array:
  return stddev * jax.random.truncated_normal(key, -2.0, 2.0, shape)


def init_teacher(key, input_dim: int,
                 hidden_sizes: Sequence[int] = HIDDEN_SIZES,
                 num_classes: int = NUM_CLASSES) -> list[dict[str, Array]]:
  """Teacher weights (§1.1): a list of ``{'w': [fan_in, fan_out], 'b': ...}``.

  Keys come from ``KeyStream(key)`` in the order ``W1, b1, W2, ..., W_out``
  (zero biases draw no key).
  """
  stream = KeyStream(key)
  widths = [input_dim, *hidden_sizes, num_classes]
  layers = []
  for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
    w = _truncated_normal(next(stream), 1.0 / math.sqrt(fan_in),
                          (fan_in, fan_out))
    if i == 0:
      b = jax.random.normal(next(stream), (fan_out,)) / math.sqrt(input_dim)
    else:
      b = jnp.zeros((fan_out,), jnp.float32)
    layers.append({"w": w, "b": b})
  return layers


def mlp_logits(layers: Sequence[Mapping[str, Array]], x: Array) -> Array:
  """The teacher MLP before the temperature: ``[B, D] -> [B, C]``."""
  h = jnp.asarray(x, jnp.float32)
  for layer in layers[:-1]:
    h = jax.nn.relu(h @ layer["w"] + layer["b"])
  return h @ layers[-1]["w"] + layers[-1]["b"]


def random_mlp_teacher(key, config: "ProblemConfig"):
  """The published teacher (§1.1): ``x -> MLP(x) / T`` from :func:`init_teacher`."""
  layers = init_teacher(key, config.input_dim, num_classes=config.num_classes)
  return lambda x: mlp_logits(layers, x) / config.temperature


def gaussian_inputs(key, num: int, input_dim: int) -> Array:
  """``x ~ N(0, I_D)``, shape ``[num, input_dim]`` (§1.2)."""
  return jax.random.normal(key, (num, input_dim))


@dataclasses.dataclass(frozen=True)
class Problem:
  """A built problem: config, teacher, training set and evaluation keys.

  Attributes:
    config: the :class:`ProblemConfig`.
    logits: the teacher's logits ``x [B, D] -> [B, C]``, temperature applied.
    x_train: ``[N, D]`` float32 training inputs.
    y_train: ``[N]`` int32 training labels.
    test_keys: ``[J]`` keys, one per test seed (§1.4 ``split(k_kl, J)``).
    enn_keys: ``[M]`` keys for the agent's samples, shared by all test seeds.
    input_sampler: ``(key, num, D) -> x``, the input distribution (training
      inputs and dyadic anchors).
  """

  config: ProblemConfig
  logits: Callable[[Array], Array]
  x_train: Array
  y_train: Array
  test_keys: Array
  enn_keys: Array
  input_sampler: Callable[..., Array] = gaussian_inputs

  def probs(self, x: Array) -> Array:
    """The true class probabilities ``p(y | x)``."""
    return jax.nn.softmax(self.logits(x), axis=-1)

  @property
  def train_data(self) -> dict[str, Array]:
    """``{'image': x, 'label': y, 'index': 0..N-1}`` (the layout the ENN
    losses and :func:`enn_sym.train.fit_seeds` read)."""
    n = self.x_train.shape[0]
    return {"image": self.x_train, "label": self.y_train,
            "index": jnp.arange(n, dtype=jnp.int32)}


def sample_labels(key, probs: Array) -> Array:
  """One categorical draw per row, each with its own key (§1.2)."""
  keys = jax.random.split(key, probs.shape[0])
  c = probs.shape[-1]
  return jax.vmap(lambda k, p: jax.random.choice(k, c, (1,), p=p)[0])(
      keys, probs).astype(jnp.int32)


def sample_data(key, logits_fn, num: int, input_dim: int,
                input_sampler=gaussian_inputs) -> tuple[Array, Array]:
  """``(x, y)``: ``(kx, ky) = split(key)``, ``x ~ input_sampler``, ``y ~ p(.|x)``."""
  kx, ky = jax.random.split(key)
  x = input_sampler(kx, num, input_dim)
  return x, sample_labels(ky, jax.nn.softmax(logits_fn(x), axis=-1))


def make_problem(config: ProblemConfig | int, *, teacher=random_mlp_teacher,
                 input_sampler=gaussian_inputs) -> Problem:
  """Builds a problem from its config (or id) by the key recipe of §1.4.

  Args:
    config: a :class:`ProblemConfig` or a ``classification`` problem id.
    teacher: ``(key, config) -> logits_fn``; the default is the published
      random MLP. The symmetric testbed passes group-averaged teachers.
    input_sampler: ``(key, num, D) -> x [num, D]``; default ``N(0, I)``.
  """
  if not isinstance(config, ProblemConfig):
    config = problem_config(config)
  stream = KeyStream(config.seed)
  k_teacher = next(stream)
  k_data = next(stream)
  k_eval = next(stream)
  logits_fn = teacher(k_teacher, config)
  x, y = jax.jit(lambda k: sample_data(k, logits_fn, config.num_train,
                                       config.input_dim, input_sampler))(
                                           next(KeyStream(k_data)))
  k_kl, k_enn = jax.random.split(k_eval)
  return Problem(config, logits_fn, x, y,
                 jax.random.split(k_kl, config.num_test_seeds),
                 jax.random.split(k_enn, config.num_enn_samples),
                 input_sampler)
