"""An activity attempt's durable stream: deltas batched into fenced writes, the last batch
committed with the attempt's result.

The first delta is written at once (time to first token is one short transaction); later
ones are gathered for up to :data:`FLUSH_INTERVAL_S` or :data:`MAX_BATCH` deltas, whichever
comes first, so a fast model costs a few dozen transactions a second, not one per token.
Each write is fenced: on the embedded store by the attempt's task lease, on Temporal's
external stream store by the attempt number. Once the attempt is superseded (timed out,
reclaimed after its worker was presumed dead), the store refuses its rows and
:meth:`AttemptStream.publish` raises, which stops the model call that no one will use.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final, Protocol

from .._clock import Clock
from ..errors import ApplicationError, StoreError
from ..store._stream_rows import StreamRow
from ..store.base import ActivityTask
from .faults import crash_point

FLUSH_INTERVAL_S: Final = 0.025
MAX_BATCH: Final = 32
SUPERSEDED_TYPE: Final = "AttemptSuperseded"

log = logging.getLogger("duragent.worker")


class StreamStore(Protocol):
    """What an attempt's stream needs from the embedded store."""

    def publish_stream(
        self, task: ActivityTask, rows: list[StreamRow], now: int, *, start: bool = False
    ) -> bool: ...


Writer = Callable[[list[StreamRow], bool], bool]
"""Writes rows (the attempt's start marker first, when asked); False: refused, the attempt
was superseded."""


def lease_fenced(store: StreamStore, task: ActivityTask, clock: Clock) -> Writer:
    """Writes fenced by the attempt's task lease (the embedded store)."""
    return lambda rows, start: store.publish_stream(task, rows, clock.now_ms(), start=start)


class AttemptStream:
    """The stream of one activity attempt (``activity.context().stream``).

    Args:
        write: Fenced writes of this attempt's rows.
        attempt: The attempt (for messages).
        activity_type: The activity (for messages and crash points).
    """

    def __init__(self, write: Writer, attempt: int, activity_type: str) -> None:
        self._write_rows = write
        self._attempt = attempt
        self._activity_type = activity_type
        self._pending: list[StreamRow] = []
        self._at_commit: list[tuple[str, str]] = []
        self._seq = 0
        self._opened = False
        self._closed = False
        self._superseded = False
        self._last_flush = 0.0
        self._timer: asyncio.TimerHandle | None = None

    @property
    def superseded(self) -> bool:
        """Whether the store refused this attempt's rows (a newer attempt took over)."""
        return self._superseded

    def open(self) -> None:
        """Start the attempt's stream: subscribers learn that this attempt began (and
        retract what an earlier attempt of the call showed)."""
        if self._opened:
            return
        self._opened = True
        self._write([], start=True)
        self._check()

    def publish(self, kind: str, data: str) -> None:
        """Add a delta (``kind``: ``text``, ``reasoning``, ``args``, ``item``, ...).

        Raises:
            ApplicationError: The attempt was superseded; stop working on it.
        """
        self._check()
        if not self._opened:
            self.open()
        self._seq += 1
        self._pending.append(StreamRow(self._seq, kind, data))
        loop = asyncio.get_running_loop()
        due = self._last_flush + FLUSH_INTERVAL_S
        if len(self._pending) >= MAX_BATCH or loop.time() >= due:
            self.flush()
        elif self._timer is None:
            self._timer = loop.call_at(due, self._flush_later)

    def publish_at_commit(self, kind: str, data: str) -> None:
        """Add a row written only with the attempt's result (see :meth:`tail`)."""
        self._check()
        self._at_commit.append((kind, data))

    def flush(self) -> None:
        """Write the deltas gathered so far."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending or self._closed:
            return
        rows, self._pending = self._pending, []
        self._write(rows, start=False)
        crash_point("stream_flush", self._activity_type)

    def tail(self) -> list[StreamRow] | None:
        """Stop the stream and return the deltas not yet written, to commit with the
        attempt's result (None if the attempt never streamed)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._closed = True
        rows, self._pending = self._pending, []
        for kind, data in self._at_commit:
            self._seq += 1
            rows.append(StreamRow(self._seq, kind, data))
        self._at_commit = []
        return rows if self._opened and not self._superseded else None

    def _flush_later(self) -> None:
        self._timer = None
        try:
            self.flush()
        except StoreError:
            log.exception("could not write the stream of activity %s", self._activity_type)

    def _write(self, rows: list[StreamRow], *, start: bool) -> None:
        if self._superseded:
            return
        self._last_flush = asyncio.get_running_loop().time()
        if not self._write_rows(rows, start):
            self._superseded = True

    def _check(self) -> None:
        if self._superseded:
            raise ApplicationError(
                f"attempt {self._attempt} of activity {self._activity_type} was "
                "superseded by a newer attempt; its stream is closed",
                type=SUPERSEDED_TYPE,
            )
