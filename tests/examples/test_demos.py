"""Every demo end to end: real SQLite, a real worker, the fake weather APIs on a real local
HTTP server. A scripted model stands in where the model's behaviour does not matter; the
tests marked ``local_model`` run the real offline model."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from duragent import Client
from duragent.testing.scripted_model import ScriptedModelProvider, message, tool_call
from examples import (
    agentic_loop,
    approval_agent,
    demo_support,
    fake_weather_server,
    handoffs,
    parallel_agents,
    weather_agent,
    weather_api,
)

from .conftest import first_user_text, offline_env, requires_local_model, tool_outputs

ROOT = Path(__file__).resolve().parents[2]


def answer_from_tool(items: list[Any]) -> list[Any]:
    """A final answer quoting the first line of the last tool result."""
    outputs = tool_outputs(items)
    return [message(f"From the tool: {outputs[-1].splitlines()[0]}" if outputs else "no tool")]


def executions(log: Path) -> list[tuple[str, dict[str, Any]]]:
    return [(e.tool, e.arguments) for e in weather_api.read_tool_log(log)]


# ------------------------------------------------------------------ 1. the agentic loop


def _reply(text: str | None = None, *calls: tuple[str, Any]) -> dict[str, Any]:
    reply: dict[str, Any] = {
        "role": "assistant",
        "content": text,
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }
    if calls:
        reply["tool_calls"] = [
            {
                "id": f"call_{i}",
                "type": "function",
                "function": {"name": name, "arguments": args},
            }
            for i, (name, args) in enumerate(calls)
        ]
    return reply


async def scripted_chat(
    messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Calls the alerts tool for the state in the question, then answers from its result."""
    results = [m for m in messages if m["role"] == "tool"]
    if not results:
        assert [t["function"]["name"] for t in tools] == list(weather_api.TOOLS)
        state = str(messages[-1]["content"]).split()[-1].strip("?")
        return _reply(None, ("get_weather_alerts", json.dumps({"state": state})))
    return _reply(f"From the tool: {results[-1]['content'].splitlines()[0]}")


async def test_agentic_loop_demo(
    tool_log: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    answer = await agentic_loop.main("Any weather alerts in CA?", chat=scripted_chat)
    assert answer == "From the tool: 2 active alerts for CA:"
    out = capsys.readouterr().out
    assert '1. model call (chat model): calls get_weather_alerts(state="CA")' in out
    assert '2. tool get_weather_alerts(state="CA") -> 2 active alerts for CA:' in out
    assert "2 model call(s), 30 tokens" in out
    assert executions(tool_log) == [("get_weather_alerts", {"state": "CA"})]


async def test_agentic_loop_dispatches_tools_to_the_dynamic_activity(
    weather_server: fake_weather_server.FakeWeatherServer, tmp_path: Path
) -> None:
    seen: list[list[str]] = []

    async def chat(
        messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        results = [str(m["content"]) for m in messages if m["role"] == "tool"]
        seen.append(results)
        if not results:
            return _reply(
                None,
                ("get_forecast", "{}"),  # no such tool
                ("get_location_info", json.dumps({"city": "Paris"})),  # wrong argument
                ("get_ip_address", "not json"),
                ("get_ip_address", "{}"),
            )
        return _reply("done")

    db_url = f"sqlite:///{tmp_path / 'loop.db'}"
    async with demo_support.running_worker(
        db_url,
        agentic_loop,
        activities=[agentic_loop.make_chat_activity(chat), agentic_loop.run_tool],
    ) as (client, worker):
        assert "get_ip_address" not in {getattr(a, "__name__", "") for a in worker.activities}
        outcome = await agentic_loop.ask(client, "Where am I?", workflow_id="loop")
        history = await client.get_workflow_handle("loop").fetch_history()
        types = [
            getattr(e, "activity_type", "")
            for e in history.events
            if e.TYPE == "ActivityTaskScheduled"
        ]
    assert outcome.answer == "done"
    assert outcome.tool_calls == [
        "get_forecast",
        "get_location_info",
        "get_ip_address",
        "get_ip_address",
    ]
    # Each valid-JSON call is an activity named after the tool (served by the dynamic activity).
    assert types == [
        "chat_model",
        "get_forecast",
        "get_location_info",
        "get_ip_address",
        "chat_model",
    ]
    results = seen[-1]
    assert results[0].startswith("There is no tool called 'get_forecast'")
    assert results[1].startswith("Invalid arguments for get_location_info")
    assert results[2].startswith("The arguments for get_ip_address are not valid JSON")
    assert results[3] == "Your public IP address is 203.0.113.50."


async def test_agentic_loop_stops_after_max_steps(
    weather_server: fake_weather_server.FakeWeatherServer, tmp_path: Path
) -> None:
    async def chat(
        messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        return _reply(None, ("get_ip_address", "{}"))

    async with demo_support.running_worker(
        f"sqlite:///{tmp_path / 'loop.db'}",
        agentic_loop,
        activities=[agentic_loop.make_chat_activity(chat), agentic_loop.run_tool],
    ) as (client, _):
        handle = await client.start_workflow(
            agentic_loop.AgenticLoop.run,
            agentic_loop.LoopRequest("?", max_steps=2),
            id="loop",
            task_queue=agentic_loop.TASK_QUEUE,
        )
        outcome = await handle.result(timeout=30)
    assert not outcome.finished
    assert outcome.model_calls == 2
    assert outcome.tool_calls == ["get_ip_address", "get_ip_address"]


@pytest.mark.local_model
@requires_local_model
async def test_agentic_loop_with_the_local_model(
    tool_log: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    answer = await agentic_loop.main("Are there any weather alerts in California?")
    out = capsys.readouterr().out
    assert "calls get_weather_alerts(" in out, out
    assert answer.strip(), out
    assert executions(tool_log)[0][0] == "get_weather_alerts"


@pytest.mark.slow
@pytest.mark.local_model
@requires_local_model
async def test_agentic_loop_in_a_worker_process_with_the_local_model(
    weather_server: fake_weather_server.FakeWeatherServer, tool_log: Path, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'loop.db'}"
    client = await Client.connect(db_url)
    worker = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "examples.run_worker", "--db", db_url, "examples.agentic_loop"],
        cwd=ROOT,
        env=offline_env(),
    )
    try:
        outcome = await agentic_loop.ask(
            client, "What is my IP address?", workflow_id="loop-process"
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(worker.wait(), 30) == 0
        await client.close()
    assert outcome.tool_calls == ["get_ip_address"]
    assert "203.0.113.50" in outcome.answer
    assert executions(tool_log) == [("get_ip_address", {})]


# ------------------------------------------------------------------ 2. the weather agent


def weather_script() -> ScriptedModelProvider:
    def first(items: list[Any]) -> list[Any]:
        state = first_user_text(items).split()[-1].strip("?")
        return [tool_call("get_weather_alerts", {"state": state})]

    return ScriptedModelProvider([first, answer_from_tool])


async def test_weather_agent_demo(
    tool_log: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    answer = await weather_agent.main("Any weather alerts in CA?", model_provider=weather_script())
    assert answer == "From the tool: 2 active alerts for CA:"
    out = capsys.readouterr().out
    assert '1. model call (Weather Assistant): calls get_weather_alerts(state="CA")' in out
    assert '2. tool get_weather_alerts(state="CA") -> 2 active alerts for CA:' in out
    assert re.search(
        r"model calls: 2 \(\d+ input \+ \d+ output tokens\); provider calls made: 2", out
    )
    assert executions(tool_log) == [("get_weather_alerts", {"state": "CA"})]


async def test_weather_agent_demo_streamed(
    tool_log: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    answer = await weather_agent.main(
        "Any weather alerts in CA?", model_provider=weather_script(), stream=True
    )
    assert answer == "From the tool: 2 active alerts for CA:"
    out = capsys.readouterr().out
    assert f'streamed: [get_weather_alerts({{"state": "CA"}})] {answer}\n' in out
    assert executions(tool_log) == [("get_weather_alerts", {"state": "CA"})]


async def test_weather_agent_tools_are_activities(
    weather_server: fake_weather_server.FakeWeatherServer, tool_log: Path, tmp_path: Path
) -> None:
    async with demo_support.running_worker(
        f"sqlite:///{tmp_path / 'w.db'}",
        weather_agent,
        model_provider=weather_script(),
        max_cached_workflows=0,  # replay on every task
    ) as (client, _):
        answer = await weather_agent.ask(client, "Any weather alerts in NY?", workflow_id="w")
        history = await client.get_workflow_handle("w").fetch_history()
        steps = demo_support.steps_of(history.events)
    assert answer == "From the tool: No active alerts for NY."
    assert [(s.kind, s.name) for s in steps] == [
        ("model", "Weather Assistant"),
        ("tool", "get_weather_alerts"),
        ("model", "Weather Assistant"),
    ]
    assert steps[1].arguments == {"state": "NY"}
    assert executions(tool_log) == [("get_weather_alerts", {"state": "NY"})]


async def test_weather_agent_demo_with_its_tools_from_an_mcp_server(
    tool_log: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    answer = await weather_agent.main(
        "Any weather alerts in CA?", model_provider=weather_script(), mcp=True
    )
    assert answer == "From the tool: 2 active alerts for CA:"
    out = capsys.readouterr().out
    assert "tools: from the MCP server examples/weather_mcp_server.py (stdio)" in out
    assert (
        "1. MCP server weather: tools listed (get_weather_alerts, get_location_info, "
        "get_ip_address), recorded once per run" in out
    )
    assert '2. model call (Weather Assistant): calls get_weather_alerts(state="CA")' in out
    assert '3. tool weather.get_weather_alerts(state="CA") -> 2 active alerts for CA:' in out
    # The MCP server process ran the tool (it logs like the activities do), once.
    assert executions(tool_log) == [("get_weather_alerts", {"state": "CA"})]


@pytest.mark.local_model
@requires_local_model
async def test_weather_agent_with_the_local_model(tool_log: Path) -> None:
    answer = await weather_agent.main()
    assert answer.strip()
    assert executions(tool_log)[0] == ("get_weather_alerts", {"state": "CA"})


# ------------------------------------------------------------------ 3. approvals


def refund_script() -> ScriptedModelProvider:
    def answer(items: list[Any]) -> list[Any]:
        outputs = tool_outputs(items)
        return [message(outputs[-1] if outputs else "no refund")]

    return ScriptedModelProvider(
        [[tool_call("issue_refund", {"order_id": "A-1001", "reason": "arrived broken"})], answer]
    )


async def test_approval_demo_approved(
    tool_log: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    answer = await approval_agent.main(model_provider=refund_script())
    out = capsys.readouterr().out
    assert 'waiting for approval: issue_refund(order_id="A-1001", reason="arrived broken")' in out
    assert "decision: approved" in out
    assert answer == "Refunded $42.50 for order A-1001 (reason: arrived broken)."
    assert executions(tool_log) == [
        ("issue_refund", {"order_id": "A-1001", "reason": "arrived broken"})
    ]


async def test_approval_demo_rejected(
    tool_log: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    answer = await approval_agent.main(approve=False, model_provider=refund_script())
    assert "decision: rejected" in capsys.readouterr().out
    assert answer == "A manager declined this refund."  # what the model was told
    assert executions(tool_log) == []  # the refund never ran


# ------------------------------------------------------------------ 4. handoffs


def triage_script() -> ScriptedModelProvider:
    """One script for all three agents (they share the default model): step 0 is the
    triage's handoff, step 1 the specialist's tool call, step 2 its answer."""

    def route(items: list[Any]) -> list[Any]:
        question = first_user_text(items)
        target = "weather" if "alert" in question else "local_info"
        return [tool_call(f"transfer_to_{target}_assistant")]

    def specialist(items: list[Any]) -> list[Any]:
        if "alert" in first_user_text(items):
            return [tool_call("get_weather_alerts", {"state": "CA"})]
        return [tool_call("get_ip_address")]

    return ScriptedModelProvider([route, specialist, answer_from_tool])


@pytest.mark.parametrize(
    ("question", "specialist", "answer"),
    [
        (
            "Are there any weather alerts in California?",
            "Weather Assistant",
            "From the tool: 2 active alerts for CA:",
        ),
        (
            "What is my IP address?",
            "Local Info Assistant",
            "From the tool: Your public IP address is 203.0.113.50.",
        ),
    ],
)
async def test_handoffs_demo(
    capsys: pytest.CaptureFixture[str],
    question: str,
    specialist: str,
    answer: str,
) -> None:
    result = await handoffs.main(question, model_provider=triage_script())
    assert (result.answered_by, result.text) == (specialist, answer)
    out = capsys.readouterr().out
    target = specialist.lower().replace(" ", "_")
    assert f"1. model call (Triage Assistant): calls transfer_to_{target}()" in out
    assert f"2. model call ({specialist}): calls " in out


# ------------------------------------------------------------------ 5. parallel agents


def parallel_script() -> ScriptedModelProvider:
    def first(items: list[Any]) -> list[Any]:
        question = first_user_text(items)
        if "IP" in question:
            return [tool_call("get_ip_address")]
        return [tool_call("get_weather_alerts", {"state": question.split()[-1].strip("?")})]

    return ScriptedModelProvider([first, answer_from_tool])


async def test_parallel_agents_demo(
    tool_log: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    briefing = await parallel_agents.main(["CA", "TX"], model_provider=parallel_script())
    assert briefing.alerts == {
        "CA": "From the tool: 2 active alerts for CA:",
        "TX": "From the tool: No active alerts for TX.",
    }
    assert briefing.network == "From the tool: Your public IP address is 203.0.113.50."
    assert sorted(tool for tool, _ in executions(tool_log)) == [
        "get_ip_address",
        "get_weather_alerts",
        "get_weather_alerts",
    ]
    out = capsys.readouterr().out
    # The three micro-agents' first model calls were scheduled together, before any tool ran.
    assert out.index("3. model call (IP Agent)") < out.index("4. tool ")
    assert "network: From the tool: Your public IP address is 203.0.113.50." in out
