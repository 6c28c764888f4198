r"""The calibration-loss study: architectures x losses, ECE over training.

  python experiments/loss_study.py                   # CPU-scale grid (mnist5k)
  python experiments/loss_study.py --config configs/loss_study_cifar10.py \
      --workdir /data/loss_study --config.base.model.dtype=bfloat16
  # One cell per task of a job array (reads $SLURM_ARRAY_TASK_ID), then:
  python experiments/loss_study.py --config configs/loss_study_cifar10.py \
      --workdir /data/loss_study --report_only
  python experiments/loss_study.py --list            # the cells, numbered

A Sweep (``enn_sym.train.Sweep``, see docs/sweeps.md) over ``arch x loss``:
each cell ``<arch>/<loss>`` is a ``train_and_evaluate`` run in
``<workdir>/<arch>/<loss>`` with test ECE, accuracy and NLL after every
epoch (``eval_every = steps_per_epoch``) and temperature scaling on the
validation split at the end. Finished cells are skipped, unfinished ones
resume from their checkpoints. The report (``results.json``, ``results.md``,
``loss_study.png``: ECE against epoch, one panel per architecture, one line
per loss; ``loss_study_curves.png``: test ECE and NLL against epoch, mean
over seeds with 95% CI bands; the differences from ``ce`` paired by seed)
covers whatever cells are finished.

  python experiments/loss_study.py --config configs/loss_study_regime.py \
      --workdir /tmp/loss_study_regime   # the over-training regime (digits)
"""

from __future__ import annotations

import os

from enn_sym import train

COLUMNS = ("accuracy", "nll", "ece", "ece_ts", "temperature", "min_ece",
           "min_ece_epoch", "min_nll", "min_nll_epoch", "nll_rise")
# Differences from cross-entropy, paired by seed.
COMPARED = ("ece", "ece_ts", "nll", "accuracy", "min_nll", "min_nll_epoch")
LOSS_STYLE = {"ce": "tab:blue", "entropy_reg": "tab:orange",
              "logit_l1": "tab:green", "focal": "tab:red",
              "focal_g1": "tab:pink", "focal_g2": "tab:purple",
              "focal_g3": "tab:red"}
_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                       "configs", "loss_study_mnist5k.py")


def add_curves(sweep, config, workdir: str, results: dict) -> None:
  """Each model's test curves (``curves``: its first seed; ``seed_curves``:
  every seed) and per seed the lowest test ECE and NLL, their epochs and
  how far the NLL rose again by the end (``nll_rise``)."""
  for name, cell in results["cells"].items():
    run_dir = sweep.run_dirs(workdir, sweep.cell(name))[0]
    cell["curves"] = train.read_curves(run_dir, int(config.steps_per_epoch))
    seed_curves = train.read_seed_curves(run_dir, int(config.steps_per_epoch))
    cell["seed_curves"] = seed_curves
    for model, st in cell["models"].items():
      curve = seed_curves.get(model)
      if curve and curve["epoch"]:
        train.add_per_seed(st, {**train.curve_minima(curve, "ece"),
                                **train.curve_minima(curve, "nll")},
                           curve["seeds"])


def plot(path: str, config, results: dict) -> None:
  """ECE against epoch: one panel per architecture, one line per loss
  (solid: base model; dashed: epinet). The temperature-scaled final ECE of
  each line is a hollow marker in a column right of the last epoch, one
  column per line (they never overlap); the legend sits below the panels."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  archs = results["axes"]["arch"]
  fig, axes = plt.subplots(1, len(archs), figsize=(4.2 * len(archs), 4.2),
                           sharey=True, squeeze=False, layout="constrained")
  handles = {}
  for ax, arch in zip(axes[0], archs):
    lines = [(loss, model, curve, results["cells"][f"{arch}/{loss}"])
             for loss in results["axes"]["loss"]
             if f"{arch}/{loss}" in results["cells"]
             for model, curve in results["cells"][f"{arch}/{loss}"][
                 "curves"].items()]
    lines = [l for l in lines if l[1] in l[3]["models"] and l[2]["epoch"]]
    last = max((c["epoch"][-1] for _, _, c, _ in lines), default=1.0)
    gap = 0.06 * last  # Marker columns: last + gap, last + 2 gap, ...
    for i, (loss, model, curve, cell) in enumerate(lines):
      style, color = ("-" if model == "base" else "--"), LOSS_STYLE.get(loss)
      label = loss if model == "base" else f"{loss} ({model})"
      handles[label], = ax.plot(curve["epoch"], curve["ece"], style,
                                color=color, lw=1.4)
      ax.plot([last + gap * (i + 1)], [cell["models"][model]["mean"][
          "ece_ts"]], "o", mfc="none", color=color, ms=6)
    if lines:
      ax.axvline(last + gap / 2, color="0.7", lw=0.8)
      ax.set_xlim(right=last + gap * (len(lines) + 1))
    ax.set_title(arch)
    ax.set_xlabel("epoch (right of the line: after temperature scaling)")
    ax.grid(alpha=0.3)
  axes[0][0].set_ylabel("test ECE (o: after temperature scaling)")
  if handles:
    handles["after temperature scaling"], = axes[0][0].plot(
        [], [], "o", mfc="none", color="0.3")
    fig.legend(list(handles.values()), list(handles), loc="outside lower "
               "center", ncol=min(len(handles), 5), fontsize=8, frameon=False)
  fig.suptitle(config.get("figure_title", "test ECE during training"))
  fig.savefig(path, dpi=90)
  plt.close(fig)


def report(sweep, config, workdir: str, results: dict) -> dict:
  """Adds the curves; writes ``results.json``, ``results.md`` and the
  figure."""
  add_curves(sweep, config, workdir, results)
  table = train.markdown_table(results, COLUMNS)
  if "ce" in results["axes"]["loss"]:
    results["versus_ce"] = train.compare(results, "loss", "ce", COMPARED)
    table += "\n\nDifference from `ce`, paired by seed:\n\n" + (
        train.comparison_table(results["versus_ce"], ("arch", "loss",
                                                      "model", "metric")))
  train.write_results(workdir, results, table)
  if results["cells"]:
    plot(os.path.join(workdir, "loss_study.png"), config, results)
    train.plot_curves(os.path.join(workdir, "loss_study_curves.png"), results,
                      ("ece", "nll"), line_axis="loss", colors=LOSS_STYLE,
                      final={"ece": "ece_ts"}, log_y=True,
                      title=config.get("figure_title", None))
  print("\n" + table, flush=True)
  return results


def run(config, workdir: str, cells=(), train_fn=None, report_only=False
        ) -> dict:
  """Trains the selected cells (all by default) and reports."""
  return train.run_from_flags(config, workdir, cells, report_fn=report,
                              train_fn=train_fn, report_only=report_only,
                              metrics=COLUMNS, environ={})


if __name__ == "__main__":
  train.sweep_main(default_config=_CONFIG, default_workdir="workdir/loss_study",
                   report_fn=report, metrics=COLUMNS,
                   default_cache="<workdir>/jax_cache")
