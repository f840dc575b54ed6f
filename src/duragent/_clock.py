"""Where workers and clients get the current time, and how they notice the clock jump.

The store never reads a clock: callers pass ``now``. That single seam is what lets the test
environment skip time (a 7-day timer fires in milliseconds) without touching engine code.

Wall time and durations. What is persisted is wall time (milliseconds since the Unix
epoch): event times (``workflow.now()``), a timer's due time, an attempt's lease expiry,
deadlines, the end of a retry backoff. Wall time is what survives a restart and what every
process on the machine agrees on; it is also what a person reads in a history. But a
duration must not change when the system clock is stepped (NTP correcting a wrong clock, an
administrator, a VM resumed): a worker compares the wall clock with the machine's monotonic
clock (:class:`ClockEpoch`) and, when they drift apart by a step, moves every pending due
time in the store by the same step, once (see ``SqliteStore.follow_clock_step``). A 60 s
timer then still fires 60 s after it started, an attempt keeps its lease, and nothing fires
twice. Durations measured inside one process (sleeps, the local timeout of an attempt, the
batching budget) use the monotonic clock directly.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    """A source of wall-clock time in milliseconds since the Unix epoch."""

    def now_ms(self) -> int: ...


@dataclass(frozen=True, slots=True)
class ClockEpoch:
    """The wall clock against the machine's monotonic clock (``CLOCK_BOOTTIME``).

    ``offset_ms`` is wall time minus time since boot: it stays the same while time passes
    (suspend included) and changes by exactly the size of a step of the wall clock. Two
    epochs compare only within one boot (``boot_id``).
    """

    boot_id: str
    offset_ms: int


@functools.cache
def boot_id() -> str | None:
    """This boot of the machine (Linux), or None where it cannot be told."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip() or None
    except OSError:
        return None


def clock_epoch(clock: object) -> ClockEpoch | None:
    """The epoch of ``clock`` if it can tell one (the system clock on Linux can); None
    disables step detection (a clock that only moves on purpose, as in tests)."""
    epoch = getattr(clock, "epoch", None)
    value: object = epoch() if callable(epoch) else None
    return value if isinstance(value, ClockEpoch) else None


class SystemClock:
    """The real clock."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def epoch(self) -> ClockEpoch | None:
        """Where the wall clock stands against time since boot (None off Linux)."""
        boot = boot_id()
        if boot is None or not hasattr(time, "CLOCK_BOOTTIME"):
            return None
        # Read the wall clock between two monotonic readings: a preemption between the
        # reads then shifts the result by half of it at most.
        before = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        wall = time.time_ns()
        after = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        return ClockEpoch(boot, (wall - (before + after) // 2) // 1_000_000)
