"""A weather agent written with the OpenAI Agents SDK, made durable.

The agent is ordinary Agents SDK code. Run inside a Duragent workflow, on a worker with
``OpenAIAgentsPlugin``, every model call and every tool call becomes an activity: recorded in
history, retried on failure, and never repeated once recorded, even if the worker is killed.
The tools are the activities of :mod:`examples.weather_api`, turned into tools with
``activity_as_tool``.

    python -m examples.weather_agent "Are there any weather alerts in California?"

runs it end to end in this process, offline (fake weather APIs, the local model unless
``OPENAI_API_KEY`` is set). ``python -m examples.agent_crash_demo`` runs the same agent in a
worker process and kills that process half-way.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import timedelta
from typing import Any, Final

from agents import Agent, Runner

from duragent import Client, RetryPolicy, workflow
from duragent.openai_agents import OpenAIAgentsPlugin, activity_as_tool

from . import demo_support, llm
from .weather_api import TOOL_TIMEOUT, get_ip_address, get_location_info, get_weather_alerts

TASK_QUEUE: Final = "weather-agent"
DEFAULT_QUESTION: Final = "Are there any weather alerts in California?"
INSTRUCTIONS: Final = (
    "You are a helpful weather assistant. Use the tools to answer questions about US weather "
    "alerts and the user's location. Answer in one or two short sentences."
)
TOOL_RETRIES: Final = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)

weather_agent: Agent[Any] = Agent(
    name="Weather Assistant",
    instructions=INSTRUCTIONS,
    model=llm.MODEL,
    tools=[
        activity_as_tool(
            get_weather_alerts, start_to_close_timeout=TOOL_TIMEOUT, retry_policy=TOOL_RETRIES
        ),
        activity_as_tool(
            get_location_info, start_to_close_timeout=TOOL_TIMEOUT, retry_policy=TOOL_RETRIES
        ),
        activity_as_tool(
            get_ip_address, start_to_close_timeout=TOOL_TIMEOUT, retry_policy=TOOL_RETRIES
        ),
    ],
)


@workflow.defn
class WeatherAgentWorkflow:
    """Answers one question with the weather agent."""

    @workflow.run
    async def run(self, question: str) -> str:
        result = await Runner.run(weather_agent, question, max_turns=8)
        return str(result.final_output)


WORKFLOWS: Final = [WeatherAgentWorkflow]
ACTIVITIES: Final = [get_weather_alerts, get_location_info, get_ip_address]
PLUGINS: Final = [OpenAIAgentsPlugin(model_provider=llm.model_provider)]


async def ask(client: Client, question: str, *, workflow_id: str) -> str:
    """Start the workflow and wait for the agent's answer."""
    handle = await client.start_workflow(
        WeatherAgentWorkflow.run, question, id=workflow_id, task_queue=TASK_QUEUE
    )
    return await handle.result(timeout=300)


async def main(question: str = DEFAULT_QUESTION, *, model_provider: Any = None) -> str:
    """Run the agent once, offline, and print what it did."""
    print(f"model: {llm.describe() if model_provider is None else type(model_provider).__name__}")
    print(f"question: {question}")
    with (
        demo_support.offline_apis(),
        demo_support.temporary_store() as (db_url, _),
    ):
        async with demo_support.running_worker(
            db_url, sys.modules[__name__], model_provider=model_provider
        ) as (client, _worker):
            answer = await ask(client, question, workflow_id="weather-agent")
            history = await client.get_workflow_handle("weather-agent").fetch_history()
            print("steps (each one an activity in the workflow's history):")
            demo_support.print_steps(history.events)
            await demo_support.print_usage(client, "weather-agent")
    print(f"answer: {answer}")
    return answer


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Ask the durable weather agent a question.")
    parser.add_argument("question", nargs="?", default=DEFAULT_QUESTION)
    asyncio.run(main(parser.parse_args().question))
