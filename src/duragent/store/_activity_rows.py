"""Activity task lifecycle inside a transaction: schedule, claim, complete, fail, retry,
time out, cancel, and recover from a dead worker.

An attempt counts from the moment it is claimed: an attempt whose worker died is a failed
attempt like any other (and the activity is retried at once, without backoff, because the
failure was the worker's, not the activity's). An ``at_most_once`` activity is never
re-run after such an interruption: it fails with ``ActivityAttemptInterrupted`` so that the
workflow (or a person) decides.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

from .._engine import events as ev
from .._engine.failure import Failure, FailureKind
from ..errors import RetryState, TimeoutType
from ..retry import RetryDecision, RetryPolicy, decide_retry
from ..serde import Payload
from . import _stream_rows
from ._tx import RunRow, Tx, dumps
from .base import ActivityTask, RunStatus

DEFAULT_RETRY_POLICY: Final = RetryPolicy()
INTERRUPTED_TYPE: Final = "ActivityAttemptInterrupted"
_FAR: Final = 1 << 62

TASK_COLUMNS: Final = (
    "task_id, lease, run_id, seq, type_name, task_queue, attempt, scheduled_event_id, "
    "scheduled_time, started_at, start_to_close_ms, schedule_deadline, heartbeat_ms, "
    "heartbeat_details, retry_policy, at_most_once"
)


def schedule(
    tx: Tx, run: RunRow, event: ev.ActivityTaskScheduled, owner: str | None
) -> ActivityTask | None:
    """Insert the task for a scheduled activity; claim it for ``owner`` if given.

    Returns the claimed task.
    """
    deadline = (
        event.time + event.schedule_to_close_timeout_ms
        if event.schedule_to_close_timeout_ms is not None
        else None
    )
    policy = dumps(event.retry_policy.to_dict()) if event.retry_policy is not None else None
    if owner is None:
        tx.c.execute(
            "INSERT INTO tasks (kind, task_queue, type_name, run_id, seq, visible_at, "
            "scheduled_event_id, scheduled_time, schedule_deadline, start_to_close_ms, "
            "heartbeat_ms, retry_policy, at_most_once) "
            "VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event.task_queue,
                event.activity_type,
                run.run_id,
                event.seq,
                tx.now,
                event.event_id,
                event.time,
                deadline,
                event.start_to_close_timeout_ms,
                event.heartbeat_timeout_ms,
                policy,
                int(event.at_most_once),
            ),
        )
        tx.topics.add(f"act:{event.task_queue}")
        return None
    lease_expires = _lease_expiry(
        tx.now, event.start_to_close_timeout_ms, event.heartbeat_timeout_ms, deadline
    )
    cur = tx.c.execute(
        "INSERT INTO tasks (kind, task_queue, type_name, run_id, seq, visible_at, "
        "scheduled_event_id, scheduled_time, schedule_deadline, start_to_close_ms, "
        "heartbeat_ms, retry_policy, at_most_once, owner, lease, lease_expires_at, attempt, "
        "started_at) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, 1, ?)",
        (
            event.task_queue,
            event.activity_type,
            run.run_id,
            event.seq,
            tx.now,
            event.event_id,
            event.time,
            deadline,
            event.start_to_close_timeout_ms,
            event.heartbeat_timeout_ms,
            policy,
            int(event.at_most_once),
            owner,
            lease_expires,
            tx.now,
        ),
    )
    assert cur.lastrowid is not None
    # Built from what is in hand: re-reading the row and the event would double the cost.
    return ActivityTask(
        task_id=cur.lastrowid,
        lease=1,
        run_id=run.run_id,
        workflow_id=run.workflow_id,
        workflow_type=run.workflow_type,
        seq=event.seq,
        activity_type=event.activity_type,
        task_queue=event.task_queue,
        input=event.input,
        attempt=1,
        scheduled_time=event.time,
        started_time=tx.now,
        start_to_close_timeout_ms=event.start_to_close_timeout_ms,
        schedule_to_close_deadline=deadline,
        heartbeat_timeout_ms=event.heartbeat_timeout_ms,
        heartbeat_details=(),
        retry_policy=event.retry_policy,
        at_most_once=event.at_most_once,
    )


def _lease_expiry(now: int, stc: int | None, hb: int | None, deadline: int | None) -> int:
    return min(
        now + stc if stc is not None else _FAR,
        now + hb if hb is not None else _FAR,
        deadline if deadline is not None else _FAR,
    )


def claim(tx: Tx, owner: str, task_queue: str, types: Any, now: int) -> ActivityTask | None:
    """Claim the oldest visible activity task of ``task_queue`` (of ``types``, if given)."""
    type_filter = ""
    params: list[Any] = [task_queue, now]
    if types is not None:
        if not types:
            return None
        type_filter = f" AND type_name IN ({','.join('?' * len(types))})"
        params.extend(types)
    rows = tx.c.execute(
        "UPDATE tasks SET owner = ?, lease = lease + 1, attempt = attempt + 1, started_at = ?, "
        "heartbeat_at = NULL, lease_expires_at = min("
        "  coalesce(? + start_to_close_ms, ?), coalesce(? + heartbeat_ms, ?), "
        "  coalesce(schedule_deadline, ?)) "
        "WHERE task_id = (SELECT task_id FROM tasks WHERE kind = 1 AND task_queue = ? "
        f"AND owner IS NULL AND visible_at <= ?{type_filter} ORDER BY visible_at LIMIT 1) "
        f"RETURNING {TASK_COLUMNS}",
        [owner, now, now, _FAR, now, _FAR, _FAR, *params],
    ).fetchall()
    if not rows:
        return None
    return load(tx, rows[0])


def load(tx: Tx, row: Any) -> ActivityTask:
    (
        task_id,
        lease,
        run_id,
        seq,
        type_name,
        task_queue,
        attempt,
        scheduled_event_id,
        scheduled_time,
        started_at,
        stc,
        deadline,
        hb,
        hb_details,
        policy,
        at_most_once,
    ) = row
    scheduled = tx.read_event(run_id, scheduled_event_id)
    assert isinstance(scheduled, ev.ActivityTaskScheduled)
    wf = tx.c.execute(
        "SELECT workflow_id, workflow_type FROM runs WHERE run_id = ?", (run_id,)
    ).fetchone()
    details: tuple[Payload, ...] = ()
    if hb_details:
        details = tuple(Payload(d.encode()) for d in json.loads(hb_details))
    return ActivityTask(
        task_id=task_id,
        lease=lease,
        run_id=run_id,
        workflow_id=wf[0],
        workflow_type=wf[1],
        seq=seq,
        activity_type=type_name,
        task_queue=task_queue,
        input=scheduled.input,
        attempt=attempt,
        scheduled_time=scheduled_time,
        started_time=started_at,
        start_to_close_timeout_ms=stc,
        schedule_to_close_deadline=deadline,
        heartbeat_timeout_ms=hb,
        heartbeat_details=details,
        retry_policy=RetryPolicy.from_dict(json.loads(policy)) if policy else None,
        at_most_once=bool(at_most_once),
    )


def is_current(tx: Tx, task: ActivityTask) -> bool:
    """Whether ``task`` is still this attempt's: same row, same lease, same activity."""
    row = tx.c.execute(
        "SELECT lease, owner, run_id, seq FROM tasks WHERE task_id = ?", (task.task_id,)
    ).fetchone()
    return (
        row is not None
        and row[0] == task.lease
        and row[1] is not None
        and row[2] == task.run_id
        and row[3] == task.seq
    )


def take(tx: Tx, task: ActivityTask) -> bool:
    """Delete the attempt's task if it is still this attempt's (same lease, same
    activity); False when the attempt was superseded (timed out, reclaimed, cancelled)."""
    cur = tx.c.execute(
        "DELETE FROM tasks WHERE task_id = ? AND lease = ? AND owner IS NOT NULL "
        "AND run_id = ? AND seq = ?",
        (task.task_id, task.lease, task.run_id, task.seq),
    )
    return cur.rowcount == 1


def complete(
    tx: Tx,
    task: ActivityTask,
    result: Payload,
    worker: str,
    *,
    claim: Callable[[RunRow], str | None] | None = None,
    lease_ms: int = 0,
    defer_claim: bool = False,
) -> tuple[RunRow, ev.Event] | None:
    """Record a successful attempt whose task was taken (:func:`take`); returns the run
    and the appended event (None if the run is no longer running). ``defer_claim``: see
    :meth:`Tx.ensure_workflow_task`."""
    task_exists: bool | None = None
    if defer_claim:
        run, task_exists = tx.run_and_task(task.run_id)
    else:
        run = tx.run(task.run_id)
    if run is None or run.status != RunStatus.RUNNING:
        return None
    event = tx.append_input(
        run,
        lambda event_id, time: ev.ActivityTaskCompleted(
            event_id=event_id,
            time=time,
            seq=task.seq,
            result=result,
            attempt=task.attempt,
            started_time=task.started_time,
            worker=worker,
        ),
        claim_for=claim(run) if claim is not None else None,
        lease_ms=lease_ms,
        defer_claim=defer_claim,
        task_exists=task_exists,
    )
    # Read above and changed only by the append: the workflow task this result triggers,
    # when recorded in the same transaction, needs it again.
    tx.remember_run(run)
    return (run, event) if event is not None else None


def fail_attempt(
    tx: Tx,
    *,
    task_id: int,
    run_id: str,
    seq: int,
    attempt: int,
    started_at: int | None,
    policy: RetryPolicy | None,
    deadline: int | None,
    failure: Failure,
    worker: str | None,
    outcome: str,
    immediate_retry: bool = False,
) -> RetryDecision:
    """An attempt failed (error, timeout or interruption): retry it or fail the activity."""
    expired = failure.kind == FailureKind.TIMEOUT and failure.type == TimeoutType.SCHEDULE_TO_CLOSE
    decision = decide_retry(
        policy or DEFAULT_RETRY_POLICY,
        attempt,
        error_type=failure.type,
        non_retryable=failure.non_retryable,
        retry_after_ms=failure.retry_after_ms,
        next_retry_delay_ms=failure.next_retry_delay_ms,
        schedule_to_close_expired=expired,
        now=tx.now,
        deadline=deadline,
        immediate=immediate_retry,
    )
    next_at = decision.next_attempt_at
    # Out of schedule-to-close time before the retry could start.
    timed_out = decision.retry_state == RetryState.TIMEOUT and not expired
    tx.log_attempt(run_id, seq, attempt, started_at, worker, outcome, dumps(failure.to_dict()))
    _stream_rows.end_attempt(tx, run_id, seq, attempt, outcome)
    if next_at is not None:
        tx.c.execute(
            "UPDATE tasks SET owner = NULL, lease_expires_at = NULL, visible_at = ?, "
            "last_failure = ? WHERE task_id = ?",
            (next_at, dumps(failure.to_dict()), task_id),
        )
        row = tx.c.execute("SELECT task_queue FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
        if row is not None:
            tx.topics.add(f"act:{row[0]}")
        if next_at > tx.now:
            tx.topics.add("timer")
        return decision
    tx.c.execute("DELETE FROM tasks WHERE task_id = ?", (task_id,))
    run = tx.run(run_id)
    if run is None or run.status != RunStatus.RUNNING:
        return decision
    if timed_out:
        final = Failure(
            message="activity ran out of its schedule-to-close time before it could be retried",
            kind=FailureKind.TIMEOUT,
            type=TimeoutType.SCHEDULE_TO_CLOSE,
            cause=failure,
        )
        tx.append_input(
            run,
            lambda event_id, time: ev.ActivityTaskTimedOut(
                event_id=event_id,
                time=time,
                seq=seq,
                failure=final,
                attempt=attempt,
                retry_state=decision.retry_state,
            ),
        )
    elif failure.kind == FailureKind.TIMEOUT:
        tx.append_input(
            run,
            lambda event_id, time: ev.ActivityTaskTimedOut(
                event_id=event_id,
                time=time,
                seq=seq,
                failure=failure,
                attempt=attempt,
                retry_state=decision.retry_state,
            ),
        )
    else:
        tx.append_input(
            run,
            lambda event_id, time: ev.ActivityTaskFailed(
                event_id=event_id,
                time=time,
                seq=seq,
                failure=failure,
                attempt=attempt,
                started_time=started_at or 0,
                worker=worker or "",
                retry_state=decision.retry_state,
            ),
        )
    return decision


def fail(tx: Tx, task: ActivityTask, failure: Failure, worker: str) -> RetryDecision:
    # The stored deadline, not the claimed copy: a clock step moves it.
    row = tx.c.execute(
        "SELECT schedule_deadline FROM tasks WHERE task_id = ?", (task.task_id,)
    ).fetchone()
    return fail_attempt(
        tx,
        task_id=task.task_id,
        run_id=task.run_id,
        seq=task.seq,
        attempt=task.attempt,
        started_at=task.started_time,
        policy=task.retry_policy,
        deadline=row[0] if row is not None else task.schedule_to_close_deadline,
        failure=failure,
        worker=worker,
        outcome="failed",
    )


def cancelled(tx: Tx, task: ActivityTask, worker: str) -> None:
    """The attempt stopped because cancellation was requested."""
    tx.c.execute("DELETE FROM tasks WHERE task_id = ?", (task.task_id,))
    tx.log_attempt(
        task.run_id, task.seq, task.attempt, task.started_time, worker, "cancelled", None
    )
    _stream_rows.end_attempt(tx, task.run_id, task.seq, task.attempt, "cancelled")
    run = tx.run(task.run_id)
    if run is not None and run.status == RunStatus.RUNNING:
        tx.append_input(
            run,
            lambda event_id, time: ev.ActivityTaskCanceled(
                event_id=event_id, time=time, seq=task.seq, attempt=task.attempt
            ),
        )


def request_cancel(tx: Tx, run: RunRow, seq: int) -> None:
    """The workflow cancelled an activity: drop it if not running, else flag it."""
    row = tx.c.execute(
        "SELECT task_id, owner, attempt FROM tasks WHERE run_id = ? AND kind = 1 AND seq = ?",
        (run.run_id, seq),
    ).fetchone()
    if row is None:
        return
    task_id, owner, attempt = row
    if owner is None:
        tx.c.execute("DELETE FROM tasks WHERE task_id = ?", (task_id,))
        tx.append_input(
            run,
            lambda event_id, time: ev.ActivityTaskCanceled(
                event_id=event_id, time=time, seq=seq, attempt=attempt
            ),
        )
    else:
        tx.c.execute("UPDATE tasks SET cancel_requested = 1 WHERE task_id = ?", (task_id,))


def heartbeat(tx: Tx, task: ActivityTask, details: tuple[Payload, ...]) -> bool:
    """Extend the attempt's lease; returns whether cancellation was requested."""
    row = tx.c.execute(
        "SELECT lease, cancel_requested, started_at, schedule_deadline FROM tasks "
        "WHERE task_id = ?",
        (task.task_id,),
    ).fetchone()
    if row is None or row[0] != task.lease:
        return True  # the attempt is no longer ours: stop it
    # The stored start and deadline, not the claimed copies: a clock step moves those.
    started_at, deadline = row[2], row[3]
    expires = _lease_expiry(tx.now, None, task.heartbeat_timeout_ms, deadline)
    if task.start_to_close_timeout_ms is not None and started_at is not None:
        expires = min(expires, started_at + task.start_to_close_timeout_ms)
    tx.c.execute(
        "UPDATE tasks SET heartbeat_at = ?, heartbeat_details = ?, lease_expires_at = ? "
        "WHERE task_id = ?",
        (
            tx.now,
            dumps([p.data.decode() for p in details]) if details else None,
            expires,
            task.task_id,
        ),
    )
    return bool(row[1])


def at_most_once_timeout(attempt: int, activity_type: str, timeout: Failure) -> Failure:
    """The failure of an at-most-once attempt that timed out: ``ActivityAttemptInterrupted``
    (not retried), caused by the timeout."""
    return Failure(
        message=(
            f"attempt {attempt} of at-most-once activity {activity_type!r} timed out "
            f"({timeout.type}) and may or may not have taken effect; it is not re-run"
        ),
        kind=FailureKind.APPLICATION,
        type=INTERRUPTED_TYPE,
        non_retryable=True,
        cause=timeout,
    )


def expire(tx: Tx) -> None:
    """Time out attempts past their lease and activities past their deadline."""
    now = tx.now
    for (
        task_id,
        run_id,
        seq,
        attempt,
        started_at,
        policy,
        deadline,
        owner,
        stc,
        hb,
        hb_at,
        details,
        at_most_once,
        type_name,
    ) in tx.c.execute(
        "SELECT task_id, run_id, seq, attempt, started_at, retry_policy, schedule_deadline, "
        "owner, start_to_close_ms, heartbeat_ms, heartbeat_at, heartbeat_details, "
        "at_most_once, type_name FROM tasks "
        "WHERE kind = 1 AND ((owner IS NOT NULL AND lease_expires_at <= ?) "
        "OR schedule_deadline <= ?)",
        (now, now),
    ).fetchall():
        if deadline is not None and deadline <= now:
            kind, message = TimeoutType.SCHEDULE_TO_CLOSE, "schedule-to-close timeout"
        elif (
            hb is not None
            and (hb_at or started_at or 0) + hb <= now
            and (stc is None or started_at + stc > now)
        ):
            kind, message = TimeoutType.HEARTBEAT, "heartbeat timeout"
        else:
            kind, message = TimeoutType.START_TO_CLOSE, "start-to-close timeout"
        detail_texts: list[str] = json.loads(details) if details else []
        heartbeat_details = tuple(Payload(d.encode()) for d in detail_texts)
        failure = Failure(
            message=f"activity attempt {attempt} exceeded its {message}",
            kind=FailureKind.TIMEOUT,
            type=kind,
            details=heartbeat_details,
        )
        if at_most_once and owner is not None and kind != TimeoutType.SCHEDULE_TO_CLOSE:
            # A timed-out attempt may still run, or have taken effect: an at-most-once
            # activity is not re-run (the same rule as on Temporal, where a timeout is how
            # a dead worker is detected).
            failure = at_most_once_timeout(attempt, type_name, failure)
        fail_attempt(
            tx,
            task_id=task_id,
            run_id=run_id,
            seq=seq,
            attempt=attempt,
            started_at=started_at,
            policy=RetryPolicy.from_dict(json.loads(policy)) if policy else None,
            deadline=deadline,
            failure=failure,
            worker=owner,
            outcome="timed_out",
        )


def interrupted(tx: Tx, dead_worker: str) -> None:
    """Recover the activity attempts of a worker that died."""
    for (
        task_id,
        run_id,
        seq,
        attempt,
        started_at,
        policy,
        deadline,
        at_most_once,
        type_name,
    ) in tx.c.execute(
        "SELECT task_id, run_id, seq, attempt, started_at, retry_policy, schedule_deadline, "
        "at_most_once, type_name FROM tasks WHERE kind = 1 AND owner = ?",
        (dead_worker,),
    ).fetchall():
        if at_most_once:
            failure = Failure(
                message=(
                    f"attempt {attempt} of at-most-once activity {type_name!r} was interrupted "
                    "by a worker crash and may or may not have taken effect; it is not re-run"
                ),
                kind=FailureKind.APPLICATION,
                type=INTERRUPTED_TYPE,
                non_retryable=True,
            )
        else:
            failure = Failure(
                message=f"worker process died during attempt {attempt}",
                kind=FailureKind.APPLICATION,
                type="WorkerDied",
            )
        fail_attempt(
            tx,
            task_id=task_id,
            run_id=run_id,
            seq=seq,
            attempt=attempt,
            started_at=started_at,
            policy=RetryPolicy.from_dict(json.loads(policy)) if policy else None,
            deadline=deadline,
            failure=failure,
            worker=dead_worker,
            outcome="interrupted",
            immediate_retry=True,
        )
