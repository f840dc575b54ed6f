"""Change watches on Temporal, which has no wake-ups to subscribe to: poll a cheap
fingerprint of what a view shows (a run's description, the first page of the run list)
and wake when it changes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from ..errors import ConfigurationError

__all__ = ["PollWatch"]

POLL_INTERVAL_S: Final = 0.5
log = logging.getLogger("duragent.temporal")


class PollWatch:
    """A :class:`~duragent._backend.ChangeWatch` that polls ``state`` every ``interval``
    seconds and wakes when its value changes.

    The first wait after the watch is created wakes once its first fingerprint is taken
    (the change it cannot have seen happens between creating the watch and that read, so
    it reports one possibly spurious wake-up rather than risk missing it).
    """

    def __init__(
        self, state: Callable[[], Awaitable[object]], *, interval: float = POLL_INTERVAL_S
    ) -> None:
        self._state = state
        self._interval = interval
        self._changed = asyncio.Event()
        self._closed = False
        self._task = asyncio.get_running_loop().create_task(self._poll())

    async def _poll(self) -> None:
        last: object = None
        first = True
        while True:
            try:
                current = await self._state()
            except asyncio.CancelledError:
                raise
            except Exception as err:  # the next round tries again; a view must not die
                log.debug("watch poll failed: %s", err)
                current = last
            if first or current != last:
                self._changed.set()
                first = False
            last = current
            await asyncio.sleep(self._interval)

    async def wait(self, timeout: float) -> bool:
        if self._closed:
            raise ConfigurationError("this watch is closed")
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            return False
        self._changed.clear()
        return True

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._task.cancel()
            with contextlib.suppress(RuntimeError):
                self._task.get_loop()
