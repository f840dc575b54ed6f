"""Durable agents on both backends, with Duragent's own plugin and the scripted model:
tools, handoffs, agents as tools, structured output, retries, guardrails, parallel and
child-workflow agents, at-most-once tools, approvals (listed and read with no worker
running), the usage report, budgets, ``WorkflowSession`` and the built-in agent and chat
workflows. The agents are ``tests/durable_agents/agents_app.py``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from duragent import Client, Worker, WorkflowFailureError, WorkflowStatus
from duragent.openai_agents import (
    AgentOutcome,
    Budget,
    ChatWorkflow,
    OpenAIAgentsPlugin,
    send_message,
    start_agent,
    start_chat,
    usage_report,
)
from duragent.openai_agents.approvals import decide, pending_approvals
from duragent.testing.scripted_model import ScriptedModelProvider

from ..durable_agents import test_budgets_and_chat as budgets
from ..durable_agents import test_workflow_session as sessions
from ..durable_agents.agents_app import ACTIVITIES, SCRIPTS, WORKFLOWS, AskAgent, flaky_calls
from ..durable_agents.test_agent_runs import tool_lines

pytestmark = pytest.mark.timeout(120)

Ids = Callable[[str], str]
ALL_SCRIPTS = {**SCRIPTS, **budgets.SCRIPTS, "listener": [sessions._recall] * 10}  # pyright: ignore[reportPrivateUsage]


@pytest.fixture
def tool_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "tools.log"
    monkeypatch.setenv("DURAGENT_TEST_LOG", str(path))
    return path


@pytest.fixture
def provider(tmp_path: Path) -> ScriptedModelProvider:
    return ScriptedModelProvider(ALL_SCRIPTS, call_log=tmp_path / "calls.log")


@pytest.fixture
async def agent_worker(
    client: Client,
    task_queue: str,
    provider: ScriptedModelProvider,
    tool_log: Path,
    max_cached: int,
) -> AsyncIterator[Worker]:
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[*WORKFLOWS, budgets.LoopWithBudget, sessions.Conversation],
        activities=ACTIVITIES,
        plugins=[OpenAIAgentsPlugin(model_provider=provider)],
        max_cached_workflows=max_cached,
    ) as worker:
        yield worker


async def ask(
    client: Client, task_queue: str, agent: str, question: str = "?", *, id: str = ""
) -> Any:
    return await client.execute_workflow(
        AskAgent.run,
        args=[agent, question],
        id=id or f"ask-{agent}-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
    )


async def test_tools_handoffs_agents_as_tools_structured_output_and_usage(
    agent_worker: Worker,
    client: Client,
    task_queue: str,
    new_id: Ids,
    tool_log: Path,
    provider: ScriptedModelProvider,
) -> None:
    wid = new_id("weather")
    assert await ask(client, task_queue, "weather", "Paris?", id=wid) == "Sunny in Paris, 69.8F."
    assert tool_lines(tool_log) == ["tool get_weather Paris", "tool convert 21.0"]
    assert len(provider.calls()) == 3  # once per turn, even when every task replays
    report = await usage_report(client, wid)
    assert report.model_calls == report.provider_calls == 3
    assert report.repaid_calls == report.repaid_tokens == 0
    assert report.input_tokens > 0 and report.output_tokens > 0
    assert set(report.by_agent) == {"weather"}
    assert [c.seq for c in report.calls] == [1, 3, 5]  # model calls among the activities
    assert report.handovers == 0  # one worker ran it all
    assert await ask(client, task_queue, "triage") == "Sunny in Paris, 69.8F."
    assert await ask(client, task_queue, "orchestrator") == "It is 212.0F."
    assert (await ask(client, task_queue, "forecaster"))["city"] == "Oslo"


async def test_retries_guardrails_parallel_and_child_agents(
    agent_worker: Worker, client: Client, task_queue: str, new_id: Ids, tool_log: Path
) -> None:
    flaky_calls.clear()
    assert await ask(client, task_queue, "flaky") == "done"
    assert tool_lines(tool_log) == ["tool flaky_lookup k 1", "tool flaky_lookup k 2"]
    for question, expected in (("help with my homework", "refused"), ("hello", "ok")):
        assert (
            await client.execute_workflow(
                "Guarded", question, id=new_id("g"), task_queue=task_queue
            )
            == expected
        )
    assert (
        await client.execute_workflow("Parallel", id=new_id("p"), task_queue=task_queue)
        == "alpha beta gamma"
    )
    parent = new_id("c")
    weather, forecast = await client.execute_workflow(
        "ParentOfAgents", id=parent, task_queue=task_queue
    )
    assert weather == "Sunny in Paris, 69.8F."
    assert forecast["city"] == "Oslo"
    report = await usage_report(client, parent)  # the children's calls count
    assert report.model_calls == 4 and len(report.runs) == 3


async def test_at_most_once_tool(
    agent_worker: Worker, client: Client, task_queue: str, tool_log: Path
) -> None:
    assert await ask(client, task_queue, "payer") == "Payment handled."
    assert tool_lines(tool_log) == ["activity charge_card 9.5"]


async def test_approvals_wait_for_a_human_with_no_worker_running(
    client: Client,
    task_queue: str,
    new_id: Ids,
    provider: ScriptedModelProvider,
    tool_log: Path,
) -> None:
    plugin = OpenAIAgentsPlugin(model_provider=provider)
    wid = new_id("bank")
    async with Worker(
        client, task_queue=task_queue, workflows=WORKFLOWS, activities=ACTIVITIES, plugins=[plugin]
    ):
        handle = await client.start_workflow(
            AskAgent.run, args=["banker", "pay ada"], id=wid, task_queue=task_queue
        )
        for _ in range(200):
            if await pending_approvals(handle):
                break
            await asyncio.sleep(0.05)
    # No worker: the request is read from history, and the run is listed as waiting.
    (request,) = await pending_approvals(handle)
    assert (request.tool, request.agent) == ("send_money", "banker")
    listed: list[str] = []
    for _ in range(200):  # Temporal's visibility is eventually consistent
        listed = [
            e.id
            for e in await client.list_workflows(workflow_id_prefix=wid, waiting_for_approval=True)
        ]
        if listed:
            break
        await asyncio.sleep(0.05)
    assert listed == [wid]
    assert tool_lines(tool_log) == []
    async with Worker(
        client, task_queue=task_queue, workflows=WORKFLOWS, activities=ACTIVITIES, plugins=[plugin]
    ):
        assert await decide(handle, request.call_id, approve=True) == "approved"
        assert await handle.result(timeout=30) == "Sent."
    assert tool_lines(tool_log) == ["tool send_money ada 5.0"]
    assert await pending_approvals(handle) == []
    waiting: list[Any] = []
    for _ in range(200):
        waiting = await client.list_workflows(workflow_id_prefix=wid, waiting_for_approval=True)
        if not waiting:
            break
        await asyncio.sleep(0.05)
    assert waiting == []


async def test_budgets_session_and_built_in_workflows(
    agent_worker: Worker,
    client: Client,
    task_queue: str,
    new_id: Ids,
    provider: ScriptedModelProvider,
) -> None:
    looper = f"{budgets.MODULE}:looper"
    capped = new_id("calls")
    handle = await start_agent(
        client, looper, "go", id=capped, task_queue=task_queue, budget=Budget(max_model_calls=2)
    )
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result(timeout=30)
    assert "2 model calls made, limit 2" in str(budgets.budget_error(info.value))
    assert len(provider.calls()) == 2  # the third call was never made
    assert (await usage_report(client, capped)).model_calls == 2

    done = new_id("agent")
    outcome = await (
        await start_agent(client, looper, "go", id=done, task_queue=task_queue)
    ).result(timeout=30)
    assert isinstance(outcome, AgentOutcome)
    assert outcome.final_output == "k1, k2 and k3 looked up"
    assert outcome.usage.model_calls == (await usage_report(client, done)).model_calls == 4

    chat_id = new_id("chat")
    chat = await start_chat(
        client, budgets.make_chat_agent, id=chat_id, task_queue=task_queue, messages_per_run=2
    )
    replies = [await send_message(client, chat_id, f"m{i}") for i in range(1, 4)]
    assert replies == [f"#{i}: you said m{i}" for i in range(1, 4)]
    runs = await client.backend.runs_of_workflow(chat_id)
    assert len(runs) == 2  # continued as new after two messages
    await client.get_workflow_handle(chat_id).signal(ChatWorkflow.end)
    assert (await chat.result(timeout=30)).messages == 3
    assert (await usage_report(client, chat_id)).model_calls == 3

    talk = await client.start_workflow(
        sessions.Conversation.run, 2, id=new_id("conv"), task_queue=task_queue
    )
    for text in ("hello", "my name is Ada"):
        await talk.signal(sessions.Conversation.say, text)
    result = await talk.result(timeout=30)
    assert result["replies"] == ["hello", "hello / my name is Ada"]
    assert (await talk.describe()).status == WorkflowStatus.COMPLETED
