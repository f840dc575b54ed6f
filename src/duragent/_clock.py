"""Where workers and clients get the current time.

The store never reads a clock: callers pass ``now``. That single seam is what lets the test
environment skip time (a 7-day timer fires in milliseconds) without touching engine code.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """A source of wall-clock time in milliseconds since the Unix epoch."""

    def now_ms(self) -> int: ...


class SystemClock:
    """The real clock."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000
