"""A :class:`~duragent._stream.subscribe.StreamSource` on the embedded store."""

from __future__ import annotations

from .._engine.events import Event
from ..store._stream_rows import topic
from ..store.base import StreamPage
from ..store.notify import Listener, Notifier
from ..store.sqlite import SqliteStore


class TopicWatch:
    """Wakes on a run's stream topic; registered at creation, so nothing is missed."""

    def __init__(self, notifier: Notifier, topics: tuple[str, ...]) -> None:
        self._notifier = notifier
        self._topics = topics
        self._listener: Listener | None = notifier.listen(topics)

    async def wait(self, timeout: float) -> bool:
        listener = self._listener or self._notifier.listen(self._topics)
        woken = await listener.wait(timeout)
        self._listener = self._notifier.listen(self._topics)
        return woken

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None


class StoreStreamSource:
    """Reads a run's stream from a :class:`SqliteStore`."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store

    async def read_stream(
        self, workflow_id: str, run_id: str, *, after: int, limit: int = 500
    ) -> StreamPage:
        return self.store.read_stream(run_id, after, limit)

    async def stream_shown(
        self, workflow_id: str, run_id: str, *, upto: int, kinds: tuple[str, ...]
    ) -> dict[int, int]:
        return self.store.stream_shown(run_id, upto, kinds)

    async def read_history(
        self, workflow_id: str, run_id: str, *, after_event_id: int = 0
    ) -> list[Event]:
        return self.store.read_history(run_id, after_event_id)

    def watch_stream(self, workflow_id: str, run_id: str) -> TopicWatch:
        return TopicWatch(self.store.notifier, (topic(run_id), f"run:{run_id}"))
