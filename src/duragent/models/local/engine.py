"""One step of the local model: build the prompt and reply schema, generate, parse.

Shared by :class:`~duragent.models.local.LocalModel` (Agents SDK) and
:func:`~duragent.models.local.chat` (OpenAI chat-completions style).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from duragent.models.local.answer_text import AnswerText
from duragent.models.local.backends import Backend, Completion, CompletionRequest
from duragent.models.local.prompt import (
    DEFAULT_EXAMPLES,
    Example,
    Message,
    Turn,
    build_messages,
    tools_called_this_turn,
)
from duragent.models.local.schema import (
    DEFAULT_MAX_STRING,
    FinalAnswer,
    ReplyError,
    ToolCall,
    ToolSpec,
    parse_reply,
    reply_schema,
)

__all__ = ["DEFAULT_MAX_TOKENS", "Options", "Step", "run_step", "stream_step"]

DEFAULT_MAX_TOKENS = 512
"""Room for a JSON reply; a free-text string (200 characters at most) takes at most ~210."""
DEFAULT_MAX_TOKENS_TEXT = 256
"""Room for a plain-text answer (the model rarely needs a quarter of it)."""


@dataclass(frozen=True)
class Options:
    """How the local model behaves (fixed per model object)."""

    examples: Sequence[Example] = DEFAULT_EXAMPLES
    """Few-shot examples; those whose tools are all available are shown (see :class:`Example`)."""
    no_repeat: bool = True
    """Leave a tool out of the reply schema once it was called since the last user message.

    This stops the small model from calling the same tool again and again; the price is that
    it cannot call one tool twice in a turn (e.g. the weather for two cities)."""
    max_string: int = DEFAULT_MAX_STRING
    """``maxLength`` for free-text strings (answers, arguments) without a limit of their own."""


@dataclass(frozen=True)
class Step:
    """The outcome of one model call."""

    reply: ToolCall | FinalAnswer
    completion: Completion
    messages: list[Message]
    call_id: str
    """Deterministic id for a tool call: a hash of the prompt and the reply."""


@dataclass(frozen=True)
class _Plan:
    """A step's request and how to read the reply."""

    request: CompletionRequest
    messages: list[Message]
    json_mode: bool
    structured: bool
    offered: list[ToolSpec]


def _plan(
    *,
    instructions: str | None,
    turns: Sequence[Turn],
    tools: Sequence[ToolSpec],
    final_schema: Mapping[str, Any] | None,
    tool_choice: str | None,
    max_tokens: int | None,
    temperature: float | None,
    top_p: float | None,
    options: Options,
) -> _Plan:
    offered, allow_final = _offered_tools(tools, turns, tool_choice, options.no_repeat)
    json_mode = bool(tools) or final_schema is not None
    messages, static = build_messages(
        instructions=instructions,
        turns=turns,
        tools=tools,
        final_schema=final_schema,
        examples=options.examples,
        json_mode=json_mode,
    )
    if json_mode:
        schema = reply_schema(
            offered, final_schema, allow_final=allow_final, max_string=options.max_string
        )
        request = _request(messages, static, schema, max_tokens, temperature, top_p)
    else:
        max_tokens = max_tokens or DEFAULT_MAX_TOKENS_TEXT
        request = _request(messages, static, None, max_tokens, temperature, top_p)
    return _Plan(request, messages, json_mode, final_schema is not None, offered)


def _retry_plan(
    plan: _Plan,
    *,
    instructions: str | None,
    turns: Sequence[Turn],
    tools: Sequence[ToolSpec],
    max_tokens: int | None,
    temperature: float | None,
    top_p: float | None,
    options: Options,
) -> _Plan:
    """The model ended a plain-text answer at once: ask again with an answer of at least
    one character."""
    messages, static = build_messages(
        instructions=instructions,
        turns=turns,
        tools=tools,
        final_schema=None,
        examples=options.examples,
        json_mode=True,
    )
    schema = reply_schema([], None, max_string=options.max_string)
    request = _request(messages, static, schema, max_tokens, temperature, top_p)
    return _Plan(request, messages, True, False, plan.offered)


def _reply(plan: _Plan, completion: Completion) -> ToolCall | FinalAnswer | None:
    """The reply in ``completion`` (None: an empty plain-text answer, ask again)."""
    if plan.json_mode:
        reply = parse_reply(completion.text, structured=plan.structured)
    elif completion.text.strip():
        reply = FinalAnswer(completion.text.strip())
    else:
        return None
    if isinstance(reply, ToolCall) and reply.name not in {t.name for t in plan.offered}:
        raise ReplyError(f"the local model called a tool that was not offered: {reply.name}")
    return reply


async def run_step(
    backend: Backend,
    *,
    instructions: str | None,
    turns: Sequence[Turn],
    tools: Sequence[ToolSpec],
    final_schema: Mapping[str, Any] | None,
    tool_choice: str | None,
    max_tokens: int | None,
    temperature: float | None,
    top_p: float | None,
    options: Options,
) -> Step:
    """Ask the model for the next reply: a tool call or a final answer.

    ``tool_choice`` follows OpenAI: ``"auto"``/``None`` (tools or an answer), ``"required"``
    (a tool), ``"none"`` (an answer), or a tool name (that tool).

    Raises:
        ReplyError: The reply is incomplete JSON (``max_tokens`` too small for it).
    """
    args: dict[str, Any] = {
        "instructions": instructions,
        "turns": turns,
        "tools": tools,
        "max_tokens": max_tokens,
        "temperature": temperature,
        "top_p": top_p,
        "options": options,
    }
    plan = _plan(final_schema=final_schema, tool_choice=tool_choice, **args)
    completion = await backend.complete(plan.request)
    reply = _reply(plan, completion)
    if reply is None:
        plan = _retry_plan(plan, **args)
        completion = await backend.complete(plan.request)
        reply = _reply(plan, completion)
        assert reply is not None  # JSON mode always gives a reply or raises
    return Step(reply, completion, plan.messages, _call_id(plan.messages, completion.text))


async def stream_step(
    backend: Backend,
    *,
    instructions: str | None,
    turns: Sequence[Turn],
    tools: Sequence[ToolSpec],
    final_schema: Mapping[str, Any] | None,
    tool_choice: str | None,
    max_tokens: int | None,
    temperature: float | None,
    top_p: float | None,
    options: Options,
) -> AsyncIterator[str | Step]:
    """:func:`run_step`, streamed: yields the answer's text as the model generates it (a
    text answer's pieces join to exactly the answer's text; a tool call or a structured
    answer streams no text), then the :class:`Step`, last. Same grammar, same reply."""
    args: dict[str, Any] = {
        "instructions": instructions,
        "turns": turns,
        "tools": tools,
        "max_tokens": max_tokens,
        "temperature": temperature,
        "top_p": top_p,
        "options": options,
    }
    plan = _plan(final_schema=final_schema, tool_choice=tool_choice, **args)
    for _ in range(2):
        visible = AnswerText(json_mode=plan.json_mode)
        stream = backend.stream(plan.request)
        async for piece in stream:
            delta = visible.feed(piece)
            if delta:
                yield delta
        completion = stream.completion
        reply = _reply(plan, completion)
        if reply is None:  # an empty plain-text answer (nothing was shown): ask again
            plan = _retry_plan(plan, **args)
            continue
        if isinstance(reply, FinalAnswer) and not plan.structured:
            rest = visible.rest(reply.text)
            if rest:
                yield rest
        elif isinstance(reply, FinalAnswer):
            yield reply.text  # a structured answer: its JSON, whole
        yield Step(reply, completion, plan.messages, _call_id(plan.messages, completion.text))
        return
    raise ReplyError("the local model gave no answer")  # pragma: no cover - JSON mode replies


def _offered_tools(
    tools: Sequence[ToolSpec], turns: Sequence[Turn], tool_choice: str | None, no_repeat: bool
) -> tuple[list[ToolSpec], bool]:
    """The tools the reply schema offers now, and whether a final answer is allowed."""
    choice = tool_choice or "auto"
    if choice == "none" or not tools:
        return [], True
    if choice not in ("auto", "required"):
        named = [t for t in tools if t.name == choice]
        if not named:
            raise ValueError(f"tool_choice names {choice!r}, which is not one of the tools")
        return named, False
    offered = list(tools)
    if no_repeat:
        called = tools_called_this_turn(turns)
        offered = [t for t in tools if t.name not in called]
    if choice == "required":
        return offered or list(tools), False
    return offered, True


def _request(
    messages: list[Message],
    static: int,
    schema: dict[str, Any] | None,
    max_tokens: int | None,
    temperature: float | None,
    top_p: float | None,
) -> CompletionRequest:
    digest = hashlib.sha256(json.dumps([messages, schema], sort_keys=True).encode()).digest()
    return CompletionRequest(
        messages=messages,
        schema=schema,
        max_tokens=max_tokens or DEFAULT_MAX_TOKENS,
        temperature=temperature or 0.0,
        top_p=top_p,
        # A seed derived from the request: even sampling with temperature > 0 is repeatable.
        seed=int.from_bytes(digest[:4], "big") & 0x7FFFFFFF,
        static_messages=static,
    )


def _call_id(messages: list[Message], reply: str) -> str:
    digest = hashlib.sha256(json.dumps([messages, reply], sort_keys=True).encode()).hexdigest()
    return f"call_{digest[:24]}"
