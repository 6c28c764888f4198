r"""Rotation calibration: does built-in C4 invariance calibrate an ENN?

  python experiments/rotation_calibration.py --workdir /tmp/rotcal
  python experiments/rotation_calibration.py --cell c4_averaged
  python experiments/rotation_calibration.py --config.base.num_steps=100

A Sweep (``enn_sym.train.Sweep``) over the variants of
``configs/rotation_calibration.py`` (plain, C4-averaged, C8-averaged,
canonicalized, p4-CNN) on right-angle-rotated MNIST-5k: each variant is
evaluated on the test split and its C4 orbit, and its jitted forward pass is
timed. Writes ``results.json`` / ``results.md`` (the sweep's collection with
the forward cost added) and ``ece_vs_group_size.png``. Every flag of
``enn_sym.train.sweep_main`` works (``--list``, ``--array_index``,
``--report_only``).
"""

from __future__ import annotations

import os

from enn_sym import train

GROUP_SIZE = {"plain": 1, "c4_averaged": 4, "c8_averaged": 8,
              "canonicalized": 4, "p4cnn": 4}
COLUMNS = ("accuracy", "nll", "ece", "mutual_info", "orbit_ece",
           "invariance_tv_max", "flip_rate", "us_per_example")
_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                       "configs", "rotation_calibration.py")


def plot_ece_vs_group_size(path: str, results) -> None:
  """ECE against group size, one line per model over plain/C4/C8 averaging,
  the canonicalized and p4-CNN variants as separate markers at 4."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  ece = {(v, m): st["mean"]["ece"] for v, c in results["cells"].items()
         for m, st in c["models"].items()}
  fig, ax = plt.subplots(figsize=(5, 3.5))
  for i, model in enumerate(sorted({m for _, m in ece})):
    line = [(GROUP_SIZE[v], ece[v, model]) for v in
            ("plain", "c4_averaged", "c8_averaged") if (v, model) in ece]
    if line:
      ax.plot(*zip(*line), "o-", color=f"C{i}", label=f"{model}: averaged")
    for v, marker in (("canonicalized", "s"), ("p4cnn", "^")):
      if (v, model) in ece:
        ax.plot([GROUP_SIZE[v]], [ece[v, model]], marker, color=f"C{i}",
                label=f"{model}: {v}")
  ax.set_xscale("log", base=2)
  ax.set_xticks([1, 4, 8], labels=["1 (plain)", "4", "8"])
  ax.set_xlabel("group size")
  ax.set_ylabel("test ECE (mean over seeds)")
  ax.set_title("Rotated MNIST-5k: ECE vs invariance group")
  ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def report(sweep, config, workdir: str, results: dict) -> dict:
  """Adds each model's forward cost; writes the table and the figure."""
  for name, cell in results["cells"].items():
    for kind, st in cell["models"].items():
      st["us_per_example"] = train.forward_cost(
          sweep.cell(name).config, kind, config.timing_batch_size,
          config.timing_repeats)
  table = train.markdown_table(results, COLUMNS)
  train.write_results(workdir, results, table)
  if results["cells"]:
    plot_ece_vs_group_size(os.path.join(workdir, "ece_vs_group_size.png"),
                           results)
  print("\n" + table, flush=True)
  return results


def run(config, workdir: str, cells=()) -> dict:
  """Trains the selected variants (all by default) and reports."""
  return train.run_from_flags(config, workdir, cells, report_fn=report,
                              metrics=COLUMNS, environ={})


if __name__ == "__main__":
  train.sweep_main(default_config=_CONFIG,
                   default_workdir="workdir/rotation_calibration",
                   report_fn=report, metrics=COLUMNS)
