"""Build the OpenAI Responses stream events a streaming ``Model`` yields.

``Model.stream_response`` must yield Responses API events: an output item added, its text
(or tool-call arguments) as deltas, the item done, and finally ``response.completed``
carrying the whole response, from which the Agents SDK builds its ``ModelResponse``. The
local model and the scripted model stream through :class:`ResponseStreamBuilder`, and the
durable model stub uses :func:`events_of_output` to replay a recorded response as one such
sequence inside a workflow (deterministically: no clock, no randomness).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agents.items import TResponseOutputItem, TResponseStreamEvent
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseFunctionToolCall,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
    ResponseUsage,
)

__all__ = ["ResponseStreamBuilder", "events_of_output", "message_text"]


def _response(response_id: str | None, model: str, output: list[Any], usage: Any) -> Response:
    # model_construct: Response has many required fields a stream consumer never reads
    # (the Agents SDK builds synthesized responses the same way).
    return Response.model_construct(
        id=response_id,
        object="response",
        created_at=0,
        model=model,
        output=output,
        usage=usage,
        status="completed",
        parallel_tool_calls=True,
        tool_choice="auto",
        tools=[],
    )


class ResponseStreamBuilder:
    """Makes the events of one streamed response, numbered in order.

    Args:
        response_id: The response's id (None: the model gives none).
        model: The model name reported in the response.
    """

    def __init__(self, response_id: str | None, model: str) -> None:
        self.response_id = response_id
        self.model = model
        self.output: list[TResponseOutputItem] = []
        self._seq = -1
        self._text: list[str] = []
        self._message_id: str | None = None

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def created(self) -> TResponseStreamEvent:
        """``response.created``: the first event."""
        return ResponseCreatedEvent(
            type="response.created",
            response=_response(self.response_id, self.model, [], None),
            sequence_number=self._next(),
        )

    def start_message(self, item_id: str) -> list[TResponseStreamEvent]:
        """An assistant message begins (its text follows as :meth:`text`)."""
        self._message_id = item_id
        self._text = []
        index = len(self.output)
        item = ResponseOutputMessage(
            type="message", id=item_id, role="assistant", status="in_progress", content=[]
        )
        part = ResponseOutputText(type="output_text", text="", annotations=[])
        return [
            ResponseOutputItemAddedEvent(
                type="response.output_item.added",
                item=item,
                output_index=index,
                sequence_number=self._next(),
            ),
            ResponseContentPartAddedEvent(
                type="response.content_part.added",
                item_id=item_id,
                output_index=index,
                content_index=0,
                part=part,
                sequence_number=self._next(),
            ),
        ]

    def text(self, delta: str) -> TResponseStreamEvent:
        """A piece of the current message's text."""
        assert self._message_id is not None, "start_message() first"
        self._text.append(delta)
        return ResponseTextDeltaEvent(
            type="response.output_text.delta",
            item_id=self._message_id,
            output_index=len(self.output),
            content_index=0,
            delta=delta,
            logprobs=[],
            sequence_number=self._next(),
        )

    def end_message(
        self, recorded: ResponseOutputMessage | None = None
    ) -> list[TResponseStreamEvent]:
        """The current message is complete: its whole text is the deltas joined (or, when
        replaying a ``recorded`` message, that message as it was recorded)."""
        item_id = self._message_id
        assert item_id is not None, "start_message() first"
        text = "".join(self._text)
        index = len(self.output)
        part = ResponseOutputText(type="output_text", text=text, annotations=[])
        item = recorded or ResponseOutputMessage(
            type="message", id=item_id, role="assistant", status="completed", content=[part]
        )
        self.output.append(item)
        self._message_id = None
        return [
            ResponseTextDoneEvent(
                type="response.output_text.done",
                item_id=item_id,
                output_index=index,
                content_index=0,
                text=text,
                logprobs=[],
                sequence_number=self._next(),
            ),
            ResponseContentPartDoneEvent(
                type="response.content_part.done",
                item_id=item_id,
                output_index=index,
                content_index=0,
                part=part,
                sequence_number=self._next(),
            ),
            ResponseOutputItemDoneEvent(
                type="response.output_item.done",
                item=item,
                output_index=index,
                sequence_number=self._next(),
            ),
        ]

    def function_call(self, call: ResponseFunctionToolCall) -> list[TResponseStreamEvent]:
        """A complete function (tool or handoff) call: added, its arguments, done."""
        index = len(self.output)
        item_id = call.id or call.call_id
        self.output.append(call)
        events: list[TResponseStreamEvent] = [
            ResponseOutputItemAddedEvent(
                type="response.output_item.added",
                item=call.model_copy(update={"arguments": "", "status": "in_progress"}),
                output_index=index,
                sequence_number=self._next(),
            ),
            ResponseFunctionCallArgumentsDeltaEvent(
                type="response.function_call_arguments.delta",
                item_id=item_id,
                output_index=index,
                delta=call.arguments,
                sequence_number=self._next(),
            ),
            ResponseFunctionCallArgumentsDoneEvent(
                type="response.function_call_arguments.done",
                item_id=item_id,
                output_index=index,
                arguments=call.arguments,
                sequence_number=self._next(),
            ),
            ResponseOutputItemDoneEvent(
                type="response.output_item.done",
                item=call,
                output_index=index,
                sequence_number=self._next(),
            ),
        ]
        return events

    def item(self, item: TResponseOutputItem) -> list[TResponseStreamEvent]:
        """Any other complete output item (reasoning, ...): added, then done."""
        index = len(self.output)
        self.output.append(item)
        return [
            ResponseOutputItemAddedEvent(
                type="response.output_item.added",
                item=item,
                output_index=index,
                sequence_number=self._next(),
            ),
            ResponseOutputItemDoneEvent(
                type="response.output_item.done",
                item=item,
                output_index=index,
                sequence_number=self._next(),
            ),
        ]

    def completed(
        self, usage: ResponseUsage | None, request_id: str | None = None
    ) -> TResponseStreamEvent:
        """``response.completed`` with every item so far and the usage."""
        response = _response(self.response_id, self.model, list(self.output), usage)
        if request_id is not None:
            object.__setattr__(response, "_request_id", request_id)  # as the openai client does
        return ResponseCompletedEvent(
            type="response.completed", response=response, sequence_number=self._next()
        )


def message_text(item: Any) -> str | None:
    """The text of an assistant message item (None for other items)."""
    if not isinstance(item, ResponseOutputMessage):
        return None
    return "".join(
        part.text if isinstance(part, ResponseOutputText) else getattr(part, "refusal", "")
        for part in item.content
    )


def events_of_output(
    builder: ResponseStreamBuilder, output: Sequence[TResponseOutputItem]
) -> list[TResponseStreamEvent]:
    """The events of a response whose output is already known, each message's text as one
    delta (the caller adds ``created`` before and ``completed`` after)."""
    events: list[TResponseStreamEvent] = []
    for item in output:
        text = message_text(item)
        if (
            isinstance(item, ResponseOutputMessage)
            and text is not None
            and all(isinstance(p, ResponseOutputText) for p in item.content)
        ):
            events.extend(builder.start_message(item.id))
            if text:
                events.append(builder.text(text))
            events.extend(builder.end_message(item))
        elif isinstance(item, ResponseFunctionToolCall):
            events.extend(builder.function_call(item))
        else:
            events.extend(builder.item(item))
    return events
