"""The effective view of a run's stream: raw rows in, the events a subscriber is shown out.

Pure (no I/O). Rows arrive in offset order, a page at a time, with the markers of the
calls they belong to. The view shows the deltas of each model call's current attempt; when
an attempt it showed turns out failed or superseded (its ``failed`` marker, or a newer
attempt's ``start``), it emits a :class:`~duragent.streaming.Reset` for the call; deltas
of an attempt already known to be dead, and not yet shown, are skipped altogether, so a
late subscriber sees only the attempts that counted. Decisions depend only on rows up to
the current offset and on what was shown, which :meth:`EffectiveView.resume` rebuilds
from the rows up to a subscriber's offset: a resumed subscriber continues exactly where it
stopped (at worst it gets a harmless extra reset for text it skipped).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

from ..store._stream_rows import COMMIT, END_SEQ, FAILED, STEP
from ..store.base import StreamPage, StreamRecord
from ..streaming import CallCommitted, ReasoningDelta, Reset, StreamEvent, TextDelta, ToolCall

TEXT: Final = "text"
REASONING: Final = "reasoning"
TOOL_CALL: Final = "tool_call"
SHOWN_KINDS: Final = (TEXT, REASONING)
"""Row kinds whose display a reset withdraws."""


def superseded(markers: list[StreamRecord]) -> set[tuple[int, int]]:
    """(call, attempt) pairs known to be over without counting: a ``failed`` marker, or
    a later attempt of the same call has started."""
    latest: dict[int, int] = {}
    dead: set[tuple[int, int]] = set()
    for m in markers:
        if m.kind == FAILED:
            dead.add((m.call, m.attempt))
        latest[m.call] = max(latest.get(m.call, 0), m.attempt)
    starts = {(m.call, m.attempt) for m in markers if m.seq == 0}
    dead.update((c, a) for c, a in starts if a < latest[c])
    return dead


class EffectiveView:
    """Turns pages of rows into events for one subscriber.

    Args:
        shown: Per model call, the attempt whose deltas the subscriber was shown and not
            told to forget (empty for a new subscriber; see ``stream_shown`` to resume).
    """

    def __init__(self, shown: dict[int, int] | None = None) -> None:
        self.shown: dict[int, int] = dict(shown or {})
        self.closed = False

    def page(
        self, page: StreamPage, step: Callable[[StreamRecord], StreamEvent | None]
    ) -> list[StreamEvent]:
        """The events of ``page``'s rows; ``step`` turns a pointer row into its event."""
        dead = superseded(page.markers)
        out: list[StreamEvent] = []
        for row in page.rows:
            event = self._row(row, dead, step)
            if event is not None:
                out.extend(event)
        return out

    def _row(
        self,
        row: StreamRecord,
        dead: set[tuple[int, int]],
        step: Callable[[StreamRecord], StreamEvent | None],
    ) -> list[StreamEvent] | None:
        if row.kind == STEP:
            event = step(row)
            return [event] if event is not None else None
        call, attempt = row.call, row.attempt
        shown = self.shown.get(call)
        if row.seq == 0 or (row.seq == END_SEQ and row.kind == FAILED):
            # A new attempt began, or this one failed: withdraw what an older one showed.
            if shown is None or (shown == attempt if row.seq == 0 else shown != attempt):
                return None
            del self.shown[call]
            reset: list[StreamEvent] = [Reset(row.offset, call, shown)]
            return reset
        if row.kind == COMMIT:
            committed: list[StreamEvent] = [CallCommitted(row.offset, call, attempt)]
            return committed
        if row.kind in SHOWN_KINDS:
            if (call, attempt) in dead and shown != attempt:
                return None  # over already, and never shown: skip it whole
            out: list[StreamEvent] = []
            if shown is not None and shown != attempt:  # defensive: rows are ordered
                out.append(Reset(row.offset, call, shown))
            self.shown[call] = attempt
            cls = TextDelta if row.kind == TEXT else ReasoningDelta
            out.append(cls(row.offset, call, attempt, row.data))
            return out
        if row.kind == TOOL_CALL:
            data: dict[str, Any] = json.loads(row.data)
            return [
                ToolCall(
                    row.offset,
                    call,
                    str(data.get("call_id") or ""),
                    str(data.get("name") or ""),
                    str(data.get("arguments") or ""),
                )
            ]
        return None  # item added/done and argument deltas: kept in the store, not shown
