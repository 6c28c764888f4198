"""A name -> factory registry, shared by groups, bases and in-loop metrics.

Each registry has a ``kind`` (``"group"``, ``"base"``, ...) and the name of
its decorator, so its errors name the registered choices and the fix::

  Unknown group 'c5'; registered groups: ['c2', 'c4', ...]. Register a new
  one with @enn_sym.symmetry.register_group('c5').
"""

from __future__ import annotations

from typing import Any, Callable, Generic, TypeVar

from enn_sym import _validation

T = TypeVar("T", bound=Callable[..., Any])


class Registry(Generic[T]):
  """Factories by name, with metadata, and one-line errors."""

  def __init__(self, kind: str, decorator: str):
    self.kind, self.decorator = kind, decorator
    self._factories: dict[str, T] = {}
    self._info: dict[str, dict[str, Any]] = {}

  def register(self, name: str, *, overwrite: bool = False, **info):
    """Decorator that registers ``factory`` under ``name`` (with ``info``)."""
    if not isinstance(name, str) or not name:
      raise _validation.InputError(
          f"A {self.kind} name must be a non-empty string; got {name!r}.")

    def decorator(factory: T) -> T:
      if not callable(factory):
        raise _validation.InputError(
            f"@{self.decorator}({name!r}) decorates a callable (a class or a "
            f"function returning the {self.kind}); got {factory!r}.")
      if name in self._factories and not overwrite:
        raise _validation.InputError(
            f"A {self.kind} named {name!r} is already registered; pick "
            f"another name or pass overwrite=True.")
      self._factories[name] = factory
      self._info[name] = dict(info)
      return factory

    return decorator

  def unregister(self, name: str) -> None:
    """Removes ``name`` (a plugin's clean-up; unknown names raise)."""
    self.get(name)
    del self._factories[name], self._info[name]

  def names(self) -> tuple[str, ...]:
    return tuple(sorted(self._factories))

  def __contains__(self, name: object) -> bool:
    return name in self._factories

  def unknown(self, name: Any) -> _validation.InputError:
    return _validation.InputError(
        f"Unknown {self.kind} {name!r}; registered {self.kind}s: "
        f"{list(self.names())}. Register a new one with "
        f"@{self.decorator}({name!r}).")

  def get(self, name: str) -> T:
    try:
      return self._factories[name]
    except (KeyError, TypeError):
      raise self.unknown(name) from None

  def info(self, name: str) -> dict[str, Any]:
    self.get(name)
    return dict(self._info[name])
