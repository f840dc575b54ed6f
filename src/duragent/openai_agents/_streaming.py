"""Streamed model calls, both sides of the activity boundary.

* In the activity, :func:`stream_call` consumes ``Model.stream_response``: each text,
  reasoning or tool-call-argument delta and each output item added or done is published to
  the attempt's durable stream (``activity.context().stream``), and the final
  ``ModelResponse`` is built from ``response.completed`` as the SDK's run loop builds it.
  The tool calls of that response are published *at commit*: they reach subscribers in the
  transaction that records the result, so a subscriber never sees the tool calls of an
  attempt that did not count.
* In the workflow, :func:`replay_events` turns the recorded response back into one
  sequence of stream events (the whole text of each message as one delta), the same on
  every replay: history keeps only final responses, never deltas.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any, Final

from agents import Model, ModelResponse
from agents.items import TResponseStreamEvent
from openai.types.responses import ResponseFunctionToolCall

from ..activity import StreamSink
from ..errors import ApplicationError
from ..models.response_stream import ResponseStreamBuilder, events_of_output
from ._sdk import response_usage, usage_of_response

TEXT: Final = "text"
REASONING: Final = "reasoning"
ARGS: Final = "args"
ITEM: Final = "item"
ITEM_DONE: Final = "item_done"
TOOL_CALL: Final = "tool_call"

_DELTAS: Final = {
    "response.output_text.delta": TEXT,
    "response.refusal.delta": TEXT,
    "response.reasoning_summary_text.delta": REASONING,
    "response.reasoning_text.delta": REASONING,
}
_FAILED: Final = frozenset({"response.failed", "error", "response.error"})

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _item_summary(item: Any) -> str:
    """What subscribers learn of an output item when it starts or ends (not its content)."""
    summary = {
        "type": getattr(item, "type", None),
        "id": getattr(item, "id", None),
        "name": getattr(item, "name", None),
        "call_id": getattr(item, "call_id", None),
    }
    return _dumps({k: v for k, v in summary.items() if v is not None})


async def stream_call(model: Model, sink: StreamSink, call: dict[str, Any]) -> ModelResponse:
    """Make one model call with ``model.stream_response(**call)``, publishing its deltas to
    ``sink``; returns the final response.

    Raises:
        ApplicationError: The provider ended the stream with a failure, or without a final
            response; or the attempt was superseded (then nothing more is published).
    """
    sink.open()
    terminal: Any = None
    done_items: list[Any] = []
    stream: AsyncIterator[TResponseStreamEvent] = model.stream_response(**call)
    async with aclosing(stream) as events:  # type: ignore[type-var]
        async for event in events:
            kind = getattr(event, "type", "")
            delta_kind = _DELTAS.get(kind)
            if delta_kind is not None:
                delta = getattr(event, "delta", "")
                if delta:
                    sink.publish(delta_kind, delta)
            elif kind == "response.function_call_arguments.delta":
                sink.publish(ARGS, _dumps({"item": event.item_id, "delta": event.delta}))  # type: ignore[union-attr]
            elif kind == "response.output_item.added":
                sink.publish(ITEM, _item_summary(event.item))  # type: ignore[union-attr]
            elif kind == "response.output_item.done":
                done_items.append(event.item)  # type: ignore[union-attr]
                sink.publish(ITEM_DONE, _item_summary(event.item))  # type: ignore[union-attr]
            elif kind == "response.completed":
                terminal = event.response  # type: ignore[union-attr]
            elif kind == "response.incomplete":
                raise ApplicationError(
                    "the model's streamed response is incomplete (its output limit?)",
                    type="ModelResponseIncomplete",
                    non_retryable=True,
                )
            elif kind in _FAILED:
                message = getattr(getattr(event, "response", None), "error", None) or getattr(
                    event, "message", ""
                )
                raise ApplicationError(
                    f"the model's stream failed ({kind}): {message}", type="ModelStreamFailed"
                )
    if terminal is None:
        raise ApplicationError(
            "the model's stream ended without a final response", type="ModelStreamFailed"
        )
    # Some backends leave the final output empty and send the items as done events (the SDK
    # keeps those too).
    output = list(terminal.output or done_items)
    response = ModelResponse(
        output=output,
        usage=usage_of_response(terminal),
        response_id=terminal.id,
        request_id=getattr(terminal, "_request_id", None),
    )
    for item in output:
        if isinstance(item, ResponseFunctionToolCall):
            sink.publish_at_commit(
                TOOL_CALL,
                _dumps({"call_id": item.call_id, "name": item.name, "arguments": item.arguments}),
            )
    return response


def replay_events(response: ModelResponse, model: str | None) -> list[TResponseStreamEvent]:
    """The stream events of a recorded response, as workflow code sees them."""
    builder = ResponseStreamBuilder(response.response_id, model or "")
    return [
        builder.created(),
        *events_of_output(builder, response.output),
        builder.completed(response_usage(response.usage), response.request_id),
    ]
