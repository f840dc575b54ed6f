"""Handoffs: a triage agent passes the conversation to the right specialist.

The triage agent has no tools, only two handoffs: to a weather agent (alerts by state) and to
a local-info agent (the user's IP address, and where an IP address is). Each agent's model
calls and each tool call are activities; the handoff itself is a decision in a recorded model
response, so a recovering worker replays it and lands on the same specialist.

    python -m examples.handoffs ["Are there any weather alerts in California?"]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from typing import Any, Final

from agents import Agent, ModelSettings, Runner

from duragent import Client, workflow
from duragent.openai_agents import OpenAIAgentsPlugin, activity_as_tool

from . import demo_support, llm
from .weather_api import TOOL_TIMEOUT, get_ip_address, get_location_info, get_weather_alerts

TASK_QUEUE: Final = "handoffs"
MUST_USE_A_TOOL: Final = ModelSettings(tool_choice="required")
"""Each agent's first move is a tool call or a handoff; after a tool call the SDK resets the
choice (``reset_tool_choice``), so the agent can then answer."""
DEFAULT_QUESTION: Final = "Are there any weather alerts in California?"

weather_specialist: Agent[Any] = Agent(
    name="Weather Assistant",
    handoff_description="Answers questions about US weather alerts (by state).",
    instructions=(
        "You answer questions about US weather alerts with the get_weather_alerts tool. "
        "Answer in one or two short sentences."
    ),
    model=llm.MODEL,
    model_settings=MUST_USE_A_TOOL,
    tools=[activity_as_tool(get_weather_alerts, start_to_close_timeout=TOOL_TIMEOUT)],
)

local_info_specialist: Agent[Any] = Agent(
    name="Local Info Assistant",
    handoff_description="Finds the user's public IP address, and where an IP address is.",
    instructions=(
        "You answer questions about IP addresses and locations with your tools. Answer in one "
        "short sentence."
    ),
    model=llm.MODEL,
    model_settings=MUST_USE_A_TOOL,
    tools=[
        activity_as_tool(get_ip_address, start_to_close_timeout=TOOL_TIMEOUT),
        activity_as_tool(get_location_info, start_to_close_timeout=TOOL_TIMEOUT),
    ],
)

triage_agent: Agent[Any] = Agent(
    name="Triage Assistant",
    instructions=(
        "You route each question to the right assistant: weather alerts go to the Weather "
        "Assistant; IP addresses and locations go to the Local Info Assistant. Always hand "
        "off; never answer yourself."
    ),
    model=llm.MODEL,
    model_settings=MUST_USE_A_TOOL,
    handoffs=[weather_specialist, local_info_specialist],
)


@dataclass
class Answer:
    text: str
    answered_by: str


@workflow.defn
class TriageWorkflow:
    """Runs the triage agent, which hands the question to a specialist."""

    @workflow.run
    async def run(self, question: str) -> Answer:
        result = await Runner.run(triage_agent, question, max_turns=8)
        return Answer(str(result.final_output), result.last_agent.name)


WORKFLOWS: Final = [TriageWorkflow]
ACTIVITIES: Final = [get_weather_alerts, get_location_info, get_ip_address]
PLUGINS: Final = [OpenAIAgentsPlugin(model_provider=llm.model_provider)]


async def ask(client: Client, question: str, *, workflow_id: str) -> Answer:
    handle = await client.start_workflow(
        TriageWorkflow.run, question, id=workflow_id, task_queue=TASK_QUEUE
    )
    return await handle.result(timeout=300)


async def main(question: str = DEFAULT_QUESTION, *, model_provider: Any = None) -> Answer:
    """Ask once, offline, and print who answered and how."""
    print(f"model: {llm.describe() if model_provider is None else type(model_provider).__name__}")
    print(f"question: {question}")
    with demo_support.offline_apis(), demo_support.temporary_store() as (db_url, _):
        async with demo_support.running_worker(
            db_url, sys.modules[__name__], model_provider=model_provider
        ) as (client, _worker):
            answer = await ask(client, question, workflow_id="triage")
            history = await client.get_workflow_handle("triage").fetch_history()
            print("steps (each one an activity in the workflow's history):")
            demo_support.print_steps(history.events)
            await demo_support.print_usage(client, "triage")
    print(f"answered by: {answer.answered_by}")
    print(f"answer: {answer.text}")
    return answer


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Triage a question to a specialist agent.")
    parser.add_argument("question", nargs="?", default=DEFAULT_QUESTION)
    asyncio.run(main(demo_support.parse_args(parser).question))
