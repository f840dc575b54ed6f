"""Durable token streaming on Temporal: the stream lives outside Temporal's history, in a
stream store the user configures (a Duragent SQLite file), so tokens cost no history.

Configure it once, on the client: ``Client.connect("temporal://host:7233/default?
stream_store=/data/streams.db")`` (or ``backend_options={"stream_store": ...}``). Workers
built from that client (``Worker(client, ...)``) publish there, and ``handle.stream()``,
``stream_agent``, ``duragent watch`` and ``agent run --stream`` read there.

* Workers: a streamed model call's activity publishes its deltas keyed by (run, call,
  attempt, seq) like on the embedded engine. Temporal has no lease a store could check, so
  writes are fenced by attempt number: once a later attempt of the call has started, an
  earlier one can add nothing. The end-of-call marker is written just before the attempt
  reports its result to Temporal (not in the same transaction: if that report is lost,
  Temporal retries the call, and subscribers see a reset then the retry).
* Subscribers read rows from the stream store and the close from Temporal; tool calls
  join the stream when their model call commits, but tool results and approval requests
  are in the run's history, not in this stream (the embedded engine puts them in the same
  offset space). :func:`stream_run` serves a plain ``temporalio`` client.

* Rows expire as on the embedded engine, ``stream_retention`` after the run closed: the
  store lists each run that wrote there, and the worker asks Temporal which of them closed
  that long ago (:mod:`._stream_expiry`).

The stream store is a SQLite file: workers and subscribers must share it, so they run on
one machine.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import temporalio.client

from .._backend.embedded import TopicWatch
from .._stream.subscribe import subscribe
from .._worker.stream_publisher import AttemptStream, Writer
from ..errors import ConfigurationError
from ..store._stream_rows import COMMIT, FAILED, StreamRow, topic
from ..store.base import StreamPage
from ..store.sqlite import SqliteStore
from ..streaming import StreamEvent

__all__ = ["RunStreams", "open_stream_store", "stream_run"]


def open_stream_store(store: str | Path | SqliteStore) -> SqliteStore:
    """The stream store at ``store`` (a file path or ``sqlite:///`` URL; created if
    missing), or ``store`` itself."""
    if isinstance(store, SqliteStore):
        return store
    path = str(store)
    if path.startswith("sqlite:///"):
        path = path[len("sqlite:///") :]
    return SqliteStore(path)


class AttemptStreams:
    """Streams of the activity attempts of one Temporal worker, in its stream store (opened
    while the worker runs; closed after, unless it was given open)."""

    def __init__(self, configured: str | Path | SqliteStore, namespace: str = "") -> None:
        self.configured = configured
        self.namespace = namespace
        self._store: SqliteStore | None = None

    @property
    def store(self) -> SqliteStore:
        """The open stream store.

        Raises:
            ConfigurationError: The worker is not running.
        """
        if self._store is None:
            raise ConfigurationError("the stream store is open only while the worker runs")
        return self._store

    def start(self) -> None:
        """Open the store (from the worker's event loop)."""
        if self._store is None:
            self._store = open_stream_store(self.configured)
            self._store.enable_remote_wakeups()  # wake subscribers in other processes

    def stop(self) -> None:
        """Close the store if it was opened here."""
        store, self._store = self._store, None
        if store is not None and store is not self.configured:
            store.close()

    def open(
        self, run_id: str, call: int, attempt: int, activity_type: str, workflow_id: str = ""
    ) -> AttemptStream:
        """The stream of one attempt (``activity.context().stream``)."""
        store, namespace = self.store, self.namespace

        def write(rows: list[StreamRow], start: bool) -> bool:
            return store.publish_attempt(
                run_id,
                call,
                attempt,
                rows,
                now_ms(),
                start=start,
                namespace=namespace,
                workflow_id=workflow_id,
            )

        writer: Writer = write
        return AttemptStream(writer, attempt, activity_type)

    def finish(
        self,
        stream: AttemptStream,
        run_id: str,
        call: int,
        attempt: int,
        *,
        ok: bool,
        workflow_id: str = "",
    ) -> None:
        """Close the attempt's stream: its last rows and the commit marker when it
        succeeded, a failed marker otherwise (nothing if it never streamed)."""
        tail = stream.tail()
        if tail is None:
            return
        self.store.publish_attempt(
            run_id,
            call,
            attempt,
            tail if ok else [],
            now_ms(),
            end=COMMIT if ok else FAILED,
            namespace=self.namespace,
            workflow_id=workflow_id,
        )


def now_ms() -> int:
    """Wall time in ms since the epoch (the stream store's timestamps)."""
    return time.time_ns() // 1_000_000


class RunStreams:
    """The stream store of a :class:`~duragent.temporal.backend.TemporalBackend`: where it
    reads the runs' token streams (their status comes from Temporal, through ``status``).

    Args:
        stream_store: A path, ``sqlite:///`` URL or open store; None when not configured
            (reading a stream then says how to configure one).
        status: The status of a run (``RunStatus``), from Temporal.
    """

    def __init__(
        self,
        stream_store: str | Path | SqliteStore | None,
        status: Callable[[str, str], Awaitable[str]],
    ) -> None:
        self.configured = stream_store
        self._status = status
        self._store: SqliteStore | None = None

    def store(self) -> SqliteStore:
        """The stream store, opened on first use (from the event loop that will wait).

        Raises:
            ConfigurationError: No stream store was configured.
        """
        if self._store is None:
            if self.configured is None:
                raise ConfigurationError(
                    "token streams on Temporal live in a stream store outside Temporal's "
                    "history, and this client has none: connect with "
                    "temporal://HOST:PORT/NAMESPACE?stream_store=PATH (or "
                    "backend_options={'stream_store': PATH}) and give the workers the same"
                )
            store = open_stream_store(self.configured)
            store.enable_remote_wakeups()  # workers in other processes wake subscribers
            store.notifier.attach_loop(asyncio.get_running_loop())
            self._store = store
        return self._store

    async def read(self, workflow_id: str, run_id: str, after: int, limit: int) -> StreamPage:
        """Rows after ``after``; with none, the run's status from Temporal."""
        page = self.store().read_stream_rows(run_id, after, limit)
        if page.rows:
            return page
        status = await self._status(workflow_id, run_id)
        return StreamPage(page.rows, page.markers, page.state, status)

    def watch(self, run_id: str) -> TopicWatch:
        """New rows wake it; the close (not a row here) is read when a wait times out."""
        return TopicWatch(self.store().notifier, (topic(run_id),))

    def close(self) -> None:
        """Close the stream store if it was opened here."""
        store, self._store = self._store, None
        if store is not None and store is not self.configured:
            store.close()


async def stream_run(
    client: temporalio.client.Client,
    workflow_id: str,
    *,
    stream_store: str | Path | SqliteStore,
    run_id: str | None = None,
    after: int = 0,
) -> AsyncIterator[StreamEvent]:
    """The durable stream of a run on Temporal for a plain ``temporalio`` client: what
    ``handle.stream(after=...)`` gives on a Duragent client connected with
    ``temporal://...?stream_store=PATH``.

    Args:
        client: A temporalio client connected to the run's namespace.
        workflow_id: The run's workflow id.
        stream_store: The stream store its workers were given (``stream_store=``).
        run_id: A specific run (default: the latest run of the workflow).
        after: Resume behind this offset.
    """
    from .backend import TemporalBackend

    backend = TemporalBackend(client, stream_store=stream_store)
    try:
        if run_id is None:
            run_id = (await backend.describe(workflow_id)).run_id
        async for event in subscribe(backend, workflow_id, run_id, after=after):
            yield event
    finally:
        await backend.close()
