"""Checkpoints that are verified on restore, and workdirs tied to a config.

Checkpoint layout: ``<dir>/<step>/arrays.npz`` (every leaf of the state, in
``jax.tree.leaves`` order) and ``<dir>/<step>/manifest.json`` (step, leaf
shapes and dtypes, and the SHA-256 of ``arrays.npz``). A step is written to
``<dir>/.tmp-<step>`` and renamed into place once both files are complete,
so a process killed during a write leaves no step directory behind.
:meth:`CheckpointStore.restore` tries the newest step first and falls back
to the newest intact one with a one-line warning (a missing, truncated or
zero-filled file fails the hash or the read); with no intact step it raises
:class:`CheckpointError` in one line.

Workdir config (:func:`bind_workdir`): ``workdir/config.json`` holds the
resolved config, the fingerprint of the fields that determine the trained
model (:func:`model_fields`) and the history of deliberate changes
(``config.resume_changes``). A mismatch at resume raises ``ConfigError``
naming the differing keys and the ways out; ``config.resume = False`` moves
the old outputs to ``workdir/superseded/<time>/`` (never deletes them).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import sys
import time
from typing import Any

import jax
import ml_collections
import numpy as np

from enn_sym.train import _config

# Fields that never change the trained model: evaluation, logging, outputs,
# dispatch granularity (steps_per_call gives the same numbers) and resume
# control. `models` is left out too: adding a model kind to a workdir trains
# it next to the kept ones. With early stopping on, eval_every decides where
# training stops, so it is then a model field.
NON_MODEL_FIELDS = (
    "models", "log_every", "eval_every", "eval_batch_size",
    "eval_num_indices", "checkpoint_every", "keep_checkpoints",
    "temperature_scaling", "progress_bar", "plots", "steps_per_call",
    "resume", "resume_changes", "symmetry.eval_group", "data.prefetch",
    "data.data_dir", "data.on_device", "tensorboard")
_NON_MODEL_PREFIXES = ("metrics.",)

CONFIG_FILE = "config.json"
SUPERSEDED_DIR = "superseded"
# Test hook: seconds to sleep between writing a step's arrays and its
# manifest (lets a test kill a process in the middle of a checkpoint write).
_WRITE_DELAY_ENV = "ENN_SYM_CHECKPOINT_WRITE_DELAY"


class CheckpointError(RuntimeError):
  """No checkpoint in a directory can be restored (the message says why)."""


def warn(message: str) -> None:
  """One ``warning:`` line on stderr."""
  print(f"warning: {message}", file=sys.stderr, flush=True)


def _sha256(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()


class CheckpointStore:
  """Numbered checkpoints of one pytree structure in one directory.

  Args:
    directory: created on the first save.
    keep: the number of newest steps kept.
    enabled: write (process 0 of a multi-host run); every process reads.
  """

  def __init__(self, directory: str, keep: int, enabled: bool = True):
    self.directory = os.path.abspath(directory)
    self.keep, self.enabled = keep, enabled

  def steps(self) -> list[int]:
    """Steps with a directory, oldest first (intact or not)."""
    if not os.path.isdir(self.directory):
      return []
    return sorted(int(d) for d in os.listdir(self.directory) if d.isdigit())

  def save(self, step: int, tree: Any) -> None:
    """Writes ``tree`` (device or host arrays) as step ``step``."""
    leaves = [np.asarray(x) for x in jax.device_get(jax.tree.leaves(tree))]
    if not self.enabled:
      return
    os.makedirs(self.directory, exist_ok=True)
    tmp = os.path.join(self.directory, f".tmp-{step}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    arrays = os.path.join(tmp, "arrays.npz")
    with open(arrays, "wb") as f:
      np.savez(f, *leaves)
      f.flush()
      os.fsync(f.fileno())
    delay = float(os.environ.get(_WRITE_DELAY_ENV, "0") or 0)
    if delay:
      time.sleep(delay)
    manifest = {"step": int(step), "sha256": _sha256(arrays),
                "shapes": [list(x.shape) for x in leaves],
                "dtypes": [x.dtype.str for x in leaves]}
    with open(os.path.join(tmp, "manifest.json"), "w") as f:
      json.dump(manifest, f)
      f.flush()
      os.fsync(f.fileno())
    final = os.path.join(self.directory, str(step))
    if os.path.exists(final):
      shutil.rmtree(final)
    os.replace(tmp, final)
    for old in self.steps()[:-self.keep]:
      shutil.rmtree(os.path.join(self.directory, str(old)),
                    ignore_errors=True)

  def _load(self, step: int, template: Any) -> list[np.ndarray]:
    path = os.path.join(self.directory, str(step))
    with open(os.path.join(path, "manifest.json")) as f:
      manifest = json.load(f)
    arrays = os.path.join(path, "arrays.npz")
    if _sha256(arrays) != manifest["sha256"]:
      raise ValueError("arrays.npz does not match its SHA-256 in "
                       "manifest.json")
    with np.load(arrays, allow_pickle=False) as z:
      leaves = [z[f"arr_{i}"] for i in range(len(z.files))]
    want = jax.tree.leaves(template)
    if len(leaves) != len(want) or any(
        tuple(a.shape) != tuple(b.shape) for a, b in zip(leaves, want)):
      raise CheckpointError(
          f"checkpoint {path} holds a state of another structure than this "
          f"config's model ({len(leaves)} arrays vs {len(want)}); use a new "
          f"--workdir or --config.resume=False.")
    return leaves

  def restore(self, template: Any) -> tuple[int, list[np.ndarray]] | None:
    """``(step, leaves)`` of the newest intact step, or ``None`` if none.

    Args:
      template: a pytree of the expected structure and shapes.

    Raises:
      CheckpointError: steps exist but none is intact, or the structure
        differs from ``template``.
    """
    steps = self.steps()
    bad = []
    for step in reversed(steps):
      try:
        leaves = self._load(step, template)
      except CheckpointError:
        raise
      except Exception as e:  # pylint: disable=broad-except
        bad.append(step)
        warn(f"checkpoint step {step} in {self.directory} is corrupt or "
             f"incomplete ({type(e).__name__}: {str(e)[:120]}); trying the "
             f"next older step.")
        continue
      return step, leaves
    if bad:
      raise CheckpointError(
          f"no intact checkpoint in {self.directory} (steps {bad} are "
          f"corrupt or incomplete); use a new --workdir, or "
          f"--config.resume=False to move them aside and start over.")
    return None


# -- workdir config -------------------------------------------------------


def flatten(config: Any) -> dict[str, Any]:
  """``{'a.b': value}`` of a ConfigDict, tuples as lists (JSON form)."""
  out = {}
  for key, value in config.items():
    if isinstance(value, (ml_collections.ConfigDict, dict)):
      out.update({f"{key}.{k}": v for k, v in flatten(value).items()})
    elif isinstance(value, tuple):
      out[key] = list(value)
    else:
      out[key] = value
  return out


def model_fields(flat: dict[str, Any]) -> dict[str, Any]:
  """The fields of a flat config that determine the trained model."""
  skip = set(NON_MODEL_FIELDS)
  if flat.get("early_stopping.patience"):
    skip.discard("eval_every")
  else:
    skip |= {"early_stopping.metric", "early_stopping.min_delta"}
  return {k: v for k, v in flat.items() if k not in skip
          and not k.startswith(_NON_MODEL_PREFIXES)}


def fingerprint(flat: dict[str, Any]) -> str:
  """SHA-256 of the model fields (sorted JSON)."""
  text = json.dumps(model_fields(flat), sort_keys=True, default=str)
  return hashlib.sha256(text.encode()).hexdigest()


def move_aside(workdir: str) -> str | None:
  """Moves every output in ``workdir`` to ``workdir/superseded/<time>``."""
  names = [n for n in os.listdir(workdir) if n != SUPERSEDED_DIR]
  if not names:
    return None
  stamp = datetime.datetime.now(datetime.timezone.utc).strftime(
      "%Y%m%dT%H%M%S.%fZ")
  dest = os.path.join(workdir, SUPERSEDED_DIR, stamp)
  os.makedirs(dest)
  for name in names:
    os.replace(os.path.join(workdir, name), os.path.join(dest, name))
  return dest


def _has_outputs(workdir: str) -> bool:
  return any(n != SUPERSEDED_DIR for n in os.listdir(workdir))


def bind_workdir(config: Any, workdir: str, write: bool = True) -> None:
  """Ties ``workdir`` to ``config`` (see the module docstring).

  Raises:
    ConfigError: the workdir was written with other model fields, not all
      of them listed in ``config.resume_changes``.
  """
  path = os.path.join(workdir, CONFIG_FILE)
  flat = flatten(config)
  record = {"config": flat, "fingerprint": fingerprint(flat), "history": []}
  if not config.resume:
    if write and _has_outputs(workdir):
      dest = move_aside(workdir)
      warn(f"config.resume=False: moved the previous outputs of {workdir} "
           f"to {dest}.")
  elif os.path.exists(path):
    with open(path) as f:
      stored = json.load(f)
    old = model_fields(stored["config"])
    new = model_fields(flat)
    differ = sorted(k for k in set(old) | set(new)
                    if old.get(k, "<absent>") != new.get(k, "<absent>"))
    if differ:
      allowed = set(config.resume_changes)
      blocked = [k for k in differ if k not in allowed]
      if blocked:
        shown = ", ".join(f"{k} ({old.get(k, '<absent>')!r} -> "
                          f"{new.get(k, '<absent>')!r})" for k in blocked)
        raise _config.ConfigError(
            f"workdir {workdir} was trained with a different config: "
            f"{shown}. Use a new --workdir, or --config.resume=False (moves "
            f"the old checkpoints to {workdir}/{SUPERSEDED_DIR}/, deletes "
            f"nothing); to continue from the kept checkpoint with a changed "
            f"optimizer setting, list it in --config.resume_changes.")
      record["history"] = stored.get("history", []) + [{
          "time": datetime.datetime.now(datetime.timezone.utc).isoformat(),
          "changed": {k: [old.get(k), new.get(k)] for k in differ}}]
    else:
      record["history"] = stored.get("history", [])
  elif _has_outputs(workdir) and any(
      os.path.isdir(os.path.join(workdir, k, "checkpoints"))
      for k in _config.MODEL_KINDS):
    raise _config.ConfigError(
        f"workdir {workdir} holds checkpoints but no {CONFIG_FILE} (written "
        f"by an older version), so its config cannot be checked. Use a new "
        f"--workdir, or --config.resume=False to move them aside.")
  if write:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
      json.dump(record, f, indent=1, sort_keys=True, default=str)
    os.replace(tmp, path)
