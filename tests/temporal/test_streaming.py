"""Durable token streaming on Temporal (the shared dev server): a streamed agent's tokens go
to the stream store configured on the client (``temporal://...?stream_store=PATH``),
outside Temporal's history; ``handle.stream()`` reads them live and resumes at any offset;
replaying every task adds nothing; the history is no bigger than an unstreamed run's; the
CLI streams from a worker process through the same address."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from duragent import Client, Worker
from duragent.errors import ConfigurationError
from duragent.openai_agents import OpenAIAgentsPlugin
from duragent.streaming import (
    CallCommitted,
    Reset,
    RunClosed,
    StreamEvent,
    TextDelta,
    ToolCall,
)
from duragent.temporal.streams import stream_run
from duragent.testing.scripted_model import ScriptedModelProvider

from ..cli.conftest import spawn_worker, stop_worker
from ..durable_agents.agents_app import ACTIVITIES
from ..durable_agents.stream_app import ANSWER, STREAM_SCRIPTS, STREAM_WORKFLOWS
from ..fixtures.agents_kill_app import STORY, StreamStory
from ..parity.test_cli import AddressCli
from ..temporal_server import TemporalServerInfo

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[2]


def _rows(db: Path) -> list[tuple[int, int, int, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT call, attempt, seq, kind FROM stream_events ORDER BY stream_offset"
        ).fetchall()


async def test_handle_stream_on_temporal_reads_the_clients_stream_store(
    temporal_server: TemporalServerInfo,
    tclient: Any,
    task_queue: str,
    tmp_path: Path,
    max_cached: int,
) -> None:
    streams = tmp_path / "streams.db"
    client = await Client.connect(f"{temporal_server.url}?stream_store={streams}")
    provider = ScriptedModelProvider(STREAM_SCRIPTS, stream_delay=0.002)
    try:
        # The worker takes its stream store from the client.
        async with Worker(
            client,
            task_queue=task_queue,
            workflows=STREAM_WORKFLOWS,
            activities=ACTIVITIES,
            plugins=[OpenAIAgentsPlugin(model_provider=provider)],
            max_cached_workflows=max_cached,
        ):
            suffix = uuid.uuid4().hex[:8]
            streamed = await client.start_workflow(
                "StreamAgent", args=["streamer", "?"], id=f"s-{suffix}", task_queue=task_queue
            )
            live: list[StreamEvent] = [e async for e in streamed.stream()]
            result = await streamed.result()
            plain = await client.start_workflow(
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
        assert closed.result["output"] == ANSWER and json.dumps(closed.result)
        # Every model call streamed once: one attempt each, numbered without gaps (a
        # replay on every task published nothing).
        rows = _rows(streams)
        for c in {r[0] for r in rows}:
            count = len([r for r in rows if r[0] == c])
            assert [r[2] for r in rows if r[0] == c] == [0, *range(1, count - 1), -1]
        assert {r[1] for r in rows} == {1}
        # Resuming behind any event gives the rest of the stream, nothing twice.
        for i, event in enumerate(live[:-1]):
            if event.offset:
                rest = [e async for e in streamed.stream(after=event.offset)]
                assert live[: i + 1] + rest == live
        # A late subscriber with a plain temporalio client and the same store.
        late = [e async for e in stream_run(tclient, streamed.id, stream_store=streams)]
        assert late == live
    finally:
        await client.close()
    # Tokens are not in Temporal's history: it is as big as the unstreamed run's.
    sizes = {}
    for wid in (streamed.id, plain.id):
        history = await tclient.get_workflow_handle(wid).fetch_history()
        sizes[wid] = sum(
            len(e.SerializeToString())
            for e in history.events
            if not e.HasField("workflow_execution_completed_event_attributes")
        )
    assert sizes[streamed.id] <= 1.1 * sizes[plain.id], sizes
    assert any(isinstance(e, CallCommitted) for e in live)


async def test_without_a_stream_store_streaming_says_how_to_configure_one(
    temporal_server: TemporalServerInfo, tmp_path: Path
) -> None:
    async with await Client.connect(temporal_server.url) as client:
        handle = client.get_workflow_handle("any-run", run_id="any")
        with pytest.raises(ConfigurationError, match=r"\?stream_store=PATH"):
            async for _ in handle.stream():
                pass
    for bad, message in (
        ("?streams=x.db", "unknown option 'streams'"),
        ("?stream_store=", "must be given once, with a value"),
        ("?stream_store=a.db&stream_store=b.db", "must be given once"),
    ):
        with pytest.raises(ConfigurationError, match=message):
            await Client.connect(temporal_server.url + bad)
    with pytest.raises(ConfigurationError, match="two stream stores"):
        await Client.connect(
            f"{temporal_server.url}?stream_store=a.db",
            backend_options={"stream_store": str(tmp_path / "b.db")},
        )


@pytest.mark.slow
def test_the_cli_streams_a_worker_process_run_on_temporal(
    temporal_server: TemporalServerInfo, tmp_path: Path
) -> None:
    """``duragent --address 'temporal://...?stream_store=PATH'`` for the worker process and
    for ``agent run --stream`` / ``watch``: the tokens cross processes through the store."""
    url = f"{temporal_server.url}?stream_store={tmp_path / 'streams.db'}"
    queue = f"agents-{uuid.uuid4().hex[:8]}"
    cli = AddressCli(url)
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        proc = spawn_worker(url, "tests.fixtures.cli_agents_app", out, "--task-queue", queue)
    try:
        cli.wait_for(lambda: "Ctrl+C" in log.read_text(), "the worker", 90)
        wid = f"weather-{uuid.uuid4().hex[:6]}"
        agent = "tests.fixtures.cli_agents_app:weather_agent"
        run = cli.ok(
            "agent", "run", agent, "Weather in Paris?", "--id", wid, "-q", queue, "--stream"
        )
        assert run.stdout == "It is sunny in Paris (21C).\n"  # the text, and only it
        assert '→ get_weather({"city": "Paris"})' in run.stderr
        assert "run completed" in run.stderr
        events = [json.loads(line) for line in cli.ok("watch", wid, "--json").stdout.splitlines()]
        texts = [e for e in events if e["type"] == "text"]
        assert len(texts) > 1 and "".join(e["text"] for e in texts) == "It is sunny in Paris (21C)."
        assert events[-1]["type"] == "closed" and events[-1]["status"] == "completed"
        rest = cli.ok("watch", wid, "--after", str(texts[1]["offset"])).stdout
        assert rest == "".join(e["text"] for e in texts[2:]) + "\n"
        assert proc.poll() is None, log.read_text()
    finally:
        assert stop_worker(proc) == 0, log.read_text()


def _shown(events: list[StreamEvent]) -> str:
    text = ""
    for e in events:
        text = "" if isinstance(e, Reset) else text + (e.text if isinstance(e, TextDelta) else "")
    return text


@pytest.mark.slow
async def test_a_worker_killed_mid_stream_on_temporal_shows_a_reset_then_the_retry(
    temporal_server: TemporalServerInfo, tmp_path: Path
) -> None:
    """SIGKILL the worker process after some words of a streamed model call: once Temporal
    times the attempt out, another worker's attempt streams the call again; subscribers see
    the first attempt withdrawn by a reset, and end with the recorded response."""
    streams = tmp_path / "streams.db"
    url = f"{temporal_server.url}?stream_store={streams}"
    queue = f"stream-kill-{uuid.uuid4().hex[:8]}"

    def spawn() -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.temporal.stream_worker", url, queue],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        return proc

    procs = [spawn()]
    try:
        async with await Client.connect(url) as client:
            handle = await client.start_workflow(
                StreamStory.run, id=f"story-{uuid.uuid4().hex[:8]}", task_queue=queue
            )
            live: list[StreamEvent] = []

            async def follow() -> None:
                async for event in handle.stream():
                    live.append(event)

            follower = asyncio.create_task(follow())
            for _ in range(1200):
                if sum(isinstance(e, TextDelta) for e in live) >= 5:  # some words are out
                    break
                await asyncio.sleep(0.05)
            procs[0].kill()
            procs[0].wait()
            procs.append(spawn())
            assert await handle.result(timeout=90) == STORY
            await asyncio.wait_for(follower, 30)
            late = [e async for e in handle.stream()]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    kinds = [type(e).__name__ for e in live]
    reset = kinds.index("Reset")
    assert set(kinds[:reset]) == {"TextDelta"}
    assert {e.attempt for e in live[:reset] if isinstance(e, TextDelta)} == {1}
    first_reset = live[reset]
    assert isinstance(first_reset, Reset) and first_reset.attempt == 1
    assert {e.attempt for e in live[reset + 1 :] if isinstance(e, TextDelta)} == {2}
    assert isinstance(live[-1], RunClosed) and live[-1].result == STORY
    assert _shown(live) == STORY  # what the subscriber ends with is the recorded response
    assert "Reset" not in [type(e).__name__ for e in late] and _shown(late) == STORY
    with sqlite3.connect(streams) as conn:
        texts = conn.execute(
            "SELECT attempt, count(*) FROM stream_events WHERE kind = 'text' GROUP BY attempt"
        ).fetchall()
        markers = conn.execute("SELECT attempt, kind FROM stream_events WHERE seq = -1").fetchall()
    assert [a for a, _ in texts] == [1, 2] and texts[1][1] == len(STORY.split(" "))
    assert markers == [(2, "commit")]  # the killed attempt could not say it failed
