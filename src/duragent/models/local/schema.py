"""The JSON schema of the replies the local model may give, and parsing of those replies.

Every reply in tool mode is one JSON object, either a tool call or a final answer::

    {"tool": "get_weather_alerts", "arguments": {"state": "CA"}}
    {"final_answer": "There are no alerts in California."}

:func:`reply_schema` turns the allowed tools (and the final-answer shape) into one ``oneOf``
schema, and llama.cpp compiles it into a grammar, so the model can only produce a reply that
names an allowed tool with arguments that match that tool's parameter schema, or a final
answer of the requested shape. Free-text strings get a ``maxLength`` so that a model stuck
repeating itself still closes the string (and the JSON) in time.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FINAL_KEY",
    "FinalAnswer",
    "ReplyError",
    "ToolCall",
    "ToolSpec",
    "parse_reply",
    "reply_schema",
]

FINAL_KEY = "final_answer"

DEFAULT_MAX_STRING = 200
"""``maxLength`` given to free-text strings that have no length limit, pattern or enum."""


@dataclass(frozen=True)
class ToolSpec:
    """A tool the model may call: its name, description and JSON schema of the arguments."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolCall:
    """A reply that calls a tool."""

    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class FinalAnswer:
    """A reply that answers: a string, or a JSON value matching the requested output schema."""

    value: Any

    @property
    def text(self) -> str:
        """The answer as message text: the string itself, or the JSON of a structured answer."""
        if isinstance(self.value, str):
            return self.value
        return json.dumps(self.value, ensure_ascii=False)


class ReplyError(ValueError):
    """The model's reply is not a valid tool call or answer (e.g. cut off by ``max_tokens``)."""


TEXT_ANSWER: dict[str, Any] = {"type": "string", "minLength": 1}


def reply_schema(
    tools: Sequence[ToolSpec],
    final_schema: Mapping[str, Any] | None,
    *,
    allow_final: bool = True,
    max_string: int = DEFAULT_MAX_STRING,
) -> dict[str, Any]:
    """The ``oneOf`` schema of the replies: one branch per tool, plus the final answer.

    Args:
        tools: The tools the model may call now.
        final_schema: The schema of a structured final answer, or ``None`` for text.
        allow_final: Whether a final answer is allowed (``False`` for ``tool_choice="required"``).
        max_string: ``maxLength`` for free-text strings that have no limit of their own.
    """
    defs: dict[str, Any] = {}
    branches: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        arguments = _prepare(tool.parameters or {}, f"t{i}_", defs, max_string)
        if not arguments or arguments.get("type", "object") == "object":
            arguments.setdefault("type", "object")
            arguments.setdefault("properties", {})
            arguments.setdefault("required", [])
        branches.append(
            _object({"tool": {"const": tool.name}, "arguments": arguments}, ["tool", "arguments"])
        )
    if allow_final or not branches:
        answer = (
            dict(TEXT_ANSWER, maxLength=max_string)
            if final_schema is None
            else _prepare(final_schema, "final_", defs, max_string)
        )
        branches.append(_object({FINAL_KEY: answer}, [FINAL_KEY]))
    schema: dict[str, Any] = {"oneOf": branches} if len(branches) > 1 else branches[0]
    if defs:
        schema["$defs"] = defs
    return schema


def text_answer_schema(max_string: int = DEFAULT_MAX_STRING) -> dict[str, Any]:
    """The schema of a text-only final answer."""
    return reply_schema([], None, max_string=max_string)


def parse_reply(text: str, *, structured: bool = False) -> ToolCall | FinalAnswer:
    """Parse the model's JSON reply.

    Raises:
        ReplyError: The text is not a complete reply (usually: ``max_tokens`` cut it off).
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ReplyError(
            f"the local model's reply is not complete JSON (raise max_tokens?): {text!r}"
        ) from e
    if isinstance(data, dict):
        if isinstance(data.get("tool"), str) and isinstance(data.get("arguments"), dict):
            return ToolCall(data["tool"], data["arguments"])
        if FINAL_KEY in data and (structured or isinstance(data[FINAL_KEY], str)):
            return FinalAnswer(data[FINAL_KEY])
    raise ReplyError(f"the local model's reply is neither a tool call nor an answer: {text!r}")


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _prepare(
    schema: Mapping[str, Any], prefix: str, defs: dict[str, Any], max_string: int
) -> dict[str, Any]:
    """Copy a user schema for embedding in the reply schema.

    Its ``$defs`` move to the root (renamed with ``prefix``, references rewritten), and
    strings get a length limit.
    """
    out = copy.deepcopy(dict(schema))
    local = {**out.pop("definitions", {}), **out.pop("$defs", {})}
    renames = {
        **{f"#/$defs/{name}": f"#/$defs/{prefix}{name}" for name in local},
        **{f"#/definitions/{name}": f"#/$defs/{prefix}{name}" for name in local},
    }
    for name, sub in local.items():
        defs[prefix + name] = _tighten(sub, renames, max_string)
    return _tighten(out, renames, max_string)


_STRING_LIMITS = ("maxLength", "pattern", "enum", "const", "format")


def _tighten(node: Any, renames: Mapping[str, str], max_string: int) -> Any:
    """Rewrite ``$ref``\\ s, bound free-text strings, and anchor patterns (recursively)."""
    if isinstance(node, list):
        return [_tighten(x, renames, max_string) for x in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            out[key] = renames.get(value, value)
        elif key in ("properties", "$defs", "definitions", "patternProperties") and isinstance(
            value, dict
        ):
            out[key] = {k: _tighten(v, renames, max_string) for k, v in value.items()}
        elif key in ("default", "examples", "const", "enum"):
            out[key] = value
        else:
            out[key] = _tighten(value, renames, max_string)
    kind = out.get("type")
    if isinstance(kind, list):
        # llama.cpp turns a list of types into bare types, dropping the other keywords:
        # spell it as anyOf so that string limits (and the rest) still apply.
        rest = {k: v for k, v in out.items() if k != "type"}
        return {"anyOf": [_tighten({**rest, "type": t}, renames, max_string) for t in kind]}
    if kind == "string" and not any(k in out for k in _STRING_LIMITS):
        out["maxLength"] = max_string
    pattern = out.get("pattern")
    if isinstance(pattern, str) and not (pattern.startswith("^") and pattern.endswith("$")):
        core = pattern.removeprefix("^").removesuffix("$")
        out["pattern"] = f"^({core})$"
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out
