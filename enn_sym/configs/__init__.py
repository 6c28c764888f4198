"""Packaged copies of the repository's ``configs/`` (for installed use).

``configs/`` in a checkout is the place to edit a config; these copies are
kept byte-identical to it (``tests/test_packaging.py`` checks that; refresh
them with ``cp configs/*.py enn_sym/configs/``). They make the built-in
configs usable from an installed package::

  enn-sym-train --config=enn_sym:default --workdir=/tmp/run
  enn-sym-train --config=enn_sym:mnist5k_cnn --config.num_steps=200

:func:`path` resolves ``enn_sym:NAME`` (or ``NAME``) to the file.
"""

from __future__ import annotations

import os

from enn_sym import _validation

DIRECTORY = os.path.dirname(os.path.abspath(__file__))
PREFIX = "enn_sym:"


def names() -> tuple[str, ...]:
  """The packaged config names (``default``, ``mnist5k_cnn``, ...)."""
  return tuple(sorted(os.path.splitext(f)[0] for f in os.listdir(DIRECTORY)
                      if f.endswith(".py") and not f.startswith("_")))


def path(name: str) -> str:
  """The file of the packaged config ``name`` (``enn_sym:`` prefix optional).

  Raises:
    InputError: no packaged config has that name (the message lists them).
  """
  short = name[len(PREFIX):] if name.startswith(PREFIX) else name
  short = short[:-3] if short.endswith(".py") else short
  if short not in names():
    raise _validation.InputError(
        f"No packaged config {name!r}; packaged configs: "
        f"{[PREFIX + n for n in names()]}. Give a path to a .py file for "
        f"your own config.")
  return os.path.join(DIRECTORY, short + ".py")


def resolve(spec: str) -> str:
  """``spec`` itself, or the packaged file when it reads ``enn_sym:NAME``.

  A ``:argument`` after ``NAME`` (ml_collections' config-file argument) is
  kept: ``enn_sym:default:small`` -> ``.../default.py:small``.
  """
  if not spec.startswith(PREFIX):
    return spec
  name, sep, argument = spec[len(PREFIX):].partition(":")
  return path(name) + sep + argument
