"""The recorded shape of MCP results is Duragent's own and versioned: the frozen samples of
format 1 load into the installed ``mcp`` package's models, convert back unchanged, and a
newer format is refused clearly. Failed MCP requests are sorted into retryable transport
failures and refusals that would be refused again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, GetPromptResult, ListPromptsResult, Tool

from duragent import ApplicationError, SerializationError
from duragent.openai_agents.mcp import _shapes
from duragent.openai_agents.mcp._activities import REJECTED, UNREACHABLE, _failure
from duragent.openai_agents.mcp._pool import Connection

SAMPLES: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "formats" / "mcp_v1.json").read_text()
)


def test_a_recorded_tool_list_loads_into_the_installed_mcp_models() -> None:
    recorded = SAMPLES["tool_list"]
    tools = [Tool.model_validate(w) for w in _shapes.tools_to_wire(recorded)]
    alerts, payment = tools
    assert alerts.name == "get_alerts"
    assert alerts.title == "Alerts"
    wire = alerts.model_dump(mode="json", by_alias=True)
    assert wire["inputSchema"]["required"] == ["state"]
    assert wire["annotations"]["readOnlyHint"] is True
    assert wire["_meta"] == {"acme/owner": "weather-team"}
    assert payment.description is None
    assert _shapes.tools_from_mcp(tools) == recorded


def test_a_recorded_call_result_loads_with_every_block_type() -> None:
    recorded = SAMPLES["call_result"]
    result = CallToolResult.model_validate(_shapes.result_to_wire(recorded))
    wire = result.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert [b["type"] for b in wire["content"]] == [
        "text",
        "image",
        "audio",
        "resource",
        "resource",
        "resource_link",
    ]
    assert wire["content"][1]["mimeType"] == "image/png"
    assert wire["content"][4]["resource"]["blob"] == "AAEC"
    assert wire["structuredContent"] == {"state": "CA", "alerts": 1}
    assert wire["isError"] is False
    assert _shapes.result_from_mcp(result) == recorded


@pytest.mark.parametrize("name", ["error_result", "failure_result"])
def test_error_results_keep_their_flag(name: str) -> None:
    recorded = SAMPLES[name]
    result = CallToolResult.model_validate(_shapes.result_to_wire(recorded))
    assert result.model_dump(by_alias=True)["isError"] is True
    assert _shapes.result_from_mcp(result) == recorded


def test_recorded_prompts_load() -> None:
    listed = ListPromptsResult.model_validate(_shapes.prompts_to_wire(SAMPLES["prompt_list"]))
    assert [a.name for a in listed.prompts[0].arguments or []] == ["state", "tone"]
    assert _shapes.prompts_from_mcp(listed) == SAMPLES["prompt_list"]
    prompt = GetPromptResult.model_validate(_shapes.prompt_to_wire(SAMPLES["prompt"]))
    assert prompt.description == "Summarize alerts"
    assert _shapes.prompt_from_mcp(prompt) == SAMPLES["prompt"]


def test_a_block_type_this_format_does_not_name_is_kept_as_it_came() -> None:
    block = {"type": "hologram", "frames": 3}
    assert _shapes.block_from_wire(block) == {"type": "other", "wire": block}
    assert _shapes.block_to_wire(_shapes.block_from_wire(block)) == block


@pytest.mark.parametrize(
    ("reader", "sample"),
    [
        (_shapes.result_to_wire, "call_result"),
        (_shapes.tools_to_wire, "tool_list"),
        (_shapes.prompts_to_wire, "prompt_list"),
        (_shapes.prompt_to_wire, "prompt"),
    ],
)
def test_a_newer_format_is_refused_clearly(reader: Any, sample: str) -> None:
    with pytest.raises(
        SerializationError,
        match="is in MCP format version 2, but this Duragent reads versions 1 to 1",
    ):
        reader({**SAMPLES[sample], "v": 2})
    with pytest.raises(SerializationError, match="not a recorded MCP"):
        reader({"content": []})


# ---------------------------------------------------------------------- failure sorting


class _Server:
    session = None


def test_a_protocol_refusal_is_not_retried_and_keeps_the_connection() -> None:
    conn = Connection(_Server())
    err = _failure("weather", "call 'x'", MCPError(-32602, "unknown argument 'cty'"), conn)
    assert isinstance(err, ApplicationError)
    assert err.type == REJECTED
    assert err.non_retryable
    assert "MCP server 'weather' refused to call 'x': unknown argument 'cty'" in str(err)
    assert not conn.broken


@pytest.mark.parametrize(
    "error",
    [
        MCPError(-32000, "Connection closed"),
        MCPError(-32001, "Request timed out"),
        ConnectionRefusedError(111, "Connection refused"),
        EOFError(),
    ],
)
def test_transport_failures_are_retried_on_a_new_connection(error: Exception) -> None:
    conn = Connection(_Server())
    err = _failure("weather", "list its tools", error, conn)
    assert err.type == UNREACHABLE
    assert not err.non_retryable
    assert str(err).startswith("MCP server 'weather' could not be reached to list its tools")
    assert conn.broken


def test_an_authentication_failure_is_not_retried() -> None:
    err = _failure("weather", "call 'x'", RuntimeError("Failed: HTTP error 401"), None)
    assert err.non_retryable
    assert "HTTP 401" in str(err)
