"""Record the agent golden histories in ``golden/vN/`` (frozen histories of agent runs, N
the agent wire format version this code writes; see ``duragent.openai_agents._wire``).

Run from the repository root, only to add a scenario or to freeze a new wire format version
(never to "fix" a file that stopped replaying: that is the regression the files exist to
catch), and commit what it writes::

    .venv/bin/python -m tests.durable_agents.make_golden [SCENARIO ...]

It runs the scripted agents of ``golden_agents.py`` on a test environment with the OpenAI
Agents plugin and exports one history per scenario; ``test_golden_agents.py`` replays them.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `tests.durable_agents` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from duragent import Client, Worker, WorkflowFailureError, WorkflowHandle
from duragent.openai_agents import (
    ApprovalRequest,
    Budget,
    ChatWorkflow,
    OpenAIAgentsPlugin,
    decide,
    pending_approvals,
    send_message,
    start_agent,
    start_chat,
)
from duragent.openai_agents._wire import AGENT_FORMAT_VERSION
from duragent.testing import WorkflowEnvironment
from duragent.testing.scripted_model import ScriptedModelProvider
from tests.durable_agents import golden_agents as g

GOLDEN_DIR = Path(__file__).parent / "golden" / f"v{AGENT_FORMAT_VERSION}"
QUEUE = g.TASK_QUEUE
MODULE = g.__name__


async def ask(client: Client, wf_id: str, *args: Any) -> list[WorkflowHandle[Any]]:
    handle = await client.start_workflow(
        g.AskAgent.run, args=list(args), id=wf_id, task_queue=QUEUE
    )
    await handle.result(timeout=30)
    return [handle]


async def tools(client: Client) -> list[WorkflowHandle[Any]]:
    return await ask(client, "golden-tools", "weather", "Weather in Paris?")


async def handoff(client: Client) -> list[WorkflowHandle[Any]]:
    return await ask(client, "golden-handoff", "triage", "Weather?")


async def agent_as_tool(client: Client) -> list[WorkflowHandle[Any]]:
    return await ask(client, "golden-agent-as-tool", "orchestrator", "100C?")


async def structured_output(client: Client) -> list[WorkflowHandle[Any]]:
    return await ask(client, "golden-structured", "forecaster", "Oslo?")


async def approval(client: Client) -> list[WorkflowHandle[Any]]:
    handle = await client.start_workflow(
        g.AskAgent.run, args=["banker", "Pay ada 5, bob 7"], id="golden-approval", task_queue=QUEUE
    )
    pending: list[ApprovalRequest] = []
    for _ in range(1000):
        pending = await pending_approvals(handle)
        if len(pending) == 2:
            break
        await asyncio.sleep(0.01)
    first, second = pending
    await decide(handle, first.call_id, approve=True)
    await decide(handle, second.call_id, approve=False, message="Bob is not a payee.")
    await handle.result(timeout=30)
    return [handle]


async def parallel(client: Client) -> list[WorkflowHandle[Any]]:
    handle = await client.start_workflow(g.Parallel.run, id="golden-parallel", task_queue=QUEUE)
    await handle.result(timeout=30)
    return [handle]


async def max_turns(client: Client) -> list[WorkflowHandle[Any]]:
    handle = await client.start_workflow(
        g.AskAgent.run, args=["looper", "Loop", 2], id="golden-max-turns", task_queue=QUEUE
    )
    try:
        await handle.result(timeout=30)
    except WorkflowFailureError:
        return [handle]
    raise RuntimeError("the looper was expected to run out of turns")


async def builtin_agent(client: Client) -> list[WorkflowHandle[Any]]:
    handle = await start_agent(
        client,
        f"{MODULE}:weather_agent",
        "Weather in Paris?",
        id="golden-builtin-agent",
        task_queue=QUEUE,
        budget=Budget(max_model_calls=10),
    )
    await handle.result(timeout=30)
    return [handle]


async def budget_exceeded(client: Client) -> list[WorkflowHandle[Any]]:
    handle = await start_agent(
        client,
        f"{MODULE}:weather_agent",
        "Weather in Paris?",
        id="golden-budget",
        task_queue=QUEUE,
        budget=Budget(max_model_calls=2),
    )
    try:
        await handle.result(timeout=30)
    except WorkflowFailureError:
        return [handle]
    raise RuntimeError("the run was expected to exceed its budget")


async def chat(client: Client) -> list[WorkflowHandle[Any]]:
    handle = await start_chat(
        client, f"{MODULE}:chatty", id="golden-chat", task_queue=QUEUE, messages_per_run=2
    )
    first_run = handle.run_id
    for text in ("hello", "how are you?", "bye"):
        await send_message(client, "golden-chat", text)
    await client.get_workflow_handle("golden-chat").signal(ChatWorkflow.end)
    await handle.result(timeout=30)
    return [
        client.get_workflow_handle("golden-chat", run_id=first_run),
        client.get_workflow_handle("golden-chat", run_id=(await handle.describe()).run_id),
    ]


async def tool_context(client: Client) -> list[WorkflowHandle[Any]]:
    handle = await client.start_workflow(
        g.TakeNotes.run, "ada", id="golden-tool-context", task_queue=QUEUE
    )
    await handle.result(timeout=30)
    return [handle]


async def streamed(client: Client) -> list[WorkflowHandle[Any]]:
    handle = await client.start_workflow(
        g.StreamedAsk.run,
        args=["weather", "Weather in Paris?"],
        id="golden-streamed",
        task_queue=QUEUE,
    )
    await handle.result(timeout=30)
    return [handle]


async def fork(client: Client) -> list[WorkflowHandle[Any]]:
    """A fork at model call 2 (calls before it copied), everything after it served from the
    source's recording (``duragent.served`` markers; the fork document in its start)."""
    await ask(client, "golden-fork-source", "weather", "Weather in Paris?")
    handle = await client.fork(
        "golden-fork-source", 2, tools="recorded", models="recorded", id="golden-fork"
    )
    await handle.result(timeout=30)
    return [handle]


Scenario = Callable[[Client], Awaitable[list[WorkflowHandle[Any]]]]

SCENARIOS: dict[str, Scenario] = {
    "tools": tools,
    "handoff": handoff,
    "agent_as_tool": agent_as_tool,
    "structured_output": structured_output,
    "approval": approval,
    "parallel": parallel,
    "max_turns": max_turns,
    "builtin_agent": builtin_agent,
    "budget_exceeded": budget_exceeded,
    "chat": chat,
    "tool_context": tool_context,
    "streamed": streamed,
    "fork": fork,
}


async def main(only: list[str]) -> None:
    """Record every scenario, or only those named."""
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    async with await WorkflowEnvironment.start_time_skipping() as env:
        env.client.identity = "golden-client"
        async with Worker(
            env.client,
            task_queue=QUEUE,
            workflows=g.WORKFLOWS,
            activities=g.ACTIVITIES,
            identity="golden-worker",
            plugins=[OpenAIAgentsPlugin(model_provider=ScriptedModelProvider(g.SCRIPTS))],
        ):
            for name, scenario in SCENARIOS.items():
                if only and name not in only:
                    continue
                handles = await scenario(env.client)
                for i, handle in enumerate(handles):
                    history = await handle.fetch_history()
                    path = GOLDEN_DIR / (f"{name}.json" if i == 0 else f"{name}_{i + 1}.json")
                    path.write_text(history.to_json() + "\n")
                    print(f"{path.name}: {len(history.events)} events")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
