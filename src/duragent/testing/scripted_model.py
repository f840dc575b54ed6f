"""A scripted model for deterministic agent tests.

Scripts are addressed by model name (``Agent(model="triage")``) and advance by what is in
the conversation, not by a counter: each response carries its step number in its item ids,
so the next call finds it in its input. A script therefore behaves the same in any worker
process and after any crash, which is what durable-execution tests need. Every call the
model really makes can be appended to a log file (``call_log``), so a test can count calls
across processes: a call served from history is not made, and not logged. Streamed calls
(``Runner.run_streamed``) send the same response word by word, ``stream_delay`` apart.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents import (
    AgentOutputSchemaBase,
    Handoff,
    Model,
    ModelProvider,
    ModelResponse,
    ModelSettings,
    Tool,
    Usage,
)
from agents.items import TResponseInputItem, TResponseStreamEvent
from agents.models.interface import ModelTracing
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseUsage,
)
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

from ..models.response_stream import ResponseStreamBuilder, message_text

__all__ = [
    "ScriptedModel",
    "ScriptedModelProvider",
    "ScriptedTurn",
    "message",
    "tool_call",
]

_STEP = re.compile(r"^dgs-([A-Za-z0-9_.]+)-(\d+)-")


@dataclass(frozen=True)
class _ToolCall:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class _Message:
    text: str


ScriptedItem = _ToolCall | _Message
ScriptedTurn = Sequence[ScriptedItem] | Callable[[list[Any]], Sequence[ScriptedItem]]
"""One model response: items, or a function of the input items returning them."""


def tool_call(name: str, arguments: Mapping[str, Any] | None = None) -> ScriptedItem:
    """A function call (tool or handoff) the model makes."""
    return _ToolCall(name, dict(arguments or {}))


def message(text: str | Any) -> ScriptedItem:
    """A final assistant message; non-strings (structured output) are sent as JSON."""
    return _Message(text if isinstance(text, str) else json.dumps(text))


def _key(name: str | None) -> str:
    return re.sub(r"[^A-Za-z0-9_.]", "_", name or "default")


class ScriptedModel(Model):
    """Plays one script (see :class:`ScriptedModelProvider`)."""

    def __init__(
        self,
        name: str | None,
        script: Sequence[ScriptedTurn],
        call_log: Path | None,
        stream_delay: float = 0.0,
    ) -> None:
        self.model = name
        self._key = _key(name)
        self._script = list(script)
        self._call_log = call_log
        self._stream_delay = stream_delay

    def _step(self, items: list[Any]) -> int:
        done = -1
        for item in items:
            item_id = item.get("id") if isinstance(item, dict) else None
            match = _STEP.match(str(item_id or ""))
            if match and match.group(1) == self._key:
                done = max(done, int(match.group(2)))
        return done + 1

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff[Any, Any]],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: Any = None,
    ) -> ModelResponse:
        step, outputs, usage = self._respond(input)
        self._log(step)
        return ModelResponse(
            output=outputs,
            usage=Usage(
                requests=1,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                total_tokens=usage.total_tokens,
                input_tokens_details=usage.input_tokens_details,
                output_tokens_details=usage.output_tokens_details,
            ),
            response_id=None,
        )

    def _respond(self, input: str | list[TResponseInputItem]) -> tuple[int, list[Any], Any]:
        """The scripted step for this input: its number, output items and usage."""
        items: list[Any] = (
            [{"role": "user", "content": input}] if isinstance(input, str) else list(input)
        )
        step = self._step(items)
        if step >= len(self._script):
            raise AssertionError(
                f"scripted model {self.model!r} has {len(self._script)} steps; step {step + 1} "
                "was requested"
            )
        turn = self._script[step]
        planned = list(turn(items) if callable(turn) else turn)
        outputs: list[Any] = []
        for i, planned_item in enumerate(planned):
            item_id = f"dgs-{self._key}-{step}-{i}"
            if isinstance(planned_item, _ToolCall):
                outputs.append(
                    ResponseFunctionToolCall(
                        type="function_call",
                        id=item_id,
                        call_id=f"call-{self._key}-{step}-{i}",
                        name=planned_item.name,
                        arguments=json.dumps(planned_item.arguments),
                        status="completed",
                    )
                )
            else:
                outputs.append(
                    ResponseOutputMessage(
                        type="message",
                        id=item_id,
                        role="assistant",
                        status="completed",
                        content=[
                            ResponseOutputText(
                                type="output_text", text=planned_item.text, annotations=[]
                            )
                        ],
                    )
                )
        input_tokens = max(1, len(json.dumps(items, default=str)) // 4)
        output_tokens = max(1, len(json.dumps([o.model_dump() for o in outputs])) // 4)
        usage = ResponseUsage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            total_tokens=input_tokens + output_tokens,
            input_tokens_details=InputTokensDetails(cached_tokens=0, cache_write_tokens=0),
            output_tokens_details=OutputTokensDetails(reasoning_tokens=0),
        )
        return step, outputs, usage

    def _log(self, step: int) -> None:
        if self._call_log is None:
            return
        line = json.dumps({"model": self.model, "step": step, "pid": os.getpid()}) + "\n"
        fd = os.open(self._call_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff[Any, Any]],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: Any = None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        """The same response as :meth:`get_response`, streamed: each message's text word
        by word (``stream_delay`` seconds apart), tool calls whole."""
        step, outputs, usage = self._respond(input)
        self._log(step)  # the call is made (and paid for) even if the stream is cut
        builder = ResponseStreamBuilder(None, self.model or "scripted")
        yield builder.created()
        for item in outputs:
            if isinstance(item, ResponseOutputMessage):
                for event in builder.start_message(item.id):
                    yield event
                for word in _WORDS.findall(message_text(item) or ""):
                    if self._stream_delay:
                        await asyncio.sleep(self._stream_delay)
                    yield builder.text(word)
                for event in builder.end_message(item):
                    yield event
            else:
                for event in builder.function_call(item):
                    yield event
        yield builder.completed(usage)


_WORDS = re.compile(r"\s*\S+|\s+")
"""A message's text in pieces that join back exactly: each word with the spaces before it."""


class ScriptedModelProvider(ModelProvider):
    """Scripted models by name, for ``OpenAIAgentsPlugin(model_provider=...)``.

    Args:
        scripts: A script (list of turns) for every model name, or a mapping from model
            name (``None`` for agents without one) to script.
        call_log: File to which every call actually made is appended as a JSON line.
        stream_delay: When a run streams (``Runner.run_streamed``), the seconds between
            two words of a message, so that subscribers see text arrive.
    """

    def __init__(
        self,
        scripts: Mapping[Any, Sequence[ScriptedTurn]] | Sequence[ScriptedTurn],
        *,
        call_log: str | os.PathLike[str] | None = None,
        stream_delay: float = 0.0,
    ) -> None:
        self._scripts: Mapping[Any, Sequence[ScriptedTurn]] | None = (
            scripts if isinstance(scripts, Mapping) else None
        )
        self._default = None if isinstance(scripts, Mapping) else list(scripts)
        self.call_log = Path(call_log) if call_log is not None else None
        self.stream_delay = stream_delay

    def get_model(self, model_name: str | None) -> Model:
        if self._scripts is not None:
            if model_name not in self._scripts:
                raise KeyError(
                    f"no script for model {model_name!r} "
                    f"(scripts: {sorted(map(str, self._scripts))})"
                )
            return ScriptedModel(
                model_name, self._scripts[model_name], self.call_log, self.stream_delay
            )
        assert self._default is not None
        return ScriptedModel(model_name, self._default, self.call_log, self.stream_delay)

    def calls(self) -> list[dict[str, Any]]:
        """The calls logged so far (all processes)."""
        if self.call_log is None or not self.call_log.exists():
            return []
        return [json.loads(line) for line in self.call_log.read_text().splitlines() if line]
