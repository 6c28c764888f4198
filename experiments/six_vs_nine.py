r"""Six vs nine: what does an over-constrained (C2-invariant) ENN know?

  python experiments/six_vs_nine.py --workdir /tmp/six_vs_nine

A Sweep over the variants of ``configs/six_vs_nine.py``: plain and
C2-invariant (whole-ENN averaging over the 180-degree turn; C4 optional)
epinets and ensembles on UPRIGHT MNIST-5k. The invariant model cannot tell a
6 from a 9 turned upside down. For each variant and seed the trained model
predicts the test split (``enn_sym.train.class_probe``): accuracy on 6s and
9s and on the other digits, the 6/9 swap rate, and the mutual information
and the index spread of the predicted-class probability on 6/9 minus on the
other digits (paired within a seed). Whether that epistemic signal rises on
6/9 is stated only where its 95% interval across seeds excludes zero.

Next to it, the orbit ceilings (``enn_sym.train.nearest_neighbour_ceiling``):
the idealised invariant ceiling ``max(n6, n9) / (n6 + n9)`` and the test
accuracy on 6/9 of the plain and the C2-invariant 1-nearest-neighbour rule.

Writes ``results.json``, ``results.md`` and ``six_vs_nine.png``.
"""

from __future__ import annotations

import os

from enn_sym import train
import numpy as np

SIX_NINE = (6, 9)
PROBE = ("acc_in", "acc_out", "swap_rate", "mutual_info_in",
         "mutual_info_out", "mutual_info_diff", "spread_diff", "aleatoric_in",
         "aleatoric_out")
_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                       "configs", "six_vs_nine.py")


def plot(path: str, probes: dict, ceiling: float) -> None:
  """6/9 vs other accuracy and mutual information per variant and model
  (mean over seeds, 95% CI error bars)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  rows = [(f"{c}\n{m}", p) for c, ms in probes.items() for m, p in ms.items()]
  xs = np.arange(len(rows))
  fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
  for ax, name, label in ((axes[0], "acc", "test accuracy"),
                          (axes[1], "mutual_info", "mutual information")):
    for shift, part, text in ((-0.2, "in", "6s and 9s"), (0.2, "out", "other")):
      stats = [p[f"{name}_{part}"] for _, p in rows]
      mean = np.array([s["mean"] for s in stats])
      err = np.abs(np.array([s["ci95"] for s in stats]).T - mean)
      ax.bar(xs + shift, mean, 0.4, yerr=err, capsize=2, label=text)
    ax.set_ylabel(label)
    ax.set_xticks(xs, [r[0] for r in rows], fontsize=7)
  axes[0].axhline(ceiling, color="k", ls="--", lw=1,
                  label="ideal invariant ceiling")
  for ax in axes:
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
  fig.suptitle("Upright MNIST-5k: plain vs invariant ENNs (95% CI over seeds)")
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def report(sweep, config, workdir: str, results: dict) -> dict:
  """Probes every finished cell on 6/9; writes the tables and the figure."""
  del config
  if not results["cells"]:
    return results
  probes = train.probe_cells(sweep, workdir, results, SIX_NINE)
  first = sweep.cell(next(iter(results["cells"])))
  ceilings = train.nearest_neighbour_ceiling(first.config, SIX_NINE)
  rows = train.probe_conclusions(sweep, probes, "variant", "plain")
  results.update(probes=probes, ceilings=ceilings, conclusions=rows)
  text = "\n\n".join([
      train.markdown_table(results, ("accuracy", "ece", "mutual_info")),
      train.probe_table(probes, PROBE),
      f"Test 6s: {ceilings['n_test_6']}, 9s: {ceilings['n_test_9']}; ideal "
      f"invariant ceiling on 6/9 {ceilings['ceiling_ideal']:.3f}; 1-NN "
      f"accuracy on 6/9: plain {ceilings['nn_plain']:.3f}, C2-invariant "
      f"{ceilings['nn_invariant']:.3f}.",
      "Does the epistemic signal rise on 6/9 (vs the other digits, and vs "
      "the plain model)? A conclusion only where the 95% CI excludes zero:",
      train.conclusions_table(rows)])
  train.write_results(workdir, results, text)
  plot(os.path.join(workdir, "six_vs_nine.png"), probes,
       ceilings["ceiling_ideal"])
  print("\n" + text, flush=True)
  return results


def run(config, workdir: str, cells=()) -> dict:
  """Trains the selected variants (all by default) and reports."""
  return train.run_from_flags(config, workdir, cells, report_fn=report,
                              environ={})


if __name__ == "__main__":
  train.sweep_main(default_config=_CONFIG,
                   default_workdir="workdir/six_vs_nine", report_fn=report)
