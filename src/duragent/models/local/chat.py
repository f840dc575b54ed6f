"""``chat``: the local model with OpenAI chat-completions messages, without the Agents SDK."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from duragent.errors import ApplicationError
from duragent.models.local.backends import HttpBackend, InProcessBackend
from duragent.models.local.convert import tools_from_chat, turns_from_chat
from duragent.models.local.engine import Options, run_step
from duragent.models.local.prompt import DEFAULT_EXAMPLES, Example
from duragent.models.local.schema import DEFAULT_MAX_STRING, ReplyError, ToolCall

__all__ = ["chat"]


async def chat(
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]] | None = None,
    *,
    tool_choice: str = "auto",
    response_format: Mapping[str, Any] | None = None,
    max_tokens: int | None = None,
    temperature: float = 0.0,
    base_url: str | None = None,
    model_path: str | Path | None = None,
    examples: Sequence[Example] = DEFAULT_EXAMPLES,
    no_repeat: bool = True,
    max_string: int = DEFAULT_MAX_STRING,
) -> dict[str, Any]:
    """One assistant turn of the local model, in OpenAI chat-completions format.

    For agent loops written without the Agents SDK, e.g. inside an activity::

        reply = await chat(messages, tools)
        messages.append({k: v for k, v in reply.items() if k != "usage"})
        for call in reply.get("tool_calls", []):
            result = run_tool(call["function"]["name"], json.loads(call["function"]["arguments"]))
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})

    Args:
        messages: ``system``/``developer``/``user``/``assistant``/``tool`` messages.
        tools: ``{"type": "function", "function": {"name", "description", "parameters"}}``.
        tool_choice: ``"auto"``, ``"required"``, ``"none"`` or a tool name.
        response_format: ``{"type": "json_schema", "json_schema": {"schema": {...}}}`` for a
            structured answer (its content is then JSON matching the schema).
        max_tokens: Room for the reply (default 512).
        temperature: 0 (the default) decodes greedily; higher values sample with a seed
            derived from the request, so the result is repeatable either way.
        base_url: Use the llama.cpp server at this URL instead of running in-process.
        model_path: A GGUF file for the in-process backend (default: the bundled SmolLM2).
        examples, no_repeat, max_string: As for :class:`~duragent.models.local.LocalModel`.

    Returns:
        ``{"role": "assistant", "content": str}`` or ``{"role": "assistant", "content": None,
        "tool_calls": [{"id", "type": "function", "function": {"name", "arguments"}}]}``, plus
        ``"usage"``: ``{"prompt_tokens", "completion_tokens", "total_tokens",
        "prompt_tokens_details": {"cached_tokens"}}``. Tool call ids are deterministic.

    Raises:
        ApplicationError: Non-retryable, since the same request gives the same result:
            ``LocalModelOutputError`` when the reply did not fit in ``max_tokens``,
            ``LocalModelRequestError`` for a bad request (``tool_choice`` names no tool, the
            conversation is longer than the model's 8192-token context).
        LocalModelUnavailableError: llama-cpp-python or the weights are not installed.
    """
    leading_system, turns = turns_from_chat(messages)
    final_schema = _final_schema(response_format)
    backend = HttpBackend(base_url) if base_url is not None else InProcessBackend(model_path)
    try:
        step = await run_step(
            backend,
            instructions="\n\n".join(leading_system) or None,
            turns=turns,
            tools=tools_from_chat(tools),
            final_schema=final_schema,
            tool_choice=tool_choice,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=None,
            options=Options(tuple(examples), no_repeat, max_string),
        )
    except ReplyError as e:
        raise ApplicationError(str(e), type="LocalModelOutputError", non_retryable=True) from e
    except ValueError as e:  # a bad request: unknown tool_choice, conversation too long
        raise ApplicationError(str(e), type="LocalModelRequestError", non_retryable=True) from e
    completion = step.completion
    usage = {
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.completion_tokens,
        "total_tokens": completion.prompt_tokens + completion.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": completion.cached_tokens},
    }
    if isinstance(step.reply, ToolCall):
        return {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": step.call_id,
                    "type": "function",
                    "function": {
                        "name": step.reply.name,
                        "arguments": json.dumps(step.reply.arguments, ensure_ascii=False),
                    },
                }
            ],
            "usage": usage,
        }
    return {"role": "assistant", "content": step.reply.text, "usage": usage}


def _final_schema(response_format: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if response_format is None or response_format.get("type", "text") == "text":
        return None
    if response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        if isinstance(schema, dict):
            return schema  # pyright: ignore[reportUnknownVariableType]
    if response_format.get("type") == "json_object":
        schema = response_format.get("schema")
        return schema if isinstance(schema, dict) else {"type": "object"}  # pyright: ignore[reportUnknownVariableType]
    raise ValueError(f"unsupported response_format: {response_format!r}")
