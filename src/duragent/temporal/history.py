"""Temporal histories as Duragent events: what ``duragent show``, ``usage_report``,
``pending_approvals``, exports and the web UI read, whichever backend a run lives on.

Temporal's event types already carry Duragent's names (ActivityTaskScheduled,
TimerFired, WorkflowExecutionUpdateAccepted, ...), so most events map one to one. Where
the two differ:

- **Event ids** are Temporal's (so ``show`` and the Temporal UI name the same event). They
  are not contiguous: Temporal's workflow-task scheduled/started events and activity
  started events have no Duragent counterpart and are folded into the events they lead
  to (an activity's attempt, start time and worker go to its completion).
- **Sequence numbers**: an activity's is its Temporal activity id (temporalio numbers
  them 1, 2, ... per run, which is also what ``activity.info().activity_id`` and the usage
  ledger use); a timer's is its timer id; children and external requests are numbered in
  the order they were initiated. Each kind counts on its own (the embedded engine shares
  one counter), which is enough to pair events within a history.
- **Markers**: Duragent's markers are memo entries ``duragent.marker.<n>.<name>`` on
  Temporal (it has no user marker command), recorded by a WorkflowPropertiesModified event;
  they come back as ``MarkerRecorded``. temporalio's patch marker becomes the ``patch``
  marker with the embedded engine's details (``{"id", "deprecated"}``).
- **At-most-once**: Temporal records the timeout of an at-most-once attempt (not retried,
  by the non-retryable timeout types Duragent gives it); the workflow saw
  ``ActivityAttemptInterrupted``, and so does the translated history, as on the embedded
  engine.
- Events with no Duragent meaning (workflow task bookkeeping and failures, search
  attribute upserts, Nexus operations) are left out; workflow task failures show in
  ``describe()`` instead.

Payloads keep their JSON bytes (Duragent writes ``json/plain``). A payload in another
encoding (a workflow written with another SDK in the same namespace) becomes a short JSON
text saying what it was, so a view never fails on it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any, Final

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.common.v1 import Payload as TemporalPayload
from temporalio.api.common.v1 import Payloads
from temporalio.api.enums.v1 import ParentClosePolicy, TimeoutType
from temporalio.api.failure.v1 import Failure as TemporalFailure
from temporalio.api.history.v1 import HistoryEvent

from .._engine import events as ev
from .._engine.failure import Failure, FailureKind
from ..retry import RetryPolicy
from ..serde import NULL_PAYLOAD, DataConverter, Payload
from ._failures import INTERRUPTED

__all__ = [
    "HistoryTranslator",
    "failure_from_temporal",
    "memo_values",
    "payload_from_temporal",
    "translate_history",
]

MARKER_MEMO_PREFIX: Final = "duragent.marker."
FORK_MEMO: Final = "duragent.fork"
"""Memo key of a fork's fork document (cassette mode, see ``duragent.temporal.fork``)."""
FORK_RESULTS_MEMO: Final = "duragent.fork.results"
"""Memo key of the source's results a fork may serve (by index from the document)."""
_CONVERTER: Final = DataConverter(max_payload_bytes=1 << 62)
"""Memo keys of Duragent markers: ``duragent.marker.<n>.<name>`` (see ``_runtime.py``)."""
TEMPORAL_PATCH_MARKER: Final = "core_patch"
TEMPORAL_TIMEOUT_PREFIX: Final = "TemporalTimeout:"
AUTO_HEARTBEAT: Final = "DuragentAutoHeartbeat"
_JSON_HEADER: Final = b"json/1\n"
_JSON_ENCODINGS: Final = (b"json/plain", b"json/protobuf")

_TIMEOUT_NAMES: Final = {
    TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE: "START_TO_CLOSE",
    TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START: "SCHEDULE_TO_START",
    TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_CLOSE: "SCHEDULE_TO_CLOSE",
    TimeoutType.TIMEOUT_TYPE_HEARTBEAT: "HEARTBEAT",
}
_PARENT_CLOSE: Final = {
    ParentClosePolicy.PARENT_CLOSE_POLICY_TERMINATE: "terminate",
    ParentClosePolicy.PARENT_CLOSE_POLICY_REQUEST_CANCEL: "request_cancel",
    ParentClosePolicy.PARENT_CLOSE_POLICY_ABANDON: "abandon",
}


# ------------------------------------------------------------------------------ values


def payload_from_temporal(payload: TemporalPayload) -> Payload:
    """A Temporal payload as a Duragent payload: JSON kept as it is, anything else (or
    JSON that does not parse) described in a JSON string."""
    encoding = payload.metadata.get("encoding", b"")
    if encoding == b"binary/null":
        return NULL_PAYLOAD
    if encoding in _JSON_ENCODINGS:
        try:
            json.loads(payload.data)
        except ValueError:
            pass
        else:
            return Payload(_JSON_HEADER + payload.data)
    name = encoding.decode("utf-8", "replace") or "no encoding"
    text = f"<{name} payload of {len(payload.data)} bytes, not readable by Duragent>"
    return Payload(_JSON_HEADER + json.dumps(text).encode())


def _payloads(payloads: Payloads) -> tuple[Payload, ...]:
    return tuple(payload_from_temporal(p) for p in payloads.payloads)


def _single(payloads: Payloads) -> Payload:
    """A Duragent result: one payload (Duragent writes exactly one; none means null)."""
    return payload_from_temporal(payloads.payloads[0]) if payloads.payloads else NULL_PAYLOAD


def _json(payload: TemporalPayload) -> Any:
    try:
        return payload_from_temporal(payload).to_json_value()
    except ValueError:
        return None


def memo_values(fields: Mapping[str, TemporalPayload]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A memo's values split into the user's memo and Duragent's markers (by memo key)."""
    memo: dict[str, Any] = {}
    markers: dict[str, Any] = {}
    for key, payload in fields.items():
        (markers if key.startswith(MARKER_MEMO_PREFIX) else memo)[key] = _json(payload)
    return memo, markers


def _ms(ts: Timestamp) -> int:
    return ts.seconds * 1000 + ts.nanos // 1_000_000


def _duration_ms(d: Duration) -> int | None:
    ms = d.seconds * 1000 + d.nanos // 1_000_000
    return ms or None


def _td(d: Duration) -> timedelta:
    return timedelta(seconds=d.seconds, microseconds=d.nanos // 1000)


def failure_from_temporal(f: TemporalFailure, depth: int = 0) -> Failure:
    """A Temporal failure (and its causes) as a Duragent :class:`Failure`."""
    has_cause = f.HasField("cause") and depth < 16
    cause = failure_from_temporal(f.cause, depth + 1) if has_cause else None
    kind = f.WhichOneof("failure_info")
    common: dict[str, Any] = {"message": f.message, "stack_trace": f.stack_trace, "cause": cause}
    if kind == "application_failure_info":
        info = f.application_failure_info
        retry_after = (
            _duration_ms(info.next_retry_delay) if info.HasField("next_retry_delay") else None
        )
        return Failure(
            kind=FailureKind.APPLICATION,
            type=info.type,
            non_retryable=info.non_retryable,
            retry_after_ms=retry_after,
            details=_payloads(info.details),
            **common,
        )
    if kind == "timeout_failure_info":
        info = f.timeout_failure_info
        return Failure(
            kind=FailureKind.TIMEOUT,
            type=_TIMEOUT_NAMES.get(info.timeout_type, "START_TO_CLOSE"),
            details=_payloads(info.last_heartbeat_details),
            **common,
        )
    if kind == "canceled_failure_info":
        return Failure(
            kind=FailureKind.CANCELLED,
            type="CancelledError",
            details=_payloads(f.canceled_failure_info.details),
            **common,
        )
    if kind == "terminated_failure_info":
        return Failure(kind=FailureKind.TERMINATED, type="TerminatedError", **common)
    if kind == "activity_failure_info":
        info = f.activity_failure_info
        seq = info.activity_id
        return Failure(
            kind=FailureKind.ACTIVITY,
            type="ActivityError",
            info={
                "activity_type": info.activity_type.name,
                "activity_seq": int(seq) if seq.isdigit() else 0,
                "attempt": 0,
            },
            **common,
        )
    if kind == "child_workflow_execution_failure_info":
        info = f.child_workflow_execution_failure_info
        return Failure(
            kind=FailureKind.CHILD_WORKFLOW,
            type="ChildWorkflowError",
            info={
                "workflow_id": info.workflow_execution.workflow_id,
                "workflow_type": info.workflow_type.name,
                "run_id": info.workflow_execution.run_id,
            },
            **common,
        )
    # Server, reset and Nexus failures: kept as application failures named for their kind.
    name = (kind or "failure").removesuffix("_failure_info")
    return Failure(kind=FailureKind.APPLICATION, type=f"Temporal:{name}", **common)


def _retry_policy(policy: Any) -> tuple[RetryPolicy | None, bool]:
    """Duragent's retry policy from Temporal's, without the types Duragent itself adds
    for at-most-once calls; and whether the call was at-most-once."""
    types = list(policy.non_retryable_error_types)
    at_most_once = f"{TEMPORAL_TIMEOUT_PREFIX}Heartbeat" in types
    own = [t for t in types if not t.startswith(TEMPORAL_TIMEOUT_PREFIX) and t != AUTO_HEARTBEAT]
    initial = _td(policy.initial_interval)
    if initial <= timedelta(0):
        return None, at_most_once
    maximum = _td(policy.maximum_interval) if policy.HasField("maximum_interval") else None
    try:
        converted = RetryPolicy(
            initial_interval=initial,
            backoff_coefficient=max(1.0, policy.backoff_coefficient or 2.0),
            maximum_interval=maximum if maximum and maximum >= initial else None,
            maximum_attempts=max(0, policy.maximum_attempts),
            non_retryable_error_types=tuple(own),
        )
    except ValueError:
        return None, at_most_once
    return converted, at_most_once


def _interrupted(activity_type: str, timeout: Failure) -> Failure:
    """What the workflow saw when an at-most-once attempt timed out (``_runtime.py``)."""
    return Failure(
        message=(
            f"an attempt of at-most-once activity {activity_type!r} was interrupted (its "
            "worker stopped or stopped answering) and was not run again: it may or may not "
            "have taken effect"
        ),
        kind=FailureKind.APPLICATION,
        type=INTERRUPTED,
        non_retryable=True,
        cause=timeout,
    )


# ------------------------------------------------------------------------------ translator


class _Activity:
    __slots__ = ("activity_type", "at_most_once", "seq")

    def __init__(self, seq: int, activity_type: str, at_most_once: bool) -> None:
        self.seq = seq
        self.activity_type = activity_type
        self.at_most_once = at_most_once


class HistoryTranslator:
    """Translates one run's Temporal history into Duragent events, in order.

    Feed it the run's events from the first one, in one call or page by page: it keeps
    what later events refer to (scheduled activities, started attempts, initiated
    children).

    Args:
        workflow_id: The run's workflow id (older servers leave it out of the start event).
    """

    def __init__(self, workflow_id: str) -> None:
        self.workflow_id = workflow_id
        self.last_event_id = 0
        """The id of the last Temporal event fed (translated or not)."""
        self._activities: dict[int, _Activity] = {}
        self._attempts: dict[int, tuple[int, int, str]] = {}
        """Started event id -> (attempt, start time, worker)."""
        self._timers: dict[str, int] = {}
        self._children: dict[int, int] = {}
        self._externals: dict[int, int] = {}
        self._next_child = 0
        self._next_external = 0
        self._next_activity = 0
        self._task_started = 0
        self._current: HistoryEvent | None = None

    def translate(self, events: Iterable[HistoryEvent]) -> list[ev.Event]:
        """The Duragent events among ``events`` (the next ones of the run)."""
        out: list[ev.Event] = []
        for event in events:
            self.last_event_id = event.event_id
            translated = self._event(event)
            if translated is not None:
                out.extend(translated)
        return out

    # Each handler gets the event id and time and returns the Duragent events (or None).

    def _event(self, e: HistoryEvent) -> list[ev.Event] | None:
        self._current = e
        name = e.WhichOneof("attributes")
        if name is None:
            return None
        handler = getattr(self, "_" + name.removesuffix("_event_attributes"), None)
        if handler is None:
            return None
        result: ev.Event | list[ev.Event] | None = handler(
            getattr(e, name), e.event_id, _ms(e.event_time)
        )
        if result is None:
            return None
        return result if isinstance(result, list) else [result]

    # -- the run --------------------------------------------------------------------------

    def _workflow_execution_started(self, a: Any, eid: int, t: int) -> ev.Event:
        memo, _ = memo_values(a.memo.fields)
        # A fork (cassette mode, see .fork) carries its fork document in its memo.
        fork, results = memo.pop(FORK_MEMO, None), memo.pop(FORK_RESULTS_MEMO, None)
        parent = a.parent_workflow_execution
        return ev.WorkflowExecutionStarted(
            event_id=eid,
            time=t,
            workflow_type=a.workflow_type.name,
            workflow_id=a.workflow_id or self.workflow_id,
            task_queue=a.task_queue.name,
            input=_payloads(a.input),
            attempt=a.attempt or 1,
            parent_workflow_id=parent.workflow_id or None,
            parent_run_id=parent.run_id or None,
            parent_seq=None,
            continued_from_run_id=a.continued_execution_run_id or None,
            first_run_id=a.first_execution_run_id or None,
            memo=memo,
            fork=None if fork is None else _CONVERTER.encode(fork),
            fork_results=tuple(_CONVERTER.encode(r) for r in results or ()),
        )

    def _workflow_task_started(self, a: Any, eid: int, t: int) -> None:
        self._task_started = eid

    def _workflow_task_completed(self, a: Any, eid: int, t: int) -> ev.Event:
        return ev.WorkflowTaskCompleted(
            event_id=eid,
            time=t,
            processed_through=a.started_event_id or self._task_started,
            worker=a.identity,
        )

    def _workflow_execution_completed(self, a: Any, eid: int, t: int) -> ev.Event:
        return ev.WorkflowExecutionCompleted(event_id=eid, time=t, result=_single(a.result))

    def _workflow_execution_failed(self, a: Any, eid: int, t: int) -> ev.Event:
        return ev.WorkflowExecutionFailed(
            event_id=eid, time=t, failure=failure_from_temporal(a.failure)
        )

    def _workflow_execution_timed_out(self, a: Any, eid: int, t: int) -> ev.Event:
        # No embedded counterpart (runs have no timeout there): a failed run, by timeout.
        failure = Failure(
            message="the workflow run timed out", kind=FailureKind.TIMEOUT, type="WORKFLOW_RUN"
        )
        return ev.WorkflowExecutionFailed(event_id=eid, time=t, failure=failure)

    def _workflow_execution_canceled(self, a: Any, eid: int, t: int) -> ev.Event:
        return ev.WorkflowExecutionCanceled(event_id=eid, time=t, details=_payloads(a.details))

    def _workflow_execution_terminated(self, a: Any, eid: int, t: int) -> ev.Event:
        return ev.WorkflowExecutionTerminated(
            event_id=eid, time=t, reason=a.reason, identity=a.identity
        )

    def _workflow_execution_continued_as_new(self, a: Any, eid: int, t: int) -> ev.Event:
        memo, _ = memo_values(a.memo.fields)
        return ev.WorkflowExecutionContinuedAsNew(
            event_id=eid,
            time=t,
            new_run_id=a.new_execution_run_id,
            workflow_type=a.workflow_type.name,
            task_queue=a.task_queue.name,
            input=_payloads(a.input),
            memo=memo,
        )

    # -- messages -------------------------------------------------------------------------

    def _workflow_execution_signaled(self, a: Any, eid: int, t: int) -> ev.Event:
        return ev.WorkflowExecutionSignaled(
            event_id=eid,
            time=t,
            signal_name=a.signal_name,
            input=_payloads(a.input),
            identity=a.identity,
        )

    def _workflow_execution_cancel_requested(self, a: Any, eid: int, t: int) -> ev.Event:
        return ev.WorkflowExecutionCancelRequested(
            event_id=eid, time=t, reason=a.cause, identity=a.identity
        )

    def _workflow_execution_update_accepted(self, a: Any, eid: int, t: int) -> ev.Event:
        request = a.accepted_request
        return ev.WorkflowExecutionUpdateAccepted(
            event_id=eid,
            time=t,
            update_id=request.meta.update_id or a.protocol_instance_id,
            update_name=request.input.name,
            input=_payloads(request.input.args),
            identity=request.meta.identity,
        )

    def _workflow_execution_update_completed(self, a: Any, eid: int, t: int) -> ev.Event:
        outcome = a.outcome
        if outcome.HasField("failure"):
            return ev.WorkflowExecutionUpdateCompleted(
                event_id=eid,
                time=t,
                update_id=a.meta.update_id,
                failure=failure_from_temporal(outcome.failure),
            )
        return ev.WorkflowExecutionUpdateCompleted(
            event_id=eid, time=t, update_id=a.meta.update_id, result=_single(outcome.success)
        )

    # -- activities -----------------------------------------------------------------------

    def _activity_task_scheduled(self, a: Any, eid: int, t: int) -> ev.Event:
        self._next_activity += 1
        seq = int(a.activity_id) if a.activity_id.isdigit() else self._next_activity
        policy, at_most_once = (
            _retry_policy(a.retry_policy) if a.HasField("retry_policy") else (None, False)
        )
        self._activities[eid] = _Activity(seq, a.activity_type.name, at_most_once)
        return ev.ActivityTaskScheduled(
            event_id=eid,
            time=t,
            seq=seq,
            activity_type=a.activity_type.name,
            task_queue=a.task_queue.name,
            input=_payloads(a.input),
            start_to_close_timeout_ms=_duration_ms(a.start_to_close_timeout),
            schedule_to_close_timeout_ms=_duration_ms(a.schedule_to_close_timeout),
            heartbeat_timeout_ms=_duration_ms(a.heartbeat_timeout),
            retry_policy=policy,
            at_most_once=at_most_once,
            summary=self._summary(),
        )

    def _summary(self) -> str:
        """The summary temporalio records with the event (user metadata, a JSON string)."""
        event = self._current
        if event is None or not event.HasField("user_metadata"):
            return ""
        meta = event.user_metadata
        value = _json(meta.summary) if meta.HasField("summary") else None
        return value if isinstance(value, str) else ""

    def _activity(self, scheduled_event_id: int) -> _Activity:
        known = self._activities.get(scheduled_event_id)
        if known is None:  # a history read from its middle: keep the events anyway
            known = _Activity(scheduled_event_id, "", False)
        return known

    def _activity_task_started(self, a: Any, eid: int, t: int) -> None:
        self._attempts[eid] = (a.attempt or 1, t, a.identity)

    def _activity_task_completed(self, a: Any, eid: int, t: int) -> ev.Event:
        attempt, started, _ = self._attempts.get(a.started_event_id, (1, 0, ""))
        return ev.ActivityTaskCompleted(
            event_id=eid,
            time=t,
            seq=self._activity(a.scheduled_event_id).seq,
            result=_single(a.result),
            attempt=attempt,
            started_time=started,
            worker=a.identity,
        )

    def _activity_task_failed(self, a: Any, eid: int, t: int) -> ev.Event:
        attempt, started, _ = self._attempts.get(a.started_event_id, (1, 0, ""))
        return ev.ActivityTaskFailed(
            event_id=eid,
            time=t,
            seq=self._activity(a.scheduled_event_id).seq,
            failure=failure_from_temporal(a.failure),
            attempt=attempt,
            started_time=started,
            worker=a.identity,
        )

    def _activity_task_timed_out(self, a: Any, eid: int, t: int) -> ev.Event:
        activity = self._activity(a.scheduled_event_id)
        attempt, started, worker = self._attempts.get(a.started_event_id, (0, 0, ""))
        failure = failure_from_temporal(a.failure)
        if activity.at_most_once and failure.type in ("START_TO_CLOSE", "HEARTBEAT"):
            return ev.ActivityTaskFailed(
                event_id=eid,
                time=t,
                seq=activity.seq,
                failure=_interrupted(activity.activity_type, failure),
                attempt=attempt,
                started_time=started,
                worker=worker,
            )
        return ev.ActivityTaskTimedOut(
            event_id=eid, time=t, seq=activity.seq, failure=failure, attempt=attempt
        )

    def _activity_task_cancel_requested(self, a: Any, eid: int, t: int) -> ev.Event:
        return ev.ActivityTaskCancelRequested(
            event_id=eid, time=t, seq=self._activity(a.scheduled_event_id).seq
        )

    def _activity_task_canceled(self, a: Any, eid: int, t: int) -> ev.Event:
        attempt = self._attempts.get(a.started_event_id, (0, 0, ""))[0]
        return ev.ActivityTaskCanceled(
            event_id=eid,
            time=t,
            seq=self._activity(a.scheduled_event_id).seq,
            attempt=attempt,
            details=_payloads(a.details),
        )

    # -- timers ---------------------------------------------------------------------------

    def _timer_seq(self, timer_id: str) -> int:
        seq = self._timers.get(timer_id)
        if seq is None:
            seq = int(timer_id) if timer_id.isdigit() else len(self._timers) + 1
            self._timers[timer_id] = seq
        return seq

    def _timer_started(self, a: Any, eid: int, t: int) -> ev.Event:
        duration = _duration_ms(a.start_to_fire_timeout) or 0
        return ev.TimerStarted(
            event_id=eid,
            time=t,
            seq=self._timer_seq(a.timer_id),
            duration_ms=duration,
            fire_at=t + duration,
        )

    def _timer_fired(self, a: Any, eid: int, t: int) -> ev.Event:
        return ev.TimerFired(event_id=eid, time=t, seq=self._timer_seq(a.timer_id))

    def _timer_canceled(self, a: Any, eid: int, t: int) -> ev.Event:
        return ev.TimerCanceled(event_id=eid, time=t, seq=self._timer_seq(a.timer_id))

    # -- markers --------------------------------------------------------------------------

    def _marker_recorded(self, a: Any, eid: int, t: int) -> ev.Event:
        details: dict[str, Any] = {}
        for key, payloads in a.details.items():
            values = [_json(p) for p in payloads.payloads]
            details[key] = values[0] if len(values) == 1 else values
        if a.marker_name == TEMPORAL_PATCH_MARKER:
            data = details.get("patch-data")
            if isinstance(data, dict):
                return ev.MarkerRecorded(
                    event_id=eid,
                    time=t,
                    name="patch",
                    details={
                        "id": data.get("id", ""),  # pyright: ignore[reportUnknownMemberType]
                        "deprecated": bool(data.get("deprecated", False)),  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
                    },
                )
        return ev.MarkerRecorded(event_id=eid, time=t, name=a.marker_name, details=details)

    def _workflow_properties_modified(self, a: Any, eid: int, t: int) -> list[ev.Event]:
        _, markers = memo_values(a.upserted_memo.fields)
        out: list[ev.Event] = []
        for key in sorted(markers):
            # duragent.marker.<n>.<name>: the name may itself contain dots.
            name = key[len(MARKER_MEMO_PREFIX) :].partition(".")[2]
            value = markers[key]
            details: dict[str, Any] = value if isinstance(value, dict) else {"value": value}
            out.append(ev.MarkerRecorded(event_id=eid, time=t, name=name, details=details))
        return out

    # -- children and other workflows -----------------------------------------------------

    def _start_child_workflow_execution_initiated(self, a: Any, eid: int, t: int) -> ev.Event:
        self._next_child += 1
        self._children[eid] = self._next_child
        memo, _ = memo_values(a.memo.fields)
        return ev.StartChildWorkflowExecutionInitiated(
            event_id=eid,
            time=t,
            seq=self._next_child,
            workflow_type=a.workflow_type.name,
            workflow_id=a.workflow_id,
            task_queue=a.task_queue.name,
            input=_payloads(a.input),
            parent_close_policy=_PARENT_CLOSE.get(a.parent_close_policy, "terminate"),
            memo=memo,
        )

    def _child(self, initiated_event_id: int) -> int:
        return self._children.get(initiated_event_id, 0)

    def _start_child_workflow_execution_failed(self, a: Any, eid: int, t: int) -> ev.Event:
        return ev.StartChildWorkflowExecutionFailed(
            event_id=eid,
            time=t,
            seq=self._child(a.initiated_event_id),
            workflow_id=a.workflow_id,
            cause="already_started",
        )

    def _child_workflow_execution_started(self, a: Any, eid: int, t: int) -> ev.Event:
        return ev.ChildWorkflowExecutionStarted(
            event_id=eid,
            time=t,
            seq=self._child(a.initiated_event_id),
            workflow_id=a.workflow_execution.workflow_id,
            run_id=a.workflow_execution.run_id,
        )

    def _child_workflow_execution_completed(self, a: Any, eid: int, t: int) -> ev.Event:
        return ev.ChildWorkflowExecutionCompleted(
            event_id=eid, time=t, seq=self._child(a.initiated_event_id), result=_single(a.result)
        )

    def _child_closed(self, a: Any, eid: int, t: int, failure: Failure) -> ev.Event:
        return ev.ChildWorkflowExecutionFailed(
            event_id=eid, time=t, seq=self._child(a.initiated_event_id), failure=failure
        )

    def _child_workflow_execution_failed(self, a: Any, eid: int, t: int) -> ev.Event:
        return self._child_closed(a, eid, t, failure_from_temporal(a.failure))

    def _child_workflow_execution_canceled(self, a: Any, eid: int, t: int) -> ev.Event:
        failure = Failure(
            message="cancelled",
            kind=FailureKind.CANCELLED,
            type="CancelledError",
            details=_payloads(a.details),
        )
        return self._child_closed(a, eid, t, failure)

    def _child_workflow_execution_terminated(self, a: Any, eid: int, t: int) -> ev.Event:
        failure = Failure(message="terminated", kind=FailureKind.TERMINATED, type="TerminatedError")
        return self._child_closed(a, eid, t, failure)

    def _child_workflow_execution_timed_out(self, a: Any, eid: int, t: int) -> ev.Event:
        failure = Failure(message="timed out", kind=FailureKind.TIMEOUT, type="WORKFLOW_RUN")
        return self._child_closed(a, eid, t, failure)

    def _external(self, eid: int) -> int:
        self._next_external += 1
        self._externals[eid] = self._next_external
        return self._next_external

    def _signal_external_workflow_execution_initiated(self, a: Any, eid: int, t: int) -> ev.Event:
        return ev.SignalExternalWorkflowExecutionInitiated(
            event_id=eid,
            time=t,
            seq=self._external(eid),
            workflow_id=a.workflow_execution.workflow_id,
            run_id=a.workflow_execution.run_id,
            signal_name=a.signal_name,
            input=_payloads(a.input),
            child=a.child_workflow_only,
        )

    def _request_cancel_external_workflow_execution_initiated(
        self, a: Any, eid: int, t: int
    ) -> ev.Event:
        return ev.RequestCancelExternalWorkflowExecutionInitiated(
            event_id=eid,
            time=t,
            seq=self._external(eid),
            workflow_id=a.workflow_execution.workflow_id,
            run_id=a.workflow_execution.run_id,
            child=a.child_workflow_only,
        )

    def _external_workflow_execution_signaled(self, a: Any, eid: int, t: int) -> ev.Event:
        seq = self._externals.get(a.initiated_event_id, 0)
        return ev.ExternalWorkflowExecutionSignaled(event_id=eid, time=t, seq=seq)

    def _external_workflow_execution_cancel_requested(self, a: Any, eid: int, t: int) -> ev.Event:
        seq = self._externals.get(a.initiated_event_id, 0)
        return ev.ExternalWorkflowExecutionCancelRequested(event_id=eid, time=t, seq=seq)

    def _external_failed(self, a: Any, eid: int, t: int) -> ev.Event:
        seq = self._externals.get(a.initiated_event_id, 0)
        target = a.workflow_execution.workflow_id
        failure = Failure(
            message=f"workflow {target!r} was not found or has closed",
            kind=FailureKind.APPLICATION,
            type="ExternalWorkflowExecutionNotFound",
        )
        return ev.ExternalWorkflowRequestFailed(event_id=eid, time=t, seq=seq, failure=failure)

    _signal_external_workflow_execution_failed = _external_failed
    _request_cancel_external_workflow_execution_failed = _external_failed


def translate_history(events: Iterable[HistoryEvent], workflow_id: str) -> list[ev.Event]:
    """All Duragent events of one run's Temporal history (see :class:`HistoryTranslator`)."""
    return HistoryTranslator(workflow_id).translate(events)
