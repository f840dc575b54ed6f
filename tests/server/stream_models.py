"""A streaming model whose first attempt fails midway: it streams a draft, then the
connection "breaks" (an error); the retry streams the real answer. It waits for ``gate``
before its first word, so a test can open a page or a stream first."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any, Final

from agents import Model, ModelProvider, ModelResponse
from agents.items import TResponseStreamEvent

from duragent import activity
from duragent.models.response_stream import ResponseStreamBuilder

DRAFT: Final = "Draft words that will be withdrawn"
ANSWER: Final = "The answer, streamed again from the start, is forty-two."


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [words[0], *(f" {w}" for w in words[1:])]


class RetriedStreamModel(Model):
    def __init__(self, gate: threading.Event, delay: float) -> None:
        self.gate = gate
        self.delay = delay

    async def get_response(self, *args: Any, **kwargs: Any) -> ModelResponse:
        raise AssertionError("this model only streams")

    async def stream_response(
        self, *args: Any, **kwargs: Any
    ) -> AsyncIterator[TResponseStreamEvent]:
        while not self.gate.is_set():
            await asyncio.sleep(0.02)
        first = activity.info().attempt == 1
        builder = ResponseStreamBuilder(None, "retried")
        yield builder.created()
        for event in builder.start_message("msg-1"):
            yield event
        for word in _words(DRAFT if first else ANSWER):
            await asyncio.sleep(self.delay)
            yield builder.text(word)
        if first:
            raise ConnectionResetError("the provider's connection broke mid-stream")
        for event in builder.end_message():
            yield event
        yield builder.completed(None)


class RetriedStreamProvider(ModelProvider):
    def __init__(self, gate: threading.Event, delay: float = 0.05) -> None:
        self.model = RetriedStreamModel(gate, delay)

    def get_model(self, model_name: str | None) -> Model:
        return self.model
