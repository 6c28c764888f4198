"""Tests of enn_sym.train.Trainer: seeds, fused steps, early stopping,
checkpoints (finite, verified, fallback), workdirs tied to their config."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from enn_sym import data
from enn_sym import train
from enn_sym.train import _checkpoints
from enn_sym.train import _models
from tests.train_helpers import tiny_config

METRICS = ("accuracy", "nll", "ece", "brier", "joint_nll", "mutual_info",
           "ece_ts", "temperature")


def _per_seed(summary, kind, i):
  return {k: summary[kind]["per_seed"][k][i] for k in METRICS}


def _steps(workdir, kind="base"):
  return _checkpoints.CheckpointStore(
      os.path.join(workdir, kind, "checkpoints"), 10).steps()


@pytest.mark.slow
def test_vmapped_seeds_equal_separate_runs(tmp_path):
  common = dict(models=("epinet",), num_steps=6, **{
      "loss.bootstrap": "bernoulli"})
  together = train.train_and_evaluate(
      tiny_config(seeds=(3, 0, 5), **common), str(tmp_path / "all"))
  assert together["epinet"]["seeds"] == [3, 0, 5]
  for i, seed in enumerate((3, 0, 5)):
    alone = train.train_and_evaluate(tiny_config(seed=seed, **common),
                                     str(tmp_path / f"s{seed}"))
    assert alone["epinet"]["seeds"] == [seed]
    want, got = _per_seed(alone, "epinet", 0), _per_seed(together, "epinet", i)
    for k in METRICS:
      np.testing.assert_allclose(got[k], want[k], rtol=1e-5, atol=1e-6,
                                 err_msg=f"seed {seed} {k}")
  # Different seeds give different models (the seed axis is not shared).
  assert len(set(together["epinet"]["per_seed"]["nll"])) == 3
  mean = np.mean(together["epinet"]["per_seed"]["nll"])
  assert together["epinet"]["nll"] == pytest.approx(mean)
  lo, hi = together["epinet"]["ci95"]["nll"]
  assert lo < mean < hi


@pytest.mark.slow
def test_mc_dropout_vmapped_seeds_equal_separate_runs(tmp_path):
  # MC dropout draws its training masks from each seed's step key and its
  # evaluation masks (the indices) from each seed's eval key: a seeds=(4, 1)
  # run must give seed s exactly what a seed=s run gives.
  common = dict(models=("dropout",), num_steps=3, temperature_scaling=False)
  seeds = (4, 1)
  together = train.Trainer(tiny_config(seeds=seeds, **common),
                           str(tmp_path / "all"))
  together.train()
  got, got_params = together.evaluate("test"), together.runs[
      "dropout"].state.train.params
  # Dropout is on at evaluation (the masks differ, so the predictions carry
  # mutual information): the test is not that of a deterministic base.
  assert np.all(got["mutual_info"] > 1e-4)
  for i, seed in enumerate(seeds):
    alone = train.Trainer(tiny_config(seed=seed, **common),
                          str(tmp_path / f"s{seed}"))
    alone.train()
    want = alone.evaluate("test")
    for a, b in zip(jax.tree.leaves(got_params), jax.tree.leaves(
        alone.runs["dropout"].state.train.params)):
      np.testing.assert_allclose(a[i], b[0], rtol=1e-5, atol=1e-6)
    for k in ("accuracy", "nll", "ece", "brier", "joint_nll", "mutual_info"):
      np.testing.assert_allclose(got[k][i], want[k][0], rtol=1e-5, atol=1e-6,
                                 err_msg=f"seed {seed} {k}")
  assert got["nll"][0] != got["nll"][1]  # The seed axis is not shared.


@pytest.mark.slow
def test_extra_indices_cost_only_the_epinet_head(tmp_path):
  # The cost model behind bench_core's epinet_k8_over_k1: under vmap over
  # the K indices only the head's index-dependent part runs K times. Its
  # output layer (hidden 8 -> classes 10 x index_dim 3 on K x B rows) takes
  # 3 matmuls (forward, two backward) of 2 * B * 8 * 30 flops per index;
  # recomputing the base (784 -> 16 per example) per index would add more
  # than 100x that.
  def flops(k):
    config = tiny_config(models=("epinet",), **{"loss.num_index_samples": k})
    run = train.Trainer(config, str(tmp_path / f"k{k}")).runs["epinet"]
    return run.step_cost()["flops"]

  head = 3 * 2 * 16 * 8 * 30 * (4 - 1)
  extra = flops(4) - flops(1)
  assert head <= extra <= 2 * head, (extra, head)


def test_summary_ci95_is_the_student_t_interval():
  from enn_sym.train import _report  # pylint: disable=g-import-not-at-top
  values = np.asarray([1.0, 2.0, 4.0])
  # t_{0.975, 2} = 4.302652729911275 (tables); std (ddof 1) = 1.5275252.
  half = 4.302652729911275 * 1.5275252316519468 / np.sqrt(3)
  lo, hi = _report.ci95(values)
  assert lo == pytest.approx(7 / 3 - half) and hi == pytest.approx(7 / 3 + half)
  assert _report.ci95([0.5]) == (0.5, 0.5)


@pytest.mark.slow
@pytest.mark.parametrize("on_device", [True, False])
def test_fused_steps_equal_single_steps(tmp_path, on_device):
  common = dict(models=("epinet",), num_steps=8, log_every=4,
                checkpoint_every=4, seeds=(0, 1),
                **{"data.on_device": on_device})
  one = train.Trainer(tiny_config(steps_per_call=1, **common),
                      str(tmp_path / "one"))
  one.train()
  four = train.Trainer(tiny_config(steps_per_call=4, **common),
                       str(tmp_path / "four"))
  four.train()
  a, b = one.runs["epinet"].state, four.runs["epinet"].state
  assert a.step == b.step == 8
  for x, y in zip(jax.tree.leaves(a.train.params),
                  jax.tree.leaves(b.train.params)):
    np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7)
  assert four.runs["epinet"].num_traces == 1  # One program for all calls.
  assert _steps(str(tmp_path / "four"), "epinet") == [4, 8]


def test_on_device_and_host_data_give_the_same_run(tmp_path):
  results = []
  for on_device in (True, False):
    trainer = train.Trainer(tiny_config(
        num_steps=5, seeds=(0, 2), **{"data.on_device": on_device}),
        str(tmp_path / str(on_device)))
    assert trainer.data.on_device_ok() == on_device
    trainer.train()
    results.append(trainer.runs["base"].state.train.params)
  for x, y in zip(*map(jax.tree.leaves, results)):
    np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)


def test_train_step_compiles_once(tmp_path):
  trainer = train.Trainer(tiny_config(models=("epinet",), num_steps=6,
                                      eval_every=2, checkpoint_every=3),
                          str(tmp_path))
  trainer.train()
  assert trainer.runs["epinet"].num_traces == 1


@pytest.mark.slow
def test_early_stopping_keeps_the_best_checkpoint(tmp_path):
  """Each seed stops on its own; the final evaluation is that of the best
  validation step, i.e. of a run that trained exactly best_step steps."""
  es = {"early_stopping.patience": 2, "optimizer.learning_rate": 0.05,
        "optimizer.schedule": "constant", "eval_every": 2,
        "checkpoint_every": 2, "log_every": 2, "num_steps": 40,
        "seeds": (0, 1), "temperature_scaling": False}
  summary = train.train_and_evaluate(tiny_config(**es), str(tmp_path / "es"))
  base = summary["base"]
  assert set(base["stop_reason"]) <= {"early_stopping", "max_steps"}
  assert "early_stopping" in base["stop_reason"]
  for i, seed in enumerate((0, 1)):
    best, trained = base["best_step"][i], base["steps_trained"][i]
    assert best % 2 == 0 and 0 < best <= trained
    if base["stop_reason"][i] == "early_stopping":
      assert trained == best + 2 * 2  # patience evaluations after the best
    ref = train.train_and_evaluate(tiny_config(**{
        **es, "early_stopping.patience": 0, "num_steps": best,
        "seeds": (seed,)}), str(tmp_path / f"ref{seed}"))
    for k in ("nll", "accuracy", "ece"):
      np.testing.assert_allclose(base["per_seed"][k][i],
                                 ref["base"]["per_seed"][k][0], rtol=1e-5)
  with open(tmp_path / "es" / "metrics.jsonl") as f:
    val = [json.loads(l) for l in f if '"validation"' in l]
  assert val and all(np.isfinite(r["nll"]) for r in val)


def test_early_stopping_needs_a_validation_split():
  with pytest.raises(train.ConfigError, match="validation split"):
    train.validate_config(tiny_config(**{
        "early_stopping.patience": 3, "data.fractions": (0.8, 0.0, 0.2)}))


# -- non-finite ------------------------------------------------------------

_DIVERGE = {"optimizer.name": "sgd", "optimizer.learning_rate": 1e30,
            "optimizer.schedule": "constant", "optimizer.momentum": 0.0}


def _check_every_checkpoint_continues(workdir, config):
  """Each checkpoint restores to finite params with a finite next loss."""
  trainer = train.Trainer(config, workdir)
  run = trainer.runs["base"]
  template = run.fresh_state()
  steps = run.ckpt.steps()
  for step in steps:
    leaves = run.ckpt._load(step, template)  # pylint: disable=protected-access
    rs = jax.tree.unflatten(jax.tree.structure(template), leaves)
    params = jax.tree.leaves(rs.train.params)
    assert all(np.all(np.isfinite(p)) for p in params), step
    loss_fn = _models.make_loss_fn(run.spec, config)
    ts = jax.tree.map(lambda x: x[0], rs.train)
    positions = data.epoch_permutation(len(trainer.data.splits["train"]),
                                       seed=0, epoch=0)[:config.batch_size]
    batch = trainer.data.splits["train"].get_batch(positions)
    key = jax.random.fold_in(jax.random.wrap_key_data(ts.rng), ts.step)
    loss, _ = loss_fn(ts.params, ts.state, jax.tree.map(jnp.asarray, batch),
                      key)
    assert np.isfinite(loss), step
  return steps


def test_non_finite_keeps_only_checkpoints_training_can_continue_from(
    tmp_path):
  config = tiny_config(num_steps=50, log_every=1, checkpoint_every=1,
                       **_DIVERGE)
  with pytest.raises(train.NonFiniteLossError) as info:
    train.train_and_evaluate(config, str(tmp_path))
  message = str(info.value)
  steps = _check_every_checkpoint_continues(str(tmp_path), config)
  # SGD at lr 1e30: step 1 is finite (loss of the initial weights), its
  # update gives huge weights whose loss is inf, so step 1 must not be kept.
  assert steps == []
  assert "none exists" in message and "step" in message
  assert "resume_changes" in message and "--workdir" in message


@pytest.mark.slow
def test_non_finite_message_names_the_real_last_good_checkpoint(tmp_path):
  # Sane SGD for 20 steps, then the step schedule multiplies lr by 1e33.
  config = tiny_config(num_steps=40, log_every=1, checkpoint_every=1, **{
      **_DIVERGE, "optimizer.learning_rate": 1e-3,
      "optimizer.schedule": "step", "optimizer.step_boundaries": (0.5,),
      "optimizer.step_factor": 1e33})
  with pytest.raises(train.NonFiniteLossError) as info:
    train.train_and_evaluate(config, str(tmp_path))
  steps = _check_every_checkpoint_continues(str(tmp_path), config)
  assert steps, "the run diverged before its first checkpoint"
  assert f"last good checkpoint is step {steps[-1]}" in str(info.value)
  bad = int(str(info.value).split("at step ")[1].split(")")[0])
  assert bad > steps[-1]
  # Step 21 (lr 1e30) gives finite but huge weights whose loss is inf: its
  # checkpoint is refused, so step 20 is the last good one.
  assert steps[-1] == 20 and bad == 22
  # Continuing with a changed schedule is an explicit, recorded choice.
  config.optimizer.step_factor = 0.1
  with pytest.raises(train.ConfigError, match="optimizer.step_factor"):
    train.Trainer(config, str(tmp_path))
  config.resume_changes = ("optimizer.step_factor",)
  trainer = train.Trainer(config, str(tmp_path))
  assert trainer.init_or_restore() == {"base": steps[-1]}
  trainer.train()
  assert trainer.runs["base"].state.step == 40
  with open(tmp_path / "config.json") as f:
    stored = json.load(f)
  assert stored["history"][-1]["changed"] == {
      "optimizer.step_factor": [1e33, 0.1]}


# -- workdir config --------------------------------------------------------


def test_workdir_is_tied_to_its_config(tmp_path, capsys):
  workdir = str(tmp_path)
  train.train_and_evaluate(tiny_config(num_steps=2, checkpoint_every=2),
                           workdir)
  for key, value in [("optimizer.learning_rate", 0.5), ("seed", 3),
                     ("num_steps", 4), ("loss.name", "focal"),
                     ("model.mlp_hidden_sizes", (8,))]:
    with pytest.raises(train.ConfigError) as info:
      train.Trainer(tiny_config(**{"num_steps": 2, key: value}), workdir)
    line = str(info.value)
    assert "\n" not in line and key in line
    assert "--workdir" in line and "--config.resume=False" in line
  # Fields that do not change the trained model do not block a resume.
  trainer = train.Trainer(tiny_config(num_steps=2, eval_every=7, plots=True,
                                      progress_bar=False, log_every=2),
                          workdir)
  assert trainer.init_or_restore() == {"base": 2}
  # resume=False moves the old outputs aside, deleting nothing.
  old = os.listdir(os.path.join(workdir, "base", "checkpoints"))
  trainer = train.Trainer(tiny_config(num_steps=2, resume=False,
                                      **{"optimizer.learning_rate": 0.5}),
                          workdir)
  assert "moved the previous outputs" in capsys.readouterr().err
  assert trainer.init_or_restore() == {"base": 0}
  (moved,) = os.listdir(os.path.join(workdir, "superseded"))
  kept = os.path.join(workdir, "superseded", moved)
  assert os.listdir(os.path.join(kept, "base", "checkpoints")) == old
  assert os.path.exists(os.path.join(kept, "config.json"))


def test_resume_changes_are_limited_to_optimizer_settings():
  with pytest.raises(train.ConfigError, match="resume_changes"):
    train.validate_config(tiny_config(resume_changes=("model.base",)))


# -- corrupt checkpoints ---------------------------------------------------


def _corrupt(path, how):
  if how == "delete":
    os.remove(path)
  elif how == "truncate":
    with open(path, "r+b") as f:
      f.truncate(os.path.getsize(path) // 2)
  else:
    size = os.path.getsize(path)
    with open(path, "wb") as f:
      f.write(b"\0" * size)


@pytest.mark.parametrize("how,name", [
    ("truncate", "arrays.npz"), ("delete", "arrays.npz"),
    ("zero", "arrays.npz"), ("delete", "manifest.json"),
    ("zero", "manifest.json")])
def test_corrupt_latest_checkpoint_falls_back(tmp_path, capsys, how, name):
  workdir = str(tmp_path)
  config = tiny_config(num_steps=4, checkpoint_every=2, keep_checkpoints=3)
  trainer = train.Trainer(config, workdir)
  trainer.train()
  want = jax.device_get(trainer.runs["base"].state)
  assert _steps(workdir) == [2, 4]
  # Zero-filled arrays with a valid manifest would restore zeros without the
  # hash; a zero-filled manifest is not JSON.
  _corrupt(os.path.join(workdir, "base", "checkpoints", "4", name), how)
  capsys.readouterr()
  trainer = train.Trainer(config, workdir)
  assert trainer.init_or_restore() == {"base": 2}
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "checkpoint step 4" in err[0]
  # Resuming from step 2 retrains steps 3 and 4 exactly.
  trainer.train()
  got = jax.device_get(trainer.runs["base"].state)
  for x, y in zip(jax.tree.leaves(want), jax.tree.leaves(got)):
    np.testing.assert_array_equal(x, y)


def test_no_intact_checkpoint_is_one_line(tmp_path):
  workdir = str(tmp_path)
  config = tiny_config(num_steps=4, checkpoint_every=2)
  train.Trainer(config, workdir).train()
  for step in (2, 4):
    _corrupt(os.path.join(workdir, "base", "checkpoints", str(step),
                          "arrays.npz"), "truncate")
  with pytest.raises(train.CheckpointError) as info:
    train.Trainer(config, workdir).init_or_restore()
  assert "\n" not in str(info.value) and "no intact checkpoint" in str(
      info.value)


def test_resume_writes_no_duplicate_records(tmp_path):
  workdir = str(tmp_path)
  config = tiny_config(num_steps=6, log_every=1, checkpoint_every=2,
                       eval_every=1)
  train.train_and_evaluate(config, workdir)
  # Pretend the run was stopped after step 5: its checkpoint 6 is lost.
  import shutil  # pylint: disable=g-import-not-at-top
  shutil.rmtree(os.path.join(workdir, "base", "checkpoints", "6"))
  train.train_and_evaluate(config, workdir)
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    records = [json.loads(l) for l in f]
  keys = [(r["split"], r["step"], r.get("final", False)) for r in records
          if r["split"] != "restore"]
  assert len(keys) == len(set(keys)), "duplicate records after resume"
  assert ("train", 6, False) in keys and ("test", 6, True) in keys


def test_train_subset_is_class_stratified(tmp_path):
  labels = np.repeat(np.arange(3), [50, 30, 20])
  pos = data.stratified_subset(labels, 10, seed=0)
  assert list(np.bincount(labels[pos])) == [5, 3, 2]
  assert len(set(pos)) == 10
  # Largest remainders: 7 of (50, 30, 20) -> exact (3.5, 2.1, 1.4) -> 4, 2, 1.
  assert list(np.bincount(labels[data.stratified_subset(labels, 7, seed=1)])
              ) == [4, 2, 1]
  trainer = train.Trainer(tiny_config(**{"data.train_size": 100}),
                          str(tmp_path))
  full = train.Trainer(tiny_config(), str(tmp_path / "full"))
  assert len(trainer.data.splits["train"]) == 100
  for split in ("validation", "test"):
    np.testing.assert_array_equal(trainer.data.splits[split].index,
                                  full.data.splits[split].index)
  with pytest.raises(train.ConfigError, match="train_size"):
    train.Trainer(tiny_config(**{"data.train_size": 10**6}),
                  str(tmp_path / "big"))


@pytest.mark.slow
def test_augment_group_changes_training_only_by_group_elements(tmp_path):
  """With C4 augmentation and a C4-invariant model, training equals plain
  training (the model cannot see the rotation); without invariance not."""
  inv = {"symmetry.group": "c4", "symmetry.placement": "base",
         "num_steps": 3}
  plain = train.Trainer(tiny_config(**inv), str(tmp_path / "a"))
  plain.train()
  aug = train.Trainer(tiny_config(**{**inv, "data.augment_group": "c4"}),
                      str(tmp_path / "b"))
  aug.train()
  for x, y in zip(jax.tree.leaves(plain.runs["base"].state.train.params),
                  jax.tree.leaves(aug.runs["base"].state.train.params)):
    np.testing.assert_allclose(x, y, rtol=2e-4, atol=1e-6)
  raw = train.Trainer(tiny_config(num_steps=3, **{"data.augment_group": "c4"}),
                      str(tmp_path / "c"))
  raw.train()
  diff = max(float(np.max(np.abs(x - y))) for x, y in zip(
      jax.tree.leaves(plain.runs["base"].state.train.params),
      jax.tree.leaves(raw.runs["base"].state.train.params)))
  assert diff > 1e-4


@pytest.mark.slow
def test_predict_and_evaluate_shapes(tmp_path):
  trainer = train.Trainer(tiny_config(models=("epinet", "base"), seeds=(0, 1),
                                      num_steps=2), str(tmp_path))
  trainer.train()
  out = trainer.predict("test", kind="epinet")
  n = len(trainer.data.splits["test"])
  assert out["logits"].shape == (2, 3, n, 10) and out["labels"].shape == (n,)
  metrics = trainer.evaluate("test", kind="epinet")
  assert metrics["nll"].shape == (2,)
  with pytest.raises(train.ConfigError, match="pass kind="):
    trainer.predict("test")


@pytest.mark.slow
def test_batchnorm_ensemble_members_keep_their_own_statistics(tmp_path):
  config = tiny_config(models=("ensemble",), num_steps=2, seeds=(0, 1), **{
      "model.base": "resnet18", "model.stage_sizes": (1, 1),
      "model.num_filters": 4, "model.ensemble.num_ensemble": 3})
  trainer = train.Trainer(config, str(tmp_path))
  run = trainer.runs["ensemble"]
  before = jax.device_get(run.fresh_state().train.state["batch_stats"])
  trainer.train()
  after = jax.device_get(run.state.train.state["batch_stats"])
  for old, new in zip(jax.tree.leaves(before), jax.tree.leaves(after)):
    assert old.shape[:2] == (2, 3)  # [seeds, members, ...]
    for s in range(2):
      for m in range(3):  # Every member's statistics were updated ...
        assert not np.allclose(old[s, m], new[s, m])
      # ... to values of its own.
      assert not np.allclose(new[s, 0], new[s, 1])
  # One step by hand: member m's statistics are those of the base run in
  # training mode with member m's weights on the batch.
  config.num_steps = 1
  one = train.Trainer(config, str(tmp_path / "one"))
  rs = one.runs["ensemble"].fresh_state()
  one.train()
  got = jax.device_get(one.runs["ensemble"].state.train.state["batch_stats"])
  ts = jax.tree.map(lambda x: x[0], rs.train)
  pos = data.epoch_permutation(len(one.data.splits["train"]), seed=0,
                               epoch=0)[:config.batch_size]
  x = jnp.asarray(one.data.splits["train"].get_batch(pos)["image"])
  enn = one.runs["ensemble"].spec.enn
  for m in range(3):
    out = enn.apply({**ts.state, "params": ts.params}, x, jnp.int32(m),
                    train=True, rngs={"dropout": jax.random.key(0)})
    want = out.extra["batch_stats"]
    for w, g in zip(jax.tree.leaves(want), jax.tree.leaves(got)):
      np.testing.assert_allclose(g[0, m], w[m], rtol=1e-5, atol=1e-6)
