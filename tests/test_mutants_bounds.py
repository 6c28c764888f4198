"""Tests written for mutants of ``enn_sym/bounds`` that the other tests let
survive (``scripts/mutation_test.py``): argument checks, the documented
edges of the helpers, hand values. Small and fast (numpy and scipy only)."""

import math

import numpy as np
import pytest

from enn_sym import bounds
from enn_sym._validation import InputError
from enn_sym.bounds import _distributions as dist
from enn_sym.bounds import _gence


def test_num_classes_and_weights_are_checked():
  ids, labels = [0, 0, 1], [0, 1, 1]
  for bad in (1, True, 2.0):
    with pytest.raises(InputError, match="num_classes must be an integer"):
      bounds.error_lower_bound(ids, labels, bad)
  for bad in ([np.nan, 1.0, 1.0], [-1.0, 1.0, 1.0]):
    with pytest.raises(InputError, match="finite and non-negative"):
      bounds.error_lower_bound(ids, labels, 2, weights=bad)
  with pytest.raises(InputError, match="positive sum"):
    bounds.error_lower_bound(ids, labels, 2, weights=[0.0, 0.0, 0.0])


def test_default_weights_are_the_empirical_distribution():
  # "default 1/N": one example has mass 1.
  assert bounds.orbit_masses([0], [1], 2).total == pytest.approx(1.0)
  assert bounds.orbit_masses([0, 1, 1], [1, 0, 0], 2).total == (
      pytest.approx(1.0))


def test_midpoint_rule_checks_each_argument():
  nodes, weights = bounds.midpoint_rule(0.0, 1.0, 2)
  np.testing.assert_allclose(nodes, [0.25, 0.75])
  np.testing.assert_allclose(weights, [0.5, 0.5])
  for args in ((0.0, 1.0, 0), (1.0, 1.0, 3), (1.0, 0.0, 3)):
    with pytest.raises(InputError, match="midpoint_rule needs"):
      bounds.midpoint_rule(*args)


def test_orbit_ids_of_one_dimensional_points_and_a_single_point():
  # [N] points (N scalars) are allowed, as is N = 1.
  ids = bounds.orbit_ids_from_group(np.asarray([1.0, -1.0, 2.0]),
                                    [lambda x: -x])
  np.testing.assert_array_equal(ids, [0, 0, 1])
  np.testing.assert_array_equal(
      bounds.orbit_ids_from_group(np.asarray([[3.0, 4.0]]), [lambda x: x]),
      [0])


def test_orbit_ids_tolerance_is_ten_to_minus_decimals():
  # Within 10 ** -1 = 0.1 (not 1/11): one point.
  np.testing.assert_array_equal(
      bounds.orbit_ids_from_group(np.asarray([0.0, 0.095]), [],
                                  decimals=1), [0, 0])
  # An image 1.6 > tol = 1 away from the nearest point links nothing.
  np.testing.assert_array_equal(
      bounds.orbit_ids_from_group(np.asarray([0.0, 1.4]),
                                  [lambda x: 3.0 - x], decimals=0), [0, 1])


def test_a_sequence_with_an_act_attribute_is_a_sequence_of_transforms():
  class Transforms(list):
    act = None  # no elements(): not the group protocol.

  ids = bounds.orbit_ids_from_group(np.asarray([1.0, -1.0]),
                                    Transforms([lambda x: -x]))
  np.testing.assert_array_equal(ids, [0, 0])


def test_discrete_distribution_masses():
  d = bounds.discrete_distribution([0.2, 0.4])  # default uniform.
  np.testing.assert_allclose(d.masses, [0.5, 0.5])
  d = bounds.discrete_distribution([0.2, 0.4], [0.0, 3.0])  # a zero mass.
  np.testing.assert_allclose(d.masses, [0.0, 1.0])


def test_expect_on_atoms_at_the_upper_end():
  d = bounds.discrete_distribution([0.25, 0.5], [0.5, 0.5])
  assert dist.expect(d, lambda p: p, 0.0, 0.5) == pytest.approx(0.375)
  assert dist.expect(d, lambda p: p, 0.0, 0.5, right_open=True) == (
      pytest.approx(0.125))
  np.testing.assert_allclose(dist.per_atom([1.0, 2.0], d, "acc"), [1, 2])


def test_quad_is_accurate_on_a_kink_and_zero_on_an_empty_interval():
  # |p - 0.3| on [0, 1] = 0.3^2 / 2 + 0.7^2 / 2 = 0.29 (no breaks given).
  assert dist.quad(lambda p: abs(p - 0.3), 0.0, 1.0) == pytest.approx(
      0.29, abs=1e-10)
  assert dist.quad(lambda p: 1.0, 0.5, 0.5) == 0.0


def test_density_negative_inside_is_rejected():
  # Integrates to 1 (0.8 * 1.5 - 0.2) but is negative on [0.4, 0.6].
  def r(p):
    return -1.0 if 0.4 <= p <= 0.6 else 1.5

  with pytest.raises(InputError, match="finite and non-negative"):
    dist.check_density(r, breaks=(0.4, 0.6))


def test_fibre_orbit_variance_masses_and_an_empty_fibre():
  # Fibre 1 has zero mass: its error is 0, the masses are normalised.
  errors, masses = bounds.fibre_orbit_variance(
      [0, 0, 1, 1], [0.0, 2.0, 5.0, 7.0], [0, 0, 1, 1],
      weights=[1.0, 1.0, 0.0, 0.0])
  np.testing.assert_allclose(masses, [1.0, 0.0])
  np.testing.assert_allclose(errors[1], 0.0)
  _, masses = bounds.fibre_orbit_variance(
      [0, 0, 1, 1], [0.0, 2.0, 5.0, 7.0], [0, 0, 1, 1],
      weights=[1.0, 1.0, 1.0, 1.0])
  np.testing.assert_allclose(masses, [0.5, 0.5])


def test_theorem8_ignores_fibres_of_zero_mass():
  # A zero-variance fibre of mass 0 below m contributes nothing (not inf).
  got = bounds.theorem8_gence_sq_lower_bound([0.0, 2.0], [0.0, 1.0], 1.0)
  assert got == pytest.approx((2.0 - 1.0) ** 2 / 4.0 * 0.0)  # 2 > m.
  got = bounds.theorem8_gence_sq_lower_bound([0.0, 0.5], [0.0, 1.0], 1.0)
  assert got == pytest.approx((0.5 - 1.0) ** 2 / 0.25)
  assert math.isinf(bounds.theorem8_gence_sq_lower_bound([0.0, 0.5],
                                                         [0.5, 0.5], 1.0))


def test_fibre_errors_are_checked():
  for bad in ([0.1], [0.1, -0.1], [0.1, np.nan]):
    with pytest.raises(InputError, match="fibre_errors must be"):
      _gence.theorem6_gence_upper_bound([1.0, 2.0], [0.5, 0.5], bad)


def _rec(model, cr, acc, acc_sem, ece, ece_sem, enn="base", **kw):
  rec = {"enn": enn, "model": model, "correct_ratio": cr,
         "accuracy_mean": acc, "accuracy_sem": acc_sem, "ceiling": 0.95,
         "test_ceiling": 0.9, "ece_mean": ece, "ece_sem": ece_sem,
         "ece15_mean": ece / 2, "ece15_sem": 0.004, "ece_null_mean": 0.1,
         "bounds": {"prop1_ece_upper": 0.7, "cor1_ece_upper": None,
                    "thm5_ece_lower": 0.05},
         "stop_reason": ["patience", "max_steps", "patience"]}
  rec.update(kw)
  return rec


def _results(inv_ece_high=0.30, enn_rows=()):
  records = [  # out of order: the page sorts by correct ratio.
      _rec("invariant", 0.8, 0.9, 0.02, inv_ece_high, 0.01,
           ece_null_mean=0.3),
      _rec("invariant", 0.2, 0.6, 0.01, 0.25, 0.01),
      _rec("mlp", 0.8, 0.82, 0.05, 0.2, 0.001),
      _rec("mlp", 0.2, 0.8, 0.05, 0.1, 0.001, ece_null_mean=0.2),
      *enn_rows]
  return {"records": records, "preset": "quick", "seconds": 90.0,
          "config": {"num_test": 200, "hidden_sizes": (8,), "num_steps": 100,
                     "patience": 3, "eval_every": 10, "seeds": (0, 1, 2)}}


def test_figure3_markdown_by_hand():
  from scipy import stats  # pylint: disable=g-import-not-at-top
  z = stats.norm.ppf(0.975)
  done = {"stop_reason": ["early_stopping"] * 3}  # converged ENN seeds.
  mi = [_rec("mlp", 0.5, 0, 0, 0, 0, enn="epinet", mi_incorrect=[.3, .5, .4],
             mi_correct=[.1, .2, .15], **done),
        _rec("mlp", 0.2, 0, 0, 0, 0, enn="epinet", mi_incorrect=[],
             mi_correct=[.1], **done),
        _rec("invariant", 0.5, 0, 0, 0, 0, enn="epinet",
             mi_incorrect=[.1, .2, .15], mi_correct=[.3, .5, .4], **done),
        _rec("invariant", 0.2, 0, 0, 0, 0, enn="epinet",
             mi_incorrect=[.1, .3, .2], mi_correct=[.2, .1, .2], **done)]
  page = bounds.figure3_markdown(_results(enn_rows=mi))
  lines = page.splitlines()
  assert "(1.5 min on 2 shared CPU cores)" in page
  assert "at most 100 steps, patience 3 x 10 steps" in page
  assert "3 seeds, 200 test points." in page
  assert ("| invariant | 0.200 | 0.600 ± 0.010 | 0.950 | 0.900 | "
          "0.250 ± 0.010 | 0.125 ± 0.004 | 0.100 | 0.700 | n/a | 0.050 | "
          "max_steps 1, patience 2 | - (-) |") in lines
  rows = [ln for ln in lines if ln.startswith("| mlp | 0.")]
  assert [r.split(" | ")[1] for r in rows] == ["0.200", "0.800"]
  h = z * math.sqrt(0.01 ** 2 + 0.02 ** 2)
  assert (f"| invariant accuracy rises | +0.300 [{0.3 - h:+.3f}, "
          f"{0.3 + h:+.3f}] | agrees |") in lines
  h = z * math.sqrt(2) * 0.01
  assert (f"| invariant ECE falls | +0.050 [{0.05 - h:+.3f}, "
          f"{0.05 + h:+.3f}] | opposite sign |") in lines
  assert any(ln.startswith("| MLP accuracy roughly flat | +0.020 [")
             and ln.endswith("| agrees (no measurable change) |")
             for ln in lines)
  assert any(ln.startswith("| MLP ECE roughly flat | +0.100 [")
             and ln.endswith("| changes |") for ln in lines)
  assert ("At the lowest correct ratio (0.200) the invariant net has "
          "accuracy 0.600") in page
  assert "ECE of 0.100 to 0.300 on average" in page  # base records only.
  half = bounds.proposition6_half_width(200, 0.05)
  assert f"Proposition 6 at delta = 0.05 is {half:.3f}." in page
  d = np.array([.2, .3, .25])
  h = stats.t.ppf(0.975, 2) * d.std(ddof=1) / math.sqrt(3)
  assert any(ln.startswith(f"| epinet | mlp | 0.500 | 0.4000 | 0.1500 | "
                           f"+0.2500 ± {h:.4f} | yes |") for ln in lines)
  assert ("| epinet | mlp | 0.200 | - | - | - | no orbits of one kind |"
          in lines)
  enn_lines = [ln for ln in lines if ln.startswith("| epinet |")]
  assert [ln.split(" | ")[1:3] for ln in enn_lines] == [
      ["invariant", "0.200"], ["invariant", "0.500"], ["mlp", "0.200"],
      ["mlp", "0.500"]]
  assert "| no (lower) |" in enn_lines[1]
  assert "| no measurable difference |" in enn_lines[0]
  # A sign claim whose interval contains 0; no ENN section without ENNs.
  page = bounds.figure3_markdown(_results(inv_ece_high=0.26))
  assert any(ln.startswith("| invariant ECE falls | +0.010 [")
             and ln.endswith("| no measurable difference |")
             for ln in page.splitlines())
  assert "mutual information" not in page


def test_figure3_markdown_single_rows_and_edges():
  # One invariant row: no trend line for it; lo == 0 exactly is no
  # measurable change; a verdict needs lo > 0 or hi < 0.
  res = _results()
  res["records"] = [r for r in res["records"]
                    if not (r["model"] == "invariant"
                            and r["correct_ratio"] == 0.8)]
  page = bounds.figure3_markdown(res)
  assert "invariant accuracy rises" not in page
  assert "| MLP accuracy roughly flat |" in page


def test_figure3_png_is_10_by_4_inches_at_110_dpi(tmp_path):
  import struct  # pylint: disable=g-import-not-at-top
  records = [_rec(m, cr, 0.8, 0.01, 0.1, 0.01) for m in ("mlp", "invariant")
             for cr in (0.2, 0.8)]
  path = tmp_path / "fig3.png"
  bounds.plot_figure3(records, str(path))
  head = path.read_bytes()[:24]
  assert head[12:16] == b"IHDR"
  assert struct.unpack(">II", head[16:24]) == (1100, 440)


def test_quad_subdivision_limit_is_500_and_its_warning_is_passed_on():
  from scipy import integrate  # pylint: disable=g-import-not-at-top
  with pytest.warns(integrate.IntegrationWarning,
                    match=r"maximum number of subdivisions \(500\)"):
    dist.quad(lambda p: np.sin(1 / p), 1e-4, 1.0)


def test_figure3_draws_the_records(monkeypatch, tmp_path):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  figures = []
  monkeypatch.setattr(plt, "close", figures.append)
  records = [_rec(m, cr, acc, 0.01, 0.1 + cr / 10, 0.01)
             for m, acc in (("mlp", 0.7), ("invariant", 0.9))
             for cr in (0.8, 0.2)]
  for r in records:
    r["bounds"]["cor1_ece_upper"] = 0.6
  bounds.plot_figure3(records, str(tmp_path / "fig3.png"))
  (fig,) = figures
  ax1, ax2 = fig.axes
  assert ax1.get_ylim() == (0.5, 1.02) and ax2.get_ylim() == (0.0, 1.0)
  lines1 = {ln.get_label(): ln for ln in ax1.get_lines()}
  np.testing.assert_allclose(
      np.asarray(lines1["ceiling 1 - icr/2"].get_xdata(), float), [20, 80])
  data = [ln for ln in ax1.get_lines() if ln.get_marker() in ("o", "s")]
  assert [ln.get_marker() for ln in data] == ["o", "s"]
  for ln, acc in zip(data, (0.7, 0.9)):
    np.testing.assert_allclose(np.asarray(ln.get_xdata(), float), [20, 80])
    np.testing.assert_allclose(np.asarray(ln.get_ydata(), float), [acc, acc])
    assert ln.get_markersize() == 4
  for ln in ax2.get_lines():
    if ln.get_marker() in ("o", "s"):
      assert ln.get_markersize() == 4
  labels2 = [ln.get_label() for ln in ax2.get_lines()]
  assert "invariant Cor. 1 upper (15 bins)" in labels2
  assert "invariant Thm 5 lower (15 bins)" in labels2
  for ax in (ax1, ax2):
    legend = ax.get_legend()
    assert legend._ncols == 2  # pylint: disable=protected-access
    assert legend.get_texts()[0].get_fontsize() == 7
  # A None bound is not drawn.
  records[3]["bounds"]["cor1_ece_upper"] = None  # an invariant row.
  figures.clear()
  bounds.plot_figure3(records, str(tmp_path / "fig3.png"))
  labels2 = [ln.get_label() for ln in figures[0].axes[1].get_lines()]
  assert "invariant Cor. 1 upper (15 bins)" not in labels2


def test_orbit_variance_of_a_single_orbit():
  np.testing.assert_allclose(bounds.orbit_variance([0, 0], [1.0, 3.0]), [1.0])


def test_theorem6_zero_variance_fibre_without_error_is_finite():
  # A zero-variance fibre is +inf only with a non-zero error (Remark 3).
  got = bounds.theorem6_gence_upper_bound([0.0, 1.0], [0.5, 0.5], [0.0, 0.2])
  assert got == pytest.approx(1.0 + 0.5 * 0.2 / (2.0 / math.pi))
  assert math.isinf(bounds.theorem6_gence_upper_bound(
      [0.0, 1.0], [0.5, 0.5], [0.1, 0.2]))


def _counting(matrix):
  calls = []

  def matvec(x):
    calls.append(1)
    return matrix @ x
  return matvec, (lambda y: matrix.T @ y), calls


def test_power_iteration_stopping_rule():
  # Stops at the first |new - est| <= tol * new: exact convergence with
  # tol = 0 (identity: the estimates are 1 after a rounding step or two) ...
  matvec, rmatvec, calls = _counting(np.eye(3))
  assert bounds.power_iteration(matvec, rmatvec, (3,), tol=0.0) == (
      pytest.approx(1.0, rel=1e-15))
  assert len(calls) < 10
  # ... and a relative tolerance, also for a large norm.
  a = 1e4 * np.diag([2.0, 1.0])
  matvec, rmatvec, calls = _counting(a)
  assert bounds.power_iteration(matvec, rmatvec, (2,)) == pytest.approx(
      2e4, rel=1e-10)
  assert len(calls) < 100
  # A small norm: the tolerance is relative (tol * new), so the estimate is
  # still accurate to ~1e-12, not stopped at an absolute 1e-12 / new.
  a = 1e-4 * np.diag([2.0, 1.0])
  matvec, rmatvec, _ = _counting(a)
  assert bounds.power_iteration(matvec, rmatvec, (2,)) == pytest.approx(
      2e-4, rel=1e-10)


def test_lipschitz_helpers_pass_the_documented_iteration_cap(monkeypatch):
  from enn_sym.bounds import _lipschitz  # pylint: disable=g-import-not-at-top
  seen = []
  real = _lipschitz.power_iteration

  def spy(*args, **kw):
    seen.append(kw["num_iters"])
    return real(*args, **kw)

  monkeypatch.setattr(_lipschitz, "power_iteration", spy)
  bounds.spectral_norm(np.eye(2))
  bounds.deepsets_lipschitz_bound([(np.eye(2), np.eye(2))], np.eye(2), 3)
  bounds.mlp_lipschitz_bound([np.eye(2)])
  assert seen == [1000, 1000, 1000, 1000]


def test_deepsets_mean_pooling_and_confidence_bound():
  # ||pool|| = 1 / sqrt(n) for mean pooling: 1/2 at n = 4 with no layers.
  assert bounds.deepsets_lipschitz_bound(
      [], np.eye(2), 4, pooling="mean", method="svd") == pytest.approx(0.5)
  assert bounds.deepsets_lipschitz_bound(
      [], np.eye(2), 4, method="svd") == pytest.approx(2.0)
  assert bounds.confidence_lipschitz_bound(0.5) == pytest.approx(
      math.sqrt(2) / 8)
  assert bounds.confidence_lipschitz_bound(0) == 0.0
  with pytest.raises(InputError, match="logit_lipschitz"):
    bounds.confidence_lipschitz_bound(-0.1)


def test_bound_gaps_and_summary_by_hand():
  result = {"prop1_ece_upper": 0.7, "thm4_ece_upper": 1.2,
            "cor1_ece_upper": None, "cor2_ece_upper": 0.5,
            "thm5_ece_lower": 0.1, "prop4_ece_lower": 0.0, "ece": 0.3,
            "thm1_error_lower": 0.2, "prop3_error_upper": 0.9}
  gaps = bounds.bound_gaps(result, error=0.25)
  assert gaps["cor1_ece_upper"] is None
  assert gaps["prop1_ece_upper"] == {"value": 0.7, "gap": pytest.approx(0.4),
                                     "non_vacuous": True}
  assert gaps["thm4_ece_upper"]["non_vacuous"] is False  # upper >= 1.
  assert gaps["thm5_ece_lower"] == {"value": 0.1, "gap": pytest.approx(0.2),
                                    "non_vacuous": True}
  assert gaps["prop4_ece_lower"]["non_vacuous"] is False  # lower = 0.
  assert gaps["thm1_error_lower"]["gap"] == pytest.approx(0.05)
  assert gaps["prop3_error_upper"]["gap"] == pytest.approx(0.65)
  assert bounds.bound_gaps(result)["thm1_error_lower"]["gap"] is None
  other = bounds.bound_gaps(dict(result, cor1_ece_upper=0.9, ece=None),
                            error=0.25)
  summary = bounds.summarize_gaps([gaps, other])
  assert summary["cor1_ece_upper"] == {
      "applies": 0.5, "value_mean": 0.9, "gap_mean": None, "gap_min": None,
      "non_vacuous": 1.0}
  assert summary["prop1_ece_upper"]["gap_mean"] == pytest.approx(0.4)
  assert summary["thm4_ece_upper"]["non_vacuous"] == 0.0
  assert summary["thm1_error_lower"]["gap_min"] == pytest.approx(0.05)
  assert bounds.summarize_gaps([]) == {}


def test_ensemble_readouts_by_hand():
  rng = np.random.default_rng(1)
  z = rng.normal(size=(3, 5, 4)) * 2
  out = bounds.ensemble_readouts(z)
  for i in range(5):
    members = [np.exp(z[k, i]) / np.exp(z[k, i]).sum() for k in range(3)]
    mean = sum(members) / 3
    pred = int(np.argmax(mean))
    h = lambda q: -sum(x * math.log(x) for x in q if x > 0)
    assert out["pred"][i] == pred
    assert out["mean"][i] == pytest.approx(mean[pred], rel=1e-12)
    assert out["lower"][i] == pytest.approx(min(m[pred] for m in members),
                                            rel=1e-12)
    assert out["mi"][i] == pytest.approx(
        max(h(mean) - sum(h(m) for m in members) / 3, 0.0), abs=1e-12)
  # One-hot members (probabilities exactly 0): finite, MI of agreement 0.
  hard = np.where(np.eye(3)[None, [0, 1]] > 0, 0.0, -800.0)
  out = bounds.ensemble_readouts(np.concatenate([hard, hard]))
  np.testing.assert_array_equal(out["pred"], [0, 1])
  np.testing.assert_allclose(out["mi"], 0.0, atol=1e-300)


def test_binned_ece_and_its_calibrated_null_by_hand():
  # (lo, hi] bins of width 1/4: .25 is in bin 0, .5 in bin 1, 1.0 in bin 3.
  c = np.array([0.25, 0.5, 0.6, 1.0])
  hit = np.array([1, 0, 1, 1])
  # bin 0: |1 - .25|; bin 1: |0 - .5|; bin 2: |1 - .6|; bin 3: |1 - 1|.
  assert bounds.binned_ece(c, hit, 4) == pytest.approx(
      (0.75 + 0.5 + 0.4 + 0.0) / 4)
  # Signed sums within a bin cancel before the absolute value.
  assert bounds.binned_ece([0.6, 0.7], [1, 0], 2) == pytest.approx(
      abs((1 - 0.6) + (0 - 0.7)) / 2)
  rng = np.random.default_rng(0)  # seed 0 is the default.
  vals = [bounds.binned_ece(c, rng.uniform(size=4) < c, 4) for _ in range(5)]
  mean, p95 = bounds.calibrated_ece_null(c, 4, 5)
  assert mean == pytest.approx(np.mean(vals))
  assert p95 == pytest.approx(np.percentile(vals, 95))


def test_mean_bounds_over_seeds():
  from enn_sym.bounds import _finite  # pylint: disable=g-import-not-at-top
  base = {k: 0.2 for k in _finite.KEYS}
  base["fibres"] = {"mode": "binned", "num_bins": 15, "values": [1]}
  base["not_applicable"] = {"k_star": "why"}
  other = dict(base, ece=0.4, cor1_ece_upper=None)
  out = bounds.mean_bounds([base, other])
  assert out["ece"] == pytest.approx(0.3)
  assert out["cor1_ece_upper"] is None
  assert out["fibres"] == {"mode": "binned", "num_bins": 15}
  assert out["not_applicable"] == {"k_star": "why"}


def test_fibre_minima_and_proposition6_delta_zero():
  assert bounds.corollary1_m([0.3, 0.1, 0.2]) == pytest.approx(0.1)
  assert bounds.theorem5_m([0.1, 0.3, 0.2]) == pytest.approx(0.7)
  for fn, arg in ((bounds.proposition6_half_width, 200),
                  (bounds.proposition6_sample_size, 0.01)):
    with pytest.raises(InputError, match="delta must be > 0"):
      fn(arg, 0.0)


def test_wang_spirals_by_hand():
  from enn_sym.bounds import _tasks  # pylint: disable=g-import-not-at-top
  n, chunk = _tasks.NUM_RADII, _tasks.NUM_RADII // 16
  assert n == 100_000
  x, labels, kind = _tasks._spirals(0.5, 0.25)  # pylint: disable=protected-access
  assert x.shape == (2 * n, 3)
  np.testing.assert_array_equal(labels, np.r_[np.zeros(n), np.ones(n)])
  for i in (n - 1, 80_000):  # extrinsic points: the formula itself.
    r = i * 5e-7
    t = 90 * math.pi * r
    np.testing.assert_allclose(x[i], [10 * r * math.cos(t),
                                      10 * r * math.sin(t), 0.0])
    np.testing.assert_allclose(x[n + i], [10 * r * math.cos(t + 3),
                                          10 * r * math.sin(t + 3), 1.0])
  # Correct chunks 0..7 in pairs: spiral 1's even chunk copies the odd
  # chunk's xy at z = 0 (the originals move to z = 1); spiral 2 the other
  # way round.
  for c in (0, 6):
    i = c * chunk + 17
    np.testing.assert_array_equal(x[i, :2], x[i + chunk, :2])
    assert (x[i, 2], x[i + chunk, 2]) == (0.0, 1.0)
    np.testing.assert_array_equal(x[n + i + chunk, :2], x[n + i, :2])
    assert (x[n + i + chunk, 2], x[n + i, 2]) == (0.0, 1.0)
  assert not np.array_equal(x[8 * chunk + 1, :2], x[9 * chunk + 1, :2])
  # Incorrect: spiral 2's xy on [cr N, (cr + icr) N) is spiral 1's.
  np.testing.assert_array_equal(x[n + 50_000, :2], x[50_000, :2])
  np.testing.assert_array_equal(x[n + 74_999, :2], x[74_999, :2])
  assert not np.array_equal(x[n + 75_000, :2], x[75_000, :2])
  assert not np.array_equal(x[n + 49_999, :2], x[49_999, :2])
  half = np.r_[np.zeros(50_000), np.ones(25_000), np.full(25_000, 2)]
  np.testing.assert_array_equal(kind, np.r_[half, half])


def test_rotation_orbit_task_and_invariant_features():
  split = bounds.rotation_orbit_task(3, 4, [0, 1, 2, 3], seed=1)
  theta0 = np.random.default_rng(1).uniform(0, 2 * math.pi, 3)
  theta = (theta0[:, None] + 2 * math.pi * np.arange(4) / 4).reshape(-1)
  np.testing.assert_allclose(split.x, np.c_[np.cos(theta), np.sin(theta)],
                             atol=1e-6)
  np.testing.assert_array_equal(split.orbit_ids, np.repeat(np.arange(3), 4))
  sector = (np.mod(theta, 2 * math.pi) // (math.pi / 2)).astype(int)
  np.testing.assert_array_equal(split.labels, sector)
  # Every orbit carries every label once (order = number of sectors).
  for o in range(3):
    assert sorted(split.labels[split.orbit_ids == o]) == [0, 1, 2, 3]
  feats = np.asarray(bounds.rotation_invariant_features(split.x, 4))
  np.testing.assert_allclose(feats, np.c_[np.cos(4 * theta),
                                          np.sin(4 * theta)], atol=1e-4)
  np.testing.assert_allclose(feats[:4], np.repeat(feats[:1], 4, 0),
                             atol=1e-4)


def test_small_dss_is_z_invariant_and_the_prior_sees_xy_only():
  import flax.linen as nn  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  x = np.array([[0.3, -0.2, 0.0], [0.3, -0.2, 1.0], [0.1, 0.5, 0.0]],
               np.float32)
  net = bounds.SwissRollDSS(3, (4,))
  variables = net.init(jax.random.key(0), x)
  logits, features = net.apply(variables, x)
  assert logits.shape == (3, 3) and features.shape == (3, 4)
  np.testing.assert_array_equal(logits[0], logits[1])  # the swap partner.
  assert not np.allclose(logits[0], logits[2])
  # By hand: slot z of a 2-set holds (x, y), the other 0; relu(Dense(h) +
  # Dense(sum over the set)); sum over the set; a readout.
  p = variables["params"]
  h = np.zeros((2, 2), np.float32)
  h[int(x[1, 2] > 0.5)] = x[1, :2]
  h = np.maximum(h @ p["layer0_element"] + p["layer0_bias"]
                 + h.sum(0, keepdims=True) @ p["layer0_set"], 0)
  want = h.sum(0) @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"]
  np.testing.assert_allclose(logits[1], want, rtol=1e-5, atol=1e-6)

  class Probe(nn.Module):
    @nn.compact
    def __call__(self, x, z):
      return x * z

  out = bounds.PlaneSwapInvariantPrior(Probe()).apply({}, x, 2.0)
  np.testing.assert_array_equal(out, 2.0 * x[:, :2])


def test_points_nodes_and_decimals_are_checked():
  for pts in (np.zeros((0, 2)), np.float64(1.0)):
    with pytest.raises(InputError, match="points must have shape"):
      bounds.orbit_ids_from_group(pts, [])
  for bad in (True, 1.5):
    with pytest.raises(InputError, match="decimals must be an integer"):
      bounds.orbit_ids_from_group(np.zeros((2, 2)), [], decimals=bad)

  def run(c, nodes=None, **kw):
    x, w = bounds.midpoint_rule(0.0, 1.0, 10)
    return bounds.numeric_dissent(
        lambda p: np.full(len(p), c), lambda p: np.zeros(len(p), int),
        lambda q: (np.asarray([q]), np.ones(1)),
        x if nodes is None else nodes, w, 2, **kw)

  run(1.0005)  # within the default normalization_atol = 1e-3 ...
  with pytest.raises(InputError, match="integrates to"):
    run(1.002)  # ... and outside it.
  for nodes in (np.zeros((0,)), np.float64(0.5)):
    with pytest.raises(InputError, match="nodes must have shape"):
      run(1.0, nodes=nodes)


def test_orbit_means_of_a_zero_mass_orbit_and_proposition6_rounding():
  np.testing.assert_allclose(
      bounds.orbit_means([0, 0, 1], [1.0, 3.0, 5.0], weights=[1, 1, 0]),
      [[2.0], [2.0], [0.0]])
  # ceil(ln(2 / delta) / (2 eps^2)) of an exact integer is that integer:
  # ln(e) / (2 * 0.25) = 2.
  assert bounds.proposition6_sample_size(0.5, 2 / math.e) == 2
  assert bounds.proposition6_sample_size(0.01, 0.05) == 18_445


def test_figure3_verdict_needs_the_interval_to_exclude_zero():
  from enn_sym.bounds import _figure3  # pylint: disable=g-import-not-at-top
  verdict = _figure3._verdict  # pylint: disable=protected-access
  assert verdict(0.0, 0.5, +1) == "no measurable difference"
  assert verdict(-0.5, 0.0, -1) == "no measurable difference"
  assert verdict(0.1, 0.5, +1) == "agrees"
  assert verdict(-0.5, -0.1, -1) == "agrees"
  assert verdict(-0.5, -0.1, +1) == "opposite sign"


def test_orbit_split_is_frozen():
  import dataclasses  # pylint: disable=g-import-not-at-top
  split = bounds.rotation_orbit_task(2, 2, [0, 1])
  with pytest.raises(dataclasses.FrozenInstanceError):
    split.labels = None
  assert len(split) == 4


def test_test_closure_with_extrinsic_points():
  # cr = 0.5, icr = 0.25: a quarter of the points are extrinsic (no swap
  # partner): their orbit is the point alone; the others come in pairs with
  # one xy and two heights.
  closed = bounds.wang_swiss_roll(0.5, 0.25, num_train=10, num_val=10,
                                  num_test=60, seed=3)["test_closed"]
  sizes = np.bincount(bounds.renumber(closed.orbit_ids))
  assert set(sizes) == {1, 2}
  for o in np.unique(closed.orbit_ids):
    sel = closed.orbit_ids == o
    pts = closed.x[sel]
    assert np.all(pts[:, :2] == pts[0, :2])
    assert (sel.sum() == 1) == (closed.kind[sel][0] == 2)


def test_numeric_dissent_checks_and_midpoint_rule_by_hand():
  nodes, weights = bounds.midpoint_rule(1.0, 3.0, 2)  # h = (3 - 1) / 2
  np.testing.assert_allclose(nodes, [1.5, 2.5])
  np.testing.assert_allclose(weights, [1.0, 1.0])
  nodes, weights = bounds.midpoint_rule(1.0, 3.0, 1)  # num = 1 is allowed
  np.testing.assert_allclose(nodes, [2.0])
  np.testing.assert_allclose(weights, [2.0])

  def run(density, w=None):
    x, mid_w = bounds.midpoint_rule(0.0, 1.0, 10)
    return bounds.numeric_dissent(
        density, lambda p: np.zeros(len(p), int),
        lambda q: (np.asarray([q]), np.ones(1)), x,
        mid_w if w is None else w, 2)

  w = np.full(10, 0.1)
  w[3] = 0.0  # a zero node weight is allowed.
  run(lambda p: np.full(len(p), 1 / 0.9), w)
  with pytest.raises(InputError, match="integrates to"):
    run(lambda p: np.full(len(p), 0.9))  # too little mass, not only too much
  with pytest.raises(InputError, match="density must be finite and non-neg"):
    run(lambda p: np.where(np.asarray(p) < 0.5, -1.0, 3.0))


def test_orbit_ids_link_images_at_exactly_the_tolerance():
  # 0 -> 3 lands at distance exactly 1 = tol from the point 2: linked.
  np.testing.assert_array_equal(
      bounds.orbit_ids_from_group(np.asarray([0.0, 2.0]),
                                  [lambda x: 3.0 - x], decimals=0), [0, 0])


def test_distribution_checks_and_expect_defaults():
  d = bounds.discrete_distribution([0.0, 0.5, 1.0], [1.0, 1.0, 2.0])
  # expect over [low, high] = [0, 1] by default: every atom.
  assert dist.expect(d, lambda p: 1.0) == pytest.approx(1.0)
  assert dist.expect(d, lambda p: p) == pytest.approx(0.125 + 0.5)
  for bad in ([1.0, 1.0], [0.0, 0.0, 0.0], [1.0, np.nan, 1.0]):
    with pytest.raises(InputError, match="masses must be"):
      bounds.discrete_distribution([0.0, 0.5, 1.0], bad)
  with pytest.raises(InputError, match="integrates to"):
    dist.check_density(lambda p: 0.5)  # too little mass


def test_dss_sum_layer_has_no_bias():
  import jax  # pylint: disable=g-import-not-at-top
  p = bounds.SwissRollDSS(2, (4, 3)).init(
      jax.random.key(0), np.zeros((1, 3), np.float32))["params"]
  # One bias per layer (the set term V has none), zero at init, as nn.Dense.
  assert sorted(p) == ["Dense_0", "layer0_bias", "layer0_element",
                       "layer0_set", "layer1_bias", "layer1_element",
                       "layer1_set"]
  assert p["layer0_set"].shape == (2, 4) and p["layer1_set"].shape == (4, 3)
  assert p["layer1_bias"].shape == (3,)
  np.testing.assert_array_equal(p["layer0_bias"], 0.0)
  assert sorted(p["Dense_0"]) == ["bias", "kernel"]


def test_normalized_dissent_of_a_zero_mass_orbit_is_zero():
  ids, labels, w = [0, 0, 1, 1], [0, 1, 0, 1], [1.0, 3.0, 0.0, 0.0]
  np.testing.assert_allclose(
      bounds.total_dissent(ids, labels, 2, w, normalize=True), [0.25, 0.0])
  np.testing.assert_allclose(
      bounds.minority_dissent(ids, labels, 2, w, normalize=True), [0.75, 0.0])
