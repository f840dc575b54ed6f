"""MCP servers as durable tools, against a real stdio MCP server (``mcp_weather_server.py``)
and real workers: the tool list is recorded once per run, each call is an activity whose
result the model uses, and the server's own call log says what it really saw."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from agents import Agent, Runner
from agents.mcp import MCPServerStdio

from duragent import Client, ConfigurationError, Worker, workflow
from duragent.openai_agents import OpenAIAgentsPlugin, decide, pending_approvals
from duragent.openai_agents.mcp import MCPServerProvider, durable_mcp_server
from duragent.testing import Replayer
from duragent.views.conversation import ToolCard, build_conversation
from duragent.views.summary import summarize
from tests.fixtures.mcp_app import (
    SERVER,
    TASK_QUEUE,
    WORKFLOWS,
    MCPChat,
    PromptUser,
    RunMCPAgent,
    http_server,
    plugin,
    provider,
    stdio_server,
)

from ..waits import wait_for_task_failure
from .mcp_helpers import (
    SECRET,
    ServerLog,
    activities,
    completions,
    mcp_worker,
    server_log,
    worker,
)

__all__ = ["server_log", "worker"]

MCP_ACTIVITIES = ("duragent.mcp.list_tools", "duragent.mcp.call_tool")


def mcp_activities(acts: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [a for a in acts if a[0].startswith("duragent.mcp.")]


@pytest.mark.parametrize("cache", [1000, 0], ids=["cached", "replay-every-task"])
async def test_agent_calls_an_mcp_tool_and_uses_its_result(
    client: Client, server_log: ServerLog, cache: int
) -> None:
    async with await mcp_worker(client, max_cached_workflows=cache):
        result = await client.execute_workflow(
            RunMCPAgent.run, args=["forecaster", "Alerts in CA?"], id="fc", task_queue=TASK_QUEUE
        )
    assert result == "Flood watch for CA until 6 PM."
    assert mcp_activities(await activities(client, "fc")) == [
        ("duragent.mcp.list_tools", "weather"),
        ("duragent.mcp.call_tool", "weather.get_alerts"),
    ]
    calls = server_log.calls("get_alerts")
    assert [c["args"] for c in calls] == [{"state": "CA"}]
    assert calls[0]["key"]  # the idempotency key travelled in _meta
    listed, called = await completions(client, "fc")
    assert listed["v"] == 1
    assert "get_alerts" in [t["name"] for t in listed["tools"]]
    # Duragent's own shape of the result, not the mcp package's model.
    assert called == {
        "v": 1,
        "content": [{"type": "text", "text": "Flood watch for CA until 6 PM."}],
        "structured": {"result": "Flood watch for CA until 6 PM."},
        "is_error": False,
    }


async def test_tools_are_listed_once_per_run_and_a_later_turn_works_with_the_server_stopped(
    client: Client, server_log: ServerLog
) -> None:
    async with await mcp_worker(client):
        handle = await client.start_workflow(MCPChat.run, id="chat", task_queue=TASK_QUEUE)
        assert await handle.execute_update(MCPChat.ask, "CA?") == "Flood watch for CA until 6 PM."
    # The server is gone: a worker whose factory points at nothing (and which keeps no run
    # in memory, so it rebuilds the conversation from history) takes the next turn.
    stopped = provider(lambda: stdio_server(SERVER.with_name("no_such_server.py")))
    async with await mcp_worker(client, plugin(stopped), max_cached_workflows=0):
        answer = await handle.execute_update(MCPChat.ask, "NY?")
        await handle.signal(MCPChat.finish)
        await handle.result(timeout=30)
    # The model was told, clearly, after the retries.
    assert answer.startswith("The call to weather.get_alerts failed: MCP server 'weather'")
    assert "could not be reached" in answer
    acts = mcp_activities(await activities(client, "chat"))
    assert acts == [
        ("duragent.mcp.list_tools", "weather"),  # once for both turns
        ("duragent.mcp.call_tool", "weather.get_alerts"),
        ("duragent.mcp.call_tool", "weather.get_alerts"),
    ]
    history = await handle.fetch_history()
    failed = [e for e in history.events if e.TYPE == "ActivityTaskFailed"]
    assert [e.attempt for e in failed] == [3]  # type: ignore[attr-defined]
    assert [c["args"] for c in server_log.calls()] == [{"state": "CA"}]
    # Replay needs no server at all: the recorded tool list and results serve it.
    replayer = Replayer(workflows=list(WORKFLOWS), plugins=[plugin(stopped)])
    await replayer.replay_workflow(history)


async def test_a_pooled_connection_serves_later_calls(
    client: Client, server_log: ServerLog
) -> None:
    async with await mcp_worker(client):
        handle = await client.start_workflow(MCPChat.run, id="pool", task_queue=TASK_QUEUE)
        await handle.execute_update(MCPChat.ask, "CA?")
        await handle.execute_update(MCPChat.ask, "NY?")
        await handle.signal(MCPChat.finish)
        await handle.result(timeout=30)
    pids = {c["pid"] for c in server_log.calls()}
    assert len(server_log.calls()) == 2
    assert len(pids) == 1  # one server process: the connection was reused


async def test_the_web_ui_shows_an_mcp_call_as_a_tool_card_named_for_its_server(
    worker: Worker, client: Client
) -> None:
    await client.execute_workflow(
        RunMCPAgent.run, args=["forecaster", "CA?"], id="ui", task_queue=TASK_QUEUE
    )
    history = await client.get_workflow_handle("ui").fetch_history()
    conversation = build_conversation(history.events, now_ms=history.events[-1].time)
    cards = [i for i in conversation.items if isinstance(i, ToolCard)]
    assert [(c.name, c.arguments, c.result, c.state) for c in cards] == [
        ("weather.get_alerts", '{"state": "CA"}', "Flood watch for CA until 6 PM.", "ok")
    ]
    facts = summarize(history.events)  # the runs list's counts: listing tools is no call
    assert (facts.model_calls, facts.tool_calls) == (2, 1)


async def test_an_is_error_result_goes_to_the_model_and_is_not_retried(
    worker: Worker, client: Client, server_log: ServerLog
) -> None:
    result = await client.execute_workflow(
        RunMCPAgent.run, args=["stocker", "Umbrellas?"], id="stock", task_queue=TASK_QUEUE
    )
    assert "umbrella is out of stock" in result
    assert len(server_log.calls("check_stock")) == 1
    _, called = await completions(client, "stock")
    assert called["is_error"] is True


async def test_a_transport_failure_is_retried_with_the_same_idempotency_key(
    worker: Worker, client: Client, server_log: ServerLog
) -> None:
    # The server process dies in the middle of the first call.
    result = await client.execute_workflow(
        RunMCPAgent.run, args=["flaky", "Lyon?"], id="flaky", task_queue=TASK_QUEUE
    )
    assert result == "Sunny in Lyon"
    calls = server_log.calls("flaky_forecast")
    assert len(calls) == 2
    assert calls[0]["key"] == calls[1]["key"]  # a deduplicating server sees one call
    assert calls[0]["pid"] != calls[1]["pid"]  # the pool reconnected
    history = await client.get_workflow_handle("flaky").fetch_history()
    done = [e for e in history.events if e.TYPE == "ActivityTaskCompleted"]
    assert max(e.attempt for e in done) == 2  # type: ignore[attr-defined]


async def test_the_tool_filter_applies_to_the_recorded_list(worker: Worker, client: Client) -> None:
    await client.execute_workflow(
        RunMCPAgent.run, args=["filtered", "WA?"], id="filtered", task_queue=TASK_QUEUE
    )
    history = await client.get_workflow_handle("filtered").fetch_history()
    first_model_call = next(
        e
        for e in history.events
        if e.TYPE == "ActivityTaskScheduled" and e.activity_type.endswith("invoke_model")  # type: ignore[attr-defined]
    )
    request = first_model_call.input[0].to_json_value()  # type: ignore[attr-defined]
    offered = sorted(t["name"] for t in request["config"]["tools"])
    assert offered == ["check_stock", "get_alerts"]


async def test_prompts_are_listed_and_fetched_through_activities(
    worker: Worker, client: Client
) -> None:
    result = await client.execute_workflow(
        PromptUser.run, "OR", id="prompts", task_queue=TASK_QUEUE
    )
    assert result == {
        "prompts": ["alert_summary"],
        "text": "Summarize the weather alerts for OR in one sentence.",
    }
    assert mcp_activities(await activities(client, "prompts")) == [
        ("duragent.mcp.list_prompts", "weather"),
        ("duragent.mcp.get_prompt", "weather.prompt:alert_summary"),
    ]


async def test_approval_pauses_durably_and_the_call_happens_once(
    client: Client, server_log: ServerLog
) -> None:
    async with await mcp_worker(client, max_cached_workflows=0):
        handle = await client.start_workflow(
            RunMCPAgent.run, args=["careful_payer", "Pay Bob"], id="pay", task_queue=TASK_QUEUE
        )
        pending = await pending_approvals(handle)
        for _ in range(500):
            pending = await pending_approvals(handle)
            if pending:
                break
            await asyncio.sleep(0.02)
        assert [(p.tool, json.loads(p.arguments)) for p in pending] == [
            ("send_payment", {"to": "bob", "amount": 3})
        ]
        assert server_log.calls("send_payment") == []  # nothing ran before the decision
    # Decided while no worker runs; a new worker resumes the run from history.
    async with await mcp_worker(client, max_cached_workflows=0):
        await decide(handle, pending[0].call_id, approve=True)
        assert await handle.result(timeout=30) == "sent 3 to bob"
    assert len(server_log.calls("send_payment")) == 1


@pytest.fixture(params=["http", "sse"], ids=["streamable-http", "sse"])
def web_server(
    request: pytest.FixtureRequest, tmp_path: Path, server_log: ServerLog
) -> Iterator[str]:
    """The test server over HTTP on 127.0.0.1 (a free port); yields its URL."""
    transport: str = request.param
    port_file = tmp_path / "port"
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), transport, str(port_file)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists():
            assert proc.poll() is None, "the MCP server exited"
            assert time.monotonic() < deadline, "the MCP server did not start"
            time.sleep(0.02)
        path = "/sse" if transport == "sse" else "/mcp"
        yield f"http://127.0.0.1:{port_file.read_text()}{path}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_servers_over_http_on_localhost(
    client: Client, server_log: ServerLog, web_server: str
) -> None:
    http = provider(lambda: http_server(web_server))
    async with await mcp_worker(client, plugin(http)):
        result = await client.execute_workflow(
            RunMCPAgent.run, args=["forecaster", "CA?"], id="web", task_queue=TASK_QUEUE
        )
    assert result == "Flood watch for CA until 6 PM."
    assert len(server_log.calls("get_alerts")) == 1
    exported = (await client.get_workflow_handle("web").fetch_history()).to_json()
    assert "weather.get_alerts" in exported
    assert SECRET not in exported  # it travelled in a header, from the worker only
    assert web_server not in exported


# ----------------------------------------------------------------------- what is refused


raw = MCPServerStdio(params={"command": sys.executable, "args": [str(SERVER), "stdio"]})
raw_agent = Agent(name="raw", instructions="-", model="forecaster", mcp_servers=[raw])
unknown_agent = Agent(
    name="unknown", instructions="-", model="forecaster", mcp_servers=[durable_mcp_server("nope")]
)


@workflow.defn
class RawMCP:
    @workflow.run
    async def run(self, which: str) -> str:
        agent = raw_agent if which == "raw" else unknown_agent
        return str((await Runner.run(agent, "hi")).final_output)


@pytest.mark.parametrize(
    ("which", "expected"),
    [
        ("raw", "declare it on the worker with OpenAIAgentsPlugin(mcp_servers="),
        ("unknown", "MCP server 'nope' is not declared on this worker's plugin"),
    ],
)
async def test_raw_and_undeclared_servers_are_refused_clearly(
    client: Client, server_log: ServerLog, which: str, expected: str
) -> None:
    async with Worker(client, task_queue="raw", workflows=[RawMCP], plugins=[plugin()]):
        handle = await client.start_workflow(RawMCP.run, which, id=which, task_queue="raw")
        failure = (await wait_for_task_failure(handle)).task_failure or ""
    assert expected in failure
    if which == "raw":
        assert "durable_mcp_server('name')" in failure


def test_providers_are_checked_when_declared() -> None:
    with pytest.raises(ConfigurationError, match="letters, digits"):
        MCPServerProvider("my server", stdio_server)
    with pytest.raises(ConfigurationError, match="must be a function"):
        MCPServerProvider("weather", stdio_server())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="two MCP servers are named 'weather'"):
        OpenAIAgentsPlugin(mcp_servers=[provider(), provider()])


async def test_outside_a_workflow_a_durable_server_says_where_it_works() -> None:
    with pytest.raises(ConfigurationError, match="only inside a workflow"):
        await durable_mcp_server("weather").list_tools()
