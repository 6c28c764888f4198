"""Flag parsing for the experiment scripts: bad overrides are one clear line.

``ml_collections.config_flags`` reports an override of a key the config does
not have (``--config.num_step=3``) as a raw ``AttributeError`` traceback from
deep inside absl. :func:`parse_flags` turns that, and every other flag error,
into ``error: ...`` on stderr plus exit status 2, e.g.::

  error: --config.num_step: the config has no key 'num_step'. Did you mean
  "num_steps" instead of "num_step"? Valid keys are in the config file
  (start from its get_config()).

Scripts define their config flag with :func:`define_config_file` (the
override is applied while the flag is defined, at import time) and run with
``app.run(main, flags_parser=enn_sym.cli.parse_flags)``.
"""

from __future__ import annotations

import sys

from absl import flags
from ml_collections import config_flags


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


def _exit(message: str):
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


def define_config_file(name: str, default: str, help_string: str):
  """``config_flags.DEFINE_config_file(..., lock_config=True)``, one-line
  errors for overrides of keys the config does not have."""
  try:
    return config_flags.DEFINE_config_file(name, default, help_string,
                                           lock_config=True)
  except (AttributeError, KeyError) as e:
    _exit(_missing_key_message(e, sys.argv))


def parse_flags(argv):
  """Parses ``argv`` with absl; exits with one line on any flag error."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    message = str(e)
  except (AttributeError, KeyError) as e:
    message = _missing_key_message(e, argv)
  except (TypeError, ValueError) as e:
    message = f"bad flag value: {e}"
  _exit(message)
