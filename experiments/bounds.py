r"""Calibration bounds for invariant models on tasks with known orbits.

  python experiments/bounds.py --workdir workdir/bounds

Sweeps the correct / incorrect / extrinsic symmetry fractions of the Swiss
roll (Wang et al. 2023), trains plain and plane-swap-invariant epinets and
ensembles over several seeds, and reports accuracy, ECE and MI next to the
invariant accuracy ceiling and the ECE bounds (Berman et al. 2025); then the
6-vs-9 orbit read-out on MNIST-5k (pass
``--config.six_vs_nine.results_json=<workdir of six_vs_nine>/results.json``
to compare the trained 6-vs-9 models with the ceiling). All logic lives in
:mod:`enn_sym.bounds._experiment`.

Writes ``results.json``, ``results.md`` and ``bounds.png``.
"""

from __future__ import annotations

import os

from absl import app
from enn_sym import cli  # pylint: disable=g-bad-import-order
from absl import flags

from enn_sym.bounds import _experiment

_HERE = os.path.dirname(os.path.abspath(__file__))


def run(config, workdir: str) -> dict:
  """Runs the experiment (see the module docstring)."""
  return _experiment.run_bounds_experiment(config, workdir)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  run(_CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
  # Flags are defined only when run as a script, so tests can import run().
  _CONFIG = cli.define_config_file(
      "config", os.path.join(_HERE, "..", "configs", "bounds.py"),
      "Path to the experiment config file.")
  _WORKDIR = flags.DEFINE_string("workdir", os.path.join("workdir", "bounds"),
                                 "Output directory.")
  app.run(main, flags_parser=cli.parse_flags)
