"""A model whose first attempt turns zombie: it streams two words, then hangs past its
timeout ignoring cancellation (as a call wedged in a C library would), and wakes only
after a later attempt of the same call committed, to go on streaming. Later attempts
answer normally. It writes ``woke`` and ``closed`` to its log, so a test can tell that the
zombie tried to publish again and was stopped."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from agents import Model, ModelProvider, ModelResponse
from agents.items import TResponseStreamEvent

from duragent import activity
from duragent.models.response_stream import ResponseStreamBuilder

ANSWER = "Once upon a time there was a durable agent."


def _committed(db: Path) -> bool:
    with sqlite3.connect(db) as conn:
        return bool(
            conn.execute("SELECT count(*) FROM stream_events WHERE kind = 'commit'").fetchone()[0]
        )


class ZombieModel(Model):
    def __init__(self, db: Path, log: Path) -> None:
        self._db = db
        self._log = log

    def _note(self, word: str) -> None:
        with self._log.open("a") as f:
            f.write(word + "\n")

    async def get_response(self, *args: Any, **kwargs: Any) -> ModelResponse:
        raise AssertionError("this model only streams")

    async def stream_response(
        self, *args: Any, **kwargs: Any
    ) -> AsyncIterator[TResponseStreamEvent]:
        builder = ResponseStreamBuilder(None, "zombie")
        yield builder.created()
        for event in builder.start_message("msg-1"):
            yield event
        if activity.info().attempt == 1:
            yield builder.text("zom")
            yield builder.text("bie")
            while not _committed(self._db):
                # The worker gives up on this attempt; the zombie does not notice.
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.sleep(0.05)
            self._note("woke")
            try:
                for _ in range(100):
                    yield builder.text(" woke")
                    await asyncio.sleep(0.03)
            finally:
                self._note("closed")
            return
        for word in ANSWER.split(" "):
            yield builder.text(word if word == ANSWER.split(" ", maxsplit=1)[0] else " " + word)
        for event in builder.end_message():
            yield event
        yield builder.completed(None)


class ZombieProvider(ModelProvider):
    def __init__(self, db: Path, log: Path) -> None:
        self._model = ZombieModel(db, log)

    def get_model(self, model_name: str | None) -> Model:
        return self._model
