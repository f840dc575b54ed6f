"""The model calls and tool calls an agent run recorded, read from its history.

A fork is planned from them (where model call k starts, which results it may serve), and a
fork's own served calls are found here too (``duragent.served`` markers, whose results are
in the run's start event), so a fork of a fork sees one list of calls whatever served them.
Pure: history in, records out; no Agents SDK import.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from .._engine import events as ev
from ..serde import Payload
from ..views.format import json_value
from .spec import SERVED_MARKER, ForkSpec

MODEL_ACTIVITY: Final = "duragent.openai_agents.invoke_model"
TOOL_ACTIVITY: Final = "duragent.openai_agents.invoke_tool"


@dataclass
class ModelCallRecord:
    """One model call of a run, in the order the run made them."""

    n: int
    task_event_id: int
    """The ``WorkflowTaskCompleted`` of the task that made the call (0: the first task)."""
    event_id: int
    """The call's ``ActivityTaskScheduled`` (or served marker)."""
    agent: str
    seq: int | None = None
    """Its activity (None: the run is a fork that served it)."""
    request: Payload | None = None
    result: Payload | None = None
    """The recorded ``ModelCallResult`` (None: no result was recorded)."""
    served: bool = False
    reused: bool = False
    """Taken from the fork's source (copied or served), not paid for by this run."""
    model: str = ""
    tokens: int = 0
    latency_ms: int = 0
    call_ids: list[str] = field(default_factory=lambda: [])
    """Ids of the tool calls the response asked for."""


@dataclass
class ToolCallRecord:
    """One tool call made as an activity (or served by a fork)."""

    call_id: str
    name: str
    arguments: str
    n: int
    """The model call that asked for it (the latest one when no call asked for it)."""
    event_id: int
    seq: int | None = None
    at_most_once: bool = False
    result: Payload | None = None
    error: str | None = None
    served: bool = False


@dataclass
class Recording:
    model_calls: list[ModelCallRecord]
    tool_calls: list[ToolCallRecord]
    fork: ForkSpec | None
    fork_results: tuple[Payload, ...]


def _response_facts(call: ModelCallRecord) -> list[tuple[str, str, str]]:
    """Fill in a call's model, tokens and latency from its recorded ``ModelCallResult``;
    returns the function calls its response made (call id, name, arguments)."""
    value = json_value(call.result)
    if not isinstance(value, dict):
        return []
    response: Any = value.get("response") or {}  # pyright: ignore[reportUnknownMemberType]
    usage: Any = response.get("usage") or {}
    call.tokens = int(usage.get("input_tokens") or 0) + int(usage.get("output_tokens") or 0)
    call.model = str(value.get("model") or "")  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
    call.latency_ms = int(value.get("latency_ms") or 0)  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
    calls: list[tuple[str, str, str]] = []
    for item in response.get("output") or []:
        if isinstance(item, dict) and item.get("type") == "function_call":  # pyright: ignore[reportUnknownMemberType]
            calls.append(
                (
                    str(item.get("call_id") or item.get("id") or ""),  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
                    str(item.get("name") or ""),  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
                    str(item.get("arguments") or ""),  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
                )
            )
    return calls


def read_recording(events: Sequence[ev.Event]) -> Recording:
    """The model and tool calls recorded in one run's history."""
    fork: ForkSpec | None = None
    fork_results: tuple[Payload, ...] = ()
    models: list[ModelCallRecord] = []
    tools: list[ToolCallRecord] = []
    model_by_seq: dict[int, ModelCallRecord] = {}
    tool_by_seq: dict[int, ToolCallRecord] = {}
    asked: dict[str, tuple[str, str, int]] = {}
    """Tool calls the model asked for that no activity ran yet: id -> (name, args, n)."""
    last_task = 0

    def model_answered(call: ModelCallRecord) -> None:
        for call_id, name, arguments in _response_facts(call):
            call.call_ids.append(call_id)
            asked[call_id] = (name, arguments, call.n)

    for e in events:
        if isinstance(e, ev.WorkflowExecutionStarted):
            if e.fork is not None:
                fork = ForkSpec.from_payload(e.fork)
                fork_results = e.fork_results
        elif isinstance(e, ev.WorkflowTaskCompleted):
            last_task = e.event_id
        elif isinstance(e, ev.ActivityTaskScheduled):
            if e.activity_type == MODEL_ACTIVITY:
                call = ModelCallRecord(
                    n=len(models) + 1,
                    task_event_id=last_task,
                    event_id=e.event_id,
                    agent=e.summary,
                    seq=e.seq,
                    request=e.input[0] if e.input else None,
                )
                models.append(call)
                model_by_seq[e.seq] = call
                continue
            tool = _tool_call(e, asked, len(models))
            if tool is not None:
                tools.append(tool)
                tool_by_seq[e.seq] = tool
        elif isinstance(e, ev.ActivityTaskCompleted):
            if e.seq in model_by_seq:
                model_by_seq[e.seq].result = e.result
                model_answered(model_by_seq[e.seq])
            elif e.seq in tool_by_seq:
                tool_by_seq[e.seq].result = e.result
        elif isinstance(e, ev.ActivityTaskFailed | ev.ActivityTaskTimedOut):
            if e.seq in tool_by_seq:
                tool_by_seq[e.seq].error = e.failure.message if e.failure else "failed"
        elif isinstance(e, ev.MarkerRecorded) and e.name == SERVED_MARKER:
            d = e.details
            r = d.get("r")
            result = fork_results[r] if isinstance(r, int) and 0 <= r < len(fork_results) else None
            if d.get("kind") == "model":
                q = d.get("q")
                call = ModelCallRecord(
                    n=len(models) + 1,
                    task_event_id=last_task,
                    event_id=e.event_id,
                    agent=str(d.get("agent", "")),
                    request=fork_results[q]
                    if isinstance(q, int) and q < len(fork_results)
                    else None,
                    result=result,
                    served=True,
                )
                models.append(call)
                model_answered(call)
            elif d.get("kind") == "tool":
                call_id = str(d.get("call_id", ""))
                name, arguments, n = asked.pop(call_id, (str(d.get("name", "")), "", len(models)))
                how = str(d.get("how", ""))
                served = how in ("prefix", "recorded")
                error = None
                if result is None:
                    error = str(d.get("error") or "failed") if served else f"not run ({how})"
                tools.append(
                    ToolCallRecord(
                        call_id=call_id,
                        name=name,
                        arguments=arguments,
                        n=n,
                        event_id=e.event_id,
                        result=result,
                        error=error,
                        served=served,
                    )
                )
    copied = fork.own.prefix_events if fork is not None else 0
    for call in models:
        call.reused = call.served or call.event_id <= copied
    return Recording(models, tools, fork, fork_results)


def _tool_call(
    e: ev.ActivityTaskScheduled, asked: dict[str, tuple[str, str, int]], n: int
) -> ToolCallRecord | None:
    if e.activity_type == TOOL_ACTIVITY:
        request = json_value(e.input[0] if e.input else None)
        if not isinstance(request, dict):
            return None
        call_id = str(request.get("call_id") or "")  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        _, _, n = asked.pop(call_id, ("", "", n))
        return ToolCallRecord(
            call_id=call_id,
            name=str(request.get("name") or e.summary),  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
            arguments=str(request.get("arguments") or ""),  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
            n=n,
            event_id=e.event_id,
            seq=e.seq,
            at_most_once=e.at_most_once,
        )
    if not e.summary:
        return None
    # activity_as_tool: the activity is named for itself and its summary is the tool; it
    # runs the oldest call of that tool the model asked for.
    for call_id, (name, arguments, asked_by) in asked.items():
        if name == e.summary:
            del asked[call_id]
            return ToolCallRecord(
                call_id=call_id,
                name=name,
                arguments=arguments,
                n=asked_by,
                event_id=e.event_id,
                seq=e.seq,
                at_most_once=e.at_most_once,
            )
    return None
