"""Optional TensorBoard event files next to ``metrics.jsonl``.

:class:`TensorBoardWriter` has the interface of the training pipeline's
JSON-lines writer, ``write(record)``, and turns every numeric scalar of a
record into a TensorBoard scalar named ``<model>/<split>/<key>`` at
``record["step"]``. Per-bin arrays and strings are skipped. It writes through
`tensorboardX <https://github.com/lanpa/tensorboardX>`_ (no TensorFlow),
installed with the extra ``pip install 'enn_sym[tensorboard]'``; without it,
building a writer raises one line naming the install command.

  writer = TensorBoardWriter(os.path.join(workdir, "tensorboard"))
  writer.write({"model": "epinet", "step": 100, "split": "train",
                "loss": 0.31})
  writer.close()

then ``tensorboard --logdir workdir``.
"""

from __future__ import annotations

import numbers
from typing import Any, Mapping

import numpy as np

from enn_sym import _validation

# Record fields that name the series rather than hold a value.
NAME_FIELDS = ("model", "split", "step", "final")


def scalar_items(record: Mapping[str, Any]) -> dict[str, float]:
  """The TensorBoard scalars of one record: ``{tag: value}``.

  Tags are ``<model>/<split>/<key>`` (missing parts left out); only finite
  or non-finite real numbers and 0-d arrays count as scalars (booleans and
  per-bin arrays are skipped).
  """
  prefix = "/".join(str(record[k]) for k in ("model", "split")
                    if record.get(k) not in (None, ""))
  out = {}
  for key, value in record.items():
    if key in NAME_FIELDS or isinstance(value, (bool, np.bool_, str)):
      continue
    if isinstance(value, numbers.Real) or (
        isinstance(value, np.ndarray) and value.ndim == 0 and
        np.issubdtype(value.dtype, np.number)):
      out[f"{prefix}/{key}" if prefix else str(key)] = float(value)
  return out


class TensorBoardWriter:
  """Writes pipeline records as TensorBoard scalars (process 0 only).

  Args:
    logdir: directory of the event files (created).
    enabled: ``False`` makes every call a no-op (other processes).
    flush_secs: how often tensorboardX flushes to disk.
    purge_step: for a resumed run, the first step it writes again: events
      of earlier event files in ``logdir`` at this step or later are hidden
      by TensorBoard (``None``: keep all).
    filename_suffix: appended to the event file's name. tensorboardX names
      files by the second and the host and truncates an existing one, so a
      writer opened again within a second needs a new suffix.
  """

  def __init__(self, logdir: str, enabled: bool = True,
               flush_secs: int = 10, purge_step: int | None = None,
               filename_suffix: str = ""):
    self.logdir, self.enabled = logdir, enabled
    self._writer = None
    if not enabled:
      return
    try:
      from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
    except ImportError:
      raise _validation.InputError(
          "TensorBoard logging needs tensorboardX: pip install "
          "'enn_sym[tensorboard]' (or pip install tensorboardX).") from None
    self._writer = SummaryWriter(logdir=logdir, flush_secs=flush_secs,
                                 purge_step=purge_step,
                                 filename_suffix=filename_suffix)

  def write(self, record: Mapping[str, Any]) -> None:
    if self._writer is None:
      return
    if "step" not in record:
      raise _validation.InputError(
          f"A TensorBoard record needs a 'step'; got keys {sorted(record)}.")
    step = int(record["step"])
    for tag, value in scalar_items(record).items():
      self._writer.add_scalar(tag, value, global_step=step)

  def flush(self) -> None:
    if self._writer is not None:
      self._writer.flush()

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()
      self._writer = None
