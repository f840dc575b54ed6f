"""What a Temporal run's history and description say about its activities, for timelines
and the usage ledger: failed attempts, pending activities, and the ledger entries of model
calls (see ``_usage.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionResponse

from .._backend.records import ActivityAttempt, PendingActivity, RunRef
from .._engine.failure import Failure, FailureKind
from ..store.base import UsageEntry
from ._usage import usage_in_heartbeat, usage_in_payload
from .history import HistoryTranslator, failure_from_temporal, payload_from_temporal

__all__ = ["failed_attempts", "is_closed", "pending_activities", "usage_of_run"]

MODEL_ACTIVITY: Final = "duragent.openai_agents.invoke_model"
_CLOSE_EVENTS: Final = frozenset(
    {
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
    }
)


def _ms(ts: Any) -> int:
    return int(ts.seconds * 1000 + ts.nanos // 1_000_000)


def _seq(activity_id: str) -> int:
    return int(activity_id) if activity_id.isdigit() else 0


def is_closed(raw: Sequence[HistoryEvent]) -> bool:
    """Whether a run's (complete) history ends with a close event."""
    return bool(raw) and raw[-1].event_type in _CLOSE_EVENTS


def _attempt(
    seq: int, attempt: int, failure: Failure, ended: int, worker: str | None = None
) -> ActivityAttempt:
    return ActivityAttempt(
        seq=seq,
        attempt=attempt,
        started_at=None,
        ended_at=ended,
        worker=worker,
        outcome="timed_out" if failure.kind == FailureKind.TIMEOUT else "failed",
        failure=failure,
    )


def failed_attempts(
    raw: Sequence[HistoryEvent], desc: DescribeWorkflowExecutionResponse
) -> list[ActivityAttempt]:
    """Attempts that did not succeed. Temporal keeps the last failure of an activity only
    (on the attempt after it, in history or in the pending activity), so each retried
    activity shows the failure of the attempt before the last; its end time is when the
    next attempt started."""
    found: dict[tuple[int, int], ActivityAttempt] = {}
    seqs: dict[int, int] = {}
    for event in raw:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            seqs[event.event_id] = _seq(event.activity_task_scheduled_event_attributes.activity_id)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            a = event.activity_task_started_event_attributes
            if a.attempt > 1 and a.HasField("last_failure"):
                seq = seqs.get(a.scheduled_event_id, 0)
                found[(seq, a.attempt - 1)] = _attempt(
                    seq, a.attempt - 1, failure_from_temporal(a.last_failure), _ms(event.event_time)
                )
    for p in desc.pending_activities:
        if p.attempt > 1 and p.HasField("last_failure"):
            # ``attempt`` is the one running or due next: the one before it failed.
            seq, failed = _seq(p.activity_id), p.attempt - 1
            ended = _ms(p.last_attempt_complete_time) or _ms(p.last_started_time)
            found.setdefault(
                (seq, failed),
                _attempt(
                    seq,
                    failed,
                    failure_from_temporal(p.last_failure),
                    ended,
                    p.last_worker_identity or None,
                ),
            )
    return sorted(found.values(), key=lambda a: (a.seq, a.attempt))


def pending_activities(desc: DescribeWorkflowExecutionResponse) -> list[PendingActivity]:
    """The run's activities that have not finished, from its description."""
    out: list[PendingActivity] = []
    for p in desc.pending_activities:
        running = p.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        out.append(
            PendingActivity(
                seq=_seq(p.activity_id),
                activity_type=p.activity_type.name,
                attempt=p.attempt if running else p.attempt - 1,
                owner=(p.last_worker_identity or None) if running else None,
                visible_at=_ms(p.next_attempt_schedule_time) or None,
                started_at=(_ms(p.last_started_time) or None) if running else None,
                last_failure=(
                    failure_from_temporal(p.last_failure) if p.HasField("last_failure") else None
                ),
                details={"state": PendingActivityState.Name(p.state)},
            )
        )
    return sorted(out, key=lambda p: p.seq)


def usage_of_run(
    ref: RunRef, raw: Sequence[HistoryEvent], desc: DescribeWorkflowExecutionResponse | None
) -> list[UsageEntry]:
    """The usage ledger of one run: the entries completed calls were tagged with (lost
    attempts included), an entry for each untagged recorded model call, and the entries
    carried by still-pending activities' heartbeats (``desc``, for a running run)."""
    out: list[UsageEntry] = []
    scheduled: dict[int, tuple[int, str, str]] = {}
    started: dict[int, tuple[int, str]] = {}
    translator = HistoryTranslator(ref.workflow_id)
    for event in raw:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            a = event.activity_task_scheduled_event_attributes
            (translated,) = translator.translate([event])
            agent = str(getattr(translated, "summary", ""))
            scheduled[event.event_id] = (_seq(a.activity_id), a.activity_type.name, agent)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            a = event.activity_task_started_event_attributes
            started[event.event_id] = (a.attempt, a.identity)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            a = event.activity_task_completed_event_attributes
            payloads = a.result.payloads
            tagged = usage_in_payload(payloads[0]) if payloads else []
            if tagged:
                out.extend(tagged)
                continue
            seq, activity_type, agent = scheduled.get(a.scheduled_event_id, (0, "", ""))
            if activity_type == MODEL_ACTIVITY and payloads:
                attempt, worker = started.get(a.started_event_id, (1, a.identity))
                entry = _recorded_call(ref.run_id, seq, attempt, agent, payloads[0], worker)
                if entry is not None:
                    out.append(entry)
    if desc is not None:
        for pending in desc.pending_activities:
            out.extend(usage_in_heartbeat(pending.heartbeat_details.payloads))
    return out


def _recorded_call(
    run_id: str, seq: int, attempt: int, agent: str, payload: Any, worker: str
) -> UsageEntry | None:
    """The ledger entry of a recorded model call whose result carries none (written before
    results were tagged): its own usage, from the response."""
    try:
        result = payload_from_temporal(payload).to_json_value()
    except ValueError:
        return None
    if not isinstance(result, dict):
        return None
    found: dict[str, Any] = result  # pyright: ignore[reportUnknownVariableType]
    response: Any = found.get("response") or {}
    usage: Any = response.get("usage") or {}
    details: Any = usage.get("input_tokens_details") or {}
    return UsageEntry(
        run_id=run_id,
        seq=seq,
        attempt=attempt,
        kind="model",
        name=str(found.get("model", "")),
        agent=agent,
        requests=int(usage.get("requests") or 1),
        input_tokens=int(usage.get("input_tokens") or 0),
        output_tokens=int(usage.get("output_tokens") or 0),
        cached_tokens=int(details.get("cached_tokens") or 0),
        latency_ms=int(found.get("latency_ms") or 0),
        worker=worker,
    )
