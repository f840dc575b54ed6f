"""The store's side of durable streams: fenced publishing by activity attempts, reading
by subscribers, and retention (the rows themselves are described in :mod:`._stream_rows`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ..errors import WorkflowNotFoundError
from . import _activity_rows as activities
from . import _stream_rows
from ._connection import SqliteConnection
from ._stream_rows import StreamRow
from .base import ActivityTask, StreamPage, StreamRecord

EXPIRE_STEP: Final = 5
"""Runs whose stream rows one transaction removes: a streamed run holds thousands of rows
(a token each), and the write lock is held a few milliseconds per thousand, so a larger
step would stall every worker of the file for as long (100 runs of 2,000 rows: 0.2 s)."""


@dataclass(frozen=True, slots=True)
class StreamRunRef:
    """A run listed in an external stream store (``stream_runs``)."""

    run_id: str
    namespace: str
    """Empty when an older version listed it (the namespace was not recorded then)."""
    workflow_id: str
    last_time: int
    """When it last wrote a stream row (ms since the epoch)."""


_COLUMNS: Final = "stream_offset, call, attempt, seq, kind, data"


class StreamOps(SqliteConnection):
    """Durable streams next to runs."""

    def publish_stream(
        self, task: ActivityTask, rows: Sequence[StreamRow], now: int, *, start: bool = False
    ) -> bool:
        """Append rows of an attempt's stream (its ``start`` marker first, if asked),
        fenced by the attempt's task lease.

        Returns:
            False, writing nothing, when the attempt is no longer current (timed out,
            reclaimed from a dead worker, cancelled, completed): a superseded attempt never
            adds to the stream.
        """
        with self._write(now) as tx:
            if not activities.is_current(tx, task):
                return False
            _stream_rows.insert(tx, task.run_id, task.seq, task.attempt, rows, start=start)
            return True

    def publish_attempt(
        self,
        run_id: str,
        call: int,
        attempt: int,
        rows: Sequence[StreamRow],
        now: int,
        *,
        start: bool = False,
        end: str | None = None,
        data: str = "",
        namespace: str = "",
        workflow_id: str = "",
    ) -> bool:
        """Append rows of an attempt's stream when this store is not where the attempt's
        task lives (an external stream store, for runs on Temporal): fenced by attempt
        number instead of lease. ``end`` (``commit`` or ``failed``) closes the attempt
        with that marker (``data`` its detail). The run is listed in ``stream_runs``
        (with its ``namespace`` and ``workflow_id``), so its rows can expire once it
        closes (:meth:`stream_runs_due`).

        Returns:
            False, writing nothing, when a later attempt of the call has started or this
            one has ended: a superseded attempt never adds to the stream.
        """
        with self._write(now) as tx:
            over = tx.c.execute(
                "SELECT 1 FROM stream_events WHERE run_id = ? AND call = ? AND seq <= 0 AND "
                "(attempt > ? OR (attempt = ? AND seq = ?)) LIMIT 1",
                (run_id, call, attempt, attempt, _stream_rows.END_SEQ),
            ).fetchone()
            if over is not None:
                return False
            if end == _stream_rows.COMMIT:
                _stream_rows.commit(tx, run_id, call, attempt, rows, data)
            else:
                _stream_rows.insert(tx, run_id, call, attempt, rows, start=start)
                if end is not None:
                    _stream_rows.end_attempt(tx, run_id, call, attempt, end)
            # Every write, not only an attempt's first: a row written after the run's
            # rows expired (a superseded attempt still running) lists the run again.
            tx.c.execute(
                "INSERT INTO stream_runs (run_id, namespace, workflow_id, last_time) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (run_id) DO UPDATE SET "
                "last_time = max(last_time, excluded.last_time), checked_at = 0",
                (run_id, namespace, workflow_id, now),
            )
            return True

    def read_stream_rows(self, run_id: str, after: int, limit: int = 500) -> StreamPage:
        """:meth:`read_stream` for an external stream store, which does not know the run:
        the page's ``status`` is ``running`` and its ``state`` says whether rows exist (the
        caller asks the run's backend whether it closed)."""
        with self._read() as conn:
            page = self._page(conn, run_id, after, limit, 0, "running")
            if page.rows or after > 0:
                return StreamPage(page.rows, page.markers, _stream_rows.STREAMING, page.status)
            any_row = conn.execute(
                "SELECT 1 FROM stream_events WHERE run_id = ? LIMIT 1", (run_id,)
            ).fetchone()
        state = _stream_rows.STREAMING if any_row is not None else 0
        return StreamPage(page.rows, page.markers, state, page.status)

    def read_stream(self, run_id: str, after: int, limit: int = 500) -> StreamPage:
        """Up to ``limit`` rows of the run's stream with offsets above ``after``.

        Raises:
            WorkflowNotFoundError: No such run.
        """
        with self._read() as conn:
            run = conn.execute(
                "SELECT stream, status FROM runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            if run is None:
                raise WorkflowNotFoundError(f"run {run_id} not found in {self.path}")
            return self._page(conn, run_id, after, limit, int(run[0]), str(run[1]))

    @staticmethod
    def _page(
        conn: sqlite3.Connection, run_id: str, after: int, limit: int, state: int, status: str
    ) -> StreamPage:
        rows = [
            StreamRecord(*r)
            for r in conn.execute(
                f"SELECT {_COLUMNS} FROM stream_events WHERE run_id = ? AND stream_offset > ? "
                "ORDER BY stream_offset LIMIT ?",
                (run_id, after, limit),
            ).fetchall()
        ]
        calls = sorted({r.call for r in rows if r.attempt > 0})
        markers: list[StreamRecord] = []
        if calls:
            markers = [
                StreamRecord(*r)
                for r in conn.execute(
                    f"SELECT {_COLUMNS} FROM stream_events WHERE run_id = ? AND seq <= 0 "
                    f"AND call IN ({','.join('?' * len(calls))}) ORDER BY stream_offset",
                    (run_id, *calls),
                ).fetchall()
            ]
        return StreamPage(rows, markers, state, status)

    def stream_shown(self, run_id: str, upto: int, kinds: Sequence[str]) -> dict[int, int]:
        """For a subscriber resuming after offset ``upto``: per call, the attempt whose
        rows of ``kinds`` it was shown last and that no marker up to ``upto`` retracted."""
        with self._read() as conn:
            found = conn.execute(
                "SELECT call, attempt, kind, max(stream_offset) FROM stream_events "
                "WHERE run_id = ? AND stream_offset <= ? AND attempt > 0 AND (seq = 0 "
                f"OR kind = ? OR kind IN ({','.join('?' * len(kinds))})) GROUP BY call",
                (run_id, upto, _stream_rows.FAILED, *kinds),
            ).fetchall()
        return {
            int(call): int(attempt)
            for call, attempt, kind, _ in found
            if kind not in (_stream_rows.START, _stream_rows.FAILED)
        }

    def expire_streams(self, now: int, retention_ms: int, *, limit: int = EXPIRE_STEP) -> int:
        """Drop the stream rows of up to ``limit`` runs closed at least ``retention_ms``
        ago, in one transaction (subscribers then see the recorded responses from history).
        Returns how many runs' rows went: ``limit`` means more may be due."""
        with self._read() as conn:
            expired = [
                str(r[0])
                for r in conn.execute(
                    "SELECT run_id FROM runs WHERE stream = 1 AND close_time <= ? LIMIT ?",
                    (now - retention_ms, limit),
                ).fetchall()
            ]
        if not expired:
            return 0
        with self._write(now) as tx:
            for run_id in expired:
                tx.c.execute("DELETE FROM stream_events WHERE run_id = ?", (run_id,))
                tx.c.execute(
                    "UPDATE runs SET stream = ? WHERE run_id = ?", (_stream_rows.EXPIRED, run_id)
                )
        return len(expired)

    # -- the runs of an external stream store ---------------------------------------------------

    def stream_runs_due(
        self, namespace: str, written_before: int, checked_before: int, limit: int
    ) -> list[StreamRunRef]:
        """Runs of ``namespace`` (or of no recorded namespace: listed by an older version)
        whose last stream row is older than ``written_before`` and that nobody asked about
        since ``checked_before``: those that may have closed long enough ago, oldest
        first."""
        with self._read() as conn:
            return [
                StreamRunRef(str(r[0]), str(r[1]), str(r[2]), int(r[3]))
                for r in conn.execute(
                    "SELECT run_id, namespace, workflow_id, last_time FROM stream_runs "
                    "WHERE last_time < ? AND checked_at < ? AND namespace IN (?, '') "
                    "ORDER BY last_time LIMIT ?",
                    (written_before, checked_before, namespace, limit),
                ).fetchall()
            ]

    def drop_stream_runs(self, run_ids: Sequence[str], now: int) -> int:
        """Remove the stream rows of these runs (and their listing). Returns how many
        rows went."""
        removed = 0
        with self._write(now) as tx:
            for run_id in run_ids:
                removed += tx.c.execute(
                    "DELETE FROM stream_events WHERE run_id = ?", (run_id,)
                ).rowcount
                tx.c.execute("DELETE FROM stream_runs WHERE run_id = ?", (run_id,))
        return removed

    def stream_runs_checked(self, run_ids: Sequence[str], now: int) -> None:
        """These runs were found open (or closed too recently): ask again later."""
        if not run_ids:
            return
        with self._write(now) as tx:
            tx.c.executemany(
                "UPDATE stream_runs SET checked_at = ? WHERE run_id = ?",
                [(now, run_id) for run_id in run_ids],
            )
