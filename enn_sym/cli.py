"""Command line of the experiment scripts: every user error is one line.

A script defines its config flag with :func:`define_config_file` and runs
``main`` with :func:`run` (``cli.run(main)``), or equivalently with
``app.run(main, flags_parser=enn_sym.cli.parse_flags)``. Then:

* **Flag errors** (an override of a key the config does not have, a value
  that does not parse, a missing or broken config file) print one line
  ``error: ...`` on stderr and exit with status 2, e.g.::

    error: --config.num_step: the config has no key 'num_step'. Did you mean
    "num_steps" instead of "num_step"? Valid keys are in the config file
    (start from its get_config()).

* **User errors raised while the script runs** do the same: bad config
  values (``enn_sym.train.ConfigError``), bad inputs or data
  (``enn_sym._validation.InputError``, both ``ValueError`` subclasses) and OS errors
  (``OSError``: a missing data set or file, a ``--workdir`` that is a file or
  not writable). Any other exception is a bug and keeps its traceback.
  With :func:`run` the exit is a normal ``SystemExit(2)`` (the interpreter
  shuts down as usual, ``atexit`` handlers run). Scripts that keep
  ``app.run(main, flags_parser=parse_flags)`` get the same line from a
  ``sys.excepthook`` that :func:`parse_flags` installs; as Python gives an
  uncaught exception status 1, that hook ends the process with
  ``os._exit(2)`` after flushing stdout and stderr, so ``atexit`` handlers
  do not run there. Prefer :func:`run`.

* **A repeated flag replaces, never concatenates.** ``ml_collections`` treats
  a repeated tuple override as a list of elements to append
  (``--config.model.mlp_hidden_sizes=(50,50)
  --config.model.mlp_hidden_sizes=(64,)`` would train ``(50, 50, 64)``).
  :func:`parse_flags` keeps only the last occurrence of each ``--config.*``
  override, so that gives ``(64,)``, as for every other flag. A tuple is
  written as one value: ``--config.models="('base','epinet')"``.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any, Callable, Sequence

from absl import app
from absl import flags
from ml_collections import config_flags

# Names of the flags defined with define_config_file (usually just "config").
_CONFIG_FLAGS: set[str] = set()
EXIT_STATUS = 2


def _exit(message: str):
  print(f"error: {message}", file=sys.stderr)
  sys.exit(EXIT_STATUS)


def _one_line(text: str) -> str:
  return " ".join(str(text).split())


# ---------------------------------------------------------------------------
# Overrides of missing keys.


def _override_in(argv, key: str) -> str:
  """The ``--config.a.b`` argument whose last part is ``key`` (best effort)."""
  for arg in argv[1:]:
    name = arg.split("=", 1)[0]
    if name.startswith("--") and name.rsplit(".", 1)[-1] == key:
      return name
  return f"--config...{key}"


def _missing_key_message(error, argv) -> str:
  # ml_collections: an override names a key that the config lacks. Its
  # message is "'key'" plus, sometimes, a "Did you mean ..." line.
  while error.args and isinstance(error.args[0], BaseException):
    error = error.args[0]  # AttributeError(KeyError(message)).
  text = str(error.args[0]) if error.args else str(error)
  key, _, hint = text.strip("'\"").partition("\n")
  key = key.strip("'\"")
  return (f"{_override_in(argv, key)}: the config has no key {key!r}."
          f"{' ' + hint.strip() if hint else ''} Valid keys are in the "
          f"config file (start from its get_config()).")


# ---------------------------------------------------------------------------
# Repeated overrides.


def _override_key(arg: str) -> str | None:
  """``config.a.b`` for ``--config.a.b=...``, ``-config.a.b`` or
  ``--noconfig.a.b`` (a config override), else ``None``."""
  match = re.match(r"^--?([^=]+)", arg)
  if not match:
    return None
  name = match.group(1)
  for candidate in (name, name[2:] if name.startswith("no") else None):
    if candidate and "." in candidate and (
        candidate.split(".", 1)[0] in _CONFIG_FLAGS):
      return candidate
  return None


def dedupe_overrides(argv: Sequence[str]) -> list[str]:
  """``argv`` with only the last occurrence of each config override.

  Handles ``--config.x=v``, ``--config.x v`` (the value is the next token
  when that does not start with ``-``), ``--noconfig.flag`` and ``-config.x``.
  Arguments after ``--`` are left alone.

  Args:
    argv: the command line (``argv[0]`` is the program).

  Returns:
    a new list; the other arguments keep their order.
  """
  argv = list(argv)
  spans = []  # (key, start, stop) of every override.
  i = 1
  while i < len(argv):
    arg = argv[i]
    if arg == "--":
      break
    key = _override_key(arg)
    stop = i + 1
    if key is not None:
      negated = re.match(r"^--?no", arg) and not arg.lstrip("-").startswith(
          key)
      if ("=" not in arg and not negated and stop < len(argv)
          and not argv[stop].startswith("-")):
        stop += 1  # Two-token form: --config.x value.
      spans.append((key, i, stop))
    i = stop
  last = {key: start for key, start, _ in spans}
  drop = set()
  for key, start, stop in spans:
    if last[key] != start:
      drop.update(range(start, stop))
  return [a for j, a in enumerate(argv) if j not in drop]


# ---------------------------------------------------------------------------
# User errors.


def user_error_message(error: BaseException) -> str | None:
  """The ``error:`` line for a user error, ``None`` for anything else.

  User errors: ``OSError`` (files, directories, data sets),
  ``enn_sym._validation.InputError`` and ``enn_sym.train.ConfigError``. The classes are
  looked up only in modules already imported (an error of a module never
  imported cannot have been raised), so this imports nothing.
  """
  kinds = []
  validation = sys.modules.get("enn_sym._validation")
  if validation is not None:
    kinds.append(validation.InputError)
  train = sys.modules.get("enn_sym.train")
  if train is not None and hasattr(train, "ConfigError"):
    kinds.append(train.ConfigError)
  if kinds and isinstance(error, tuple(kinds)):
    return _one_line(error)
  if isinstance(error, OSError):
    return _os_error_message(error)
  return None


def _os_error_message(error: OSError) -> str:
  if error.strerror and error.filename is not None:
    target = f"{error.filename!r}"
    if error.filename2 is not None:
      target += f" -> {error.filename2!r}"
    what = f"{error.strerror}: {target}"
    hints = {
        FileExistsError: " (a file is in the way of a directory: pass a "
                         "directory path, e.g. for --workdir)",
        NotADirectoryError: " (a path component is a file, not a "
                            "directory: check --workdir and other paths)",
        PermissionError: " (not writable by this user: choose another "
                         "--workdir or fix the permissions)",
        FileNotFoundError: " (check the path)",
        IsADirectoryError: " (a directory was given where a file is "
                           "expected)",
    }
    return f"{what}{hints.get(type(error), '')}."
  return f"{type(error).__name__}: {_one_line(error)}"


def _check_loaded_configs() -> None:
  """One line for a config file that does not load.

  ``ml_collections`` defers a load failure: the flag's value raises an
  ``OSError`` on first use (deep inside the script). Touch it here instead.
  """
  for name in sorted(_CONFIG_FLAGS):
    if name not in flags.FLAGS:
      continue
    flag = flags.FLAGS[name]
    try:
      flag.value.keys()
    except OSError as e:
      lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
      reason = lines[-1] if lines else str(e)
      path = getattr(flag, "config_filename", None) or "?"
      _exit(f"--{name}={path}: cannot load the config file ({reason}). Pass "
            f"a Python file that defines get_config(), e.g. "
            f"--{name}=configs/default.py.")
    except AttributeError:
      pass  # Not a ConfigDict (another config flag type): nothing to check.


def _excepthook(kind, value, tb, previous=sys.excepthook):
  message = user_error_message(value)
  if message is None:
    previous(kind, value, tb)
    return
  print(f"error: {message}", file=sys.stderr)
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(EXIT_STATUS)  # pylint: disable=protected-access


# ---------------------------------------------------------------------------
# Public entry points.


def define_config_file(name: str, default: str, help_string: str):
  """``config_flags.DEFINE_config_file(..., lock_config=True)``, one-line
  errors for overrides of keys the config does not have."""
  _CONFIG_FLAGS.add(name)
  try:
    return config_flags.DEFINE_config_file(name, default, help_string,
                                           lock_config=True)
  except (AttributeError, KeyError) as e:
    _exit(_missing_key_message(e, sys.argv))


def parse_flags(argv):
  """Parses ``argv`` with absl; exits with one line on any flag error.

  Repeated config overrides are reduced to their last occurrence
  (:func:`dedupe_overrides`) and a config file that fails to load is
  reported here. Also installs the ``sys.excepthook`` that turns user errors
  raised later in ``main`` into one line and exit status 2 (module
  docstring).
  """
  argv = dedupe_overrides(argv)
  if sys.excepthook is not _excepthook:
    sys.excepthook = _excepthook
  try:
    rest = flags.FLAGS(argv)
  except flags.Error as e:
    message = str(e)
  except (AttributeError, KeyError) as e:
    message = _missing_key_message(e, argv)
  except OSError as e:
    message = user_error_message(e)
  except (TypeError, ValueError) as e:
    message = f"bad flag value: {e}"
  else:
    _check_loaded_configs()
    return rest
  _exit(_one_line(message))


def guard(main: Callable[[list[str]], Any]) -> Callable[[list[str]], Any]:
  """``main`` with user errors turned into one ``error:`` line and exit 2."""

  def guarded(argv):
    try:
      return main(argv)
    except Exception as e:  # pylint: disable=broad-except
      message = user_error_message(e)
      if message is None:
        raise
    _exit(message)

  guarded.__name__ = getattr(main, "__name__", "main")
  guarded.__doc__ = getattr(main, "__doc__", None)
  return guarded


def run(main: Callable[[list[str]], Any], argv: Sequence[str] | None = None
        ) -> None:
  """``app.run(guard(main), argv, flags_parser=parse_flags)``."""
  app.run(guard(main), argv=None if argv is None else list(argv),
          flags_parser=parse_flags)
