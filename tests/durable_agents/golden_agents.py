"""Agents and workflows whose recorded histories are the agent golden files.

Frozen: ``golden/vN/*.json`` (one directory per agent wire format version) were recorded
from this code by ``make_golden.py`` and must keep replaying against it (and against every
later version of Duragent and of the plugin). Change an agent, a tool or a script here and
the recorded histories no longer match; add new scenarios instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from agents import Agent, RunContextWrapper, Runner, function_tool
from pydantic import BaseModel

from duragent import activity, workflow
from duragent.openai_agents import ApprovalsMixin, activity_as_tool
from duragent.testing.scripted_model import ScriptedItem, message, tool_call

TASK_QUEUE = "golden-agents"


@function_tool
async def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"Sunny in {city}"


@function_tool
def convert(celsius: float) -> str:
    """Convert Celsius to Fahrenheit (a sync tool)."""
    return f"{celsius * 9 / 5 + 32:.1f}F"


@activity.defn
async def get_location(ip: str) -> dict[str, str]:
    """Where an IP address is.

    Args:
        ip: An IPv4 address.
    """
    return {"city": "Sacramento", "state": "CA"}


@function_tool(needs_approval=True)
async def send_money(to: str, amount: float) -> str:
    """Send money to someone (needs a human's approval)."""
    return f"sent {amount:g} to {to}"


@dataclass
class Notebook:
    """The run context of the note-taker."""

    owner: str
    notes: list[str] = field(default_factory=lambda: [])


@function_tool
def take_note(ctx: RunContextWrapper[Notebook], text: str) -> str:
    """Write a note into the run's notebook."""
    ctx.context.notes.append(text)
    return f"{ctx.context.owner} has {len(ctx.context.notes)} notes"


class Forecast(BaseModel):
    city: str
    temperature_c: float
    summary: str


def _tool_outputs(items: list[Any]) -> Sequence[ScriptedItem]:
    outputs = [
        str(i.get("output", ""))
        for i in items
        if isinstance(i, dict) and i.get("type") == "function_call_output"
    ]
    return [message(" | ".join(outputs))]


def _echo(items: list[Any]) -> Sequence[ScriptedItem]:
    users = [
        str(i.get("content", "")) for i in items if isinstance(i, dict) and i.get("role") == "user"
    ]
    return [message(f"#{len(users)}: {users[-1] if users else ''}")]


weather_agent = Agent(
    name="weather",
    instructions="Answer weather questions.",
    model="weather",
    tools=[get_weather, convert, activity_as_tool(get_location)],
)
local_agent = Agent(name="local", instructions="Local questions.", model="local")
triage_agent = Agent(
    name="triage",
    instructions="Route the question.",
    model="triage",
    handoffs=[weather_agent, local_agent],
)
converter_agent = Agent(
    name="converter", instructions="Convert units.", model="converter", tools=[convert]
)
orchestrator = Agent(
    name="orchestrator",
    instructions="Use your tools.",
    model="orchestrator",
    tools=[converter_agent.as_tool(tool_name="ask_converter", tool_description="Converts.")],
)
forecaster = Agent(
    name="forecaster", instructions="Forecast.", model="forecaster", output_type=Forecast
)
banker = Agent(name="banker", instructions="Move money.", model="banker", tools=[send_money])
looper = Agent(name="looper", instructions="Loop.", model="looper", tools=[get_weather])
chatty = Agent(name="chatty", instructions="Chat.", model="chat")
note_taker = Agent(name="note_taker", instructions="Take notes.", model="notes", tools=[take_note])

SCRIPTS: dict[str, list[Any]] = {
    "weather": [
        [tool_call("get_weather", {"city": "Paris"})],
        [tool_call("convert", {"celsius": 21}), tool_call("get_location", {"ip": "1.2.3.4"})],
        [message("Sunny in Paris, 69.8F.")],
    ],
    "triage": [[tool_call("transfer_to_weather")]],
    "local": [[message("local")]],
    "converter": [[tool_call("convert", {"celsius": 100})], [message("212.0F")]],
    "orchestrator": [[tool_call("ask_converter", {"input": "100C in F?"})], _tool_outputs],
    "forecaster": [[message({"city": "Oslo", "temperature_c": 4.5, "summary": "Cold"})]],
    "banker": [
        [
            tool_call("send_money", {"to": "ada", "amount": 5}),
            tool_call("send_money", {"to": "bob", "amount": 7}),
        ],
        _tool_outputs,
    ],
    "looper": [[tool_call("get_weather", {"city": f"c{i}"})] for i in range(5)],
    "chat": [_echo] * 10,
    "notes": [
        [tool_call("take_note", {"text": "milk"})],
        [tool_call("take_note", {"text": "eggs"})],
        _tool_outputs,
    ],
    "p1": [[message("alpha")]],
    "p2": [[message("beta")]],
    "p3": [[message("gamma")]],
}

AGENTS = {
    a.name: a for a in (weather_agent, triage_agent, orchestrator, forecaster, banker, looper)
}


@workflow.defn
class AskAgent(ApprovalsMixin):
    """Runs one of the agents above by name (waiting for approvals)."""

    @workflow.run
    async def run(self, name: str, question: str, max_turns: int = 10) -> Any:
        result = await self.run_agent(AGENTS[name], question, max_turns=max_turns)
        output = result.final_output
        return output.model_dump() if isinstance(output, BaseModel) else output


@workflow.defn
class Parallel:
    """Three agents at once."""

    @workflow.run
    async def run(self) -> str:
        agents = [
            Agent(name=f"micro-{m}", instructions="One word.", model=m) for m in ("p1", "p2", "p3")
        ]
        results = await asyncio.gather(*(Runner.run(a, "go") for a in agents))
        return " ".join(str(r.final_output) for r in results)


@workflow.defn
class TakeNotes:
    """An agent whose tool writes into the run context."""

    @workflow.run
    async def run(self, owner: str) -> dict[str, Any]:
        notebook = Notebook(owner=owner)
        result = await Runner.run(note_taker, "Note milk and eggs.", context=notebook)
        return {"answer": result.final_output, "notes": notebook.notes}


@workflow.defn
class StreamedAsk:
    """An agent run with ``Runner.run_streamed``: returns the types of the events
    ``stream_events()`` gave workflow code (each replay appends them to ``seen`` too)."""

    seen: ClassVar[list[list[str]]] = []

    @workflow.run
    async def run(self, name: str, question: str) -> dict[str, Any]:
        result = Runner.run_streamed(AGENTS[name], question)
        kinds = [
            str(e.data.type) if e.type == "raw_response_event" else str(e.type)
            async for e in result.stream_events()
        ]
        StreamedAsk.seen.append(kinds)
        return {"output": result.final_output, "events": kinds}


WORKFLOWS: list[type] = [AskAgent, Parallel, TakeNotes, StreamedAsk]
ACTIVITIES = [get_location]
