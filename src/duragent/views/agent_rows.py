"""Timeline rows of agent runs: model calls and tool calls, in words.

The OpenAI Agents plugin runs every model call as the activity
``duragent.openai_agents.invoke_model`` (its summary is the agent's name) and every function
tool as ``duragent.openai_agents.invoke_tool`` (its summary is the tool's name). Their raw
payloads are large (a model call's input is the whole conversation), so the timeline shows
``model <agent>`` / ``tool <name>`` rows with a short account of what went in and came out.
MCP tool calls (``duragent.mcp.call_tool``, or ``duragent.mcp.session_call`` in a stateful
session; summary ``<server>.<tool>``) are tool rows too; listing an MCP server's tools or
prompts, and holding a stateful session, show as ``mcp`` rows. Pure functions over
recorded payloads: nothing here imports the Agents SDK.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from ..errors import SerializationError
from ..serde import Payload
from .format import to_json, truncate

MODEL_ACTIVITY: Final = "duragent.openai_agents.invoke_model"
"""Activity type of model calls (``duragent.openai_agents.MODEL_ACTIVITY``)."""
TOOL_ACTIVITY: Final = "duragent.openai_agents.invoke_tool"
"""Activity type of function tool calls (``duragent.openai_agents.TOOL_ACTIVITY``)."""
MCP_CALL: Final = "duragent.mcp.call_tool"
MCP_SESSION_CALL: Final = "duragent.mcp.session_call"
_MCP_LIST_TOOLS: Final = "duragent.mcp.list_tools"
_MCP_ROWS: Final = {
    _MCP_LIST_TOOLS: "list tools",
    "duragent.mcp.session": "",
    "duragent.mcp.list_prompts": "list prompts",
    "duragent.mcp.get_prompt": "get prompt",
}


def agent_title(activity_type: str, summary: str, seq: int, call: int = 0) -> str | None:
    """``model call <n>: <agent>`` (``call``: the model call's number in the run, 1, 2,
    3, ..., as the conversation and the usage ledger number them) or ``tool <name> #seq``
    (the activity's sequence number); None for other activities."""
    if activity_type == MODEL_ACTIVITY:
        return f"model call {call or '?'}: {summary or '(unnamed agent)'}"
    if activity_type in (TOOL_ACTIVITY, MCP_CALL) or (
        activity_type == MCP_SESSION_CALL and "." in summary and ".prompt:" not in summary
    ):
        return f"tool {summary or '?'} #{seq}"
    if activity_type == MCP_SESSION_CALL:
        return f"mcp {summary or '?'} #{seq}"
    if activity_type in _MCP_ROWS:
        return " ".join(filter(None, ("mcp", summary or "?", _MCP_ROWS[activity_type], f"#{seq}")))
    return None


def _value(payloads: Sequence[Payload] | Payload | None) -> Any:
    payload = payloads[0] if isinstance(payloads, Sequence) and payloads else payloads
    if not isinstance(payload, Payload):
        return None
    try:
        return payload.to_json_value()
    except (SerializationError, ValueError):
        return None


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [str(p.get("text", "")) for p in content if isinstance(p, dict)]  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType, reportUnknownMemberType]
        return " ".join(p for p in parts if p)
    return ""


def item_text(item: Any) -> str:
    """One conversation item (input or output) in a few words."""
    if not isinstance(item, dict):
        return str(item)
    kind = item.get("type")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    if kind == "function_call":
        return f"{item.get('name')}({item.get('arguments', '')})"  # pyright: ignore[reportUnknownMemberType]
    if kind == "function_call_output":
        return f"tool output: {item.get('output', '')}"  # pyright: ignore[reportUnknownMemberType]
    role = item.get("role")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    if role is not None or kind == "message":
        return f"{role or 'assistant'}: {_content_text(item.get('content'))}"  # pyright: ignore[reportUnknownMemberType]
    return str(kind or to_json(item))


def request_detail(activity_type: str, payloads: Sequence[Payload]) -> str | None:
    """What went into a model or tool call; None for other activities."""
    if activity_type not in (MODEL_ACTIVITY, TOOL_ACTIVITY, MCP_CALL, MCP_SESSION_CALL):
        return None
    value = _value(payloads)
    if not isinstance(value, dict):
        return None
    if activity_type == TOOL_ACTIVITY:
        return str(value.get("arguments", ""))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
    if activity_type in (MCP_CALL, MCP_SESSION_CALL):
        return to_json(value.get("arguments") or {})  # pyright: ignore[reportUnknownMemberType]
    items: Any = value.get("input")  # pyright: ignore[reportUnknownMemberType]
    if isinstance(items, str):
        return f"user: {truncate(items, 60)}"
    if not isinstance(items, list) or not items:
        return ""
    count = len(items)  # pyright: ignore[reportUnknownArgumentType]
    last = item_text(items[-1])
    return f"{count} item{'' if count == 1 else 's'}, last {last}"


def result_detail(activity_type: str, result: Payload | None) -> str | None:
    """What a model call answered (tool calls it asked for, or its message) and its
    tokens, or the text an MCP tool returned; None for other activities (their result is
    shown as is)."""
    if activity_type in (MCP_CALL, MCP_SESSION_CALL) and "content" in (_value(result) or {}):
        return mcp_result_text(_value(result))
    if activity_type in (_MCP_LIST_TOOLS, MCP_SESSION_CALL):
        value = _value(result)
        tools: Any = value.get("tools") if isinstance(value, dict) else None  # pyright: ignore[reportUnknownMemberType]
        if isinstance(tools, list):
            names = [str(t.get("name")) for t in tools if isinstance(t, dict)]  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
            return f"{len(names)} tool{'' if len(names) == 1 else 's'}: {', '.join(names)}"
    if activity_type != MODEL_ACTIVITY:
        return None
    value = _value(result)
    if not isinstance(value, dict):
        return None
    response: Any = value.get("response") or {}  # pyright: ignore[reportUnknownMemberType]
    outputs: Any = response.get("output") or []
    said = "; ".join(item_text(i) for i in outputs) if isinstance(outputs, list) else ""
    usage: Any = response.get("usage") or {}
    tokens = f"{usage.get('input_tokens', 0)} in / {usage.get('output_tokens', 0)} out tokens"
    return f"{tokens} → {said or '(no output)'}"


def counts_as_tool_call(activity_type: str, summary: str) -> bool:
    """Whether a (non-model) activity is a tool call for run summaries: named tools are,
    listing an MCP server's tools or prompts and holding a session are not."""
    if activity_type in _MCP_ROWS:
        return False
    if activity_type == MCP_SESSION_CALL:
        return "." in summary and ".prompt:" not in summary
    return bool(summary)


def mcp_tool_of(activity_type: str, request: Any) -> str | None:
    """The MCP tool an activity calls (``duragent.mcp.call_tool``, or a stateful session's
    ``call_tool`` operation), from its recorded request; None for other activities."""
    if not isinstance(request, dict):
        return None
    if activity_type == MCP_CALL:
        return str(request.get("tool") or "")  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
    if activity_type == MCP_SESSION_CALL and request.get("op") == "call_tool":  # pyright: ignore[reportUnknownMemberType]
        return str(request.get("name") or "")  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
    return None


def is_mcp_result(value: Any) -> bool:
    """Whether a recorded value is an MCP tool result (Duragent's shape)."""
    return isinstance(value, dict) and "content" in value and "is_error" in value


def mcp_result_text(value: Any) -> str:
    """A recorded MCP tool result (Duragent's shape, ``duragent.openai_agents.mcp``) in
    words: its text blocks, marked when the server flagged an error."""
    if not isinstance(value, dict):
        return to_json(value)
    parts: list[str] = []
    for block in value.get("content") or []:  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        if isinstance(block, dict):
            kind = block.get("type")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
            parts.append(str(block.get("text", "")) if kind == "text" else f"<{kind}>")  # pyright: ignore[reportUnknownMemberType]
    text = " ".join(parts)
    return f"error: {text}" if value.get("is_error") else text  # pyright: ignore[reportUnknownMemberType]
