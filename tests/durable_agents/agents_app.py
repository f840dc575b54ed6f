"""Agents, tools and workflows for the durable-agent tests (also run in worker processes).

Agents name their model; the scripts in ``SCRIPTS`` play those models deterministically.
Every tool execution is appended to ``DURAGENT_TEST_LOG`` so tests can count executions
across processes.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from agents import (
    Agent,
    GuardrailFunctionOutput,
    InputGuardrailTripwireTriggered,
    RunContextWrapper,
    Runner,
    function_tool,
    input_guardrail,
)
from pydantic import BaseModel

from duragent import activity, workflow
from duragent.openai_agents import ApprovalsMixin, activity_as_tool, durable_tool
from duragent.testing.scripted_model import message, tool_call

TASK_QUEUE = "agents"


def _log(line: str) -> None:
    path = os.environ.get("DURAGENT_TEST_LOG")
    if not path:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line} {os.getpid()}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)


@function_tool
async def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    _log(f"tool get_weather {city}")
    marker = os.environ.get("DURAGENT_TEST_BLOCK")
    if marker and city == "Blockville":
        while not Path(marker).exists():
            await asyncio.sleep(0.01)
    return f"Sunny in {city}"


@function_tool
def convert(celsius: float) -> str:
    """Convert Celsius to Fahrenheit (a sync tool)."""
    _log(f"tool convert {celsius}")
    return f"{celsius * 9 / 5 + 32:.1f}F"


flaky_calls: dict[str, int] = {}


@function_tool
async def flaky_lookup(key: str) -> str:
    """Look something up; fails the first time for each key."""
    flaky_calls[key] = flaky_calls.get(key, 0) + 1
    _log(f"tool flaky_lookup {key} {flaky_calls[key]}")
    if flaky_calls[key] == 1:
        raise RuntimeError("temporary outage")
    return f"value of {key}"


@function_tool
async def always_broken(key: str) -> str:
    """Always fails."""
    raise RuntimeError("the service is down")


@activity.defn
async def get_location(ip: str) -> dict[str, str]:
    """Where an IP address is.

    Args:
        ip: An IPv4 address.
    """
    _log(f"activity get_location {ip}")
    return {"city": "Sacramento", "state": "CA"}


@function_tool(needs_approval=True)
async def send_money(to: str, amount: float) -> str:
    """Send money to someone (needs a human's approval)."""
    _log(f"tool send_money {to} {amount}")
    return f"sent {amount} to {to}"


@activity.defn(at_most_once=True)
async def charge_card(amount: float) -> str:
    """Charge the card (never twice)."""
    _log(f"activity charge_card {amount}")
    marker = os.environ.get("DURAGENT_TEST_BLOCK")
    if marker:
        while not Path(marker).exists():
            await asyncio.sleep(0.01)
    return f"charged {amount}"


class Forecast(BaseModel):
    city: str
    temperature_c: float
    summary: str


weather_agent = Agent(
    name="weather",
    instructions="Answer weather questions.",
    model="weather",
    tools=[get_weather, convert, activity_as_tool(get_location)],
)
local_agent = Agent(
    name="local",
    instructions="Answer local questions.",
    model="local",
    tools=[activity_as_tool(get_location)],
)
triage_agent = Agent(
    name="triage",
    instructions="Route the question.",
    model="triage",
    handoffs=[weather_agent, local_agent],
)
forecast_agent = Agent(
    name="forecaster", instructions="Give a forecast.", model="forecaster", output_type=Forecast
)
converter_agent = Agent(
    name="converter", instructions="Convert units.", model="converter", tools=[convert]
)
orchestrator = Agent(
    name="orchestrator",
    instructions="Use your tools.",
    model="orchestrator",
    tools=[
        converter_agent.as_tool(
            tool_name="ask_converter", tool_description="Converts temperatures."
        )
    ],
)
flaky_agent = Agent(
    name="flaky", instructions="Look things up.", model="flaky", tools=[flaky_lookup, always_broken]
)
banker = Agent(name="banker", instructions="Move money.", model="banker", tools=[send_money])
payer = Agent(
    name="payer", instructions="Charge cards.", model="payer", tools=[activity_as_tool(charge_card)]
)
slow_weather = Agent(name="slow", instructions="Weather.", model="slow", tools=[get_weather])


@input_guardrail
async def no_homework(
    ctx: RunContextWrapper[Any], agent: Agent[Any], input: Any
) -> GuardrailFunctionOutput:
    text = input if isinstance(input, str) else str(input)
    return GuardrailFunctionOutput(output_info=None, tripwire_triggered="homework" in text)


guarded_agent = Agent(
    name="guarded", instructions="Help.", model="guarded", input_guardrails=[no_homework]
)

SCRIPTS = {
    "weather": [
        [tool_call("get_weather", {"city": "Paris"})],
        [tool_call("convert", {"celsius": 21})],
        [message("Sunny in Paris, 69.8F.")],
    ],
    "triage": [[tool_call("transfer_to_weather")]],
    "local": [[message("local")]],
    "forecaster": [[message({"city": "Oslo", "temperature_c": 4.5, "summary": "Cold"})]],
    "converter": [[tool_call("convert", {"celsius": 100})], [message("212.0F")]],
    "orchestrator": [
        [tool_call("ask_converter", {"input": "100C in F?"})],
        [message("It is 212.0F.")],
    ],
    "flaky": [
        [tool_call("flaky_lookup", {"key": "k"}), tool_call("always_broken", {"key": "k"})],
        [message("done")],
    ],
    "banker": [[tool_call("send_money", {"to": "ada", "amount": 5})], [message("Sent.")]],
    "payer": [[tool_call("charge_card", {"amount": 9.5})], [message("Payment handled.")]],
    "slow": [[tool_call("get_weather", {"city": "Blockville"})], [message("done")]],
    "guarded": [[message("ok")]],
    "p1": [[message("alpha")]],
    "p2": [[message("beta")]],
    "p3": [[message("gamma")]],
}


@workflow.defn
class AskAgent(ApprovalsMixin):
    """Runs one of the agents above by name."""

    @workflow.run
    async def run(self, name: str, question: str) -> Any:
        agent = AGENTS[name]
        result = await self.run_agent(agent, question)
        output = result.final_output
        return output.model_dump() if isinstance(output, BaseModel) else output


@workflow.defn
class Guarded:
    @workflow.run
    async def run(self, question: str) -> str:
        try:
            return (await Runner.run(guarded_agent, question)).final_output
        except InputGuardrailTripwireTriggered:
            return "refused"


@workflow.defn
class Parallel:
    """Three micro-agents in parallel, results combined."""

    @workflow.run
    async def run(self) -> str:
        agents = [
            Agent(name=f"micro-{m}", instructions="Say one word.", model=m)
            for m in ("p1", "p2", "p3")
        ]
        results = await asyncio.gather(*(Runner.run(a, "go") for a in agents))
        return " ".join(r.final_output for r in results)


@workflow.defn
class ParentOfAgents:
    """Agents in child workflows."""

    @workflow.run
    async def run(self) -> list[Any]:
        return list(
            await asyncio.gather(
                workflow.execute_child_workflow(AskAgent.run, args=["weather", "Paris?"]),
                workflow.execute_child_workflow(AskAgent.run, args=["forecaster", "Oslo?"]),
            )
        )


AGENTS = {
    a.name: a
    for a in (
        weather_agent,
        triage_agent,
        forecast_agent,
        orchestrator,
        flaky_agent,
        banker,
        payer,
        slow_weather,
        local_agent,
    )
}
durable_tool(flaky_lookup, retry_policy=None)
WORKFLOWS = [AskAgent, Guarded, Parallel, ParentOfAgents]
ACTIVITIES = [get_location, charge_card]
