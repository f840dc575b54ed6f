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

With ``--stream`` the workflow runs the agent with ``Runner.run_streamed`` and this script
prints the answer as the model writes it, read from the run's durable stream
(``handle.stream()``; ``duragent watch ID`` shows the same from another terminal).

With ``--mcp`` the agent gets the same tools from an MCP server instead
(:mod:`examples.weather_mcp_server`, spawned over stdio). The worker declares the server
(``MCPServerProvider("weather", factory)``: its command and environment stay on the worker)
and the agent names it (``durable_mcp_server("weather")``). Listing the server's tools is
recorded once per run, and each call is an activity like any other tool call.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import timedelta
from typing import Any, Final

from agents import Agent, Runner

from duragent import Client, RetryPolicy, workflow
from duragent.openai_agents import (
    MCPServerProvider,
    OpenAIAgentsPlugin,
    ToolOptions,
    activity_as_tool,
    durable_mcp_server,
)
from duragent.streaming import Reset, TextDelta, ToolCall

from . import demo_support, llm, weather_mcp_server
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


weather_mcp_agent: Agent[Any] = Agent(
    name="Weather Assistant",
    instructions=INSTRUCTIONS,
    model=llm.MODEL,
    mcp_servers=[durable_mcp_server("weather")],
)


@workflow.defn
class WeatherAgentWorkflow:
    """Answers one question with the weather agent (with ``mcp``: the variant whose tools
    come from the MCP server)."""

    @workflow.run
    async def run(self, question: str, mcp: bool = False, stream: bool = False) -> str:
        agent = weather_mcp_agent if mcp else weather_agent
        if not stream:
            result = await Runner.run(agent, question, max_turns=8)
            return str(result.final_output)
        # The model activities stream their tokens to the run's durable stream; workflow
        # code sees each recorded response as stream events (deterministic on replay).
        streamed = Runner.run_streamed(agent, question, max_turns=8)
        async for _ in streamed.stream_events():
            pass
        return str(streamed.final_output)


WORKFLOWS: Final = [WeatherAgentWorkflow]
ACTIVITIES: Final = [get_weather_alerts, get_location_info, get_ip_address]
MCP_SERVERS: Final = [
    MCPServerProvider(
        "weather",
        weather_mcp_server.stdio_server,
        tool_options=ToolOptions(start_to_close_timeout=TOOL_TIMEOUT, retry_policy=TOOL_RETRIES),
    )
]
PLUGINS: Final = [OpenAIAgentsPlugin(model_provider=llm.model_provider, mcp_servers=MCP_SERVERS)]


async def ask(client: Client, question: str, *, workflow_id: str, mcp: bool = False) -> str:
    """Start the workflow (with the MCP variant of the agent if ``mcp``) and wait for the
    agent's answer."""
    handle = await client.start_workflow(
        WeatherAgentWorkflow.run, args=[question, mcp], id=workflow_id, task_queue=TASK_QUEUE
    )
    return await handle.result(timeout=300)


async def stream_answer(client: Client, question: str, *, workflow_id: str) -> str:
    """Start the workflow streamed and print the answer as it is generated (a retried
    model call's withdrawn text is noted); returns the answer."""
    handle = await client.start_workflow(
        WeatherAgentWorkflow.run,
        args=[question, False, True],
        id=workflow_id,
        task_queue=TASK_QUEUE,
    )
    print("streamed: ", end="", flush=True)
    async for event in handle.stream():
        if isinstance(event, TextDelta):
            print(event.text, end="", flush=True)
        elif isinstance(event, ToolCall):
            print(f"[{event.name}({event.arguments})] ", end="", flush=True)
        elif isinstance(event, Reset):
            print(" [retried: the text so far is withdrawn] ", end="", flush=True)
    print()
    return await handle.result(timeout=300)


async def main(
    question: str = DEFAULT_QUESTION,
    *,
    model_provider: Any = None,
    mcp: bool = False,
    stream: bool = False,
) -> str:
    """Run the agent once, offline, and print what it did (with its tools from the MCP
    server if ``mcp``; printing its answer as it is generated if ``stream``)."""
    print(f"model: {llm.describe() if model_provider is None else type(model_provider).__name__}")
    if mcp:
        print("tools: from the MCP server examples/weather_mcp_server.py (stdio)")
    print(f"question: {question}")
    with (
        demo_support.offline_apis(),
        demo_support.temporary_store() as (db_url, _),
    ):
        async with demo_support.running_worker(
            db_url, sys.modules[__name__], model_provider=model_provider
        ) as (client, _worker):
            if stream:
                answer = await stream_answer(client, question, workflow_id="weather-agent")
            else:
                answer = await ask(client, question, workflow_id="weather-agent", mcp=mcp)
            history = await client.get_workflow_handle("weather-agent").fetch_history()
            print("steps (each one an activity in the workflow's history):")
            demo_support.print_steps(history.events)
            await demo_support.print_usage(client, "weather-agent")
    print(f"answer: {answer}")
    return answer


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Ask the durable weather agent a question.")
    parser.add_argument("question", nargs="?", default=DEFAULT_QUESTION)
    parser.add_argument(
        "--mcp", action="store_true", help="take the tools from the weather MCP server"
    )
    parser.add_argument(
        "--stream", action="store_true", help="print the answer as the model writes it"
    )
    args = demo_support.parse_args(parser)
    asyncio.run(main(args.question, mcp=args.mcp, stream=args.stream))
