"""One run in a line: the agent, model calls, tokens, tokens served from history, the last
error and the tool calls waiting for approval. Read from history alone (model responses
only, never the large model inputs), so a runs list can show it for every row."""

from __future__ import annotations

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


def summarize(events: Sequence[ev.Event]) -> RunSummary:
    """Fold a run's history into its :class:`RunSummary`."""
    s = RunSummary()
    model_seqs: dict[int, str] = {}
    tokens_of: dict[int, tuple[str, int]] = {}
    """Completed model calls: seq -> (worker, tokens)."""
    requested: dict[str, PendingApproval] = {}
    decided: set[str] = set()
    last_worker: str | None = None
    for e in events:
        match e:
            case ev.ActivityTaskScheduled():
                s.activities += 1
                if e.activity_type == MODEL_ACTIVITY:
                    model_seqs[e.seq] = e.summary
                    s.agent = s.agent or e.summary
                    s.model_calls += 1
                elif counts_as_tool_call(e.activity_type, e.summary):
                    s.tool_calls += 1
            case ev.ActivityTaskCompleted():
                s.activity_attempts += e.attempt
                s.activity_failures += e.attempt - 1
                if e.seq not in model_seqs:
                    continue
                result = _json(e.result)
                if isinstance(result, dict):
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
                    tokens_of[e.seq] = (e.worker, inp + out)
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
                if last_worker is not None and worker and worker != last_worker:
                    replayed = [t for w, t in tokens_of.values() if w != worker]
                    s.served_calls += len(replayed)
                    s.served_tokens += sum(replayed)
                last_worker = worker or last_worker
            case ev.MarkerRecorded() if e.name == APPROVAL_MARKER:
                d = e.details if isinstance(e.details, dict) else {}
                call_id = str(d.get("call_id", ""))
                requested[call_id] = PendingApproval(
                    call_id=call_id,
                    tool=str(d.get("tool", "")),
                    arguments=str(d.get("arguments", "")),
                    agent=str(d.get("agent", "")),
                    requested_at=e.time,
                )
            case ev.WorkflowExecutionUpdateAccepted() if e.update_name == DECIDE_UPDATE:
                value = _json(e.input[0]) if e.input else None
                if isinstance(value, dict) and "call_id" in value:
                    decided.add(str(value["call_id"]))  # pyright: ignore[reportUnknownArgumentType]
            case _:
                pass
    closed = bool(events) and isinstance(events[-1], ev.CLOSE_EVENT_TYPES)
    if not closed:
        s.pending_approvals = [r for cid, r in requested.items() if cid not in decided]
    return s
