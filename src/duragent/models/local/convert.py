"""Conversation formats in: Responses-API input items and chat-completions messages."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from duragent.models.local.prompt import AssistantText, ToolCallTurn, ToolResult, Turn, UserText
from duragent.models.local.schema import ToolSpec

__all__ = ["tools_from_chat", "turns_from_chat", "turns_from_items"]


def turns_from_items(items: str | Iterable[Any]) -> tuple[list[str], list[Turn]]:
    """Convert Responses-API input items (what the Agents SDK passes a model).

    Handles plain string input, user/system/developer/assistant messages (text content;
    images and files become a placeholder), ``function_call`` and ``function_call_output``.
    Reasoning items and item references are skipped, and so are other hosted-tool items,
    which the local model cannot produce.

    Returns:
        System/developer messages found before the first other item (to be merged into the
        system prompt), and the conversation turns.
    """
    if isinstance(items, str):
        return [], [UserText(items)]
    leading_system: list[str] = []
    turns: list[Turn] = []
    for raw in items:
        item = _as_dict(raw)
        kind = item.get("type")
        role = item.get("role")
        if kind == "function_call":
            turns.append(
                ToolCallTurn(
                    name=str(item.get("name", "")),
                    arguments=str(item.get("arguments") or "{}"),
                    call_id=str(item.get("call_id", "")),
                )
            )
        elif kind == "function_call_output":
            turns.append(
                ToolResult(call_id=str(item.get("call_id", "")), output=_text(item.get("output")))
            )
        elif role is not None and (kind is None or kind == "message"):
            text = _text(item.get("content"))
            if role == "assistant":
                turns.append(AssistantText(text))
            elif role in ("system", "developer"):
                if turns:
                    turns.append(UserText(text, role="system"))
                else:
                    leading_system.append(text)
            else:
                turns.append(UserText(text))
    return leading_system, turns


def turns_from_chat(messages: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[Turn]]:
    """Convert OpenAI chat-completions messages (system/developer/user/assistant/tool).

    Returns:
        Leading system messages (for the system prompt) and the conversation turns.
    """
    leading_system: list[str] = []
    turns: list[Turn] = []
    for message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            text = _text(message.get("content"))
            if turns:
                turns.append(UserText(text, role="system"))
            else:
                leading_system.append(text)
        elif role == "user":
            turns.append(UserText(_text(message.get("content"))))
        elif role == "assistant":
            content = _text(message.get("content"))
            if content:
                turns.append(AssistantText(content))
            for call in message.get("tool_calls") or ():
                function = call.get("function") or {}
                turns.append(
                    ToolCallTurn(
                        name=str(function.get("name", "")),
                        arguments=str(function.get("arguments") or "{}"),
                        call_id=str(call.get("id", "")),
                    )
                )
        elif role == "tool":
            turns.append(
                ToolResult(
                    call_id=str(message.get("tool_call_id", "")),
                    output=_text(message.get("content")),
                )
            )
        else:
            raise ValueError(f"unsupported chat message role: {role!r}")
    return leading_system, turns


def tools_from_chat(tools: Iterable[Mapping[str, Any]] | None) -> list[ToolSpec]:
    """Convert chat-completions tools (``{"type": "function", "function": {...}}``)."""
    specs: list[ToolSpec] = []
    for tool in tools or ():
        if tool.get("type", "function") != "function":
            raise ValueError(f"the local model only supports function tools, not {tool!r}")
        function = tool.get("function") or {}
        specs.append(
            ToolSpec(
                name=str(function["name"]),
                description=str(function.get("description") or ""),
                parameters=function.get("parameters") or {"type": "object", "properties": {}},
            )
        )
    return specs


def _as_dict(item: Any) -> Mapping[str, Any]:
    if isinstance(item, Mapping):
        return item  # pyright: ignore[reportUnknownVariableType]
    dump = getattr(item, "model_dump", None)
    if callable(dump):
        return cast(Mapping[str, Any], dump(exclude_unset=True))
    raise TypeError(f"unsupported input item: {item!r}")


def _text(content: Any) -> str:
    """The text of a message content: a string, or a list of content parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Iterable):
        parts: list[str] = []
        for raw in content:  # pyright: ignore[reportUnknownVariableType]
            part = _as_dict(raw) if not isinstance(raw, str) else {"text": raw}
            kind = part.get("type")
            if "text" in part:
                parts.append(str(part["text"]))
            elif kind == "refusal":
                parts.append(str(part.get("refusal", "")))
            elif kind in ("input_image", "image_url"):
                parts.append("[image]")
            elif kind in ("input_file", "file"):
                parts.append("[file]")
        return "\n".join(parts)
    return json.dumps(content, default=str)
