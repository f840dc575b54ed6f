"""Forks on Temporal, in *cassette* mode.

Temporal cannot copy a history prefix into a new workflow id, so a fork there copies nothing:
it is a new workflow, started with its source's input, whose memo carries the fork document
and the source's recorded results (``duragent.fork``, ``duragent.fork.results``). Its code
runs from the start; the model and tool stubs serve every call before the fork point from
that recording (no activity, no provider call, no tool run), then go on live from call k
with the overrides and hermetic modes, exactly as on the embedded store (the same
``duragent.openai_agents._fork`` decisions; the fork document's ``prefix_events`` is 0).

``Client.fork`` on a ``temporal://`` client (and so ``duragent fork``, ``rerun`` and the web
UI) plans the fork from the source's translated history and starts it through the backend
(:func:`fork_start_request`); :func:`start_fork` does the same with a plain temporalio
client. The worker picks the recording up from the memo (:func:`fork_recording`); the
history translator shows it as the start event's fork document, as on the embedded store.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

import temporalio.client
import temporalio.workflow as tw
from temporalio.common import RawValue

from .._engine import events as ev
from .._engine.fork import ForkRecording
from .._fork.client_ops import fork_options
from .._fork.plan import ForkOptions, ForkPlan, plan_fork
from ..serde import DataConverter
from ..store.base import StartRequest
from .history import FORK_MEMO, FORK_RESULTS_MEMO, translate_history

__all__ = ["fork_recording", "fork_start_request", "start_fork"]

_converter: Final = DataConverter(max_payload_bytes=1 << 62)


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
    started = history.events[0].workflow_execution_started_event_attributes
    source_run = started.original_execution_run_id or run_id or ""
    events = translate_history(history.events, source_id)
    new_id = id or f"{source_id}-fork-{uuid.uuid4().hex[:8]}"
    request = fork_start_request(source_id, source_run, events, options, workflow_id=new_id)
    return await tclient.start_workflow(
        request.workflow_type,
        args=[RawValue(p) for p in started.input.payloads],  # as recorded, byte for byte
        id=new_id,
        task_queue=task_queue or request.task_queue,
        memo=request.memo,
    )


def _memo(plan: ForkPlan) -> dict[str, Any]:
    """What a cassette fork carries: its fork document and the results it may serve."""
    return {
        FORK_MEMO: plan.spec.to_payload().to_json_value(),
        FORK_RESULTS_MEMO: [p.to_json_value() for p in plan.results],
    }


def fork_start_request(
    source_workflow_id: str,
    source_run_id: str,
    events: list[ev.Event],
    options: ForkOptions,
    *,
    workflow_id: str,
    identity: str = "",
) -> StartRequest:
    """The start of a cassette fork of the run whose (translated) history is ``events``:
    the source's workflow type, task queue and input, and the recording in its memo.

    Raises:
        ForkError: The source has no such model call.
    """
    plan = plan_fork(source_workflow_id, source_run_id, events, options, cassette=True)
    return StartRequest(
        workflow_id=workflow_id,
        workflow_type=plan.start.workflow_type,
        task_queue=plan.start.task_queue,
        input=plan.start.input,
        memo=_memo(plan),
        identity=identity,
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
