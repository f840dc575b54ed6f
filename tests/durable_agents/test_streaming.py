"""Durable token streaming with real workers on real SQLite and the scripted model:
``Runner.run_streamed`` in workflows, the stream subscribers read (``handle.stream``), its
guarantee across resumption, replay, zombie attempts and retention."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from duragent import Client, RetryPolicy, Worker
from duragent.openai_agents import (
    AgentWorkflow,
    ModelActivityParameters,
    OpenAIAgentsPlugin,
    stream_agent,
)
from duragent.store._streams import EXPIRE_STEP
from duragent.store.sqlite import SqliteStore
from duragent.streaming import (
    CallCommitted,
    Reset,
    RunClosed,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolResult,
)
from duragent.testing.scripted_model import ScriptedModelProvider
from duragent.worker import DEFAULT_STREAM_RETENTION

from .agents_app import ACTIVITIES, TASK_QUEUE
from .stream_app import ANSWER, STREAM_SCRIPTS, STREAM_WORKFLOWS, StreamAgent, TwoStreams
from .zombie_model import ZombieProvider


@pytest.fixture
def provider() -> ScriptedModelProvider:
    return ScriptedModelProvider(STREAM_SCRIPTS, stream_delay=0.002)


def _worker(
    client: Client,
    provider: Any,
    *,
    params: ModelActivityParameters | None = None,
    max_cached_workflows: int = 1000,
    stream_retention: timedelta | None = DEFAULT_STREAM_RETENTION,
) -> Worker:
    plugin = (
        OpenAIAgentsPlugin(model_provider=provider, model_params=params)
        if params is not None
        else OpenAIAgentsPlugin(model_provider=provider)
    )
    return Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[*STREAM_WORKFLOWS, AgentWorkflow],
        activities=list(ACTIVITIES),
        max_cached_workflows=max_cached_workflows,
        plugins=[plugin],
        stream_retention=stream_retention,
    )


async def _collect(events: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    return [e async for e in events]


def _text(events: list[StreamEvent], call: int | None = None) -> str:
    """The text a subscriber shows: deltas appended, a reset clearing its call."""
    shown: dict[int, str] = {}
    for e in events:
        if isinstance(e, Reset):
            shown.pop(e.call, None)
        elif isinstance(e, TextDelta):
            shown[e.call] = shown.get(e.call, "") + e.text
    return shown.get(call, "") if call is not None else "".join(shown.values())


def _rows(db: Path) -> list[tuple[int, int, int, str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT call, attempt, seq, kind, data FROM stream_events ORDER BY stream_offset"
        ).fetchall()


async def _stream_run(client: Client, agent: str = "streamer", wf_id: str = "s") -> Any:
    handle = await client.start_workflow(
        StreamAgent.run, args=[agent, "Weather in Paris?"], id=wf_id, task_queue=TASK_QUEUE
    )
    live = asyncio.create_task(_collect(handle.stream()))
    result = await handle.result(timeout=30)
    return result, await asyncio.wait_for(live, 30)


async def test_a_subscriber_sees_the_final_output_as_it_is_generated(
    client: Client, db_path: Path, provider: ScriptedModelProvider
) -> None:
    async with _worker(client, provider):
        result, events = await _stream_run(client)
    assert result["output"] == ANSWER
    assert _text(events) == ANSWER
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) == len(ANSWER.split())  # word by word, as the model sent them
    assert [type(e).__name__ for e in events if not isinstance(e, TextDelta)] == [
        "ToolCall",
        "CallCommitted",
        "ToolResult",
        "CallCommitted",
        "RunClosed",
    ]
    call, _, tool_result, committed, closed = (e for e in events if not isinstance(e, TextDelta))
    assert isinstance(committed, CallCommitted) and committed.offset > deltas[-1].offset
    assert isinstance(call, ToolCall) and isinstance(tool_result, ToolResult)
    assert (call.name, call.arguments) == ("get_weather", '{"city": "Paris"}')
    assert (tool_result.call_id, tool_result.output) == (call.call_id, "Sunny in Paris")
    assert isinstance(closed, RunClosed) and closed.status == "completed"
    offsets = [e.offset for e in events]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
    # Each attempt's rows are numbered 1..n with no gap or repeat, between its markers.
    rows = _rows(db_path)
    for call_seq, attempt in {(r[0], r[1]) for r in rows if r[1] > 0}:
        seqs = [r[2] for r in rows if (r[0], r[1]) == (call_seq, attempt)]
        assert seqs == [0, *range(1, len(seqs) - 1), -1]
    # In workflow code, stream_events() gave each recorded response as stream events.
    assert result["events"].count("response.completed") == 2
    assert "response.output_text.delta" in result["events"]


async def test_stream_agent_runs_the_builtin_agent_workflow_streamed(
    client: Client, provider: ScriptedModelProvider
) -> None:
    reference = "tests.durable_agents.stream_app:streamer"
    async with _worker(client, provider):
        events = [
            e
            async for e in stream_agent(
                client, reference, "Weather?", id="b", task_queue=TASK_QUEUE
            )
        ]
    assert _text(events) == ANSWER
    closed = events[-1]
    assert isinstance(closed, RunClosed) and closed.result["final_output"] == ANSWER
    assert any(isinstance(e, ToolResult) and e.output == "Sunny in Paris" for e in events)


async def test_resuming_at_any_offset_continues_exactly_where_it_stopped(
    client: Client, provider: ScriptedModelProvider
) -> None:
    async with _worker(client, provider):
        _, live = await _stream_run(client)
    handle = client.get_workflow_handle("s")
    assert await _collect(handle.stream()) == live  # a late subscriber: the same stream
    for i, event in enumerate(live[:-1]):
        resumed = await _collect(handle.stream(after=event.offset))
        assert live[: i + 1] + resumed == live, f"resumed after {event}"


async def test_interleaved_calls_of_parallel_streams_stay_apart(
    client: Client, provider: ScriptedModelProvider
) -> None:
    async with _worker(client, provider):
        handle = await client.start_workflow(TwoStreams.run, id="two", task_queue=TASK_QUEUE)
        events = await _collect(handle.stream())
        outputs = await handle.result(timeout=30)
    calls = sorted({e.call for e in events if isinstance(e, TextDelta)})
    assert sorted(_text(events, c) for c in calls) == sorted(outputs)


async def test_replaying_every_task_adds_no_stream_rows(
    tmp_path: Path, provider: ScriptedModelProvider
) -> None:
    found: list[tuple[Any, list[tuple[int, int, int, str, str]]]] = []
    for cache in (1000, 0):
        db = tmp_path / f"cache-{cache}.db"
        client = await Client.connect(f"sqlite:///{db}")
        try:
            async with _worker(client, provider, max_cached_workflows=cache):
                result, _ = await _stream_run(client)
        finally:
            await client.close()
        found.append((result, _rows(db)))
    (cached_result, cached_rows), (replayed_result, replayed_rows) = found
    assert replayed_result == cached_result  # stream_events() replays identically
    assert replayed_rows == cached_rows


async def test_a_streamed_history_is_no_bigger_than_an_unstreamed_one(
    client: Client, provider: ScriptedModelProvider
) -> None:
    sizes: dict[str, int] = {}
    stored: dict[str, int] = {}
    async with _worker(client, provider):
        await client.execute_workflow(
            "PlainAgent", args=["streamer", "?"], id="plain", task_queue=TASK_QUEUE
        )
        await client.execute_workflow(
            "StreamAgent", args=["streamer", "?"], id="streamed", task_queue=TASK_QUEUE
        )
    for wf_id in ("plain", "streamed"):
        history = await client.get_workflow_handle(wf_id).fetch_history()
        # The streamed workflow also returns the event types it saw: leave results out.
        events = [e for e in history.to_dict()["events"] if "Execution" not in e["type"]]
        sizes[wf_id] = len(json.dumps(events))
        stored[wf_id] = (await client.get_workflow_handle(wf_id).describe()).history_size_bytes
    assert sizes["streamed"] <= 1.1 * sizes["plain"]  # payloads inline
    assert stored["streamed"] <= 1.1 * stored["plain"]  # as stored (shared payloads apart)


async def test_an_attempt_that_wakes_after_its_retry_committed_cannot_publish(
    client: Client, db_path: Path, tmp_path: Path
) -> None:
    """Attempt 1 streams a little, then hangs past its start-to-close timeout (ignoring
    the worker's cancellation, as a wedged call would); attempt 2 runs and commits; then
    attempt 1 wakes and tries to go on streaming. The fence refuses it."""
    log = tmp_path / "zombie.log"
    zombie = ZombieProvider(db_path, log)
    params = ModelActivityParameters(
        start_to_close_timeout=timedelta(seconds=1),
        retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=50)),
    )
    async with _worker(client, zombie, params=params):
        handle = await client.start_workflow(
            StreamAgent.run, args=["teller", "?"], id="z", task_queue=TASK_QUEUE
        )
        live = asyncio.create_task(_collect(handle.stream()))
        result = await handle.result(timeout=30)
        events = await asyncio.wait_for(live, 30)
        for _ in range(200):  # the zombie notices it was refused at its next delta
            if log.exists() and "closed" in log.read_text():
                break
            await asyncio.sleep(0.05)
    assert log.read_text().split() == ["woke", "closed"]
    assert result["output"] == "Once upon a time there was a durable agent."
    rows = _rows(db_path)
    first = [i for i, r in enumerate(rows) if r[1] == 1 and r[0] == 1]
    second_start = rows.index((1, 2, 0, "start", ""))
    assert max(first) < second_start  # nothing of attempt 1 after attempt 2 began
    assert (1, 1, -1, "failed", "timed_out") in rows
    assert not any(r[4].startswith(" woke") for r in rows)
    # The subscriber saw attempt 1's first words, a reset, then attempt 2 whole.
    assert [e.text for e in events if isinstance(e, TextDelta) and e.attempt == 1] == [
        "zom",
        "bie",
    ]
    assert any(isinstance(e, Reset) and (e.call, e.attempt) == (1, 1) for e in events)
    assert _text(events) == result["output"]


async def test_an_expired_stream_is_rebuilt_from_history(
    client: Client, provider: ScriptedModelProvider
) -> None:
    async with _worker(client, provider):
        _, live = await _stream_run(client)
    store = client.store
    now = client.clock.now_ms()
    assert store.expire_streams(now, retention_ms=3_600_000) == 0  # closed just now: kept
    assert store.expire_streams(now + 3_600_001, retention_ms=3_600_000) == 1
    handle = client.get_workflow_handle("s")
    rebuilt = await _collect(handle.stream())
    assert [type(e).__name__ for e in rebuilt] == [
        "ToolCall",
        "CallCommitted",
        "ToolResult",
        "TextDelta",
        "CallCommitted",
        "RunClosed",
    ]
    assert {e.offset for e in rebuilt} == {0}
    assert _text(rebuilt) == _text(live) == ANSWER
    closed, live_closed = rebuilt[-1], live[-1]
    assert isinstance(closed, RunClosed) and isinstance(live_closed, RunClosed)
    assert (closed.status, closed.result) == (live_closed.status, live_closed.result)
    # A subscriber that had followed the live stream gets only the close.
    assert [type(e).__name__ for e in await _collect(handle.stream(after=live[3].offset))] == [
        "RunClosed"
    ]


class _MovableClock:
    """Wall time that the test moves forward on purpose."""

    def __init__(self) -> None:
        self.offset_ms = 0

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.offset_ms


def _stream_rows_of(db: Path, workflow_id: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT count(*) FROM stream_events WHERE run_id IN "
            "(SELECT run_id FROM runs WHERE workflow_id = ?)",
            (workflow_id,),
        ).fetchone()[0]


async def test_a_worker_expires_a_backlog_of_streams_a_few_runs_per_transaction(
    tmp_path: Path, provider: ScriptedModelProvider
) -> None:
    """A worker drops the stream rows of runs closed longer ago than its
    ``stream_retention``, :data:`EXPIRE_STEP` runs per transaction (a streamed run holds
    thousands of rows: one transaction over a backlog would hold the file's write lock for
    all of it), the next step at once while a backlog lasts; recent runs keep theirs."""
    db = tmp_path / "streams.db"
    clock = _MovableClock()
    client = Client(SqliteStore(str(db)), clock=clock)
    old = [f"old-{i}" for i in range(2 * EXPIRE_STEP + 1)]
    try:
        async with _worker(client, provider):  # the default retention: a week
            for workflow_id in old:
                await _stream_run(client, wf_id=workflow_id)
        assert all(_stream_rows_of(db, w) > 0 for w in old)
        clock.offset_ms += 2 * 3_600_000  # they closed two hours ago
        async with _worker(client, provider):
            await _stream_run(client, wf_id="new")
        store = client.store
        expire = store.expire_streams
        steps: list[int] = []

        def counted(now: int, retention_ms: int) -> int:
            steps.append(expire(now, retention_ms))
            return steps[-1]

        store.expire_streams = counted  # type: ignore[method-assign]
        async with _worker(client, provider, stream_retention=timedelta(hours=1)):
            # Three steps: without the backlog's pace they would be 10 s apart.
            deadline = time.monotonic() + 5
            while any(_stream_rows_of(db, w) for w in old):
                assert time.monotonic() < deadline, f"rows left after steps {steps}"
                await asyncio.sleep(0.02)
        assert max(steps) == EXPIRE_STEP and sum(steps) == len(old)
        assert _stream_rows_of(db, "new") > 0
        # A subscriber to an expired run gets it rebuilt from history.
        rebuilt = await _collect(client.get_workflow_handle(old[0]).stream())
        assert _text(rebuilt) == ANSWER
    finally:
        await client.close()
