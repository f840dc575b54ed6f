"""Workflows and agents the server tests look at: agents (scripted model) with a tool, a
tool that needs approval and a tool returning hostile HTML; a plain workflow with a retried
activity, a timer and a signal; and a workflow whose task fails (a bug)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, Final

from agents import Agent, function_tool

from duragent import ApplicationError, RetryPolicy, activity, workflow
from duragent.openai_agents import ApprovalsMixin
from duragent.testing.scripted_model import message, tool_call

TASK_QUEUE: Final = "ui-tests"
HOSTILE: Final = "<img src=x onerror=alert(1)>"
_flaky_attempts: dict[str, int] = {}


@function_tool
async def lookup(query: str) -> str:
    """Look something up."""
    return HOSTILE if query == "xss" else f"facts about {query}"


@function_tool(needs_approval=True)
async def send_refund(order: str, amount: float) -> str:
    """Refund an order (a human approves first)."""
    return f"refunded {amount} on {order}"


researcher = Agent(
    name="Researcher", instructions="Look things up.", model="researcher", tools=[lookup]
)
hostile = Agent(name="Hostile", instructions="Look things up.", model="hostile", tools=[lookup])
refunder = Agent(
    name="Refund Desk", instructions="Refund orders.", model="refunder", tools=[send_refund]
)
looper = Agent(name="Looper", instructions="Look up a lot.", model="looper", tools=[lookup])
AGENTS: Final = {
    "researcher": researcher,
    "hostile": hostile,
    "refunder": refunder,
    "looper": looper,
}
LOOPER_CALLS: Final = 30
"""Model calls of the looper's run (more than one page of the conversation)."""

SCRIPTS: Final = {
    "researcher": [
        [tool_call("lookup", {"query": "durable agents"})],
        [message("Durable agents survive crashes.")],
    ],
    "hostile": [
        [tool_call("lookup", {"query": "xss"})],
        [message("<script>alert(2)</script> done")],
    ],
    "refunder": [
        [tool_call("send_refund", {"order": "A-17", "amount": 25})],
        [message("The refund of 25 on A-17 is done.")],
    ],
    "looper": [
        *([tool_call("lookup", {"query": f"fact {i}"})] for i in range(1, LOOPER_CALLS)),
        [message("Collected 29 facts.")],
    ],
}


@workflow.defn
class AskAgent(ApprovalsMixin):
    """Runs one of the agents above."""

    @workflow.run
    async def run(self, name: str, question: str) -> Any:
        result = await self.run_agent(AGENTS[name], question, max_turns=LOOPER_CALLS + 1)
        return result.final_output


@activity.defn
async def flaky_charge(order: str) -> str:
    """Fails twice, then succeeds."""
    key = activity.info().idempotency_key
    _flaky_attempts[key] = _flaky_attempts.get(key, 0) + 1
    if _flaky_attempts[key] < 3:
        raise ConnectionError("payment gateway unavailable")
    return f"charged {order}"


@workflow.defn
class Pipeline:
    """A plain workflow: a retried activity, a timer, then waits for a signal."""

    def __init__(self) -> None:
        self.shipped = False

    @workflow.run
    async def run(self, order: str) -> str:
        charged = await workflow.execute_activity(
            flaky_charge,
            order,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=10)),
        )
        await asyncio.sleep(0.01)
        await workflow.wait_condition(lambda: self.shipped)
        return f"{charged}, shipped"

    @workflow.signal
    def ship(self) -> None:
        self.shipped = True


@workflow.defn
class Broken:
    """A bug in workflow code: its task fails and is retried; the run stays open."""

    @workflow.run
    async def run(self) -> None:
        raise RuntimeError("a bug in workflow code")


@workflow.defn
class Fails:
    """Fails for good."""

    @workflow.run
    async def run(self) -> None:
        raise ApplicationError("the order does not exist", non_retryable=True)


WORKFLOWS: Final = [AskAgent, Pipeline, Broken, Fails]
ACTIVITIES: Final = [flaky_charge]
