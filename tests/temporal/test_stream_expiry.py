"""Token streams of runs on Temporal expire from the stream store once the run has been
closed for the worker's ``stream_retention``, as on the embedded engine (the shared dev
server, a real stream store file): a closed run's rows go, an open run's stay until it
closes, a run Temporal no longer knows goes, another namespace's stays; a subscriber of an
expired run gets it rebuilt from history."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from agents import Runner

from duragent import Client, Worker, workflow
from duragent.errors import ConfigurationError
from duragent.openai_agents import OpenAIAgentsPlugin
from duragent.store._stream_rows import StreamRow
from duragent.store.sqlite import SqliteStore
from duragent.streaming import RunClosed, StreamEvent, TextDelta
from duragent.temporal._stream_expiry import UNKNOWN_AFTER_MS
from duragent.testing.scripted_model import ScriptedModelProvider

from ..durable_agents.agents_app import ACTIVITIES
from ..durable_agents.stream_app import ANSWER, STREAM_AGENTS, STREAM_SCRIPTS, STREAM_WORKFLOWS
from ..temporal_server import TemporalServerInfo

pytestmark = pytest.mark.timeout(120)


@workflow.defn
class StreamThenWait:
    """Streams an agent's answer, then stays open until told to finish."""

    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self) -> str:
        result = Runner.run_streamed(STREAM_AGENTS["teller"], "go")
        async for _ in result.stream_events():
            pass
        await workflow.wait_condition(lambda: self.done)
        return str(result.final_output)

    @workflow.signal
    def finish(self) -> None:
        self.done = True


def _runs_with_rows(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {str(r[0]) for r in conn.execute("SELECT DISTINCT run_id FROM stream_events")}


def _listed(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {str(r[0]) for r in conn.execute("SELECT run_id FROM stream_runs")}


def _worker(client: Client, task_queue: str, retention: timedelta | None) -> Worker:
    """A worker of the streamed agents (and :class:`StreamThenWait`) on the dev server."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[*STREAM_WORKFLOWS, StreamThenWait],
        activities=ACTIVITIES,
        plugins=[
            OpenAIAgentsPlugin(
                model_provider=ScriptedModelProvider(STREAM_SCRIPTS, stream_delay=0.001)
            )
        ],
        stream_retention=retention,
    )


async def _until(check: object, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.1)


async def test_streams_of_closed_runs_expire_from_the_stream_store(
    temporal_server: TemporalServerInfo, task_queue: str, tmp_path: Path
) -> None:
    streams = tmp_path / "streams.db"
    namespace = temporal_server.namespace
    # Listed runs Temporal does not know: of this namespace (written long ago: its
    # namespace's retention removed it), of another namespace, of no recorded namespace.
    old = int(time.time() * 1000) - UNKNOWN_AFTER_MS - 60_000
    store = SqliteStore(str(streams))
    gone, theirs, unlabelled = (str(uuid.uuid4()) for _ in range(3))
    for run_id, ns in ((gone, namespace), (theirs, "elsewhere")):
        store.publish_attempt(
            run_id, 1, 1, [StreamRow(1, "text", "x")], old, start=True, namespace=ns
        )
    store.publish_attempt(unlabelled, 1, 1, [StreamRow(1, "text", "x")], old, start=True)
    store.close()
    with sqlite3.connect(streams) as conn:  # as a version-8 file's migration lists it
        conn.execute("UPDATE stream_runs SET namespace = '' WHERE run_id = ?", (unlabelled,))

    client = await Client.connect(f"{temporal_server.url}?stream_store={streams}")
    try:
        async with _worker(client, task_queue, timedelta(seconds=1)):
            suffix = uuid.uuid4().hex[:8]
            waiting = await client.start_workflow(
                StreamThenWait.run, id=f"wait-{suffix}", task_queue=task_queue
            )
            closed = await client.start_workflow(
                "StreamAgent", args=["streamer", "?"], id=f"s-{suffix}", task_queue=task_queue
            )
            live: list[StreamEvent] = [e async for e in closed.stream()]
            await closed.result()
            waiting_run = (await waiting.describe()).run_id
            closed_run = (await closed.describe()).run_id
            await _until(lambda: waiting_run in _runs_with_rows(streams), "the open run streamed")
            assert closed_run in _runs_with_rows(streams)

            await _until(lambda: closed_run not in _runs_with_rows(streams), "rows expired")
            await _until(lambda: gone not in _runs_with_rows(streams), "unknown run expired")
            # The open run keeps its rows however long ago it wrote them; so do the runs
            # this worker cannot tell are gone.
            await asyncio.sleep(1.5)
            kept = _runs_with_rows(streams)
            assert {waiting_run, theirs, unlabelled} <= kept
            assert closed_run not in _listed(streams) and gone not in _listed(streams)

            # A subscriber of the expired run gets it from history.
            rebuilt = [e async for e in closed.stream()]
            assert isinstance(rebuilt[-1], RunClosed) and rebuilt[-1].status == "completed"
            assert rebuilt[-1].result == live[-1].result  # type: ignore[union-attr]
            deltas = [e for e in rebuilt if isinstance(e, TextDelta)]
            assert "".join(e.text for e in deltas) == ANSWER  # each response whole
            assert len(deltas) < len([e for e in live if isinstance(e, TextDelta)])

            # Once it closes, the other run's rows go too.
            await waiting.signal(StreamThenWait.finish)
            assert await waiting.result() == "Once upon a time there was a durable agent."
            await _until(lambda: waiting_run not in _runs_with_rows(streams), "rows expired")
        assert _runs_with_rows(streams) == {theirs, unlabelled}
    finally:
        await client.close()


async def test_no_stream_retention_keeps_every_stream(
    temporal_server: TemporalServerInfo, task_queue: str, tmp_path: Path
) -> None:
    streams = tmp_path / "streams.db"
    client = await Client.connect(f"{temporal_server.url}?stream_store={streams}")
    try:
        async with _worker(client, task_queue, None):
            handle = await client.start_workflow(
                "StreamAgent",
                args=["teller", "?"],
                id=f"k-{uuid.uuid4().hex[:8]}",
                task_queue=task_queue,
            )
            await handle.result()
            await asyncio.sleep(1.0)
            assert (await handle.describe()).run_id in _runs_with_rows(streams)
        with pytest.raises(ConfigurationError, match="stream_retention must be a non-negative"):
            Worker(
                client,
                task_queue=task_queue,
                workflows=STREAM_WORKFLOWS,
                stream_retention=timedelta(seconds=-1),
            )
    finally:
        await client.close()
