"""A fork's run, created in one transaction from its source's history (see
``_engine.fork``).

The copied events keep their rows' encoded attributes as they are: payloads are referenced
by content digest, so a fork of a long agent run costs one row per event and no payload
bytes. The source run is only read.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from .._engine import events as ev
from .._engine.failure import Failure, FailureKind
from .._engine.fork import ForkCut
from ..errors import ForkError
from ..serde import Payload
from . import _activity_rows as activities
from ._runs import create_run
from ._tx import RunRow, Tx


class SourceMovedError(ForkError):
    """The source's history grew between planning the fork and creating it; plan again."""

    retryable: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class ForkRun:
    """Everything needed to create a fork."""

    source_run_id: str
    source_last_event_id: int
    """The source's history length the plan was made from (checked, so a source that moved
    on meanwhile is planned again)."""
    start: ev.WorkflowExecutionStarted
    """The source's start event (type, queue, input, memo and time are kept)."""
    cut: ForkCut
    workflow_id: str
    run_id: str
    fork: Payload
    fork_results: tuple[Payload, ...] = ()


def create_fork(tx: Tx, request: ForkRun) -> RunRow:
    """Create the fork's run, history, pending activities, timers and first task."""
    row = tx.c.execute(
        "SELECT last_event_id FROM runs WHERE run_id = ?", (request.source_run_id,)
    ).fetchone()
    if row is None:
        raise ForkError(f"run {request.source_run_id} is gone")
    if int(row[0]) != request.source_last_event_id:
        raise SourceMovedError(f"run {request.source_run_id} moved on while being forked")
    start, cut = request.start, request.cut
    run = create_run(
        tx,
        run_id=request.run_id,
        workflow_id=request.workflow_id,
        workflow_type=start.workflow_type,
        task_queue=start.task_queue,
        input=start.input,
        memo=start.memo,
        fork=request.fork,
        fork_results=request.fork_results,
        started_time=start.time,
    )
    sources = [*cut.copied, *cut.resolved]
    tx.c.executemany(
        "INSERT INTO events (run_id, event_id, type, time, attrs) "
        "SELECT ?, ?, type, time, attrs FROM events WHERE run_id = ? AND event_id = ?",
        [
            (run.run_id, new_id, request.source_run_id, old_id)
            for new_id, old_id in enumerate(sources, start=2)
        ],
    )
    if sources:
        last_input = run.last_input_event_id
        added = 0
        for event_id, type_name, size in tx.c.execute(
            "SELECT event_id, type, length(attrs) FROM events WHERE run_id = ? AND event_id > 1",
            (run.run_id,),
        ):
            added += int(size)
            if not ev.EVENT_TYPES[type_name].IS_COMMAND:
                last_input = max(last_input, int(event_id))
        run.last_event_id = 1 + len(sources)
        run.last_input_event_id = last_input
        run.processed_through = cut.processed_through
        run.history_bytes += added
        tx.c.execute(
            "UPDATE runs SET last_event_id = ?, last_input_event_id = ?, processed_through = ?, "
            "history_bytes = ? WHERE run_id = ?",
            (
                run.last_event_id,
                last_input,
                cut.processed_through,
                run.history_bytes,
                run.run_id,
            ),
        )
    # An at-most-once activity the source may have started and never finished is not run
    # again: it fails as interrupted, as after a worker crash.
    interrupted = [
        ev.ActivityTaskFailed(
            event_id=run.last_event_id + 1 + i,
            time=tx.now,
            seq=a.seq,
            failure=Failure(
                message=(
                    f"at-most-once activity {a.activity_type!r} was in flight when the run "
                    "was forked and the source recorded no outcome; it may or may not have "
                    "taken effect, and the fork does not run it again"
                ),
                kind=FailureKind.APPLICATION,
                type=activities.INTERRUPTED_TYPE,
                non_retryable=True,
            ),
            attempt=1,
        )
        for i, a in enumerate(cut.interrupted)
    ]
    tx.append(run, interrupted)
    for scheduled in cut.rerun:
        # Its schedule-to-close deadline counts from now, not from the source's schedule.
        activities.schedule(tx, run, dataclasses.replace(scheduled, time=tx.now), None)
    for timer in cut.timers:
        tx.c.execute(
            "INSERT INTO timers (run_id, seq, fire_at) VALUES (?, ?, ?)",
            (run.run_id, timer.seq, tx.now + timer.remaining_ms),
        )
        tx.topics.add("timer")
    return run
