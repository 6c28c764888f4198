"""Run outputs: JSON-lines metrics, the summary table, reliability diagrams."""

from __future__ import annotations

import itertools
import json
import os
from typing import Any, Mapping, Sequence

import numpy as np

SUMMARY_KEYS = ("accuracy", "nll", "ece", "mce", "brier", "joint_nll",
                "mutual_info", "ece_ts", "temperature")
# Also in summary.json (when on): classwise ECE and the bootstrap 95% CI of
# the ECE over test examples (config.metrics.bootstrap_replicates).
EXTRA_KEYS = ("classwise_ece", "ece_boot_low", "ece_boot_high")
# With config.symmetry.eval_group: invariance error and per-element metrics.
ORBIT_SCALARS = ("invariance_tv_mean", "invariance_tv_max", "flip_rate")
ORBIT_KEYS = ORBIT_SCALARS + ("orbit_accuracy", "orbit_nll", "orbit_ece",
                              "orbit_mutual_info", "orbit_elements")


_BOARD_FILES = itertools.count()


def to_jsonable(value: Any) -> Any:
  if isinstance(value, Mapping):
    return {k: to_jsonable(v) for k, v in value.items()}
  arr = np.asarray(value)
  if arr.ndim == 0:
    return arr.item()
  return arr.tolist()


class JsonlWriter:
  """Appends one JSON object per line to ``path`` (process 0 only)."""

  def __init__(self, path: str, enabled: bool = True):
    self.path, self.enabled = path, enabled

  def write(self, record: Mapping[str, Any]) -> None:
    if not self.enabled:
      return
    with open(self.path, "a") as f:
      f.write(json.dumps(to_jsonable(record), sort_keys=True) + "\n")

  def drop_after(self, model: str, step: int) -> int:
    """Drops the records of ``model`` past ``step`` (and its final ones):
    a resumed run rewrites them, so none is duplicated. Returns the number
    dropped."""
    if not self.enabled or not os.path.exists(self.path):
      return 0
    with open(self.path) as f:
      lines = f.readlines()
    kept = []
    for line in lines:
      try:
        rec = json.loads(line)
      except ValueError:
        continue  # A line cut short by a kill.
      if rec.get("model") == model and (
          rec.get("final") or rec.get("step", 0) > step):
        continue
      kept.append(json.dumps(rec, sort_keys=True) + "\n")
    if len(kept) != len(lines):
      tmp = self.path + ".tmp"
      with open(tmp, "w") as f:
        f.writelines(kept)
      os.replace(tmp, self.path)
    return len(lines) - len(kept)


class RunWriter:
  """``metrics.jsonl`` and, optionally, TensorBoard event files of it.

  With ``tensorboard_dir`` every record also goes to the TensorBoard run
  ``<tensorboard_dir>/<model>`` (:class:`enn_sym.tensorboard.TensorBoardWriter`,
  the ``enn_sym[tensorboard]`` extra). :meth:`drop_after` (a resumed model)
  reopens that run with ``purge_step = step + 1``, so TensorBoard hides the
  events the resumed run writes again, as ``metrics.jsonl`` drops them.
  """

  def __init__(self, path: str, tensorboard_dir: str | None = None,
               enabled: bool = True):
    self.jsonl = JsonlWriter(path, enabled=enabled)
    self.path, self.enabled = path, enabled
    self.tensorboard_dir = tensorboard_dir
    self._boards: dict[str, Any] = {}
    if tensorboard_dir is not None:
      from enn_sym import tensorboard  # pylint: disable=g-import-not-at-top
      self._board_cls = tensorboard.TensorBoardWriter
      try:
        import tensorboardX  # pylint: disable=g-import-not-at-top,unused-import
      except ImportError:
        from enn_sym.train import _config  # pylint: disable=g-import-not-at-top
        raise _config.ConfigError(
            "config.tensorboard = True needs tensorboardX: pip install "
            "'enn_sym[tensorboard]' (or set config.tensorboard = False)."
        ) from None

  def _board(self, model: str, purge_step: int | None = None):
    if model not in self._boards or purge_step is not None:
      if model in self._boards:
        self._boards[model].close()
      # A new file each time (see TensorBoardWriter's filename_suffix).
      self._boards[model] = self._board_cls(
          os.path.join(self.tensorboard_dir, model), enabled=self.enabled,
          purge_step=purge_step,
          filename_suffix=f".{os.getpid()}.{next(_BOARD_FILES)}")
    return self._boards[model]

  def write(self, record: Mapping[str, Any]) -> None:
    self.jsonl.write(record)
    if self.tensorboard_dir is not None and "step" in record:
      self._board(str(record.get("model", "run"))).write(record)

  def drop_after(self, model: str, step: int) -> int:
    """As :meth:`JsonlWriter.drop_after`; hides the TensorBoard events past
    ``step`` too."""
    if self.tensorboard_dir is not None:
      self._board(model, purge_step=int(step) + 1)
    return self.jsonl.drop_after(model, step)

  def flush(self) -> None:
    """Writes the pending TensorBoard events out. tensorboardX's own flush
    leaves queued events behind, so this closes the event files; a later
    record opens a new one in the same run directory."""
    self.close()

  def close(self) -> None:
    for board in self._boards.values():
      board.close()
    self._boards = {}


def format_table(summary: Mapping[str, Mapping[str, float]],
                 keys: Sequence[str] = SUMMARY_KEYS) -> str:
  """A fixed-width text table, one row per model.

  With the bootstrap CI in the summary (``ece_boot_low`` / ``_high``), a
  column ``ece_95ci`` follows ``ece``: the 95% bootstrap interval of the
  test ECE over test examples (a single model's CI; with several seeds, the
  seed means of the per-seed bounds, whose across-seed CI is in
  ``summary["ci95"]``).
  """
  keys = list(keys)
  boot = all("ece_boot_low" in v for v in summary.values()) and summary
  if boot and "ece" in keys:
    keys.insert(keys.index("ece") + 1, "ece_95ci")

  def cell(values, k):
    if k == "ece_95ci":
      return (f"[{float(values['ece_boot_low']):.3f}, "
              f"{float(values['ece_boot_high']):.3f}]")
    return f"{float(values[k]):.4f}"

  header = ["model"] + keys
  rows = [header]
  for model, values in summary.items():
    rows.append([model] + [cell(values, k) for k in keys])
  widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
  lines = ["  ".join(c.rjust(w) if i else c.ljust(w)
                     for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
  lines.insert(1, "  ".join("-" * w for w in widths))
  return "\n".join(lines)


def save_reliability_diagram(path: str, result: Mapping[str, Any],
                             title: str, min_count: int = 10) -> None:
  """Per-bin accuracy against confidence, with the gap and the bin counts.

  The gap between confidence and accuracy is red where the model is
  over-confident (confidence > accuracy) and blue where it is
  under-confident; bins with fewer than ``min_count`` examples are faded
  (their accuracy is mostly noise). The count panel has a log scale, so bins
  with a handful of examples stay visible next to the full ones. The legend
  sits above the axes, outside the data.
  """
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  from matplotlib import patches  # pylint: disable=g-import-not-at-top

  edges = np.asarray(result["bin_edges"])
  count = np.asarray(result["bin_count"])
  acc = np.asarray(result["bin_accuracy"])
  conf = np.asarray(result["bin_confidence"])
  centres, width = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
  filled = count > 0
  alpha = np.where(count >= min_count, 1.0, 0.3)
  over, under = "#d62728", "#1f77b4"  # Opaque: no blended, unnamed colour.
  fig, (ax, ax_count) = plt.subplots(
      2, 1, figsize=(4.5, 6.0), sharex=True,
      gridspec_kw={"height_ratios": [3, 1]})
  for b in np.flatnonzero(filled):
    ax.bar(centres[b], acc[b], width=width[b], color="0.6", edgecolor="k",
           alpha=alpha[b])
    ax.bar(centres[b], conf[b] - acc[b], bottom=acc[b], width=width[b],
           color=over if conf[b] > acc[b] else under, alpha=alpha[b],
           edgecolor="none")
  ax.plot([0, 1], [0, 1], "k--", lw=1)
  ax.set_ylim(0, 1)
  ax.set_ylabel("accuracy")
  ax.set_title(f"{title}\nECE = {float(result['ece']):.4f}", pad=34)
  handles = [patches.Patch(color="0.6", label="accuracy"),
             patches.Patch(color=over, label="over-confident (conf > acc)"),
             patches.Patch(color=under,
                           label="under-confident (acc > conf)"),
             patches.Patch(color="0.6", alpha=0.3,
                           label=f"< {min_count} examples (faded)")]
  ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0),
            ncol=2, fontsize=7, frameon=False)
  for b in np.flatnonzero(filled):
    ax_count.bar(centres[b], count[b], width=width[b], color="0.4",
                 edgecolor="k", alpha=alpha[b])
  ax_count.set_yscale("log")
  ax_count.set_ylim(0.5, max(2.0, float(count.max()) * 2))
  ax_count.set_xlabel("confidence")
  ax_count.set_ylabel("count (log)")
  ax_count.set_xlim(0, 1)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def write_summary(workdir: str, summary: Mapping[str, Any]) -> str:
  path = os.path.join(workdir, "summary.json")
  with open(path, "w") as f:
    json.dump(to_jsonable(summary), f, indent=2, sort_keys=True)
  return path


def ci95(values) -> tuple[float, float]:
  """Student-t 95% interval of the mean of ``values`` (lo = hi = the value
  for a single one)."""
  values = np.asarray(values, np.float64)
  mean = float(values.mean())
  if values.size < 2 or not np.all(np.isfinite(values)):
    return mean, mean
  from scipy import stats  # pylint: disable=g-import-not-at-top
  half = float(stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1)
               / np.sqrt(values.size))
  return mean - half, mean + half
