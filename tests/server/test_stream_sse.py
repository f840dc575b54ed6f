"""``GET /api/v1/runs/{id}/stream`` at the HTTP level (a real server on 127.0.0.1, a real
SQLite file, a worker streaming a model call whose first attempt breaks midway): SSE
messages with the offset as ``id:``, a reset for the broken attempt, and resumption with
``Last-Event-ID`` that loses and repeats nothing."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from duragent import Client, RetryPolicy, Worker
from duragent.openai_agents import (
    AgentWorkflow,
    ModelActivityParameters,
    OpenAIAgentsPlugin,
    start_agent,
)

from .conftest import RunningServer
from .stream_models import ANSWER, DRAFT, RetriedStreamProvider
from .ui_app import TASK_QUEUE

AGENT = "tests.server.ui_app:researcher"


def read_sse(
    server: RunningServer,
    path: str,
    *,
    last_event_id: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The SSE messages of ``path`` until the server ends the stream (or ``limit``
    messages, then the connection is dropped): ``{"id", "event", "data"}`` each."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
    headers = {"Authorization": f"Bearer {server.token}", "Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    assert response.status == 200, response.read()
    assert response.getheader("content-type", "").startswith("text/event-stream")
    messages: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    try:
        while limit is None or len(messages) < limit:
            line = response.readline().decode()
            if not line:
                break
            line = line.rstrip("\n")
            if not line:
                if "data" in current:
                    current["data"] = json.loads(current["data"])
                    messages.append(current)
                current = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(": ")
                current[name] = current[name] + "\n" + value if name in current else value
    finally:
        conn.close()
    return messages


def _shown(messages: list[dict[str, Any]]) -> str:
    text = ""
    for m in messages:
        if m["event"] == "reset":
            text = ""
        elif m["event"] == "text":
            text += m["data"]["text"]
    return text


@pytest.fixture
def gate() -> threading.Event:
    return threading.Event()


@pytest.fixture
async def streaming_worker(client: Client, gate: threading.Event) -> AsyncIterator[Worker]:
    params = ModelActivityParameters(
        retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100))
    )
    plugin = OpenAIAgentsPlugin(model_provider=RetriedStreamProvider(gate), model_params=params)
    async with Worker(
        client, task_queue=TASK_QUEUE, workflows=[AgentWorkflow], plugins=[plugin]
    ) as w:
        yield w


async def test_a_broken_attempt_is_reset_and_resuming_repeats_nothing(
    server: RunningServer, client: Client, streaming_worker: Worker, gate: threading.Event
) -> None:
    handle = await start_agent(client, AGENT, "?", id="sse-1", task_queue=TASK_QUEUE, stream=True)
    path = "/api/v1/runs/sse-1/stream"
    # Live: connect before the first word, drop the connection after two of them.
    reading = asyncio.create_task(asyncio.to_thread(read_sse, server, path, limit=2))
    await asyncio.sleep(0.3)
    gate.set()
    first = await reading
    assert [m["event"] for m in first] == ["text", "text"]
    assert all(m["data"]["attempt"] == 1 for m in first)
    # Reconnect where the browser would (Last-Event-ID); the run goes on meanwhile.
    rest = await asyncio.to_thread(read_sse, server, path, last_event_id=first[-1]["id"])
    outcome = await handle.result(timeout=30)
    assert outcome.final_output == ANSWER
    resumed = first + rest
    assert "reset" in [m["event"] for m in rest]
    assert _shown(resumed) == ANSWER
    assert resumed[-1]["event"] == "closed" and resumed[-1]["data"]["status"] == "completed"
    offsets = [int(m["id"]) for m in resumed]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)

    # After the run: a new subscriber gets the attempt that counted, and every way of
    # cutting its stream and resuming with Last-Event-ID gives the same messages.
    whole = await asyncio.to_thread(read_sse, server, path)
    assert "reset" not in [m["event"] for m in whole]
    assert _shown(whole) == ANSWER and DRAFT.split(" ")[0] not in _shown(whole)
    for cut in range(1, len(whole)):
        head = await asyncio.to_thread(read_sse, server, path, limit=cut)
        tail = await asyncio.to_thread(read_sse, server, path, last_event_id=head[-1]["id"])
        assert head + tail == whole, f"cut after {cut}"


async def test_a_bad_resume_point_is_refused(server: RunningServer, client: Client) -> None:
    reply = await server.get("/api/v1/runs/nope/stream")
    assert reply.status == 404
    reply = await server.get("/api/v1/runs/nope/stream", headers={"Last-Event-ID": "x"})
    assert reply.status == 400 and "stream offset" in reply.json()["error"]
