r"""The classification statements of Berman et al. 2025, one function each.

E. Berman, J. Ginesin, M. Pacini, R. Walters, "On uncertainty calibration for
equivariant functions", TMLR 2025 (arXiv:2510.21691). Numbers are the
paper's. Notation: :math:`h = (h_Y, h_P)` is a classifier with prediction
:math:`h_Y` and confidence :math:`h_P \in [0, 1]`; :math:`r` is the law of
:math:`h_P` (a density or a :class:`DiscreteDistribution`, see
:mod:`enn_sym.bounds._distributions`); the fibre :math:`F_p = h_P^{-1}(p)`
with mass :math:`q(F_p)`; :math:`\mathrm{Acc}_p` is the accuracy on
:math:`F_p`; :math:`P_2 = \{p: \mathrm{Acc}_p \ge 1/2\}`.

Dissents: :math:`k(O)` (Definition 3, :func:`enn_sym.bounds.total_dissent`)
and :math:`\kappa(O)` (Definition 5, :func:`enn_sym.bounds.minority_dissent`)
are UNNORMALISED (they carry the orbit's absolute mass). The fibre sums
:math:`\int_{\mathcal F_p} k_p` and :math:`\int_{\mathcal F_p} \kappa_p` use
the fibre-renormalised density :math:`q_p = q / q(F_p)`, i.e. they are
:math:`\sum_{O \subset F_p} k(O) / q(F_p)` on a finite set.

Where the reference sheet found the paper wrong (Proposition 2's subtracted
term), the corrected form is the default and the paper's form is a separate,
labelled function.
"""

from __future__ import annotations

import math


import numpy as np

from enn_sym._validation import InputError
from enn_sym.bounds import _distributions as dist
from enn_sym.bounds import _dissent


def _dissent_sum(dissent, name: str) -> float:
  if isinstance(dissent, _dissent.NumericDissent):
    raise InputError(
        f"{name}: pass NumericDissent.error_lower_bound() (Theorem 1) or the "
        "integral of its minority dissent, not the NumericDissent itself.")
  d = np.asarray(dissent, np.float64).reshape(-1)
  if d.size == 0 or not np.all(np.isfinite(d)) or d.min() < 0:
    raise InputError(
        f"{name} must be a non-empty array of finite non-negative orbit "
        "dissents (unnormalised masses, e.g. enn_sym.bounds.total_dissent); "
        f"got {d.size} values.")
  return float(d.sum())


def theorem1_error_lower_bound(dissent) -> float:
  r"""Theorem 1 (Wang et al. 2024, Thm 4.3): :math:`\mathrm{err}(h) \ge
  \int_F k(Gx)\,dx`.

  Assumptions: :math:`h` is :math:`G`-invariant (constant on orbits); the
  labels are deterministic, :math:`f(x)`. Finite form: the sum over the
  orbits of the UNNORMALISED total dissents :math:`k(O)` (Definition 3),
  for masses summing to 1. For a density use
  :meth:`enn_sym.bounds.NumericDissent.error_lower_bound`.

  Args:
    dissent: ``[O]`` :math:`k(O)` of every orbit
      (:func:`enn_sym.bounds.total_dissent`).
  """
  return _dissent_sum(dissent, "dissent")


def proposition3_error_upper_bound(minority_dissent) -> float:
  r"""Proposition 3: :math:`\mathrm{err}(h) \le \int_F \kappa(Gx)\,dx`.

  Equivalently the accuracy is at least :math:`1 - \int_F \kappa`.
  Assumptions: :math:`h` is :math:`G`-invariant and predicts one of the
  ``num_classes`` labels over which :math:`\kappa` was computed (Definition
  5: a label absent from an orbit has mass 0 there, so :math:`\kappa(O) =
  q(O)`; the paper's Note 1 says 0 there, which is wrong, see the sheet).

  Args:
    minority_dissent: ``[O]`` :math:`\kappa(O)`, unnormalised
      (:func:`enn_sym.bounds.minority_dissent`).
  """
  return min(1.0, _dissent_sum(minority_dissent, "minority_dissent"))


def least_nonzero_dissent(dissent, *, atol: float = 1e-12) -> float | None:
  r""":math:`k(Gx^\ast)` of Theorem 4: the smallest NON-ZERO unnormalised
  orbit dissent (``None`` if every orbit has zero dissent)."""
  d = np.asarray(dissent, np.float64).reshape(-1)
  nonzero = d[d > atol]
  return float(nonzero.min()) if nonzero.size else None


def proposition1_ece_upper_bound(confidence_density, *, breaks=()) -> float:
  r"""Proposition 1: :math:`\mathrm{ECE}(h) \le \frac12 + \int_0^1
  r(p)\,|\tfrac12 - p|\,dp`.

  Assumptions: none on :math:`h` (no invariance). Proof:
  :math:`|\mathrm{Acc}_p - p| \le \frac12 + |\frac12 - p|`. (Example 1's
  0.58 / 0.75, which the paper credits to Theorem 4, are this bound.)

  Args:
    confidence_density: :math:`r`, a density on ``[0, 1]`` or a
      :class:`DiscreteDistribution`.
    breaks: points where a density jumps (help the quadrature).
  """
  r = dist.check_density(confidence_density, breaks=breaks)
  return _prop1(r, breaks)


def _prop1(r, breaks) -> float:
  return 0.5 + dist.expect(r, lambda p: abs(0.5 - p), 0.0, 1.0,
                           tuple(breaks) + (0.5,))


def _p2_mass(r, accuracy, breaks) -> float:
  r""":math:`\int_{P_2} r`, with :math:`P_2 = \{p: \mathrm{Acc}_p \ge 1/2\}`
  (``accuracy=None``: :math:`P_2 = [0, 1]`)."""
  if accuracy is None:
    return 1.0
  if isinstance(r, dist.DiscreteDistribution):
    acc = dist.per_atom(accuracy, r, "accuracy")
    return float(np.sum(r.masses[acc >= 0.5]))
  if not callable(accuracy):
    raise InputError("accuracy must be a callable p -> Acc_p for a density r "
                     f"(or None); got {type(accuracy).__name__}.")
  return dist.expect(r, lambda p: 1.0 if accuracy(p) >= 0.5 else 0.0, 0.0,
                     1.0, breaks)


def theorem4_ece_upper_bound(confidence_density, k_star: float,
                             accuracy=None, *, breaks=()) -> float:
  r"""Theorem 4: :math:`\mathrm{ECE} \le \frac12 + \int r|\tfrac12 - p| -
  k(Gx^\ast) \int_{P_2} r(p)\,dp`.

  :math:`k(Gx^\ast)` is the smallest NON-ZERO UNNORMALISED total dissent of
  an orbit (:func:`least_nonzero_dissent`): Example 2 (orbits of mass 0.1,
  least dissent 0.05) gives :math:`1 - 0.05 = 0.95`, not the
  orbit-normalised :math:`1 - 0.5`.

  Assumptions: Assumption 2; :math:`h` is :math:`G`-invariant; on EVERY
  fibre the invariance is incorrect somewhere (each fibre holds an orbit of
  non-zero dissent). On finite sets the proof is exact; in the continuous
  case its step :math:`\int_{\mathcal F_p} k \ge k(Gx^\ast)` is heuristic
  (sheet, Theorem 4 ⚠).

  Args:
    confidence_density: :math:`r` (density or :class:`DiscreteDistribution`).
    k_star: :math:`k(Gx^\ast) \in [0, 1]`.
    accuracy: :math:`p \mapsto \mathrm{Acc}_p` (a callable, or for atoms an
      ``[A]`` array) defining :math:`P_2`; ``None`` assumes
      :math:`\mathrm{Acc}_p \ge \frac12` on every fibre (:math:`P_2 = [0,
      1]`).
    breaks: points where ``r`` or ``accuracy`` jump.
  """
  k = dist.check_fraction(k_star, "k_star",
                          "the least non-zero unnormalised orbit dissent")
  r = dist.check_density(confidence_density, breaks=breaks)
  return _prop1(r, breaks) - k * _p2_mass(r, accuracy, breaks)


def theorem4_intermediate_ece_upper_bound(confidence_density, fibre_dissent,
                                          accuracy=None, *, breaks=()
                                          ) -> float:
  r"""Theorem 4, the sharper form inside its proof: :math:`\mathrm{ECE} \le
  \frac12 + \int r|\tfrac12 - p| - \int_{P_2} r(p) \int_{\mathcal F_p}
  k_p(Gx)\,dx\,dp`.

  Assumptions: Assumption 2 and :math:`G`-invariance (no condition on the
  dissent: the proof applies Theorem 1 to each fibre under :math:`q_p`).

  Args:
    confidence_density: :math:`r`.
    fibre_dissent: :math:`p \mapsto \int_{\mathcal F_p} k_p`, the
      FIBRE-RENORMALISED dissent of the fibre (finite: :math:`\sum_{O
      \subset F_p} k(O) / q(F_p)`); a callable, or for atoms an ``[A]``
      array.
    accuracy: defines :math:`P_2` as in :func:`theorem4_ece_upper_bound`.
    breaks: points where the callables jump.
  """
  r = dist.check_density(confidence_density, breaks=breaks)
  if isinstance(r, dist.DiscreteDistribution):
    k = dist.per_atom(fibre_dissent, r, "fibre_dissent")
    in_p2 = (np.ones_like(k, bool) if accuracy is None else
             dist.per_atom(accuracy, r, "accuracy") >= 0.5)
    return _prop1(r, breaks) - float(np.sum(r.masses * k * in_p2))
  if not callable(fibre_dissent):
    raise InputError("fibre_dissent must be a callable for a density r; got "
                     f"{type(fibre_dissent).__name__}.")
  ind = (lambda p: 1.0) if accuracy is None else (
      lambda p: 1.0 if accuracy(p) >= 0.5 else 0.0)
  return _prop1(r, breaks) - dist.expect(
      r, lambda p: ind(p) * float(fibre_dissent(p)), 0.0, 1.0, breaks)


def corollary1_m(fibre_dissent) -> float:
  r""":math:`m = \min_p \int_{\mathcal F_p} k_p(Gx)\,dx` of Corollary 1 (a
  minimum over FIBRES of the fibre-renormalised dissent; zero allowed).

  Args:
    fibre_dissent: ``[F]`` the fibre-renormalised dissent of every fibre of
      positive mass.
  """
  d = np.asarray(fibre_dissent, np.float64).reshape(-1)
  if d.size == 0 or not np.all(np.isfinite(d)) or d.min() < 0:
    raise InputError("fibre_dissent must be a non-empty array of finite "
                     "non-negative fibre dissents.")
  return float(d.min())


def corollary1_ece_upper_bound(confidence_density, m: float, accuracy=None,
                               *, breaks=()) -> float:
  r"""Corollary 1: :math:`\mathrm{ECE} \le \frac12 + \int r|\tfrac12 - p| -
  m \int_{P_2} r`.

  Assumptions: as :func:`theorem4_intermediate_ece_upper_bound`; :math:`m`
  (:func:`corollary1_m`) is at most the fibre-renormalised dissent of every
  fibre in :math:`P_2`.

  Args:
    confidence_density: :math:`r`.
    m: :math:`m \in [0, 1]`.
    accuracy: defines :math:`P_2` as in :func:`theorem4_ece_upper_bound`.
    breaks: points where the callables jump.
  """
  m = dist.check_fraction(m, "m", "the least fibre-renormalised dissent")
  r = dist.check_density(confidence_density, breaks=breaks)
  return _prop1(r, breaks) - m * _p2_mass(r, accuracy, breaks)


def corollary2_ece_upper_bound(dissent: float) -> float:
  r"""Corollary 2 (binary): :math:`\mathrm{ECE} \le 1 - k(Gx^\ast)`, and
  :math:`\mathrm{ECE} \le 1 - m` with Corollary 1's :math:`m`.

  Pass :math:`k(Gx^\ast)` (UNNORMALISED least non-zero orbit dissent,
  Theorem 4's assumptions) or :math:`m` (:func:`corollary1_m`). Assumptions:
  :math:`|Y| = 2`, :math:`h` invariant, :math:`\mathrm{Acc}_p \ge \frac12`
  on every fibre (so :math:`\int_{P_2} r = 1`). Example 2: 0.95 from
  :math:`k^\ast = 0.05`; 0.9 (two fibres) and 0.7 (one fibre) from
  :math:`m`.
  """
  return 1.0 - dist.check_fraction(dissent, "dissent",
                                   "k(Gx*) or Corollary 1's m")


def _positive(value, name: str, hint: str) -> float:
  v = dist.check_fraction(value, name, hint, low=0.0, high=math.inf)
  if v <= 0:
    raise InputError(f"{name} must be > 0 ({hint}); got {v!r}.")
  return v


def proposition2_ece_upper_bound(k_star: float, p2_length: float,
                                 min_orbit_mass: float,
                                 inverse_gradient_bound: float,
                                 gradient_bound: float) -> float:
  r"""Proposition 2, CORRECTED: :math:`\mathrm{ECE} \le \frac12 +
  \frac{K_2}{4} - k(Gx^\ast)\,|P_2|\,q(Gx^\diamond) / K_1`.

  The paper subtracts :math:`k(Gx^\ast) K_2 |P_2| q(Gx^\diamond)`, which
  replaces :math:`r` by an UPPER bound inside a subtracted term (invalid;
  sheet ⚠ 6). The valid version bounds :math:`r` from below with
  :math:`|\nabla h_P| \le K_1`: :math:`r(p) \ge q(F_p)/K_1 \ge
  q(Gx^\diamond)/K_1`. The paper's form is
  :func:`proposition2_ece_upper_bound_paper`.

  Assumptions: Theorem 4's; :math:`h_P \in C^1` with :math:`\nabla h_P \ne
  0`, :math:`1/|\nabla h_P| \le K_2` pointwise (a lower Lipschitz constant
  of an invariant :math:`h_P` cannot exist, sheet ⚠ 6b) and
  :math:`|\nabla h_P| \le K_1`. The :math:`K_2/4` term beats Proposition 1
  only when :math:`K_2 < 2`.

  Args:
    k_star: :math:`k(Gx^\ast)`, unnormalised.
    p2_length: :math:`|P_2|`, the Lebesgue measure of :math:`P_2 \subset [0,
      1]`.
    min_orbit_mass: :math:`q(Gx^\diamond)`, the least orbit mass.
    inverse_gradient_bound: :math:`K_2`.
    gradient_bound: :math:`K_1` (e.g. a Lipschitz bound of :math:`h_P`,
      :func:`enn_sym.bounds.confidence_lipschitz_bound`).
  """
  k = dist.check_fraction(k_star, "k_star", "unnormalised dissent")
  length = dist.check_fraction(p2_length, "p2_length", "|P_2|")
  qmin = dist.check_fraction(min_orbit_mass, "min_orbit_mass",
                             "the least orbit mass")
  k2 = _positive(inverse_gradient_bound, "inverse_gradient_bound",
                 "K_2 >= 1/|grad h_P|")
  k1 = _positive(gradient_bound, "gradient_bound", "K_1 >= |grad h_P|")
  return 0.5 + k2 / 4 - k * length * qmin / k1


def proposition2_ece_upper_bound_paper(k_star: float, p2_length: float,
                                       min_orbit_mass: float,
                                       inverse_gradient_bound: float
                                       ) -> float:
  r"""Proposition 2 AS PUBLISHED (NOT a valid bound): :math:`\frac12 +
  \frac{K_2}{4} + \min\{0, -k(Gx^\ast) K_2 |P_2| q(Gx^\diamond)\}`.

  Kept only for comparison with the paper; its subtracted term uses an
  upper bound of :math:`r` (sheet ⚠ 6). Use
  :func:`proposition2_ece_upper_bound`.
  """
  k = dist.check_fraction(k_star, "k_star", "unnormalised dissent")
  length = dist.check_fraction(p2_length, "p2_length", "|P_2|")
  qmin = dist.check_fraction(min_orbit_mass, "min_orbit_mass",
                             "the least orbit mass")
  k2 = _positive(inverse_gradient_bound, "inverse_gradient_bound",
                 "K_2 >= 1/|grad h_P|")
  return 0.5 + k2 / 4 + min(0.0, -k * k2 * length * qmin)


def theorem5_m(fibre_minority_dissent) -> float:
  r""":math:`m = \min_p (1 - \int_{\mathcal F_p} \kappa_p)` of Theorem 5,
  the least per-fibre accuracy floor.

  Args:
    fibre_minority_dissent: ``[F]`` the fibre-renormalised minority dissent
      :math:`\sum_{O \subset F_p} \kappa(O) / q(F_p)` of every fibre.
  """
  d = np.asarray(fibre_minority_dissent, np.float64).reshape(-1)
  if d.size == 0 or not np.all(np.isfinite(d)) or d.min() < 0:
    raise InputError("fibre_minority_dissent must be a non-empty array of "
                     "finite non-negative fibre dissents.")
  return float(max(0.0, 1.0 - d.max()))


def theorem5_ece_lower_bound(confidence_density, m: float, *,
                             breaks=()) -> float:
  r"""Theorem 5: :math:`\mathrm{ECE} \ge \int_0^m r(p)(m - p)\,dp`.

  Finite form :math:`\sum_{p < m} r(p)(m - p)`. Assumptions: :math:`h` is
  :math:`G`-invariant (then :math:`\mathrm{Acc}_p \ge m` on every fibre by
  Proposition 3 under :math:`q_p`); it predicts one of the labels over
  which :math:`\kappa` was computed. Non-zero only if the model puts
  confidence mass below :math:`m`, e.g. Example 4 (12 classes, one orbit,
  one predicted class: :math:`m = 1/12`).

  Args:
    confidence_density: :math:`r`.
    m: :math:`m \in [0, 1]` (:func:`theorem5_m`).
    breaks: points where a density jumps.
  """
  m = dist.check_fraction(m, "m", "the least per-fibre accuracy floor")
  r = dist.check_density(confidence_density, breaks=breaks)
  return dist.expect(r, lambda p: m - p, 0.0, m, breaks, right_open=True)


def proposition4_m(minority_dissent, min_orbit_mass: float) -> float:
  r""":math:`m' = 1 - \int_F \kappa(Gx)\,dx \,/\, q(Gx^\ast)` of
  Proposition 4 (:math:`Gx^\ast` here is the orbit of LEAST MASS; the
  dissent is unnormalised). May be negative (then Proposition 4 is
  vacuous); :math:`m \ge m'`.

  Args:
    minority_dissent: ``[O]`` :math:`\kappa(O)`, unnormalised.
    min_orbit_mass: :math:`q(Gx^\ast) > 0`.
  """
  total = _dissent_sum(minority_dissent, "minority_dissent")
  qmin = _positive(min_orbit_mass, "min_orbit_mass", "the least orbit mass")
  return 1.0 - total / qmin


def proposition4_ece_lower_bound(confidence_density, m_prime: float, *,
                                 breaks=()) -> float:
  r"""Proposition 4: :math:`\mathrm{ECE} \ge \int_0^{m'} r(p)(m' - p)\,dp`,
  with :math:`m'` clamped at 0.

  The paper writes :math:`r` through eq. (5) (coarea, :math:`h_P \in C^1`,
  :math:`\nabla h_P \ne 0`); given :math:`r` directly, the bound is
  Theorem 5's with :math:`m' \le m`, valid under invariance.

  Args:
    confidence_density: :math:`r`.
    m_prime: :math:`m'` (:func:`proposition4_m`; any real number).
    breaks: points where a density jumps.
  """
  m = max(0.0, dist.check_fraction(m_prime, "m_prime", "Proposition 4's m'",
                                   low=-math.inf, high=1.0))
  r = dist.check_density(confidence_density, breaks=breaks)
  return dist.expect(r, lambda p: m - p, 0.0, m, breaks, right_open=True)


def proposition5_ece_lower_bound(min_orbit_mass: float, m_prime: float,
                                 lipschitz: float) -> float:
  r"""Proposition 5: :math:`\mathrm{ECE} \ge q(Gx^\ast)\,m'^2 / (2K)` for
  :math:`m' > 0` (else 0).

  Assumptions: Proposition 4's (invariant :math:`h`, :math:`h_P \in C^1`,
  :math:`\nabla h_P \ne 0`, so :math:`r(p) \ge q(Gx^\ast)/K` on
  :math:`[0, m']`) and :math:`h_P` :math:`K`-Lipschitz
  (:func:`enn_sym.bounds.confidence_lipschitz_bound`). Example 5:
  :math:`m' = 0.25`, :math:`q = 1`; the paper's own :math:`K = \sqrt{24}
  \cdot 25` gives :math:`2.55 \times 10^{-4}`, its constant 0.03 (not
  :math:`1/K`) gives 0.0009375.

  Args:
    min_orbit_mass: :math:`q(Gx^\ast)`, the least orbit mass.
    m_prime: :math:`m'` (:func:`proposition4_m`).
    lipschitz: :math:`K > 0`.
  """
  qmin = dist.check_fraction(min_orbit_mass, "min_orbit_mass",
                             "the least orbit mass")
  m = dist.check_fraction(m_prime, "m_prime", "Proposition 4's m'",
                          low=-math.inf, high=1.0)
  k = _positive(lipschitz, "lipschitz", "a Lipschitz constant of h_P")
  return qmin * m * m / (2 * k) if m > 0 else 0.0


def proposition6_deviation_probability(num_samples: int,
                                       epsilon: float) -> float:
  r"""Proposition 6 (App. C, Hoeffding): :math:`P(|\frac1n\sum_i CE(Z_i) -
  \mathrm{ECE}| > \varepsilon) \le 2 e^{-2 n \varepsilon^2}` (capped at 1).

  Assumption (sheet ⚠): the TRUE :math:`\mathrm{Acc}_p` is known at each of
  the :math:`n` i.i.d. samples; says nothing about the bias of the binned
  estimator.
  """
  n = _check_count(num_samples)
  eps = _positive(epsilon, "epsilon", "the deviation")
  return min(1.0, 2.0 * math.exp(-2.0 * n * eps * eps))


def proposition6_sample_size(epsilon: float, delta: float) -> int:
  r"""Proposition 6: the least :math:`n` with :math:`2e^{-2n\varepsilon^2}
  \le \delta`, :math:`\lceil \ln(2/\delta) / (2\varepsilon^2) \rceil`
  (18,445 for :math:`\varepsilon = 0.01`, :math:`\delta = 0.05`)."""
  eps = _positive(epsilon, "epsilon", "the deviation")
  d = dist.check_fraction(delta, "delta", "the failure probability")
  if d <= 0:
    raise InputError(f"delta must be > 0; got {delta!r}.")
  return int(math.ceil(math.log(2.0 / d) / (2.0 * eps * eps) - 1e-9))


def proposition6_half_width(num_samples: int, delta: float) -> float:
  r"""Proposition 6 solved for :math:`\varepsilon`: :math:`\sqrt{\ln(2/\delta)
  / (2n)}` (0.096 for :math:`n = 200`, :math:`\delta = 0.05`)."""
  n = _check_count(num_samples)
  d = dist.check_fraction(delta, "delta", "the failure probability")
  if d <= 0:
    raise InputError(f"delta must be > 0; got {delta!r}.")
  return math.sqrt(math.log(2.0 / d) / (2.0 * n))


def _check_count(n) -> int:
  if isinstance(n, (bool, np.bool_)) or not isinstance(
      n, (int, np.integer)) or n < 1:
    raise InputError(f"num_samples must be an integer >= 1; got {n!r}.")
  return int(n)


