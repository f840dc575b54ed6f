"""Durable tools.

Every ``@function_tool`` an agent uses inside a workflow runs as an activity: journaled,
retried under a policy, visible in history, never executed inside workflow code. The tool
object itself is kept (only its implementation is routed through the activity), so the SDK's
argument parsing, approvals, guardrails and error formatting behave exactly as usual.

The activity finds the implementation by the tool function's import path, so any worker
process that imports the same code can run it. ``activity_as_tool`` turns a registered
``@activity.defn`` function into a tool directly.
"""

from __future__ import annotations

import dataclasses
import json
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar, Final

import pydantic
import pydantic_core
from agents import FunctionTool, RunContextWrapper
from agents.function_schema import function_schema
from agents.tool_context import ToolContext

from .. import activity
from .._definitions import get_activity_definition
from .._engine.loop import run_blocking_inline
from .._runtime import NotInWorkflowError, in_workflow
from ..errors import ActivityError, ApplicationError, ConfigurationError, SerializationError
from ..retry import RetryPolicy
from ._fork import NOT_RUN, execute_tool
from ._imports import import_path, path_of
from ._names import TOOL_ACTIVITY
from ._sdk import agent_of_tool, set_tool_implementation, tool_implementation, wrapped_function
from ._settings import current_settings
from ._tool_context import ToolCallOutcome, ToolRunContext, snapshot
from ._tool_context import apply as apply_context
from ._tool_context import changes as context_changes
from ._tool_context import rebuild as rebuild_context
from ._wire import AGENT_FORMAT_VERSION, UNVERSIONED, Versioned

INTERRUPTED: Final = "ActivityAttemptInterrupted"
NOT_WORKFLOW_CODE: Final = "ToolIsNotWorkflowCode"
_OPTIONS_ATTR: Final = "_duragent_tool_options"
_NO_INSTANCE: Final = object()  # binds a method only to read its signature without self


@dataclass(frozen=True)
class ToolOptions:
    """How a tool runs as an activity.

    Attributes:
        start_to_close_timeout: Limit on one attempt.
        retry_policy: Retries of failed attempts. After the last one the model sees the
            tool's error message (the SDK's ``failure_error_function``).
        at_most_once: Never re-run an attempt a crash interrupted: the model is told the
            call may or may not have taken effect (``on_interrupted="tell_model"``), or
            the run fails (``"fail"``).
        on_interrupted: What an interrupted at-most-once call does.
        task_queue: Run the tool on another queue.
        in_workflow: Run the tool's function inside the workflow instead of as an
            activity: for deterministic tools that use workflow functions
            (``workflow.random()``, ``workflow.now()``, signalling a child) and do no I/O.
            Nothing is journaled for the call itself; replay runs it again.
    """

    start_to_close_timeout: timedelta = timedelta(minutes=5)
    retry_policy: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(
            initial_interval=timedelta(seconds=1), maximum_attempts=3
        )
    )
    at_most_once: bool = False
    on_interrupted: str = "tell_model"
    task_queue: str | None = None
    in_workflow: bool = False


def durable_tool(
    tool: FunctionTool,
    *,
    start_to_close_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    at_most_once: bool | None = None,
    on_interrupted: str | None = None,
    task_queue: str | None = None,
    in_workflow: bool | None = None,
) -> FunctionTool:
    """Set how ``tool`` runs as an activity (defaults: the plugin's tool options), or
    with ``in_workflow=True`` that it runs inside the workflow instead.

    Returns the same tool, for use as a decorator-style call::

        send_payment = durable_tool(function_tool(send_payment), at_most_once=True)
        roll_dice = durable_tool(function_tool(roll_dice), in_workflow=True)

    A tool that runs in the workflow is workflow code: it must be deterministic (use
    ``workflow.random()``, ``workflow.now()``, ``workflow.uuid4()``) and do no I/O; it may
    call any ``duragent.workflow`` function, e.g. signal another workflow or start an
    activity itself.
    """
    changes = {
        k: v
        for k, v in {
            "start_to_close_timeout": start_to_close_timeout,
            "retry_policy": retry_policy,
            "at_most_once": at_most_once,
            "on_interrupted": on_interrupted,
            "task_queue": task_queue,
            "in_workflow": in_workflow,
        }.items()
        if v is not None
    }
    if changes.get("on_interrupted", "tell_model") not in ("tell_model", "fail"):
        raise ConfigurationError("on_interrupted must be 'tell_model' or 'fail'")
    if in_workflow and len(changes) > 1:
        others = ", ".join(sorted(k for k in changes if k != "in_workflow"))
        raise ConfigurationError(
            f"durable_tool({tool.name!r}, in_workflow=True) runs the tool inside the workflow, "
            f"not as an activity, so activity options ({others}) do not apply"
        )
    setattr(tool, _OPTIONS_ATTR, changes)
    return tool


@dataclass
class ToolCallRequest(Versioned):
    """One tool call, as recorded in history (the tool activity's input; see
    :mod:`._wire` for its format versions)."""

    v: int = field(default=UNVERSIONED, kw_only=True)
    tool: str
    name: str
    call_id: str
    arguments: str
    agent: str = ""

    WIRE_NAME: ClassVar[str] = "a tool call request"


_registry: dict[str, FunctionTool] = {}


def interrupted_message(tool_name: str) -> str:
    return (
        f"The call to {tool_name} was interrupted by a crash while it ran. It may or may not "
        "have taken effect, and it was not run again. Check its effect before calling it "
        "again."
    )


class DurableInvoke:
    """Stands in for a tool's implementation: inside a workflow it runs the tool activity;
    elsewhere it calls the original implementation."""

    def __init__(
        self,
        original: Callable[..., Any],
        key: str,
        tool: FunctionTool,
        takes_context: bool | None = None,
    ) -> None:
        self.original = original
        self.key = key
        self.tool = tool
        self.takes_context = takes_context
        """Whether the tool's function takes the run context (None: unknown, as for a
        hand-built FunctionTool: its context is sent whenever it can be)."""

    def _context_to_send(self, ctx: Any) -> ToolRunContext | None:
        context = getattr(ctx, "context", None)
        if context is None or self.takes_context is False:
            return None
        try:
            return snapshot(context, f"tool {self.tool.name!r} takes the run context")
        except SerializationError:
            if self.takes_context:
                raise
            return None

    def options(self) -> ToolOptions:
        """The running worker's defaults with this tool's ``durable_tool`` overrides."""
        defaults = current_settings().tool_options
        overrides: dict[str, Any] = getattr(self.tool, _OPTIONS_ATTR, None) or {}
        return dataclasses.replace(defaults, **overrides) if overrides else defaults

    async def __call__(self, ctx: Any, input: str) -> Any:
        if not in_workflow():
            return await self.original(ctx, input)
        options = self.options()
        if options.in_workflow:
            token = run_blocking_inline.set(True)  # the SDK runs sync tools in a thread
            try:
                return await self.original(ctx, input)
            finally:
                run_blocking_inline.reset(token)
        call_id = str(getattr(ctx, "tool_call_id", "") or "")
        agent = getattr(getattr(ctx, "agent", None), "name", "") or ""
        request = ToolCallRequest(
            v=AGENT_FORMAT_VERSION,
            tool=self.key,
            name=self.tool.name,
            call_id=call_id,
            arguments=input,
            agent=agent,
        )
        sent = self._context_to_send(ctx)
        try:
            if sent is None:
                return await self._execute(options, request)
            outcome = await self._execute(options, request, sent, result_type=ToolCallOutcome)
        except ActivityError as err:
            cause = err.cause
            if (
                isinstance(cause, ApplicationError)
                and cause.type == INTERRUPTED
                and options.on_interrupted == "tell_model"
            ):
                return interrupted_message(self.tool.name)
            if isinstance(cause, ApplicationError) and cause.type in (NOT_WORKFLOW_CODE, NOT_RUN):
                # The SDK would tell the model only "An error occurred"; this one says
                # what is wrong and how to fix it (it is also logged and in history), or
                # why a fork did not run the tool.
                return cause.message
            raise
        if outcome.context is not None:
            apply_context(ctx.context, outcome.context)
        return outcome.output

    async def _execute(
        self, options: ToolOptions, request: ToolCallRequest, *args: Any, result_type: Any = None
    ) -> Any:
        return await execute_tool(
            TOOL_ACTIVITY,
            args=(request, *args),
            tool_name=self.tool.name,
            arguments=request.arguments,
            call_id=request.call_id,
            start_to_close_timeout=options.start_to_close_timeout,
            retry_policy=options.retry_policy,
            at_most_once=options.at_most_once,
            task_queue=options.task_queue,
            result_type=result_type,
            summary=self.tool.name,
        )


def _import_path(tool: FunctionTool, impl: Any) -> str | None:
    """``module:qualname`` under which the tool (or its function) can be imported."""
    fn = wrapped_function(tool)
    return path_of(fn if fn is not None else impl)


def _takes_context(tool: FunctionTool) -> bool | None:
    """Whether an SDK ``@function_tool``'s function takes the run context (None when the
    tool was built by hand and its function is unknown)."""
    fn = wrapped_function(tool)
    if fn is None:
        return None
    try:
        return function_schema(fn).takes_context
    except Exception:  # any signature the SDK cannot read: unknown
        return None


def _implementation(tool: FunctionTool) -> Any:
    """What runs a tool's calls: the implementation inside an SDK ``@function_tool``'s
    failure handling, else ``on_invoke_tool`` itself (a DurableInvoke once durable)."""
    invoker: Any = tool.on_invoke_tool
    impl = tool_implementation(invoker)
    return invoker if impl is None else impl


def takes_context(tool: FunctionTool) -> bool:
    """Whether a durable tool's function is known to take the run context."""
    impl = _implementation(tool)
    return isinstance(impl, DurableInvoke) and impl.takes_context is True


def make_durable(tool: FunctionTool) -> None:
    """Route ``tool``'s implementation through the tool activity (idempotent)."""
    if agent_of_tool(tool) is not None:
        return  # an agent-as-tool runs a nested Runner.run, which is already durable
    invoker: Any = tool.on_invoke_tool
    if isinstance(invoker, DurableInvoke) or getattr(invoker, "_duragent_activity_tool", False):
        return
    impl = tool_implementation(invoker)
    if isinstance(impl, DurableInvoke):
        return
    original = impl if impl is not None else invoker
    key = _import_path(tool, original) or f"local:{tool.name}"
    wrapper = DurableInvoke(original, key, tool, _takes_context(tool))
    if impl is not None:
        # An SDK @function_tool: keep its failure handling, replace the implementation.
        set_tool_implementation(invoker, wrapper)
    else:
        tool.on_invoke_tool = wrapper
    _registry[key] = tool


def _resolve(key: str, name: str) -> Callable[..., Any]:
    tool = _registry.get(key)
    if tool is None and not key.startswith("local:"):
        obj = import_path(key, f"tool {name!r}")
        if isinstance(obj, FunctionTool):
            tool = obj
    if tool is None:
        raise ApplicationError(
            f"tool {name!r} is not known to this worker: define tools at module level (so "
            "any worker can import them) or pass them to OpenAIAgentsPlugin(tools=[...])",
            non_retryable=True,
        )
    impl = _implementation(tool)
    return impl.original if isinstance(impl, DurableInvoke) else impl


def register_tools(tools: list[FunctionTool]) -> None:
    """Make tools known to this process's tool activity up front."""
    for tool in tools:
        make_durable(tool)


def _jsonable(value: Any) -> Any:
    try:
        return pydantic_core.to_jsonable_python(value)
    except pydantic_core.PydanticSerializationError:
        return str(value)


@activity.defn(name=TOOL_ACTIVITY)
async def invoke_tool(request: ToolCallRequest, context: ToolRunContext | None = None) -> Any:
    """Run one function tool call (exceptions fail the attempt and are retried).

    With a run ``context`` the tool gets it rebuilt, and the result is a
    :class:`ToolCallOutcome` carrying the context back when the tool changed it.
    """
    impl = _resolve(request.tool, request.name)
    ctx: ToolContext[Any] = ToolContext(
        context=rebuild_context(context) if context is not None else None,
        tool_name=request.name,
        tool_call_id=request.call_id,
        tool_arguments=request.arguments,
    )
    try:
        output = _jsonable(await impl(ctx, request.arguments))
    except NotInWorkflowError as err:
        raise ApplicationError(
            f"tool {request.name!r} called duragent.workflow.{err.function}(), but the tool "
            "runs as an activity (every tool does by default), which is not workflow code. "
            "If the tool is deterministic and needs workflow functions, run it inside the "
            f"workflow: durable_tool({request.name}, in_workflow=True)",
            type=NOT_WORKFLOW_CODE,
            non_retryable=True,
        ) from err
    if context is None:
        return output
    return ToolCallOutcome(
        v=AGENT_FORMAT_VERSION, output=output, context=context_changes(context, ctx.context)
    )


def activity_as_tool(
    fn: Callable[..., Any],
    *,
    start_to_close_timeout: timedelta | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    heartbeat_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    at_most_once: bool | None = None,
    task_queue: str | None = None,
    name: str | None = None,
    description: str | None = None,
    summary: str | None = None,
    strict_json_schema: bool = True,
    needs_approval: bool = False,
) -> FunctionTool:
    """Turn an ``@activity.defn`` function (or method) into an agent tool.

    The tool's JSON schema comes from the function's signature and docstring; calling the
    tool inside a workflow runs the activity (on a worker that registered it). When all
    retries fail, the model sees the error message instead of the run failing. A method
    (``activity_as_tool(MyActivities.lookup)``) runs on the instance the worker
    registered (``Worker(activities=[my_activities.lookup])``).

    Args:
        fn: A function or method decorated with ``@activity.defn``.
        start_to_close_timeout: Limit on one attempt (default 5 minutes, unless
            ``schedule_to_close_timeout`` is given).
        schedule_to_close_timeout: Limit on all attempts together.
        heartbeat_timeout: An attempt that does not heartbeat this often is timed out.
        retry_policy: Retries of failed attempts (default: 3 attempts).
        at_most_once: Never re-run an attempt a crash interrupted (default: the activity's
            own ``at_most_once``); the model is told the outcome is unknown.
        task_queue: Queue of the workers that registered the activity.
        name: Tool name (default: the activity name).
        description: Tool description (default: the docstring).
        summary: Shown in timelines (default: the tool name).
        needs_approval: Pause the run for a human decision before each call.
    """
    defn = get_activity_definition(fn)
    if defn is None or defn.dynamic:
        raise ConfigurationError(f"{fn!r} is not an @activity.defn function")
    if start_to_close_timeout is None and schedule_to_close_timeout is None:
        start_to_close_timeout = timedelta(minutes=5)
    # A method taken from its class: its schema is the method's without ``self`` (the
    # worker calls it on the instance it registered).
    schema_of: Callable[..., Any] = (
        types.MethodType(fn, _NO_INSTANCE) if defn.unbound_method else fn
    )
    schema = function_schema(
        schema_of,
        name_override=name or defn.name,
        description_override=description,
        strict_json_schema=strict_json_schema,
    )
    if schema.takes_context:
        raise ConfigurationError("an activity used as a tool cannot take a run context")
    policy = retry_policy or RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)
    tool_name = schema.name
    # Called by name below, so the engine cannot see the definition's own setting.
    once = defn.at_most_once if at_most_once is None else at_most_once

    async def on_invoke(ctx: RunContextWrapper[Any], input: str) -> Any:
        try:
            data = json.loads(input) if input else {}
            parsed = schema.params_pydantic_model(**data)
        except (ValueError, pydantic.ValidationError) as err:
            return f"Invalid arguments for {tool_name}: {err}"
        args, kwargs = schema.to_call_args(parsed)
        if kwargs:
            raise ConfigurationError(
                f"activity {defn.name!r} takes keyword-only arguments; activities take "
                "positional arguments"
            )
        if not in_workflow():
            if defn.unbound_method:
                raise ConfigurationError(
                    f"tool {tool_name!r} is a method: outside a workflow, pass it bound to "
                    "an instance"
                )
            result = fn(*args)
            return await result if hasattr(result, "__await__") else result
        try:
            return await execute_tool(
                defn.name,
                args=args,
                tool_name=tool_name,
                arguments=input,
                call_id=str(getattr(ctx, "tool_call_id", "") or ""),
                start_to_close_timeout=start_to_close_timeout,
                schedule_to_close_timeout=schedule_to_close_timeout,
                heartbeat_timeout=heartbeat_timeout,
                retry_policy=policy,
                at_most_once=once,
                task_queue=task_queue,
                summary=summary or tool_name,
            )
        except ActivityError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type == INTERRUPTED:
                return interrupted_message(tool_name)
            if isinstance(cause, ApplicationError) and cause.type == NOT_RUN:
                return cause.message
            return f"An error occurred while running the tool {tool_name}: {cause}"

    on_invoke._duragent_activity_tool = True  # type: ignore[attr-defined]
    return FunctionTool(
        name=tool_name,
        description=schema.description or "",
        params_json_schema=schema.params_json_schema,
        on_invoke_tool=on_invoke,
        strict_json_schema=strict_json_schema,
        needs_approval=needs_approval,
    )
