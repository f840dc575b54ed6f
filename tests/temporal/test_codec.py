"""The chunk-tree payload codec on Temporal: a long agent whose every model input is the
whole conversation keeps its Temporal history small (references, not conversations), and a
restarted process (a new client and codec on the same chunk store) reads the history, the
usage ledger and the result, and replays the run."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from agents import Agent, Runner, function_tool

from duragent import Client, Worker, workflow
from duragent._engine import events as ev
from duragent.openai_agents import OpenAIAgentsPlugin, usage_report
from duragent.testing import ScriptedModelProvider, message, tool_call

from ..temporal_server import TemporalServerInfo

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]
TURNS = 40


@function_tool
async def lookup(i: int) -> str:
    """Look up fact number i."""
    return f"Fact {i}: the answer is {i * 7}. " + "Recorded in the archive of facts. " * 12


researcher = Agent(
    name="researcher", instructions="Research facts. " * 10, model="researcher", tools=[lookup]
)


@workflow.defn(name="CodecResearch")
class Research:
    @workflow.run
    async def run(self, turns: int) -> str:
        result = await Runner.run(researcher, "Collect every fact.", max_turns=turns + 5)
        return str(result.final_output)


def script(turns: int) -> list[Any]:
    steps: list[Any] = [[tool_call("lookup", {"i": i})] for i in range(turns)]
    return [*steps, [message(f"Collected {turns} facts.")]]


async def history_bytes(client: Client, workflow_id: str) -> tuple[int, int]:
    """(bytes Temporal keeps for the run's events, the same events with payloads decoded)."""
    from duragent.temporal.backend import TemporalBackend
    from duragent.temporal.codec import decode_message_payloads

    backend = client.backend
    assert isinstance(backend, TemporalBackend)
    tclient = backend.client
    history = await tclient.get_workflow_handle(workflow_id).fetch_history()
    stored = sum(e.ByteSize() for e in history.events)
    for event in history.events:
        await decode_message_payloads(event, tclient.data_converter.payload_codec)
    return stored, sum(e.ByteSize() for e in history.events)


async def test_a_long_agent_keeps_a_small_history_readable_after_a_restart(
    temporal_server: TemporalServerInfo, tmp_path: Path
) -> None:
    from duragent.temporal.codec import ChunkTreeCodec
    from duragent.temporal.replayer import TemporalReplayer

    chunks = tmp_path / "chunks.db"
    queue = f"codec-{uuid.uuid4().hex[:8]}"
    wid = f"codec-{uuid.uuid4().hex[:8]}"
    client = await Client.connect(
        temporal_server.url, backend_options={"payload_codec": ChunkTreeCodec(chunks)}
    )
    provider = ScriptedModelProvider({"researcher": script(TURNS)})
    try:
        async with Worker(
            client,
            task_queue=queue,
            workflows=[Research],
            plugins=[OpenAIAgentsPlugin(model_provider=provider)],
        ):
            handle = await client.start_workflow(Research.run, TURNS, id=wid, task_queue=queue)
            assert await handle.result(timeout=180) == f"Collected {TURNS} facts."
    finally:
        await client.close()

    # A new process: a fresh codec (no cached chunks) on the same chunk store.
    again = await Client.connect(f"{temporal_server.url}?chunks={chunks}")  # as the CLI takes it
    try:
        stored, naive = await history_bytes(again, wid)
        assert stored * 5 <= naive, (stored, naive)
        handle = again.get_workflow_handle(wid)
        assert await handle.result() == f"Collected {TURNS} facts."
        events = (await handle.fetch_history()).events
        inputs = [
            e.input[0].to_json_value()
            for e in events
            if isinstance(e, ev.ActivityTaskScheduled)
            and e.activity_type == "duragent.openai_agents.invoke_model"
        ]
        assert len(inputs) == TURNS + 1
        assert f"Fact {TURNS - 1}: the answer is" in str(inputs[-1])  # the whole conversation
        report = await usage_report(again, wid)
        assert report.model_calls == TURNS + 1 and report.input_tokens > 0
        from duragent.temporal.backend import TemporalBackend

        backend = again.backend
        assert isinstance(backend, TemporalBackend)
        raw = await backend.client.get_workflow_handle(wid).fetch_history()
        replayer = TemporalReplayer(
            workflows=[Research],
            plugins=[OpenAIAgentsPlugin(model_provider=provider)],
            payload_codec=ChunkTreeCodec(chunks),
        )
        await replayer.replay_workflow(raw)
    finally:
        await again.close()

    # Without the codec the history is still listed, but its large payloads cannot be read.
    plain = await Client.connect(temporal_server.url)
    try:
        events = (await plain.get_workflow_handle(wid).fetch_history()).events
        scheduled = [e for e in events if isinstance(e, ev.ActivityTaskScheduled)]
        assert "binary/duragent-chunk-tree payload" in scheduled[-1].input[0].to_json_value()
    finally:
        await plain.close()
