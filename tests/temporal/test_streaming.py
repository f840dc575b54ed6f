"""Durable token streaming on Temporal (the shared dev server): a streamed agent's tokens go
to the configured stream store, outside Temporal's history; a subscriber reads them live
and resumes at any offset; replaying every task adds nothing; the history is no bigger
than an unstreamed run's."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from duragent.openai_agents import OpenAIAgentsPlugin
from duragent.streaming import CallCommitted, RunClosed, StreamEvent, TextDelta, ToolCall
from duragent.temporal.streams import stream_run
from duragent.testing.scripted_model import ScriptedModelProvider

from ..durable_agents.agents_app import ACTIVITIES
from ..durable_agents.stream_app import ANSWER, STREAM_SCRIPTS, STREAM_WORKFLOWS

pytestmark = pytest.mark.timeout(120)


def _rows(db: Path) -> list[tuple[int, int, int, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT call, attempt, seq, kind FROM stream_events ORDER BY stream_offset"
        ).fetchall()


async def test_a_streamed_agent_on_temporal_streams_outside_its_history(
    temporal_worker: Callable[..., AbstractAsyncContextManager[Any]],
    tclient: Any,
    task_queue: str,
    tmp_path: Path,
    max_cached: int,
) -> None:
    streams = tmp_path / "streams.db"
    provider = ScriptedModelProvider(STREAM_SCRIPTS, stream_delay=0.002)
    async with temporal_worker(
        workflows=STREAM_WORKFLOWS,
        activities=ACTIVITIES,
        plugins=[OpenAIAgentsPlugin(model_provider=provider)],
        stream_store=streams,
        max_cached_workflows=max_cached,
    ):
        suffix = uuid.uuid4().hex[:8]
        streamed = await tclient.start_workflow(
            "StreamAgent", args=["streamer", "?"], id=f"s-{suffix}", task_queue=task_queue
        )
        live: list[StreamEvent] = [
            e async for e in stream_run(tclient, streamed.id, stream_store=streams)
        ]
        result = await streamed.result()
        plain = await tclient.start_workflow(
            "PlainAgent", args=["streamer", "?"], id=f"p-{suffix}", task_queue=task_queue
        )
        await plain.result()
    assert result["output"] == ANSWER
    text = "".join(e.text for e in live if isinstance(e, TextDelta))
    assert text == ANSWER and len([e for e in live if isinstance(e, TextDelta)]) > 5
    kinds = [type(e).__name__ for e in live if not isinstance(e, TextDelta)]
    assert kinds == ["ToolCall", "CallCommitted", "CallCommitted", "RunClosed"]
    call = next(e for e in live if isinstance(e, ToolCall))
    assert (call.name, call.arguments) == ("get_weather", '{"city": "Paris"}')
    closed = live[-1]
    assert isinstance(closed, RunClosed) and closed.status == "completed"
    assert closed.result["output"] == ANSWER
    # Every model call streamed once: one attempt each, numbered without gaps.
    rows = _rows(streams)
    for c in {r[0] for r in rows}:
        assert [r[2] for r in rows if r[0] == c] == [
            0,
            *range(1, len([r for r in rows if r[0] == c]) - 1),
            -1,
        ]
    assert {r[1] for r in rows} == {1}
    # Resuming behind any event gives the rest of the stream, nothing twice.
    for i, event in enumerate(live[:-1]):
        if not event.offset:
            continue
        rest = [
            e
            async for e in stream_run(
                tclient, streamed.id, stream_store=streams, after=event.offset
            )
        ]
        assert live[: i + 1] + rest == live
    # Tokens are not in Temporal's history: it is as big as the unstreamed run's.
    sizes = {}
    for handle in (streamed, plain):
        history = await handle.fetch_history()
        sizes[handle.id] = sum(
            len(e.SerializeToString())
            for e in history.events
            if not e.HasField("workflow_execution_completed_event_attributes")
        )
    assert sizes[streamed.id] <= 1.1 * sizes[plain.id], sizes
    assert any(isinstance(e, CallCommitted) for e in live)
    assert json.dumps(closed.result)
