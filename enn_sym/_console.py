"""Console scripts installed with the package (``setup.cfg``).

``enn-sym-train`` is the training pipeline of ``experiments/train.py`` for
an installed package::

  enn-sym-train                                    # the main job
  enn-sym-train --config=enn_sym:mnist5k_cnn --workdir=/tmp/cnn \
      --config.num_steps=200
  enn-sym-train --config=my_config.py --workdir=/tmp/mine

``--config`` takes a path to a config file (``get_config()``) or
``enn_sym:NAME`` for a packaged copy of ``configs/NAME.py``. Bad flags and
bad configs end in one ``error:`` line (exit status 2 for flags, 1 for the
config or the data).
"""

from __future__ import annotations

import sys
from typing import Sequence

from enn_sym import configs as configs_lib

_CONFIG_FLAGS = ("--config", "-config")


def resolve_config_argv(argv: Sequence[str]) -> list[str]:
  """``argv`` with ``--config=enn_sym:NAME`` (or ``--config enn_sym:NAME``)
  replaced by the packaged file's path."""
  out, argv = [], list(argv)
  i = 0
  while i < len(argv):
    arg = argv[i]
    name, eq, value = arg.partition("=")
    if name in _CONFIG_FLAGS and eq:
      arg = f"{name}={configs_lib.resolve(value)}"
    elif arg in _CONFIG_FLAGS and i + 1 < len(argv):
      out.append(arg)
      i += 1
      arg = configs_lib.resolve(argv[i])
    out.append(arg)
    i += 1
  return out


def train_main(argv: Sequence[str] | None = None) -> None:
  """Entry point of ``enn-sym-train``."""
  from absl import app  # pylint: disable=g-import-not-at-top
  from absl import flags  # pylint: disable=g-import-not-at-top
  from enn_sym import cli  # pylint: disable=g-import-not-at-top

  argv = list(sys.argv if argv is None else argv)
  try:
    argv = resolve_config_argv(argv)
  except ValueError as e:
    print(f"error: --config: {e}", file=sys.stderr)
    sys.exit(2)
  sys.argv = argv  # define_config_file reads overrides from sys.argv.
  config = cli.define_config_file(
      "config", configs_lib.path("default"),
      "Path to a config file with get_config(), or enn_sym:NAME for a "
      "packaged config.")
  workdir = flags.DEFINE_string("workdir", "workdir/default",
                                "Output directory (resumes from it).")

  def main(args):
    if len(args) > 1:
      raise app.UsageError(f"Unexpected arguments: {args[1:]}")
    from absl import logging  # pylint: disable=g-import-not-at-top
    if not flags.FLAGS["verbosity"].present:
      logging.set_verbosity(logging.WARNING)
    from enn_sym import data, train  # pylint: disable=g-import-not-at-top
    train.maybe_initialize_distributed()
    try:
      train.train_and_evaluate(config.value, workdir.value)
    except (train.ConfigError, data.DatasetNotFoundError,
            train.NonFiniteLossError) as e:
      print(f"error: {e}", file=sys.stderr)
      sys.exit(1)

  app.run(main, argv=argv, flags_parser=cli.parse_flags)
