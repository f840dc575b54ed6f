"""Removing closed runs, with everything the store keeps for them (``duragent prune``).

A closed run's rows stay until removed here: its events, its activity attempts, its updates,
its usage ledger entries and its token stream. Running runs are never touched. Payloads are
shared by content digest between runs (a fork refers to its source's, identical inputs are
one row), so removing a run removes none: :meth:`RetentionOps.collect_payloads` then
reclaims those nothing refers to (see :mod:`._payload_gc`). The bytes removed rows held are
reused by SQLite for new rows; the file itself shrinks only after ``VACUUM``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ._connection import SqliteConnection
from ._payload_gc import PayloadReport, collect_in_subprocess, collect_payloads
from ._tx import RUNS_TOPIC
from .base import RunStatus

PRUNED_TABLES: Final = (
    "events",
    "attempts",
    "updates",
    "usage_ledger",
    "stream_events",
    "queries",
    "tasks",
    "timers",
    "schedule_runs",
)
"""Every table with rows per run besides ``runs`` itself (a test checks that no table with a
``run_id`` column is missing)."""
_CLOSED_BEFORE: Final = "start_time < ?1 AND status != ?2 AND close_time < ?1"
"""Closed before ``?1`` (``?2``: the running status). A run closes after it starts, so the
index on start time narrows the walk."""
_IN_MEMORY: Final = PayloadReport(0, 0, 0, skipped="an in-memory store is not collected")
"""What a collection of an in-memory store does: nothing (no other connection sees it)."""
PRUNE_STEP: Final = 200
"""Runs removed per transaction: each holds the write lock for a few milliseconds only."""


@dataclass(frozen=True, slots=True)
class PruneReport:
    """What :meth:`RetentionOps.prune_closed_runs` removed (or would remove)."""

    runs: int
    events: int


class RetentionOps(SqliteConnection):
    """Removing closed runs."""

    def prune_closed_runs(
        self, closed_before: int, now: int, *, dry_run: bool = False
    ) -> PruneReport:
        """Remove every run closed before ``closed_before`` (ms since the epoch) with
        its rows, in short transactions; ``dry_run``: only count them.

        Running runs are skipped, however old.
        """
        if dry_run:
            with self._read() as conn:
                row = conn.execute(
                    "SELECT count(*), coalesce(sum(last_event_id), 0) FROM runs "
                    f"WHERE {_CLOSED_BEFORE}",
                    (closed_before, RunStatus.RUNNING.value),
                ).fetchone()
            return PruneReport(int(row[0]), int(row[1]))
        runs = events = 0
        while True:
            step = self.prune_step(closed_before, now)
            runs += step.runs
            events += step.events
            if step.runs < PRUNE_STEP:
                return PruneReport(runs, events)

    def collect_payloads(
        self,
        now: int,
        *,
        stop: threading.Event | None = None,
        after_mark: Callable[[], None] | None = None,
    ) -> PayloadReport:
        """Remove the payloads no event refers to (any more), through a connection of its
        own: a long read, then short write transactions (see :mod:`._payload_gc`); an
        in-memory store has nothing to share with it, and collects nothing."""
        if self.path == ":memory:":
            return _IN_MEMORY
        return collect_payloads(
            self.path,
            now,
            busy_timeout_ms=self._configured_timeout_ms,
            after_mark=after_mark,
            stop=stop,
        )

    async def collect_payloads_apart(self, now: int, *, stop: asyncio.Event) -> PayloadReport:
        """:meth:`collect_payloads` in a child process (what a worker runs: the mark would
        otherwise share the interpreter with its loop); ``stop`` ends it at its next step."""
        if self.path == ":memory:":
            return _IN_MEMORY
        return await collect_in_subprocess(
            self.path, now, busy_timeout_ms=self._configured_timeout_ms, stop=stop
        )

    def prune_step(self, closed_before: int, now: int, *, limit: int = PRUNE_STEP) -> PruneReport:
        """Remove up to ``limit`` of the runs closed before ``closed_before``, oldest first,
        in one transaction (a worker's retention takes one step per housekeeping round, so
        a backlog never holds the write lock or the worker's loop for long)."""
        with self._write(now) as tx:
            rows = tx.c.execute(
                f"SELECT run_id, last_event_id FROM runs WHERE {_CLOSED_BEFORE} "
                "ORDER BY start_time LIMIT ?3",
                (closed_before, RunStatus.RUNNING.value, limit),
            ).fetchall()
            if not rows:
                return PruneReport(0, 0)
            ids = [str(r[0]) for r in rows]
            marks = ",".join("?" * len(ids))
            for table in PRUNED_TABLES:
                tx.c.execute(f"DELETE FROM {table} WHERE run_id IN ({marks})", ids)
            tx.c.execute(f"DELETE FROM runs WHERE run_id IN ({marks})", ids)
            tx.topics.add(RUNS_TOPIC)
        return PruneReport(len(rows), sum(int(r[1]) for r in rows))
