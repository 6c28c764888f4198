"""The registry of in-loop metrics: one registration puts a metric in runs.

A registered metric is built from the training config and evaluated inside
the jitted eval step of every training run, next to the built-in bundle::

  @enn_sym.metrics.register_metric("top2_accuracy")
  def make_top2(config):
    return Top2Accuracy()   # empty() / update(state, logits, labels, mask)
                            #   / compute(state) -> scalar or {name: scalar}

``update`` receives the evaluation logit stacks ``[K, batch, classes]`` (K
index samples), integer labels ``[batch]`` and the padding mask ``[batch]``
(1 = real example), so it must ignore rows with ``mask == 0`` and be
jittable. Its state must be a pytree of arrays; ``merge`` (optional, for
multi-batch merging outside the loop) combines two states.

:func:`make_metric_bundle` builds every registered metric into one
:class:`MetricBundle` whose ``compute`` returns ``{name: value}`` for a
scalar result and ``{"name/key": value}`` for a dict result.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import jax
import numpy as np

from enn_sym import _registry
from enn_sym import _validation

_METRICS = _registry.Registry("metric", "enn_sym.metrics.register_metric")
_PROTOCOL = ("empty", "update", "compute")


def register_metric(name: str, *, overwrite: bool = False):
  """Decorator that registers ``factory(config) -> metric`` as ``name``.

  Every training run (with the default ``config.metrics.registered =
  ("all",)``) then evaluates the metric inside its jitted eval step (at
  each evaluation and on the test split) and reports it as ``name`` (scalar
  result) or ``name/key`` (dict result) in ``metrics.jsonl`` and the
  evaluation results.
  """
  if "/" in str(name):
    raise _validation.InputError(
        f"A metric name may not contain '/' (it separates the keys of dict "
        f"results); got {name!r}.")
  return _METRICS.register(name, overwrite=overwrite)


def unregister_metric(name: str) -> None:
  """Removes the metric registered as ``name`` from training runs."""
  _METRICS.unregister(name)


def list_metrics() -> tuple[str, ...]:
  """The registered in-loop metric names, sorted."""
  return _METRICS.names()


def get_metric(name: str) -> Callable[[Any], Any]:
  """The factory registered as ``name``."""
  return _METRICS.get(name)


class MetricBundle:
  """A named collection of metrics with one mergeable, jittable state.

  Attributes:
    metrics: ``{name: metric}``.
  """

  def __init__(self, metrics: Mapping[str, Any]):
    for name, metric in metrics.items():
      missing = [a for a in _PROTOCOL if not hasattr(metric, a)]
      if missing:
        raise _validation.InputError(
            f"The metric registered as {name!r} lacks {missing}; a metric "
            f"has empty(), update(state, logits, labels, mask) and "
            f"compute(state).")
    self.metrics = dict(metrics)

  def __len__(self) -> int:
    return len(self.metrics)

  def empty(self) -> dict:
    return {name: m.empty() for name, m in self.metrics.items()}

  def update(self, states, logits, labels, mask) -> dict:
    """Updates every state with logit stacks ``[K, batch, classes]``."""
    return {name: m.update(states[name], logits, labels, mask)
            for name, m in self.metrics.items()}

  def merge(self, a, b) -> dict:
    return {name: m.merge(a[name], b[name]) for name, m in self.metrics.items()}

  def compute(self, states) -> dict[str, np.ndarray]:
    """``{name: value}`` / ``{"name/key": value}``, as numpy arrays."""
    out = {}
    for name, m in self.metrics.items():
      result = m.compute(states[name])
      if isinstance(result, Mapping):
        for key, value in result.items():
          out[f"{name}/{key}"] = np.asarray(jax.device_get(value))
      else:
        out[name] = np.asarray(jax.device_get(result))
    return out


def make_metric_bundle(config: Any = None,
                       names: tuple[str, ...] | None = None) -> MetricBundle:
  """Every registered metric (or those in ``names``) built from ``config``."""
  chosen = list_metrics() if names is None else tuple(names)
  return MetricBundle({name: get_metric(name)(config) for name in chosen})
