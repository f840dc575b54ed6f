"""The Agents SDK inside durable workflows: tools, handoffs, agents-as-tools, guardrails,
structured output, parallel agents, child workflows, retries; all replaying."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from duragent import Client, Worker
from duragent.testing.scripted_model import ScriptedModelProvider

from .agents_app import AskAgent, Guarded, Parallel, ParentOfAgents, flaky_calls


def tool_lines(log: Path) -> list[str]:
    return (
        [" ".join(line.split()[:-1]) for line in log.read_text().splitlines()]
        if log.exists()
        else []
    )


async def ask(client: Client, agent: str, question: str = "?", wf_id: str = "a") -> Any:
    handle = await client.start_workflow(
        AskAgent.run, args=[agent, question], id=wf_id, task_queue="agents"
    )
    return await handle.result(timeout=30)


async def test_tools_run_as_activities(
    worker: Worker, client: Client, tool_log: Path, provider: ScriptedModelProvider
) -> None:
    assert await ask(client, "weather", "Weather in Paris?") == "Sunny in Paris, 69.8F."
    assert tool_lines(tool_log) == ["tool get_weather Paris", "tool convert 21.0"]
    history = await client.get_workflow_handle("a").fetch_history()
    activities = [
        getattr(e, "summary", "") for e in history.events if e.TYPE == "ActivityTaskScheduled"
    ]
    assert activities == ["weather", "get_weather", "weather", "convert", "weather"]
    assert len(provider.calls()) == 3  # the model was called exactly once per turn


async def test_handoff(worker: Worker, client: Client) -> None:
    assert await ask(client, "triage", "Weather?") == "Sunny in Paris, 69.8F."


async def test_structured_output(worker: Worker, client: Client) -> None:
    assert await ask(client, "forecaster") == {
        "city": "Oslo",
        "temperature_c": 4.5,
        "summary": "Cold",
    }


async def test_agent_as_tool(worker: Worker, client: Client, tool_log: Path) -> None:
    assert await ask(client, "orchestrator") == "It is 212.0F."
    assert tool_lines(tool_log) == ["tool convert 100.0"]


async def test_tool_retries_then_error_reaches_the_model(
    worker: Worker, client: Client, tool_log: Path
) -> None:
    flaky_calls.clear()
    assert await ask(client, "flaky") == "done"
    assert tool_lines(tool_log) == ["tool flaky_lookup k 1", "tool flaky_lookup k 2"]
    history = await client.get_workflow_handle("a").fetch_history()
    outputs = [
        e
        for e in history.events
        if e.TYPE == "ActivityTaskScheduled" and getattr(e, "summary", "") == "flaky"
    ]
    last_input = outputs[-1].input[0].to_json_value()  # type: ignore[attr-defined]
    tool_outputs = [
        i["output"] for i in last_input["input"] if i.get("type") == "function_call_output"
    ]
    assert tool_outputs[0] == "value of k"
    assert "error" in tool_outputs[1].lower()


async def test_input_guardrail(worker: Worker, client: Client) -> None:
    h1 = await client.start_workflow(
        Guarded.run, "help with my homework", id="g1", task_queue="agents"
    )
    h2 = await client.start_workflow(Guarded.run, "hello", id="g2", task_queue="agents")
    assert await h1.result(timeout=30) == "refused"
    assert await h2.result(timeout=30) == "ok"


async def test_parallel_micro_agents(worker: Worker, client: Client) -> None:
    handle = await client.start_workflow(Parallel.run, id="par", task_queue="agents")
    assert await handle.result(timeout=30) == "alpha beta gamma"


async def test_agents_in_child_workflows(worker: Worker, client: Client) -> None:
    handle = await client.start_workflow(ParentOfAgents.run, id="parent", task_queue="agents")
    weather, forecast = await handle.result(timeout=30)
    assert weather == "Sunny in Paris, 69.8F."
    assert forecast["city"] == "Oslo"
