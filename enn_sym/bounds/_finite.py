r"""All classification bounds of Berman et al. 2025 on a finite orbit set.

:func:`finite_orbit_bounds` evaluates, for a finite evaluation set with known
orbits (the setting of the paper's Examples 2-4), every statement that needs
no density or Lipschitz constant, checks each statement's assumptions on the
given model, and returns ``None`` with a reason where one fails.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from enn_sym._validation import InputError
from enn_sym.bounds import _dissent

KEYS = ("thm1_error_lower", "prop3_error_upper", "prop1_ece_upper",
        "thm4_ece_upper", "cor1_ece_upper", "cor2_ece_upper",
        "thm5_ece_lower", "prop4_ece_lower", "ece", "k_star", "cor1_m",
        "thm5_m", "fibres", "not_applicable")
UPPER_ECE_KEYS = ("prop1_ece_upper", "thm4_ece_upper", "cor1_ece_upper",
                  "cor2_ece_upper")
LOWER_ECE_KEYS = ("thm5_ece_lower", "prop4_ece_lower")
_TOL = 1e-12


def _fibre_ids(conf: np.ndarray, fibres) -> tuple[np.ndarray, dict]:
  if isinstance(fibres, str):
    if fibres != "exact":
      raise InputError(f"fibres must be 'exact' or a positive integer number "
                       f"of confidence bins; got {fibres!r}.")
    values, ids = np.unique(conf, return_inverse=True)
    return ids.reshape(-1), {"mode": "exact", "num_bins": None,
                             "values": values}
  if isinstance(fibres, (bool, np.bool_)) or not isinstance(
      fibres, (int, np.integer)) or fibres < 1:
    raise InputError(f"fibres must be 'exact' or a positive integer number "
                     f"of confidence bins; got {fibres!r}.")
  m = int(fibres)
  # The bin rule of enn_sym.metrics.BinnedCalibration: the number of inner
  # float32 edges b / M at or below the confidence.
  edges = (np.arange(m + 1, dtype=np.float32) / np.float32(m)).astype(
      np.float64)
  ids = np.searchsorted(edges[1:m], conf, side="right")
  return ids, {"mode": "binned", "num_bins": m}


def _as_1d(x, name: str, n: int | None = None) -> np.ndarray:
  arr = np.asarray(x)
  if arr.ndim != 1 or (n is not None and arr.shape[0] != n):
    raise InputError(f"{name} must have shape [N]"
                     + (f" = ({n},)" if n is not None else "")
                     + f" (one entry per example); got shape {arr.shape}.")
  return arr


def _int_labels(x, name: str, n: int) -> np.ndarray:
  arr = _as_1d(x, name, n)
  if not np.issubdtype(arr.dtype, np.integer):
    raise InputError(f"{name} must be integer class ids; got dtype "
                     f"{arr.dtype} (use argmax(axis=-1) of one-hot or "
                     "probabilities).")
  if arr.size and arr.min() < 0:
    raise InputError(f"{name} must be >= 0; got {arr.min()}.")
  return arr.astype(np.int64)


def finite_orbit_bounds(labels, orbit_ids, confidences, predictions=None,
                        weights=None, num_classes=None,
                        fibres="exact") -> dict[str, Any]:
  r"""Berman et al. 2025's classification bounds on a finite orbit set.

  The set is a finite measure: example ``i`` has mass ``weights[i]`` (default
  uniform; normalised to sum 1), label ``labels[i]`` and orbit
  ``orbit_ids[i]``; it should hold every orbit member of positive mass
  (orbit-closed). The model gives the confidence :math:`h_P` and
  (optionally) the prediction :math:`h_Y` of every example.

  Fibres (``fibres``): ``"exact"`` groups examples of exactly equal
  confidence, the fibres :math:`F_p = h_P^{-1}(p)`, so ``ece`` is eq. (1) on
  the finite set; an integer ``M`` uses the ``M`` equal-width bins of
  :class:`enn_sym.metrics.BinnedCalibration` (edges ``float32(b / M)``,
  ``[lo, hi)``, the last closed) as fibres, each at its mean confidence, so
  ``ece`` is the library's binned ECE. An invariant model computed in
  floating point can give an orbit's members confidences that differ in
  the last bits; round them, or use bins, before ``"exact"``.

  Invariance is checked, not assumed: every orbit must lie in one fibre and
  (when ``predictions`` are given) carry one prediction. Without
  ``predictions`` the prediction's invariance is ASSUMED (it cannot be
  checked), and the bounds that need the fibre accuracy are ``None``.

  Returned keys (floats, or ``None`` with the reason in
  ``not_applicable[key]``):

  * ``thm1_error_lower`` (Theorem 1, Wang 4.3) :math:`\sum_O k(O)` and
    ``prop3_error_upper`` (Proposition 3) :math:`\sum_O \kappa(O)`: bounds
    on the error of the (invariant) model.
  * ``prop1_ece_upper`` (Proposition 1; any model):
    :math:`\frac12 + \sum_F r_F|\frac12 - p_F|`.
  * ``thm4_ece_upper`` (Theorem 4): Proposition 1 minus :math:`k^\ast
    \sum_{F \in P_2} r_F`; needs predictions and an orbit of non-zero
    dissent in every fibre.
  * ``cor1_ece_upper`` (Corollary 1): Proposition 1 minus ``cor1_m``
    :math:`\cdot \sum_{F \in P_2} r_F`; needs predictions.
  * ``cor2_ece_upper`` (Corollary 2, binary only): :math:`1 - k^\ast`; needs
    two classes, :math:`\mathrm{Acc}_F \ge \frac12` on every fibre and
    Theorem 4's dissent condition. (Its :math:`1 - m` form is implied by
    ``cor1_ece_upper``, which is at most ``1 - cor1_m`` in that case.)
  * ``thm5_ece_lower`` (Theorem 5): :math:`\sum_{p_F < m} r_F (m - p_F)`
    with ``thm5_m`` :math:`m = \min_F (1 - \sum_{O \subset F} \kappa(O) /
    r_F)`.
  * ``prop4_ece_lower`` (Proposition 4, its finite form with :math:`r`):
    the same with :math:`m' = \max(0, 1 - \sum_O \kappa(O) / \min_O q(O))`.
  * ``ece``: the measured :math:`\sum_F r_F |\mathrm{Acc}_F - p_F|` (needs
    predictions).
  * ``k_star``: :math:`k(Gx^\ast)`, the least NON-ZERO UNNORMALISED orbit
    dissent (Example 2: 0.05); ``cor1_m``: :math:`\min_F \sum_{O \subset F}
    k(O) / r_F`; ``thm5_m`` as above.
  * ``fibres``: ``mode`` (``"exact"``/``"binned"``), ``num_bins``, and per
    fibre of positive mass its ``confidence``, ``mass``, ``accuracy`` (or
    ``None``), ``dissent`` and ``minority_dissent`` (fibre-renormalised, or
    ``None`` when the model is not invariant); ``predictions_checked``.

  Dissents are over ``num_classes`` labels (a label absent from an orbit has
  mass 0 there). ``num_classes=None`` takes ``1 + max(labels,
  predictions)`` (at least 2): the bounds then hold for this model, whose
  predictions lie in that range.

  Args:
    labels: ``int [N]``.
    orbit_ids: ``int [N]``, equal ids = one orbit.
    confidences: ``[N]`` in ``[0, 1]``, the confidence in the predicted label.
    predictions: ``int [N]`` or ``None``.
    weights: ``[N]`` non-negative masses or ``None`` (uniform).
    num_classes: ``C`` or ``None``.
    fibres: ``"exact"`` or a number of bins ``M``.

  Returns:
    A dict with exactly the keys above.
  """
  conf = _as_1d(confidences, "confidences").astype(np.float64)
  n = conf.shape[0]
  if n == 0:
    raise InputError("confidences must hold at least one example; got 0.")
  if not np.all(np.isfinite(conf)) or conf.min() < 0 or conf.max() > 1:
    raise InputError(
        "confidences must be finite numbers in [0, 1] (the model's "
        f"probability of its predicted label); got values in "
        f"[{np.nanmin(conf):.3g}, {np.nanmax(conf):.3g}].")
  labels = _int_labels(labels, "labels", n)
  pred = None if predictions is None else _int_labels(predictions,
                                                      "predictions", n)
  _as_1d(orbit_ids, "orbit_ids", n)
  if num_classes is None:
    top = labels.max() if pred is None else max(labels.max(), pred.max())
    num_classes = max(2, int(top) + 1)
  num_classes = _dissent._check_num_classes(num_classes)  # pylint: disable=protected-access
  for arr, name in ((labels, "labels"), (pred, "predictions")):
    if arr is not None and arr.max() >= num_classes:
      raise InputError(f"{name} must lie in [0, {num_classes}) (num_classes ="
                       f" {num_classes}); got max {arr.max()}.")
  w = _dissent.check_weights(weights, n)
  w = w / w.sum()
  om = _dissent.orbit_masses(orbit_ids, labels, num_classes, w)
  orbit = om.orbit
  num_orbits = om.label_mass.shape[0]
  q_orbit = om.label_mass.sum(1)
  k_orbit = q_orbit - om.label_mass.max(1)
  kappa_orbit = q_orbit - om.label_mass.min(1)
  live = w > 0
  live_orbit = q_orbit > 0

  fid, info = _fibre_ids(conf, fibres)
  num_f = int(fid.max()) + 1
  r = np.bincount(fid, w, num_f)
  used = r > 0
  safe = np.where(used, r, 1.0)
  if info["mode"] == "exact":  # The fibre's confidence itself, not a mean.
    p_f = info.pop("values")
  else:
    p_f = np.bincount(fid, w * conf, num_f) / safe
  acc_f = None
  if pred is not None:
    correct = (pred == labels).astype(np.float64)
    acc_f = np.bincount(fid, w * correct, num_f) / safe

  na: dict[str, str] = {}
  out: dict[str, Any] = {k: None for k in KEYS}

  # Invariance: every orbit in one fibre, with one prediction (live members).
  def spread(values, fill_lo, fill_hi):
    hi = np.full(num_orbits, fill_lo)
    lo = np.full(num_orbits, fill_hi)
    np.maximum.at(hi, orbit[live], values[live])
    np.minimum.at(lo, orbit[live], values[live])
    return np.flatnonzero(live_orbit & (hi != lo))

  reasons = []
  split = spread(fid, -1, num_f + 1)
  if split.size:
    reasons.append(
        f"{split.size} orbit(s) span several confidence fibres (first: orbit "
        f"{int(split[0])}), so h_P is not invariant on the given orbits")
  if pred is not None:
    split = spread(pred, -1, num_classes + 1)
    if split.size:
      reasons.append(
          f"{split.size} orbit(s) carry several predictions (first: orbit "
          f"{int(split[0])}), so h_Y is not invariant on the given orbits")
  invariant = not reasons
  not_invariant = "; ".join(reasons)

  nonzero = k_orbit[live_orbit & (k_orbit > _TOL)]
  out["k_star"] = float(nonzero.min()) if nonzero.size else None
  if out["k_star"] is None:
    na["k_star"] = "no orbit has non-zero dissent (correct invariance)"

  prop1 = float(0.5 + np.sum(r[used] * np.abs(0.5 - p_f[used])))
  out["prop1_ece_upper"] = prop1
  if acc_f is not None:
    out["ece"] = float(np.sum(r[used] * np.abs(acc_f[used] - p_f[used])))
  else:
    na["ece"] = "predictions not given"

  fibre_k = fibre_kappa = None
  if invariant:
    first = np.full(num_orbits, -1)
    idx = np.flatnonzero(live)
    first[orbit[idx[::-1]]] = idx[::-1]
    of = fid[first[live_orbit]]  # The fibre of every live orbit.
    fibre_k = np.bincount(of, k_orbit[live_orbit], num_f) / safe
    fibre_kappa = np.bincount(of, kappa_orbit[live_orbit], num_f) / safe
    out["thm1_error_lower"] = float(k_orbit.sum())
    out["prop3_error_upper"] = float(min(1.0, kappa_orbit.sum()))
    m1 = float(fibre_k[used].min())
    out["cor1_m"] = m1
    m5 = float(max(0.0, 1.0 - fibre_kappa[used].max()))
    out["thm5_m"] = m5
    out["thm5_ece_lower"] = float(np.sum(
        r[used] * np.maximum(m5 - p_f[used], 0.0)))
    mp = max(0.0, 1.0 - kappa_orbit.sum() / q_orbit[live_orbit].min())
    out["prop4_ece_lower"] = float(np.sum(
        r[used] * np.maximum(mp - p_f[used], 0.0)))
    every_fibre_dissents = bool(np.all(fibre_k[used] > _TOL))
    if acc_f is not None:
      p2 = float(np.sum(r[used & (acc_f >= 0.5)]))
      out["cor1_ece_upper"] = prop1 - m1 * p2
      if out["k_star"] is None or not every_fibre_dissents:
        na["thm4_ece_upper"] = (
            "Theorem 4 needs incorrect invariance on every fibre: a fibre "
            "holds only orbits of zero dissent")
      else:
        out["thm4_ece_upper"] = prop1 - out["k_star"] * p2
      if num_classes != 2:
        na["cor2_ece_upper"] = (f"Corollary 2 is for binary tasks; "
                                f"num_classes = {num_classes}")
      elif np.any(acc_f[used] < 0.5):
        na["cor2_ece_upper"] = ("Corollary 2 assumes Acc_p >= 1/2 on every "
                                "fibre; a fibre has lower accuracy")
      elif "thm4_ece_upper" in na:
        na["cor2_ece_upper"] = na["thm4_ece_upper"]
      else:
        out["cor2_ece_upper"] = 1.0 - out["k_star"]
    else:
      for key in ("thm4_ece_upper", "cor1_ece_upper", "cor2_ece_upper"):
        na[key] = "predictions not given (needed for P_2 = {p: Acc_p >= 1/2})"
  else:
    for key in ("thm1_error_lower", "prop3_error_upper", "thm4_ece_upper",
                "cor1_ece_upper", "cor2_ece_upper", "thm5_ece_lower",
                "prop4_ece_lower", "cor1_m", "thm5_m"):
      na[key] = not_invariant

  out["fibres"] = {
      **info, "count": int(used.sum()),
      "confidence": p_f[used].tolist(), "mass": r[used].tolist(),
      "accuracy": None if acc_f is None else acc_f[used].tolist(),
      "dissent": None if fibre_k is None else fibre_k[used].tolist(),
      "minority_dissent": (None if fibre_kappa is None
                           else fibre_kappa[used].tolist()),
      "predictions_checked": pred is not None}
  out["not_applicable"] = na
  return out
