r"""Trains and evaluates ENNs from a config file.

  python experiments/train.py                                  # the main job
  python experiments/train.py --config configs/mnist5k_cnn.py --workdir /tmp/r \
      --config.num_steps=200

The default config trains a base network, an epinet and a deep ensemble on
the embedded MNIST subset and prints the comparison table.
"""

import os
import sys

from absl import app
from enn_sym import cli  # pylint: disable=g-bad-import-order
from absl import flags
from absl import logging

_HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # Quiet orbax/XLA info logs.
  from enn_sym import data, train  # pylint: disable=g-import-not-at-top
  train.maybe_initialize_distributed()
  try:
    train.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  except (train.ConfigError, data.DatasetNotFoundError,
          train.NonFiniteLossError, train.CheckpointError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
  # Flags are defined only when run as a script (importable next to others).
  _CONFIG = cli.define_config_file(
      "config", os.path.join(_HERE, "..", "configs", "default.py"),
      "Path to a config file with get_config().")
  _WORKDIR = flags.DEFINE_string("workdir", "workdir/default",
                                 "Output directory (resumes from it).")
  app.run(main, flags_parser=cli.parse_flags)
