"""Workflow runs through the worker's interceptors (``duragent.interceptor``), on either
backend.

Each run builds its chain once, before its workflow object is made: the innermost inbound
link calls the handler each input carries, and the innermost outbound link calls the run's
own runtime. Workflow code then sees :class:`InterceptedRuntime` as its runtime: the calls
the outbound chain wraps go through it, everything else straight to the run's runtime.
"""

from __future__ import annotations

import inspect
import random as _random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

from ._definitions import get_activity_definition, workflow_definition_of
from ._runtime import ActivityOptions, ChildWorkflowOptions, LocalActivityOptions, WorkflowRuntime
from .interceptor import (
    ContinueAsNewInput,
    ExecuteWorkflowInput,
    HandleQueryInput,
    HandleSignalInput,
    HandleUpdateInput,
    Interceptor,
    SignalChildWorkflowInput,
    SignalExternalWorkflowInput,
    StartActivityInput,
    StartChildWorkflowInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)
from .workflow import ExternalWorkflowHandle

if TYPE_CHECKING:
    from .workflow import ActivityHandle, ChildWorkflowHandle, WorkflowInfo


def _activity_name(activity: Callable[..., Any] | str) -> str:
    if isinstance(activity, str):
        return activity
    defn = get_activity_definition(activity)
    return defn.name if defn is not None else getattr(activity, "__name__", repr(activity))


def _workflow_name(workflow: Any) -> str:
    if isinstance(workflow, str):
        return workflow
    try:
        return workflow_definition_of(workflow).name
    except Exception:  # the runtime refuses it, with its own message
        return getattr(workflow, "__name__", repr(workflow))


def _target(fn: Any, name: str, named: Callable[[Any], str]) -> Any:
    """What to start: what the workflow passed, unless an interceptor renamed it."""
    return fn if fn is not None and named(fn) == name else name


class _Root(WorkflowInboundInterceptor):
    """The end of the inbound chain: calls the handler of each input."""

    def __init__(self, runtime: InterceptedRuntime) -> None:
        self.runtime = runtime

    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        self.runtime.outbound = outbound

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        return await input.run_fn(*input.args)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        assert input.handler is not None
        result = input.handler(*input.args)
        if inspect.isawaitable(result):
            await result

    def handle_query(self, input: HandleQueryInput) -> Any:
        assert input.handler is not None
        return input.handler(*input.args)

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        assert input.handler is not None
        input.handler(*input.args)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        assert input.handler is not None
        result = input.handler(*input.args)
        if inspect.isawaitable(result):
            result = await result
        return result


class _RootOutbound(WorkflowOutboundInterceptor):
    """The end of the outbound chain: the run's own runtime."""

    def __init__(self, runtime: WorkflowRuntime) -> None:
        self.runtime = runtime

    def info(self) -> WorkflowInfo:
        return self.runtime.info()

    def start_activity(self, input: StartActivityInput) -> ActivityHandle[Any]:
        options = ActivityOptions(
            task_queue=input.task_queue,
            start_to_close_timeout=input.start_to_close_timeout,
            schedule_to_close_timeout=input.schedule_to_close_timeout,
            heartbeat_timeout=input.heartbeat_timeout,
            retry_policy=input.retry_policy,
            at_most_once=input.at_most_once,
            summary=input.summary,
        )
        target = _target(input.fn, input.activity, _activity_name)
        return self.runtime.start_activity(target, input.args, options, input.ret_type)

    def start_local_activity(self, input: StartLocalActivityInput) -> ActivityHandle[Any]:
        options = LocalActivityOptions(
            start_to_close_timeout=input.start_to_close_timeout,
            schedule_to_close_timeout=input.schedule_to_close_timeout,
            schedule_to_start_timeout=input.schedule_to_start_timeout,
            retry_policy=input.retry_policy,
            local_retry_threshold=input.local_retry_threshold,
            summary=input.summary,
        )
        target = _target(input.fn, input.activity, _activity_name)
        return self.runtime.start_local_activity(target, input.args, options, input.ret_type)

    async def start_child_workflow(
        self, input: StartChildWorkflowInput
    ) -> ChildWorkflowHandle[Any]:
        options = ChildWorkflowOptions(
            id=input.id,
            task_queue=input.task_queue,
            parent_close_policy=input.parent_close_policy,
            memo=input.memo,
        )
        target = _target(input.fn, input.workflow, _workflow_name)
        return await self.runtime.start_child_workflow(target, input.args, options, input.ret_type)

    async def signal_child_workflow(self, input: SignalChildWorkflowInput) -> None:
        assert input.send is not None
        await input.send(input.signal, input.args)

    async def signal_external_workflow(self, input: SignalExternalWorkflowInput) -> None:
        assert input.send is not None
        await input.send(input.signal, input.args)

    def continue_as_new(self, input: ContinueAsNewInput) -> NoReturn:
        self.runtime.continue_as_new(input.args, input.workflow, input.task_queue)


class InterceptedRuntime(WorkflowRuntime):
    """The runtime workflow code sees on a worker with workflow interceptors."""

    def __init__(self, inner: WorkflowRuntime, interceptors: Sequence[Interceptor]) -> None:
        self.inner = inner
        self.outbound: WorkflowOutboundInterceptor = _RootOutbound(inner)
        inbound: WorkflowInboundInterceptor = _Root(self)
        given = WorkflowInterceptorClassInput()
        for interceptor in reversed(interceptors):
            cls = interceptor.workflow_interceptor_class(given)
            if cls is not None:
                inbound = cls(inbound)
        self.inbound = inbound
        """The run's inbound chain (its ``init`` is called by :meth:`init`)."""

    def init(self) -> None:
        """Hand the outbound chain to the inbound one (once, before the object is made)."""
        self.inbound.init(self.outbound)

    # -- what the outbound chain wraps ---------------------------------------------------

    def info(self) -> WorkflowInfo:
        return self.outbound.info()

    def start_activity(
        self,
        activity: Callable[..., Any] | str,
        args: Sequence[Any],
        options: ActivityOptions,
        result_type: Any,
    ) -> ActivityHandle[Any]:
        return self.outbound.start_activity(
            StartActivityInput(
                activity=_activity_name(activity),
                args=list(args),
                task_queue=options.task_queue,
                start_to_close_timeout=options.start_to_close_timeout,
                schedule_to_close_timeout=options.schedule_to_close_timeout,
                heartbeat_timeout=options.heartbeat_timeout,
                retry_policy=options.retry_policy,
                at_most_once=options.at_most_once,
                summary=options.summary,
                ret_type=result_type,
                fn=activity,
            )
        )

    def start_local_activity(
        self,
        activity: Callable[..., Any] | str,
        args: Sequence[Any],
        options: LocalActivityOptions,
        result_type: Any,
    ) -> ActivityHandle[Any]:
        return self.outbound.start_local_activity(
            StartLocalActivityInput(
                activity=_activity_name(activity),
                args=list(args),
                start_to_close_timeout=options.start_to_close_timeout,
                schedule_to_close_timeout=options.schedule_to_close_timeout,
                schedule_to_start_timeout=options.schedule_to_start_timeout,
                retry_policy=options.retry_policy,
                local_retry_threshold=options.local_retry_threshold,
                summary=options.summary,
                ret_type=result_type,
                fn=activity,
            )
        )

    def start_child_workflow(
        self,
        workflow: Any,
        args: Sequence[Any],
        options: ChildWorkflowOptions,
        result_type: Any,
    ) -> Awaitable[ChildWorkflowHandle[Any]]:
        return self._start_child(workflow, args, options, result_type)

    async def _start_child(
        self,
        workflow: Any,
        args: Sequence[Any],
        options: ChildWorkflowOptions,
        result_type: Any,
    ) -> ChildWorkflowHandle[Any]:
        handle = await self.outbound.start_child_workflow(
            StartChildWorkflowInput(
                workflow=_workflow_name(workflow),
                args=list(args),
                id=options.id,
                task_queue=options.task_queue,
                parent_close_policy=options.parent_close_policy,
                memo=options.memo,
                ret_type=result_type,
                fn=workflow,
            )
        )
        send = handle._signal  # pyright: ignore[reportPrivateUsage]
        if send is not None:
            outbound, child_id = self.outbound, handle.id

            async def signal(name: str, args: Sequence[Any]) -> None:
                await outbound.signal_child_workflow(
                    SignalChildWorkflowInput(
                        signal=name, args=list(args), child_workflow_id=child_id, send=send
                    )
                )

            handle._signal = signal  # pyright: ignore[reportPrivateUsage]
        return handle

    def continue_as_new(
        self, args: Sequence[Any], workflow: Any, task_queue: str | None
    ) -> NoReturn:
        self.outbound.continue_as_new(
            ContinueAsNewInput(workflow=workflow, args=list(args), task_queue=task_queue)
        )

    # -- the rest, as the run's runtime does it ------------------------------------------------

    def now(self) -> datetime:
        return self.inner.now()

    def random(self) -> _random.Random:
        return self.inner.random()

    def uuid4(self) -> uuid.UUID:
        return self.inner.uuid4()

    def is_replaying(self) -> bool:
        return self.inner.is_replaying()

    def wait_condition(self, fn: Callable[[], bool], timeout: float | None) -> Awaitable[None]:
        return self.inner.wait_condition(fn, timeout)

    def patched(self, patch_id: str, *, deprecated: bool) -> bool:
        return self.inner.patched(patch_id, deprecated=deprecated)

    def external_workflow(self, workflow_id: str, run_id: str | None) -> ExternalWorkflowHandle:
        handle = self.inner.external_workflow(workflow_id, run_id)
        send = handle._signal_fn  # pyright: ignore[reportPrivateUsage]
        outbound = self.outbound

        async def signal(name: str, args: Sequence[Any]) -> None:
            await outbound.signal_external_workflow(
                SignalExternalWorkflowInput(
                    signal=name,
                    args=list(args),
                    workflow_id=workflow_id,
                    workflow_run_id=run_id,
                    send=send,
                )
            )

        return ExternalWorkflowHandle(
            workflow_id,
            run_id,
            signal,
            handle._cancel_fn,  # pyright: ignore[reportPrivateUsage]
        )

    def set_handler(self, kind: str, name: str | None, fn: Callable[..., Any] | None) -> None:
        self.inner.set_handler(kind, name, fn)

    def all_handlers_finished(self) -> bool:
        return self.inner.all_handlers_finished()

    def run_state(self) -> dict[str, Any]:
        return self.inner.run_state()

    def record_marker(self, name: str, details: dict[str, Any]) -> None:
        self.inner.record_marker(name, details)

    def upsert_search_attributes(self, attributes: dict[str, Any], types: dict[str, str]) -> None:
        self.inner.upsert_search_attributes(attributes, types)

    def upsert_memo(self, memo: dict[str, Any]) -> None:
        self.inner.upsert_memo(memo)


def intercepted(
    runtime: WorkflowRuntime, interceptors: Sequence[Interceptor]
) -> InterceptedRuntime | None:
    """The runtime a run's workflow code should see, or None when no interceptor wraps
    workflows (the run's own runtime then, with nothing in between)."""
    if not interceptors:
        return None
    found = InterceptedRuntime(runtime, interceptors)
    if isinstance(found.inbound, _Root):
        return None
    found.init()
    return found


# -- a run's entry points, through its inbound chain (the handler itself without one) ----------


def signal_handler(
    found: InterceptedRuntime | None, name: str, fn: Callable[..., Any]
) -> Callable[..., Any]:
    """What to call with a signal's arguments: ``fn``, through the inbound chain."""
    if found is None:
        return fn
    inbound = found.inbound

    def through(*args: Any) -> Awaitable[None]:
        return inbound.handle_signal(HandleSignalInput(signal=name, args=list(args), handler=fn))

    return through


def query_handler(
    found: InterceptedRuntime | None, query_id: str, name: str, fn: Callable[..., Any]
) -> Callable[..., Any]:
    """What to call with a query's arguments."""
    if found is None:
        return fn
    inbound = found.inbound

    def through(*args: Any) -> Any:
        return inbound.handle_query(
            HandleQueryInput(id=query_id, query=name, args=list(args), handler=fn)
        )

    return through


def update_validator(
    found: InterceptedRuntime | None, update_id: str, name: str, fn: Callable[..., Any]
) -> Callable[..., Any]:
    """What to call with an update's arguments to validate it."""
    if found is None:
        return fn
    inbound = found.inbound

    def through(*args: Any) -> None:
        inbound.handle_update_validator(
            HandleUpdateInput(id=update_id, update=name, args=list(args), handler=fn)
        )

    return through


def update_handler(
    found: InterceptedRuntime | None, update_id: str, name: str, fn: Callable[..., Any]
) -> Callable[..., Any]:
    """What to call with an update's arguments to handle it."""
    if found is None:
        return fn
    inbound = found.inbound

    def through(*args: Any) -> Awaitable[Any]:
        return inbound.handle_update_handler(
            HandleUpdateInput(id=update_id, update=name, args=list(args), handler=fn)
        )

    return through
