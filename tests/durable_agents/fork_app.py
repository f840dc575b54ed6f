"""Agents, tools and workflows for the fork tests (importable by worker processes).

Every tool execution is appended to ``DURAGENT_TEST_LOG``, so a test can prove a tool did
not run again; the scripted models' call log proves a model call was not made.
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path

from agents import Agent, Runner, function_tool

from duragent import activity, workflow
from duragent.openai_agents import durable_tool
from duragent.testing.scripted_model import message, tool_call

TASK_QUEUE = "fork"


def _log(line: str) -> None:
    path = os.environ.get("DURAGENT_TEST_LOG")
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{line}\n".encode())
        finally:
            os.close(fd)


async def _wait_for(name: str) -> None:
    """Block until the file ``name`` exists in ``DURAGENT_TEST_GATES`` (a test's gate)."""
    gates = os.environ.get("DURAGENT_TEST_GATES")
    while gates and not (Path(gates) / name).exists():
        await asyncio.sleep(0.01)


@function_tool
def get_weather(city: str) -> str:
    """Current weather in a city."""
    _log(f"get_weather {city}")
    return f"Sunny in {city}"


@function_tool
def convert(celsius: float) -> str:
    """Celsius to Fahrenheit."""
    _log(f"convert {celsius}")
    return f"{celsius * 9 / 5 + 32:.1f}F"


@function_tool
def pay(amount: int) -> str:
    """Pay an amount (a side effect: never run twice)."""
    _log(f"pay {amount}")
    return f"paid {amount}"


durable_tool(pay, at_most_once=True)


@function_tool(needs_approval=True)
def refund(order: str) -> str:
    """Refund an order (needs a human's approval)."""
    _log(f"refund {order}")
    return f"refunded {order}"


helper = Agent(
    name="helper", instructions="Be helpful.", model="v1", tools=[get_weather, convert, pay]
)
payer_agent = Agent(name="payer", instructions="Pay.", model="payer", tools=[pay])
clerk = Agent(name="clerk", instructions="Handle refunds.", model="clerk", tools=[refund])

SCRIPTS = {
    "v1": [
        [tool_call("get_weather", {"city": "Paris"})],
        [tool_call("get_weather", {"city": "Rome"})],
        [tool_call("convert", {"celsius": 20})],
        [message("Paris and Rome are sunny, 68F.")],
    ],
    "v2": [
        [tool_call("convert", {"celsius": 21})],
        [message("v2: sunny and 69.8F.")],
    ],
    "v3": [
        [
            tool_call("get_weather", {"city": "Berlin"}),
            tool_call("get_weather", {"city": "Paris"}),
        ],
        [message("v3: Berlin and Paris.")],
    ],
    "payer": [[tool_call("pay", {"amount": 5})], [message("paid 5")]],
    "payer2": [[tool_call("pay", {"amount": 7})], [message("tried to pay 7")]],
    "clerk": [[tool_call("refund", {"order": "A1"})], [message("refund done")]],
    "chat": [[message("one")], [message("two")], [message("three")]],
    "chat2": [[message("two, again")], [message("three, again")]],
}

chatter = Agent(name="chatter", instructions="Chat.", model="chat")


@activity.defn
async def lookup(key: str) -> str:
    _log(f"lookup {key}")
    await _wait_for("lookup")
    return f"value of {key}"


@activity.defn(at_most_once=True)
async def charge(amount: int) -> str:
    _log(f"charge {amount}")
    await _wait_for("charge")
    return f"charged {amount}"


@activity.defn
async def hold() -> None:
    await _wait_for("end")


@workflow.defn
class Waiter:
    """A child that finishes when signalled."""

    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.done)
        return "child done"

    @workflow.signal
    def finish(self) -> None:
        self.done = True


@workflow.defn
class Busy:
    """Starts work that is still in flight when its agent makes its model calls: an
    activity, an at-most-once activity, a child workflow and a timer."""

    @workflow.run
    async def run(self, child_id: str) -> str:
        limit = timedelta(minutes=5)
        looked_up = workflow.start_activity(lookup, "k", start_to_close_timeout=limit)
        charged = workflow.start_activity(charge, 5, start_to_close_timeout=limit)
        child = await workflow.start_child_workflow(Waiter.run, id=child_id)
        timer = asyncio.ensure_future(asyncio.sleep(3600))
        answer = await Runner.run(helper, "weather?")
        parts = [str(answer.final_output), await looked_up]
        try:
            parts.append(await charged)
        except Exception as err:
            parts.append(f"charge failed: {type(err.__cause__ or err).__name__}")
        parts.append(await child)
        await workflow.execute_activity(hold, start_to_close_timeout=limit)
        timer.cancel()
        return " | ".join(parts)


@workflow.defn(name="fork.Simple")
class Simple:
    @workflow.run
    async def run(self, question: str) -> str:
        return str((await Runner.run(helper, question)).final_output)


@workflow.defn(name="fork.Simple")
class SimpleChanged:
    """``Simple`` after a deploy that changed what it does before the agent runs."""

    @workflow.run
    async def run(self, question: str) -> str:
        await asyncio.sleep(1)
        return str((await Runner.run(helper, question)).final_output)


WORKFLOWS = [Busy, Waiter]
ACTIVITIES = [lookup, charge, hold]
