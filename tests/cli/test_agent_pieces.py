"""The parts of the agent commands that need no worker: plugins from a module, the plugin
description in the worker banner, and the timeline's model/tool rows."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from duragent import ConfigurationError
from duragent.cli.loading import discover, load_app
from duragent.cli.worker_cmd import agents_plugin, describe_plugin
from duragent.openai_agents import MODEL_ACTIVITY as PLUGIN_MODEL_ACTIVITY
from duragent.openai_agents import TOOL_ACTIVITY as PLUGIN_TOOL_ACTIVITY
from duragent.openai_agents import OpenAIAgentsPlugin
from duragent.serde import DataConverter
from duragent.views.agent_rows import (
    MODEL_ACTIVITY,
    TOOL_ACTIVITY,
    agent_title,
    item_text,
    request_detail,
    result_detail,
)
from tests.fixtures import cli_agents_app


def test_plugins_come_from_the_module() -> None:
    app = discover(cli_agents_app)
    assert app.plugins == cli_agents_app.PLUGINS
    assert app.plugin_names == ["OpenAIAgentsPlugin"]
    assert app.workflows == []  # the plugin brings the built-in workflows
    assert app.task_queue == "agents"


def test_bad_plugins_are_configuration_errors() -> None:
    module = types.ModuleType("plugin_app")
    module.PLUGINS = [OpenAIAgentsPlugin]  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError, match=r"holds the class OpenAIAgentsPlugin"):
        discover(module)
    module.PLUGINS = ["not a plugin"]  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError, match="not a worker plugin"):
        discover(module)
    module.PLUGINS = OpenAIAgentsPlugin()  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError, match="must be a list"):
        discover(module)


def test_a_module_with_nothing_to_run_is_fine_for_agents_only(tmp_path: Path) -> None:
    path = tmp_path / "agents_only_app.py"
    path.write_text("TASK_QUEUE = 'agents'\n")
    with pytest.raises(ConfigurationError, match=r"defines no @workflow\.defn classes"):
        load_app(str(path))
    app = load_app(str(path), require_definitions=False)  # worker --agents
    assert (app.workflows, app.activities, app.plugins) == ([], [], [])


def test_plugin_description_names_the_model_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    assert describe_plugin(cli_agents_app.PLUGINS[0]) == (
        "OpenAIAgentsPlugin (models: ScriptedModelProvider)"
    )
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    plugin = agents_plugin()
    assert isinstance(plugin, OpenAIAgentsPlugin)
    assert describe_plugin(plugin) == "OpenAIAgentsPlugin (models: offline local model)"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1")
    assert "OpenAI-compatible endpoint http://127.0.0.1:8000/v1" in describe_plugin(plugin)
    assert describe_plugin(object()) == "object"


def test_activity_types_match_the_plugin() -> None:
    assert MODEL_ACTIVITY == PLUGIN_MODEL_ACTIVITY
    assert TOOL_ACTIVITY == PLUGIN_TOOL_ACTIVITY


def test_model_and_tool_rows_in_words() -> None:
    encode = DataConverter().encode
    assert agent_title(MODEL_ACTIVITY, "weather", 3, 2) == "model call 2: weather"
    assert agent_title(TOOL_ACTIVITY, "get_weather", 2) == "tool get_weather #2"
    assert agent_title("greet", "", 3) is None

    request = {
        "model": "weather",
        "agent": "weather",
        "input": [
            {"role": "user", "content": "Weather?"},
            {"type": "function_call_output", "call_id": "c", "output": "Sunny"},
        ],
    }
    assert request_detail(MODEL_ACTIVITY, (encode(request),)) == "2 items, last tool output: Sunny"
    tool_request = {"tool": "m:get_weather", "name": "get_weather", "arguments": '{"city": "X"}'}
    assert request_detail(TOOL_ACTIVITY, (encode(tool_request),)) == '{"city": "X"}'
    assert request_detail("greet", (encode("x"),)) is None

    response = {
        "response": {
            "output": [{"type": "function_call", "name": "get_weather", "arguments": "{}"}],
            "usage": {"input_tokens": 12, "output_tokens": 5},
        },
        "model": "weather",
        "latency_ms": 3,
    }
    assert result_detail(MODEL_ACTIVITY, encode(response)) == (
        "12 in / 5 out tokens → get_weather({})"
    )
    assert result_detail(TOOL_ACTIVITY, encode("Sunny")) is None
    message = {"type": "message", "role": "assistant", "content": [{"text": "Hi"}]}
    assert item_text(message) == "assistant: Hi"


def test_mcp_rows_in_words() -> None:
    from duragent.openai_agents._names import MCP_CALL_TOOL, MCP_LIST_TOOLS
    from duragent.views.agent_rows import MCP_CALL

    assert MCP_CALL == MCP_CALL_TOOL
    encode = DataConverter().encode
    assert agent_title(MCP_CALL, "weather.get_alerts", 3) == "tool weather.get_alerts #3"
    assert agent_title(MCP_LIST_TOOLS, "weather", 1) == "mcp weather list tools #1"
    call = {"server": "weather", "tool": "get_alerts", "arguments": {"state": "CA"}}
    assert request_detail(MCP_CALL, (encode(call),)) == '{"state": "CA"}'
    result = {"v": 1, "content": [{"type": "text", "text": "out of stock"}], "is_error": True}
    assert result_detail(MCP_CALL, encode(result)) == "error: out of stock"
    listed = {"v": 1, "tools": [{"name": "a", "input_schema": {}}, {"name": "b"}]}
    assert result_detail(MCP_LIST_TOOLS, encode(listed)) == "2 tools: a, b"
    session = "duragent.mcp.session_call"
    assert agent_title(session, "places.set_location", 4) == "tool places.set_location #4"
    assert agent_title(session, "places", 2) == "mcp places #2"
    assert agent_title("duragent.mcp.session", "places session", 1) == "mcp places session #1"
    assert result_detail(session, encode(result)) == "error: out of stock"
    assert result_detail(session, encode(listed)) == "2 tools: a, b"
