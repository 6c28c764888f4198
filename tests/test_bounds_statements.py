"""Berman et al. 2025: Examples 1-5 to the reference sheet's digits, each
statement by hand, and the finite-set bounds by property and against a
direct loop-based reference."""

import itertools
import math

import hypothesis
from hypothesis import strategies as st
import numpy as np
import pytest
from scipy import stats

from enn_sym import bounds
from enn_sym._validation import InputError


def truncnorm_density(mu, sigma=0.1):
  dist = stats.truncnorm((0 - mu) / sigma, (1 - mu) / sigma, loc=mu,
                         scale=sigma)
  return lambda p: float(dist.pdf(p))


# --- Example 1 -------------------------------------------------------------


@pytest.mark.parametrize("mu,unconstrained,invariant", [
    (0.5, 0.57979, 0.32979), (0.25, 0.74864, 0.49864),
    (0.75, 0.74864, 0.49864)])
def test_example1(mu, unconstrained, invariant):
  r = truncnorm_density(mu)
  # The paper's ~0.58 / ~0.75 are Proposition 1 (Theorem 4 with k = 0).
  assert bounds.proposition1_ece_upper_bound(r) == pytest.approx(
      unconstrained, abs=5e-6)
  # Fig. 1's boundary (0.75, 0) -> (0.5, 1): k(Gx*) = 0.25 (bottom edge);
  # binary, so P_2 = [0, 1].
  assert bounds.theorem4_ece_upper_bound(r, 0.25) == pytest.approx(
      invariant, abs=5e-6)
  assert bounds.theorem4_ece_upper_bound(r, 0.0) == pytest.approx(
      unconstrained, abs=5e-6)


def test_example1_dissent_by_quadrature():
  # Unit square, x-translation orbits = horizontal segments; label 0 left of
  # b(y) = 0.75 - 0.25 y. int_0^1 min(b, 1 - b) dy = 0.375; the least
  # dissent is the bottom edge's 0.25.
  xs, xw = bounds.midpoint_rule(0.0, 1.0, 4000)

  def orbit(y):
    return np.stack([xs, np.full_like(xs, y)], 1), xw

  label = lambda pts: (pts[:, 0] >= 0.75 - 0.25 * pts[:, 1]).astype(int)
  nodes, w = bounds.midpoint_rule(0.0, 1.0, 200)
  out = bounds.numeric_dissent(lambda p: np.ones(len(p)), label, orbit,
                               nodes, w, 2)
  assert bounds.theorem1_error_lower_bound(out.total * w) == pytest.approx(
      0.375, abs=1e-3)
  assert out.error_lower_bound() == pytest.approx(0.375, abs=1e-3)
  assert out.total.min() == pytest.approx(0.25, abs=2e-3)


# --- Examples 2 and 3 ------------------------------------------------------


def example2(p1=0.8, p2=0.6):
  """20 points, 10 C_2 orbits of 2. Right half (orbits 0-4): one mixed orbit;
  left half (5-9): every orbit mixed. 14 of label 0, 6 of label 1."""
  labels, orbits, conf = [], [], []
  for o in range(10):
    labels += [0, 1] if (o == 0 or o >= 5) else [0, 0]
    orbits += [o, o]
    conf += [p1, p1] if o < 5 else [p2, p2]
  return np.array(labels), np.array(orbits), np.array(conf)


def test_example2_two_fibres():
  labels, orbits, conf = example2()
  pred = bounds.orbit_majority_classifier(orbits, labels, 2)
  b = bounds.finite_orbit_bounds(labels, orbits, conf, pred)
  assert set(b) == {
      "thm1_error_lower", "prop3_error_upper", "prop1_ece_upper",
      "thm4_ece_upper", "cor1_ece_upper", "cor2_ece_upper", "thm5_ece_lower",
      "prop4_ece_lower", "ece", "k_star", "cor1_m", "thm5_m", "fibres",
      "not_applicable"}
  assert b["not_applicable"] == {}
  # k(Gx*) is UNNORMALISED: 0.05 (one point of mass 1/20), so Cor. 2 gives
  # 0.95; the orbit-normalised 0.5 would give 0.5.
  assert b["k_star"] == pytest.approx(0.05)
  assert b["cor2_ece_upper"] == pytest.approx(0.95)
  # m = min(0.05 / 0.5, 0.25 / 0.5) = 0.1: Cor. 2's 1 - m = 0.9.
  assert b["cor1_m"] == pytest.approx(0.1)
  assert bounds.corollary2_ece_upper_bound(b["cor1_m"]) == pytest.approx(0.9)
  # Dissents: sum k = 6 * 0.05 = 0.3; sum kappa = 4 * 0.1 + 6 * 0.05 = 0.7.
  assert b["thm1_error_lower"] == pytest.approx(0.3)
  assert b["prop3_error_upper"] == pytest.approx(0.7)
  # Thm 5 floors: right 1 - 0.45 / 0.5 = 0.1, left 1 - 0.25 / 0.5 = 0.5.
  assert b["thm5_m"] == pytest.approx(0.1)
  np.testing.assert_allclose(b["fibres"]["minority_dissent"], [0.5, 0.9])
  np.testing.assert_allclose(b["fibres"]["confidence"], [0.6, 0.8])
  # Prop. 1: 1/2 + 0.5 * 0.1 + 0.5 * 0.3 = 0.7; Thm 4: 0.7 - 0.05 = 0.65;
  # Cor. 1: 0.7 - 0.1 = 0.6. ECE = 0.5 * |0.5 - 0.6| + 0.5 * |0.9 - 0.8|.
  assert b["prop1_ece_upper"] == pytest.approx(0.7)
  assert b["thm4_ece_upper"] == pytest.approx(0.65)
  assert b["cor1_ece_upper"] == pytest.approx(0.6)
  assert b["ece"] == pytest.approx(0.1)
  # Prop. 4: m' = 1 - 0.7 / 0.1 = -6 (vacuous).
  assert bounds.proposition4_m(
      bounds.minority_dissent(orbits, labels, 2), 0.1) == pytest.approx(-6)
  assert b["prop4_ece_lower"] == 0.0
  # The sharper intermediate form of Thm 4 with the fibre dissents (0.5 on
  # the left, 0.1 on the right): 0.7 - 0.5 * 0.5 - 0.5 * 0.1 = 0.4.
  r = bounds.discrete_distribution(b["fibres"]["confidence"],
                                   b["fibres"]["mass"])
  assert bounds.theorem4_intermediate_ece_upper_bound(
      r, b["fibres"]["dissent"], b["fibres"]["accuracy"]) == pytest.approx(0.4)


def test_example2_one_fibre_and_example3():
  labels, orbits, conf = example2(0.7, 0.7)
  pred = bounds.orbit_majority_classifier(orbits, labels, 2)
  b = bounds.finite_orbit_bounds(labels, orbits, conf, pred)
  # One fibre: dissent 0.5 * (0.1 + 0.5) = 0.3 -> 1 - m = 0.7 (tighter).
  assert b["cor1_m"] == pytest.approx(0.3)
  assert bounds.corollary2_ece_upper_bound(b["cor1_m"]) == pytest.approx(0.7)
  assert b["thm5_m"] == pytest.approx(0.3)
  assert b["cor2_ece_upper"] == pytest.approx(0.95)
  # Example 3: SO(2), one orbit of all 20 points; majority (label 0, 14/20)
  # leaves error 0.3, so ECE <= 0.7.
  one = np.zeros(20, int)
  b3 = bounds.finite_orbit_bounds(labels, one, conf, np.zeros(20, int))
  assert b3["thm1_error_lower"] == pytest.approx(0.3)
  assert b3["k_star"] == pytest.approx(0.3)
  assert b3["cor2_ece_upper"] == pytest.approx(0.7)
  assert b3["cor1_m"] == pytest.approx(0.3)


# --- Example 4 -------------------------------------------------------------


@pytest.mark.parametrize("p0", [0.0, 0.05, 0.5, 1.0])
def test_example4_accuracy_floor_one_twelfth(p0):
  # 12 classes, one rotation orbit of 12 points, label = point; the model
  # predicts class 0 everywhere: kappa = 11/12 -> accuracy floor 1/12 (the
  # paper's "error 1/12" is this accuracy floor).
  labels = np.arange(12)
  orbits = np.zeros(12, int)
  b = bounds.finite_orbit_bounds(labels, orbits, np.full(12, p0),
                                 np.zeros(12, int), num_classes=12)
  assert b["prop3_error_upper"] == pytest.approx(11 / 12)
  assert b["thm5_m"] == pytest.approx(1 / 12)
  assert b["thm5_ece_lower"] == pytest.approx(max(0.0, 1 / 12 - p0))
  assert b["ece"] == pytest.approx(abs(1 / 12 - p0))
  assert b["cor2_ece_upper"] is None
  assert "binary" in b["not_applicable"]["cor2_ece_upper"]
  # One orbit of least mass 1: Prop. 4's m' = 1 - 11/12 = m.
  assert b["prop4_ece_lower"] == pytest.approx(b["thm5_ece_lower"])
  r = bounds.discrete_distribution([p0])
  assert bounds.theorem5_ece_lower_bound(r, 1 / 12) == pytest.approx(
      max(0.0, 1 / 12 - p0))


# --- Example 5 -------------------------------------------------------------


def test_example5_deepsets_lipschitz_and_proposition5():
  # W = tanh(l1) I + tanh(l2) 11^T and readout tanh(l3) 1^T, |tanh| <= 1:
  # K = sigma(1^T) (1 + sigma(11^T)) = sqrt(n) (1 + n).
  one = np.ones((1, 1))
  for n, k_ref in ((24, math.sqrt(24) * 25), (4, 10.0)):
    for method in ("power", "svd"):
      k = bounds.deepsets_lipschitz_bound([(one, one)], one, n, method=method)
      assert k == pytest.approx(k_ref, rel=1e-9)
  assert math.sqrt(24) * 25 == pytest.approx(122.47, abs=5e-3)
  # kappa = max(0.75, 0.25) over the single orbit of mass 1: m' = 0.25.
  m = bounds.proposition4_m([0.75], 1.0)
  assert m == pytest.approx(0.25)
  k24 = math.sqrt(24) * 25
  assert bounds.proposition5_ece_lower_bound(1.0, m, k24) == pytest.approx(
      2.55e-4, abs=5e-7)
  # The paper's constant 0.03 in place of 1/K: 0.0009375 (it writes 0.001).
  assert bounds.proposition5_ece_lower_bound(1.0, m, 1 / 0.03) == (
      pytest.approx(0.0009375))
  assert bounds.proposition5_ece_lower_bound(1.0, m, 10.0) == pytest.approx(
      0.003125)
  assert bounds.proposition5_ece_lower_bound(1.0, -0.5, 10.0) == 0.0
  # Prop. 5 = Prop. 4 with r = q / K on [0, m'].
  k = 10.0
  assert bounds.proposition4_ece_lower_bound(
      lambda p: 1.0 / k if p <= m else (1 - m / k) / (1 - m), m,
      breaks=(m,)) == pytest.approx(1.0 * m * m / (2 * k))


# --- Propositions 2, 6 and the continuous forms ----------------------------


def test_proposition2_corrected_and_paper_forms():
  # k* = 0.2, |P2| = 0.5, q_min = 0.1, K2 = 1, K1 = 4.
  assert bounds.proposition2_ece_upper_bound(
      0.2, 0.5, 0.1, 1.0, 4.0) == pytest.approx(0.5 + 0.25 - 0.01 / 4)
  assert bounds.proposition2_ece_upper_bound_paper(
      0.2, 0.5, 0.1, 1.0) == pytest.approx(0.5 + 0.25 - 0.01)
  # k* = 0 or |P2| = 0: Prop. 1 with sup r <= K2, i.e. 1/2 + K2 / 4.
  assert bounds.proposition2_ece_upper_bound(
      0.0, 0.5, 0.1, 2.0, 1.0) == pytest.approx(1.0)


def test_proposition6():
  assert bounds.proposition6_sample_size(0.01, 0.05) == 18445
  assert bounds.proposition6_half_width(200, 0.05) == pytest.approx(
      math.sqrt(math.log(40) / 400))
  assert bounds.proposition6_half_width(200, 0.05) == pytest.approx(
      0.096, abs=5e-4)
  n = bounds.proposition6_sample_size(0.05, 0.1)
  assert bounds.proposition6_deviation_probability(n, 0.05) <= 0.1
  assert bounds.proposition6_deviation_probability(n - 1, 0.05) > 0.1


def test_continuous_statements_by_hand():
  r = lambda p: 2.0 if p >= 0.5 else 0.0  # Uniform on [1/2, 1].
  assert bounds.proposition1_ece_upper_bound(r, breaks=(0.5,)) == (
      pytest.approx(0.75))
  acc = lambda p: 1.0 if p >= 0.75 else 0.0  # P_2 = [3/4, 1], mass 1/2.
  assert bounds.theorem4_ece_upper_bound(r, 0.2, acc, breaks=(
      0.5, 0.75)) == pytest.approx(0.65)
  assert bounds.corollary1_ece_upper_bound(r, 0.2, breaks=(0.5,)) == (
      pytest.approx(0.55))
  assert bounds.theorem4_intermediate_ece_upper_bound(
      r, lambda p: 0.4 * p, breaks=(0.5,)) == pytest.approx(0.75 - 0.4 * 0.75)
  assert bounds.theorem5_ece_lower_bound(lambda p: 1.0, 0.5) == (
      pytest.approx(1 / 8))
  assert bounds.theorem5_ece_lower_bound(r, 0.75, breaks=(0.5,)) == (
      pytest.approx(1 / 16))
  assert bounds.proposition4_ece_lower_bound(lambda p: 1.0, -3.0) == 0.0


def test_statements_reject_bad_input():
  with pytest.raises(InputError, match="integrates"):
    bounds.proposition1_ece_upper_bound(lambda p: 2.0)
  with pytest.raises(InputError, match="k_star"):
    bounds.theorem4_ece_upper_bound(lambda p: 1.0, 1.5)
  with pytest.raises(InputError, match="dissent"):
    bounds.corollary2_ece_upper_bound("0.3")
  with pytest.raises(InputError, match="gradient_bound"):
    bounds.proposition2_ece_upper_bound(0.1, 0.5, 0.1, 1.0, 0.0)
  with pytest.raises(InputError, match="min_orbit_mass"):
    bounds.proposition4_m([0.5], 0.0)
  with pytest.raises(InputError, match="atoms"):
    bounds.discrete_distribution([0.5, 1.5])
  with pytest.raises(InputError, match="accuracy"):
    bounds.theorem4_ece_upper_bound(bounds.discrete_distribution([0.5, 0.7]),
                                    0.1, [1.0])
  nan_between = lambda p: float("nan") if 0.001 < p < 0.004 else 1.0
  with pytest.raises(InputError, match="not finite"):
    bounds.theorem5_ece_lower_bound(nan_between, 0.5)
  with pytest.raises(InputError, match="epsilon"):
    bounds.proposition6_sample_size(0.0, 0.05)


def test_finite_orbit_bounds_rejects_bad_input():
  labels, orbits, conf = example2()
  with pytest.raises(InputError, match="confidences must be finite"):
    bounds.finite_orbit_bounds(labels, orbits, conf + 0.5)
  with pytest.raises(InputError, match="fibres"):
    bounds.finite_orbit_bounds(labels, orbits, conf, fibres="bins")
  with pytest.raises(InputError, match="fibres"):
    bounds.finite_orbit_bounds(labels, orbits, conf, fibres=0)
  with pytest.raises(InputError, match="orbit_ids must have shape"):
    bounds.finite_orbit_bounds(labels, orbits[:3], conf)
  with pytest.raises(InputError, match="predictions must lie"):
    bounds.finite_orbit_bounds(labels, orbits, conf, labels + 1,
                               num_classes=2)
  with pytest.raises(InputError, match="predictions must be integer"):
    bounds.finite_orbit_bounds(labels, orbits, conf, conf)
  with pytest.raises(InputError, match="weights"):
    bounds.finite_orbit_bounds(labels, orbits, conf, weights=-np.ones(20))


# --- Checks that can fail --------------------------------------------------


def test_non_invariant_model_violates_invariant_only_bounds():
  labels, orbits, _ = example2()
  # Predicts every point's own label with confidence 0: not invariant
  # (mixed orbits carry two predictions). Its error 0 is below Theorem 1's
  # floor 0.3, and its ECE 1 above Theorem 4's 0.95 for its own r.
  conf = np.zeros(20)
  b = bounds.finite_orbit_bounds(labels, orbits, conf, labels)
  assert b["ece"] == pytest.approx(1.0)
  k = bounds.total_dissent(orbits, labels, 2)
  floor = bounds.theorem1_error_lower_bound(k)
  assert floor == pytest.approx(0.3) and 0.0 < floor
  r = bounds.discrete_distribution([0.0])
  thm4 = bounds.theorem4_ece_upper_bound(r, bounds.least_nonzero_dissent(k))
  assert thm4 == pytest.approx(0.95) and b["ece"] > thm4
  # finite_orbit_bounds does not claim them: None, with the reason.
  for key in ("thm1_error_lower", "thm4_ece_upper", "cor2_ece_upper",
              "thm5_ece_lower"):
    assert b[key] is None
    assert "several predictions" in b["not_applicable"][key]
  assert b["prop1_ece_upper"] >= b["ece"] - 1e-12  # No invariance needed.
  # Theorem 5 on Example 4's orbit: a non-invariant model predicting a wrong
  # label everywhere with confidence 0 has ECE 0 < m = 1/12.
  lab12 = np.arange(12)
  b12 = bounds.finite_orbit_bounds(lab12, np.zeros(12, int), np.zeros(12),
                                   (lab12 + 1) % 12)
  assert b12["ece"] == 0.0 and b12["thm5_ece_lower"] is None
  assert bounds.theorem5_ece_lower_bound(r, 1 / 12) > b12["ece"]


def test_a_confidence_split_across_fibres_is_not_invariant():
  labels, orbits, conf = example2()
  conf = conf.copy()
  conf[1] = 0.85
  b = bounds.finite_orbit_bounds(labels, orbits, conf, labels * 0)
  assert b["thm5_ece_lower"] is None
  assert "span several confidence fibres" in b["not_applicable"][
      "thm5_ece_lower"]
  # With 4 bins 0.8 and 0.85 are in one bin: invariant there.
  assert bounds.finite_orbit_bounds(labels, orbits, conf, labels * 0,
                                    fibres=4)["not_applicable"] == {}


def test_orbit_normalised_k_star_is_not_a_bound():
  # Example 2 with the majority prediction and confidence 0 on every point:
  # invariant, Acc >= 1/2 on every fibre, ECE = 0.5 * 0.9 + 0.5 * 0.5 = 0.7.
  labels, orbits, _ = example2()
  pred = bounds.orbit_majority_classifier(orbits, labels, 2)
  b = bounds.finite_orbit_bounds(labels, orbits, np.zeros(20), pred)
  assert b["ece"] == pytest.approx(0.7)
  k_norm = bounds.total_dissent(orbits, labels, 2, normalize=True)
  old = 1.0 - bounds.least_nonzero_dissent(k_norm)  # The old 1 - k*: 0.5.
  assert old == pytest.approx(0.5) and b["ece"] > old
  assert b["ece"] <= b["cor2_ece_upper"] == pytest.approx(0.95)


def test_theorem4_needs_incorrect_invariance_on_every_fibre():
  labels, orbits, conf = example2()
  conf = np.where(orbits == 1, 0.9, conf)  # Orbit 1 (pure) alone in a fibre.
  pred = bounds.orbit_majority_classifier(orbits, labels, 2)
  b = bounds.finite_orbit_bounds(labels, orbits, conf, pred)
  assert b["thm4_ece_upper"] is None and b["cor2_ece_upper"] is None
  assert "every fibre" in b["not_applicable"]["thm4_ece_upper"]
  assert b["cor1_m"] == 0.0 and b["cor1_ece_upper"] == pytest.approx(
      b["prop1_ece_upper"])
  b0 = bounds.finite_orbit_bounds(labels, orbits, conf)  # No predictions.
  assert b0["ece"] is None and b0["cor1_ece_upper"] is None
  assert b0["thm5_ece_lower"] is not None


# --- Property tests and a loop-based reference -----------------------------


def reference_bounds(labels, orbits, conf, pred, w, c):
  """A direct, loop-by-loop version of finite_orbit_bounds (exact fibres)."""
  w = w / w.sum()
  fib = {}
  for i in range(len(labels)):
    if w[i] > 0:
      fib.setdefault(conf[i], []).append(i)
  orb = {}
  for i in range(len(labels)):
    orb.setdefault(orbits[i], []).append(i)

  def k_and_kappa(o):
    mass = [sum(w[i] for i in orb[o] if labels[i] == y) for y in range(c)]
    q = sum(mass)
    return q - max(mass), q - min(mass), q

  ece = prop1 = p2 = 0.0
  m1, m5 = math.inf, math.inf
  for p, idx in fib.items():
    rf = sum(w[i] for i in idx)
    acc = sum(w[i] for i in idx if pred[i] == labels[i]) / rf
    ece += rf * abs(acc - p)
    prop1 += rf * abs(0.5 - p)
    p2 += rf if acc >= 0.5 else 0.0
    members = {orbits[i] for i in idx}
    m1 = min(m1, sum(k_and_kappa(o)[0] for o in members) / rf)
    m5 = min(m5, 1 - sum(k_and_kappa(o)[1] for o in members) / rf)
  m5 = max(m5, 0.0)
  ks = [k_and_kappa(o) for o in orb]
  lower5 = sum(sum(w[i] for i in idx) * max(m5 - p, 0)
               for p, idx in fib.items())
  return {"ece": ece, "prop1_ece_upper": 0.5 + prop1,
          "cor1_ece_upper": 0.5 + prop1 - m1 * p2, "cor1_m": m1,
          "thm5_m": m5, "thm5_ece_lower": lower5,
          "thm1_error_lower": sum(k for k, _, _ in ks),
          "prop3_error_upper": min(1.0, sum(kk for _, kk, _ in ks))}


@st.composite
def invariant_problems(draw):
  num_orbits = draw(st.integers(1, 6))
  c = draw(st.integers(2, 4))
  sizes = draw(st.lists(st.integers(1, 4), min_size=num_orbits,
                        max_size=num_orbits))
  orbits = np.repeat(np.arange(num_orbits), sizes)
  n = len(orbits)
  labels = np.array(draw(st.lists(st.integers(0, c - 1), min_size=n,
                                  max_size=n)))
  # Few confidence levels, so fibres often hold several orbits.
  levels = draw(st.lists(st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.55, 0.9,
                                          1.0]), min_size=num_orbits,
                         max_size=num_orbits))
  conf = np.array(levels)[orbits]
  pred = np.array(draw(st.lists(st.integers(0, c - 1), min_size=num_orbits,
                                max_size=num_orbits)))[orbits]
  w = np.array(draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 3.0]),
                             min_size=n, max_size=n)))
  hypothesis.assume(w.sum() > 0)
  perm = np.array(draw(st.permutations(range(n))))
  return labels[perm], 5 * orbits[perm] + 2, conf[perm], pred[perm], w[perm], c


@hypothesis.settings(max_examples=150, deadline=None)
@hypothesis.given(invariant_problems(), st.sampled_from(["exact", 1, 3, 10]))
def test_every_bound_brackets_the_ece_of_random_invariant_models(problem,
                                                                 fibres):
  labels, orbits, conf, pred, w, c = problem
  b = bounds.finite_orbit_bounds(labels, orbits, conf, pred, w, c, fibres)
  assert not any("invariant" in v for v in b["not_applicable"].values())
  ece, err = b["ece"], float(np.sum(w * (pred != labels)) / w.sum())
  for key in ("prop1_ece_upper", "thm4_ece_upper", "cor1_ece_upper",
              "cor2_ece_upper"):
    if b[key] is not None:
      assert ece <= b[key] + 1e-9, key
    else:
      assert key in b["not_applicable"]
  for key in ("thm5_ece_lower", "prop4_ece_lower"):
    assert b[key] <= ece + 1e-9, key
  assert b["thm1_error_lower"] - 1e-9 <= err <= b["prop3_error_upper"] + 1e-9
  assert b["prop4_ece_lower"] <= b["thm5_ece_lower"] + 1e-12
  if b["thm4_ece_upper"] is not None:
    assert b["cor1_ece_upper"] <= b["thm4_ece_upper"] + 1e-9
  if fibres == "exact":
    ref = reference_bounds(labels, orbits, conf, pred, w, c)
    for key, value in ref.items():
      assert b[key] == pytest.approx(value, abs=1e-9), key


def test_binned_ece_agrees_with_the_library_metric():
  from enn_sym import metrics  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  n, c = 24, 3
  for _ in range(20):
    orbits = rng.integers(0, 8, n)
    labels = rng.integers(0, c, n)
    top = rng.uniform(0.34, 1.0, 8)[orbits]
    pred = rng.integers(0, c, 8)[orbits]
    probs = np.tile(((1 - top) / (c - 1))[:, None], (1, c))
    probs[np.arange(n), pred] = top
    b = bounds.finite_orbit_bounds(labels, orbits, top, pred, None, c, 15)
    ece = float(metrics.expected_calibration_error(
        probs.astype(np.float32), labels, 15))
    assert b["ece"] == pytest.approx(ece, abs=1e-5)
    # Invariant on its bins: the invariant bounds are evaluated.
    assert b["thm5_ece_lower"] is not None and b["cor1_ece_upper"] <= (
        b["prop1_ece_upper"])


def test_exhaustive_invariant_models_on_example2_respect_every_bound():
  # Every invariant prediction (one label per orbit: 2^10) at four
  # confidence assignments.
  labels, orbits, _ = example2()
  for confs in ((0.0, 0.0), (0.6, 0.8), (1.0, 0.5), (0.7, 0.7)):
    conf = np.where(orbits < 5, confs[0], confs[1])
    for choice in itertools.product((0, 1), repeat=10):
      pred = np.array(choice)[orbits]
      b = bounds.finite_orbit_bounds(labels, orbits, conf, pred)
      for key in ("prop1_ece_upper", "thm4_ece_upper", "cor1_ece_upper",
                  "cor2_ece_upper"):
        if b[key] is not None:
          assert b["ece"] <= b[key] + 1e-12
      assert b["thm5_ece_lower"] <= b["ece"] + 1e-12


def test_corollary2_needs_accuracy_at_least_one_half_on_every_fibre():
  labels, orbits, conf = example2()
  # Minority prediction on the right half: accuracy 0.1 there.
  pred = np.where(orbits < 5, 1, 0)
  b = bounds.finite_orbit_bounds(labels, orbits, conf, pred)
  assert b["cor2_ece_upper"] is None
  assert "Acc_p >= 1/2" in b["not_applicable"]["cor2_ece_upper"]
  assert b["thm4_ece_upper"] is not None  # Theorem 4 uses P_2 instead.
  # Integer fibres need an integer >= 1 and not a bool.
  with pytest.raises(InputError, match="fibres"):
    bounds.finite_orbit_bounds(labels, orbits, conf, pred, fibres=True)
