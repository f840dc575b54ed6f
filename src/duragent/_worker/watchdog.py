"""A watchdog for workflow code that blocks the worker.

Workflow tasks run on the worker's event loop thread, one at a time, and workflow code never
waits on I/O: a task normally takes milliseconds. Code that blocks — ``time.sleep``, a
blocking HTTP call, a busy loop — stalls every workflow and async activity of the worker
instead. Python cannot interrupt it, so the watchdog says where it is: a thread that notices a
task running longer than a threshold logs a warning naming the workflow, with the stack of
the blocked thread (the offending line is near its top).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final

log = logging.getLogger("duragent.worker")

BLOCKED_TASK_WARNING_S: Final = 5.0
"""How long one workflow task may hold the worker's thread before the watchdog warns
(replaying a very long history can legitimately take a second or two)."""


_STACK_FRAMES: Final = 12
"""Innermost frames shown: the blocking line and the workflow code around it."""


@dataclass(slots=True)
class _Watched:
    what: Any
    thread_id: int
    started: float
    warned: int = 0


class _Watch:
    """The context of :meth:`Watchdog.watch`. A class, not a generator context manager:
    every activity result and workflow task enters one, and a generator's frame and its
    wrapper cost about 1% of an activity's round trip."""

    __slots__ = ("_dog", "_what")

    def __init__(self, dog: Watchdog, what: Any) -> None:
        self._dog = dog
        self._what = what

    def __enter__(self) -> None:
        self._dog._current = _Watched(self._what, threading.get_ident(), time.monotonic())  # pyright: ignore[reportPrivateUsage]

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._dog._current = None  # pyright: ignore[reportPrivateUsage]


class Watchdog:
    """Warns, with a stack trace, when one workflow task runs too long.

    Args:
        describe: Names what is watched, in the warning (called only when warning, so
            watching costs the worker next to nothing).
        threshold_s: Warn once a task has run this long, and again each time the time it
            has run doubles (default: ``BLOCKED_TASK_WARNING_S``).
    """

    def __init__(self, describe: Callable[[Any], str], threshold_s: float | None = None) -> None:
        self.describe = describe
        self.threshold_s = BLOCKED_TASK_WARNING_S if threshold_s is None else threshold_s
        self._current: _Watched | None = None
        self._wake = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def watch(self, what: Any) -> _Watch:
        """Watch the calling thread while it processes ``what`` (a context manager)."""
        if self._thread is None and not self._stopped:
            self._thread = threading.Thread(target=self._run, name="duragent-watchdog", daemon=True)
            self._thread.start()
        return _Watch(self, what)

    def stop(self) -> None:
        """Stop the watchdog thread."""
        self._stopped = True
        self._wake.set()

    def _run(self) -> None:
        interval = max(self.threshold_s / 4, 0.01)
        while not self._wake.wait(interval):
            watched = self._current
            if watched is None:
                continue
            elapsed = time.monotonic() - watched.started
            if elapsed < self.threshold_s * (2**watched.warned):
                continue
            watched.warned += 1
            frame = sys._current_frames().get(watched.thread_id)  # pyright: ignore[reportPrivateUsage]
            stack = (
                "".join(traceback.format_stack(frame, limit=_STACK_FRAMES))
                if frame is not None
                else ""
            )
            log.warning(
                "%s has held the worker's thread for %.1f s. Workflow code must not block "
                "(time.sleep, blocking I/O, long computations): use workflow.sleep and "
                "activities. Every other workflow of this worker waits meanwhile. Where it "
                "is now (innermost last):\n%s",
                self.describe(watched.what),
                elapsed,
                stack,
            )
