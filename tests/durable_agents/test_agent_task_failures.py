"""A workflow task that fails while an agent run is suspended in it must tear the instance
down at once: otherwise the suspended ``Runner.run`` is closed later by the garbage
collector, at an arbitrary point of whatever code is running then. The Agents SDK's
``Runner.run`` takes a module-level, non-reentrant lock when it closes, so a collection that
happens while another agent run holds that lock deadlocks the worker (seen in a worker
subprocess: stuck for good, holding the SQLite write lock)."""

from __future__ import annotations

import asyncio
import gc
import threading
from pathlib import Path
from typing import Any

import pytest
from agents import Agent, Runner, function_tool
from agents.run_internal import agent_tool_configuration

from duragent import Client, Worker, workflow
from duragent.openai_agents import OpenAIAgentsPlugin
from duragent.testing.scripted_model import ScriptedModelProvider, message, tool_call

QUEUE = "task-failures"
TORN_DOWN: list[str] = []
RELEASE: dict[str, asyncio.Event] = {}


@function_tool
async def hold() -> str:
    """Wait until the test lets go."""
    await RELEASE["hold"].wait()
    return "released"


holder = Agent(name="holder", instructions="Hold.", model="holder", tools=[hold])
SCRIPTS = {"holder": [[tool_call("hold")], [message("done")]]}


@workflow.defn
class FailsWhileAnAgentRuns:
    """An agent run in one branch; a bug in the other fails the workflow task once a signal
    arrives (and again on every retry, replaying the signal)."""

    def __init__(self) -> None:
        self.boom = False

    @workflow.signal
    def explode(self) -> None:
        self.boom = True

    @workflow.run
    async def run(self) -> Any:
        async def agent() -> Any:
            try:
                return (await Runner.run(holder, "go")).final_output
            finally:
                TORN_DOWN.append("agent run closed")

        async def bug() -> None:
            await workflow.wait_condition(lambda: self.boom)
            raise RuntimeError("a bug in workflow code")

        return (await asyncio.gather(agent(), bug()))[0]


class ReentryProbe:
    """Stands in for the SDK's lock and counts acquisitions by the thread already holding
    it: with the real ``threading.Lock`` each of those is a deadlock."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._depth = 0
        self.reentered = 0

    def __enter__(self) -> None:
        self._lock.acquire()
        if self._depth:
            self.reentered += 1
        self._depth += 1

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        self._lock.release()


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> ReentryProbe:
    lock = ReentryProbe()
    monkeypatch.setattr(agent_tool_configuration, "_resolution_lock", lock)
    return lock


async def test_failed_workflow_task_disposes_its_instance(
    tmp_path: Path, client: Client, probe: ReentryProbe
) -> None:
    RELEASE["hold"] = asyncio.Event()
    TORN_DOWN.clear()
    gc.collect()
    async with Worker(
        client,
        task_queue=QUEUE,
        workflows=[FailsWhileAnAgentRuns],
        max_cached_workflows=0,  # every task rebuilds the run by replay
        plugins=[OpenAIAgentsPlugin(model_provider=ScriptedModelProvider(SCRIPTS))],
    ):
        handle = await client.start_workflow(FailsWhileAnAgentRuns.run, id="f", task_queue=QUEUE)
        for _ in range(1000):  # the agent waits in its tool call
            if any(
                e.TYPE == "ActivityTaskScheduled" and getattr(e, "summary", "") == "hold"
                for e in (await handle.fetch_history()).events
            ):
                break
            await asyncio.sleep(0.01)
        await handle.signal(FailsWhileAnAgentRuns.explode)
        for _ in range(1000):
            if (await handle.describe()).task_failure:
                break
            await asyncio.sleep(0.01)
        assert "a bug in workflow code" in str((await handle.describe()).task_failure)
        await handle.terminate("done")
        RELEASE["hold"].set()
    torn_down = len(TORN_DOWN)
    # Holding the SDK's lock, as another agent run on the worker's thread might, when the
    # garbage collector happens to run:
    with probe:
        gc.collect()
    assert probe.reentered == 0, "garbage collection closed an agent run: a deadlock"
    assert len(TORN_DOWN) == torn_down, "workflow code ran at garbage collection"
