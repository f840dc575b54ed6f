"""The steps of a streamed run, from its history: tool results, approval requests, the
close. Pointer rows in the stream say where each happened; this module turns the history
events they point at into stream events. Once a stream's rows expired (or for a run that
never streamed) :meth:`Steps.rebuild` makes the whole stream from history: each model
call's recorded answer whole, its tool calls, their results, and the close.

Pure: history is fed in with :meth:`Steps.add`. No Agents SDK import (the names the
agents integration records are read from :mod:`duragent.views.agent_rows`).
"""

from __future__ import annotations

import json
from typing import Any, Final

from .._engine import events as ev
from ..errors import SerializationError
from ..serde import Payload
from ..store._stream_rows import STEP_EVENTS
from ..store.base import StreamRecord
from ..streaming import (
    ApprovalRequested,
    CallCommitted,
    RunClosed,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolResult,
)
from ..views.agent_rows import MODEL_ACTIVITY, TOOL_ACTIVITY

APPROVAL_MARKER: Final = "duragent.approval_requested"

_CLOSE_STATUS: Final = {
    ev.WorkflowExecutionCompleted.TYPE: "completed",
    ev.WorkflowExecutionFailed.TYPE: "failed",
    ev.WorkflowExecutionCanceled.TYPE: "canceled",
    ev.WorkflowExecutionTerminated.TYPE: "terminated",
    ev.WorkflowExecutionContinuedAsNew.TYPE: "continued_as_new",
}


def _json(payload: Payload | None) -> Any:
    if payload is None:
        return None
    try:
        return payload.to_json_value()
    except (SerializationError, ValueError):
        return payload.data.decode("utf-8", "replace")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class Steps:
    """History events of one run, turned into stream events on demand."""

    def __init__(self) -> None:
        self.loaded = 0
        """The id of the last history event added."""
        self._scheduled: dict[int, ev.ActivityTaskScheduled] = {}
        self._pending: dict[int, ev.Event] = {}

    def add(self, events: list[ev.Event]) -> None:
        """Take the next history events (in order)."""
        for e in events:
            if isinstance(e, ev.ActivityTaskScheduled):
                self._scheduled[e.seq] = e
            elif e.TYPE in STEP_EVENTS:
                self._pending[e.event_id] = e
            self.loaded = max(self.loaded, e.event_id)

    def translate(self, row: StreamRecord) -> StreamEvent | None:
        """The event a pointer row points at (None if subscribers are not shown it)."""
        event = self._pending.pop(row.seq, None)
        return None if event is None else self._event(event, row.offset)

    def _event(self, e: ev.Event, offset: int) -> StreamEvent | None:
        if isinstance(e, ev.MarkerRecorded):
            if e.name != APPROVAL_MARKER:
                return None
            d = e.details
            return ApprovalRequested(
                offset,
                str(d.get("call_id", "")),
                str(d.get("tool", "")),
                str(d.get("arguments", "")),
                str(d.get("agent", "")),
            )
        status = _CLOSE_STATUS.get(e.TYPE)
        if status is not None:
            result = _json(e.result) if isinstance(e, ev.WorkflowExecutionCompleted) else None
            failure = getattr(e, "failure", None)
            reason = getattr(e, "reason", "")
            return RunClosed(
                offset,
                status,
                result,
                failure.describe() if failure is not None else str(reason or ""),
                getattr(e, "new_run_id", ""),
            )
        seq: int | None = getattr(e, "seq", None)
        scheduled = self._scheduled.get(seq) if seq is not None else None
        if scheduled is None or scheduled.activity_type == MODEL_ACTIVITY:
            return None  # a model call: its text and tool calls are in the stream itself
        return self._tool_result(e, scheduled, offset)

    def _tool_result(
        self, e: ev.Event, scheduled: ev.ActivityTaskScheduled, offset: int
    ) -> ToolResult:
        name = scheduled.summary or scheduled.activity_type
        call_id = ""
        with_context = False
        if scheduled.activity_type == TOOL_ACTIVITY and scheduled.input:
            request = _json(scheduled.input[0])
            if isinstance(request, dict):
                name = str(request.get("name") or name)  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
                call_id = str(request.get("call_id") or "")  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
            with_context = len(scheduled.input) > 1
        if isinstance(e, ev.ActivityTaskCompleted):
            value = _json(e.result)
            if with_context and isinstance(value, dict) and "output" in value:
                value = value["output"]  # a ToolCallOutcome: the output and the context
            return ToolResult(offset, scheduled.seq, call_id, name, _text(value))
        failure = getattr(e, "failure", None)
        error = failure.describe() if failure is not None else "cancelled"
        return ToolResult(offset, scheduled.seq, call_id, name, "", error)

    def rebuild(self, events: list[ev.Event]) -> list[StreamEvent]:
        """The whole stream of a run from its history alone (offsets 0: not resumable):
        what a subscriber gets once the stream's rows expired."""
        out: list[StreamEvent] = []
        for e in events:
            self.add([e])
            seq: int | None = getattr(e, "seq", None)
            scheduled = self._scheduled.get(seq) if seq is not None else None
            if (
                isinstance(e, ev.ActivityTaskCompleted)
                and scheduled is not None
                and scheduled.activity_type == MODEL_ACTIVITY
            ):
                out.extend(_recorded_answer(e))
            elif e.TYPE in STEP_EVENTS:
                event = self._event(self._pending.pop(e.event_id), 0)
                if event is not None:
                    out.append(event)
        return out


def _recorded_answer(e: ev.ActivityTaskCompleted) -> list[StreamEvent]:
    """A model call's recorded response as the stream would have shown it."""
    value = _json(e.result)
    response: Any = value.get("response") if isinstance(value, dict) else None  # pyright: ignore[reportUnknownMemberType]
    items: Any = response.get("output") if isinstance(response, dict) else None  # pyright: ignore[reportUnknownMemberType]
    out: list[StreamEvent] = []
    for item in items if isinstance(items, list) else []:  # pyright: ignore[reportUnknownVariableType]
        if not isinstance(item, dict):
            continue
        kind = item.get("type")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        if kind == "message":
            parts: Any = item.get("content") or []  # pyright: ignore[reportUnknownMemberType]
            text = "".join(
                str(p.get("text") or p.get("refusal") or "")  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
                for p in parts  # pyright: ignore[reportUnknownVariableType]
                if isinstance(p, dict)
            )
            if text:
                out.append(TextDelta(0, e.seq, e.attempt, text))
        elif kind == "function_call":
            out.append(
                ToolCall(
                    0,
                    e.seq,
                    str(item.get("call_id") or ""),  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
                    str(item.get("name") or ""),  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
                    str(item.get("arguments") or ""),  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
                )
            )
    out.append(CallCommitted(0, e.seq, e.attempt))
    return out
