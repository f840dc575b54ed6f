"""The embedded store: one SQLite file in WAL mode.

Several processes (workers, clients, the CLI) may open the same file. Every state change is
one short ``BEGIN IMMEDIATE`` transaction, so SQLite's single writer lock serializes them
and task claims are atomic; readers never block writers. ``synchronous=NORMAL`` makes a
commit survive a process crash (SIGKILL) — the promise Duragent's recovery relies on — and
``synchronous="FULL"`` also survives power loss, at a cost per commit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
from collections.abc import Generator, Sequence

from .._engine import events as ev
from .._engine.completion import TaskCompletion
from .._engine.failure import Failure
from .._search_attributes import stored
from ..errors import (
    ConfigurationError,
    StoreFileChangedError,
    WorkflowAlreadyStartedError,
    WorkflowNotFoundError,
)
from ..retry import RetryDecision
from ..serde import Payload
from . import _activity_rows as activities
from . import _messages as messages
from . import _stream_rows
from . import _workflow_task_rows as workflow_tasks
from ._async_activities import AsyncActivityOps
from ._connection import SqliteConnection
from ._cron_runs import delay_first_task
from ._errors import map_error
from ._fork_rows import ForkRun, create_fork
from ._inbox import InboxOps
from ._maintenance import MaintenanceOps
from ._retention import RetentionOps
from ._runs import create_run, new_run_id, request_cancel_run, signal_run, terminate_run
from ._schedule_rows import ScheduleOps
from ._stream_rows import StreamRow
from ._streams import StreamOps
from ._tx import DEFERRED_TASK_ID, EncodedPayload, RunRow, Tx, decode_rows
from ._visibility import RunQuery, VisibilityOps
from .base import (
    ActivityTask,
    CompletionOutcome,
    IdConflictPolicy,
    RunRecord,
    StartRequest,
    StartResult,
    WorkflowTask,
)


class SqliteStore(
    ScheduleOps,
    StreamOps,
    VisibilityOps,
    RetentionOps,
    MaintenanceOps,
    InboxOps,
    AsyncActivityOps,
    SqliteConnection,
):
    """The embedded store on one SQLite file (the worker side of it is
    :class:`~duragent._backend.WorkerStore`; clients use it through
    :class:`~duragent._backend.EmbeddedBackend`).

    Args:
        path: Database file (created if missing), or ``":memory:"``.
        busy_timeout_ms: How long to wait for another process's write lock.
        synchronous: SQLite ``synchronous`` mode: ``"NORMAL"`` (crash-safe) or ``"FULL"``
            (also power-loss-safe).
    """

    @contextlib.contextmanager
    def no_wait(self) -> Generator[bool]:
        """Within the block, calls on this thread fail at once with ``StoreLockedError``
        instead of waiting for another process's write lock (and nothing is changed then).
        Yields False, without changing anything, when another thread of this process is
        using the connection: the caller should not wait for it either.

        Lets an async caller try a write on its event loop and move it to a thread only
        when it would have to wait.
        """
        if not self._lock.acquire(blocking=False):
            yield False
            return
        timeout_ms = self._busy_timeout_ms
        try:
            conn = self._conn
            conn.execute("PRAGMA busy_timeout = 0")
            # Also what the "busy" retries wait for (BEGIN IMMEDIATE): nothing.
            self._busy_timeout_ms = 0
            try:
                yield True
            finally:
                self._busy_timeout_ms = timeout_ms
                conn.execute(f"PRAGMA busy_timeout = {int(timeout_ms)}")
        except sqlite3.Error as err:
            raise map_error(err, self.path, waited_ms=0, timeout_ms=0) from err
        finally:
            self._lock.release()

    def open_reader(self) -> SqliteStore:
        """Another connection to the same file, for reads that must not wait behind this
        connection's lock while it writes (in WAL mode a reader never waits for a writer).

        Raises:
            ConfigurationError: This is an in-memory store (it has only one connection).
            StoreFileChangedError: The file was moved, deleted or replaced since this
                store opened it.
        """
        if self.path == ":memory:":
            raise ConfigurationError("an in-memory store cannot be opened twice")
        # A file deleted or replaced since this one was opened: opening its path would
        # read another (or a new, empty) database, so refuse, as every read here does.
        self.check_file()
        reader = SqliteStore(self.path, busy_timeout_ms=self._configured_timeout_ms)
        if self._identity is not None and (
            reader._identity is None or reader._identity.db != self._identity.db
        ):
            reader.close()
            self._identity_at = 0.0  # the next call of any kind checks and says what changed
            self.check_file()
            raise StoreFileChangedError(
                f"{self.path} was replaced by another file while this process had it open"
            )
        return reader

    # -- client side --------------------------------------------------------------------------

    def start_workflow(self, request: StartRequest, now: int) -> StartResult:
        ahead = self.encode_ahead((*request.input, *request.signal_input))
        with self._write(now, ahead) as tx:
            existing = tx.open_run(request.workflow_id)
            if existing is not None:
                policy = request.id_conflict_policy
                if policy == IdConflictPolicy.USE_EXISTING:
                    if request.signal_name is not None:
                        signal_run(
                            tx,
                            existing,
                            request.signal_name,
                            request.signal_input,
                            request.identity,
                        )
                    if request.update is not None:
                        messages.request_update(tx, existing, request.update)
                    return StartResult(existing.run_id, started=False)
                if policy == IdConflictPolicy.TERMINATE_EXISTING:
                    terminate_run(tx, existing, "terminated by a new start with the same id")
                else:
                    raise WorkflowAlreadyStartedError(
                        request.workflow_id, existing.run_id, existing.workflow_type
                    )
            run = create_run(
                tx,
                run_id=new_run_id(),
                workflow_id=request.workflow_id,
                workflow_type=request.workflow_type,
                task_queue=request.task_queue,
                input=request.input,
                memo=request.memo,
                search_attributes=stored(request.search_attributes) or None,
            )
            if request.signal_name is not None:
                signal_run(tx, run, request.signal_name, request.signal_input, request.identity)
            if request.update is not None:
                messages.request_update(tx, run, request.update)
            if request.cron_schedule:
                delay_first_task(tx, run, request.cron_schedule)
            return StartResult(run.run_id, started=True)

    def fork_run(self, request: ForkRun, now: int) -> StartResult:
        """Create a fork of another run (see :mod:`._fork_rows`).

        Raises:
            WorkflowAlreadyStartedError: A run with the fork's workflow id is running.
            SourceMovedError: The source's history grew since the fork was planned.
        """
        with self._write(now) as tx:
            existing = tx.open_run(request.workflow_id)
            if existing is not None:
                raise WorkflowAlreadyStartedError(
                    request.workflow_id, existing.run_id, existing.workflow_type
                )
            return StartResult(create_fork(tx, request).run_id, started=True)

    def describe(self, workflow_id: str, run_id: str | None = None) -> RunRecord:
        with self._read() as conn:
            return self._record(conn, self._find_run(conn, workflow_id, run_id))

    def describe_run(self, run_id: str) -> RunRecord:
        with self._read() as conn:
            row = conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                raise WorkflowNotFoundError(f"run {run_id} not found in {self.path}")
            return self._record(conn, row)

    def next_run_id(self, run_id: str) -> str | None:
        """The run a cron schedule started after this one closed (see ``_cron_runs``)."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT next_run_id FROM runs WHERE run_id = ?", (run_id,)
            ).fetchone()
        return str(row[0]) if row is not None and row[0] else None

    def run_status(self, run_id: str) -> tuple[str, int]:
        """(status, last event id) of a run: the cheap check result() polls."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT status, last_event_id FROM runs WHERE run_id = ?", (run_id,)
            ).fetchone()
        if row is None:
            raise WorkflowNotFoundError(f"run {run_id} not found in {self.path}")
        return str(row[0]), int(row[1])

    def read_history(self, run_id: str, after: int = 0) -> list[ev.Event]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT event_id, type, time, attrs FROM events WHERE run_id = ? AND event_id > ? "
                "ORDER BY event_id",
                (run_id, after),
            ).fetchall()
            return decode_rows(self._reader, rows)

    def read_event(self, run_id: str, event_id: int) -> ev.Event | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT event_id, type, time, attrs FROM events WHERE run_id = ? AND event_id = ?",
                (run_id, event_id),
            ).fetchone()
            return decode_rows(self._reader, [row])[0] if row is not None else None

    def list_runs(
        self,
        *,
        status: str | None = None,
        workflow_type: str | None = None,
        workflow_id_prefix: str | None = None,
        limit: int = 100,
    ) -> list[RunRecord]:
        """Runs, newest first (the first page of :meth:`list_runs_page`)."""
        query = RunQuery(
            status=status, workflow_type=workflow_type, workflow_id_prefix=workflow_id_prefix
        )
        return self.list_runs_page(query, limit=limit)[0]

    def count_runs(self, status: str | None = None) -> int:
        """How many runs there are (with this status, if given)."""
        return self.count_matching_runs(RunQuery(status=status))

    def signal(
        self,
        workflow_id: str,
        run_id: str | None,
        name: str,
        input: tuple[Payload, ...],
        now: int,
        identity: str = "",
    ) -> None:
        with self._write(now, self.encode_ahead(input)) as tx:
            signal_run(tx, self._open_run(tx, workflow_id, run_id), name, input, identity)

    def request_cancel(self, workflow_id: str, run_id: str | None, reason: str, now: int) -> None:
        with self._write(now) as tx:
            request_cancel_run(tx, self._open_run(tx, workflow_id, run_id), reason)

    def terminate(self, workflow_id: str, run_id: str | None, reason: str, now: int) -> None:
        with self._write(now) as tx:
            terminate_run(tx, self._open_run(tx, workflow_id, run_id), reason)

    def claim_workflow_task(
        self, worker_id: str, task_queue: str, types: Sequence[str], now: int
    ) -> WorkflowTask | None:
        tasks = self.claim_workflow_tasks(worker_id, task_queue, types, now)
        return tasks[0] if tasks else None

    def claim_workflow_tasks(
        self, worker_id: str, task_queue: str, types: Sequence[str], now: int, limit: int = 1
    ) -> list[WorkflowTask]:
        """Claim up to ``limit`` workflow tasks (in the open batch, if any).

        One UPDATE, atomic by itself: outside a batch it is its own transaction (no
        BEGIN/COMMIT round trip for a poll), inside one it needs no savepoint.
        """
        with self._lock:
            outer = self._open_tx
            if outer is None:
                self._check_file_now_and_then()
            elif outer.lost is not None:
                raise self._error(outer.lost) from outer.lost
            tx = outer or Tx(self._conn, now, self._known_digests, self._reader)
            try:
                return workflow_tasks.claim(tx, worker_id, task_queue, types, now, limit)
            except sqlite3.Error as err:
                if outer is not None and not self._conn.in_transaction:
                    outer.lost = err
                raise self._error(err) from err

    def complete_workflow_task(
        self,
        task: WorkflowTask,
        completion: TaskCompletion,
        now: int,
        *,
        worker_id: str = "",
        keep: bool = False,
        eager_activity_types: Sequence[str] | None = None,
        eager_queue: str = "",
        eager_slots: int = 0,
        ahead: dict[int, EncodedPayload] | None = None,
    ) -> CompletionOutcome:
        """Record a workflow task's commands. ``ahead``: its payloads, encoded by
        :meth:`encode_ahead` (done here when not given)."""
        if ahead is None:
            ahead = self.encode_ahead(completion.commands)
        with self._write(now, ahead) as tx:
            return workflow_tasks.complete(
                tx,
                task,
                completion,
                owner=worker_id,
                keep=keep,
                eager_activity_types=eager_activity_types,
                eager_queue=eager_queue,
                eager_slots=eager_slots,
            )

    def fail_workflow_task(self, task: WorkflowTask, failure: Failure, now: int) -> None:
        with self._write(now) as tx:
            workflow_tasks.fail(tx, task, failure)

    def release_workflow_task(self, task: WorkflowTask, now: int) -> None:
        with self._write(now) as tx:
            workflow_tasks.release(tx, task)

    def extend_workflow_task(self, task: WorkflowTask, now: int) -> bool:
        """Keep a workflow task this worker still works on (running its local activities)
        from being handed to another worker; False if it is no longer this worker's."""
        with self._write(now) as tx:
            return workflow_tasks.extend(tx, task)

    def claim_activity_task(
        self, worker_id: str, task_queue: str, types: Sequence[str] | None, now: int
    ) -> ActivityTask | None:
        with self._write(now) as tx:
            return activities.claim(tx, worker_id, task_queue, types, now)

    def complete_activity_task(
        self,
        task: ActivityTask,
        result: Payload,
        now: int,
        *,
        worker: str,
        claim_for: tuple[str, str, Sequence[str]] | None = None,
        stream_tail: Sequence[StreamRow] | None = None,
        ahead: dict[int, EncodedPayload] | None = None,
        defer_claim: bool = False,
    ) -> WorkflowTask | None:
        """Record a successful attempt. With ``claim_for=(worker_id, task_queue, types)``
        the run's next workflow task is claimed for that worker in the same transaction
        (with ``defer_claim``, inside a :meth:`batch` that will record that task too, its
        row is inserted only if still needed: see :meth:`settle_claim`).
        With ``stream_tail`` (an attempt that streamed) its last rows and its commit marker
        are written with the result. ``ahead``: the result encoded by :meth:`encode_ahead`
        (done here when not given)."""
        if ahead is None:
            ahead = self.encode_ahead((result,))
        with self._write(now, ahead) as tx:
            if not activities.take(tx, task):
                return None
            if stream_tail is not None:
                _stream_rows.commit(tx, task.run_id, task.seq, task.attempt, stream_tail)
            owner, queue, types = claim_for or ("", "", ())

            def eligible(run: RunRow) -> str | None:
                ok = claim_for is not None and run.task_queue == queue
                return owner if ok and run.workflow_type in types else None

            tx.pop_claimed_new()
            completed = activities.complete(
                tx,
                task,
                result,
                worker,
                claim=eligible,
                lease_ms=workflow_tasks.WORKFLOW_TASK_LEASE_MS,
                defer_claim=defer_claim,
            )
            if completed is None:
                return None
            run, event = completed
            if eligible(run) is None:
                return None
            created = tx.pop_claimed_new()
            if created is not None:
                task_id, lease = created  # the new task was created claimed
                attempt = 0
            else:  # a task existed already: claim it if nobody holds it
                rows = tx.c.execute(
                    "UPDATE tasks SET owner = ?, lease = lease + 1, lease_expires_at = ?, "
                    "started_at = ? WHERE run_id = ? AND kind = 0 AND owner IS NULL "
                    "AND visible_at <= ? RETURNING task_id, lease, attempt",
                    (owner, now + workflow_tasks.WORKFLOW_TASK_LEASE_MS, now, run.run_id, now),
                ).fetchall()
                if not rows:
                    return None
                # Claimed right here: waking pollers would only cost them a claim query.
                tx.topics.discard(f"wf:{queue}")
                task_id, lease, attempt = rows[0]
                tx.claimed.add((task_id, lease))
            return workflow_tasks.load(
                tx,
                task_id,
                lease,
                run.run_id,
                run.workflow_type,
                run.task_queue,
                attempt,
                workflow_id=run.workflow_id,
                pending_updates=run.pending_updates,
                new_events=(event,),
            )

    def settle_claim(self, task: WorkflowTask, now: int) -> WorkflowTask:
        """``task`` as it is now in the open batch: when it was claimed with
        ``complete_activity_task(defer_claim=True)`` and its row is still deferred (the
        batch did not record it), the row is inserted and ``task`` returned with its id."""
        if task.task_id != DEFERRED_TASK_ID:
            return task
        with self._lock:
            open_tx = self._open_tx
            deferred = open_tx.deferred if open_tx is not None else None
            if deferred is None or deferred.run_id != task.run_id:
                return task  # recorded (and deleted, or inserted to be kept) meanwhile
            with self._write(now) as tx:
                task_id = tx.materialize(task.run_id)
        assert task_id is not None
        return dataclasses.replace(task, task_id=task_id)

    def fail_activity_task(
        self,
        task: ActivityTask,
        failure: Failure,
        now: int,
        *,
        worker: str,
        cancelled: bool = False,
    ) -> RetryDecision | None:
        """Record a failed (or cancelled) attempt; returns what became of the activity
        (None when the attempt was no longer current, or was cancelled)."""
        with self._write(now) as tx:
            if not activities.is_current(tx, task):
                return None
            if cancelled:
                activities.cancelled(tx, task, worker)
                return None
            return activities.fail(tx, task, failure, worker)

    def release_activity_task(self, task: ActivityTask, now: int, *, worker: str) -> None:
        """Give an attempt back unfinished (worker shutdown): it is retried at once."""
        with self._write(now) as tx:
            if not activities.is_current(tx, task):
                return
            tx.c.execute(
                "UPDATE tasks SET owner = NULL, lease_expires_at = NULL, visible_at = ? "
                "WHERE task_id = ?",
                (now, task.task_id),
            )
            tx.log_attempt(
                task.run_id, task.seq, task.attempt, task.started_time, worker, "released", None
            )
            _stream_rows.end_attempt(tx, task.run_id, task.seq, task.attempt, "released")
            tx.topics.add(f"act:{task.task_queue}")

    def heartbeat_activity_task(
        self, task: ActivityTask, details: tuple[Payload, ...], now: int
    ) -> bool:
        with self._write(now) as tx:
            return activities.heartbeat(tx, task, details)
