"""``Runner.run(..., session=WorkflowSession(...))`` keeps a conversation in workflow state:
each turn sees the earlier ones, on replay too; I/O sessions are refused clearly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from agents import Agent, Runner, SQLiteSession

from duragent import Client, Worker, workflow
from duragent.openai_agents import OpenAIAgentsPlugin, WorkflowSession
from duragent.testing import ScriptedModelProvider, message

from ..waits import wait_for_task_failure

QUEUE = "sessions"


def _recall(items: list[Any]) -> list[Any]:
    """Answers with every user message the model was given, so the reply shows what the
    session carried."""
    said = [str(i.get("content")) for i in items if isinstance(i, dict) and i.get("role") == "user"]
    return [message(" / ".join(said))]


listener = Agent(name="listener", instructions="Listen.", model="listener")


@workflow.defn
class Conversation:
    def __init__(self) -> None:
        self.session = WorkflowSession("conversation")
        self.inbox: list[str] = []
        self.replies: list[str] = []

    @workflow.signal
    def say(self, text: str) -> None:
        self.inbox.append(text)

    @workflow.run
    async def run(self, turns: int) -> dict[str, Any]:
        while len(self.replies) < turns:
            await workflow.wait_condition(lambda: bool(self.inbox))
            text = self.inbox.pop(0)
            result = await Runner.run(listener, text, session=self.session)
            self.replies.append(str(result.final_output))
        return {"replies": self.replies, "items": len(self.session.items)}


@workflow.defn
class WithIOSession:
    @workflow.run
    async def run(self) -> str:
        result = await Runner.run(listener, "hi", session=SQLiteSession("s"))
        return str(result.final_output)


@pytest.fixture(params=[1000, 0], ids=["cached", "replay-every-task"])
async def session_worker(request: pytest.FixtureRequest, client: Client) -> AsyncIterator[Worker]:
    provider = ScriptedModelProvider({"listener": [_recall] * 10})
    async with Worker(
        client,
        task_queue=QUEUE,
        workflows=[Conversation, WithIOSession],
        max_cached_workflows=request.param,
        plugins=[OpenAIAgentsPlugin(model_provider=provider)],
    ) as w:
        yield w


async def test_each_turn_sees_the_conversation_so_far(
    session_worker: Worker, client: Client
) -> None:
    handle = await client.start_workflow(Conversation.run, 3, id="conv", task_queue=QUEUE)
    for text in ("hello", "my name is Ada", "what is my name?"):
        await handle.signal(Conversation.say, text)
    result = await handle.result(timeout=30)
    assert result["replies"] == [
        "hello",
        "hello / my name is Ada",
        "hello / my name is Ada / what is my name?",
    ]
    assert result["items"] == 6  # three user messages and three replies


async def test_a_session_that_does_io_is_refused(session_worker: Worker, client: Client) -> None:
    handle = await client.start_workflow(WithIOSession.run, id="io", task_queue=QUEUE)
    failure = (await wait_for_task_failure(handle)).task_failure or ""
    assert "a SQLiteSession does I/O and cannot be used inside a workflow" in failure
    assert "WorkflowSession" in failure
    await handle.terminate("test over")
