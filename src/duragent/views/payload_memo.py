"""What a run's payloads said, as the conversation view reads them: kept per run by a
server between requests (events never change), so that each payload is decoded once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .format import content_text

ToolCalls = tuple[tuple[str, str, str], ...]
"""The function calls one model response asked for: (call id, tool name, arguments)."""


@dataclass(frozen=True, slots=True)
class ModelResult:
    """What one model call's result said (a :class:`ModelTurn`'s facts and tool calls)."""

    calls: ToolCalls
    model: str
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    latency_ms: int
    text: str
    reasoning: str


@dataclass(frozen=True, slots=True)
class ModelInput:
    """What one model call's request said, as read in call order from the run's first call
    (what it adds depends on what the calls before it showed)."""

    agent: str
    model: str
    handoffs: tuple[tuple[str, str], ...]
    """Handoff tool name -> the agent it hands off to."""
    messages: tuple[tuple[str, str, str], ...]
    """The messages it adds: (key, role, text)."""
    outputs: tuple[tuple[str, str], ...]
    """The tool outputs the model was shown first in it: (call id, output)."""


ToolRequest = tuple[str, str, str, str, str] | None
"""A tool activity's request: (its call id as text, the call id or "", tool name, agent,
arguments); None: not one."""


@dataclass
class ConversationMemo:
    """What a run's payloads said, by the id of the event they came with, for the next
    build of the same run (events never change: a server keeps one per run, so a long run's
    model calls are decoded once, and a grown run's new events only)."""

    results: dict[int, ModelResult] = field(default_factory=lambda: {})
    """Model call results, by completion event id."""
    inputs: dict[int, ModelInput] = field(default_factory=lambda: {})
    """Model call requests, by scheduled event id (only those read in call order from the
    first: a page further on reads its first request without the ones before it)."""
    tool_requests: dict[int, ToolRequest] = field(default_factory=lambda: {})
    """Tool activities' requests, by scheduled event id."""
    mcp_tools: dict[int, str | None] = field(default_factory=lambda: {})
    """The MCP tool each MCP activity calls (None: none), by scheduled event id."""
    decisions: dict[int, tuple[str, bool, str] | None] = field(default_factory=lambda: {})
    """Approval decisions (call id, approved, message), by update acceptance event id."""
    texts: dict[int, str] = field(default_factory=lambda: {})
    """Tool activities' results and the run's result as shown, by their event's id."""
    builds: int = 0
    """Conversations built with it: from the second on, a page reads the requests off it
    too, once (see ``build_conversation(memo=)``)."""


def model_result(value: Any) -> ModelResult:
    """What a decoded model call result says: its function calls (handoffs among them),
    model, tokens, latency, text and reasoning."""
    result: dict[str, Any] = value if isinstance(value, dict) else {}  # pyright: ignore[reportUnknownVariableType]
    response: Any = result.get("response") or {}
    usage: Any = response.get("usage") or {}
    details: Any = usage.get("input_tokens_details") or {}
    calls: list[tuple[str, str, str]] = []
    texts: list[str] = []
    reasoning: list[str] = []
    for item in response.get("output") or []:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        if kind == "function_call":
            calls.append(
                (
                    str(item.get("call_id") or item.get("id") or ""),  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
                    str(item.get("name") or ""),  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
                    str(item.get("arguments") or ""),  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
                )
            )
        elif kind == "message":
            texts.append(content_text(item.get("content")))  # pyright: ignore[reportUnknownMemberType]
        elif kind == "reasoning":
            summary: Any = item.get("summary") or []  # pyright: ignore[reportUnknownMemberType]
            reasoning.append(content_text(summary))
    return ModelResult(
        calls=tuple(calls),
        model=str(result.get("model") or ""),
        input_tokens=int(usage.get("input_tokens") or 0),
        output_tokens=int(usage.get("output_tokens") or 0),
        cached_tokens=int(details.get("cached_tokens") or 0),
        latency_ms=int(result.get("latency_ms") or 0),
        text="\n\n".join(t for t in texts if t),
        reasoning="\n".join(r for r in reasoning if r),
    )
