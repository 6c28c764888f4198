"""Checked mode: the metric value checks compiled into jitted code.

Outside ``jax.jit`` every metric ``update`` (and :func:`fit_temperature`)
checks its values on the host and raises :class:`enn_sym._validation.InputError`. Inside
``jit`` the values are tracers, so those checks are skipped: a jitted eval
step that feeds logits to a metric declared ``input_kind="probs"``, labels
out of range or NaN predictions would otherwise return a wrong number
silently. Checked mode compiles the same conditions in with
``jax.experimental.checkify`` (on the real rows; padding is ignored):

* :func:`checked` ``(fn, **jit_kwargs)`` jit-compiles ``fn`` with the checks
  and raises :class:`InputError` after a call whose inputs failed one. This
  is the debug switch for a whole eval step::

    step = metrics.checked(eval_step) if debug else jax.jit(eval_step)

* :func:`checkify` ``(fn)`` is the functional form, ``fn' (*args) ->
  (error, out)``, for use inside a larger jitted program (it is jittable);
  pass ``error`` to :func:`raise_if_error` on the host.

Checked and unchecked calls compile separately (the checks are part of the
traced program). The checks cost a few reductions per batch; use them to
debug, not in timed runs. Calls of nested ``jax.jit`` functions defined by
the caller are traced with the checks in checked mode: do not call the same
inner jitted function both checked and unchecked in one process (its trace
cache would mix the two).
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
from jax.experimental import checkify as jax_checkify

from enn_sym import _validation

# A checkify message ends with this marker (and, on some versions, a source
# location); the InputError message stops before it.
_MARKER = " (`check` failed"


def checkify(fn: Callable[..., Any]) -> Callable[..., tuple[Any, Any]]:
  """``fn`` with the enn_sym value checks as checkify checks.

  Args:
    fn: any function that calls metric updates (or other enn_sym entry
      points with value checks) on traced or concrete arrays.

  Returns:
    ``checked_fn(*args, **kwargs) -> (error, out)``, jittable; ``error`` is a
    ``checkify.Error`` (pass it to :func:`raise_if_error`).
  """

  @functools.wraps(fn)
  def traced(*args, **kwargs):
    with _validation.traced_checks():
      return fn(*args, **kwargs)

  return jax_checkify.checkify(traced, errors=jax_checkify.user_checks)


def raise_if_error(error: Any) -> None:
  """Raises :class:`InputError` if a checked call failed a check."""
  message = error.get()
  if message:
    raise _validation.InputError(message.split(_MARKER, 1)[0].strip())


def checked(fn: Callable[..., Any], **jit_kwargs: Any) -> Callable[..., Any]:
  """``jax.jit(fn, **jit_kwargs)`` with the value checks compiled in.

  Args:
    fn: the function to compile (e.g. an eval step calling metric updates).
    **jit_kwargs: passed to ``jax.jit``. ``out_shardings`` describes ``fn``'s
      output as usual; the error state is replicated on the same mesh.

  Returns:
    a function with ``fn``'s signature and result that raises
    :class:`InputError` (after the computation) when an input failed a
    check.
  """
  if "out_shardings" in jit_kwargs:
    out = jit_kwargs["out_shardings"]
    leaves = jax.tree.leaves(out)
    if not leaves or not isinstance(leaves[0], jax.sharding.NamedSharding):
      raise _validation.InputError(
          "checked(out_shardings=...) needs NamedSharding leaves (the error "
          "state is replicated on their mesh).")
    error_sharding = jax.sharding.NamedSharding(
        leaves[0].mesh, jax.sharding.PartitionSpec())
    jit_kwargs = dict(jit_kwargs, out_shardings=(error_sharding, out))
  compiled = jax.jit(checkify(fn), **jit_kwargs)

  @functools.wraps(fn)
  def run(*args, **kwargs):
    error, out = compiled(*args, **kwargs)
    raise_if_error(error)
    return out

  return run
