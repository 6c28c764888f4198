"""Per-example probes and the study-report helpers, against hand-computed
values."""

import math

import numpy as np
import pytest

from enn_sym import train


def _logits_of(probs):
  return np.log(np.asarray(probs, np.float64))


def test_predictive_uncertainty_hand_values():
  # One seed, K=2 indices, N=1 example, C=2 classes.
  logits = _logits_of([[[[0.9, 0.1]], [[0.5, 0.5]]]])
  u = train.predictive_uncertainty(logits)
  h = lambda p: -sum(x * math.log(x) for x in p)
  np.testing.assert_allclose(u["mean"], [[[0.7, 0.3]]])
  np.testing.assert_allclose(u["total"], [[h([0.7, 0.3])]])
  np.testing.assert_allclose(u["aleatoric"],
                             [[(h([0.9, 0.1]) + h([0.5, 0.5])) / 2]])
  np.testing.assert_allclose(u["mutual_info"],
                             u["total"] - u["aleatoric"])
  # Spread over indices of the probability of the predicted class (0).
  np.testing.assert_allclose(u["spread"], [[np.std([0.9, 0.5])]])


def test_class_probe_hand_values():
  # 2 seeds, K=1, 4 examples: labels 6, 9, 1, 2; 10 classes.
  labels = np.array([6, 9, 1, 2])
  probs = np.full((2, 1, 4, 10), 0.01)
  # Seed 0 predicts 6, 6 (a swap), 1, 2; seed 1 predicts 6, 9, 1, 3.
  for s, preds in enumerate(([6, 6, 1, 2], [6, 9, 1, 3])):
    for n, p in enumerate(preds):
      probs[s, 0, n, p] = 0.91
  out = train.class_probe(_logits_of(probs), labels, (6, 9))
  assert out["acc_in"] == [0.5, 1.0] and out["acc_out"] == [1.0, 0.5]
  assert out["swap_rate"] == [0.5, 0.0]
  # K = 1: no epistemic part.
  np.testing.assert_allclose(out["mutual_info_diff"], [0.0, 0.0], atol=1e-12)
  np.testing.assert_allclose(out["aleatoric_diff"], [0.0, 0.0], atol=1e-12)
  with pytest.raises(ValueError, match="both classes"):
    train.class_probe(_logits_of(probs), np.array([1, 2, 3, 4]), (6, 9))


def test_class_probe_mutual_information_on_the_probed_classes():
  # Two indices disagree on the 6/9 examples only: MI there, none elsewhere.
  labels = np.array([6, 9, 0, 1])
  probs = np.full((1, 2, 4, 10), 1e-3)
  for k in range(2):
    probs[0, k, 0, 6 if k == 0 else 9] = 0.991
    probs[0, k, 1, 9 if k == 0 else 6] = 0.991
    probs[0, k, 2, 0] = probs[0, k, 3, 1] = 0.991
  out = train.class_probe(_logits_of(probs), labels, (6, 9))
  assert out["mutual_info_in"][0] > 0.5 and out["mutual_info_out"][0] < 1e-9
  assert out["mutual_info_diff"][0] == pytest.approx(out["mutual_info_in"][0])
  assert out["spread_diff"][0] > 0.4


def _results(values):
  """A results dict: one axis 'ceiling' x one 'variant', one model."""
  cells = {}
  for (ceiling, variant), per_seed in values.items():
    st = {"seeds": list(range(len(per_seed))), "per_seed": {"ece": per_seed},
          "stop_reason": ["early_stopping"] * len(per_seed)}
    m, lo, hi = train.mean_ci(per_seed)
    st.update(mean={"ece": m}, ci95={"ece": [lo, hi]})
    cells[f"{variant}/{ceiling}"] = {
        "levels": {"variant": variant, "ceiling": ceiling},
        "models": {"epinet": st}, "train_seconds": 1.0}
  return {"axes": {"variant": ["plain", "c4"], "ceiling": ["1x", "2x"]},
          "seeds": [0, 1, 2, 3, 4], "cells": cells, "missing": []}


def test_convergence_check_and_select():
  base = [0.10, 0.11, 0.12, 0.11, 0.10]
  results = _results({("1x", "plain"): base,
                      ("2x", "plain"): [v + 0.001 for v in base],
                      ("1x", "c4"): base,
                      ("2x", "c4"): [v - 0.05 for v in base]})
  rows = train.convergence_check(results, "ceiling", "1x", "2x", ("ece",))
  inside = {r["variant"]: r["inside"] for r in rows}
  assert inside == {"plain": True, "c4": False}
  one = train.select(results, drop=("ceiling",), ceiling="1x")
  assert list(one["axes"]) == ["variant"]
  assert sorted(one["cells"]) == ["c4/1x", "plain/1x"]
  assert one["cells"]["c4/1x"]["levels"] == {"variant": "c4"}
  table = train.convergence_table(rows, ("variant",))
  assert "**no**" in table and table.count("\n") == 3


def test_passing_claims_follow_the_rule():
  rows = [{"task": "rot90", "variant": "c4", "metric": "ece", "mean": -0.02,
           "ci95": [-0.03, -0.01], "n": 5, "model": "epinet",
           "conclusion": train.conclusion([-0.03, -0.01], 5)},
          {"task": "upright", "variant": "c4", "metric": "ece", "mean": 0.01,
           "ci95": [-0.01, 0.03], "n": 5, "model": "epinet",
           "conclusion": train.conclusion([-0.01, 0.03], 5)}]
  claims = train.passing_claims(rows)
  assert claims == ["- rot90, c4: lowers ece by -0.0200 [-0.0300, -0.0100] "
                    "(n = 5 seeds)"]
