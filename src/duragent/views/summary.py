"""One run in a line: the agent, model calls, tokens, tokens served from history, the last
error and the tool calls waiting for approval. Read from history alone (model responses
only, never the large model inputs), so a runs list can show it for every row."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .._engine import events as ev
from ..errors import SerializationError
from .agent_rows import MODEL_ACTIVITY, counts_as_tool_call
from .conversation import APPROVAL_MARKER, DECIDE_UPDATE
from .timeline import describe_failure


@dataclass
class PendingApproval:
    """A tool call waiting for a human decision."""

    call_id: str
    tool: str
    arguments: str
    agent: str
    requested_at: int


@dataclass
class RunSummary:
    """What a runs list shows about one run beyond its status."""

    agent: str = ""
    """The first agent that made a model call ("" for a plain workflow)."""
    model_calls: int = 0
    tool_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    served_calls: int = 0
    """Model calls a later worker took from history instead of making them again."""
    served_tokens: int = 0
    activities: int = 0
    """Activities scheduled (model and tool calls included)."""
    activity_attempts: int = 0
    """Attempts of the activities that finished (retries included)."""
    activity_failures: int = 0
    """Failed attempts: retried ones, and activities that failed for good."""
    last_error: str = ""
    models: dict[str, list[int]] = field(default_factory=lambda: {})
    """Per model: [calls, input tokens, output tokens, cached tokens]."""
    pending_approvals: list[PendingApproval] = field(default_factory=lambda: [])

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


def _json(payload: Any) -> Any:
    try:
        return payload.to_json_value()
    except (SerializationError, ValueError, AttributeError):
        return None


class SummaryFold:
    """A :class:`RunSummary` folded incrementally: :meth:`add` the events of a run as its
    history grows, read :meth:`summary` at any point. A server keeps one per run and reads
    only the events after :attr:`last_event_id`."""

    def __init__(self) -> None:
        self.last_event_id = 0
        """The id of the last event added (events up to it are ignored if added again)."""
        self._s = RunSummary()
        self._model_seqs: set[int] = set()
        self._tokens_of: dict[int, tuple[str, int]] = {}
        """Completed model calls: seq -> (worker, tokens)."""
        self._requested: dict[str, PendingApproval] = {}
        self._decided: set[str] = set()
        self._last_worker: str | None = None
        self._closed = False

    def add(self, events: Sequence[ev.Event]) -> None:
        """Fold in the next events of the run (in order; ones already added are skipped,
        so two readers racing to add the same events count them once)."""
        s = self._s
        for e in events:
            if e.event_id <= self.last_event_id:
                continue
            self.last_event_id = e.event_id
            match e:
                case ev.ActivityTaskScheduled():
                    s.activities += 1
                    if e.activity_type == MODEL_ACTIVITY:
                        self._model_seqs.add(e.seq)
                        s.agent = s.agent or e.summary
                        s.model_calls += 1
                    elif counts_as_tool_call(e.activity_type, e.summary):
                        s.tool_calls += 1
                case ev.ActivityTaskCompleted():
                    s.activity_attempts += e.attempt
                    s.activity_failures += e.attempt - 1
                    if e.seq in self._model_seqs:
                        self._model_completed(e)
                case ev.ActivityTaskFailed() | ev.ActivityTaskTimedOut():
                    s.activity_attempts += e.attempt
                    s.activity_failures += e.attempt
                    s.last_error = describe_failure(e.failure)
                case ev.WorkflowExecutionFailed():
                    s.last_error = describe_failure(e.failure)
                case ev.WorkflowExecutionTerminated():
                    s.last_error = f"terminated: {e.reason}" if e.reason else "terminated"
                case ev.WorkflowTaskCompleted():
                    worker = e.worker
                    if self._last_worker is not None and worker and worker != self._last_worker:
                        replayed = [t for w, t in self._tokens_of.values() if w != worker]
                        s.served_calls += len(replayed)
                        s.served_tokens += sum(replayed)
                    self._last_worker = worker or self._last_worker
                case ev.MarkerRecorded() if e.name == APPROVAL_MARKER:
                    d = e.details if isinstance(e.details, dict) else {}
                    call_id = str(d.get("call_id", ""))
                    self._requested[call_id] = PendingApproval(
                        call_id=call_id,
                        tool=str(d.get("tool", "")),
                        arguments=str(d.get("arguments", "")),
                        agent=str(d.get("agent", "")),
                        requested_at=e.time,
                    )
                case ev.WorkflowExecutionUpdateAccepted() if e.update_name == DECIDE_UPDATE:
                    value = _json(e.input[0]) if e.input else None
                    if isinstance(value, dict) and "call_id" in value:
                        self._decided.add(str(value["call_id"]))  # pyright: ignore[reportUnknownArgumentType]
                case _:
                    pass
            self._closed = isinstance(e, ev.CLOSE_EVENT_TYPES)

    def _model_completed(self, e: ev.ActivityTaskCompleted) -> None:
        result = _json(e.result)
        if not isinstance(result, dict):
            return
        s = self._s
        response: Any = result.get("response") or {}  # pyright: ignore[reportUnknownMemberType]
        usage: Any = response.get("usage") or {}
        inp = int(usage.get("input_tokens") or 0)
        out = int(usage.get("output_tokens") or 0)
        details: Any = usage.get("input_tokens_details") or {}
        cached = int(details.get("cached_tokens") or 0)
        s.input_tokens += inp
        s.output_tokens += out
        s.cached_tokens += cached
        model = str(result.get("model") or "")  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        row = s.models.setdefault(model, [0, 0, 0, 0])
        row[0] += 1
        row[1] += inp
        row[2] += out
        row[3] += cached
        self._tokens_of[e.seq] = (e.worker, inp + out)

    def summary(self) -> RunSummary:
        """The summary of the events added so far (a copy: later adds do not change it)."""
        s = self._s
        pending = (
            []
            if self._closed
            else [r for cid, r in self._requested.items() if cid not in self._decided]
        )
        return dataclasses.replace(
            s, models={m: list(v) for m, v in s.models.items()}, pending_approvals=pending
        )


def summarize(events: Sequence[ev.Event]) -> RunSummary:
    """Fold a run's history into its :class:`RunSummary`."""
    fold = SummaryFold()
    fold.add(events)
    return fold.summary()
