"""The training loop's progress bar and its examples/s.

The first dispatch of a training program compiles it (seconds to minutes),
and evaluations and checkpoint writes stop training for a while; none of
that is training throughput. So :class:`Progress`:

* shows a placeholder bar ``<kind> (compiling)`` during the first dispatch
  and starts the real bar, and the examples/s clock, only once that
  dispatch has finished (its ETA never includes the compilation);
* is paused around every evaluation and checkpoint write
  (:meth:`Progress.pause` / :meth:`Progress.resume`): the paused time counts
  neither in examples/s nor in the bar's rate (``tqdm.unpause``).

``examples_per_sec`` in ``metrics.jsonl`` is :meth:`Progress.rate`: the
examples trained since the previous log record divided by the unpaused
seconds in between.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import tqdm


class Progress:
  """Progress bar and throughput of one training loop.

  Args:
    total: the last step (``config.num_steps``).
    initial: the step the loop starts from (a resumed run's step).
    desc: the bar's label (the model kind).
    examples_per_step: examples per optimizer step (global batch x seeds).
    enabled: show the bar (process 0 with ``config.progress_bar``).
    clock: seconds (``time.perf_counter``; tests pass a fake clock).
    bar_factory: ``tqdm.tqdm`` or a stand-in with its interface.
  """

  def __init__(self, total: int, initial: int, desc: str,
               examples_per_step: int, enabled: bool,
               clock: Callable[[], float] = time.perf_counter,
               bar_factory: Callable[..., Any] = tqdm.tqdm):
    self.total, self.step, self.desc = total, initial, desc
    self.examples_per_step = examples_per_step
    self.enabled, self.clock, self.bar_factory = enabled, clock, bar_factory
    self.started_at: float | None = None  # Clock time the timing started.
    self._steps = 0        # Steps timed since the last rate().
    self._seconds = 0.0    # Unpaused seconds since the last rate().
    self._since: float | None = None  # Start of the running interval.
    self._paused = False
    self.bar = self._make_bar(f"{desc} (compiling)", leave=False)

  def _make_bar(self, desc: str, leave: bool = True):
    return self.bar_factory(total=self.total, initial=self.step, desc=desc,
                            disable=not self.enabled, dynamic_ncols=True,
                            mininterval=1.0, leave=leave)

  def advance(self, num_steps: int, ready: Callable[[], Any]) -> None:
    """Counts a finished dispatch of ``num_steps`` steps.

    Args:
      num_steps: steps of the dispatch.
      ready: blocks until the dispatch has run (called for the first one,
        whose end starts the clock).
    """
    self.step += num_steps
    if self.started_at is None:
      ready()
      self.bar.close()
      self.bar = self._make_bar(self.desc)
      self.started_at = self._since = self.clock()
      return
    self._steps += num_steps
    self.bar.update(num_steps)

  def rate(self) -> float:
    """Examples per unpaused second since the previous call (0 before any
    timed step); starts the next window."""
    now = self.clock()
    seconds = self._seconds + (now - self._since
                               if self._since is not None else 0.0)
    rate = (self._steps * self.examples_per_step / seconds if seconds > 0
            else 0.0)
    self._steps, self._seconds = 0, 0.0
    if self._since is not None:
      self._since = now
    return rate

  def pause(self, ready: Callable[[], Any] = lambda: None) -> None:
    """Stops the timing (before an evaluation or a checkpoint write).

    Args:
      ready: blocks on the steps already dispatched, so that their time
        stays in the window (called only when the clock runs).
    """
    if self._since is None:
      return
    ready()
    self._seconds += self.clock() - self._since
    self._since = None
    self._paused = True

  def resume(self) -> None:
    """Restarts the timing and the bar's clock after :meth:`pause`."""
    if not self._paused:
      return
    self._paused = False
    self._since = self.clock()
    self.bar.unpause()

  def set_postfix(self, **values) -> None:
    self.bar.set_postfix(**values)

  def close(self) -> None:
    self.bar.close()
