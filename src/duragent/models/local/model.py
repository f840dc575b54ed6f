"""``LocalModel`` and ``LocalModelProvider``: the local model behind the OpenAI Agents SDK."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from agents.agent_output import AgentOutputSchemaBase
from agents.exceptions import ModelBehaviorError, UserError
from agents.handoffs import Handoff
from agents.items import (
    ModelResponse,
    TResponseInputItem,
    TResponseStreamEvent,
)
from agents.model_settings import ModelSettings
from agents.models.interface import Model, ModelProvider, ModelTracing
from agents.tool import FunctionTool, Tool
from agents.tracing import generation_span
from agents.usage import Usage
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseUsage,
)
from openai.types.responses.response_prompt_param import ResponsePromptParam
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

from duragent.models.local.backends import Backend, HttpBackend, InProcessBackend
from duragent.models.local.convert import turns_from_items
from duragent.models.local.engine import Options, Step, run_step, stream_step
from duragent.models.local.prompt import DEFAULT_EXAMPLES, Example
from duragent.models.local.schema import DEFAULT_MAX_STRING, ReplyError, ToolCall, ToolSpec
from duragent.models.response_stream import ResponseStreamBuilder

__all__ = ["MODEL_NAME", "LocalModel", "LocalModelProvider"]

MODEL_NAME = "smollm2-135m-instruct"


def _backend(base_url: str | None, model_path: str | Path | None) -> Backend:
    if base_url is not None:
        return HttpBackend(base_url)
    return InProcessBackend(model_path)


class LocalModel(Model):
    """SmolLM2-135M-Instruct as an Agents SDK ``Model``, offline, on CPU.

    Each call renders the conversation into a few-shot chat prompt and decodes under a JSON
    schema grammar, so the reply is always either a call of one of the agent's tools (or
    handoffs) with arguments that match its schema, or a final answer (text, or JSON matching
    the agent's ``output_type``). Output is deterministic: temperature 0 by default, and a
    seed derived from the request otherwise; tool call ids are hashes of the prompt and reply.

    What to expect from a 135M-parameter model: the *shape* of every reply is right, and it
    follows simple requests ("Any weather alerts in CA?" calls the alerts tool with ``CA``,
    then answers from the tool result), but its *choice* of tool is unreliable whenever the
    request needs planning, and its answers can be clumsy. It is meant for running agent loops
    in tests, demos and examples without network or API keys, not for real work.

    Supported: function tools, handoffs (offered as tools), structured output, ``tool_choice``
    (``auto``, ``required``, ``none`` or a tool name), ``max_tokens``, ``temperature`` and
    ``top_p``, streaming (``Runner.run_streamed``: an answer's text token by token, under the
    same grammar). One tool call per reply (no parallel calls). Not supported: hosted tools
    (web search, file search, computer use, ...), images and files (they become a
    placeholder in the prompt).

    Args:
        base_url: Use the llama.cpp server at this URL (see
            :func:`~duragent.models.local.start_server`) instead of running in-process.
        backend: A backend object (overrides ``base_url``).
        model_path: A GGUF file for the in-process backend (default: the bundled SmolLM2).
        examples: Few-shot examples (default: :data:`~duragent.models.local.DEFAULT_EXAMPLES`).
            Examples whose tools are all available are shown; examples written for the
            agent's own tools help the small model a lot.
        no_repeat: Do not offer a tool again once it was called since the last user message.
        max_string: ``maxLength`` for free-text strings without a limit of their own.
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        backend: Backend | None = None,
        model_path: str | Path | None = None,
        examples: Sequence[Example] = DEFAULT_EXAMPLES,
        no_repeat: bool = True,
        max_string: int = DEFAULT_MAX_STRING,
    ) -> None:
        self.backend: Backend = backend or _backend(base_url, model_path)
        self.options = Options(examples=tuple(examples), no_repeat=no_repeat, max_string=max_string)

    def __repr__(self) -> str:
        return f"LocalModel({self.backend.description})"

    def _step_arguments(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
    ) -> dict[str, Any]:
        leading_system, turns = turns_from_items(input)
        instructions = "\n\n".join(
            text for text in (system_instructions, *leading_system) if text and text.strip()
        )
        final_schema = (
            None
            if output_schema is None or output_schema.is_plain_text()
            else output_schema.json_schema()
        )
        tool_choice = model_settings.tool_choice
        if tool_choice is not None and not isinstance(tool_choice, str):
            raise UserError(f"LocalModel does not support tool_choice={tool_choice!r}")
        return {
            "instructions": instructions or None,
            "turns": turns,
            "tools": _tool_specs(tools, handoffs),
            "final_schema": final_schema,
            "tool_choice": tool_choice,
            "max_tokens": model_settings.max_tokens,
            "temperature": model_settings.temperature,
            "top_p": model_settings.top_p,
            "options": self.options,
        }

    def _span(self, model_settings: ModelSettings, tracing: ModelTracing) -> Any:
        return generation_span(
            model=MODEL_NAME,
            model_config={**model_settings.to_json_dict(), "backend": self.backend.description},
            disabled=tracing.is_disabled(),
        )

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: ResponsePromptParam | None = None,
    ) -> ModelResponse:
        arguments = self._step_arguments(
            system_instructions, input, model_settings, tools, output_schema, handoffs
        )
        with self._span(model_settings, tracing) as span:
            try:
                step = await run_step(self.backend, **arguments)
            except ReplyError as e:
                raise ModelBehaviorError(str(e)) from e
            except ValueError as e:
                raise UserError(str(e)) from e
            _trace(span, step, tracing)
        return ModelResponse(output=[_output_item(step)], usage=_usage(step), response_id=None)

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: ResponsePromptParam | None = None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        """The same reply as :meth:`get_response` (same grammar, same decoding), streamed:
        an answer's text arrives as the model writes it, token by token; a tool call
        arrives whole, once complete."""
        arguments = self._step_arguments(
            system_instructions, input, model_settings, tools, output_schema, handoffs
        )
        builder = ResponseStreamBuilder(None, MODEL_NAME)
        yield builder.created()
        started = False
        with self._span(model_settings, tracing) as span:
            try:
                async for piece in stream_step(self.backend, **arguments):
                    if isinstance(piece, Step):
                        step = piece
                        break
                    if not started:
                        # The id is known only at the end (a hash of the reply): a
                        # placeholder until then, as providers' early events carry.
                        started = True
                        for event in builder.start_message("msg_pending"):
                            yield event
                    yield builder.text(piece)
                else:  # pragma: no cover - stream_step always ends with the Step
                    raise ModelBehaviorError("the local model's stream ended without a reply")
            except ReplyError as e:
                raise ModelBehaviorError(str(e)) from e
            except ValueError as e:
                raise UserError(str(e)) from e
            _trace(span, step, tracing)
        item = _output_item(step)
        if isinstance(item, ResponseOutputMessage):
            if not started:
                for event in builder.start_message(item.id):
                    yield event
            for event in builder.end_message(item):
                yield event
        else:
            for event in builder.function_call(item):
                yield event
        yield builder.completed(_response_usage(step))


class LocalModelProvider(ModelProvider):
    """Resolves every model name (and ``None``) to one shared :class:`LocalModel`.

    Use it as ``RunConfig(model_provider=LocalModelProvider())``. The arguments are those of
    :class:`LocalModel`; by default the model runs in-process.
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        backend: Backend | None = None,
        model_path: str | Path | None = None,
        examples: Sequence[Example] = DEFAULT_EXAMPLES,
        no_repeat: bool = True,
        max_string: int = DEFAULT_MAX_STRING,
    ) -> None:
        self.model = LocalModel(
            base_url=base_url,
            backend=backend,
            model_path=model_path,
            examples=examples,
            no_repeat=no_repeat,
            max_string=max_string,
        )

    def get_model(self, model_name: str | None) -> Model:
        return self.model


def _tool_specs(tools: Sequence[Tool], handoffs: Sequence[Handoff[Any, Any]]) -> list[ToolSpec]:
    specs: list[ToolSpec] = []
    for tool in tools:
        if not isinstance(tool, FunctionTool):
            raise UserError(
                f"LocalModel supports function tools and handoffs only, not {type(tool).__name__}"
            )
        specs.append(ToolSpec(tool.name, tool.description or "", tool.params_json_schema))
    specs.extend(
        ToolSpec(h.tool_name, h.tool_description or "", h.input_json_schema) for h in handoffs
    )
    return specs


def _trace(span: Any, step: Step, tracing: ModelTracing) -> None:
    if tracing.include_data():
        span.span_data.input = step.messages
        span.span_data.output = [{"role": "assistant", "content": step.completion.text}]
    span.span_data.usage = {
        "input_tokens": step.completion.prompt_tokens,
        "output_tokens": step.completion.completion_tokens,
    }


def _output_item(step: Step) -> ResponseFunctionToolCall | ResponseOutputMessage:
    suffix = step.call_id.removeprefix("call_")
    if isinstance(step.reply, ToolCall):
        return ResponseFunctionToolCall(
            type="function_call",
            id=f"fc_{suffix}",
            call_id=step.call_id,
            name=step.reply.name,
            arguments=json.dumps(step.reply.arguments, ensure_ascii=False),
            status="completed",
        )
    return ResponseOutputMessage(
        type="message",
        id=f"msg_{suffix}",
        role="assistant",
        status="completed",
        content=[ResponseOutputText(type="output_text", text=step.reply.text, annotations=[])],
    )


def _usage(step: Step) -> Usage:
    completion = step.completion
    return Usage(
        requests=1,
        input_tokens=completion.prompt_tokens,
        output_tokens=completion.completion_tokens,
        total_tokens=completion.prompt_tokens + completion.completion_tokens,
        input_tokens_details=InputTokensDetails(
            cached_tokens=completion.cached_tokens, cache_write_tokens=0
        ),
        output_tokens_details=OutputTokensDetails(reasoning_tokens=0),
    )


def _response_usage(step: Step) -> ResponseUsage:
    usage = _usage(step)
    return ResponseUsage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        total_tokens=usage.total_tokens,
        input_tokens_details=usage.input_tokens_details,
        output_tokens_details=usage.output_tokens_details,
    )
