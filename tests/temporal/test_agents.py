"""Durable agents on Temporal with Duragent's own ``OpenAIAgentsPlugin`` (not temporalio's
contrib plugin): model calls and every tool are Temporal activities; handoffs, agents as
tools, guardrails, parallel runs, child-workflow agents, at-most-once tools and approvals
work as on the embedded engine. The agents are ``tests/durable_agents/agents_app.py``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from duragent.openai_agents import OpenAIAgentsPlugin
from duragent.testing.scripted_model import ScriptedModelProvider

from ..durable_agents.agents_app import ACTIVITIES, SCRIPTS, WORKFLOWS, flaky_calls
from ..durable_agents.test_agent_runs import tool_lines

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def tool_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "tools.log"
    monkeypatch.setenv("DURAGENT_TEST_LOG", str(path))
    return path


@pytest.fixture
def provider(tmp_path: Path) -> ScriptedModelProvider:
    return ScriptedModelProvider(SCRIPTS, call_log=tmp_path / "calls.log")


@pytest.fixture(params=[1000, 0], ids=["cached", "replay-every-task"])
async def agent_worker(
    request: pytest.FixtureRequest,
    temporal_worker: Callable[..., AbstractAsyncContextManager[Any]],
    provider: ScriptedModelProvider,
    tool_log: Path,
) -> AsyncIterator[Any]:
    async with temporal_worker(
        workflows=WORKFLOWS,
        activities=ACTIVITIES,
        plugins=[OpenAIAgentsPlugin(model_provider=provider)],
        max_cached_workflows=request.param,
    ) as worker:
        yield worker


async def ask(tclient: Any, task_queue: str, agent: str, question: str = "?") -> Any:
    handle = await tclient.start_workflow(
        "AskAgent", args=[agent, question], id=f"ask-{uuid.uuid4().hex[:8]}", task_queue=task_queue
    )
    return await handle.result()


async def test_tools_handoffs_agents_as_tools_structured_output(
    agent_worker: Any,
    tclient: Any,
    task_queue: str,
    tool_log: Path,
    provider: ScriptedModelProvider,
) -> None:
    from temporalio.api.enums.v1 import EventType

    handle = await tclient.start_workflow(
        "AskAgent",
        args=["weather", "Paris?"],
        id=f"w-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
    )
    assert await handle.result() == "Sunny in Paris, 69.8F."
    assert tool_lines(tool_log) == ["tool get_weather Paris", "tool convert 21.0"]
    assert len(provider.calls()) == 3  # once per turn, even when every task replays
    history = await handle.fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert scheduled == [
        "duragent.openai_agents.invoke_model",
        "duragent.openai_agents.invoke_tool",
        "duragent.openai_agents.invoke_model",
        "duragent.openai_agents.invoke_tool",
        "duragent.openai_agents.invoke_model",
    ]
    assert await ask(tclient, task_queue, "triage") == "Sunny in Paris, 69.8F."
    assert await ask(tclient, task_queue, "orchestrator") == "It is 212.0F."
    assert (await ask(tclient, task_queue, "forecaster"))["city"] == "Oslo"


async def test_retries_guardrails_parallel_and_child_agents(
    agent_worker: Any, tclient: Any, task_queue: str, tool_log: Path
) -> None:
    flaky_calls.clear()
    assert await ask(tclient, task_queue, "flaky") == "done"
    assert tool_lines(tool_log) == ["tool flaky_lookup k 1", "tool flaky_lookup k 2"]
    for question, expected in (("help with my homework", "refused"), ("hello", "ok")):
        handle = await tclient.start_workflow(
            "Guarded", question, id=f"g-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
        assert await handle.result() == expected
    handle = await tclient.start_workflow(
        "Parallel", id=f"p-{uuid.uuid4().hex[:8]}", task_queue=task_queue
    )
    assert await handle.result() == "alpha beta gamma"
    handle = await tclient.start_workflow(
        "ParentOfAgents", id=f"c-{uuid.uuid4().hex[:8]}", task_queue=task_queue
    )
    weather, forecast = await handle.result()
    assert weather == "Sunny in Paris, 69.8F."
    assert forecast["city"] == "Oslo"


async def test_at_most_once_tool(
    agent_worker: Any, tclient: Any, task_queue: str, tool_log: Path
) -> None:
    assert await ask(tclient, task_queue, "payer") == "Payment handled."
    assert tool_lines(tool_log) == ["activity charge_card 9.5"]


async def test_approvals_wait_for_a_human_and_can_be_listed(
    agent_worker: Any, tclient: Any, task_queue: str, tool_log: Path
) -> None:
    from duragent.openai_agents.approvals import ApprovalDecision

    workflow_id = f"bank-{uuid.uuid4().hex[:8]}"
    handle = await tclient.start_workflow(
        "AskAgent", args=["banker", "pay ada"], id=workflow_id, task_queue=task_queue
    )
    pending: list[Any] = []
    for _ in range(100):
        pending = await handle.query("duragent_pending_approvals")
        if pending:
            break
        await asyncio.sleep(0.1)
    assert [p["tool"] for p in pending] == ["send_money"]
    # The request is in memo (readable with no worker) and the run is listed as waiting.
    memo = await (await handle.describe()).memo()
    assert [v["tool"] for k, v in memo.items() if k.startswith("duragent.marker.")] == [
        "send_money"
    ]
    listed: list[str] = []
    for _ in range(100):  # visibility is eventually consistent
        listed = [
            w.id
            async for w in tclient.list_workflows(
                f"DuragentPendingApprovals > 0 AND WorkflowId = '{workflow_id}'"
            )
        ]
        if listed:
            break
        await asyncio.sleep(0.1)
    assert listed == [workflow_id]
    assert tool_lines(tool_log) == []
    call_id = pending[0]["call_id"]
    assert (
        await handle.execute_update(
            "duragent_decide_approval", ApprovalDecision(call_id=call_id, approve=True)
        )
        == "approved"
    )
    assert await handle.result() == "Sent."
    assert tool_lines(tool_log) == ["tool send_money ada 5.0"]
