"""Durable token streaming on Temporal: the stream lives outside Temporal's history, in a
stream store the user configures (a Duragent SQLite file), so tokens cost no history.

* Workers: ``TemporalWorker(..., stream_store="streams.db")``. A streamed model call's
  activity publishes its deltas there, keyed by (run, call, attempt, seq) like on the
  embedded engine. Temporal has no lease a store could check, so writes are fenced by
  attempt number: once a later attempt of the call has started, an earlier one can add
  nothing. The end-of-call marker is written just before the attempt reports its result
  to Temporal (not in the same transaction: if that report is lost, Temporal retries the
  call, and subscribers see a reset then the retry).
* Subscribers: :func:`stream_run` (an async iterator of
  :mod:`duragent.streaming` events, with offsets to resume from). The close comes from
  Temporal; tool results and approval requests are in the run's history, not in this
  stream (the embedded engine puts them in the same offset space).

The stream store is a SQLite file: workers and subscribers must share it (one machine).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

import temporalio.client
from temporalio.client import WorkflowExecutionStatus

from .._backend.embedded import TopicWatch
from .._engine.events import Event
from .._stream.subscribe import subscribe
from .._worker.stream_publisher import AttemptStream, Writer
from ..store._stream_rows import COMMIT, FAILED, StreamRow, topic
from ..store.base import StreamPage
from ..store.sqlite import SqliteStore
from ..streaming import StreamEvent
from .history import HistoryTranslator

__all__ = ["open_stream_store", "stream_run"]

_STATUS: Final = {
    WorkflowExecutionStatus.RUNNING: "running",
    WorkflowExecutionStatus.COMPLETED: "completed",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.CANCELED: "canceled",
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.CONTINUED_AS_NEW: "continued_as_new",
    WorkflowExecutionStatus.TIMED_OUT: "failed",
}


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
    """Streams of the activity attempts of one Temporal worker, in its stream store."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store

    def open(self, run_id: str, call: int, attempt: int, activity_type: str) -> AttemptStream:
        """The stream of one attempt (``activity.context().stream``)."""
        store = self.store

        def write(rows: list[StreamRow], start: bool) -> bool:
            return store.publish_attempt(run_id, call, attempt, rows, _now(), start=start)

        writer: Writer = write
        return AttemptStream(writer, attempt, activity_type)

    def finish(
        self, stream: AttemptStream, run_id: str, call: int, attempt: int, *, ok: bool
    ) -> None:
        """Close the attempt's stream: its last rows and the commit marker when it
        succeeded, a failed marker otherwise (nothing if it never streamed)."""
        tail = stream.tail()
        if tail is None:
            return
        if ok:
            self.store.publish_attempt(run_id, call, attempt, tail, _now(), end=COMMIT)
        else:
            self.store.publish_attempt(run_id, call, attempt, [], _now(), end=FAILED, data="")


def _now() -> int:
    return time.time_ns() // 1_000_000


class TemporalStreamSource:
    """A run's stream for :func:`~duragent._stream.subscribe.subscribe`: rows from the
    stream store, status and history from Temporal."""

    steps_in_stream: Final = False
    """The close, tool results and approvals are not rows here: the close is read from
    Temporal."""

    def __init__(self, client: temporalio.client.Client, store: SqliteStore) -> None:
        self.client = client
        self.store = store

    async def read_stream(
        self, workflow_id: str, run_id: str, *, after: int, limit: int = 500
    ) -> StreamPage:
        page = self.store.read_stream_rows(run_id, after, limit)
        if page.rows:
            return page
        described = await self.client.get_workflow_handle(workflow_id, run_id=run_id).describe()
        status = _STATUS.get(described.status or WorkflowExecutionStatus.RUNNING, "running")
        return StreamPage(page.rows, page.markers, page.state, status)

    async def stream_shown(
        self, workflow_id: str, run_id: str, *, upto: int, kinds: tuple[str, ...]
    ) -> dict[int, int]:
        return self.store.stream_shown(run_id, upto, kinds)

    async def read_history(
        self, workflow_id: str, run_id: str, *, after_event_id: int = 0
    ) -> list[Event]:
        handle = self.client.get_workflow_handle(workflow_id, run_id=run_id)
        history = await handle.fetch_history()
        events = HistoryTranslator(workflow_id).translate(history.events)
        return [e for e in events if e.event_id > after_event_id]

    def watch_stream(self, workflow_id: str, run_id: str) -> TopicWatch:
        return TopicWatch(self.store.notifier, (topic(run_id),))


async def stream_run(
    client: temporalio.client.Client,
    workflow_id: str,
    *,
    stream_store: str | Path | SqliteStore,
    run_id: str | None = None,
    after: int = 0,
) -> AsyncIterator[StreamEvent]:
    """The durable stream of a run on Temporal, live, until it closes: the events of
    :mod:`duragent.streaming` (text deltas, resets, committed calls, tool calls, the close),
    each with the offset to resume from (``after=``).

    Args:
        client: A temporalio client connected to the run's namespace.
        workflow_id: The run's workflow id.
        stream_store: The stream store its workers were given (``stream_store=``).
        run_id: A specific run (default: the latest run of the workflow).
        after: Resume behind this offset.
    """
    store = open_stream_store(stream_store)
    try:
        store.enable_remote_wakeups()  # the workers' commits wake this subscriber
        store.notifier.attach_loop(asyncio.get_running_loop())
        if run_id is None:
            described = await client.get_workflow_handle(workflow_id).describe()
            run_id = described.run_id
        source = TemporalStreamSource(client, store)
        async for event in subscribe(source, workflow_id, run_id, after=after):
            yield event
    finally:
        if store is not stream_store:
            store.close()
