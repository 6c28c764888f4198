r"""Point-cloud calibration: an SO(3)-invariant VN-MLP epinet vs an MLP one.

  python experiments/point_cloud_calibration.py --workdir /tmp/pccal

A Sweep over the variants of ``configs/point_cloud_calibration.py``: epinets
with an unconstrained MLP base and with a Vector-Neuron MLP base (plain, and
with ``vn_chiral=True``) on SO(3)-rotated 3D tetris shapes; the table of
``rotation_calibration`` (accuracy, NLL, ECE, MI, ECE per sampled rotation,
invariance error, flip rate, forward cost).

The chiral pair: ``chiral_shape_1`` and ``chiral_shape_2`` (labels 0 and 1)
are mirror images. Rotations never map one onto the other, so an SO(3)-
invariant model can separate them, but a model invariant to reflections as
well (O(3)) cannot. Vector-Neuron networks built only from inner products
are O(3)-invariant; ``enn_sym.train.class_probe`` gives the accuracy on
labels 0/1, how often they are swapped, and their mutual information, so
that a VN-MLP without the chiral (cross-product) features shows up as chance
on that pair.

Writes ``results.json``, ``results.md`` and ``ece_per_rotation.png``.
"""

from __future__ import annotations

import os

from enn_sym import train
import numpy as np

CHIRAL = (0, 1)
COLUMNS = ("accuracy", "nll", "ece", "mutual_info", "orbit_ece",
           "invariance_tv_max", "flip_rate", "us_per_example")
PROBE = ("acc_in", "swap_rate", "acc_out", "mutual_info_in",
         "mutual_info_out")
_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                       "configs", "point_cloud_calibration.py")


def plot(path: str, results: dict) -> None:
  """Test ECE per sampled rotation (element 0 = identity) per variant."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(5, 3.5))
  for name, cell in results["cells"].items():
    for model, st in cell["models"].items():
      ece = st["mean"].get("orbit_ece")
      if ece is not None:
        ax.plot(np.arange(len(ece)), ece, "o-", label=(
            f"{name}/{model} (ECE {st['mean']['ece']:.3f})"))
  ax.set_xlabel("rotation (0 = identity, others sampled from SO(3))")
  ax.set_ylabel("test ECE")
  ax.set_title("Tetris (SO(3)-rotated): ECE per rotation")
  ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def report(sweep, config, workdir: str, results: dict) -> dict:
  """Adds the forward cost and the chiral-pair probe; writes the outputs."""
  for name, cell in results["cells"].items():
    for kind, st in cell["models"].items():
      st["us_per_example"] = train.forward_cost(
          sweep.cell(name).config, kind, config.timing_batch_size,
          config.timing_repeats)
  probes = train.probe_cells(sweep, workdir, results, CHIRAL)
  results["probes"] = probes
  text = (train.markdown_table(results, COLUMNS) + "\n\n"
          + train.probe_table(probes, PROBE)
          + "\n\nChiral pair (labels 0/1, mirror images): acc_in is the "
          "accuracy on them, swap_rate how often one is predicted as the "
          "other; an O(3)-invariant model is at chance (swap ~0.5) there.")
  train.write_results(workdir, results, text)
  if results["cells"]:
    plot(os.path.join(workdir, "ece_per_rotation.png"), results)
  print("\n" + text, flush=True)
  return results


def run(config, workdir: str, cells=()) -> dict:
  """Trains the selected variants (all by default) and reports."""
  return train.run_from_flags(config, workdir, cells, report_fn=report,
                              metrics=COLUMNS, environ={})


if __name__ == "__main__":
  train.sweep_main(default_config=_CONFIG,
                   default_workdir="workdir/point_cloud_calibration",
                   report_fn=report, metrics=COLUMNS)
