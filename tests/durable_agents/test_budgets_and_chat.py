"""Budgets stop a run before the model call that would exceed them; the built-in agent and
chat workflows run agents named by reference; a chat continues as new without losing its
conversation, its message count or its budget."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Final

import pytest
from agents import Agent, Runner, function_tool

from duragent import (
    ApplicationError,
    Client,
    UpdateFailedError,
    Worker,
    WorkflowFailureError,
    workflow,
)
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
from duragent.testing.scripted_model import ScriptedItem, ScriptedModelProvider, message, tool_call

QUEUE: Final = "budgets"
MODULE: Final = __name__


@function_tool
async def lookup(key: str) -> str:
    """Look a key up."""
    return f"value-{key}"


def _user_messages(items: list[Any]) -> list[str]:
    return [
        str(i.get("content", "")) for i in items if isinstance(i, dict) and i.get("role") == "user"
    ]


def _echo(items: list[Any]) -> Sequence[ScriptedItem]:
    """Replies to the latest user message and says how many it has seen in all."""
    users = _user_messages(items)
    return [message(f"#{len(users)}: you said {users[-1]}")]


# Four model calls: three tool calls, then the answer.
looper = Agent(name="looper", instructions="Look up k1..k3.", model="looper", tools=[lookup])
chatty = Agent(name="chatty", instructions="Chat.", model="chat")


def make_chat_agent() -> Agent[Any]:
    """An agent factory, named by reference like an agent."""
    return chatty


SCRIPTS: dict[str, list[Any]] = {
    "looper": [
        [tool_call("lookup", {"key": "k1"})],
        [tool_call("lookup", {"key": "k2"})],
        [tool_call("lookup", {"key": "k3"})],
        [message("k1, k2 and k3 looked up")],
    ],
    "chat": [_echo] * 20,
}


@workflow.defn
class LoopWithBudget:
    """``Runner.run`` in a workflow of one's own, with the plugin's default budget."""

    @workflow.run
    async def run(self) -> str:
        return str((await Runner.run(looper, "go")).final_output)


@pytest.fixture
def provider(tmp_path: Path) -> ScriptedModelProvider:
    return ScriptedModelProvider(SCRIPTS, call_log=tmp_path / "model-calls.log")


@pytest.fixture
async def worker(client: Client, provider: ScriptedModelProvider) -> AsyncIterator[Worker]:
    async with Worker(
        client,
        task_queue=QUEUE,
        max_cached_workflows=0,  # every task replays: budgets must survive replay
        plugins=[OpenAIAgentsPlugin(model_provider=provider)],
    ) as w:
        yield w


def budget_error(err: BaseException) -> ApplicationError:
    """The BudgetExceeded error in ``err``'s cause chain."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, ApplicationError) and seen.type == "BudgetExceeded":
            return seen
        seen = getattr(seen, "cause", None) or seen.__cause__
    raise AssertionError(f"no BudgetExceeded in the cause chain of {err!r}")


# --------------------------------------------------------------------------------- budgets


async def test_call_budget_stops_the_run_before_the_third_model_call(
    worker: Worker, client: Client, provider: ScriptedModelProvider
) -> None:
    handle = await start_agent(
        client,
        f"{MODULE}:looper",
        "go",
        id="calls",
        task_queue=QUEUE,
        budget=Budget(max_model_calls=2),
    )
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result(timeout=30)
    err = budget_error(info.value)
    assert "2 model calls made, limit 2" in str(err)
    assert err.non_retryable
    assert len(provider.calls()) == 2  # the third call was never made
    report = await usage_report(client, "calls")
    assert report.model_calls == 2
    assert report.provider_calls == 2


async def test_token_budget_stops_the_run_once_it_is_spent(
    worker: Worker, client: Client, provider: ScriptedModelProvider
) -> None:
    limit = 150
    handle = await start_agent(
        client, looper, "go", id="tokens", task_queue=QUEUE, budget=Budget(max_tokens=limit)
    )
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result(timeout=30)
    assert f"limit {limit}" in str(budget_error(info.value))
    report = await usage_report(client, "tokens")
    spent = [c.total_tokens for c in report.calls]
    assert len(spent) == len(provider.calls()) < 4
    # Each call was allowed because less than the limit had been spent before it; the run
    # stopped at the first call for which the limit was already reached.
    assert sum(spent[:-1]) < limit <= sum(spent)


async def test_plugin_budget_applies_to_every_run(
    client: Client, provider: ScriptedModelProvider
) -> None:
    async with Worker(
        client,
        task_queue=QUEUE,
        workflows=[LoopWithBudget],
        plugins=[OpenAIAgentsPlugin(model_provider=provider, budget=Budget(max_model_calls=3))],
    ):
        handle = await client.start_workflow(LoopWithBudget.run, id="p", task_queue=QUEUE)
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result(timeout=30)
    assert "3 model calls made, limit 3" in str(budget_error(info.value))
    assert len(provider.calls()) == 3


# ------------------------------------------------------------------ the built-in workflows


async def test_built_in_agent_workflow_returns_the_outcome_with_usage(
    worker: Worker, client: Client, provider: ScriptedModelProvider
) -> None:
    handle = await start_agent(client, f"{MODULE}:looper", "go", id="agent", task_queue=QUEUE)
    outcome = await handle.result(timeout=30)
    assert isinstance(outcome, AgentOutcome)
    assert outcome.final_output == "k1, k2 and k3 looked up"
    assert outcome.last_agent == "looper"
    report = await usage_report(client, "agent")
    assert outcome.usage.model_calls == report.model_calls == 4
    assert outcome.usage.input_tokens == report.input_tokens > 0
    assert outcome.usage.output_tokens == report.output_tokens > 0
    assert outcome.usage.served_from_history == 3  # every task replays on this worker
    assert len(provider.calls()) == 4
    assert (await handle.describe()).workflow_type == "duragent.Agent"


async def test_built_in_agent_workflow_reports_an_unknown_agent(
    worker: Worker, client: Client
) -> None:
    handle = await start_agent(client, f"{MODULE}:no_such_agent", "go", id="bad", task_queue=QUEUE)
    with pytest.raises(WorkflowFailureError, match="agent cannot be loaded from"):
        await handle.result(timeout=30)


async def test_chat_keeps_the_conversation_across_continue_as_new(
    worker: Worker, client: Client, provider: ScriptedModelProvider
) -> None:
    chat = await start_chat(
        client, make_chat_agent, id="chat", task_queue=QUEUE, messages_per_run=2
    )
    replies = [await send_message(client, "chat", f"m{i}") for i in range(1, 6)]
    # The model saw every earlier message, in every run of the conversation.
    assert replies == [f"#{i}: you said m{i}" for i in range(1, 6)]
    runs = client.store.runs_of_workflow("chat")
    assert len(runs) == 3  # 2 + 2 + 1 messages
    transcript = await client.get_workflow_handle("chat").query(ChatWorkflow.transcript)
    assert _user_messages(transcript) == [f"m{i}" for i in range(1, 6)]
    assistant = [i for i in transcript if i.get("role") == "assistant"]
    assert len(assistant) == 5
    await client.get_workflow_handle("chat").signal(ChatWorkflow.end)
    summary = await chat.result(timeout=30)
    assert summary.messages == 5
    assert summary.history_items == len(transcript)
    assert len(provider.calls()) == 5
    assert (await usage_report(client, "chat")).model_calls == 5


async def test_chat_budget_spans_continue_as_new(
    worker: Worker, client: Client, provider: ScriptedModelProvider
) -> None:
    await start_chat(
        client,
        f"{MODULE}:chatty",
        id="chat",
        task_queue=QUEUE,
        messages_per_run=2,
        budget=Budget(max_model_calls=3),
    )
    for i in range(1, 4):  # the third message is answered by the second run
        assert await send_message(client, "chat", f"m{i}") == f"#{i}: you said m{i}"
    assert len(client.store.runs_of_workflow("chat")) == 2
    with pytest.raises(UpdateFailedError) as info:
        await send_message(client, "chat", "m4")
    assert "3 model calls made, limit 3" in str(budget_error(info.value))
    assert len(provider.calls()) == 3
    # The conversation is still there and still running; the refused turn left nothing.
    handle = client.get_workflow_handle("chat")
    assert (await handle.describe()).status == "running"
    transcript = await handle.query(ChatWorkflow.transcript)
    assert _user_messages(transcript) == ["m1", "m2", "m3"]
    await asyncio.wait_for(handle.terminate("done"), 10)


async def test_chat_without_a_budget_of_its_own_has_the_plugin_budget(
    client: Client, provider: ScriptedModelProvider
) -> None:
    async with Worker(
        client,
        task_queue=QUEUE,
        plugins=[OpenAIAgentsPlugin(model_provider=provider, budget=Budget(max_model_calls=2))],
    ):
        await start_chat(client, f"{MODULE}:chatty", id="chat", task_queue=QUEUE)
        await send_message(client, "chat", "m1")
        await send_message(client, "chat", "m2")
        try:
            with pytest.raises(UpdateFailedError):
                await send_message(client, "chat", "m3")
        finally:
            await client.get_workflow_handle("chat").terminate("done")


async def test_each_worker_keeps_its_own_plugin_budget(
    client: Client, provider: ScriptedModelProvider
) -> None:
    limited = Worker(
        client,
        task_queue=QUEUE,
        workflows=[LoopWithBudget],
        plugins=[OpenAIAgentsPlugin(model_provider=provider, budget=Budget(max_model_calls=1))],
    )
    unlimited = Worker(
        client,
        task_queue="unlimited",
        workflows=[LoopWithBudget],
        plugins=[OpenAIAgentsPlugin(model_provider=provider)],
    )
    async with limited, unlimited:
        handle = await client.start_workflow(LoopWithBudget.run, id="p", task_queue=QUEUE)
        with pytest.raises(WorkflowFailureError):
            await handle.result(timeout=30)
