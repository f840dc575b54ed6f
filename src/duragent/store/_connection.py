"""The SQLite connection under the store: opening a file, transactions (with nested
writes joining through savepoints), error mapping, and the run lookups every part uses."""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Final

from .._engine.failure import Failure
from ..errors import (
    StoreError,
    StoreFileChangedError,
    WorkflowNotFoundError,
    WorkflowNotRunningError,
)
from . import chunks
from ._checkpointer import DEFAULT_AUTOCHECKPOINT_PAGES, FALLBACK_PAGES, Checkpointer
from ._errors import is_busy, map_error, retry_busy
from ._file_identity import FileIdentity
from ._tx import (
    INLINE_PAYLOAD_BYTES,
    EncodedPayload,
    PayloadReader,
    RunRow,
    Tx,
    encode_ahead,
    payloads_in,
)
from .base import (
    RunRecord,
)
from .notify import Notifier
from .schema import open_schema

DEFAULT_BUSY_TIMEOUT_MS: Final = 10_000
_IDENTITY_CHECK_S: Final = 0.1
"""How often reads and writes check that the file is still the one opened (a stat)."""
_DIGEST_CACHE_MAX: Final = 100_000

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


class SqliteConnection:
    """One SQLite database file, opened for Duragent (the base of :class:`SqliteStore`).

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
        """What a write waits for the lock now (0 inside :meth:`SqliteStore.no_wait`)."""
        self._configured_timeout_ms = busy_timeout_ms
        """The busy timeout this store was opened with (another thread may read it while
        ``_busy_timeout_ms`` is 0)."""
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
            raise map_error(err, path) from err
        started = time.monotonic()
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            # Switching a new file to WAL, and creating the schema while others do the
            # same, can be answered "busy" at once, whatever the busy timeout: retried.
            retry_busy(
                lambda: self._prepare(conn, synchronous), path=path, timeout_ms=busy_timeout_ms
            )
        except sqlite3.Error as err:
            conn.close()
            waited = (time.monotonic() - started) * 1000
            raise map_error(err, path, waited_ms=waited, timeout_ms=busy_timeout_ms) from err
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        try:
            self._identity = FileIdentity.of(os.path.abspath(path) if path != ":memory:" else path)
        except OSError:
            self._identity = None
        self._identity_at = time.monotonic()
        self._file_changed: str | None = None
        self._open_tx: Tx | None = None
        self.longest_write_s = 0.0
        """The longest this connection held the write lock (BEGIN to COMMIT), in seconds of
        wall time (on a busy machine, time waiting for a CPU while holding it counts)."""
        self.measure_write_cpu = False
        """Also measure the CPU time of each write transaction (a system call more per
        commit; for benchmarks): see :attr:`longest_write_cpu_s`."""
        self.longest_write_cpu_s = 0.0
        """The most CPU time (of the writing thread) a write transaction took, in seconds."""
        self._prefixes = chunks.PrefixIndex()
        self._reader = PayloadReader(conn, self._lock)
        with contextlib.suppress(sqlite3.Error):  # else read at the first write
            self._reader.epoch = int(conn.execute("PRAGMA user_version").fetchone()[0]) >> 1
        self.notifier = _notifier_for(path)
        self._checkpointer: Checkpointer | None = None
        self._checkpointer_users = 0

    def _prepare(self, conn: sqlite3.Connection, synchronous: str) -> None:
        """WAL mode, durability, schema: every step may be repeated after a "busy"."""
        if self.path != ":memory:":
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{self.path}: cannot enable WAL mode (got {mode})")
        conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        open_schema(conn, self.path)

    # -- the file under the connection --------------------------------------------------------

    def check_file(self) -> None:
        """Check that the file at :attr:`path` (and its ``-wal`` log) is still the one this
        connection opened; workers call this periodically, and every write and read does
        so every 100 ms.

        Raises:
            StoreFileChangedError: The file was moved, deleted or replaced; from then on
                every operation of this store raises it (nothing is written to a file no
                other process can see).
        """
        if self._file_changed is None and self._identity is not None:
            self._identity_at = time.monotonic()
            what = self._identity.changed()
            if what is not None:
                self._file_changed = (
                    f"{what} while process {os.getpid()} had {self.path} open: nothing more "
                    "is written through this connection (it would go to a file no other "
                    "process sees). Stop the processes using it, put the file back (with "
                    "its -wal and -shm files) or restore it, and start them again"
                )
                log.error("%s", self._file_changed)
        if self._file_changed is not None:
            raise StoreFileChangedError(self._file_changed)

    def _check_file_now_and_then(self) -> None:
        if self._file_changed is not None or (
            self._identity is not None and time.monotonic() - self._identity_at >= _IDENTITY_CHECK_S
        ):
            self.check_file()

    # -- plumbing ----------------------------------------------------------------------------

    def _error(self, err: sqlite3.Error, started: float | None = None) -> StoreError:
        try:
            self.check_file()  # an error is often the first sign of a file gone
        except StoreFileChangedError as changed:
            return changed
        waited = (time.monotonic() - started) * 1000 if started is not None else None
        return map_error(err, self.path, waited_ms=waited, timeout_ms=self._busy_timeout_ms)

    def _rollback(self) -> None:
        """Roll back the open transaction, if SQLite has not already done so (it does on
        a full disk or an I/O error, and a ROLLBACK then fails)."""
        if self._conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")

    def close(self) -> None:
        """Close the connection (further calls raise ``StoreError``)."""
        with self._lock:
            checkpointer, self._checkpointer = self._checkpointer, None
            self._checkpointer_users = 0
            if checkpointer is not None:
                checkpointer.stop()
            self._conn.close()

    def start_checkpointer(self) -> None:
        """Checkpoint the write-ahead log mostly on a thread of its own from now on,
        instead of in a commit (see :mod:`._checkpointer`); workers do this. Counted: each
        call needs a :meth:`stop_checkpointer`. Nothing happens for an in-memory store."""
        if self.path == ":memory:":
            return
        with self._lock:
            self._checkpointer_users += 1
            if self._checkpointer is not None:
                return
            try:
                self._conn.execute(f"PRAGMA wal_autocheckpoint = {FALLBACK_PAGES}")
                self._checkpointer = Checkpointer(
                    self.path, busy_timeout_ms=self._configured_timeout_ms
                )
            except sqlite3.Error as err:
                # Not worth failing a worker for: the commits checkpoint inline, as before.
                log.warning("no background checkpoints for %s: %s", self.path, err)
                self._default_checkpoints()

    def stop_checkpointer(self) -> None:
        """Undo one :meth:`start_checkpointer` (the last one stops the thread and gives the
        writer back SQLite's own automatic checkpoints)."""
        with self._lock:
            if self._checkpointer_users == 0:
                return
            self._checkpointer_users -= 1
            checkpointer = self._checkpointer
            if self._checkpointer_users or checkpointer is None:
                return
            self._checkpointer = None
            checkpointer.stop()
            self._default_checkpoints()

    def _default_checkpoints(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute(f"PRAGMA wal_autocheckpoint = {DEFAULT_AUTOCHECKPOINT_PAGES}")

    def _after_commit(self, checkpointer: Checkpointer) -> None:
        """Count a commit for the checkpointer; when it has just copied the log back, copy
        the little committed since (a few pages, two short syncs), so that the next write
        starts the log over (SQLite does that only when nothing is left to copy)."""
        if not checkpointer.committed():
            return
        with self._lock:
            if self._open_tx is not None or self._checkpointer is not checkpointer:
                return
            try:
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as err:
                log.debug("checkpoint of %s failed: %s", self.path, err)

    def encode_ahead(self, items: Iterable[Any]) -> dict[int, EncodedPayload]:
        """Encode the large payloads in ``items`` (payloads or commands) now, before a
        write transaction that stores them: chunking is CPU work that must not hold the
        write lock. Pass the result to the write (``ahead=``)."""
        large = [p for p in payloads_in(items) if len(p.data) > INLINE_PAYLOAD_BYTES]
        if not large:
            return {}
        with self._lock:  # the prefix index is shared with this connection's writes
            return encode_ahead(large, self._prefixes, self._reader.epoch)

    def batch(self, now: int) -> AbstractContextManager[None]:
        """Commit everything written inside the block in one transaction.

        Writes inside join it through a savepoint each, so one of them failing undoes only
        its own part. Used to commit an activity's result together with the workflow task
        it triggers: one commit instead of two on the busiest path.
        """
        return SqliteConnection._Batch(SqliteConnection._Write(self, now, None))

    def _write(self, now: int, ahead: dict[int, EncodedPayload] | None = None) -> _Write:
        """A write: its own transaction, or a part of the open one (see :class:`_Write`)."""
        return SqliteConnection._Write(self, now, ahead)

    class _Write:
        """The context of one write: ``BEGIN IMMEDIATE ... COMMIT``, or inside an open
        transaction (a :meth:`batch`) a part of it, behind a savepoint.

        A class rather than a generator context manager: an activity's round trip enters
        three of them (the batch, its result, its workflow task), and a generator's frame,
        its wrapper and the resumptions cost more than the database work of a savepoint.
        """

        __slots__ = (
            "_ahead",
            "_began",
            "_began_cpu",
            "_gc_paused",
            "_now",
            "_outer",
            "_saved",
            "_store",
            "_tx",
        )

        def __init__(
            self, store: SqliteConnection, now: int, ahead: dict[int, EncodedPayload] | None
        ) -> None:
            self._store = store
            self._now = now
            self._ahead = ahead
            self._outer: Tx | None = None
            """The open transaction this write joins (None: this write is the transaction)."""
            self._tx: Tx | None = None
            self._began = 0.0
            self._began_cpu = 0.0
            self._saved: tuple[Any, ...] | None = None
            """What a nested write restores on failure (None: no savepoint, nothing to
            restore, as a failure rolls the whole transaction back anyway)."""
            self._gc_paused = False
            """This transaction turned the garbage collector off (see :meth:`_begin`)."""

        def __enter__(self) -> Tx:
            store = self._store
            store._lock.acquire()
            try:
                outer = store._open_tx
                if outer is not None:
                    return self._join(outer)
                return self._begin()
            except BaseException:
                store._lock.release()
                raise

        def __exit__(
            self,
            exc_type: type[BaseException] | None,
            exc: BaseException | None,
            tb: TracebackType | None,
        ) -> None:
            store = self._store
            outer = self._outer
            if outer is not None:
                try:
                    self._leave(outer, exc)
                finally:
                    store._lock.release()
                return
            tx = self._tx
            assert tx is not None
            try:
                store._open_tx = None
                if exc is not None:
                    store._rollback()
                    if isinstance(exc, sqlite3.Error):
                        raise store._error(exc) from exc
                    return
                self._commit(tx)
            finally:
                store._lock.release()
                if self._gc_paused:
                    gc.enable()  # a collection that came due meanwhile runs now, unlocked
            if tx.topics:
                try:
                    store.notifier.notify(tx.topics)
                except Exception:  # the change is committed: a missed wake-up only delays
                    log.exception("wake-up notification failed")
            checkpointer = store._checkpointer
            if checkpointer is not None:
                store._after_commit(checkpointer)

        def _begin(self) -> Tx:
            store = self._store
            conn = store._conn
            store._check_file_now_and_then()
            started = time.monotonic()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as busy:
                if not is_busy(busy):
                    raise store._error(busy, started) from busy
                # SQLite can answer "busy" before its timeout: wait out the rest.
                try:
                    retry_busy(
                        lambda: conn.execute("BEGIN IMMEDIATE"),
                        path=store.path,
                        timeout_ms=store._busy_timeout_ms,
                        started=started,
                    )
                except sqlite3.Error as err:
                    raise store._error(err, started) from err
            except sqlite3.Error as err:
                raise store._error(err, started) from err
            self._began = time.monotonic()
            if store.measure_write_cpu:
                self._began_cpu = time.thread_time()
            try:
                version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            except sqlite3.Error as err:
                store._rollback()
                raise store._error(err, started) from err
            if version >> 1 != store._reader.epoch:
                # Payloads were reclaimed since this connection last wrote: what it knows
                # exists may not any more (see _payload_gc).
                store._known_digests.clear()
                store._prefixes.clear()
                store._reader.epoch = version >> 1
            tx = Tx(conn, self._now, store._known_digests, store._reader, store._prefixes)
            tx.rescue = bool(version & 1)
            tx.ahead = self._ahead
            self._tx = store._open_tx = tx
            # Every other process's writes wait while this transaction holds SQLite's write
            # lock: a full garbage collection (100-200 ms in a busy worker, measured in the
            # soak) must not happen inside it. Collections that come due are put off to the
            # end of the transaction, which is short (database work only).
            if gc.isenabled():
                gc.disable()
                self._gc_paused = True
            return tx

        def _commit(self, tx: Tx) -> None:
            """Commit the transaction the block wrote (under the lock; rolled back if it
            cannot be)."""
            store = self._store
            conn = store._conn
            if tx.lost is not None:
                # A nested write hit an error that made SQLite roll back everything (a
                # full disk): what the block did after that was refused, nothing is kept.
                store._rollback()
                raise store._error(tx.lost) from tx.lost
            if tx.deferred is not None:
                # A claimed workflow task nobody recorded (see Tx.ensure_workflow_task):
                # it must exist, claimed, like any other.
                try:
                    tx.materialize()
                except sqlite3.Error as err:
                    store._rollback()
                    raise store._error(err) from err
            try:
                store._check_file_now_and_then()
            except StoreFileChangedError:
                store._rollback()
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as err:
                store._rollback()
                raise store._error(err) from err
            held = time.monotonic() - self._began
            store.longest_write_s = max(store.longest_write_s, held)
            if store.measure_write_cpu:
                cpu = time.thread_time() - self._began_cpu
                store.longest_write_cpu_s = max(store.longest_write_cpu_s, cpu)
            known = store._known_digests
            if len(known) > _DIGEST_CACHE_MAX:
                known.clear()
            if tx.new_digests:
                known.update(tx.new_digests)
            if tx.new_prefixes:
                store._prefixes.add(tx.new_prefixes)

        def _join(self, outer: Tx) -> Tx:
            """Enter a write inside the open transaction ``outer``."""
            store = self._store
            if outer.lost is not None:
                # The transaction is gone: running this write would commit it statement by
                # statement (autocommit), half-written. Refuse it.
                raise store._error(outer.lost) from outer.lost
            self._outer = outer
            saved_now, saved_ahead = outer.now, outer.ahead
            if outer.wrote:
                store._conn.execute("SAVEPOINT nested_write")
                # What this write adds to the caches must go if it is rolled back.
                self._saved = (
                    saved_now,
                    saved_ahead,
                    set(outer.new_digests),
                    dict(outer.new_prefixes),
                    outer.deferred,
                    set(outer.claimed),
                    dict(outer.materialized),
                )
            else:
                # Nothing written yet: a failure rolls the whole transaction back anyway.
                self._saved = (saved_now, saved_ahead)
            outer.now, outer.ahead = self._now, self._ahead
            return outer

        def _leave(self, outer: Tx, exc: BaseException | None) -> None:
            """Leave a write inside ``outer``: release its savepoint, or on ``exc`` roll
            back to it (and raise the error, mapped)."""
            store = self._store
            conn = store._conn
            saved = self._saved
            assert saved is not None
            savepoint = len(saved) > 2
            try:
                if exc is None:
                    if savepoint:
                        conn.execute("RELEASE nested_write")
                    outer.wrote = True
                    return
                if not conn.in_transaction:
                    outer.lost = (
                        exc
                        if isinstance(exc, sqlite3.Error)
                        else sqlite3.OperationalError(str(exc))
                    )
                elif savepoint:
                    conn.execute("ROLLBACK TO nested_write")
                    conn.execute("RELEASE nested_write")
                    (
                        _,
                        _,
                        outer.new_digests,
                        outer.new_prefixes,
                        outer.deferred,
                        outer.claimed,
                        outer.materialized,
                    ) = saved
                    outer.forget_runs()
                if isinstance(exc, sqlite3.Error):
                    raise store._error(exc) from exc
            finally:
                outer.now, outer.ahead = saved[0], saved[1]

    class _Batch:
        """:meth:`batch`'s context: a :class:`_Write` whose block sees no transaction."""

        __slots__ = ("_write",)

        def __init__(self, write: SqliteConnection._Write) -> None:
            self._write = write

        def __enter__(self) -> None:
            self._write.__enter__()

        def __exit__(
            self,
            exc_type: type[BaseException] | None,
            exc: BaseException | None,
            tb: TracebackType | None,
        ) -> None:
            self._write.__exit__(exc_type, exc, tb)

    def _read(self) -> _Read:
        """The connection, under this store's lock, outside of any transaction of ours
        (see :class:`_Read`)."""
        return SqliteConnection._Read(self)

    class _Read:
        """The context of a read (or a statement that commits by itself): the lock held,
        errors mapped. A class for the same reason as :class:`_Write`."""

        __slots__ = ("_started", "_store")

        def __init__(self, store: SqliteConnection) -> None:
            self._store = store
            self._started = 0.0

        def __enter__(self) -> sqlite3.Connection:
            store = self._store
            store._lock.acquire()
            try:
                store._check_file_now_and_then()
            except BaseException:
                store._lock.release()
                raise
            self._started = time.monotonic()
            return store._conn

        def __exit__(
            self,
            exc_type: type[BaseException] | None,
            exc: BaseException | None,
            tb: TracebackType | None,
        ) -> None:
            store = self._store
            try:
                if isinstance(exc, sqlite3.Error):
                    raise store._error(exc, self._started) from exc
            finally:
                store._lock.release()

    # -- run lookups -------------------------------------------------------------------------

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
        return self._records(conn, [row])[0]

    def _records(self, conn: sqlite3.Connection, rows: Sequence[Any]) -> list[RunRecord]:
        """Records from ``SELECT * FROM runs`` rows, with one query for their pending
        activities (not one per run: lists can be long)."""
        if not rows:
            return []
        cols = [d[0] for d in conn.execute("SELECT * FROM runs LIMIT 0").description]
        found = [dict(zip(cols, row, strict=True)) for row in rows]
        ids = [r["run_id"] for r in found]
        pending: dict[str, int] = {}
        for start in range(0, len(ids), 500):  # below SQLite's bound-parameter limit
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            pending.update(
                conn.execute(
                    "SELECT run_id, count(*) FROM tasks "
                    f"WHERE kind = 1 AND run_id IN ({marks}) GROUP BY run_id",
                    part,
                ).fetchall()
            )
        return [
            RunRecord(
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
                pending_activities=pending.get(r["run_id"], 0),
                memo=json.loads(r["memo"]) if r["memo"] else {},
                search_attributes=(
                    json.loads(r["search_attributes"]) if r["search_attributes"] else {}
                ),
            )
            for r in found
        ]

    def _open_run(self, tx: Tx, workflow_id: str, run_id: str | None) -> RunRow:
        run = tx.open_run(workflow_id, run_id)
        if run is not None:
            return run
        with self._read() as conn:
            self._find_run(conn, workflow_id, run_id)  # raises WorkflowNotFoundError
        raise WorkflowNotRunningError(
            f"workflow {workflow_id!r}{f' run {run_id}' if run_id else ''} is not running"
        )
