"""Run lifecycle inside a transaction: create, signal, cancel, close, terminate.

Closing a run is the one place that handles its consequences: its pending tasks, timers,
updates and queries are dropped, its parent learns the outcome, and its children are
terminated, cancelled or abandoned according to their parent-close policy.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from .._engine import events as ev
from .._engine.failure import Failure, FailureKind
from ..serde import Payload
from ._tx import RunRow, Tx, dumps
from .base import RunStatus


def new_run_id() -> str:
    return uuid.uuid4().hex


def create_run(
    tx: Tx,
    *,
    run_id: str,
    workflow_id: str,
    workflow_type: str,
    task_queue: str,
    input: tuple[Payload, ...],
    memo: dict[str, Any] | None = None,
    search_attributes: dict[str, Any] | None = None,
    parent: RunRow | None = None,
    parent_seq: int | None = None,
    parent_close_policy: str | None = None,
    continued_from: RunRow | None = None,
    attempt: int = 1,
    fork: Payload | None = None,
    fork_results: tuple[Payload, ...] = (),
    started_time: int | None = None,
) -> RunRow:
    """Insert a running run with its ``WorkflowExecutionStarted`` event and first task.

    ``fork``/``fork_results`` go into the start event of a fork (see ``_fork_rows``), whose
    start event keeps its source's time (``started_time``) so its code sees the same start.
    """
    if continued_from is not None:
        first_run_id = continued_from.first_run_id
        parent_workflow_id = continued_from.parent_workflow_id
        parent_run_id = continued_from.parent_run_id
        parent_seq = continued_from.parent_seq
        parent_close_policy = continued_from.parent_close_policy
        # Search attributes and memo are carried over, as on Temporal.
        row = tx.c.execute(
            "SELECT search_attributes, memo FROM runs WHERE run_id = ?", (continued_from.run_id,)
        ).fetchone()
        if search_attributes is None and row is not None and row[0]:
            search_attributes = json.loads(row[0])
        if not memo and row is not None and row[1]:
            memo = json.loads(row[1])
    else:
        first_run_id = run_id
        parent_workflow_id = parent.workflow_id if parent else None
        parent_run_id = parent.run_id if parent else None
    run = RunRow(
        run_id=run_id,
        workflow_id=workflow_id,
        workflow_type=workflow_type,
        task_queue=task_queue,
        status=RunStatus.RUNNING,
        last_event_id=0,
        last_input_event_id=0,
        processed_through=0,
        first_run_id=first_run_id,
        parent_workflow_id=parent_workflow_id,
        parent_run_id=parent_run_id,
        parent_seq=parent_seq,
        parent_close_policy=parent_close_policy,
        history_bytes=0,
    )
    started = ev.WorkflowExecutionStarted(
        event_id=1,
        time=tx.now if started_time is None else started_time,
        workflow_type=workflow_type,
        workflow_id=workflow_id,
        task_queue=task_queue,
        input=input,
        attempt=attempt,
        parent_workflow_id=parent_workflow_id,
        parent_run_id=parent_run_id,
        parent_seq=parent_seq,
        continued_from_run_id=continued_from.run_id if continued_from else None,
        first_run_id=first_run_id,
        memo=dict(memo or {}),
        fork=fork,
        fork_results=fork_results,
    )
    # The run's row is inserted with its counters after its first event: one statement
    # less than inserting it empty and updating it.
    tx.append(run, [started], counters_later=True)
    tx.c.execute(
        "INSERT INTO runs (run_id, workflow_id, workflow_type, task_queue, status, start_time, "
        "last_event_id, last_input_event_id, history_bytes, first_run_id, parent_workflow_id, "
        "parent_run_id, parent_seq, parent_close_policy, memo, search_attributes) "
        "VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            run_id,
            workflow_id,
            workflow_type,
            task_queue,
            tx.now,
            run.last_event_id,
            run.last_input_event_id,
            run.history_bytes,
            first_run_id,
            parent_workflow_id,
            parent_run_id,
            parent_seq,
            parent_close_policy,
            dumps(memo) if memo else None,
            dumps(search_attributes) if search_attributes else None,
        ),
    )
    tx.ensure_workflow_task(run)
    tx.topics.add(f"run:{run_id}")
    tx.topics.add(f"wfid:{workflow_id}")
    return run


def signal_run(
    tx: Tx, run: RunRow, name: str, input: tuple[Payload, ...], identity: str = ""
) -> None:
    tx.append_input(
        run,
        lambda event_id, time: ev.WorkflowExecutionSignaled(
            event_id=event_id, time=time, signal_name=name, input=input, identity=identity
        ),
    )


def request_cancel_run(tx: Tx, run: RunRow, reason: str, identity: str = "") -> None:
    """Ask a run to cancel (delivered once; later requests are no-ops)."""
    already = tx.c.execute(
        "SELECT 1 FROM events WHERE run_id = ? AND type = ? LIMIT 1",
        (run.run_id, ev.WorkflowExecutionCancelRequested.TYPE),
    ).fetchone()
    if already:
        return
    tx.append_input(
        run,
        lambda event_id, time: ev.WorkflowExecutionCancelRequested(
            event_id=event_id, time=time, reason=reason, identity=identity
        ),
    )
    # Running activities learn of it at their next heartbeat.
    tx.c.execute(
        "UPDATE tasks SET cancel_requested = 1 WHERE run_id = ? AND kind = 1", (run.run_id,)
    )


def close_run(
    tx: Tx,
    run: RunRow,
    status: str,
    *,
    result: Payload | None = None,
    failure: Failure | None = None,
) -> None:
    """Mark ``run`` closed (its close event is already appended) and apply the effects."""
    run.status = status
    run.pending_updates = 0
    tx.c.execute(
        "UPDATE runs SET status = ?, close_time = ?, task_failure = NULL, pending_updates = 0 "
        "WHERE run_id = ?",
        (status, tx.now, run.run_id),
    )
    tx.c.execute("DELETE FROM tasks WHERE run_id = ?", (run.run_id,))
    tx.drop_deferred(run.run_id)  # its workflow task, if not inserted yet, never will be
    tx.c.execute("DELETE FROM timers WHERE run_id = ?", (run.run_id,))
    closed_failure = dumps(
        Failure(
            message="the workflow closed before the update completed",
            kind=FailureKind.APPLICATION,
            type="WorkflowNotRunningError",
        ).to_dict()
    )
    tx.c.execute(
        "UPDATE updates SET status = 'failed', failure = ? WHERE run_id = ? "
        "AND status IN ('requested', 'accepted')",
        (closed_failure, run.run_id),
    )
    tx.topics.add(f"run:{run.run_id}")
    tx.topics.add(f"wfid:{run.workflow_id}")
    if run.pending_queries:
        tx.topics.add(f"q:{run.task_queue}")  # queries held for the run may go now
    if status != RunStatus.CONTINUED_AS_NEW:
        _notify_parent(tx, run, status, result, failure)
        _notify_schedule(tx, run, status)
    _apply_parent_close_policy(tx, run)
    if status in (RunStatus.COMPLETED, RunStatus.FAILED):
        from ._cron_runs import start_next_run  # it creates runs: imports this

        start_next_run(tx, run, status)


def _notify_schedule(tx: Tx, run: RunRow, status: str) -> None:
    """Tell the schedule that started this workflow, if one did (an indexed lookup)."""
    if tx.c.execute(
        "SELECT 1 FROM schedule_runs WHERE workflow_id = ?", (run.workflow_id,)
    ).fetchone():
        from ._schedule_rows import schedule_run_closed  # it starts runs: imports this

        schedule_run_closed(tx, run, status)


def terminate_run(tx: Tx, run: RunRow, reason: str, identity: str = "") -> None:
    tx.append(
        run,
        [
            ev.WorkflowExecutionTerminated(
                event_id=run.last_event_id + 1, time=tx.now, reason=reason, identity=identity
            )
        ],
    )
    close_run(
        tx,
        run,
        RunStatus.TERMINATED,
        failure=Failure(
            message=reason or "terminated", kind=FailureKind.TERMINATED, type="TerminatedError"
        ),
    )


def _notify_parent(
    tx: Tx, run: RunRow, status: str, result: Payload | None, failure: Failure | None
) -> None:
    if run.parent_run_id is None or run.parent_seq is None:
        return
    parent = tx.run(run.parent_run_id)
    if parent is None or parent.status != RunStatus.RUNNING:
        return
    seq = run.parent_seq
    if status == RunStatus.COMPLETED:
        assert result is not None
        tx.append_input(
            parent,
            lambda event_id, time: ev.ChildWorkflowExecutionCompleted(
                event_id=event_id, time=time, seq=seq, result=result
            ),
        )
        return
    if failure is None:
        failure = Failure(message="cancelled", kind=FailureKind.CANCELLED, type="CancelledError")
    child_failure = failure
    tx.append_input(
        parent,
        lambda event_id, time: ev.ChildWorkflowExecutionFailed(
            event_id=event_id, time=time, seq=seq, failure=child_failure
        ),
    )


def _apply_parent_close_policy(tx: Tx, parent: RunRow) -> None:
    from ._tx import RUN_COLUMNS, run_row

    children = [
        run_row(r)
        for r in tx.c.execute(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE parent_run_id = ? AND status = 'running'",
            (parent.run_id,),
        ).fetchall()
    ]
    for child in children:
        policy = child.parent_close_policy or "terminate"
        if policy == "terminate":
            terminate_run(tx, child, f"parent {parent.workflow_id} closed ({parent.status})")
        elif policy == "request_cancel":
            request_cancel_run(tx, child, f"parent {parent.workflow_id} closed")
        # "abandon": the child runs on; it will find its parent closed when it finishes.
