"""The real local model (SmolLM2 on llama.cpp) driving a durable agent, end to end: in
process, and through llama.cpp's OpenAI-compatible HTTP server.

What a 135M model chooses is not pinned down; what is: a tool call ran as an activity, the
model calls are recorded in history, and the run finishes with a non-empty answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Final

import pytest
from agents import Agent, ModelProvider, Runner, function_tool

from duragent import Client, Worker, workflow
from duragent.models.local import (
    WEATHER_EXAMPLES,
    LocalModelProvider,
    is_available,
    start_server,
)
from duragent.openai_agents import MODEL_ACTIVITY, TOOL_ACTIVITY, OpenAIAgentsPlugin, usage_report

pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(
        not is_available(),
        reason="the local model is not installed (scripts/_venv.py: ensure_local_model)",
    ),
]

QUEUE: Final = "local-model"
QUESTION: Final = "Any weather alerts in CA?"


@function_tool
async def get_weather_alerts(state: str) -> str:
    """Get active weather alerts for a US state.

    Args:
        state: Two-letter US state code, e.g. CA
    """
    return json.dumps({"alerts": ["Red Flag Warning"] if state == "CA" else []})


@function_tool
async def get_location_info(ip: str) -> str:
    """Get the city and state for an IP address.

    Args:
        ip: IPv4 address
    """
    return json.dumps({"city": "Mountain View", "state": "CA"})


@function_tool
async def get_ip_address() -> str:
    """Get the user's current public IP address."""
    return json.dumps({"ip": "8.8.8.8"})


weather = Agent(
    name="weather",
    instructions="Answer questions about US weather alerts using the tools.",
    tools=[get_weather_alerts, get_location_info, get_ip_address],
)


@workflow.defn
class AskWeather:
    @workflow.run
    async def run(self, question: str) -> str:
        return str((await Runner.run(weather, question, max_turns=6)).final_output)


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    process, base_url = start_server()
    try:
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except Exception:
            process.kill()
            process.wait()


async def run_durably(client: Client, provider: ModelProvider) -> tuple[str, list[Any]]:
    async with Worker(
        client,
        task_queue=QUEUE,
        workflows=[AskWeather],
        plugins=[OpenAIAgentsPlugin(model_provider=provider)],
    ):
        handle = await client.start_workflow(AskWeather.run, QUESTION, id="w", task_queue=QUEUE)
        answer = await handle.result(timeout=60)
        events = (await handle.fetch_history()).events
    return answer, list(events)


def check(answer: str, events: list[Any]) -> None:
    scheduled = [e for e in events if e.TYPE == "ActivityTaskScheduled"]
    tools = [e for e in scheduled if e.activity_type == TOOL_ACTIVITY]
    models = [e for e in scheduled if e.activity_type == MODEL_ACTIVITY]
    assert tools, f"no tool ran as an activity; answer: {answer!r}"
    assert {e.summary for e in tools} <= {
        "get_weather_alerts",
        "get_location_info",
        "get_ip_address",
    }
    assert len(models) == len(tools) + 1  # a model call before each tool call, and the answer
    assert answer.strip()
    completed = {e.seq for e in events if e.TYPE == "ActivityTaskCompleted"}
    assert {e.seq for e in scheduled} <= completed


async def test_local_model_in_process(client: Client) -> None:
    answer, events = await run_durably(client, LocalModelProvider(examples=WEATHER_EXAMPLES))
    check(answer, events)
    report = await usage_report(client, "w")
    assert report.model_calls >= 2
    assert report.input_tokens > 0
    assert report.output_tokens > 0


async def test_local_model_over_http(client: Client, server_url: str) -> None:
    provider = LocalModelProvider(base_url=server_url, examples=WEATHER_EXAMPLES)
    answer, events = await run_durably(client, provider)
    check(answer, events)
