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
the recording up from the memo (:func:`fork_recording`); the history translator shows it as
the start event's fork document, as on the embedded store.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

import temporalio.client
import temporalio.workflow as tw
from temporalio.common import RawValue

from .._engine.fork import ForkRecording
from .._fork.client_ops import fork_options
from .._fork.plan import plan_fork
from ..serde import DataConverter
from .history import FORK_MEMO, FORK_RESULTS_MEMO, translate_history

__all__ = ["fork_recording", "start_fork"]

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
    plan = plan_fork(source_id, source_run, events, options, cassette=True)
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
