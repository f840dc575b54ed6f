"""Agent code moved from Temporal: ``duragent.openai_agents.workflow`` has
``activity_as_tool`` under temporalio's module name, taking temporalio's options, and a
method activity becomes a tool that runs on the instance the worker registered."""

from __future__ import annotations

from datetime import timedelta

import pytest
from agents import Agent, Runner

import duragent.openai_agents
from duragent import Client, ConfigurationError, Worker, activity
from duragent import workflow as duragent_workflow
from duragent._engine import events as ev
from duragent.openai_agents import OpenAIAgentsPlugin
from duragent.openai_agents import workflow as agents_workflow
from duragent.openai_agents.mcp import durable_mcp_server
from duragent.testing.scripted_model import ScriptedModelProvider, message, tool_call


class WeatherService:
    """Holds what the tool needs (here, canned readings) as a Temporal user would."""

    def __init__(self, readings: dict[str, str]) -> None:
        self.readings = readings

    @activity.defn
    async def get_weather(self, city: str) -> str:
        """The current weather in a city."""
        return self.readings.get(city, "unknown")


weather_agent = Agent(
    name="weather",
    instructions="Use the tool.",
    model="weather",
    tools=[
        agents_workflow.activity_as_tool(
            WeatherService.get_weather,
            start_to_close_timeout=timedelta(seconds=10),
            heartbeat_timeout=timedelta(seconds=5),
            summary="weather lookup",
        )
    ],
)
SCRIPTS = {"weather": [[tool_call("get_weather", {"city": "Oslo"})], [message("It is cold.")]]}


@duragent_workflow.defn
class AskWeather:
    @duragent_workflow.run
    async def run(self, question: str) -> str:
        return str((await Runner.run(weather_agent, question)).final_output)


async def test_the_temporal_module_name_has_the_same_helpers() -> None:
    assert agents_workflow.activity_as_tool is duragent.openai_agents.activity_as_tool
    assert issubclass(agents_workflow.ToolSerializationError, Exception)
    server = agents_workflow.stateless_mcp_server("weather")
    assert server.name == durable_mcp_server("weather").name
    async with agents_workflow.stateful_mcp_server("weather") as stateful:
        assert stateful.name == server.name
    with pytest.raises(ConfigurationError, match="MCPServerProvider"):
        agents_workflow.stateless_mcp_server("weather", factory_argument={"x": 1})


async def test_a_method_activity_as_tool_runs_on_the_registered_instance(client: Client) -> None:
    service = WeatherService({"Oslo": "-3 C and snowing"})
    async with Worker(
        client,
        task_queue="tn",
        workflows=[AskWeather],
        activities=[service.get_weather],
        plugins=[OpenAIAgentsPlugin(model_provider=ScriptedModelProvider(SCRIPTS))],
    ):
        result = await client.execute_workflow(AskWeather.run, "Oslo?", id="tn-1", task_queue="tn")
    assert result == "It is cold."
    history = await client.get_workflow_handle("tn-1").fetch_history()
    tool_calls = [
        e
        for e in history.events
        if isinstance(e, ev.ActivityTaskScheduled) and e.activity_type == "get_weather"
    ]
    assert [(e.summary, e.heartbeat_timeout_ms) for e in tool_calls] == [("weather lookup", 5000)]
    completed = [
        e.result.to_json_value()
        for e in history.events
        if isinstance(e, ev.ActivityTaskCompleted) and e.seq == tool_calls[0].seq
    ]
    assert completed == ["-3 C and snowing"]
