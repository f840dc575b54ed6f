"""The durable stream next to a run, inside a write transaction.

A streamed model call's activity attempt publishes its deltas as rows keyed by
``(run, call, attempt, seq)``: ``call`` is the activity's sequence number in the run,
``seq`` counts the attempt's deltas from 1. Markers bound each attempt: ``start`` (seq 0)
when it begins, then exactly one of ``commit`` (seq -1, written in the transaction that
records the activity's result) or ``failed`` (seq -1, written in the transaction that records
the attempt's failure, timeout, interruption or release). Inserts are idempotent
(``INSERT OR IGNORE`` on that key) and fenced: a publish is accepted only while the
attempt's task lease is current (:func:`publish`), so a superseded attempt (timed out,
reclaimed from a dead worker) cannot add a row once its successor was claimed.

While a run streams (``runs.stream = 1``, set by its first publish), the history events
subscribers show (activity results, markers such as approval requests, the close) get a
pointer row in the transaction that appends them (:func:`steps`): ``call`` is the
activity's sequence number (0 for others), ``attempt`` 0, ``seq`` the event id. So one
offset space orders tokens and steps, and a subscriber reads the events behind the
pointers from history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from .._engine import events as ev

if TYPE_CHECKING:  # _tx calls steps() from Tx.append
    from ._tx import RunRow, Tx

START: Final = "start"
COMMIT: Final = "commit"
FAILED: Final = "failed"
STEP: Final = "event"
END_SEQ: Final = -1

STREAMING: Final = 1
EXPIRED: Final = 2

STEP_EVENTS: Final = frozenset(
    {
        ev.ActivityTaskCompleted.TYPE,
        ev.ActivityTaskFailed.TYPE,
        ev.ActivityTaskTimedOut.TYPE,
        ev.ActivityTaskCanceled.TYPE,
        ev.MarkerRecorded.TYPE,
        ev.WorkflowExecutionCompleted.TYPE,
        ev.WorkflowExecutionFailed.TYPE,
        ev.WorkflowExecutionCanceled.TYPE,
        ev.WorkflowExecutionTerminated.TYPE,
        ev.WorkflowExecutionContinuedAsNew.TYPE,
    }
)
"""History events that get a pointer row while their run streams."""

_INSERT: Final = (
    "INSERT OR IGNORE INTO stream_events (run_id, call, attempt, seq, kind, data, time) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def topic(run_id: str) -> str:
    """The wake-up topic of a run's stream."""
    return f"stream:{run_id}"


@dataclass(frozen=True, slots=True)
class StreamRow:
    """One delta an attempt publishes: its number in the attempt (from 1), what it is
    (``text``, ``reasoning``, ``args``, ``item``, ``tool_call``...) and its data (text)."""

    seq: int
    kind: str
    data: str


def insert(
    tx: Tx, run_id: str, call: int, attempt: int, rows: Sequence[StreamRow], *, start: bool
) -> None:
    """Insert an attempt's rows (after its fence was checked), its start marker first when
    ``start``; marks the run as streaming."""
    params = [(run_id, call, attempt, r.seq, r.kind, r.data, tx.now) for r in rows]
    if start:
        params.insert(0, (run_id, call, attempt, 0, START, "", tx.now))
        tx.c.execute("UPDATE runs SET stream = 1 WHERE run_id = ? AND stream = 0", (run_id,))
    if params:
        tx.c.executemany(_INSERT, params)
        tx.topics.add(topic(run_id))


def commit(
    tx: Tx, run_id: str, call: int, attempt: int, rows: Sequence[StreamRow], data: str = ""
) -> None:
    """The attempt's last rows and its commit marker, in the transaction that records its
    result (whose task was taken, so the attempt was current)."""
    insert(tx, run_id, call, attempt, [*rows, StreamRow(END_SEQ, COMMIT, data)], start=False)


def end_attempt(tx: Tx, run_id: str, call: int, attempt: int, outcome: str) -> None:
    """Mark a failed (timed out, interrupted, released...) attempt as over, if it streamed:
    subscribers retract what it showed."""
    cur = tx.c.execute(
        "INSERT OR IGNORE INTO stream_events (run_id, call, attempt, seq, kind, data, time) "
        "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE EXISTS (SELECT 1 FROM stream_events "
        "WHERE run_id = ?1 AND call = ?2 AND attempt = ?3 AND seq = 0)",
        (run_id, call, attempt, END_SEQ, FAILED, outcome, tx.now),
    )
    if cur.rowcount:
        tx.topics.add(topic(run_id))


def steps(tx: Tx, run: RunRow, events: Sequence[ev.Event]) -> None:
    """Pointer rows for the events of a streaming run that subscribers show."""
    params = [
        (run.run_id, getattr(e, "seq", 0), 0, e.event_id, STEP, e.TYPE, tx.now)
        for e in events
        if e.TYPE in STEP_EVENTS
    ]
    if params:
        tx.c.executemany(_INSERT, params)
        tx.topics.add(topic(run.run_id))
