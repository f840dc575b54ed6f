"""The soak test's workflows, activities and agents (see ``soak.py``).

Every activity and tool appends ``<event> <workflow id> <step> <attempt> <pid>`` to the file
named by ``DURAGENT_SOAK_LOG`` (``start`` before its work, ``end`` after), so the soak can
count how often each step really ran, and by which process. Results are deterministic
functions of the workflow id, so the soak knows what each workflow must return.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from agents import Agent, Runner, function_tool

from duragent import RetryPolicy, activity, workflow
from duragent.openai_agents import OpenAIAgentsPlugin
from duragent.testing.scripted_model import (
    ScriptedItem,
    ScriptedModelProvider,
    ScriptedTurn,
    message,
    tool_call,
)

TASK_QUEUE = "soak"
T = timedelta(seconds=60)
RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=0)
"""Retry until it works: a step interrupted by a kill is retried, never given up."""


def log_step(event: str, step: str) -> None:
    path = os.environ.get("DURAGENT_SOAK_LOG")
    if not path:
        return
    info = activity.info()
    line = f"{event} {info.workflow_id} {step} {info.attempt} {os.getpid()}\n"
    # O_APPEND writes of one short line do not interleave; the page cache survives SIGKILL.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


@activity.defn
async def step(name: str) -> str:
    log_step("start", name)
    await asyncio.sleep(0.002)
    log_step("end", name)
    return name


@activity.defn
async def ack(item: str) -> str:
    log_step("start", f"ack-{item}")
    log_step("end", f"ack-{item}")
    return item.upper()


@function_tool
async def lookup(key: str) -> str:
    """Look a key up."""
    log_step("start", f"lookup-{key}")
    log_step("end", f"lookup-{key}")
    return f"value-{key}"


def _summarize(items: list[Any]) -> Sequence[ScriptedItem]:
    outputs = [
        str(i.get("output", ""))
        for i in items
        if isinstance(i, dict) and i.get("type") == "function_call_output"
    ]
    return [message(" | ".join(outputs))]


SCRIPTS: dict[str, list[ScriptedTurn]] = {
    "researcher": [
        [tool_call("lookup", {"key": "a"})],
        [tool_call("lookup", {"key": "b"})],
        _summarize,
    ]
}
researcher = Agent(
    name="researcher", instructions="Look things up.", model="researcher", tools=[lookup]
)
AGENT_OUTPUT = "value-a | value-b"


@workflow.defn
class Chain:
    """Steps one after another, with a durable timer between them."""

    @workflow.run
    async def run(self, steps: int, nap_ms: int) -> list[str]:
        wid = workflow.info().workflow_id
        out: list[str] = []
        for i in range(steps):
            out.append(
                await workflow.execute_activity(
                    step, f"{wid}/s{i}", start_to_close_timeout=T, retry_policy=RETRY
                )
            )
            await workflow.sleep(nap_ms / 1000)
        return out


@workflow.defn
class Family:
    """Child workflows (each a short chain), their results combined."""

    @workflow.run
    async def run(self, children: int) -> list[str]:
        wid = workflow.info().workflow_id
        results = await asyncio.gather(
            *(
                workflow.execute_child_workflow(Chain.run, args=[2, 20], id=f"{wid}-c{j}")
                for j in range(children)
            )
        )
        return [r for rs in results for r in rs]


@workflow.defn
class Mailbox:
    """Acknowledges each ``post`` signal with an activity, in arrival order."""

    def __init__(self) -> None:
        self.received: list[str] = []

    @workflow.run
    async def run(self, expected: int) -> list[str]:
        acked: list[str] = []
        while len(acked) < expected:
            await workflow.wait_condition(lambda: len(self.received) > len(acked))
            item = self.received[len(acked)]
            acked.append(
                await workflow.execute_activity(
                    ack, item, start_to_close_timeout=T, retry_policy=RETRY
                )
            )
        return acked

    @workflow.signal
    def post(self, item: str) -> None:
        self.received.append(item)


@workflow.defn
class Research:
    """An agent with the scripted model: two tool calls, then an answer."""

    @workflow.run
    async def run(self, question: str) -> str:
        result = await Runner.run(researcher, question)
        return str(result.final_output)


WORKFLOWS = [Chain, Family, Mailbox, Research]
ACTIVITIES = [step, ack]
PLUGINS = [OpenAIAgentsPlugin(model_provider=ScriptedModelProvider(SCRIPTS))]
