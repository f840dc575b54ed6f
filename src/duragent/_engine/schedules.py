"""When a schedule acts, and what it does when a previous action is still running: the
spec, policy and state of a schedule, and the arithmetic over them. Pure: times are epoch
milliseconds passed in, nothing here reads a clock or touches storage.

The names and meanings follow ``temporalio.client``'s schedule types, so code written for
Temporal reads the same. A spec's action times are the union of its cron expressions'
matches and its intervals' ticks (an interval ``every`` with ``offset`` matches the times
``t`` with ``(t - offset) % every == 0``, counted from the Unix epoch, as Temporal does),
within ``[start_at, end_at]``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from .cron import CronExpression, CronSyntaxError

__all__ = [
    "DEFAULT_CATCHUP_WINDOW",
    "OverlapDecision",
    "ScheduleIntervalSpec",
    "ScheduleOverlapPolicy",
    "SchedulePolicy",
    "ScheduleSpec",
    "ScheduleState",
    "decide_overlap",
    "iso_minute",
]

DEFAULT_CATCHUP_WINDOW: Final = timedelta(days=365)
"""Temporal's default: after downtime, action times up to a year old still run."""
MIN_CATCHUP_WINDOW: Final = timedelta(seconds=10)
"""Temporal's minimum catch-up window."""
BUFFER_LIMIT: Final = 1000
"""At most this many buffered actions per schedule (``BUFFER_ALL``), as Temporal."""


class ScheduleOverlapPolicy(enum.IntEnum):
    """What a schedule does when an action is due while its previous workflow still runs
    (the values are temporalio's)."""

    SKIP = 1
    """Do not start it (counted in ``num_actions_skipped_overlap``). The default."""
    BUFFER_ONE = 2
    """Start it once the running workflow closes; at most one waits, later ones are
    skipped."""
    BUFFER_ALL = 3
    """Start each, one after another, as the previous one closes (up to 1000 wait)."""
    CANCEL_OTHER = 4
    """Request cancellation of the running workflow and start this one once it closes."""
    TERMINATE_OTHER = 5
    """Terminate the running workflow and start this one at once."""
    ALLOW_ALL = 6
    """Start it regardless; several may run at once."""


@dataclass(frozen=True)
class ScheduleIntervalSpec:
    """Every ``every``, at ``offset`` past each multiple of it since the Unix epoch: e.g.
    ``every=timedelta(hours=1), offset=timedelta(minutes=5)`` is 00:05, 01:05, ...

    Attributes:
        every: The period (at least one second).
        offset: Shift within the period (default none; less than ``every``).
    """

    every: timedelta
    offset: timedelta | None = None


@dataclass(frozen=True)
class ScheduleSpec:
    """When a schedule acts: the union of ``cron_expressions`` and ``intervals``, within
    ``[start_at, end_at]``.

    Attributes:
        cron_expressions: Five-field cron expressions in UTC (see
            :mod:`duragent._engine.cron`; e.g. ``"*/5 * * * *"``, ``"@daily"``). When
            both day of month and day of week are restricted, a day must match both, as
            on Temporal (``"0 0 13 * fri"``: Friday the 13th).
        intervals: Fixed periods (:class:`ScheduleIntervalSpec`).
        start_at: No action before this time.
        end_at: No action after this time.
        jitter: Accepted for Temporal parity; only ``None`` on the embedded engine.
        time_zone_name: Accepted for Temporal parity; only ``None`` or ``"UTC"`` on the
            embedded engine (cron times are UTC).
    """

    cron_expressions: Sequence[str] = ()
    intervals: Sequence[ScheduleIntervalSpec] = ()
    start_at: datetime | None = None
    end_at: datetime | None = None
    jitter: timedelta | None = None
    time_zone_name: str | None = None


@dataclass(frozen=True)
class SchedulePolicy:
    """How a schedule acts when actions overlap, were missed, or fail.

    Attributes:
        overlap: See :class:`ScheduleOverlapPolicy` (default ``SKIP``).
        catchup_window: After downtime (no worker running), due times at most this old
            still run, subject to ``overlap``; older ones are skipped and counted in
            ``num_actions_missed_catchup_window`` (default a year, minimum 10 s).
        pause_on_failure: Pause the schedule when a workflow it started fails or times
            out.
    """

    overlap: ScheduleOverlapPolicy = ScheduleOverlapPolicy.SKIP
    catchup_window: timedelta = DEFAULT_CATCHUP_WINDOW
    pause_on_failure: bool = False


@dataclass(frozen=True)
class ScheduleState:
    """Whether a schedule acts, and how many more times.

    Attributes:
        note: Why it was paused or unpaused (shown by describe and the CLI).
        paused: A paused schedule takes no action; times that pass while paused are not
            caught up on unpause.
        limited_actions: Whether ``remaining_actions`` limits the actions.
        remaining_actions: With ``limited_actions``: actions left (0: done).
    """

    note: str | None = None
    paused: bool = False
    limited_actions: bool = False
    remaining_actions: int = 0


@dataclass(frozen=True, slots=True)
class OverlapDecision:
    """What to do with a due action: ``start`` it (after terminating the running ones
    when ``terminate_running``), ``buffer`` it (after requesting cancellation of the
    running ones when ``cancel_running``), or ``skip`` it."""

    outcome: str
    cancel_running: bool = False
    terminate_running: bool = False


def decide_overlap(policy: ScheduleOverlapPolicy, running: int, buffered: int) -> OverlapDecision:
    """The decision for one due action, given how many of the schedule's workflows run
    and how many actions wait in its buffer."""
    if running == 0 and buffered == 0:
        return OverlapDecision("start")
    if policy == ScheduleOverlapPolicy.ALLOW_ALL:
        return OverlapDecision("start")
    if policy == ScheduleOverlapPolicy.TERMINATE_OTHER:
        return OverlapDecision("start", terminate_running=True)
    if policy == ScheduleOverlapPolicy.CANCEL_OTHER:
        return OverlapDecision("buffer", cancel_running=True)
    if policy == ScheduleOverlapPolicy.BUFFER_ONE and buffered == 0:
        return OverlapDecision("buffer")
    if policy == ScheduleOverlapPolicy.BUFFER_ALL and buffered < BUFFER_LIMIT:
        return OverlapDecision("buffer")
    return OverlapDecision("skip")


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime (naive ones are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    """The aware UTC datetime of epoch milliseconds."""
    return datetime.fromtimestamp(ms / 1000, UTC)


def iso_minute(ms: int) -> str:
    """``2026-01-02T03:04:05Z``: how a started workflow's id names its action time (as
    Temporal names them)."""
    return from_ms(ms).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class CompiledSpec:
    """A :class:`ScheduleSpec` checked and ready for time arithmetic (see :func:`compile`).

    Attributes:
        crons: The parsed cron expressions.
        intervals: ``(every_ms, offset_ms)`` pairs.
        start_ms: No action before this (epoch ms), or None.
        end_ms: No action after this, or None.
    """

    crons: tuple[CronExpression, ...]
    intervals: tuple[tuple[int, int], ...]
    start_ms: int | None = None
    end_ms: int | None = None

    def next_after(self, after_ms: int) -> int | None:
        """The first action time strictly after ``after_ms``, or None when there is none
        (past ``end_at``)."""
        after = after_ms
        if self.start_ms is not None and after < self.start_ms:
            after = self.start_ms - 1
        best: int | None = None
        for cron in self.crons:
            found = cron.next_after(after)
            if found is not None and (best is None or found < best):
                best = found
        for every, offset in self.intervals:
            k = (after - offset) // every + 1
            found = k * every + offset
            if best is None or found < best:
                best = found
        if best is not None and self.end_ms is not None and best > self.end_ms:
            return None
        return best

    def times(self, after_ms: int) -> Iterator[int]:
        """Action times strictly after ``after_ms``, ascending, without repeats."""
        current = after_ms
        while True:
            found = self.next_after(current)
            if found is None:
                return
            yield found
            current = found


def compile_spec(spec: ScheduleSpec) -> CompiledSpec:
    """Check ``spec`` and prepare it for :meth:`CompiledSpec.next_after`.

    Raises:
        ValueError: A bad cron expression or interval, a spec with no times, or an option
            the embedded engine does not support (with what to do instead).
    """
    if spec.jitter:
        raise ValueError("schedule jitter is not supported on the embedded engine; leave it unset")
    if spec.time_zone_name not in (None, "", "UTC", "Etc/UTC"):
        raise ValueError(
            f"time_zone_name {spec.time_zone_name!r} is not supported on the embedded engine: "
            "cron expressions are in UTC; write them in UTC"
        )
    if isinstance(spec.cron_expressions, str):
        raise ValueError("cron_expressions is a list of expressions: pass [expression]")
    crons: list[CronExpression] = []
    for text in spec.cron_expressions:
        try:
            # Temporal's server turns a schedule's cron string into a calendar spec, whose
            # day of month and day of week must both match: the same here.
            crons.append(CronExpression.parse(text, both_days=True))
        except CronSyntaxError as err:
            raise ValueError(str(err)) from err
    intervals: list[tuple[int, int]] = []
    for interval in spec.intervals:
        every = int(interval.every.total_seconds() * 1000)
        offset = int(interval.offset.total_seconds() * 1000) if interval.offset else 0
        if every < 1000:
            raise ValueError(f"a schedule interval must be at least 1 second, got {interval.every}")
        if not 0 <= offset < every:
            raise ValueError(
                f"a schedule interval's offset must be at least 0 and less than every "
                f"({interval.every}), got {interval.offset}"
            )
        intervals.append((every, offset))
    if not crons and not intervals:
        raise ValueError("a schedule spec needs cron_expressions or intervals")
    return CompiledSpec(
        crons=tuple(crons),
        intervals=tuple(intervals),
        start_ms=to_ms(spec.start_at) if spec.start_at else None,
        end_ms=to_ms(spec.end_at) if spec.end_at else None,
    )


def next_times(spec: CompiledSpec, after_ms: int, count: int) -> list[int]:
    """The next ``count`` action times after ``after_ms`` (fewer past ``end_at``)."""
    out: list[int] = []
    if count <= 0:
        return out
    for t in spec.times(after_ms):
        out.append(t)
        if len(out) >= count:
            break
    return out


def check_policy(policy: SchedulePolicy) -> None:
    """Raises ValueError for a catch-up window under Temporal's minimum of 10 s."""
    if policy.catchup_window < MIN_CATCHUP_WINDOW:
        raise ValueError(
            f"catchup_window must be at least 10 seconds (Temporal's minimum), "
            f"got {policy.catchup_window}"
        )
    ScheduleOverlapPolicy(policy.overlap)
