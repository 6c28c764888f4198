"""``train_and_evaluate(config, workdir)``: the whole run, a thin call of
:class:`enn_sym.train.Trainer`.

For each model kind in ``config.models`` and every seed of
``config.seeds``: initialise (or resume from the newest intact checkpoint in
``workdir/<model>/checkpoints``), train, evaluate every ``eval_every``
steps, and at the end fit a temperature per seed on the validation split and
evaluate the test split raw and temperature-scaled. Outputs in ``workdir``:
``config.json`` (the resolved config and its fingerprint),
``metrics.jsonl`` (train logs and evals), ``summary.json``,
``reliability_<model>.png``.
"""

from __future__ import annotations

import os
from typing import Any

import jax

from enn_sym.train import _data
from enn_sym.train import _report
from enn_sym.train import _trainer

NonFiniteLossError = _trainer.NonFiniteLossError
# The run's data (kept under its former name for callers of the old loop).
_Data = _data.RunData


def maybe_initialize_distributed() -> bool:
  """``jax.distributed.initialize()`` when the environment asks for it.

  That is when ``JAX_COORDINATOR_ADDRESS`` is set (explicit clusters), or
  ``ENN_SYM_DISTRIBUTED=1`` (TPU pods and SLURM, where JAX discovers the
  cluster itself). Call before any other JAX call.
  """
  if (os.environ.get("JAX_COORDINATOR_ADDRESS")
      or os.environ.get("ENN_SYM_DISTRIBUTED") == "1"):
    jax.distributed.initialize()
    return True
  return False


def train_and_evaluate(config, workdir: str, data: Any = None
                       ) -> dict[str, dict[str, Any]]:
  """Trains and evaluates every model in ``config.models``.

  Args:
    config: an ``ml_collections.ConfigDict`` following
      :func:`enn_sym.train.default_config` (validated here).
    workdir: output directory; a run resumes from the checkpoints in it
      (when they were written by the same model config and data).
    data: one's own data in place of ``config.data``'s named data set:
      :class:`enn_sym.data.Splits` or a dict of splits (see
      :class:`enn_sym.train.Trainer`).

  Returns:
    ``{model: {metric: mean over seeds, 'seeds', 'per_seed', 'ci95',
    'stop_reason', 'steps_trained', 'best_step'}}``, also written to
    ``workdir/summary.json``.
  """
  trainer = _trainer.Trainer(config, workdir, data=data)
  trainer.init_or_restore()
  trainer.train()
  summary = trainer.summary()
  if trainer.is_main:
    keys = _report.SUMMARY_KEYS + tuple(
        k for k in _report.ORBIT_SCALARS if config.symmetry.eval_group)
    print("\n" + _report.format_table(summary, keys), flush=True)
  return summary
