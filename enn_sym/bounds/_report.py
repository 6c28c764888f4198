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
