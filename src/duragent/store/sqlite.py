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
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time as _time
from collections.abc import Generator, Sequence
from typing import Any, Final

from .._engine import events as ev
from .._engine.failure import Failure
from ..errors import (
    StoreCorruptError,
    StoreError,
    StoreLockedError,
    WorkflowAlreadyStartedError,
    WorkflowNotFoundError,
    WorkflowNotRunningError,
)
from ..serde import Payload
from . import _activities as activities
from . import _messages as messages
from . import _workflow_tasks as workflow_tasks
from . import chunks
from ._runs import create_run, new_run_id, request_cancel_run, signal_run, terminate_run
from ._tx import PayloadReader, RunRow, Tx, decode_rows, dumps
from .base import (
    ActivityTask,
    CompletionOutcome,
    IdConflictPolicy,
    QueryTask,
    RunRecord,
    RunStatus,
    StartRequest,
    StartResult,
    TaskCompletion,
    UpdateOutcome,
    UpdateSpec,
    UsageEntry,
    WorkerRegistration,
    WorkflowTask,
)
from .liveness import is_alive, process_start_marker, this_host
from .notify import Notifier
from .schema import open_schema

DEFAULT_BUSY_TIMEOUT_MS: Final = 10_000
_DIGEST_CACHE_MAX: Final = 100_000
_PEERS_REFRESH_S: Final = 1.0

log = logging.getLogger("duragent.store")

_notifiers: dict[str, Notifier] = {}
_notifiers_lock = threading.Lock()


def _notifier_for(path: str) -> Notifier:
    if path == ":memory:":
        return Notifier()
    key = os.path.realpath(path)
    with _notifiers_lock:
        notifier = _notifiers.get(key)
        if notifier is None:
            notifier = _notifiers[key] = Notifier()
        return notifier


def _map_error(err: sqlite3.Error, path: str, busy_timeout_ms: int = 0) -> StoreError:
    text = str(err)
    if isinstance(err, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return StoreLockedError(
            f"{path} is locked by another process (waited {busy_timeout_ms} ms): "
            f"{text}. Nothing was changed; retry, or find the process holding a long "
            "transaction"
        )
    if "not a database" in text:
        return StoreCorruptError(
            f"{path} is not a valid Duragent database ({text}); nothing was changed. "
            "Point Duragent at another file, or restore this one from a backup"
        )
    if "malformed" in text or "corrupt" in text:
        return StoreCorruptError(
            f"{path} is damaged ({text}); restore it from a backup or use a new file"
        )
    return StoreError(f"database error on {path}: {text}")


class SqliteStore:
    """A :class:`~duragent.store.base.Store` on one SQLite file.

    Args:
        path: Database file (created if missing), or ``":memory:"``.
        busy_timeout_ms: How long to wait for another process's write lock.
        synchronous: SQLite ``synchronous`` mode: ``"NORMAL"`` (crash-safe) or ``"FULL"``
            (also power-loss-safe).
    """

    def __init__(
        self,
        path: str,
        *,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        synchronous: str = "NORMAL",
    ) -> None:
        if synchronous.upper() not in ("NORMAL", "FULL", "EXTRA"):
            raise ValueError("synchronous must be NORMAL, FULL or EXTRA")
        self.path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._lock = threading.RLock()
        self._known_digests: set[bytes] = set()
        self._peers: list[str] = []
        self._peers_at = 0.0
        try:
            conn = sqlite3.connect(
                path,
                isolation_level=None,
                check_same_thread=False,
                timeout=busy_timeout_ms / 1000,
            )
        except sqlite3.Error as err:
            raise StoreError(f"cannot open {path}: {err}") from err
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            if path != ":memory:":
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError(f"{path}: cannot enable WAL mode (got {mode})")
            conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
            open_schema(conn, path)
        except sqlite3.Error as err:
            conn.close()
            raise _map_error(err, path, busy_timeout_ms) from err
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self._open_tx: Tx | None = None
        self._prefixes = chunks.PrefixIndex()
        self._reader = PayloadReader(conn, self._lock)
        self.notifier = _notifier_for(path)

    # -- plumbing ----------------------------------------------------------------------------

    def close(self) -> None:
        self.notifier.remove_peer_source(self._peer_addresses)
        with self._lock:
            self._conn.close()

    @contextlib.contextmanager
    def batch(self, now: int) -> Generator[None]:
        """Commit everything written inside the block in one transaction.

        Writes inside join it through a savepoint each, so one of them failing undoes only
        its own part. Used to commit an activity's result together with the workflow task
        it triggers: one commit instead of two on the busiest path.
        """
        with self._write(now):
            yield

    @contextlib.contextmanager
    def _write(self, now: int) -> Generator[Tx]:
        with self._lock:
            conn = self._conn
            outer = self._open_tx
            if outer is not None:
                yield from self._nested(outer, now)
                return
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as err:
                raise _map_error(err, self.path, self._busy_timeout_ms) from err
            tx = Tx(conn, now, self._known_digests, self._reader, self._prefixes)
            self._open_tx = tx
            try:
                yield tx
            except sqlite3.Error as err:
                conn.execute("ROLLBACK")
                raise _map_error(err, self.path, self._busy_timeout_ms) from err
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            finally:
                self._open_tx = None
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as err:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise _map_error(err, self.path, self._busy_timeout_ms) from err
            if len(self._known_digests) > _DIGEST_CACHE_MAX:
                self._known_digests.clear()
            self._known_digests.update(tx.new_digests)
            self._prefixes.add(tx.new_prefixes)
        if tx.topics:
            try:
                self.notifier.notify(tx.topics)
            except Exception:  # the change is committed: a missed wake-up only delays
                log.exception("wake-up notification failed")

    def _nested(self, outer: Tx, now: int) -> Generator[Tx]:
        conn = self._conn
        # Nothing written yet: a failure rolls the whole transaction back anyway.
        savepoint = outer.wrote
        if savepoint:
            conn.execute("SAVEPOINT nested_write")
        saved_now, outer.now = outer.now, now
        # What this write adds to the caches must go if it is rolled back.
        digests, prefixes = set(outer.new_digests), dict(outer.new_prefixes)
        try:
            yield outer
        except BaseException:
            if savepoint:
                conn.execute("ROLLBACK TO nested_write")
                conn.execute("RELEASE nested_write")
                outer.new_digests, outer.new_prefixes = digests, prefixes
            raise
        else:
            if savepoint:
                conn.execute("RELEASE nested_write")
            outer.wrote = True
        finally:
            outer.now = saved_now

    @contextlib.contextmanager
    def _read(self) -> Generator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as err:
                raise _map_error(err, self.path, self._busy_timeout_ms) from err

    # -- client side --------------------------------------------------------------------------

    def start_workflow(self, request: StartRequest, now: int) -> StartResult:
        with self._write(now) as tx:
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
            )
            if request.signal_name is not None:
                signal_run(tx, run, request.signal_name, request.signal_input, request.identity)
            if request.update is not None:
                messages.request_update(tx, run, request.update)
            return StartResult(run.run_id, started=True)

    def _find_run(self, conn: sqlite3.Connection, workflow_id: str, run_id: str | None) -> Any:
        if run_id:
            row = conn.execute(
                "SELECT * FROM runs WHERE run_id = ? AND workflow_id = ?", (run_id, workflow_id)
            ).fetchone()
        else:
            row = conn.execute(
                "SELECT * FROM runs WHERE workflow_id = ? ORDER BY start_time DESC, rowid DESC "
                "LIMIT 1",
                (workflow_id,),
            ).fetchone()
        if row is None:
            what = (
                f"run {run_id} of workflow {workflow_id!r}"
                if run_id
                else (f"workflow {workflow_id!r}")
            )
            raise WorkflowNotFoundError(f"{what} not found in {self.path}")
        return row

    def _record(self, conn: sqlite3.Connection, row: Any) -> RunRecord:
        cols = [d[0] for d in conn.execute("SELECT * FROM runs LIMIT 0").description]
        r = dict(zip(cols, row, strict=True))
        pending = conn.execute(
            "SELECT count(*) FROM tasks WHERE run_id = ? AND kind = 1", (r["run_id"],)
        ).fetchone()[0]
        return RunRecord(
            run_id=r["run_id"],
            workflow_id=r["workflow_id"],
            workflow_type=r["workflow_type"],
            task_queue=r["task_queue"],
            status=r["status"],
            start_time=r["start_time"],
            close_time=r["close_time"],
            history_length=r["last_event_id"],
            history_bytes=r["history_bytes"],
            first_run_id=r["first_run_id"],
            parent_workflow_id=r["parent_workflow_id"],
            parent_run_id=r["parent_run_id"],
            task_failure=(
                Failure.from_dict(json.loads(r["task_failure"])) if r["task_failure"] else None
            ),
            task_attempts=r["task_attempts"],
            pending_activities=int(pending),
            memo=json.loads(r["memo"]) if r["memo"] else {},
        )

    def describe(self, workflow_id: str, run_id: str | None = None) -> RunRecord:
        with self._read() as conn:
            return self._record(conn, self._find_run(conn, workflow_id, run_id))

    def describe_run(self, run_id: str) -> RunRecord:
        with self._read() as conn:
            row = conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                raise WorkflowNotFoundError(f"run {run_id} not found in {self.path}")
            return self._record(conn, row)

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
        where: list[str] = []
        params: list[Any] = []
        if status:
            where.append("status = ?")
            params.append(status)
        if workflow_type:
            where.append("workflow_type = ?")
            params.append(workflow_type)
        if workflow_id_prefix:
            where.append("substr(workflow_id, 1, ?) = ?")
            params.extend([len(workflow_id_prefix), workflow_id_prefix])
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT * FROM runs {clause} ORDER BY start_time DESC, rowid DESC LIMIT ?",
                [*params, limit],
            ).fetchall()
            return [self._record(conn, r) for r in rows]

    def count_runs(self, status: str | None = None) -> int:
        with self._read() as conn:
            if status:
                return int(
                    conn.execute(
                        "SELECT count(*) FROM runs WHERE status = ?", (status,)
                    ).fetchone()[0]
                )
            return int(conn.execute("SELECT count(*) FROM runs").fetchone()[0])

    def _open_run(self, tx: Tx, workflow_id: str, run_id: str | None) -> RunRow:
        run = tx.open_run(workflow_id, run_id)
        if run is not None:
            return run
        with self._read() as conn:
            self._find_run(conn, workflow_id, run_id)  # raises WorkflowNotFoundError
        raise WorkflowNotRunningError(
            f"workflow {workflow_id!r}{f' run {run_id}' if run_id else ''} is not running"
        )

    def signal(
        self,
        workflow_id: str,
        run_id: str | None,
        name: str,
        input: tuple[Payload, ...],
        now: int,
        identity: str = "",
    ) -> None:
        with self._write(now) as tx:
            signal_run(tx, self._open_run(tx, workflow_id, run_id), name, input, identity)

    def request_cancel(self, workflow_id: str, run_id: str | None, reason: str, now: int) -> None:
        with self._write(now) as tx:
            request_cancel_run(tx, self._open_run(tx, workflow_id, run_id), reason)

    def terminate(self, workflow_id: str, run_id: str | None, reason: str, now: int) -> None:
        with self._write(now) as tx:
            terminate_run(tx, self._open_run(tx, workflow_id, run_id), reason)

    # -- updates and queries ------------------------------------------------------------------

    def request_update(
        self, workflow_id: str, run_id: str | None, spec: UpdateSpec, now: int
    ) -> str:
        """Queue an update for the run; returns the run id it was sent to.

        Raises:
            WorkflowNotFoundError: No such workflow.
            WorkflowNotRunningError: The workflow has closed.
        """
        with self._write(now) as tx:
            run = self._open_run(tx, workflow_id, run_id)
            messages.request_update(tx, run, spec)
            return run.run_id

    def update_outcome(self, run_id: str, update_id: str) -> UpdateOutcome | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT status, result, failure FROM updates WHERE run_id = ? AND update_id = ?",
                (run_id, update_id),
            ).fetchone()
        return messages.update_outcome(row) if row is not None else None

    def request_query(
        self,
        workflow_id: str,
        run_id: str | None,
        name: str,
        input: tuple[Payload, ...],
        now: int,
    ) -> int:
        """Queue a query (closed runs can be queried too); returns its id."""
        with self._read() as conn:
            found_run_id = str(self._find_run(conn, workflow_id, run_id)[0])
        with self._write(now) as tx:
            run = tx.run(found_run_id)
            assert run is not None
            return messages.request_query(tx, run, name, input)

    def claim_query(
        self, worker_id: str, task_queue: str, types: list[str], now: int
    ) -> QueryTask | None:
        with self._write(now) as tx:
            return messages.claim_query(tx, worker_id, task_queue, types)

    def answer_query(
        self, query_id: int, result: Payload | None, error: str | None, now: int
    ) -> None:
        with self._write(now) as tx:
            messages.answer_query(tx, query_id, result, error)

    def take_query_answer(self, query_id: int) -> tuple[str, Payload | None, str | None]:
        """(status, result, error) of a query; the row is deleted once answered."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT status, result, error FROM queries WHERE query_id = ?", (query_id,)
            ).fetchone()
            if row is None:
                return "failed", None, "the query was lost"
            status, result, error = row
            if status in ("answered", "failed"):
                conn.execute("DELETE FROM queries WHERE query_id = ?", (query_id,))
        return str(status), Payload(result.encode()) if result is not None else None, error

    def cancel_query(self, query_id: int) -> None:
        """Drop a query nobody answered in time."""
        with self._read() as conn:
            conn.execute("DELETE FROM queries WHERE query_id = ?", (query_id,))

    # -- usage ledger --------------------------------------------------------------------------

    def record_usage(self, entry: UsageEntry) -> None:
        """Append a billable call to the ledger (its own short transaction)."""
        with self._read() as conn:
            conn.execute(
                "INSERT INTO usage_ledger (run_id, seq, attempt, kind, name, agent, requests, "
                "input_tokens, output_tokens, cached_tokens, latency_ms, time, worker) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.run_id,
                    entry.seq,
                    entry.attempt,
                    entry.kind,
                    entry.name,
                    entry.agent,
                    entry.requests,
                    entry.input_tokens,
                    entry.output_tokens,
                    entry.cached_tokens,
                    entry.latency_ms,
                    entry.time,
                    entry.worker,
                ),
            )

    def usage_entries(self, run_ids: Sequence[str]) -> list[UsageEntry]:
        """Ledger entries of the given runs, in order."""
        if not run_ids:
            return []
        with self._read() as conn:
            rows = conn.execute(
                "SELECT run_id, seq, attempt, kind, name, agent, requests, input_tokens, "
                "output_tokens, cached_tokens, latency_ms, time, worker FROM usage_ledger "
                f"WHERE run_id IN ({','.join('?' * len(run_ids))}) ORDER BY entry_id",
                list(run_ids),
            ).fetchall()
        return [UsageEntry(*row) for row in rows]

    def runs_of_workflow(self, workflow_id: str) -> list[str]:
        """Run ids of a workflow id, oldest first (continue-as-new chains)."""
        with self._read() as conn:
            return [
                str(r[0])
                for r in conn.execute(
                    "SELECT run_id FROM runs WHERE workflow_id = ? ORDER BY start_time, rowid",
                    (workflow_id,),
                ).fetchall()
            ]

    def child_runs(self, run_id: str) -> list[str]:
        """Run ids whose parent run is ``run_id``."""
        with self._read() as conn:
            return [
                str(r[0])
                for r in conn.execute(
                    "SELECT run_id FROM runs WHERE parent_run_id = ? ORDER BY start_time",
                    (run_id,),
                ).fetchall()
            ]

    def attempts(self, run_id: str) -> list[dict[str, Any]]:
        """Failed, timed-out and interrupted activity attempts of a run (for timelines)."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT seq, attempt, started_at, ended_at, worker, outcome, failure "
                "FROM attempts WHERE run_id = ? ORDER BY seq, attempt",
                (run_id,),
            ).fetchall()
        return [
            {
                "seq": s,
                "attempt": a,
                "started_at": st,
                "ended_at": en,
                "worker": w,
                "outcome": o,
                "failure": Failure.from_dict(json.loads(f)) if f else None,
            }
            for s, a, st, en, w, o, f in rows
        ]

    def pending_activities(self, run_id: str) -> list[dict[str, Any]]:
        """Activity tasks of a run that have not finished (for timelines)."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT seq, type_name, attempt, owner, visible_at, started_at, last_failure "
                "FROM tasks WHERE run_id = ? AND kind = 1 ORDER BY seq",
                (run_id,),
            ).fetchall()
        return [
            {
                "seq": s,
                "activity_type": t,
                "attempt": a,
                "owner": o,
                "visible_at": v,
                "started_at": st,
                "last_failure": Failure.from_dict(json.loads(f)) if f else None,
            }
            for s, t, a, o, v, st, f in rows
        ]

    # -- workers ---------------------------------------------------------------------------

    def register_worker(self, registration: WorkerRegistration, now: int) -> None:
        with self._write(now) as tx:
            tx.c.execute(
                "INSERT OR REPLACE INTO workers (worker_id, host, pid, pid_started, task_queue, "
                "workflow_types, activity_types, started_at, heartbeat_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    registration.worker_id,
                    registration.host,
                    registration.pid,
                    registration.pid_started,
                    registration.task_queue,
                    dumps(list(registration.workflow_types)),
                    dumps(list(registration.activity_types))
                    if registration.activity_types is not None
                    else None,
                    now,
                    now,
                ),
            )
            # A new worker (often: a fixed deploy) retries failing workflow tasks now.
            tx.c.execute(
                "UPDATE tasks SET visible_at = ? WHERE kind = 0 AND owner IS NULL AND attempt > 0 "
                "AND task_queue = ?",
                (now, registration.task_queue),
            )
            tx.topics.add(f"wf:{registration.task_queue}")

    def heartbeat_worker(self, worker_id: str, now: int) -> None:
        with self._read() as conn:
            conn.execute(
                "UPDATE workers SET heartbeat_at = ? WHERE worker_id = ?", (now, worker_id)
            )

    def deregister_worker(self, worker_id: str) -> None:
        with self._read() as conn:
            conn.execute("DELETE FROM workers WHERE worker_id = ?", (worker_id,))

    def count_workers(self, task_queue: str | None = None) -> int:
        """Registered workers (of ``task_queue``, if given)."""
        with self._read() as conn:
            if task_queue is None:
                return int(conn.execute("SELECT count(*) FROM workers").fetchone()[0])
            return int(
                conn.execute(
                    "SELECT count(*) FROM workers WHERE task_queue = ?", (task_queue,)
                ).fetchone()[0]
            )

    def known_types(self, task_queue: str) -> tuple[set[str], set[str] | None]:
        """Workflow and activity types the live workers of ``task_queue`` handle
        (activity types None: some worker takes every type)."""
        workflows: set[str] = set()
        activity_types: set[str] | None = set()
        with self._read() as conn:
            for wf, act in conn.execute(
                "SELECT workflow_types, activity_types FROM workers WHERE task_queue = ?",
                (task_queue,),
            ):
                workflows.update(json.loads(wf))
                if act is None:
                    activity_types = None
                elif activity_types is not None:
                    activity_types.update(json.loads(act))
        return workflows, activity_types

    def claim_workflow_task(
        self, worker_id: str, task_queue: str, types: Sequence[str], now: int
    ) -> WorkflowTask | None:
        with self._lock:
            try:
                return workflow_tasks.claim(
                    Tx(self._conn, now, self._known_digests, self._reader),
                    worker_id,
                    task_queue,
                    types,
                    now,
                )
            except sqlite3.Error as err:
                raise _map_error(err, self.path, self._busy_timeout_ms) from err

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
    ) -> CompletionOutcome:
        with self._write(now) as tx:
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
    ) -> WorkflowTask | None:
        """Record a successful attempt. With ``claim_for=(worker_id, task_queue, types)``
        the run's next workflow task is claimed for that worker in the same transaction."""
        with self._write(now) as tx:
            if not activities.take(tx, task):
                return None
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
            claimed = workflow_tasks.load(
                tx,
                task_id,
                lease,
                run.run_id,
                run.workflow_type,
                run.task_queue,
                attempt,
                workflow_id=run.workflow_id,
                pending_updates=run.pending_updates,
            )
            return dataclasses.replace(claimed, new_events=(event,))

    def fail_activity_task(
        self,
        task: ActivityTask,
        failure: Failure,
        now: int,
        *,
        worker: str,
        cancelled: bool = False,
    ) -> None:
        with self._write(now) as tx:
            if not activities.is_current(tx, task):
                return
            if cancelled:
                activities.cancelled(tx, task, worker)
            else:
                activities.fail(tx, task, failure, worker)

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
            tx.topics.add(f"act:{task.task_queue}")

    def heartbeat_activity_task(
        self, task: ActivityTask, details: tuple[Payload, ...], now: int
    ) -> bool:
        with self._write(now) as tx:
            return activities.heartbeat(tx, task, details)

    # -- housekeeping ------------------------------------------------------------------------

    def next_due(self, now: int) -> int | None:
        """Earliest time after ``now`` when something becomes due: a timer, a lease expiry,
        a deadline, or the end of a retry backoff."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT min(t) FROM ("
                " SELECT min(fire_at) AS t FROM timers"
                " UNION ALL SELECT min(lease_expires_at) FROM tasks WHERE owner IS NOT NULL"
                " UNION ALL SELECT min(schedule_deadline) FROM tasks"
                " WHERE schedule_deadline IS NOT NULL"
                " UNION ALL SELECT min(visible_at) FROM tasks WHERE owner IS NULL"
                " AND visible_at > ?)",
                (now,),
            ).fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def is_idle(self, now: int) -> bool:
        """Whether nothing can run now: no task is claimed or claimable, no timer is due,
        and no query or update is waiting. The time-skipping test environment advances
        its clock only then."""
        with self._read() as conn:
            busy = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM tasks WHERE owner IS NOT NULL OR visible_at <= ?1)"
                " OR EXISTS (SELECT 1 FROM timers WHERE fire_at <= ?1)"
                " OR EXISTS (SELECT 1 FROM updates WHERE status = 'requested')"
                " OR EXISTS (SELECT 1 FROM queries WHERE status IN ('requested', 'claimed'))",
                (now,),
            ).fetchone()[0]
        return not busy

    def became_visible(self, since: int, now: int) -> bool:
        """Whether an unclaimed task's backoff ended in ``(since, now]``."""
        with self._read() as conn:
            return (
                conn.execute(
                    "SELECT 1 FROM tasks WHERE owner IS NULL AND visible_at > ? "
                    "AND visible_at <= ? LIMIT 1",
                    (since, now),
                ).fetchone()
                is not None
            )

    def housekeeping(self, now: int, worker_id: str = "") -> int | None:
        """Fire due timers, time out overdue activity attempts and release expired
        workflow task leases. Returns the next due time (ms) or None."""
        with self._read() as conn:
            due = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM timers WHERE fire_at <= ?1)"
                " OR EXISTS (SELECT 1 FROM tasks WHERE owner IS NOT NULL"
                "            AND lease_expires_at <= ?1)"
                " OR EXISTS (SELECT 1 FROM tasks WHERE schedule_deadline <= ?1)",
                (now,),
            ).fetchone()[0]
        if due:
            with self._write(now) as tx:
                for run_id, seq in tx.c.execute(
                    "SELECT run_id, seq FROM timers WHERE fire_at <= ? ORDER BY fire_at LIMIT 1000",
                    (now,),
                ).fetchall():
                    tx.c.execute("DELETE FROM timers WHERE run_id = ? AND seq = ?", (run_id, seq))
                    run = tx.run(run_id)
                    if run is not None and run.status == RunStatus.RUNNING:
                        tx.append_input(
                            run,
                            lambda event_id, time, s=seq: ev.TimerFired(
                                event_id=event_id, time=time, seq=s
                            ),
                        )
                activities.expire(tx)
                for task_id, queue in tx.c.execute(
                    "SELECT task_id, task_queue FROM tasks WHERE kind = 0 AND owner IS NOT NULL "
                    "AND lease_expires_at <= ?",
                    (now,),
                ).fetchall():
                    tx.c.execute(
                        "UPDATE tasks SET owner = NULL, lease_expires_at = NULL, visible_at = ? "
                        "WHERE task_id = ?",
                        (now, task_id),
                    )
                    tx.topics.add(f"wf:{queue}")
        return self.next_due(now)

    def reclaim_dead_workers(self, now: int) -> int:
        """Release the tasks of worker processes that are gone. Returns how many workers
        were found dead."""
        with self._read() as conn:
            workers = conn.execute(
                "SELECT worker_id, host, pid, pid_started, heartbeat_at FROM workers"
            ).fetchall()
            owners = {
                str(r[0])
                for r in conn.execute(
                    "SELECT DISTINCT owner FROM tasks WHERE owner IS NOT NULL"
                ).fetchall()
            }
        alive = {w[0] for w in workers if is_alive(w[1], w[2], w[3], w[4], now)}
        dead = [w[0] for w in workers if w[0] not in alive]
        # Tasks held by a worker with no registration at all are orphans too.
        dead.extend(o for o in owners if o not in alive and o not in dead)
        if not dead:
            return 0
        with self._write(now) as tx:
            for worker_id in dead:
                for task_id, queue in workflow_tasks.owned_by(tx, worker_id):
                    tx.c.execute(
                        "UPDATE tasks SET owner = NULL, lease_expires_at = NULL, visible_at = ? "
                        "WHERE task_id = ?",
                        (now, task_id),
                    )
                    tx.topics.add(f"wf:{queue}")
                activities.interrupted(tx, worker_id)
                for (queue,) in tx.c.execute(
                    "UPDATE queries SET status = 'requested', owner = NULL "
                    "WHERE owner = ? AND status = 'claimed' RETURNING task_queue",
                    (worker_id,),
                ).fetchall():
                    tx.topics.add(f"q:{queue}")
                tx.c.execute("DELETE FROM workers WHERE worker_id = ?", (worker_id,))
        return len(dead)

    # -- cross-process wake-ups ------------------------------------------------------------

    def enable_remote_wakeups(self) -> None:
        """Exchange wake-ups with other processes using this database (Linux): must be
        called from the event loop that waits."""
        if self.path == ":memory:":
            return
        address = self.notifier.enable_remote(
            hashlib.blake2b(os.path.realpath(self.path).encode(), digest_size=6).hexdigest(),
            self._peer_addresses,
        )
        if address is None:
            return
        with self._read() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO listeners (address, host, pid, pid_started) "
                "VALUES (?, ?, ?, ?)",
                (address, this_host(), os.getpid(), process_start_marker(os.getpid())),
            )

    def _peer_addresses(self) -> list[str]:
        t = _time.monotonic()
        if t - self._peers_at > _PEERS_REFRESH_S:
            self._peers_at = t
            with self._read() as conn:
                rows = conn.execute(
                    "SELECT address, host, pid, pid_started FROM listeners"
                ).fetchall()
                now = int(_time.time() * 1000)
                dead = [a for a, h, p, s in rows if not is_alive(h, p, s, now, now)]
                if dead:
                    conn.executemany(
                        "DELETE FROM listeners WHERE address = ?", [(a,) for a in dead]
                    )
                self._peers = [a for a, *_ in rows if a not in dead]
        return self._peers
