"""Streamed agents for the streaming tests (also run in worker processes).

``StreamAgent`` runs an agent of :mod:`.agents_app` (or one below) with
``Runner.run_streamed`` and returns its final output together with the types of the events
``stream_events()`` yielded in workflow code; ``PlainAgent`` runs the same agents with
``Runner.run``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from agents import Agent, Runner

from duragent import workflow
from duragent.testing.scripted_model import message, tool_call

from .agents_app import AGENTS, SCRIPTS, get_weather

ANSWER = "It is sunny in Paris today, about 21 degrees, with a light breeze from the west."

streamer = Agent(name="streamer", instructions="Weather.", model="streamer", tools=[get_weather])
teller = Agent(name="teller", instructions="Tell.", model="teller")
poet = Agent(name="poet", instructions="Rhyme.", model="poet")

STREAM_SCRIPTS = {
    **SCRIPTS,
    "streamer": [[tool_call("get_weather", {"city": "Paris"})], [message(ANSWER)]],
    "teller": [[message("Once upon a time there was a durable agent.")]],
    "poet": [[message("Roses are red, the stream is exactly once.")]],
}
STREAM_AGENTS: dict[str, Agent[Any]] = {**AGENTS, "streamer": streamer, "teller": teller}


def _event_type(event: Any) -> str:
    return str(event.data.type) if event.type == "raw_response_event" else str(event.type)


@workflow.defn
class StreamAgent:
    """One agent, streamed; returns its output and what ``stream_events()`` yielded."""

    @workflow.run
    async def run(self, name: str, question: str) -> dict[str, Any]:
        result = Runner.run_streamed(STREAM_AGENTS[name], question)
        seen = [_event_type(e) async for e in result.stream_events()]
        return {"output": result.final_output, "events": seen}


@workflow.defn
class PlainAgent:
    """The same agent, not streamed."""

    @workflow.run
    async def run(self, name: str, question: str) -> dict[str, Any]:
        result = await Runner.run(STREAM_AGENTS[name], question)
        return {"output": result.final_output}


async def _drain(agent: Agent[Any]) -> str:
    result = Runner.run_streamed(agent, "go")
    async for _ in result.stream_events():
        pass
    return str(result.final_output)


@workflow.defn
class TwoStreams:
    """Two streamed agents at once: their calls interleave in one stream."""

    @workflow.run
    async def run(self) -> list[str]:
        return list(await asyncio.gather(_drain(teller), _drain(poet)))


STREAM_WORKFLOWS = [StreamAgent, PlainAgent, TwoStreams]
