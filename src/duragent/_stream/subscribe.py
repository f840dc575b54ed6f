"""The subscriber loop: a run's durable stream as an async iterator of typed events.

It reads rows after its offset, turns them into events (:mod:`.view`, and :mod:`.steps`
for the history events pointer rows refer to), and waits for the store's wake-ups when it
has caught up. It ends after :class:`~duragent.streaming.RunClosed`. A run that closed
without rows (they expired, or the run never streamed) is rebuilt from its history.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final, Protocol

from .._engine.events import Event
from ..store._stream_rows import EXPIRED, STEP, STREAMING
from ..store.base import RunStatus, StreamPage
from ..streaming import RunClosed, StreamEvent
from .steps import Steps
from .view import SHOWN_KINDS, EffectiveView

POLL_S: Final = 1.0
"""How long to wait between reads without a wake-up (wake-ups make it immediate)."""


class Watch(Protocol):
    """A registered interest in a run's stream (see ``ChangeWatch``)."""

    async def wait(self, timeout: float) -> bool: ...
    def close(self) -> None: ...


class StreamSource(Protocol):
    """What the subscriber reads (a client backend provides it). A source may say
    ``steps_in_stream = False`` (an external stream store): then the run's close is not a
    row of the stream, and the subscriber reads it from history."""

    async def read_stream(
        self, workflow_id: str, run_id: str, *, after: int, limit: int = 500
    ) -> StreamPage: ...

    async def stream_shown(
        self, workflow_id: str, run_id: str, *, upto: int, kinds: tuple[str, ...]
    ) -> dict[int, int]: ...

    async def read_history(
        self, workflow_id: str, run_id: str, *, after_event_id: int = 0
    ) -> list[Event]: ...

    def watch_stream(self, workflow_id: str, run_id: str) -> Watch: ...


async def subscribe(
    source: StreamSource, workflow_id: str, run_id: str, *, after: int = 0
) -> AsyncIterator[StreamEvent]:
    """The events of run ``run_id``'s stream after offset ``after``, live, until it
    closes (see :mod:`duragent.streaming` for the guarantee)."""
    shown = (
        await source.stream_shown(workflow_id, run_id, upto=after, kinds=SHOWN_KINDS)
        if after > 0
        else {}
    )
    view = EffectiveView(shown)
    steps = Steps()
    cursor = after
    watch = source.watch_stream(workflow_id, run_id)
    try:
        while True:
            page = await source.read_stream(workflow_id, run_id, after=cursor)
            if page.rows:
                needed = max((r.seq for r in page.rows if r.kind == STEP), default=0)
                if needed > steps.loaded:
                    steps.add(
                        await source.read_history(workflow_id, run_id, after_event_id=steps.loaded)
                    )
                for event in view.page(page, steps.translate):
                    yield event
                    if isinstance(event, RunClosed):
                        return
                cursor = page.rows[-1].offset
                continue
            if page.status != RunStatus.RUNNING:
                if page.state != STREAMING:
                    async for event in _rebuild(source, workflow_id, run_id, page, after):
                        yield event
                elif not getattr(source, "steps_in_stream", True):
                    history = await source.read_history(workflow_id, run_id)
                    closed = [e for e in Steps().rebuild(history) if isinstance(e, RunClosed)]
                    for event in closed[-1:]:
                        yield event
                # Else the close row was read (by this subscriber, or one it resumes).
                return
            await watch.wait(POLL_S)
    finally:
        watch.close()


async def _rebuild(
    source: StreamSource, workflow_id: str, run_id: str, page: StreamPage, after: int
) -> AsyncIterator[StreamEvent]:
    """A closed run without stream rows, from its history. A subscriber resuming at an
    offset of rows that have since expired gets only the close (the rest cannot be lined
    up with what it saw)."""
    events = Steps().rebuild(await source.read_history(workflow_id, run_id))
    if after > 0 and page.state == EXPIRED:
        events = [e for e in events if isinstance(e, RunClosed)]
    for event in events:
        yield event
