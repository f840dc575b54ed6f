"""The client-side seam on the embedded SQLite store, without blocking the event loop.

A store call can wait: a write waits for SQLite's single write lock, which another process
(a worker, the CLI) may hold, for up to the busy timeout. So, on a database file:

* **writes** go to the store the client shares with in-process workers (``client.store``).
  Each is first tried on the event loop with a zero busy timeout: when the database is
  free (nearly always) it commits at once, which is much cheaper than a thread hop,
  especially next to an in-process worker that keeps the loop busy (the hop's thread must
  wait for the GIL). When another process holds the lock, the attempt fails at once,
  having changed nothing, and the write runs on a dedicated thread of this backend, which
  waits for the lock;
* **reads** use a second connection to the same file, opened on first use. In WAL mode a
  reader never waits for a writer, and this connection is never inside a write, so short
  point lookups (describe, status, an update's outcome) run on the event loop itself
  (they cannot wait for a lock, and a thread hop would cost more than the read), while
  reads that may be long (history, lists, ledgers) run on a second thread of this backend.

An in-memory store (``memory://``, the time-skipping test environment) has one connection
and no other process that could hold its lock, so every call runs inline: nothing there can
wait, and time skipping sees each change the moment the call returns.

Payloads in the events returned are read lazily from the reader connection on first access
(short point reads by digest).
"""

from __future__ import annotations

import asyncio
import base64
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final, TypeVar

from .._clock import Clock, SystemClock
from .._engine import events as ev
from .._engine.failure import Failure
from .._engine.schedules import ScheduleOverlapPolicy
from .._list_filter import compile_filter
from .._search_attributes import stored_pair
from ..errors import ConfigurationError, QueryError, StoreLockedError, WorkflowNotFoundError
from ..serde import Payload
from ..store._stream_rows import topic as stream_topic
from ..store._tx import HISTORY_TOPIC, RUNS_TOPIC
from ..store._visibility import RunQuery
from ..store.base import (
    RunRecord,
    RunStatus,
    ScheduleDefinition,
    ScheduleRecord,
    StartRequest,
    StartResult,
    StreamPage,
    UpdateOutcome,
    UpdateSpec,
    UsageEntry,
)
from ..store.notify import Listener, Notifier
from ..store.sqlite import SqliteStore
from .records import (
    UPDATE_STATUSES_AT,
    ActivityAttempt,
    ActivityRef,
    PendingActivity,
    RunFilter,
    RunPage,
    RunRef,
    UpdateStage,
)

if TYPE_CHECKING:
    from .._fork.plan import ForkOptions

T = TypeVar("T")

# Wake-ups (in-process, and across processes on Linux) end waits at once; polling is only
# the safety net, so it can start slow.
POLL_START_S: Final = 0.05
POLL_MAX_S: Final = 0.5

# Recorded by the agents integration (duragent.openai_agents._names; not imported, so the
# client does not load the agents package): one marker per tool call waiting for approval,
# one accepted update per decision.
_APPROVAL_MARKER: Final = "duragent.approval_requested"
_DECIDE_UPDATE: Final = "duragent_decide_approval"


class EmbeddedBackend:
    """:class:`~duragent._backend.ClientBackend` on a :class:`SqliteStore` (a file, or
    in memory).

    Args:
        store: The store; in-process workers share it (``client.store``).
        clock: Time source for the times recorded (the test environment skips time).
        address: Shown in messages; derived from the store's path by default.
    """

    def __init__(
        self, store: SqliteStore, *, clock: Clock | None = None, address: str | None = None
    ) -> None:
        self.store = store
        self.clock: Clock = clock or SystemClock()
        in_memory = store.path == ":memory:"
        self._address = address or ("memory://" if in_memory else store.path)
        self._inline = in_memory
        self._reader: SqliteStore | None = store if in_memory else None
        self._opening: asyncio.Future[SqliteStore] | None = None
        self._writes: ThreadPoolExecutor | None = None
        self._reads: ThreadPoolExecutor | None = None
        self._closed = False

    @property
    def address(self) -> str:
        return self._address

    @property
    def notifier(self) -> Notifier:
        return self.store.notifier

    def __repr__(self) -> str:
        return f"EmbeddedBackend({self._address!r})"

    # -- where calls run ----------------------------------------------------------------------

    def _now(self) -> int:
        return self.clock.now_ms()

    def _check_open(self) -> None:
        if self._closed:
            raise ConfigurationError(f"the client of {self._address} is closed")

    async def _write(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run a store write without waiting on the event loop: at once when the database
        is free (the common case, and much cheaper than a thread hop), else on this
        backend's write thread, which waits for the lock (up to the busy timeout)."""
        self._check_open()
        if self._inline:
            return fn(*args, **kwargs)
        with self.store.no_wait() as free:
            if free:
                try:
                    return fn(*args, **kwargs)
                except StoreLockedError:
                    pass  # another process holds the lock; nothing was changed
        if self._writes is None:
            self._writes = ThreadPoolExecutor(1, thread_name_prefix="duragent-store-write")
        call = functools.partial(fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._writes, call)

    def _read_thread(self) -> ThreadPoolExecutor:
        if self._reads is None:
            self._reads = ThreadPoolExecutor(1, thread_name_prefix="duragent-store-read")
        return self._reads

    async def reader(self) -> SqliteStore:
        """The connection reads use (opened on first use, off the event loop)."""
        self._check_open()
        if self._reader is not None:
            return self._reader
        if self._opening is None:
            loop = asyncio.get_running_loop()
            self._opening = asyncio.ensure_future(
                loop.run_in_executor(self._read_thread(), self.store.open_reader)
            )
        try:
            reader = await asyncio.shield(self._opening)
        except BaseException:
            if self._opening is not None and self._opening.done():
                self._opening = None  # a failed open is retried by the next read
            raise
        self._check_open()  # closed meanwhile: close() closes the connection
        self._reader = reader
        return reader

    async def _scan(self, fn: Callable[[SqliteStore], T]) -> T:
        """Run a read that may be long on the read thread (inline in memory)."""
        reader = await self.reader()
        if self._inline:
            return fn(reader)
        return await asyncio.get_running_loop().run_in_executor(self._read_thread(), fn, reader)

    async def close(self) -> None:
        """Finish queued calls, then close both connections and the threads."""
        if self._closed:
            return
        self._closed = True
        if self._inline:
            self.store.close()
            return
        loop = asyncio.get_running_loop()
        opening, reader = self._opening, None
        if opening is not None:
            await asyncio.wait([opening])  # an open in flight: close what it opens
            if not opening.cancelled() and opening.exception() is None:
                reader = opening.result()
        if self._writes is None:
            self._writes = ThreadPoolExecutor(1, thread_name_prefix="duragent-store-write")
        try:
            # Closing the last connection checkpoints the WAL: not on the loop either.
            await loop.run_in_executor(self._writes, self.store.close)
            if reader is not None:
                await loop.run_in_executor(self._read_thread(), reader.close)
        finally:
            for executor in (self._writes, self._reads):
                if executor is not None:
                    executor.shutdown(wait=False)

    # -- starting -----------------------------------------------------------------------------

    async def start_workflow(self, request: StartRequest) -> StartResult:
        return await self._write(self.store.start_workflow, request, self._now())

    async def fork_run(
        self,
        source_workflow_id: str,
        source_run_id: str | None,
        options: ForkOptions,
        *,
        workflow_id: str,
    ) -> StartResult:
        """Fork a run (see ``Client.fork``): planned from the source's history, its prefix
        copied into the new run in one write (a write, so it waits like one)."""
        from .._fork.embedded import fork_in_store

        return await self._write(
            fork_in_store,
            self.store,
            source_workflow_id,
            source_run_id,
            options,
            workflow_id=workflow_id,
            now=self._now(),
        )

    # -- schedules (see schedules.py) ----------------------------------------------------------

    async def create_schedule(
        self, schedule_id: str, definition: ScheduleDefinition, *, trigger_immediately: bool
    ) -> None:
        await self._write(
            self.store.create_schedule,
            schedule_id,
            definition,
            self._now(),
            trigger=trigger_immediately,
        )

    async def describe_schedule(self, schedule_id: str) -> ScheduleRecord:
        now = self._now()
        return await self._scan(lambda r: r.describe_schedule(schedule_id, now))

    async def list_schedules(self) -> list[ScheduleRecord]:
        now = self._now()
        return await self._scan(lambda r: r.list_schedules(now))

    async def pause_schedule(self, schedule_id: str, *, paused: bool, note: str | None) -> None:
        await self._write(self.store.pause_schedule, schedule_id, paused, note, self._now())

    async def trigger_schedule(
        self, schedule_id: str, *, overlap: ScheduleOverlapPolicy | None
    ) -> None:
        await self._write(self.store.trigger_schedule, schedule_id, overlap, self._now())

    async def update_schedule(self, schedule_id: str, definition: ScheduleDefinition) -> None:
        await self._write(self.store.update_schedule, schedule_id, definition, self._now())

    async def delete_schedule(self, schedule_id: str) -> None:
        await self._write(self.store.delete_schedule, schedule_id, self._now())

    # -- runs ---------------------------------------------------------------------------------

    async def describe(self, workflow_id: str, run_id: str | None = None) -> RunRecord:
        return (await self.reader()).describe(workflow_id, run_id)

    async def list_runs(
        self, filter: RunFilter, *, page_size: int = 100, page_token: str | None = None
    ) -> RunPage:
        if page_size < 1:
            raise ConfigurationError(f"page_size must be positive, got {page_size}")
        query = _query(filter)
        before = _parse_token(page_token) if page_token else None
        records, cursor = await self._scan(
            lambda r: r.list_runs_page(query, limit=page_size, before=before)
        )
        return RunPage(records, _token(cursor) if cursor is not None else None)

    async def count_runs(self, filter: RunFilter) -> int:
        query = _query(filter)
        return await self._scan(lambda r: r.count_matching_runs(query))

    async def count_runs_by_status(self, filter: RunFilter) -> dict[str, int]:
        query = _query(filter)
        return await self._scan(lambda r: r.count_matching_runs_by_status(query))

    async def runs_of_workflow(self, workflow_id: str) -> list[RunRecord]:
        return await self._scan(
            lambda r: [r.describe_run(run_id) for run_id in r.runs_of_workflow(workflow_id)]
        )

    async def child_runs(self, workflow_id: str, run_id: str) -> list[RunRecord]:
        return await self._scan(lambda r: [r.describe_run(child) for child in r.child_runs(run_id)])

    # -- messages -----------------------------------------------------------------------------

    async def signal(
        self,
        workflow_id: str,
        run_id: str | None,
        name: str,
        input: tuple[Payload, ...],
        *,
        identity: str,
    ) -> None:
        await self._write(
            self.store.signal, workflow_id, run_id, name, input, self._now(), identity=identity
        )

    async def cancel(
        self, workflow_id: str, run_id: str | None, reason: str, *, identity: str
    ) -> None:
        # The embedded history does not record who cancelled or terminated (identity is
        # for backends that do), so histories stay as they were.
        await self._write(self.store.request_cancel, workflow_id, run_id, reason, self._now())

    async def terminate(
        self, workflow_id: str, run_id: str | None, reason: str, *, identity: str
    ) -> None:
        await self._write(self.store.terminate, workflow_id, run_id, reason, self._now())

    async def query(
        self,
        workflow_id: str,
        run_id: str | None,
        name: str,
        input: tuple[Payload, ...],
        *,
        timeout: float,
    ) -> Payload:
        store = self.store
        query_id = await self._write(
            store.request_query, workflow_id, run_id, name, input, self._now()
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        poll = POLL_START_S
        while True:
            listener = store.notifier.listen([f"query:{query_id}"])
            try:
                # A write: the answer's row is deleted once read.
                status, result, error = await self._write(store.take_query_answer, query_id)
            except BaseException:
                listener.close()
                raise
            if status == "answered":
                listener.close()
                assert result is not None
                return result
            if status == "failed":
                listener.close()
                raise QueryError(error or f"query {name!r} failed")
            remaining = deadline - loop.time()
            if remaining <= 0:
                listener.close()
                await self._write(store.cancel_query, query_id)
                queue = (await self.describe(workflow_id, run_id)).task_queue
                raise QueryError(
                    f"no worker answered query {name!r} within {timeout}s; is a worker for "
                    f"task queue {queue!r} running?"
                )
            if not await listener.wait(min(poll, remaining)):
                poll = min(poll * 2, POLL_MAX_S)

    async def send_update(self, workflow_id: str, run_id: str | None, spec: UpdateSpec) -> str:
        return await self._write(self.store.request_update, workflow_id, run_id, spec, self._now())

    async def wait_update(
        self,
        workflow_id: str,
        run_id: str | None,
        update_id: str,
        *,
        stage: UpdateStage,
        timeout: float | None,
    ) -> UpdateOutcome:
        reader = await self.reader()
        target = run_id or reader.describe(workflow_id).run_id
        statuses = UPDATE_STATUSES_AT[stage]

        def check() -> UpdateOutcome | None:
            outcome = reader.update_outcome(target, update_id)
            return outcome if outcome is not None and outcome.status in statuses else None

        return await self._wait_for(
            f"run:{target}", check, timeout, f"update {update_id!r} did not finish"
        )

    # -- closing ------------------------------------------------------------------------------

    async def next_run(self, workflow_id: str, run_id: str) -> str | None:
        """The run a cron schedule started when this closed run completed or failed (what
        ``handle.result()`` follows), or None."""
        return (await self.reader()).next_run_id(run_id)

    async def wait_closed(
        self, workflow_id: str, run_id: str, *, timeout: float | None
    ) -> ev.Event:
        reader = await self.reader()

        def check() -> ev.Event | None:
            status, last_event_id = reader.run_status(run_id)
            if status == RunStatus.RUNNING:
                return None
            close = reader.read_event(run_id, last_event_id)
            if close is None:
                raise WorkflowNotFoundError(f"run {run_id} of {workflow_id!r} has no close event")
            return close

        return await self._wait_for(
            f"run:{run_id}", check, timeout, f"workflow {workflow_id!r} did not close"
        )

    async def _wait_for(
        self, topic: str, check: Callable[[], T | None], timeout: float | None, what: str
    ) -> T:
        """Call ``check`` (a point read, on the loop) until it returns a value, waking on
        ``topic``; listening starts before each check, so no change is missed."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        poll = POLL_START_S
        notifier = self.store.notifier
        while True:
            listener = notifier.listen([topic])
            try:
                found = check()
            except BaseException:
                listener.close()
                raise
            if found is not None:
                listener.close()
                return found
            wait = poll if deadline is None else min(poll, max(0.0, deadline - loop.time()))
            if deadline is not None and wait <= 0:
                listener.close()
                raise TimeoutError(f"{what} within {timeout}s")
            if not await listener.wait(wait):
                poll = min(poll * 2, POLL_MAX_S)

    # -- history and what timelines show -------------------------------------------------------

    async def read_history(
        self, workflow_id: str, run_id: str, *, after_event_id: int = 0
    ) -> list[ev.Event]:
        events = await self._scan(lambda r: r.read_history(run_id, after_event_id))
        if not events and after_event_id == 0:
            raise WorkflowNotFoundError(f"run {run_id} of workflow {workflow_id!r} not found")
        return events

    async def activity_attempts(self, workflow_id: str, run_id: str) -> list[ActivityAttempt]:
        rows = await self._scan(lambda r: r.attempts(run_id))
        return [ActivityAttempt(**row) for row in rows]

    async def pending_activities(self, workflow_id: str, run_id: str) -> list[PendingActivity]:
        rows = await self._scan(lambda r: r.pending_activities(run_id))
        return [PendingActivity(**row) for row in rows]

    async def usage_entries(self, runs: Sequence[RunRef]) -> list[UsageEntry]:
        run_ids = [ref.run_id for ref in runs]
        return await self._scan(lambda r: r.usage_entries(run_ids))

    # -- durable streams -----------------------------------------------------------------------

    async def read_stream(
        self, workflow_id: str, run_id: str, *, after: int, limit: int = 500
    ) -> StreamPage:
        # A short indexed read on the reader (which never waits for a lock): on the loop,
        # as a thread hop would add to every token's latency.
        return (await self.reader()).read_stream(run_id, after, limit)

    async def stream_shown(
        self, workflow_id: str, run_id: str, *, upto: int, kinds: tuple[str, ...]
    ) -> dict[int, int]:
        return await self._scan(lambda r: r.stream_shown(run_id, upto, kinds))

    # -- asynchronous activity completion -----------------------------------------------------

    @staticmethod
    def _ref(ref: ActivityRef) -> tuple[bytes | None, str | None, str | None, str | None]:
        return ref.task_token, ref.workflow_id, ref.run_id, ref.activity_id

    async def heartbeat_activity(
        self, ref: ActivityRef, details: Sequence[Payload], *, identity: str
    ) -> None:
        await self._write(
            self.store.heartbeat_async_activity, *self._ref(ref), tuple(details), self._now()
        )

    async def complete_activity(self, ref: ActivityRef, result: Payload, *, identity: str) -> None:
        await self._write(
            self.store.complete_async_activity, *self._ref(ref), result, identity, self._now()
        )

    async def fail_activity(
        self,
        ref: ActivityRef,
        failure: Failure,
        last_heartbeat_details: Sequence[Payload],
        *,
        identity: str,
    ) -> None:
        await self._write(
            self.store.fail_async_activity,
            *self._ref(ref),
            failure,
            tuple(last_heartbeat_details),
            identity,
            self._now(),
        )

    async def report_activity_cancelled(
        self, ref: ActivityRef, details: Sequence[Payload], *, identity: str
    ) -> None:
        await self._write(self.store.cancel_async_activity, *self._ref(ref), identity, self._now())

    # -- change notification ------------------------------------------------------------------

    def watch_stream(self, workflow_id: str, run_id: str) -> TopicWatch:
        return TopicWatch(self.store.notifier, (stream_topic(run_id), f"run:{run_id}"))

    def watch_run(self, workflow_id: str, run_id: str) -> TopicWatch:
        return TopicWatch(self.store.notifier, (f"{HISTORY_TOPIC}{run_id}",))

    def watch_runs(self) -> TopicWatch:
        return TopicWatch(self.store.notifier, (RUNS_TOPIC,))


class TopicWatch:
    """A :class:`~duragent._backend.ChangeWatch` on store wake-up topics."""

    def __init__(self, notifier: Notifier, topics: tuple[str, ...]) -> None:
        self._notifier = notifier
        self._topics = topics
        self._listener: Listener | None = notifier.listen(topics)

    async def wait(self, timeout: float) -> bool:
        current = self._listener
        if current is None:
            raise ConfigurationError("this watch is closed")
        # Armed before waiting: a change after a timeout (which the caller need not
        # re-read for) still wakes the next wait.
        following = self._notifier.listen(self._topics)
        self._listener = following
        try:
            woken = await current.wait(timeout)
        except BaseException:
            following.close()
            self._listener = None
            raise
        if woken and self._listener is following:
            # The caller re-reads now, which covers everything until this moment; a fresh
            # listener avoids reporting the same change twice.
            following.close()
            self._listener = self._notifier.listen(self._topics)
        return woken

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None


# -- filters and page tokens -------------------------------------------------------------------


def _query(f: RunFilter) -> RunQuery:
    compiled = None if f.query is None else compile_filter(f.query)
    status = f.status
    if status is None and compiled is not None:
        status = compiled.status  # the store then reads that status's runs only
    return RunQuery(
        status=status,
        workflow_type=f.workflow_type,
        workflow_id_prefix=f.workflow_id_prefix,
        task_failing=f.task_failing,
        search_attributes=tuple(stored_pair(k, v) for k, v in f.search_attributes),
        waiting_on=(_APPROVAL_MARKER, _DECIDE_UPDATE) if f.waiting_for_approval else None,
        condition=None if compiled is None else (compiled.sql, compiled.params),
    )


def _token(cursor: tuple[int, int]) -> str:
    return base64.urlsafe_b64encode(f"v1:{cursor[0]}:{cursor[1]}".encode()).decode()


def _parse_token(token: str) -> tuple[int, int]:
    try:
        version, start, rowid = base64.urlsafe_b64decode(token.encode()).decode().split(":")
        if version != "v1":
            raise ValueError(version)
        return int(start), int(rowid)
    except (ValueError, UnicodeError) as err:
        raise ConfigurationError(
            f"bad page token {token!r}: pass the next_page_token of the previous page"
        ) from err


if TYPE_CHECKING:
    from .client_backend import ChangeWatch, ClientBackend
    from .schedules import ScheduleBackend

    def _conforms(backend: EmbeddedBackend, watch: TopicWatch) -> tuple[ClientBackend, ChangeWatch]:
        return backend, watch  # pyright checks the protocols are implemented

    def _keeps_schedules(backend: EmbeddedBackend) -> ScheduleBackend:
        return backend
