"""Asynchronous activity completion on the embedded store.

An attempt whose function called ``activity.raise_complete_async()`` is *detached* from its
worker: the task row keeps its lease and deadlines but its owner becomes
:data:`ASYNC_OWNER`, so the worker's slot is free, a dead or stopped worker does not
interrupt it, and only its timeouts (or a handle) end it. Handles address the attempt by
task token (one attempt) or by run and activity id (whatever attempt is current).
"""

from __future__ import annotations

import json
from typing import Final

from .._engine.failure import Failure
from ..errors import (
    ActivityNotFoundError,
    AsyncActivityCancelledError,
    ConfigurationError,
    WorkflowNotFoundError,
)
from ..serde import Payload
from . import _activity_rows as activities
from ._connection import SqliteConnection
from ._tx import Tx
from .base import ActivityTask, RunStatus

ASYNC_OWNER: Final = "(async completion)"
"""The owner of a detached attempt: no worker, so never reclaimed as a dead worker's."""
_TOKEN_PREFIX: Final = b"duragent-activity:1:"


def task_token(run_id: str, seq: int, attempt: int) -> bytes:
    """The task token of one attempt (``activity.info().task_token``)."""
    # json.dumps([run_id, seq, attempt]), written out: every activity attempt gets one.
    text = f"[{json.encoder.encode_basestring_ascii(run_id)}, {int(seq)}, {int(attempt)}]"
    return _TOKEN_PREFIX + text.encode()


def parse_token(token: bytes) -> tuple[str, int, int]:
    """(run id, activity seq, attempt) of a token issued by :func:`task_token`.

    Raises:
        ConfigurationError: Not such a token (another backend's, or damaged).
    """
    try:
        if not token.startswith(_TOKEN_PREFIX):
            raise ValueError("prefix")
        run_id, seq, attempt = json.loads(token[len(_TOKEN_PREFIX) :])
        if not isinstance(run_id, str) or not isinstance(seq, int) or not isinstance(attempt, int):
            raise ValueError("fields")
    except (ValueError, TypeError) as err:
        raise ConfigurationError(
            f"{token[:60]!r} is not a task token of an embedded Duragent store "
            "(activity.info().task_token from an activity on this store)"
        ) from err
    return run_id, seq, attempt


class AsyncActivityOps(SqliteConnection):
    """Detaching attempts (worker side) and completing them by handle (client side)."""

    def detach_activity_task(self, task: ActivityTask, now: int) -> bool:
        """The attempt will be completed asynchronously: release it from its worker (its
        timeouts still run). False if it was no longer this attempt's."""
        with self._write(now) as tx:
            cur = tx.c.execute(
                "UPDATE tasks SET owner = ? WHERE task_id = ? AND lease = ? AND owner IS NOT NULL "
                "AND run_id = ? AND seq = ?",
                (ASYNC_OWNER, task.task_id, task.lease, task.run_id, task.seq),
            )
            return cur.rowcount == 1

    def _pending(
        self,
        tx: Tx,
        token: bytes | None,
        workflow_id: str | None,
        run_id: str | None,
        activity_id: str | None,
    ) -> ActivityTask:
        attempt: int | None = None
        if token is not None:
            run_id, seq, attempt = parse_token(token)
            what = f"activity {seq} attempt {attempt} of run {run_id}"
        else:
            if workflow_id is None or activity_id is None:
                raise ConfigurationError("give a task_token, or a workflow_id and activity_id")
            try:
                seq = int(activity_id)
            except ValueError:
                raise ActivityNotFoundError(
                    f"no activity {activity_id!r} in workflow {workflow_id!r} (activity ids "
                    "on the embedded store are numbers: activity.info().activity_id)"
                ) from None
            try:
                run_id = str(self._find_run(tx.c, workflow_id, run_id)[0])
            except WorkflowNotFoundError as err:
                raise ActivityNotFoundError(f"no activity {seq}: {err}") from None
            what = f"activity {seq} of workflow {workflow_id!r} (run {run_id})"
        query = (
            f"SELECT {activities.TASK_COLUMNS} FROM tasks WHERE kind = 1 AND run_id = ? "
            "AND seq = ? AND owner IS NOT NULL"
        )
        params: list[object] = [run_id, seq]
        if attempt is not None:
            query += " AND attempt = ?"
            params.append(attempt)
        row = tx.c.execute(query, params).fetchone()
        run = tx.run(run_id)
        if row is None or run is None or run.status != RunStatus.RUNNING:
            raise ActivityNotFoundError(
                f"{what} is not running: it completed, failed, timed out or was retried "
                "since (a task token names one attempt), or its workflow closed"
            )
        return activities.load(tx, row)

    def heartbeat_async_activity(
        self,
        token: bytes | None,
        workflow_id: str | None,
        run_id: str | None,
        activity_id: str | None,
        details: tuple[Payload, ...],
        now: int,
    ) -> None:
        """Record a heartbeat (extends a heartbeat timeout).

        Raises:
            ActivityNotFoundError: No such running attempt.
            AsyncActivityCancelledError: Cancellation of the activity was requested.
        """
        with self._write(now) as tx:
            task = self._pending(tx, token, workflow_id, run_id, activity_id)
            cancel = activities.heartbeat(tx, task, details)
        if cancel:
            raise AsyncActivityCancelledError(
                f"cancellation of activity {task.activity_type!r} (workflow "
                f"{task.workflow_id!r}) was requested: call report_cancellation()"
            )

    def complete_async_activity(
        self,
        token: bytes | None,
        workflow_id: str | None,
        run_id: str | None,
        activity_id: str | None,
        result: Payload,
        identity: str,
        now: int,
    ) -> None:
        """Complete the attempt with ``result``.

        Raises:
            ActivityNotFoundError: No such running attempt.
        """
        with self._write(now) as tx:
            task = self._pending(tx, token, workflow_id, run_id, activity_id)
            activities.take(tx, task)
            activities.complete(tx, task, result, identity)

    def fail_async_activity(
        self,
        token: bytes | None,
        workflow_id: str | None,
        run_id: str | None,
        activity_id: str | None,
        failure: Failure,
        last_heartbeat_details: tuple[Payload, ...],
        identity: str,
        now: int,
    ) -> None:
        """Fail the attempt: retried under the activity's retry policy like any failure
        (the next attempt sees ``last_heartbeat_details`` in its info, when given).

        Raises:
            ActivityNotFoundError: No such running attempt.
        """
        with self._write(now) as tx:
            task = self._pending(tx, token, workflow_id, run_id, activity_id)
            if last_heartbeat_details:
                activities.heartbeat(tx, task, last_heartbeat_details)
            activities.fail(tx, task, failure, identity)

    def cancel_async_activity(
        self,
        token: bytes | None,
        workflow_id: str | None,
        run_id: str | None,
        activity_id: str | None,
        identity: str,
        now: int,
    ) -> None:
        """Report the attempt cancelled (the workflow sees the activity cancelled).

        Raises:
            ActivityNotFoundError: No such running attempt.
        """
        with self._write(now) as tx:
            task = self._pending(tx, token, workflow_id, run_id, activity_id)
            activities.cancelled(tx, task, identity)
