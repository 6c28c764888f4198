"""Swiss rolls of Berman et al. 2025 Fig. 3: data, DSS invariance, smoke run."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from enn_sym import bounds
from enn_sym import metrics
from tests import train_helpers

_load = train_helpers.load_file


@pytest.mark.parametrize("cr", [0.125, 0.5, 0.875, 1.0])
def test_wang_rolls_ceiling_and_orbit_closure(cr):
  splits = bounds.wang_swiss_roll(cr, 1 - cr)
  assert [len(splits[k]) for k in ("train", "val", "test")] == [200] * 3
  closed = splits["test_closed"]
  # Every test point has its swap partner (correct and incorrect orbits),
  # same xy, other height; orbits have 2 members.
  counts = np.bincount(bounds.renumber(closed.orbit_ids))
  assert np.all(counts == 2) and len(closed) == 400
  for o in np.unique(closed.orbit_ids)[:20]:
    pts = closed.x[closed.orbit_ids == o]
    np.testing.assert_array_equal(pts[0, :2], pts[1, :2])
    assert pts[0, 2] != pts[1, 2]
  # Incorrect orbits carry opposite labels, correct ones one label.
  for o in np.unique(closed.orbit_ids):
    sel = closed.orbit_ids == o
    same = len(set(closed.labels[sel])) == 1
    assert same == (closed.kind[sel][0] == 0)
  # The accuracy ceiling of invariant models is 1 - icr/2 within sampling.
  ceiling = 1 - bounds.error_lower_bound(closed.orbit_ids, closed.labels, 2)
  assert ceiling == pytest.approx(1 - (1 - cr) / 2, abs=0.06)
  # Disjoint splits.
  assert not set(splits["train"].orbit_ids) & set(splits["test"].orbit_ids)


def test_wang_rolls_reject_bad_ratios():
  from enn_sym._validation import InputError  # pylint: disable=g-import-not-at-top
  with pytest.raises(InputError, match="multiple of 1/8"):
    bounds.wang_swiss_roll(0.3, 0.7)
  with pytest.raises(InputError, match="<= 1"):
    bounds.wang_swiss_roll(0.5, 0.75)


@pytest.mark.slow
def test_dss_is_exactly_z_invariant_and_mlp_is_not():
  x = jnp.asarray(bounds.wang_swiss_roll(0.5, 0.5)["train"].x[:32])
  swapped = x.at[:, 2].set(1 - x[:, 2])
  net = bounds.SwissRollDSS(2, (16, 16))
  v = net.init(jax.random.key(0), x)
  np.testing.assert_array_equal(net.apply(v, x)[0], net.apply(v, swapped)[0])
  from enn_sym import networks  # pylint: disable=g-import-not-at-top
  mlp = networks.MLP(2, (16,))
  w = mlp.init(jax.random.key(0), x)
  assert float(jnp.abs(mlp.apply(w, x)[0] - mlp.apply(w, swapped)[0]).max()
               ) > 1e-3


def test_dss_two_matmul_form_equals_the_direct_dss_layers():
  # The network computes each layer in the slots' sum/difference basis;
  # it must equal relu(h_i W + (h_0 + h_1) V + b) per slot, sum, readout.
  x = jnp.asarray(bounds.wang_swiss_roll(0.5, 0.5)["train"].x[:32])
  net = bounds.SwissRollDSS(2, (16, 8))
  v = net.init(jax.random.key(3), x)
  p = jax.tree.map(lambda a: a + 0.1 * jax.random.normal(  # bias != 0
      jax.random.key(4), a.shape), v["params"])
  xy, upper = x[:, :2], x[:, 2:3] > 0.5
  h = jnp.stack([jnp.where(upper, 0.0, xy), jnp.where(upper, xy, 0.0)], 1)
  for i in range(2):
    h = jax.nn.relu(h @ p[f"layer{i}_element"] + jnp.sum(
        h, 1, keepdims=True) @ p[f"layer{i}_set"] + p[f"layer{i}_bias"])
  want = jnp.sum(h, 1) @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"]
  np.testing.assert_allclose(net.apply({"params": p}, x)[0], want,
                             rtol=1e-5, atol=1e-5)


def test_binned_ece_is_the_libraries_right_closed_ece():
  rng = np.random.default_rng(0)
  conf = rng.uniform(0.5, 1.0, 300).astype(np.float32)
  hit = rng.uniform(size=300) < conf
  probs = np.stack([conf, 1 - conf], 1)
  labels = np.where(hit, 0, 1)
  for m in (15, 100):
    ref = float(metrics.expected_calibration_error(probs, labels, m,
                                                   right_closed=True))
    assert bounds.binned_ece(conf, hit, m) == pytest.approx(ref, abs=1e-5)
  # The noise floor of a calibrated model: positive, larger with more bins.
  lo = bounds.calibrated_ece_null(conf[:200], 15, 50)[0]
  hi = bounds.calibrated_ece_null(conf[:200], 100, 50)[0]
  assert 0 < lo < hi


@pytest.mark.slow
def test_swiss_roll_quick_preset(tmp_path):
  cfg = _load("configs/swiss_roll.py", "_swiss_config").get_config("quick")
  cfg.correct_ratios = (0.5,)
  cfg.enns = ()
  module = _load("experiments/swiss_roll.py", "_swiss_experiment")
  results = module.run(cfg, str(tmp_path))
  recs = results["records"]
  assert [(r["model"], r["correct_ratio"]) for r in recs] == [
      ("mlp", 0.5), ("invariant", 0.5)]
  for key in ("model", "correct_ratio", "incorrect_ratio", "accuracy_mean",
              "accuracy_sem", "ece_mean", "ece_sem", "ceiling", "bounds"):
    assert key in recs[0]
  mlp, inv = recs
  assert inv["ceiling"] == 0.75
  assert mlp["bounds"]["thm1_error_lower"] is None  # Not invariant.
  assert inv["bounds"]["thm1_error_lower"] == pytest.approx(0.25, abs=0.06)
  assert inv["bounds"]["prop1_ece_upper"] <= 1.0
  saved = json.loads((tmp_path / "results.json").read_text())
  assert saved["records"][1]["ceiling"] == 0.75
  page = (tmp_path / "reproductions.md").read_text()
  assert "Figure 3" in page and (tmp_path / "swiss_roll.png").exists()
  for r in recs:  # Convergence is reported per seed.
    assert len(r["best_step"]) == len(r["stop_reason"]) == len(cfg.seeds)
    assert r["computed_seed_steps"] >= sum(r["steps_trained"])
  # The page is redrawn from results.json alone.
  (tmp_path / "reproductions.md").unlink()
  again = module.run(cfg, str(tmp_path), report_only=True)
  assert again["records"] == saved["records"]
  assert (tmp_path / "reproductions.md").read_text() == page


@pytest.mark.slow
def test_every_invariant_enn_of_the_experiment_is_exactly_invariant():
  # The epinet head sees the raw input and its prior acts on it; for the
  # invariant version both must not see z (include_inputs=False and
  # PlaneSwapInvariantPrior), or the "invariant" epinet is not invariant.
  cfg = _load("configs/swiss_roll.py", "_swiss_config").get_config("quick")
  module = _load("experiments/swiss_roll.py", "_swiss_experiment")
  x = jnp.asarray(bounds.wang_swiss_roll(0.5, 0.5)["train"].x[:16])
  swapped = x.at[:, 2].set(1 - x[:, 2])
  for kind in ("epinet",):  # Base / ensemble: the DSS test above.
    for model in ("invariant", "mlp"):
      enn, zs, _ = module.make_enn(kind, model, cfg)
      key = jax.random.key(0)
      v = enn.init(key, x[:1], enn.indexer(key))
      gap = float(jnp.abs(enn.apply_multi(v, x, zs).preds
                          - enn.apply_multi(v, swapped, zs).preds).max())
      assert (gap == 0.0) == (model == "invariant"), (kind, model, gap)


def test_presets_follow_the_protocol():
  load = _load("configs/swiss_roll.py", "_swiss_config").get_config
  paper, small = load(), load("width64")
  assert paper.preset == "paper"  # The default is the protocol.
  for c in (paper, small):
    assert len(c.correct_ratios) >= 8 and c.seeds == tuple(range(10))
    assert (c.num_train, c.num_val, c.num_test) == (200, 200, 200)
    assert c.batch_size == 128 and c.learning_rate == 1e-3
    assert c.bins == (100, 15) and c.deviations
  assert paper.hidden_sizes == (512, 512) and paper.num_steps == 10000
  assert paper.patience * paper.eval_every == 1000
  assert paper.enn_hidden_sizes == (512, 512) and len(paper.enn_seeds) >= 5
  assert small.hidden_sizes == (64, 64)
  with pytest.raises(ValueError, match="preset"):
    load("cpu")


def test_report_only_without_results_is_one_error(tmp_path):
  cfg = _load("configs/swiss_roll.py", "_swiss_config").get_config("quick")
  module = _load("experiments/swiss_roll.py", "_swiss_experiment")
  with pytest.raises(SystemExit, match="^error: .*results.json does not "
                     "exist"):
    module.run(cfg, str(tmp_path), report_only=True)


def _fake_results(enn_stops):
  """A results dict for ``figure3_markdown``: 2 base rows per model and one
  epinet row whose seeds stopped as ``enn_stops``."""
  bnd = {"prop1_ece_upper": 0.9, "cor1_ece_upper": 0.6,
         "thm5_ece_lower": 0.0}
  rec = lambda enn, model, cr, stops: {
      "enn": enn, "model": model, "correct_ratio": cr,
      "incorrect_ratio": 1 - cr, "ceiling": 1 - (1 - cr) / 2,
      "test_ceiling": 1 - (1 - cr) / 2, "bounds": bnd,
      **{f"{k}_{s}": 0.1 for k in ("accuracy", "ece", "ece15", "ece_null")
         for s in ("mean", "sem")},
      "stop_reason": stops, "steps_trained": [1100, 1300],
      "best_step": [100, 300], "mi_incorrect": [0.5, 0.6, 0.55],
      "mi_correct": [0.1, 0.1, 0.12]}
  recs = [rec("base", m, cr, ["early_stopping"] * 2)
          for m in ("mlp", "invariant") for cr in (0.5, 1.0)]
  recs.append(rec("epinet", "invariant", 0.5, enn_stops))
  return {"preset": "test", "seconds": 60.0, "records": recs,
          "config": {"num_test": 200, "hidden_sizes": [512, 512],
                     "num_steps": 10000, "patience": 40, "eval_every": 25,
                     "seeds": [0, 1], "deviations": "none.",
                     "enn_hidden_sizes": [512, 512], "enn_num_steps": 3000,
                     "enn_patience": 12}}


def test_mi_table_draws_no_conclusion_from_unconverged_cells():
  row = lambda page: next(l for l in page.splitlines()
                          if l.startswith("| epinet |"))
  done = row(bounds.figure3_markdown(_fake_results(["early_stopping"] * 3)))
  assert "| yes |" in done and "early_stopping 3" in done
  assert "1100-1300 (100-300)" in done
  capped = row(bounds.figure3_markdown(_fake_results(
      ["early_stopping", "max_steps", "early_stopping"])))
  assert "not converged" in capped and "| yes |" not in capped


def test_merge_adds_only_the_missing_cells_and_says_so():
  main = _fake_results(["early_stopping"] * 3)
  other = _fake_results(["early_stopping"] * 3)
  other["records"] = other["records"][-1:] + [
      dict(other["records"][-1], enn="ensemble")]  # One dup, one new cell.
  other["seconds"] = 120.0
  merged = bounds.merge_figure3_results(main, other, "enn/results.json")
  cells = [(r["enn"], r["model"], r["correct_ratio"])
           for r in merged["records"]]
  assert len(cells) == len(set(cells)) == len(main["records"]) + 1
  assert len(main["records"]) == 5  # Not modified.
  page = bounds.figure3_markdown(merged)
  assert "1 records are from another run, `enn/results.json` (2.0 min" in page
  assert "| ensemble | invariant |" in page


def test_enn_only_results_still_make_a_page():
  res = _fake_results(["early_stopping"] * 3)
  res["records"] = [r for r in res["records"] if r["enn"] != "base"]
  page = bounds.figure3_markdown(res)
  assert "| epinet | invariant |" in page


def test_report_only_merge_rewrites_results_json(tmp_path):
  cfg = _load("configs/swiss_roll.py", "_swiss_config").get_config("quick")
  module = _load("experiments/swiss_roll.py", "_swiss_experiment")
  main = _fake_results(["early_stopping"] * 3)
  other = dict(main, records=[dict(main["records"][-1], enn="ensemble")])
  (tmp_path / "results.json").write_text(json.dumps(main))
  (tmp_path / "other.json").write_text(json.dumps(other))
  module.run(cfg, str(tmp_path), report_only=True,
             merge=[str(tmp_path / "other.json")])
  saved = json.loads((tmp_path / "results.json").read_text())
  assert len(saved["records"]) == len(main["records"]) + 1
  assert saved["merged"][0]["records"] == 1
  assert "| ensemble | invariant |" in (
      tmp_path / "reproductions.md").read_text()
