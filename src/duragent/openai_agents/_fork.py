"""The workflow side of a fork: which model and tool calls it makes, and which it serves
from its source's recording.

A fork's start event carries its fork document (``duragent._fork.spec``). The model stub and
the tool stubs ask this module, for each call, what to do; the answer is a pure function of
the document, the call's ordinal and the history length of the current task, so replay
makes the same decisions:

* a call before the fork point that the fork copied from its source's history is replayed
  as any recorded call (nothing to decide);
* a call before the fork point that was not copied (the source made it in the task the fork
  runs again, or, in cassette mode, every one) is served from the recording by its ordinal
  (model calls) or call id (tool calls);
* from the fork point on, the overrides apply to the model calls of the chosen agent, and
  the hermetic modes decide: a model request identical to a recorded one is served when
  models are recorded; a tool call whose name and arguments match a recorded one is served
  when tools are recorded, and the others follow ``unmatched_tools``. An at-most-once tool
  never runs in a fork unless side effects are allowed.

Each served call is recorded as a ``duragent.served`` marker naming what was served, so the
run's history shows it and a fork of this fork can serve it again.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, Final, Literal

from .. import workflow
from .._engine.fork import FORK_STATE_KEY, ForkRecording
from .._fork.spec import (
    SERVED_MARKER,
    ForkLayer,
    ForkSpec,
    RecordedModelCall,
    RecordedToolCall,
    canonical_arguments,
    request_key,
)
from .._runtime import runtime
from ..errors import ActivityError, ApplicationError, NondeterminismError
from ..serde import DataConverter, Payload
from ._request import ModelCallConfig, ModelCallResult

_STATE_KEY: Final = "duragent.openai_agents.fork"
NOT_RUN: Final = "ToolNotRunInFork"
"""Type of the error a tool call that a fork did not run raises (its message is what the
model is told)."""
NOT_RECORDED: Final = "ToolNotRecorded"
INTERRUPTED: Final = "ActivityAttemptInterrupted"
_converter: Final = DataConverter()

Mode = Literal["original", "before", "after"]


class ForkState:
    """One forked run's decisions (rebuilt by replay like all run state)."""

    def __init__(self, recording: ForkRecording) -> None:
        self.spec = ForkSpec.from_payload(recording.spec)
        self.results = recording.results
        self.model_calls = 0
        self.asked_by: dict[str, int] = {}
        """Tool call id -> the model call whose response asked for it."""
        self._served: Counter[tuple[int, str]] = Counter()
        """How often each recorded request or tool call was served (in recorded order)."""
        self._failure: str | None = None
        self._keys: dict[int, str] = {}
        """Index of a recorded request in ``results`` -> its :func:`request_key`."""

    def _rules(self, n: int) -> tuple[ForkLayer | None, Mode]:
        """Which fork governs call ``n`` of the current task, and how."""
        info = workflow.info()
        if info.continued_run_id is not None:
            return self.spec.own, "after"  # a fork that continued as new: all its own
        length = info.get_current_history_length()
        for layer in reversed(self.spec.layers):
            if n >= layer.at_model_call:
                return layer, "after"
            if length >= layer.prefix_events:
                return layer, "before"
            # a task of the copied prefix: what the source did is replayed
        return None, "original"

    def result(self, r: int, result_type: Any, what: str) -> Any:
        return _converter.decode(self.results[r], result_type, what=what)

    def mark(self, details: dict[str, Any]) -> None:
        runtime().record_marker(SERVED_MARKER, details)

    def recorded_model_call(self, layer: ForkLayer, request: Payload) -> RecordedModelCall | None:
        """The recorded call whose request is identical to ``request`` (identical requests
        are served in the order they were recorded)."""
        digest = request_key(request)
        matches = [c for c in layer.model_calls if self._key(c) == digest]
        if not matches:
            return None
        key = (self.spec.layers.index(layer), digest)
        self._served[key] += 1
        return matches[min(self._served[key], len(matches)) - 1]

    def _key(self, call: RecordedModelCall) -> str | None:
        """The :func:`request_key` of a recorded call's request, when models are recorded
        (calls without a digest are only served before the fork point)."""
        if call.digest is None or call.q is None:  # the planner records both or neither
            return None
        if call.q not in self._keys:
            self._keys[call.q] = request_key(self.results[call.q])
        return self._keys[call.q]

    # -- model calls ----------------------------------------------------------------------

    def model_call(self, config: ModelCallConfig) -> ForkModelCall:
        """Count one model call and apply the overrides that govern it."""
        if self._failure is not None:
            raise ApplicationError(self._failure, type=NOT_RECORDED, non_retryable=True)
        self.model_calls += 1
        n = self.model_calls
        layer, mode = self._rules(n)
        call = ForkModelCall(self, n, layer, mode, config)
        if layer is None or mode != "after" or not layer.overrides.applies_to(config.agent):
            return call
        o = layer.overrides
        changes: dict[str, Any] = {}
        if o.model is not None:
            changes["model"] = o.model
        if o.instructions is not None:
            changes["system_instructions"] = o.instructions
        if o.model_settings:
            changes["model_settings"] = {**config.model_settings, **o.model_settings}
        if changes:
            call.config = dataclasses.replace(config, **changes)
        return call

    # -- tool calls -------------------------------------------------------------------------

    async def tool_result(
        self,
        *,
        name: str,
        arguments: str,
        call_id: str,
        at_most_once: bool,
        result_type: Any,
        execute: Callable[[], Awaitable[Any]],
    ) -> Any:
        """The result of one tool call: run, served, or not run (an ``ActivityError``
        whose cause says why)."""
        n = self.asked_by.get(call_id, self.model_calls)
        layer, mode = self._rules(n)
        if layer is None or mode == "original":
            return await execute()
        if mode == "before":
            found = next((c for c in layer.tool_calls if c.call_id == call_id), None)
            if found is not None:
                return self._serve_tool(found, "prefix", result_type)
            if at_most_once:
                # Started in the source, outcome never recorded: not silently run again.
                self.mark({"kind": "tool", "call_id": call_id, "name": name, "how": "interrupted"})
                raise _not_run(name, INTERRUPTED, "interrupted")
            return await execute()
        blocked = at_most_once and not layer.allow_side_effects
        if layer.tools == "recorded" or blocked:
            found = self._match(layer, name, arguments)
            if found is not None:
                return self._serve_tool(found, "recorded", result_type)
        if not blocked and (layer.tools == "live" or layer.unmatched_tools == "live"):
            return await execute()
        if layer.unmatched_tools == "fail":
            self._failure = (
                f"tool {name!r} was called with arguments {arguments} that the source run "
                f"{layer.source_workflow_id!r} never recorded, and this fork runs with "
                "recorded tools and unmatched_tools='fail'"
            )
            how = "failed"
            message = f"{name} has no recorded result for these arguments; the run stops here."
        elif blocked:
            how = "side_effects_refused"
            message = (
                f"{name} was not run: it has side effects (at-most-once) and this run is a "
                "fork that does not allow them. Nothing was executed."
            )
        else:
            how = "dry_run"
            message = (
                f"{name} is unavailable in this dry run: this run is a fork that serves "
                "recorded tool results, and none matched these arguments. Nothing was "
                "executed."
            )
        self.mark({"kind": "tool", "call_id": call_id, "name": name, "how": how})
        raise _not_run(name, NOT_RUN, message)

    def _match(self, layer: ForkLayer, name: str, arguments: str) -> RecordedToolCall | None:
        args = canonical_arguments(arguments)
        matches = [c for c in layer.tool_calls if c.name == name and c.args == args]
        if not matches:
            return None
        key = (self.spec.layers.index(layer), f"{name}\0{args}")
        self._served[key] += 1
        return matches[min(self._served[key], len(matches)) - 1]

    def _serve_tool(self, call: RecordedToolCall, how: str, result_type: Any) -> Any:
        details: dict[str, Any] = {
            "kind": "tool",
            "call_id": call.call_id,
            "name": call.name,
            "how": how,
        }
        if call.r is None:
            self.mark({**details, "error": call.error or "failed"})
            raise ActivityError(
                f"tool {call.name!r} failed (recorded): {call.error}",
                activity_type=call.name,
                activity_seq=0,
                attempt=1,
                cause=ApplicationError(call.error or "failed", type="RecordedToolError"),
            )
        self.mark({**details, "r": call.r})
        return self.result(call.r, result_type, f"recorded result of tool {call.name!r}")


class ForkModelCall:
    """One model call of a fork: its ordinal, its (overridden) config, and whether it was
    served."""

    def __init__(
        self,
        fork: ForkState,
        n: int,
        layer: ForkLayer | None,
        mode: Mode,
        config: ModelCallConfig,
    ) -> None:
        self.fork = fork
        self.n = n
        self.layer = layer
        self.mode: Mode = mode
        self.config = config
        self.served = False

    async def result(
        self, request: Any, execute: Callable[[], Awaitable[ModelCallResult]]
    ) -> ModelCallResult:
        """The call's result: made by ``execute``, or served from the recording."""
        layer, n = self.layer, self.n
        if layer is None or self.mode == "original":
            return await execute()
        found: RecordedModelCall | None = None
        if self.mode == "before":
            found = next((c for c in layer.model_calls if c.n == n), None)
            if found is None:
                raise NondeterminismError(
                    f"this fork of {layer.source_workflow_id!r} made model call {n} before "
                    f"its fork point (call {layer.at_model_call}), but the source recorded "
                    "no such call: the workflow code changed since the source ran",
                    expected="the recorded model calls",
                    actual=f"model call {n}",
                )
        elif layer.models == "recorded":
            found = self.fork.recorded_model_call(layer, _encoded(request))
        if found is None:
            return await execute()
        self.served = True
        details: dict[str, Any] = {
            "kind": "model",
            "n": n,
            "agent": self.config.agent,
            "r": found.r,
            "how": "prefix" if self.mode == "before" else "recorded",
        }
        if found.q is not None:
            details["q"] = found.q
        self.fork.mark(details)
        return self.fork.result(found.r, ModelCallResult, f"recorded result of model call {n}")

    def answered(self, output: list[Any]) -> None:
        """Note which tool calls this model call asked for."""
        for item in output:
            call_id = getattr(item, "call_id", None)
            if getattr(item, "type", None) == "function_call" and call_id:
                self.fork.asked_by[str(call_id)] = self.n


def _not_run(name: str, type: str, message: str) -> ActivityError:
    return ActivityError(
        f"tool {name!r} was not run: {message}",
        activity_type=name,
        activity_seq=0,
        attempt=1,
        cause=ApplicationError(message, type=type, non_retryable=True),
    )


def _encoded(request: Any) -> Payload:
    """A model request as the payload the model activity records (it may be one already)."""
    if isinstance(request, Payload):
        return request
    return _converter.encode(request, what="model request")


def fork_model_call(config: ModelCallConfig) -> ForkModelCall | None:
    """In a fork, count one model call and apply its overrides; None outside forks."""
    fork = current_fork()
    return fork.model_call(config) if fork is not None else None


def current_fork() -> ForkState | None:
    """The fork state of the running workflow, or None when it is not a fork."""
    state = runtime().run_state()
    found = state.get(_STATE_KEY)
    if found is None:
        recording = state.get(FORK_STATE_KEY)
        if not isinstance(recording, ForkRecording):
            return None
        found = state[_STATE_KEY] = ForkState(recording)
    return found  # type: ignore[no-any-return]


async def execute_tool(
    activity: Any,
    *,
    args: Any,
    tool_name: str,
    arguments: str,
    call_id: str,
    at_most_once: bool,
    result_type: Any = None,
    **options: Any,
) -> Any:
    """``workflow.execute_activity`` for one tool call, or, in a fork, what the fork
    serves instead (see the module docstring)."""

    async def execute() -> Any:
        return await workflow.execute_activity(
            activity, args=args, at_most_once=at_most_once, result_type=result_type, **options
        )

    fork = current_fork()
    if fork is None:
        return await execute()
    return await fork.tool_result(
        name=tool_name,
        arguments=arguments,
        call_id=call_id,
        at_most_once=at_most_once,
        result_type=result_type,
        execute=execute,
    )
