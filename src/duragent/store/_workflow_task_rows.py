"""Workflow task lifecycle inside a transaction: claim, complete (record the commands and
carry out their effects), fail, release."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Final

from .._engine import commands as cmd
from .._engine import events as ev
from .._engine.completion import TaskCompletion, UpdateRequest
from .._engine.failure import Failure, FailureKind
from .._search_attributes import PROPERTY_MARKERS, SEARCH_ATTRIBUTES_MARKER, merged
from ..serde import Payload
from . import _activity_rows as activities
from ._runs import close_run, create_run, new_run_id, request_cancel_run, signal_run
from ._tx import DEFERRED_TASK_ID, RunRow, Tx, dumps
from .base import ActivityTask, CompletionOutcome, RunStatus, WorkflowTask

WORKFLOW_TASK_LEASE_MS: Final = 60_000
_MAX_TASK_BACKOFF_MS: Final = 30_000


def claim(
    tx: Tx, owner: str, task_queue: str, types: Sequence[str], now: int, limit: int = 1
) -> list[WorkflowTask]:
    """Claim up to ``limit`` visible workflow tasks of ``task_queue`` (oldest first)."""
    if not types or limit < 1:
        return []
    rows = tx.c.execute(
        "UPDATE tasks SET owner = ?, lease = lease + 1, lease_expires_at = ?, started_at = ? "
        "WHERE task_id IN (SELECT task_id FROM tasks WHERE kind = 0 AND task_queue = ? "
        f"AND owner IS NULL AND visible_at <= ? AND type_name IN ({','.join('?' * len(types))}) "
        "ORDER BY visible_at LIMIT ?) RETURNING task_id, lease, run_id, type_name, attempt",
        # Not the run's columns too, by subqueries in RETURNING: SQLite plans those as a
        # scan of every run ever kept (17 ms a claim with 100,000 runs, holding the write
        # lock); load() reads them by the run's key instead.
        [owner, now + WORKFLOW_TASK_LEASE_MS, now, task_queue, now, *types, limit],
    ).fetchall()
    return [
        load(tx, task_id, lease, run_id, type_name, task_queue, attempt)
        for task_id, lease, run_id, type_name, attempt in rows
    ]


def load(
    tx: Tx,
    task_id: int,
    lease: int,
    run_id: str,
    type_name: str,
    task_queue: str,
    attempt: int,
    *,
    workflow_id: str | None = None,
    pending_updates: int | None = None,
    new_events: tuple[ev.Event, ...] = (),
) -> WorkflowTask:
    if workflow_id is None or pending_updates is None:
        row = tx.c.execute(
            "SELECT workflow_id, pending_updates FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        workflow_id, pending_updates = str(row[0]), int(row[1])
    updates = (
        ()
        if not pending_updates
        else tuple(
            UpdateRequest(
                update_id=u,
                name=n,
                input=tuple(Payload(p.encode()) for p in json.loads(i)),
                identity=ident,
            )
            for u, n, i, ident in tx.c.execute(
                "SELECT update_id, name, input, identity FROM updates "
                "WHERE run_id = ? AND status = 'requested' ORDER BY created_at",
                (run_id,),
            ).fetchall()
        )
    )
    return WorkflowTask(
        task_id=task_id,
        lease=lease,
        run_id=run_id,
        workflow_id=workflow_id,
        workflow_type=type_name,
        task_queue=task_queue,
        attempt=attempt,
        updates=updates,
        new_events=new_events,
    )


def is_current(tx: Tx, task: WorkflowTask) -> bool:
    row = tx.c.execute(
        "SELECT lease, owner, run_id FROM tasks WHERE task_id = ?", (task.task_id,)
    ).fetchone()
    return row is not None and row[0] == task.lease and row[1] is not None and row[2] == task.run_id


def complete(
    tx: Tx,
    task: WorkflowTask,
    completion: TaskCompletion,
    *,
    owner: str,
    keep: bool,
    eager_activity_types: Sequence[str] | None,
    eager_queue: str,
    eager_slots: int,
) -> CompletionOutcome:
    """Record a workflow task's commands and carry out their effects."""
    if task.task_id == DEFERRED_TASK_ID and task.run_id in tx.materialized:
        task = _inserted(tx, task)  # no longer deferred: inserted earlier in this transaction
    # A task claimed earlier in this same transaction cannot have been taken away.
    if (task.task_id, task.lease) not in tx.claimed and not is_current(tx, task):
        return CompletionOutcome(lost=True)
    run = tx.run(task.run_id)
    if run is None or run.status != RunStatus.RUNNING:
        _delete(tx, task)
        return CompletionOutcome()
    if run.last_input_event_id > completion.processed_through and any(
        isinstance(c, cmd.CLOSE_COMMANDS) for c in completion.commands
    ):
        # Input (a signal) arrived while the code ran and decided to close the run (e.g. to
        # continue as new): closing now would drop that input unseen. As Temporal does,
        # nothing of this completion is recorded; the task is offered again at once, and
        # the code runs again from history, now with the new input.
        _offer_again(tx, _inserted(tx, task))
        return CompletionOutcome(lost=True)
    time = completion.time
    decided = len(completion.rejected_updates) + len(completion.updates)
    if decided:
        run.pending_updates = max(0, run.pending_updates - decided)
        tx.c.execute(
            "UPDATE runs SET pending_updates = ? WHERE run_id = ?",
            (run.pending_updates, run.run_id),
        )
    for update_id, failure in completion.rejected_updates:
        tx.c.execute(
            "UPDATE updates SET status = 'rejected', failure = ? "
            "WHERE run_id = ? AND update_id = ?",
            (dumps(failure.to_dict()), run.run_id, update_id),
        )
        tx.topics.add(f"run:{run.run_id}")
    if not completion.commands and not completion.updates and completion.processed_through == 0:
        return _finish_task(tx, task, run, keep)

    next_id = run.last_event_id + 1
    recorded: list[ev.Event] = []
    for u in completion.updates:
        recorded.append(
            ev.WorkflowExecutionUpdateAccepted(
                event_id=next_id,
                time=time,
                update_id=u.update_id,
                update_name=u.name,
                input=u.input,
                identity=u.identity,
            )
        )
        next_id += 1
        tx.c.execute(
            "UPDATE updates SET status = 'accepted' WHERE run_id = ? AND update_id = ?",
            (run.run_id, u.update_id),
        )
    recorded.append(
        ev.WorkflowTaskCompleted(
            event_id=next_id,
            time=time,
            processed_through=completion.processed_through,
            worker=owner,
        )
    )
    next_id += 1
    continued_run_id = ""
    closes = False
    for c in completion.commands:
        if isinstance(c, cmd.ContinueAsNew):
            continued_run_id = new_run_id()
        event = cmd.to_event(c, event_id=next_id, time=time, new_run_id=continued_run_id)
        closes = closes or isinstance(event, ev.CLOSE_EVENT_TYPES)
        recorded.append(event)
        next_id += 1
    tx.append(run, recorded, processed_through=completion.processed_through)

    eager: list[ActivityTask] = []
    close: ev.Event | None = None
    if closes:
        tx.closing.add(run.run_id)
    for event in recorded:
        if isinstance(event, ev.ActivityTaskScheduled):
            claim_it = (
                len(eager) < eager_slots
                and event.task_queue == eager_queue
                and (eager_activity_types is None or event.activity_type in eager_activity_types)
            )
            claimed = activities.schedule(tx, run, event, owner if claim_it else None)
            if claimed is not None:
                eager.append(claimed)
        elif isinstance(event, ev.TimerStarted):
            # Due a duration after now, not at the task's time plus it: after the clock was
            # stepped back, workflow.now() stands still (it never goes back) until the clock
            # catches up, and a timer counted from it would fire that much late.
            tx.c.execute(
                "INSERT OR REPLACE INTO timers (run_id, seq, fire_at) VALUES (?, ?, ?)",
                (run.run_id, event.seq, tx.now + event.duration_ms),
            )
            tx.topics.add("timer")
        elif isinstance(event, ev.TimerCanceled):
            tx.c.execute("DELETE FROM timers WHERE run_id = ? AND seq = ?", (run.run_id, event.seq))
        elif isinstance(event, ev.ActivityTaskCancelRequested):
            activities.request_cancel(tx, run, event.seq)
        elif isinstance(event, ev.MarkerRecorded) and event.name in PROPERTY_MARKERS:
            _apply_properties(tx, run, event)
        elif isinstance(event, ev.StartChildWorkflowExecutionInitiated):
            _start_child(tx, run, event)
        elif isinstance(event, ev.RequestCancelExternalWorkflowExecutionInitiated):
            _cancel_external(tx, run, event)
        elif isinstance(event, ev.SignalExternalWorkflowExecutionInitiated):
            _signal_external(tx, run, event)
        elif isinstance(event, ev.WorkflowExecutionUpdateCompleted):
            tx.c.execute(
                "UPDATE updates SET status = 'completed', result = ?, failure = ? "
                "WHERE run_id = ? AND update_id = ?",
                (
                    event.result.data.decode() if event.result is not None else None,
                    dumps(event.failure.to_dict()) if event.failure is not None else None,
                    run.run_id,
                    event.update_id,
                ),
            )
            tx.topics.add(f"run:{run.run_id}")
        elif isinstance(event, ev.CLOSE_EVENT_TYPES):
            close = event
    if close is not None:
        tx.closing.discard(run.run_id)
        _close(tx, run, close)
        return CompletionOutcome(eager_activities=tuple(eager), recorded=tuple(recorded))
    outcome = _finish_task(tx, task, run, keep)
    return CompletionOutcome(
        continue_task=outcome.continue_task,
        eager_activities=tuple(eager),
        recorded=tuple(recorded),
    )


def _finish_task(tx: Tx, task: WorkflowTask, run: RunRow, keep: bool) -> CompletionOutcome:
    """Delete the task, or keep it for more input that arrived meanwhile."""
    if run.last_input_event_id <= run.processed_through and not run.pending_updates:
        _delete(tx, task)
        if run.pending_queries:
            tx.topics.add(f"q:{run.task_queue}")  # queries held for this task may go now
        return CompletionOutcome()
    task = _inserted(tx, task)
    if keep:
        rows = tx.c.execute(
            "UPDATE tasks SET lease = lease + 1, lease_expires_at = ?, attempt = 0 "
            "WHERE task_id = ? RETURNING lease",
            (tx.now + WORKFLOW_TASK_LEASE_MS, task.task_id),
        ).fetchall()
        return CompletionOutcome(
            continue_task=load(
                tx,
                task.task_id,
                rows[0][0],
                task.run_id,
                task.workflow_type,
                task.task_queue,
                0,
                workflow_id=task.workflow_id,
            )
        )
    tx.c.execute(
        "UPDATE tasks SET owner = NULL, lease_expires_at = NULL, visible_at = ?, attempt = 0 "
        "WHERE task_id = ?",
        (tx.now, task.task_id),
    )
    tx.topics.add(f"wf:{task.task_queue}")
    return CompletionOutcome()


def _delete(tx: Tx, task: WorkflowTask) -> None:
    """Delete the task's row (a deferred one is never inserted)."""
    if task.task_id == DEFERRED_TASK_ID and tx.drop_deferred(task.run_id):
        return
    task = _inserted(tx, task)
    tx.c.execute("DELETE FROM tasks WHERE task_id = ?", (task.task_id,))


def _inserted(tx: Tx, task: WorkflowTask) -> WorkflowTask:
    """``task`` with a row of its own: a deferred one is inserted now (or was, earlier
    in this transaction: the workflow signalled itself, say)."""
    if task.task_id != DEFERRED_TASK_ID:
        return task
    task_id = tx.materialize(task.run_id) or tx.materialized.get(task.run_id)
    return replace(task, task_id=task_id) if task_id is not None else task


def _offer_again(tx: Tx, task: WorkflowTask) -> None:
    """Release ``task`` to any worker at once (its attempt count unchanged)."""
    tx.c.execute(
        "UPDATE tasks SET owner = NULL, lease = lease + 1, lease_expires_at = NULL, "
        "visible_at = ? WHERE task_id = ?",
        (tx.now, task.task_id),
    )
    tx.topics.add(f"wf:{task.task_queue}")


def _close(tx: Tx, run: RunRow, event: ev.Event) -> None:
    if isinstance(event, ev.WorkflowExecutionCompleted):
        close_run(tx, run, RunStatus.COMPLETED, result=event.result)
    elif isinstance(event, ev.WorkflowExecutionFailed):
        close_run(tx, run, RunStatus.FAILED, failure=event.failure)
    elif isinstance(event, ev.WorkflowExecutionCanceled):
        close_run(
            tx,
            run,
            RunStatus.CANCELED,
            failure=Failure(
                message="workflow cancelled",
                kind=FailureKind.CANCELLED,
                type="CancelledError",
                details=event.details,
            ),
        )
    elif isinstance(event, ev.WorkflowExecutionContinuedAsNew):
        close_run(tx, run, RunStatus.CONTINUED_AS_NEW)
        # A fork stays a fork across continue-as-new (its overrides and modes go on).
        start = tx.read_event(run.run_id, 1)
        fork = start.fork if isinstance(start, ev.WorkflowExecutionStarted) else None
        create_run(
            tx,
            run_id=event.new_run_id,
            workflow_id=run.workflow_id,
            workflow_type=event.workflow_type,
            task_queue=event.task_queue,
            input=event.input,
            memo=event.memo,
            continued_from=run,
            fork=fork,
            fork_results=start.fork_results if fork is not None else (),  # type: ignore[union-attr]
        )


def _apply_properties(tx: Tx, run: RunRow, event: ev.MarkerRecorded) -> None:
    """``workflow.upsert_search_attributes`` / ``upsert_memo``: the run's visibility record
    follows its history."""
    column = "search_attributes" if event.name == SEARCH_ATTRIBUTES_MARKER else "memo"
    row = tx.c.execute(f"SELECT {column} FROM runs WHERE run_id = ?", (run.run_id,)).fetchone()
    current: dict[str, Any] = json.loads(row[0]) if row is not None and row[0] else {}
    values = merged(current, event.details)
    tx.c.execute(
        f"UPDATE runs SET {column} = ? WHERE run_id = ?",
        (dumps(values) if values else None, run.run_id),
    )


def _start_child(tx: Tx, parent: RunRow, event: ev.StartChildWorkflowExecutionInitiated) -> None:
    existing = tx.open_run(event.workflow_id)
    if existing is not None:
        tx.append_input(
            parent,
            lambda event_id, time: ev.StartChildWorkflowExecutionFailed(
                event_id=event_id,
                time=time,
                seq=event.seq,
                workflow_id=event.workflow_id,
                cause="already_started",
            ),
        )
        return
    child = create_run(
        tx,
        run_id=new_run_id(),
        workflow_id=event.workflow_id,
        workflow_type=event.workflow_type,
        task_queue=event.task_queue,
        input=event.input,
        memo=event.memo,
        parent=parent,
        parent_seq=event.seq,
        parent_close_policy=event.parent_close_policy,
    )
    tx.append_input(
        parent,
        lambda event_id, time: ev.ChildWorkflowExecutionStarted(
            event_id=event_id,
            time=time,
            seq=event.seq,
            workflow_id=event.workflow_id,
            run_id=child.run_id,
        ),
    )


def _not_found(workflow_id: str) -> Failure:
    return Failure(
        message=f"workflow {workflow_id!r} is not running",
        kind=FailureKind.APPLICATION,
        type="WorkflowNotFoundError",
        non_retryable=True,
    )


def _cancel_external(
    tx: Tx, run: RunRow, event: ev.RequestCancelExternalWorkflowExecutionInitiated
) -> None:
    target = tx.open_run(event.workflow_id, event.run_id or None)
    if target is None:
        tx.append_input(
            run,
            lambda event_id, time: ev.ExternalWorkflowRequestFailed(
                event_id=event_id, time=time, seq=event.seq, failure=_not_found(event.workflow_id)
            ),
        )
        return
    request_cancel_run(tx, target, f"requested by workflow {run.workflow_id}")
    _refresh(tx, run)
    tx.append_input(
        run,
        lambda event_id, time: ev.ExternalWorkflowExecutionCancelRequested(
            event_id=event_id, time=time, seq=event.seq
        ),
    )


def _signal_external(
    tx: Tx, run: RunRow, event: ev.SignalExternalWorkflowExecutionInitiated
) -> None:
    target = tx.open_run(event.workflow_id, event.run_id or None)
    if target is None:
        tx.append_input(
            run,
            lambda event_id, time: ev.ExternalWorkflowRequestFailed(
                event_id=event_id, time=time, seq=event.seq, failure=_not_found(event.workflow_id)
            ),
        )
        return
    signal_run(tx, target, event.signal_name, event.input, identity=run.workflow_id)
    _refresh(tx, run)
    tx.append_input(
        run,
        lambda event_id, time: ev.ExternalWorkflowExecutionSignaled(
            event_id=event_id, time=time, seq=event.seq
        ),
    )


def _refresh(tx: Tx, run: RunRow) -> None:
    """Re-read counters after a change made through another row object (a workflow
    signalling or cancelling itself appends to its own history)."""
    fresh = tx.run(run.run_id)
    assert fresh is not None
    run.last_event_id, run.last_input_event_id = fresh.last_event_id, fresh.last_input_event_id
    run.history_bytes = fresh.history_bytes


def fail(tx: Tx, task: WorkflowTask, failure: Failure) -> bool:
    """Record a failed workflow task: the run stays open and the task is retried with
    backoff. Returns False if the task was no longer ours."""
    task = _inserted(tx, task)
    if not is_current(tx, task):
        return False
    attempt = task.attempt + 1
    backoff = min(1000 * 2 ** min(attempt - 1, 10), _MAX_TASK_BACKOFF_MS)
    tx.c.execute(
        "UPDATE tasks SET owner = NULL, lease_expires_at = NULL, visible_at = ?, attempt = ?, "
        "last_failure = ? WHERE task_id = ?",
        (tx.now + backoff, attempt, dumps(failure.to_dict()), task.task_id),
    )
    tx.c.execute(
        "UPDATE runs SET task_failure = ?, task_attempts = ? WHERE run_id = ?",
        (dumps(failure.to_dict()), attempt, task.run_id),
    )
    tx.topics.add("timer")
    tx.topics.add(f"run:{task.run_id}")
    tx.topics.add(f"q:{task.task_queue}")  # a failing task no longer holds queries back
    tx.touched(task.run_id)
    return True


def extend(tx: Tx, task: WorkflowTask) -> bool:
    """Renew the task's lease; False if the task is no longer this claim's."""
    task = _inserted(tx, task)
    if not is_current(tx, task):
        return False
    tx.c.execute(
        "UPDATE tasks SET lease_expires_at = ? WHERE task_id = ?",
        (tx.now + WORKFLOW_TASK_LEASE_MS, task.task_id),
    )
    return True


def release(tx: Tx, task: WorkflowTask) -> None:
    task = _inserted(tx, task)
    if is_current(tx, task):
        tx.c.execute(
            "UPDATE tasks SET owner = NULL, lease_expires_at = NULL, visible_at = ? "
            "WHERE task_id = ?",
            (tx.now, task.task_id),
        )
        tx.topics.add(f"wf:{task.task_queue}")


def owned_by(tx: Tx, worker: str) -> list[Any]:
    return tx.c.execute(
        "SELECT task_id, task_queue FROM tasks WHERE kind = 0 AND owner = ?", (worker,)
    ).fetchall()
