"""The run context (``Runner.run(..., context=...)``) reaches tools that run as activities,
and what a tool changes in it comes back to the workflow, on replay too."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pydantic
import pytest
from agents import Agent, FunctionTool, RunContextWrapper, Runner, function_tool

from duragent import Client, SerializationError, Worker, workflow
from duragent.openai_agents import OpenAIAgentsPlugin, start_agent
from duragent.openai_agents._wire import AGENT_FORMAT_VERSION
from duragent.testing import ScriptedModelProvider, message, tool_call

from ..waits import wait_for_task_failure

QUEUE = "context"


@dataclass
class Account:
    user: str
    visits: list[str] = field(default_factory=lambda: [])


class Profile(pydantic.BaseModel):
    user: str
    visits: list[str] = []


class Unsendable:
    """A context holding a worker-side resource: it cannot travel to an activity."""

    def __init__(self) -> None:
        self.user = "ada"
        self.visits: list[str] = []


def _visits(context: Any) -> list[str]:
    return context["visits"] if isinstance(context, dict) else context.visits


def _user(context: Any) -> str:
    return context["user"] if isinstance(context, dict) else context.user


@function_tool
def remember(ctx: RunContextWrapper[Any], place: str) -> str:
    """Remember a visited place."""
    _visits(ctx.context).append(place)
    return f"{_user(ctx.context)} visited {', '.join(_visits(ctx.context))}"


@function_tool
async def whoami(ctx: RunContextWrapper[Any]) -> str:
    """Name the user (reads the context, changes nothing)."""
    return f"{_user(ctx.context)} with {len(_visits(ctx.context))} visits"


@function_tool
def shout(text: str) -> str:
    """Upper-case a text (takes no context)."""
    return text.upper()


async def _count_visits(ctx: Any, input: str) -> str:
    return f"{len(_visits(ctx.context))} visits counted"


# Built by hand, not by @function_tool: Duragent cannot tell whether it uses the context,
# so it gets the context whenever the context can be sent.
count_visits = FunctionTool(
    name="count_visits",
    description="Count the visits so far.",
    params_json_schema={"type": "object", "properties": {}, "additionalProperties": False},
    on_invoke_tool=_count_visits,
)


def _tool_outputs(items: list[Any]) -> list[Any]:
    outputs = [i["output"] for i in items if i.get("type") == "function_call_output"]
    return [message(json.dumps(outputs))]


agent = Agent(name="keeper", model="keeper", tools=[remember, whoami, shout, count_visits])

SCRIPT: list[Any] = [
    [tool_call("remember", {"place": "Paris"})],
    [tool_call("shout", {"text": "hi"})],
    [tool_call("remember", {"place": "Oslo"})],
    [tool_call("whoami")],
    [tool_call("count_visits")],
    _tool_outputs,
]


def _context(kind: str) -> Any:
    if kind == "dataclass":
        return Account(user="ada")
    if kind == "pydantic":
        return Profile(user="ada")
    if kind == "dict":
        return {"user": "ada", "visits": []}
    return Unsendable()


@workflow.defn
class KeepContext:
    @workflow.run
    async def run(self, kind: str) -> dict[str, Any]:
        context = _context(kind)
        result = await Runner.run(agent, "Keep track.", context=context)
        return {
            "tool_outputs": json.loads(str(result.final_output)),
            "visits": list(_visits(context)),
            "same_object": result.context_wrapper.context is context,
        }


@pytest.fixture(params=[1000, 0], ids=["cached", "replay-every-task"])
async def context_worker(request: pytest.FixtureRequest, client: Client) -> AsyncIterator[Worker]:
    provider = ScriptedModelProvider({"keeper": SCRIPT})
    async with Worker(
        client,
        task_queue=QUEUE,
        workflows=[KeepContext],
        max_cached_workflows=request.param,
        plugins=[OpenAIAgentsPlugin(model_provider=provider)],
    ) as w:
        yield w


@pytest.mark.parametrize("kind", ["dataclass", "pydantic", "dict"])
async def test_tools_read_and_change_the_run_context(
    context_worker: Worker, client: Client, kind: str
) -> None:
    handle = await client.start_workflow(KeepContext.run, kind, id=f"ctx-{kind}", task_queue=QUEUE)
    result = await handle.result(timeout=30)
    assert result == {
        "tool_outputs": [
            "ada visited Paris",
            "HI",
            "ada visited Paris, Oslo",
            "ada with 2 visits",
            "2 visits counted",
        ],
        "visits": ["Paris", "Oslo"],
        "same_object": True,
    }
    history = await handle.fetch_history()
    tool_events = [
        e
        for e in history.events
        if e.TYPE in ("ActivityTaskScheduled", "ActivityTaskCompleted")
        and getattr(e, "seq", None) in _tool_seqs(history.events)
    ]
    scheduled = {
        e.seq: e.input  # type: ignore[attr-defined]
        for e in tool_events
        if e.TYPE == "ActivityTaskScheduled"
    }
    results = {
        e.seq: e.result.to_json_value()  # type: ignore[attr-defined]
        for e in tool_events
        if e.TYPE == "ActivityTaskCompleted"
    }
    seqs = sorted(scheduled)
    # The context travels only with tools that take it, and comes back only when changed.
    assert [len(scheduled[s]) for s in seqs] == [2, 1, 2, 2, 2]
    assert scheduled[seqs[0]][1].to_json_value()["value"] == {"user": "ada", "visits": []}
    assert results[seqs[0]] == {
        "v": AGENT_FORMAT_VERSION,
        "output": "ada visited Paris",
        "context": {"user": "ada", "visits": ["Paris"]},
    }
    assert results[seqs[1]] == "HI"
    assert results[seqs[3]] == {
        "v": AGENT_FORMAT_VERSION,
        "output": "ada with 2 visits",
        "context": None,
    }
    assert results[seqs[4]] == {
        "v": AGENT_FORMAT_VERSION,
        "output": "2 visits counted",
        "context": None,
    }


def _tool_seqs(events: Any) -> set[int]:
    return {
        e.seq
        for e in events
        if e.TYPE == "ActivityTaskScheduled"
        and e.activity_type == "duragent.openai_agents.invoke_tool"
    }


async def test_a_context_that_cannot_be_sent_holds_the_run_before_any_model_call(
    context_worker: Worker, client: Client
) -> None:
    """Like any bug in workflow code: the workflow task fails with a clear message and is
    retried (the run resumes once the code is fixed); no model call is made meanwhile."""
    handle = await client.start_workflow(
        KeepContext.run, "unsendable", id="ctx-unsendable", task_queue=QUEUE
    )
    failure = (await wait_for_task_failure(handle)).task_failure or ""
    assert "tool 'remember' takes the run context" in failure
    assert "Unsendable cannot be sent to the activity the tool runs in" in failure
    history = await handle.fetch_history()
    assert not [e for e in history.events if e.TYPE == "ActivityTaskScheduled"]
    await handle.terminate("test over")


async def test_the_built_in_agent_workflow_takes_a_context(
    context_worker: Worker, client: Client
) -> None:
    handle = await start_agent(
        client, agent, "Keep track.", id="ctx-builtin", task_queue=QUEUE, context=Account("bo")
    )
    outcome = await handle.result(timeout=30)
    assert outcome.final_output == json.dumps(
        ["bo visited Paris", "HI", "bo visited Paris, Oslo", "bo with 2 visits", "2 visits counted"]
    )
    assert outcome.context == {"user": "bo", "visits": ["Paris", "Oslo"]}


async def test_start_agent_refuses_a_context_that_cannot_travel(client: Client) -> None:
    with pytest.raises(SerializationError, match=r"start_agent\(context=...\): a Unsendable"):
        await start_agent(client, agent, "Hi", id="ctx-refused", context=Unsendable())
    assert await client.list_workflows() == []
