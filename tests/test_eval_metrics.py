"""The pipeline's in-loop metric bundle: classwise ECE, the bootstrap CI of
the ECE, registered metrics, and checked mode, each against an independent
computation on the Trainer's own test predictions."""

from __future__ import annotations

import dataclasses
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from enn_sym import metrics
from enn_sym import train
from enn_sym.train import _report
from tests import numpy_reference as ref
from tests import train_helpers


@dataclasses.dataclass(frozen=True)
class _TopTwo:
  """Top-2 accuracy of the mean logits: a user metric for the registry."""

  def empty(self):
    return {"hits": jnp.zeros(()), "count": jnp.zeros(())}

  def update(self, state, logits, labels, mask):
    top2 = jnp.argsort(logits.mean(axis=0), axis=-1)[:, -2:]
    hit = jnp.any(top2 == labels[:, None], axis=-1)
    return {"hits": state["hits"] + jnp.sum(hit * mask),
            "count": state["count"] + jnp.sum(mask)}

  def compute(self, state):
    return state["hits"] / jnp.maximum(state["count"], 1.0)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  """One tiny epinet run (2 seeds) with a registered metric."""
  metrics.register_metric("test_eval_top2", overwrite=True)(
      lambda config: _TopTwo())
  try:
    workdir = str(tmp_path_factory.mktemp("evalm"))
    config = train_helpers.tiny_config(**{
        "models": ("epinet",), "seeds": (0, 1), "num_steps": 3,
        "eval_batch_size": 80, "eval_num_indices": 2})
    trainer = train.Trainer(config, workdir)
    trainer.init_or_restore()
    trainer.train()
    summary = trainer.summary()
    predictions = trainer.predict("test")
  finally:
    metrics.unregister_metric("test_eval_top2")
  return workdir, trainer, summary["epinet"], predictions


@pytest.mark.slow
def test_registered_metric_reaches_training_run(run):
  workdir, _, summary, pred = run
  mean = pred["logits"].mean(axis=1)                       # [S, N, C]
  top2 = np.argsort(mean, axis=-1)[..., -2:]
  expected = np.any(top2 == pred["labels"][None, :, None], -1).mean(-1)
  np.testing.assert_allclose(summary["per_seed"]["test_eval_top2"], expected,
                             rtol=1e-6)
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    records = [json.loads(line) for line in f]
  finals = [r for r in records if r.get("final")]
  assert len(finals) == 2 and all("test_eval_top2" in r for r in finals)
  assert "test_eval_top2" not in metrics.list_metrics()


@pytest.mark.slow
def test_classwise_ece_equals_numpy_on_the_predictions(run):
  _, _, summary, pred = run
  probs = jax.nn.softmax(pred["logits"], -1).mean(axis=1)  # [S, N, C]
  expected = [ref.classwise_ece(p, pred["labels"], 15, "probs")[0]
              for p in np.asarray(probs)]
  np.testing.assert_allclose(summary["per_seed"]["classwise_ece"], expected,
                             rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_bootstrap_ci_matches_a_numpy_bootstrap(run):
  """The streamed 200-replicate interval against 4,000 numpy replicates of
  the same predictions (Poisson(1) weights): endpoints agree to Monte-Carlo
  error, and the point ECE lies inside."""
  _, _, summary, pred = run
  probs = np.asarray(jax.nn.softmax(pred["logits"], -1).mean(axis=1))
  rng = np.random.default_rng(0)
  for s, p in enumerate(probs):
    conf, correct = p.max(-1), (p.argmax(-1) == pred["labels"])
    bins = np.minimum((conf * 15).astype(int), 14)
    reps = []
    for _ in range(4000):
      w = rng.poisson(1.0, len(conf))
      n_b = np.bincount(bins, w, 15)
      gap = np.abs(np.bincount(bins, w * correct, 15)
                   - np.bincount(bins, w * conf, 15))
      reps.append(gap.sum() / n_b.sum())
    lo, hi = np.quantile(reps, [0.025, 0.975])
    got_lo = summary["per_seed"]["ece_boot_low"][s]
    got_hi = summary["per_seed"]["ece_boot_high"][s]
    assert got_lo < summary["per_seed"]["ece"][s] < got_hi
    assert abs(got_lo - lo) < 0.25 * (hi - lo), (got_lo, lo, hi)
    assert abs(got_hi - hi) < 0.25 * (hi - lo), (got_hi, lo, hi)


def test_table_shows_the_bootstrap_ci():
  summary = {"base": {"ece": 0.02, "ece_boot_low": 0.0131,
                      "ece_boot_high": 0.0279, "nll": 0.5}}
  table = _report.format_table(summary, ("nll", "ece"))
  header, _, row = table.splitlines()
  assert header.split() == ["model", "nll", "ece", "ece_95ci"]
  assert row.split() == ["base", "0.5000", "0.0200", "[0.013,", "0.028]"]
  assert "ece_95ci" not in _report.format_table({"base": {"ece": 0.1}},
                                                ("ece",))


def test_bootstrap_off_and_registered_none():
  config = train_helpers.tiny_config(**{
      "metrics.bootstrap_replicates": 0, "metrics.registered": ()})
  bundle = train.EvalMetrics.from_config(config, num_classes=10)
  assert set(bundle.empty()) == {"raw", "tempered", "joint", "classwise"}
  assert bundle.extra_keys() == ()
  on = train.EvalMetrics.from_config(train_helpers.tiny_config(), 10)
  assert set(on.empty()) >= {"bootstrap", "classwise"}


@pytest.mark.slow
def test_checked_eval_raises_on_non_finite_predictions(run, tmp_path):
  """metrics.checked=True compiles the value checks into the eval step: on
  finite parameters it gives the unchecked numbers, and NaN parameters give
  one InputError instead of the unchecked step's silent nan."""
  _, trainer, _, _ = run
  plain = trainer.runs["epinet"]
  config = train_helpers.tiny_config(**{
      "models": ("epinet",), "seeds": (0, 1), "num_steps": 3,
      "eval_batch_size": 80, "eval_num_indices": 2, "metrics.checked": True})
  checked = train.Trainer(config, str(tmp_path)).runs["epinet"]
  checked.state = plain.state
  got = checked.evaluate("test", which="final")
  want = plain.evaluate("test", which="final")
  for key in ("ece", "nll", "classwise_ece", "ece_boot_low"):
    np.testing.assert_allclose(got[1][key], want[1][key], rtol=1e-6)
  good = plain.state
  nan = good.replace(train=good.train.replace(params=jax.tree.map(
      lambda x: jnp.full_like(x, jnp.nan), good.train.params)))
  try:
    plain.state = nan
    assert np.isnan(float(plain.evaluate("test", which="final")[0]["nll"]))
  finally:
    plain.state = good
  checked.state = nan
  with pytest.raises(ValueError, match="finite"):
    checked.evaluate("test", which="final")


@pytest.mark.parametrize("key,value,match", [
    ("metrics.bootstrap_replicates", -1, "integer >= 0"),
    ("metrics.registered", ("no_such_metric",),
     "'no_such_metric' is not a registered metric"),
    ("metrics.registered", ("all", "x"), r'is \("all",\) or a tuple'),
])
def test_metric_config_validation(key, value, match):
  config = train_helpers.tiny_config(**{key: value})
  with pytest.raises(train.ConfigError, match=match):
    train.validate_config(config)


def test_registered_metric_shadowing_a_built_in_is_one_error():
  metrics.register_metric("ece", overwrite=True)(lambda config: _TopTwo())
  try:
    bundle = train.EvalMetrics(3, 10, 2, 4,
                               extra=metrics.make_metric_bundle(None, ("ece",)))
    logits = jnp.zeros((2, 4, 3))
    states = bundle.update(bundle.empty(), logits, jnp.array([0, 1, 2, 0]),
                           jnp.ones(4), 1.0, jax.random.key(0))
    with pytest.raises(ValueError, match="'ece' shadows a built-in result"):
      bundle.compute(states)
  finally:
    metrics.unregister_metric("ece")
