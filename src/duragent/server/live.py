"""Live updates over Server-Sent Events, driven by the store's wake-ups.

* ``GET /api/v1/runs/{id}/events``: the run's history as it grows, one SSE message per
  event (``id:`` is the event id, the data the event in the export format), then
  ``event: closed`` once the run has closed. ``Last-Event-ID`` (or ``?after=N``) resumes
  after that event: event ids are dense, so a resumed stream has no gaps and no duplicates.
* ``GET /api/v1/runs/events``: changes of the runs list (``event: run`` with the run's row).
  Ids are ``<server epoch>.<version>``; a resume within this server's memory of changes
  replays what was missed (the newest version of each changed run), otherwise the stream
  starts with ``event: reset`` (reload the list).

The browser never polls: it holds one EventSource per page. The server waits on the
backend's change watches (:meth:`~duragent._backend.ClientBackend.watch_run` and
``watch_runs``: the store's wake-ups on the embedded store; on Temporal, which has none to
subscribe to, the backend polls a cheap fingerprint), with a slow re-check as a safety net
for a missed wake-up (wake-ups across processes are best effort).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from .._backend import RunStatus
from ..history import WorkflowHistory
from .api import error, run_filter, run_row_dict, source_of
from .source import BadRequest, RunFilter, RunSource

log = logging.getLogger("duragent.server")

SAFETY_RECHECK_S: Final = 2.0
"""Re-read this often even without a wake-up (a wake-up from another process can be lost)."""
KEEPALIVE_S: Final = 15.0
MIN_GAP_S: Final = 0.1
"""Coalesce bursts: at most one re-read of the runs list per this many seconds."""
CHANGE_LOG: Final = 5000
WATCHED_RUNS: Final = 200


def sse(data: Any, *, event: str | None = None, id: str | None = None) -> bytes:
    lines: list[str] = []
    if id is not None:
        lines.append(f"id: {id}")
    if event is not None:
        lines.append(f"event: {event}")
    text = json.dumps(data, ensure_ascii=False, default=str)
    lines += [f"data: {line}" for line in text.split("\n")]
    return ("\n".join(lines) + "\n\n").encode()


def _stream(body: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


def _resume_point(request: Request) -> str | None:
    return request.headers.get("last-event-id") or request.query_params.get("after") or None


async def run_events(request: Request) -> Response:
    """SSE of one run's history."""
    source = source_of(request)
    workflow_id = request.path_params["workflow_id"]
    run_id = request.query_params.get("run_id") or None
    raw = _resume_point(request) or "0"
    try:
        after = int(raw)
    except ValueError:
        return error(f"Last-Event-ID / after must be an event id, got {raw!r}", 400)
    try:
        execution = await source.describe(workflow_id, run_id)
    except Exception as err:
        return error(str(err), 404)
    run = execution.run_id

    async def body() -> AsyncIterator[bytes]:
        nonlocal after
        last_sent = time.monotonic()
        yield b": connected\n\n"
        watch = source.watch_run(workflow_id, run)  # before reading: no change is missed
        try:
            while True:
                current, events = await source.history(workflow_id, run, after)
                if events:
                    exported = WorkflowHistory(workflow_id, run, events).to_dict()
                    for e in exported["events"]:
                        yield sse(e, event="history", id=str(e["event_id"]))
                    after = events[-1].event_id
                    _, summary = await source.summary(workflow_id, run)
                    yield sse(run_row_dict(current, summary), event="run")
                    last_sent = time.monotonic()
                if current.status != RunStatus.RUNNING:
                    # Described before the read: the history read includes its close.
                    yield sse({"status": current.status}, event="closed")
                    return
                woke = await watch.wait(SAFETY_RECHECK_S)
                if not woke and time.monotonic() - last_sent > KEEPALIVE_S:
                    yield b": keep-alive\n\n"
                    last_sent = time.monotonic()
        finally:
            watch.close()

    return _stream(body())


class RunsWatcher:
    """One task per server that notices changes of recent and running runs and keeps a
    bounded log of them, shared by every runs-list stream."""

    def __init__(self, source: RunSource) -> None:
        self.source = source
        self.epoch = secrets.token_hex(4)
        self.version = 0
        self.rows: dict[str, tuple[Any, ...]] = {}
        self.log: OrderedDict[str, tuple[int, dict[str, Any]]] = OrderedDict()
        """run id -> (version, row) of its newest change, oldest change first."""
        self.changed = asyncio.Condition()
        self.dropped = 0
        """Newest version that fell out of the log: resuming from before it cannot replay."""
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._watch(), name="duragent-runs-watcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _watch(self) -> None:
        watch = self.source.watch_runs()  # before the first read: no change is missed
        try:
            first = True
            while True:
                try:
                    await self._scan(record=not first)
                except Exception:  # a failed read is retried at the next wake-up
                    log.exception("reading the runs for live updates failed")
                first = False
                await watch.wait(SAFETY_RECHECK_S)
                await asyncio.sleep(MIN_GAP_S)
        finally:
            watch.close()

    async def _scan(self, *, record: bool) -> None:
        recent = await self.source.list_runs(RunFilter(), limit=WATCHED_RUNS)
        running = await self.source.list_runs(RunFilter(status=RunStatus.RUNNING), limit=500)
        seen: dict[str, tuple[Any, ...]] = {}
        rows: dict[str, dict[str, Any]] = {}
        for row in [*recent.rows, *running.rows]:
            e, s = row.execution, row.summary
            seen[e.run_id] = (e.status, e.history_length, e.task_failure, len(s.pending_approvals))
            rows[e.run_id] = run_row_dict(e, s)
        changes = [rid for rid, key in seen.items() if self.rows.get(rid) != key]
        self.rows.update(seen)
        if not record or not changes:
            return
        async with self.changed:
            for rid in changes:
                self.version += 1
                self.log.pop(rid, None)
                self.log[rid] = (self.version, rows[rid])
            while len(self.log) > CHANGE_LOG:
                _, (dropped, _) = self.log.popitem(last=False)
                self.dropped = max(self.dropped, dropped)
            self.changed.notify_all()

    def since(self, version: int) -> list[tuple[int, dict[str, Any]]] | None:
        """Changes after ``version`` (None: too old to replay)."""
        if version < self.dropped or version > self.version:
            return None
        return [(v, row) for v, row in self.log.values() if v > version]


async def runs_events(request: Request) -> Response:
    """SSE of changes to the runs list."""
    watcher: RunsWatcher = request.app.state.watcher
    watcher.start()
    try:
        f = run_filter(request)
    except BadRequest as err:
        return error(str(err), err.status)
    del f  # the page re-renders its own filtered list; every change is announced
    resume = _resume_point(request)
    position: int | None = watcher.version
    reset = False
    if resume is not None:
        epoch, _, number = resume.partition(".")
        if epoch == watcher.epoch and number.isdigit():
            position = int(number)
            if watcher.since(position) is None:
                reset, position = True, watcher.version
        else:
            reset = True

    async def body() -> AsyncIterator[bytes]:
        nonlocal position
        yield b": connected\n\n"
        if reset:
            yield sse(
                {"reason": "resume point unknown: reload the list"},
                event="reset",
                id=f"{watcher.epoch}.{watcher.version}",
            )
        while True:
            async with watcher.changed:
                pending = watcher.since(position or 0) or []
                if not pending:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(watcher.changed.wait(), KEEPALIVE_S)
                    pending = watcher.since(position or 0) or []
            if not pending:
                yield b": keep-alive\n\n"
                continue
            for version, row in pending:
                yield sse(row, event="run", id=f"{watcher.epoch}.{version}")
                position = version

    return _stream(body())
