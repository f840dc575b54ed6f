"""Forks on Temporal, in *cassette* mode.

Temporal cannot copy a history prefix into a new workflow id, so a fork there copies nothing:
it is a new workflow, started with its source's input, whose memo carries the fork document
and the source's recorded results (``duragent.fork``, ``duragent.fork.results``). Its code
runs from the start; the model and tool stubs serve every call before the fork point from
that recording (no activity, no provider call, no tool run), then go on live from call k
with the overrides and hermetic modes, exactly as on the embedded store (the same
``duragent.openai_agents._fork`` decisions; the fork document's ``prefix_events`` is 0).

:func:`start_fork` plans the fork from the source's Temporal history (translated to the
Duragent events the planner reads) and starts it with temporalio's client; the worker picks
the recording up from the memo (:func:`fork_recording`).
"""

from __future__ import annotations

import uuid
from typing import Any, Final

import temporalio.client
import temporalio.workflow as tw
from temporalio.api.common.v1 import Payload as TemporalPayload
from temporalio.common import RawValue

from .._engine import events as ev
from .._engine.failure import Failure, FailureKind
from .._engine.fork import ForkRecording
from .._fork.client_ops import fork_options
from .._fork.plan import plan_fork
from ..serde import DataConverter, Payload
from ._payloads import PayloadBridge
from ._runtime import MARKER_MEMO_PREFIX

__all__ = ["FORK_MEMO", "FORK_RESULTS_MEMO", "duragent_events", "fork_recording", "start_fork"]

FORK_MEMO: Final = "duragent.fork"
FORK_RESULTS_MEMO: Final = "duragent.fork.results"
_converter: Final = DataConverter(max_payload_bytes=1 << 62)


def _payload(p: TemporalPayload) -> Payload:
    return PayloadBridge.to_duragent(p)


def _json(p: TemporalPayload) -> Any:
    return _converter.decode(_payload(p))


def duragent_events(history: temporalio.client.WorkflowHistory) -> list[ev.Event]:
    """The events a fork is planned from, translated from a Temporal history: the start (with
    a fork's own document), workflow tasks, activities and Duragent markers (memo upserts).
    Activity seqs are the ``ActivityTaskScheduled`` event ids."""
    out: list[ev.Event] = []

    def add(make: Any, **attrs: Any) -> None:
        out.append(make(event_id=len(out) + 1, time=0, **attrs))

    for e in history.events:
        kind = e.WhichOneof("attributes")
        if kind == "workflow_execution_started_event_attributes":
            a = e.workflow_execution_started_event_attributes
            memo = a.memo.fields
            fork = results = None
            if FORK_MEMO in memo:
                fork = _converter.encode(_json(memo[FORK_MEMO]))
                results = tuple(_converter.encode(v) for v in _json(memo[FORK_RESULTS_MEMO]))
            add(
                ev.WorkflowExecutionStarted,
                workflow_type=a.workflow_type.name,
                workflow_id=history.workflow_id,
                task_queue=a.task_queue.name,
                input=tuple(_payload(p) for p in a.input.payloads),
                fork=fork,
                fork_results=results or (),
            )
        elif kind == "workflow_task_completed_event_attributes":
            add(ev.WorkflowTaskCompleted, processed_through=0)
        elif kind == "activity_task_scheduled_event_attributes":
            a = e.activity_task_scheduled_event_attributes
            summary = ""
            if e.HasField("user_metadata") and e.user_metadata.HasField("summary"):
                summary = str(_json(e.user_metadata.summary))
            add(
                ev.ActivityTaskScheduled,
                seq=e.event_id,
                activity_type=a.activity_type.name,
                task_queue=a.task_queue.name,
                input=tuple(_payload(p) for p in a.input.payloads),
                at_most_once="TemporalTimeout:StartToClose"
                in a.retry_policy.non_retryable_error_types,
                summary=summary,
            )
        elif kind == "activity_task_completed_event_attributes":
            a = e.activity_task_completed_event_attributes
            result = a.result.payloads[0] if a.result.payloads else None
            add(
                ev.ActivityTaskCompleted,
                seq=a.scheduled_event_id,
                result=_payload(result) if result is not None else _converter.encode(None),
                attempt=1,
                started_time=0,
            )
        elif kind in (
            "activity_task_failed_event_attributes",
            "activity_task_timed_out_event_attributes",
        ):
            a = getattr(e, kind)
            failure = Failure(message=a.failure.message, kind=FailureKind.APPLICATION)
            add(ev.ActivityTaskFailed, seq=a.scheduled_event_id, failure=failure, attempt=1)
        elif kind == "workflow_properties_modified_event_attributes":
            fields = e.workflow_properties_modified_event_attributes.upserted_memo.fields
            for key in sorted(fields):
                if key.startswith(MARKER_MEMO_PREFIX):
                    name = key[len(MARKER_MEMO_PREFIX) :].partition(".")[2]
                    add(ev.MarkerRecorded, name=name, details=_json(fields[key]))
    return out


async def start_fork(
    tclient: temporalio.client.Client,
    source_id: str,
    at_model_call: int,
    *,
    run_id: str | None = None,
    id: str | None = None,
    task_queue: str | None = None,
    **overrides: Any,
) -> temporalio.client.WorkflowHandle[Any, Any]:
    """Fork a Temporal workflow run at model call ``at_model_call`` (cassette mode; the
    overrides and modes are ``Client.fork``'s). Returns temporalio's handle of the fork.

    Raises:
        ForkError: The source has no such model call.
    """
    options = fork_options(at_model_call, **overrides)
    history = await tclient.get_workflow_handle(source_id, run_id=run_id).fetch_history()
    source_run = history.events[
        0
    ].workflow_execution_started_event_attributes.original_execution_run_id
    events = duragent_events(history)
    plan = plan_fork(source_id, source_run or run_id or "", events, options, cassette=True)
    started = history.events[0].workflow_execution_started_event_attributes
    return await tclient.start_workflow(
        plan.start.workflow_type,
        args=[RawValue(p) for p in started.input.payloads],
        id=id or f"{source_id}-fork-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue or plan.start.task_queue,
        memo={
            FORK_MEMO: plan.spec.to_payload().to_json_value(),
            FORK_RESULTS_MEMO: [p.to_json_value() for p in plan.results],
        },
    )


def fork_recording() -> ForkRecording | None:
    """Inside a workflow on Temporal: the fork recording its memo carries, if it is a fork."""
    spec = tw.memo_value(FORK_MEMO, None)
    if spec is None:
        return None
    results = tw.memo_value(FORK_RESULTS_MEMO, [])
    return ForkRecording(
        _converter.encode(spec), tuple(_converter.encode(v) for v in results or ())
    )
