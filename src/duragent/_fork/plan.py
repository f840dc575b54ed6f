"""Plan a fork of an agent run at model call k: the history cut (embedded) and the fork
document with the recorded results the fork may serve.

Pure: the source's history in, the plan out; the backend carries it out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .._engine import events as ev
from .._engine.fork import ForkCut, plan_cut
from ..errors import ForkError
from ..serde import Payload
from .recording import ModelCallRecord, read_recording
from .spec import (
    ForkLayer,
    ForkSpec,
    ModelsMode,
    Overrides,
    RecordedModelCall,
    RecordedToolCall,
    ToolsMode,
    UnmatchedTools,
    canonical_arguments,
    check_modes,
    request_digest,
)


@dataclass(frozen=True)
class ForkOptions:
    """What the caller of ``client.fork`` asked for."""

    at_model_call: int
    overrides: Overrides = field(default_factory=Overrides)
    tools: ToolsMode = "live"
    unmatched_tools: UnmatchedTools = "live"
    models: ModelsMode = "live"
    allow_side_effects: bool = False

    def __post_init__(self) -> None:
        check_modes(self.tools, self.unmatched_tools, self.models)


@dataclass(frozen=True)
class ForkPlan:
    start: ev.WorkflowExecutionStarted
    """The source's start event."""
    cut: ForkCut | None
    """The history prefix to copy (None: cassette mode, nothing is copied)."""
    spec: ForkSpec
    results: tuple[Payload, ...]

    @property
    def reused_calls(self) -> int:
        """Model calls the fork takes from its source instead of making them."""
        return self.spec.own.at_model_call - 1


def inherit(base: Overrides, new: Overrides) -> Overrides:
    """``new`` over ``base``: each override given replaces the inherited one."""
    if new.empty and new.agent is None:
        return base
    return Overrides(
        model=new.model if new.model is not None else base.model,
        instructions=new.instructions if new.instructions is not None else base.instructions,
        model_settings={**(base.model_settings or {}), **(new.model_settings or {})} or None,
        agent=new.agent,
    )


def find_model_call(calls: Sequence[ModelCallRecord], k: int, source: str) -> ModelCallRecord:
    if not calls:
        raise ForkError(
            f"{source} made no model calls: only agent runs can be forked at a model call"
        )
    if not 1 <= k <= len(calls):
        raise ForkError(
            f"{source} made {len(calls)} model call{'s' if len(calls) != 1 else ''}; "
            f"at_model_call must be 1..{len(calls)}, not {k}"
        )
    return calls[k - 1]


def plan_fork(
    source_workflow_id: str,
    source_run_id: str,
    events: Sequence[ev.Event],
    options: ForkOptions,
    *,
    cassette: bool = False,
) -> ForkPlan:
    """Plan a fork of the run whose history is ``events``.

    Args:
        cassette: Copy nothing and serve every call before the fork point from the
            recording (Temporal, where a history cannot be copied); else copy the prefix.

    Raises:
        ForkError: No such model call, or the source cannot be cut there.
    """
    start = events[0] if events else None
    if not isinstance(start, ev.WorkflowExecutionStarted):
        raise ForkError(f"run {source_run_id} has no start event")
    recording = read_recording(events)
    k = options.at_model_call
    source = f"run {source_run_id} of {source_workflow_id!r}"
    call_k = find_model_call(recording.model_calls, k, source)
    cut = None if cassette else plan_cut(events, call_k.task_event_id)
    copied = set(cut.copied) if cut is not None else set[int]()

    # Earlier layers govern what the copied prefix did (a fork of a fork): keep those whose
    # fork point is before ours, and the results they index.
    kept: tuple[ForkLayer, ...] = ()
    results: list[Payload] = []
    if recording.fork is not None and cut is not None:
        kept = tuple(layer for layer in recording.fork.layers if layer.at_model_call < k)
        if kept:
            results.extend(recording.fork_results)
    index: dict[int, int] = {}

    def offer(payload: Payload) -> int:
        key = id(payload)
        if key not in index:
            index[key] = len(results)
            results.append(payload)
        return index[key]

    recorded_models = options.models == "recorded"
    model_calls: list[RecordedModelCall] = []
    for call in recording.model_calls:
        if call.result is None:
            continue
        before = call.n < k and call.event_id not in copied
        if not (before or recorded_models):
            continue
        digest = None
        if recorded_models and call.request is not None:
            digest = request_digest(call.request)
        model_calls.append(
            RecordedModelCall(
                n=call.n,
                r=offer(call.result),
                digest=digest,
                agent=call.agent,
                tokens=call.tokens,
                q=offer(call.request) if call.request is not None else None,
            )
        )
    recorded_tools = options.tools == "recorded"
    tool_calls: list[RecordedToolCall] = []
    for tool in recording.tool_calls:
        if tool.result is None and tool.error is None:
            continue  # never finished in the source: a fork treats it as in flight
        if tool.seq is None and not tool.served:
            continue  # the source was a fork that did not run it: nothing to serve
        before = tool.n < k and tool.event_id not in copied
        if not (before or recorded_tools or tool.at_most_once):
            continue
        tool_calls.append(
            RecordedToolCall(
                call_id=tool.call_id,
                name=tool.name,
                args=canonical_arguments(tool.arguments),
                n=tool.n,
                r=offer(tool.result) if tool.result is not None else None,
                error=tool.error if tool.result is None else None,
            )
        )
    overrides = options.overrides
    if recording.fork is not None:
        # A fork of a fork goes on with its source's overrides unless it sets its own.
        base = next((x for x in reversed(recording.fork.layers) if x.at_model_call <= k), None)
        if base is not None:
            overrides = inherit(base.overrides, overrides)
    layer = ForkLayer(
        source_workflow_id=source_workflow_id,
        source_run_id=source_run_id,
        source_event_id=call_k.task_event_id,
        at_model_call=k,
        prefix_events=cut.prefix_events if cut is not None else 0,
        overrides=overrides,
        tools=options.tools,
        unmatched_tools=options.unmatched_tools,
        models=options.models,
        allow_side_effects=options.allow_side_effects,
        model_calls=tuple(model_calls),
        tool_calls=tuple(tool_calls),
    )
    return ForkPlan(start=start, cut=cut, spec=ForkSpec((*kept, layer)), results=tuple(results))
