"""Tools that need approval pause the run durably until a human decides.

The worker keeps no run in memory (``max_cached_workflows=0``), so a waiting run is rebuilt
by replay for every decision. Decisions arrive as updates (:func:`decide`); what is waiting
is read from history (:func:`pending_approvals`), with or without a worker running. With
the time-skipping environment a decision can arrive days later, or never: the workflow at
the end of this module rejects on its own after three days.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any, Final

import pytest
from agents import Agent, function_tool

from duragent import (
    Client,
    UpdateRejectedError,
    Worker,
    WorkflowHandle,
    WorkflowNotRunningError,
    workflow,
)
from duragent.openai_agents import (
    ApprovalDecision,
    ApprovalRequest,
    ApprovalsMixin,
    ChatWorkflow,
    OpenAIAgentsPlugin,
    decide,
    pending_approvals,
    send_message,
    start_agent,
    start_chat,
)
from duragent.testing import WorkflowEnvironment
from duragent.testing.scripted_model import ScriptedItem, ScriptedModelProvider, message, tool_call

QUEUE: Final = "approvals"
SENT: list[str] = []
"""Every execution of ``send_money`` (the worker runs in this process)."""
DEADLINE: Final = timedelta(days=3)
AUTO_REJECTION: Final = "No decision within 3 days: rejected automatically."


@function_tool(needs_approval=True)
async def send_money(to: str, amount: float) -> str:
    """Send money to someone (needs a human's approval)."""
    SENT.append(f"{to}:{amount:g}")
    return f"sent {amount:g} to {to}"


def _report(items: list[Any]) -> Sequence[ScriptedItem]:
    """The model's answer after its tool calls: what the last one came back with."""
    outputs = [
        str(i.get("output", ""))
        for i in items
        if isinstance(i, dict) and i.get("type") == "function_call_output"
    ]
    output = outputs[-1] if outputs else "(no tool output)"
    return [message(f"Done: {output}." if output.startswith("sent ") else f"Not sent: {output}")]


banker = Agent(name="banker", instructions="Move money.", model="banker", tools=[send_money])
splitter = Agent(name="splitter", instructions="Split.", model="splitter", tools=[send_money])
SCRIPTS = {
    "banker": [[tool_call("send_money", {"to": "ada", "amount": 5})], _report],
    "splitter": [  # two calls in one turn: two pending approvals
        [
            tool_call("send_money", {"to": "ada", "amount": 5}),
            tool_call("send_money", {"to": "bob", "amount": 7}),
        ],
        _report,
    ],
}
AGENTS = {a.name: a for a in (banker, splitter)}
BANKER_REF: Final = f"{__name__}:banker"


@workflow.defn
class Banker(ApprovalsMixin):
    """Runs the banker agent; ``send_money`` waits for a decision."""

    @workflow.run
    async def run(self, question: str, agent: str = "banker") -> str:
        return str((await self.run_agent(AGENTS[agent], question)).final_output)


@workflow.defn
class BankerWithDeadline(ApprovalsMixin):
    """Like :class:`Banker`, but a request nobody decides within three days is rejected.

    The mixin's ``run_agent`` waits as long as it takes; this workflow runs it as a task and
    watches its pending requests with a durable timer next to it.
    """

    @workflow.run
    async def run(self, question: str) -> dict[str, Any]:
        started = workflow.now()
        agent_run = asyncio.ensure_future(self.run_agent(banker, question))
        while not agent_run.done():
            await workflow.wait_condition(
                lambda: agent_run.done() or bool(self.duragent_pending_approvals())
            )
            if agent_run.done():
                break
            try:
                await workflow.wait_condition(
                    lambda: agent_run.done() or not self.duragent_pending_approvals(),
                    timeout=DEADLINE,
                )
            except TimeoutError:
                for request in self.duragent_pending_approvals():
                    # Decide on the human's behalf, as the update handler would.
                    self.duragent_decide_approval(
                        ApprovalDecision(request.call_id, approve=False, message=AUTO_REJECTION)
                    )
        result = await agent_run
        waited = workflow.now() - started
        return {"output": str(result.final_output), "waited_hours": waited.total_seconds() / 3600}


def plugin() -> OpenAIAgentsPlugin:
    return OpenAIAgentsPlugin(model_provider=ScriptedModelProvider(SCRIPTS))


def worker(client: Client) -> Worker:
    """A worker that evicts every run after each task: a waiting run uses no memory."""
    return Worker(
        client,
        task_queue=QUEUE,
        workflows=[Banker, BankerWithDeadline],
        max_cached_workflows=0,
        plugins=[plugin()],
    )


@pytest.fixture
async def running_worker(client: Client) -> AsyncIterator[Worker]:
    SENT.clear()
    async with worker(client) as w:
        yield w


async def wait_for_requests(handle: WorkflowHandle[Any], n: int) -> list[ApprovalRequest]:
    """Poll history until the run asks for ``n`` decisions."""
    for _ in range(1500):
        pending = await pending_approvals(handle)
        if len(pending) >= n:
            assert len(pending) == n
            return pending
        await asyncio.sleep(0.01)
    raise AssertionError(f"{handle.id} never asked for {n} approvals")


async def wait_for_request(handle: WorkflowHandle[Any]) -> ApprovalRequest:
    return (await wait_for_requests(handle, 1))[0]


def decisions_in_history(events: Sequence[Any]) -> int:
    return sum(1 for e in events if e.TYPE == "WorkflowExecutionUpdateAccepted")


async def test_approval_pauses_the_run_and_approving_runs_the_tool_once(
    running_worker: Worker, client: Client
) -> None:
    handle = await client.start_workflow(Banker.run, "Pay ada 5", id="b", task_queue=QUEUE)
    request = await wait_for_request(handle)
    assert request.tool == "send_money"
    assert request.agent == "banker"
    assert json.loads(request.arguments) == {"to": "ada", "amount": 5}
    assert SENT == []  # nothing runs before the decision
    # The workflow (rebuilt by replay for the query) agrees with history.
    queried = await handle.query("duragent_pending_approvals")
    assert [r["call_id"] for r in queried] == [request.call_id]
    assert await decide(handle, request.call_id, approve=True) == "approved"
    assert await handle.result(timeout=30) == "Done: sent 5 to ada."
    assert SENT == ["ada:5"]
    assert await pending_approvals(handle) == []
    # The tool ran as an activity, once, after the decision.
    events = (await handle.fetch_history()).events
    tools = [
        e
        for e in events
        if e.TYPE == "ActivityTaskScheduled" and getattr(e, "summary", "") == "send_money"
    ]
    assert len(tools) == 1
    assert decisions_in_history(events) == 1


async def test_rejection_reaches_the_model_and_the_tool_never_runs(
    running_worker: Worker, client: Client
) -> None:
    handle = await client.start_workflow(Banker.run, "Pay ada 5", id="b", task_queue=QUEUE)
    request = await wait_for_request(handle)
    result = await decide(handle, request.call_id, approve=False, message="Ada is not a payee.")
    assert result == "rejected"
    assert await handle.result(timeout=30) == "Not sent: Ada is not a payee."
    assert SENT == []
    events = (await handle.fetch_history()).events
    assert not any(getattr(e, "summary", "") == "send_money" for e in events)
    # The last model call's input carries the rejection as the tool's output.
    model_inputs = [
        e.input[0].to_json_value()["input"]  # type: ignore[attr-defined]
        for e in events
        if e.TYPE == "ActivityTaskScheduled" and getattr(e, "summary", "") == "banker"
    ]
    outputs = [i for i in model_inputs[-1] if i.get("type") == "function_call_output"]
    assert [o["call_id"] for o in outputs] == [request.call_id]
    assert outputs[0]["output"] == "Ada is not a payee."


async def test_unknown_or_repeated_decisions_are_rejected_and_leave_no_trace(
    running_worker: Worker, client: Client
) -> None:
    handle = await client.start_workflow(
        Banker.run, args=["Pay ada 5 and bob 7", "splitter"], id="b", task_queue=QUEUE
    )
    first, second = await wait_for_requests(handle, 2)
    with pytest.raises(UpdateRejectedError) as info:
        await decide(handle, "call-that-does-not-exist", approve=True)
    text = f"{info.value} {info.value.cause}"
    assert "no tool call 'call-that-does-not-exist' is waiting for approval" in text
    assert first.call_id in text
    assert second.call_id in text  # it names what is pending
    assert decisions_in_history((await handle.fetch_history()).events) == 0

    # One decided, one still pending: the run waits for both.
    await decide(handle, first.call_id, approve=True)
    assert await pending_approvals(handle) == [second]
    with pytest.raises(UpdateRejectedError, match="already decided"):
        await decide(handle, first.call_id, approve=False)
    assert decisions_in_history((await handle.fetch_history()).events) == 1
    assert SENT == []

    await decide(handle, second.call_id, approve=False, message="Bob is not a payee.")
    assert await handle.result(timeout=30) == "Not sent: Bob is not a payee."
    assert SENT == ["ada:5"]
    # A decision for a closed run has nowhere to go.
    with pytest.raises(WorkflowNotRunningError):
        await decide(handle, second.call_id, approve=True)


async def test_built_in_agent_workflow_waits_for_approval(
    running_worker: Worker, client: Client
) -> None:
    handle = await start_agent(client, BANKER_REF, "Pay ada 5", id="builtin", task_queue=QUEUE)
    request = await wait_for_request(handle)
    await decide(handle, request.call_id, approve=True)
    outcome = await handle.result(timeout=30)
    assert outcome.final_output == "Done: sent 5 to ada."
    assert outcome.last_agent == "banker"
    assert outcome.usage.model_calls == 2
    assert SENT == ["ada:5"]


async def test_a_chat_turn_waits_for_approval(running_worker: Worker, client: Client) -> None:
    chat = await start_chat(client, BANKER_REF, id="chat", task_queue=QUEUE)
    reply = asyncio.create_task(send_message(client, "chat", "Pay ada 5"))
    handle = client.get_workflow_handle("chat")
    request = await wait_for_request(handle)
    assert not reply.done()  # the user's message waits for the decision
    await decide(handle, request.call_id, approve=True)
    assert await asyncio.wait_for(reply, 30) == "Done: sent 5 to ada."
    assert SENT == ["ada:5"]
    await handle.signal(ChatWorkflow.end)
    assert (await chat.result(timeout=30)).messages == 1


async def test_a_waiting_run_survives_a_worker_restart(client: Client) -> None:
    SENT.clear()
    async with worker(client):
        handle = await client.start_workflow(Banker.run, "Pay ada 5", id="b", task_queue=QUEUE)
        request = await wait_for_request(handle)
    # No worker at all: the request is still there, read from history.
    assert await pending_approvals(handle) == [request]
    assert (await handle.describe()).status == "running"
    async with worker(client):  # a new worker (a new process, as far as the run knows)
        await decide(handle, request.call_id, approve=True)
        assert await handle.result(timeout=30) == "Done: sent 5 to ada."
    assert SENT == ["ada:5"]


# ------------------------------------------------------------------ days later, or never


async def test_a_decision_two_days_later_is_applied() -> None:
    SENT.clear()
    async with await WorkflowEnvironment.start_time_skipping() as env, worker(env.client):
        with env.auto_time_skipping_disabled():
            handle = await env.client.start_workflow(
                BankerWithDeadline.run, "Pay ada 5", id="late", task_queue=QUEUE
            )
            request = await wait_for_request(handle)
            await env.sleep(timedelta(days=2))
            assert await pending_approvals(handle) == [request]
            await decide(handle, request.call_id, approve=True)
        result = await handle.result(timeout=30)
    assert result["output"] == "Done: sent 5 to ada."
    assert 48 <= result["waited_hours"] < 72
    assert SENT == ["ada:5"]


async def test_no_decision_within_three_days_rejects_automatically() -> None:
    SENT.clear()
    async with await WorkflowEnvironment.start_time_skipping() as env, worker(env.client):
        handle = await env.client.start_workflow(
            BankerWithDeadline.run, "Pay ada 5", id="never", task_queue=QUEUE
        )
        # Nobody decides: time skips to the deadline.
        result = await handle.result(timeout=30)
        assert await pending_approvals(handle) == []
    assert result["output"] == f"Not sent: {AUTO_REJECTION}"
    assert result["waited_hours"] >= 72
    assert SENT == []
