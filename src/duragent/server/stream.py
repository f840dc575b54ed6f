"""``GET /api/v1/runs/{id}/stream``: a run's durable stream as Server-Sent Events.

One SSE message per stream event (:mod:`duragent.streaming`): ``event:`` is its type
(``text``, ``reasoning``, ``reset``, ``committed``, ``tool_call``, ``tool_result``,
``approval``, ``closed``), ``data:`` its JSON, ``id:`` its offset. A client that
reconnects with ``Last-Event-ID`` (browsers do it by themselves) or ``?after=OFFSET`` resumes
exactly behind that event: deltas of the attempt that counted arrive once, a retried call
shows as ``event: reset``. The stream ends after ``event: closed``. Events rebuilt from
history after the stream's rows expired carry no id (they cannot be resumed into).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..streaming import RunClosed, StreamEvent
from .api import error, source_of
from .live import KEEPALIVE_S, sse


async def run_stream(request: Request) -> Response:
    """SSE of one run's durable stream."""
    source = source_of(request)
    workflow_id = request.path_params["workflow_id"]
    run_id = request.query_params.get("run_id") or None
    raw = request.headers.get("last-event-id") or request.query_params.get("after") or "0"
    try:
        after = int(raw)
    except ValueError:
        return error(f"Last-Event-ID / after must be a stream offset, got {raw!r}", 400)
    if after < 0:
        return error(f"Last-Event-ID / after must not be negative, got {after}", 400)
    try:
        execution = await source.describe(workflow_id, run_id)
    except Exception as err:
        return error(str(err), 404)
    handle = source.client.get_workflow_handle(workflow_id, run_id=execution.run_id)

    async def body() -> AsyncIterator[bytes]:
        queue: asyncio.Queue[StreamEvent | None] = asyncio.Queue(maxsize=1000)

        async def read() -> None:
            try:
                async for event in handle.stream(after=after):
                    await queue.put(event)
            finally:
                await queue.put(None)  # the end (or a failure: see the task)

        # The reader runs as its own task so that waiting for the next event can time out
        # (for keep-alives) without cancelling the stream's iterator.
        reader = asyncio.create_task(read(), name=f"duragent-stream-{workflow_id}")
        try:
            yield b": connected\n\n"
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                if item is None:
                    await asyncio.wait([reader])
                    if not reader.cancelled() and reader.exception() is not None:
                        yield sse({"error": str(reader.exception())}, event="error")
                    return
                event = item
                yield sse(
                    event.to_json(),
                    event=event.TYPE,
                    id=str(event.offset) if event.offset else None,
                )
                if isinstance(event, RunClosed):
                    return
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )
