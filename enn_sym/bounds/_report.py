"""Gaps between the bounds of :func:`finite_orbit_bounds` and the measured
values, and whether each bound says anything (is non-vacuous)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from enn_sym.bounds import _finite

ERROR_KEYS = {"thm1_error_lower": "lower", "prop3_error_upper": "upper"}


def bound_gaps(result: Mapping[str, Any], error: float | None = None
               ) -> dict[str, dict | None]:
  """Per bound: its ``value``, ``gap`` and ``non_vacuous``.

  ECE bounds (``*_ece_*``) are compared with ``result["ece"]``; error bounds
  (``thm1_error_lower``, ``prop3_error_upper``) with ``error``. ``gap`` is
  ``bound - measured`` for an upper bound and ``measured - bound`` for a
  lower one (so it is >= 0 when the bound holds, and small when it is
  tight); ``non_vacuous`` is ``upper < 1`` or ``lower > 0``. A bound that is
  ``None`` (not applicable) maps to ``None``.
  """
  out: dict[str, dict | None] = {}
  kinds = {**{k: "upper" for k in _finite.UPPER_ECE_KEYS},
           **{k: "lower" for k in _finite.LOWER_ECE_KEYS}}
  for key, kind in {**kinds, **ERROR_KEYS}.items():
    value = result.get(key)
    measured = error if key in ERROR_KEYS else result.get("ece")
    if value is None:
      out[key] = None
      continue
    gap = None
    if measured is not None:
      gap = float(value - measured) if kind == "upper" else float(
          measured - value)
    out[key] = {"value": float(value), "gap": gap,
                "non_vacuous": bool(value < 1.0 if kind == "upper"
                                    else value > 0.0)}
  return out


def summarize_gaps(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
  """Mean value and gap over runs (e.g. seeds) of :func:`bound_gaps` outputs,
  the fraction of runs where each bound applies and is non-vacuous."""
  keys = list(runs[0]) if runs else []
  out = {}
  for key in keys:
    rows = [r[key] for r in runs if r.get(key) is not None]
    gaps = [r["gap"] for r in rows if r["gap"] is not None]
    out[key] = {
        "applies": len(rows) / len(runs),
        "value_mean": float(np.mean([r["value"] for r in rows])) if rows
                      else None,
        "gap_mean": float(np.mean(gaps)) if gaps else None,
        "gap_min": float(np.min(gaps)) if gaps else None,
        "non_vacuous": (float(np.mean([r["non_vacuous"] for r in rows]))
                        if rows else None)}
  return out


def ensemble_readouts(logit_stack) -> dict[str, Any]:
  r"""Confidence read-outs of an ENN's logits ``[K, N, C]`` (no training).

  Returns ``pred [N]`` (argmax of the mean predictive), the confidences
  ``mean`` (its top probability, :math:`\ge 1/C`) and ``lower`` (the least
  member probability of that label, :math:`\min_k p_k(\hat y)`, a
  pessimistic epistemic confidence that can fall below :math:`1/C`), and the
  mutual information ``mi [N]``. Both confidences are invariant when every
  member is.
  """
  z = np.asarray(logit_stack, np.float64)
  z = z - z.max(-1, keepdims=True)
  logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
  p = np.exp(logp)
  mean = p.mean(0)
  pred = mean.argmax(-1)
  ent = lambda q: -np.sum(q * np.log(np.maximum(q, 1e-300)), -1)
  mi = np.maximum(ent(mean) - ent(p).mean(0), 0.0)
  idx = np.arange(mean.shape[0])
  return {"pred": pred, "mean": mean[idx, pred],
          "lower": p[:, idx, pred].min(0), "mi": mi}


def binned_ece(confidences, correct, num_bins: int) -> float:
  """Top-label ECE with ``(lo, hi]`` equal-width bins (eqs. 13-15; empty
  bins skipped), float64, for 1-D arrays of confidences and 0/1 hits."""
  c = np.asarray(confidences, np.float64)
  hit = np.asarray(correct, np.float64)
  b = np.clip(np.ceil(c * num_bins).astype(int) - 1, 0, num_bins - 1)
  n = np.bincount(b, minlength=num_bins)
  gap = np.abs(np.bincount(b, hit - c, num_bins))
  return float(gap.sum() / max(n.sum(), 1))


def calibrated_ece_null(confidences, num_bins: int, num_draws: int,
                        seed: int = 0) -> tuple[float, float]:
  """Mean and 95th percentile of the binned ECE of a CALIBRATED model with
  these confidences: labels drawn correct with probability = confidence.
  The estimator's noise floor at this sample size and bin count."""
  rng = np.random.default_rng(seed)
  c = np.asarray(confidences, np.float64)
  vals = [binned_ece(c, rng.uniform(size=c.shape) < c, num_bins)
          for _ in range(int(num_draws))]
  return float(np.mean(vals)), float(np.percentile(vals, 95))


def mean_bounds(results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
  """Seed means of the numeric keys of :func:`finite_orbit_bounds` results
  (``None`` if any seed is ``None``), with the first ``not_applicable``."""
  out = {}
  for key in _finite.KEYS:
    if key in ("fibres", "not_applicable"):
      continue
    vals = [r[key] for r in results]
    out[key] = None if any(v is None for v in vals) else float(np.mean(vals))
  out["not_applicable"] = dict(results[0]["not_applicable"])
  out["fibres"] = {k: results[0]["fibres"][k] for k in ("mode", "num_bins")}
  return out
