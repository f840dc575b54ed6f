"""Parallel micro-agents: several small agents run at once, and their results are combined.

A "travel desk" briefing: one micro-agent per state looks up its weather alerts, and another
finds the user's public IP address, all started together with ``asyncio.gather`` inside the
workflow. Their model and tool calls interleave, yet replay is deterministic (the engine
records the order in which results arrived), so a crash in the middle loses only the calls
that were in flight.

    python -m examples.parallel_agents [CA TX NY]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass, field
from typing import Any, Final

from agents import Agent, ModelSettings, Runner

from duragent import Client, workflow
from duragent.openai_agents import OpenAIAgentsPlugin, activity_as_tool

from . import demo_support, llm
from .weather_api import TOOL_TIMEOUT, get_ip_address, get_weather_alerts

TASK_QUEUE: Final = "parallel-agents"
DEFAULT_STATES: Final = ("CA", "TX", "NY")

alerts_agent: Agent[Any] = Agent(
    name="Alerts Agent",
    instructions="You report the active weather alerts for one US state in one sentence.",
    model=llm.MODEL,
    model_settings=ModelSettings(tool_choice="required"),  # always look, never guess
    tools=[activity_as_tool(get_weather_alerts, start_to_close_timeout=TOOL_TIMEOUT)],
)

ip_agent: Agent[Any] = Agent(
    name="IP Agent",
    instructions="You tell the user their public IP address in one sentence.",
    model=llm.MODEL,
    model_settings=ModelSettings(tool_choice="required"),
    tools=[activity_as_tool(get_ip_address, start_to_close_timeout=TOOL_TIMEOUT)],
)


@dataclass
class Briefing:
    """The combined results of the micro-agents."""

    alerts: dict[str, str] = field(default_factory=lambda: {})
    network: str = ""

    def render(self) -> str:
        lines = [f"  {state}: {text}" for state, text in self.alerts.items()]
        return "\n".join(["weather alerts:", *lines, f"network: {self.network}"])


@workflow.defn
class TravelBriefing:
    """Runs one alerts micro-agent per state and the IP micro-agent in parallel."""

    @workflow.run
    async def run(self, states: list[str]) -> Briefing:
        runs = [Runner.run(alerts_agent, f"Any weather alerts in {state}?") for state in states]
        results = await asyncio.gather(*runs, Runner.run(ip_agent, "What is my IP address?"))
        *alerts, network = results
        return Briefing(
            alerts={state: str(r.final_output) for state, r in zip(states, alerts, strict=True)},
            network=str(network.final_output),
        )


WORKFLOWS: Final = [TravelBriefing]
ACTIVITIES: Final = [get_weather_alerts, get_ip_address]
PLUGINS: Final = [OpenAIAgentsPlugin(model_provider=llm.model_provider)]


async def brief(client: Client, states: list[str], *, workflow_id: str) -> Briefing:
    handle = await client.start_workflow(
        TravelBriefing.run, states, id=workflow_id, task_queue=TASK_QUEUE
    )
    return await handle.result(timeout=300)


async def main(states: list[str] | None = None, *, model_provider: Any = None) -> Briefing:
    """Run the briefing once, offline, and print it."""
    states = list(states or DEFAULT_STATES)
    print(f"model: {llm.describe() if model_provider is None else type(model_provider).__name__}")
    print(f"micro-agents: alerts for {', '.join(states)}; public IP address (all in parallel)")
    with demo_support.offline_apis(), demo_support.temporary_store() as (db_url, _):
        async with demo_support.running_worker(
            db_url, sys.modules[__name__], model_provider=model_provider
        ) as (client, _worker):
            briefing = await brief(client, states, workflow_id="briefing")
            history = await client.get_workflow_handle("briefing").fetch_history()
            print("steps, in the order they were scheduled:")
            demo_support.print_steps(history.events)
            await demo_support.print_usage(client, "briefing")
    print(briefing.render())
    return briefing


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Run micro-agents in parallel.")
    parser.add_argument("states", nargs="*", default=list(DEFAULT_STATES))
    asyncio.run(main(demo_support.parse_args(parser).states))
