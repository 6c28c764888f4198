"""The loss study: one step of every CIFAR-10 grid cell under mock data, the
grid's resume logic and report, and the frozen-base epinet."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow_datasets as tfds

from enn_sym import data as dataset
from enn_sym import losses
from enn_sym import train
from enn_sym.train import _loop
from enn_sym.train import _models
from enn_sym.train import _steps
from enn_sym.train import _trainer
from tests import train_helpers
from tests.train_helpers import tiny_config


_load = train_helpers.load_file


study = _load("experiments/loss_study.py", "_loss_study")
CIFAR = _load("configs/loss_study_cifar10.py", "_ls_cifar").get_config
CPU = _load("configs/loss_study_mnist5k.py", "_ls_cpu").get_config


def _sweep(config):
  return train.Sweep.from_config(config)


def test_grids_and_cell_configs():
  cifar, cpu = CIFAR(), CPU()
  assert [c.name for c in _sweep(cifar).cells] == [
      f"{a}/{l}" for a in ("resnet18", "resnet50", "vgg16")
      for l in ("ce", "entropy_reg", "focal", "logit_l1")]  # sorted
  assert cifar.axes.loss.to_dict() == cpu.axes.loss.to_dict()
  for config in (cifar, cpu):
    for cell in _sweep(config).cells:
      cfg = cell.config
      train.validate_config(cfg)
      assert cfg.eval_every == config.steps_per_epoch  # ECE every epoch
      assert cfg.num_steps == config.num_epochs * config.steps_per_epoch
  cfg = _sweep(cifar).cell("resnet50/focal").config
  assert (cfg.model.base, cfg.loss.name, cfg.loss.gamma) == (
      "resnet50", "focal", 3.0)
  assert (cfg.optimizer.name, cfg.optimizer.momentum, cfg.loss.weight_decay,
          cfg.batch_size, cfg.num_steps) == ("sgd", 0.9, 5e-4, 128, 350 * 351)
  assert cifar.base.model.base == "resnet18"  # the base config is untouched
  with pytest.raises(train.ConfigError, match="Unknown cell 'resnet18/mse'"):
    _sweep(cifar).select(["resnet18/mse"])
  assert [c.name for c in _sweep(cifar).select(array_index=5)] == [
      "resnet50/entropy_reg"]
  with pytest.raises(train.ConfigError, match="out of range"):
    _sweep(cifar).select(array_index=12)
  # --config.num_epochs follows through to every cell's num_steps.
  cpu.num_epochs = 3
  assert _sweep(cpu).cells[0].config.num_steps == 3 * cpu.steps_per_epoch


def _fake_train(calls, steps_per_epoch):
  """A stand-in for train_and_evaluate that writes a cell's outputs."""

  def fake(cfg, workdir):
    calls.append(workdir)
    os.makedirs(os.path.join(workdir, "base", "checkpoints", "1"),
                exist_ok=True)
    with open(os.path.join(workdir, "metrics.jsonl"), "a") as f:
      for epoch in range(1, cfg.num_steps // steps_per_epoch + 1):
        rec = {"model": "base", "split": "test", "step": epoch *
               steps_per_epoch, "ece": 0.1 / epoch, "accuracy": 0.5,
               "nll": 1.0}
        f.write(json.dumps(rec) + "\n")
    seeds = list(cfg.seeds) or [cfg.seed]  # the engine's summary layout
    summary = {"base": {**{k: 0.5 for k in train._report.SUMMARY_KEYS},
                        "seeds": seeds, "per_seed": {
                            k: [0.5] * len(seeds)
                            for k in train._report.SUMMARY_KEYS}}}
    with open(os.path.join(workdir, "summary.json"), "w") as f:
      json.dump(summary, f)
    return summary

  return fake


def test_grid_resume_and_report(tmp_path):
  config = CPU()
  config.num_epochs = 3
  workdir = str(tmp_path)
  calls = []
  fake = _fake_train(calls, config.steps_per_epoch)
  study.run(config, workdir, ["resnet_basic/ce", "vgg/focal"], train_fn=fake)
  assert len(calls) == 2
  # A rerun of the whole grid trains only the 10 cells not done yet.
  results = study.run(config, workdir, train_fn=fake)
  assert len(calls) == 12 and len(set(calls)) == 12
  study.run(config, workdir, train_fn=fake)
  assert len(calls) == 12  # everything done: nothing trained
  assert len(results["cells"]) == 12
  curve = results["cells"]["vgg/focal"]["curves"]["base"]
  assert curve["epoch"] == [1.0, 2.0, 3.0]
  st = results["cells"]["vgg/focal"]["models"]["base"]
  assert (st["mean"]["min_ece"], st["mean"]["min_ece_epoch"]) == (0.1 / 3,
                                                                  3.0)
  table, versus = (tmp_path / "results.md").read_text().split(
      "\n\nDifference from `ce`, paired by seed:\n\n")
  assert table.count("\n") == 12 + 1
  # 3 archs x 3 losses x metrics, a header and a separator line.
  assert versus.strip().count("\n") + 1 == 9 * len(study.COMPARED) + 2
  assert os.path.getsize(tmp_path / "loss_study.png") > 10_000
  assert json.loads((tmp_path / "results.json").read_text()) == json.loads(
      json.dumps(results))
  again = study.run(config, workdir, report_only=True)
  assert again["cells"].keys() == results["cells"].keys()


def test_stopped_during_an_epoch_evaluation_keeps_every_epoch(tmp_path,
                                                              monkeypatch):
  """Regression: the checkpoint of an evaluation step was saved before the
  evaluation, so a run stopped during it resumed after that step and the
  epoch's test record was never written. Now evaluation comes first."""
  config = tiny_config(num_steps=4, eval_every=2, checkpoint_every=2,
                       log_every=2, temperature_scaling=False)
  workdir = str(tmp_path)
  evaluate = _trainer.ModelRun.evaluate

  def stopped(self, split, *args, **kwargs):
    if split == "test":
      raise KeyboardInterrupt  # killed during the evaluation at step 2
    return evaluate(self, split, *args, **kwargs)

  monkeypatch.setattr(_trainer.ModelRun, "evaluate", stopped)
  with pytest.raises(KeyboardInterrupt):
    train.train_and_evaluate(config, workdir)
  monkeypatch.setattr(_trainer.ModelRun, "evaluate", evaluate)
  train.train_and_evaluate(config, workdir)
  assert train.read_curves(workdir, 2)["base"]["epoch"] == [1.0, 2.0]


def test_curves_of_one_seed(tmp_path):
  lines = [{"model": "base", "split": "test", "step": st, "seed": sd,
            "ece": 0.1 * st + sd, "accuracy": 0.9, "nll": 0.3}
           for st in (1, 2) for sd in (3, 1)]
  (tmp_path / "metrics.jsonl").write_text(
      "".join(json.dumps(l) + "\n" for l in lines))
  assert train.read_curves(str(tmp_path))["base"]["ece"] == [1.1, 1.2]
  assert train.read_curves(str(tmp_path), seed=3)["base"]["ece"] == [
      pytest.approx(3.1), pytest.approx(3.2)]


def test_curves_keep_the_last_record_of_a_step(tmp_path):
  lines = [{"model": "base", "split": "test", "step": s, "ece": e,
            "accuracy": 0.9, "nll": 0.3}
           for s, e in ((27, 0.3), (54, 0.2), (54, 0.25), (81, 0.1))]
  lines.insert(1, {"model": "base", "split": "train", "step": 27,
                   "loss": 1.0})
  text = ["".join(json.dumps(l) + "\n" for l in lines[i:j])
          for i, j in ((0, 1), (1, None))]
  # A record cut short by a stopped run, then appended to by the resumed one.
  (tmp_path / "metrics.jsonl").write_text(
      text[0] + '{"model": "base", "split": "te' + text[1])
  curves = train.read_curves(str(tmp_path), 27)
  assert curves["base"]["epoch"] == [1.0, 2.0, 3.0]
  assert curves["base"]["ece"] == [0.3, 0.25, 0.1]


def _shrink(cfg, tmp_path):
  """One step, tiny widths: the full-width models are covered by the
  parameter-count tests."""
  cfg.model.num_filters = 2
  cfg.model.stage_sizes = (1,)
  cfg.num_steps = 1
  cfg.batch_size = 8
  cfg.eval_batch_size = 8
  cfg.eval_every = 1
  cfg.checkpoint_every = 1
  cfg.progress_bar = False
  cfg.plots = False
  cfg.metrics.joint_num_samples = 4
  cfg.data.data_dir = str(tmp_path / "tfds")
  return cfg


@pytest.mark.slow
def test_one_training_step_of_every_cifar10_cell_under_mock_data(tmp_path):
  """Every one of the 12 cells validates and takes one jitted train step on
  a mock CIFAR-10 batch through the pipeline's own data, model, loss and
  optimizer (at a tiny width; the full widths are covered by the parameter
  counts); one cell also runs train_and_evaluate end to end (eval,
  temperature, files) with its epinet variant on the frozen base."""
  config = CIFAR()
  sweep = _sweep(config)
  grid = [tuple(c.name.split("/")) for c in sweep.cells]
  cell_config = lambda arch, loss: sweep.cell(f"{arch}/{loss}").config
  for arch, loss in grid:
    train.validate_config(_shrink(cell_config(arch, loss), tmp_path))
  covering = list(grid)
  assert len(covering) == 12
  seen = set()
  mesh = _steps.make_mesh()
  with tfds.testing.mock_data(num_examples=16):
    data = _loop._Data(_shrink(cell_config("resnet18", "ce"),
                               tmp_path))
    assert data.image_shape == (32, 32, 3)
    batches = dataset.train_batches(data.local["train"], batch_size=8,
                                    seed=0, preprocess=data.train_preprocess,
                                    prefetch=0)
    batch = _steps.global_batch(next(batches), mesh)
    batches.close()
    states = {}
    for arch, loss in covering:
      cfg = _shrink(cell_config(arch, loss), tmp_path)
      seen.add((cfg.model.base, cfg.loss.name))
      spec = _models.make_model("base", cfg, 10)
      optimizer = _models.make_optimizer(cfg, "base")
      if arch not in states:  # One init per architecture (same optimizer).
        states[arch] = _steps.init_state(
            spec.enn, optimizer, _models.example_input(data.image_shape), 0,
            mesh)
      state = jax.tree.map(jnp.copy, states[arch])  # the step donates it
      step = _steps.make_train_step(_models.make_loss_fn(spec, cfg),
                                    optimizer, mesh)
      state, out = step(state, batch)
      assert int(state.step) == 1 and np.isfinite(float(out["loss"])), (
          arch, loss)
    # The epinet variant end to end: base, then an epinet on the frozen base.
    cfg = _shrink(cell_config("vgg16", "focal"), tmp_path)
    cfg.models = ("base", "epinet")
    cfg.model.epinet.freeze_base = True
    cfg.model.epinet.hidden_sizes = (4,)
    cfg.model.epinet.index_dim = 2
    cfg.model.epinet.prior = "mlp_ensemble"
    cfg.eval_num_indices = 2
    cfg.loss.num_index_samples = 2
    workdir = str(tmp_path / "vgg16" / "focal")
    summary = train.train_and_evaluate(cfg, workdir)
  assert set(summary) == {"base", "epinet"}
  for values in summary.values():
    assert 0.0 <= values["accuracy"] <= 1.0 and np.isfinite(values["nll"])
    assert 0.0 <= values["ece"] <= 1.0 and np.isfinite(values["ece_ts"])
  assert summary["epinet"]["mutual_info"] > 0
  assert {a for a, _ in seen} == {"resnet18", "resnet50", "vgg16"}
  assert len({l for _, l in seen}) == 4 and len(seen) == 12


def test_frozen_base_epinet_trains_only_the_head():
  config = tiny_config(models=("base", "epinet"), **{
      "model.base": "resnet18", "model.num_filters": 2,
      "model.stage_sizes": (1,), "model.epinet.freeze_base": True,
      "model.epinet.include_inputs": False, "optimizer.name": "sgd",
      "optimizer.learning_rate": 0.1})
  train.validate_config(config)
  mesh = _steps.make_mesh()
  x = jnp.zeros((1, 8, 8, 1))
  base_spec = _models.make_model("base", config, 10)
  base_state = _steps.init_state(base_spec.enn, _models.make_optimizer(
      config, "base"), x, 7, mesh)
  spec = _models.make_model("epinet", config, 10)
  optimizer = _models.make_optimizer(config, "epinet")
  state = _steps.init_state(spec.enn, optimizer, x, 0, mesh)
  variables = _models.frozen_base_variables(state.variables,
                                            base_state.variables)
  params = variables.pop("params")
  state = state.replace(params=params, state=variables)
  frozen = jax.tree.map(np.asarray, {
      "params": base_state.params,
      "batch_stats": base_state.state["batch_stats"]})
  head = jax.tree.map(np.asarray, state.params["head"])
  step = _steps.make_train_step(_models.make_loss_fn(spec, config),
                                optimizer, mesh)
  rng = np.random.default_rng(0)
  outs = []
  for _ in range(2):
    batch = {"image": rng.random((16, 8, 8, 1), np.float32),
             "label": rng.integers(0, 10, 16).astype(np.int32),
             "index": np.arange(16, dtype=np.int32)}
    state, out = step(state, _steps.global_batch(batch, mesh))
    outs.append(jax.tree.map(np.asarray, out))
  # Regression: the L2 term (and so the logged loss and grad_norm) covers
  # the trained head only, not the frozen base's constant weights.
  np.testing.assert_allclose(outs[0]["l2"], losses.l2_penalty(head),
                             rtol=1e-5)
  np.testing.assert_allclose(
      outs[0]["loss"], outs[0]["data_loss"]
      + config.loss.weight_decay * outs[0]["l2"], rtol=1e-5)
  after = {"params": state.params["base"]["base"],
           "batch_stats": state.state["batch_stats"]["base"]["base"]}
  for a, b in zip(jax.tree.leaves(frozen), jax.tree.leaves(after)):
    np.testing.assert_array_equal(a, b)  # bit-identical: weights and stats
  moved = [not np.array_equal(a, b) for a, b in zip(
      jax.tree.leaves(head), jax.tree.leaves(state.params["head"]))]
  assert all(moved)
  # The epinet's mean network is the trained base: same base logits.
  x = jnp.asarray(rng.random((4, 8, 8, 1), np.float32))
  z = spec.enn.indexer(jax.random.key(0))
  base_logits, out = jax.jit(lambda b, e: (
      base_spec.enn.apply(b, x, None).preds, spec.enn.apply(e, x, z)))(
          base_state.variables, state.variables)
  np.testing.assert_allclose(out.extra["base_logits"], base_logits, rtol=1e-5,
                             atol=1e-6)


# --- The over-training regime config and the per-seed curves ---------------

REGIME = _load("configs/loss_study_regime.py", "_ls_regime").get_config


def test_regime_grid_is_the_over_training_regime():
  config = REGIME()
  cells = {c.name: c.config for c in _sweep(config).cells}
  assert sorted(cells) == [f"lenet/{l}" for l in (
      "ce", "entropy_reg", "focal_g1", "focal_g2", "focal_g3", "logit_l1")]
  assert [cells[f"lenet/focal_g{g}"].loss.gamma for g in (1, 2, 3)] == [
      1.0, 2.0, 3.0]
  assert all(cells[f"lenet/focal_g{g}"].loss.name == "focal"
             for g in (1, 2, 3))
  # The shared losses have the CIFAR-10 grid's hyperparameters.
  grid = CIFAR().axes.loss.to_dict()
  for loss in ("ce", "entropy_reg", "logit_l1"):
    assert config.axes.loss[loss].to_dict() == grid[loss]
  assert len(config.seeds) >= 5
  for cfg in cells.values():
    train.validate_config(cfg)
    assert (cfg.optimizer.name, cfg.optimizer.schedule) == ("adam",
                                                            "constant")
    assert cfg.loss.weight_decay == 0.0
    assert cfg.early_stopping.patience == 0  # no early stopping, on purpose
    assert cfg.eval_every == config.steps_per_epoch == cfg.steps_per_call
    assert cfg.num_steps == config.num_epochs * config.steps_per_epoch
    assert cfg.model.base == "lenet" and cfg.data.name == "digits"
  # 539 train digits at batch 32: 16 steps per epoch.
  assert config.steps_per_epoch == 539 // cfg.batch_size == 16


def _write_seed_metrics(path, rows):
  path.mkdir(parents=True, exist_ok=True)
  (path / "metrics.jsonl").write_text("".join(
      json.dumps({"model": "base", "split": "test", **r}) + "\n"
      for r in rows))


def test_read_seed_curves_keeps_the_steps_of_every_seed(tmp_path):
  rows = [{"step": st, "seed": sd, "nll": 10 * sd + st, "ece": 0.1}
          for st in (2, 4) for sd in (1, 0)]
  rows.append({"step": 6, "seed": 0, "nll": 0.0, "ece": 0.1})  # seed 1 cut
  rows.append({"step": 4, "seed": 1, "nll": 99.0, "ece": 0.2})  # resumed
  rows.append({"model": "base", "split": "train", "step": 2, "seed": 0,
               "loss": 1.0})
  _write_seed_metrics(tmp_path, rows)
  curves = train.read_seed_curves(str(tmp_path), 2, keys=("nll", "ece"))
  assert curves["base"]["epoch"] == [1.0, 2.0]
  assert curves["base"]["seeds"] == [0, 1]
  assert curves["base"]["nll"] == [[2.0, 4.0], [12.0, 99.0]]
  assert curves["base"]["ece"] == [[0.1, 0.1], [0.1, 0.2]]
  assert train.read_seed_curves(str(tmp_path / "none")) == {}


def test_curve_band_is_the_t_interval_per_epoch():
  band = train.curve_band([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]])
  # Hand-computed: mean 2, sd 1, t_{0.975, 2} = 4.302653 -> 2.484138.
  assert band["mean"] == pytest.approx([2.0, 5.0])
  assert band["low"] == pytest.approx([2 - 2.484138, 5.0], abs=1e-6)
  assert band["high"] == pytest.approx([2 + 2.484138, 5.0], abs=1e-6)
  from scipy import stats  # pylint: disable=g-import-not-at-top
  lo, hi = stats.t.interval(0.95, 2, loc=2.0, scale=1 / np.sqrt(3))
  assert (band["low"][0], band["high"][0]) == pytest.approx((lo, hi))
  one = train.curve_band([[0.3, 0.4]])
  assert one["low"] == one["mean"] == one["high"] == [0.3, 0.4]
  with pytest.raises(ValueError, match="seeds x epochs"):
    train.curve_band([0.1, 0.2])


def test_curve_minima_per_seed():
  curve = {"epoch": [1.0, 2.0, 3.0, 4.0], "seeds": [0, 1, 2],
           "nll": [[0.5, 0.2, 0.3, 0.4], [0.3, 0.1, 0.1, float("nan")],
                   [float("nan")] * 4]}
  out = train.curve_minima(curve, "nll")
  assert out["min_nll"][:2] == [0.2, 0.1]
  assert out["min_nll_epoch"][:2] == [2.0, 2.0]  # the first of a tie
  assert out["nll_rise"][:2] == pytest.approx([0.2, 0.0])  # last finite
  assert all(np.isnan(out[k][2]) for k in out)


def test_add_per_seed_aligns_by_seed():
  st = {"seeds": [2, 0], "per_seed": {}, "mean": {}, "ci95": {}}
  train.add_per_seed(st, {"m": [1.0, 3.0]}, [0, 2])  # curve order 0, 2
  assert st["per_seed"]["m"] == [3.0, 1.0]
  assert st["mean"]["m"] == 2.0 and st["ci95"]["m"][0] < 2.0
  one = {"seeds": [0], "per_seed": {}, "mean": {}, "ci95": {}}
  train.add_per_seed(one, {"m": [4.0]}, [None])  # a run without seed ids
  assert one["per_seed"]["m"] == [4.0]
  with pytest.raises(ValueError, match="not all among"):
    train.add_per_seed(st, {"m": [1.0, 3.0]}, [0, 1])


def _fake_seed_train(calls):
  """train_and_evaluate's files for a seed-vmapped run: seed s of loss L has
  test NLL |epoch - 2| + offset and ECE ``ece(L) + 0.01 s`` every epoch."""
  ece = {"ce": 0.10, "focal_g2": 0.06}

  def fake(cfg, workdir):
    calls.append(workdir)
    loss = os.path.basename(workdir)
    seeds = list(cfg.seeds)
    with open(os.path.join(workdir, "metrics.jsonl"), "a") as f:
      for epoch in range(1, 5):
        for s in seeds:
          f.write(json.dumps({
              "model": "base", "split": "test", "seed": s, "step": 16 * epoch,
              "nll": abs(epoch - 2) + 0.1 * s, "accuracy": 0.9,
              "ece": ece.get(loss, 0.1) + 0.01 * s}) + "\n")
    per_seed = {k: [0.5] * len(seeds) for k in train._report.SUMMARY_KEYS}
    per_seed["ece"] = [ece.get(loss, 0.1) + 0.01 * s for s in seeds]
    summary = {"base": {**{k: 0.5 for k in train._report.SUMMARY_KEYS},
                        "seeds": seeds, "per_seed": per_seed}}
    with open(os.path.join(workdir, "summary.json"), "w") as f:
      json.dump(summary, f)
    return summary

  return fake


def test_regime_report_per_seed_curves_and_differences_from_ce(tmp_path):
  config = REGIME()
  config.num_epochs = 4
  calls = []
  results = study.run(config, str(tmp_path), ["lenet/ce", "lenet/focal_g2"],
                      train_fn=_fake_seed_train(calls))
  assert len(calls) == 2  # one seed-vmapped program per cell
  cell = results["cells"]["lenet/focal_g2"]
  curve = cell["seed_curves"]["base"]
  assert curve["seeds"] == list(config.seeds)
  assert curve["epoch"] == [1.0, 2.0, 3.0, 4.0]
  st = cell["models"]["base"]
  assert st["per_seed"]["min_nll_epoch"] == [2.0] * 5
  assert st["per_seed"]["nll_rise"] == pytest.approx([2.0] * 5)
  assert st["per_seed"]["min_ece"] == pytest.approx(
      [0.06 + 0.01 * s for s in config.seeds])
  rows = {(r["loss"], r["metric"]): r for r in results["versus_ce"]}
  ece = rows[("focal_g2", "ece")]  # 0.06 - 0.10 in every seed
  assert ece["mean"] == pytest.approx(-0.04) and ece["n"] == 5
  assert ece["conclusion"] == "lowers"
  assert rows[("focal_g2", "min_nll_epoch")]["conclusion"] == (
      "no measurable difference")
  assert "Difference from `ce`" in (tmp_path / "results.md").read_text()
  assert os.path.getsize(tmp_path / "loss_study_curves.png") > 10_000


def test_plot_curves_draws_a_band_per_loss(tmp_path, monkeypatch):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import axes as mpl_axes  # pylint: disable=g-import-not-at-top
  bands = []
  fill = mpl_axes.Axes.fill_between
  monkeypatch.setattr(mpl_axes.Axes, "fill_between", lambda self, x, lo, hi,
                      **kw: bands.append((list(lo), list(hi))) or fill(
                          self, x, lo, hi, **kw))
  curve = {"epoch": [1.0, 2.0], "seeds": [0, 1],
           "ece": [[0.1, 0.2], [0.3, 0.4]], "nll": [[1.0, 1.0], [1.0, 1.0]]}
  st = {"seeds": [0, 1], "per_seed": {}, "mean": {"ece_ts": 0.1},
        "ci95": {}}
  results = {"axes": {"loss": ["ce", "focal"]},
             "cells": {l: {"levels": {"loss": l}, "models": {"base": st},
                           "seed_curves": {"base": curve}}
                       for l in ("ce", "focal")}}
  path = tmp_path / "c.png"
  train.plot_curves(str(path), results, ("ece", "nll"),
                    final={"ece": "ece_ts"})
  assert path.stat().st_size > 5_000
  assert len(bands) == 4  # two losses x two metrics
  expected = train.curve_band(curve["ece"])
  assert bands[0] == (expected["low"], expected["high"])
  scales = []
  monkeypatch.setattr(mpl_axes.Axes, "set_yscale",
                      lambda self, v, **kw: scales.append(v))
  train.plot_curves(str(path), results, ("ece", "nll"), log_y=True)
  assert scales == ["log", "log"]  # one per row


@pytest.mark.slow
def test_regime_config_smoke(tmp_path):
  """Two cells of the regime config train for real at a tiny size (two
  seeds vmapped, two epochs) and the report has both seeds' curves."""
  config = REGIME()
  config.num_epochs = 2
  config.seeds = (0, 1)
  results = study.run(config, str(tmp_path), ["lenet/ce", "lenet/focal_g3"])
  assert set(results["cells"]) == {"lenet/ce", "lenet/focal_g3"}
  for cell in results["cells"].values():
    curve = cell["seed_curves"]["base"]
    assert curve["seeds"] == [0, 1] and curve["epoch"] == [1.0, 2.0]
    assert np.isfinite(np.asarray(curve["nll"])).all()
    assert cell["models"]["base"]["stop_reason"] == ["max_steps"] * 2
  assert {r["metric"] for r in results["versus_ce"]} == set(study.COMPARED)
