"""Worker interceptors: code that wraps every activity attempt and every workflow run a
worker runs, as temporalio's worker interceptors do (the same class, method and field
names, with Duragent's options in the inputs).

Pass them as ``Worker(client, ..., interceptors=[MyInterceptor()])``, on either backend.

Activities: for each attempt (activities and local activities alike) the worker asks each
interceptor, in order, to wrap the next one (``intercept_activity``); the first in the list
is the outermost. The innermost calls the activity function: an ``async def`` on the
worker's event loop, a plain function on the worker's executor. Within the attempt,
``activity.info()`` and ``activity.heartbeat()`` go through the outbound interceptors the
inbound ones set up in ``init``::

    class Timing(Interceptor):
        def intercept_activity(self, next):
            return TimingInbound(next)

    class TimingInbound(ActivityInboundInterceptor):
        async def execute_activity(self, input):
            started = time.monotonic()
            try:
                return await super().execute_activity(input)
            finally:
                log.info("%s took %.3f s", activity.info().activity_type,
                         time.monotonic() - started)

Workflows: for each run, ``workflow_interceptor_class`` names a
:class:`WorkflowInboundInterceptor` class (or None), instantiated with the next inbound
interceptor; the run, its signals, queries and updates go through the chain, and in
``init`` an inbound interceptor may wrap the :class:`WorkflowOutboundInterceptor` through
which the workflow's ``workflow.info()``, activities, local activities, child workflows,
signals to children and other workflows, and ``continue_as_new`` go. Workflow
interceptors are workflow code: they must be deterministic (they run again on replay) and
keep no state across runs. A replayer needs the same interceptors as the workers that ran
its histories (``Replayer(..., interceptors=[...])``) when they change what a workflow
asks for.

What is not there yet: client interceptors, and headers (``input.headers`` is always
empty: nothing carries them between workflows and activities). Sync activities on a
``ProcessPoolExecutor`` are wrapped in the worker's process, where ``input.fn`` cannot be
swapped; inside the pool process, ``info()`` and ``heartbeat()`` skip the outbound
interceptors.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from .activity import Info

if TYPE_CHECKING:
    from .retry import RetryPolicy
    from .workflow import ActivityHandle, ChildWorkflowHandle, WorkflowInfo

__all__ = [
    "ActivityInboundInterceptor",
    "ActivityOutboundInterceptor",
    "ContinueAsNewInput",
    "ExecuteActivityInput",
    "ExecuteWorkflowInput",
    "HandleQueryInput",
    "HandleSignalInput",
    "HandleUpdateInput",
    "Interceptor",
    "SignalChildWorkflowInput",
    "SignalExternalWorkflowInput",
    "StartActivityInput",
    "StartChildWorkflowInput",
    "StartLocalActivityInput",
    "WorkflowInboundInterceptor",
    "WorkflowInterceptorClassInput",
    "WorkflowOutboundInterceptor",
]


@dataclass
class ExecuteActivityInput:
    """What :meth:`ActivityInboundInterceptor.execute_activity` runs: an interceptor may
    change the arguments (or, except on a process pool, the function) before passing it on."""

    fn: Callable[..., Any]
    """The activity function."""
    args: Sequence[Any]
    """Its arguments, decoded."""
    executor: Executor | None
    """Where a plain (not ``async``) function runs; None for an ``async def``."""
    headers: Mapping[str, Any] = field(default_factory=lambda: {})
    """Always empty for now (see the module's notes)."""


class ActivityOutboundInterceptor:
    """Wraps the calls an activity makes: ``activity.info()`` and ``activity.heartbeat()``.
    Subclass it and override what you need; call the same method on ``self.next`` to go on."""

    def __init__(self, next: ActivityOutboundInterceptor) -> None:
        self.next = next

    def info(self) -> Info:
        """Called for every ``activity.info()``."""
        return self.next.info()

    def heartbeat(self, *details: Any) -> None:
        """Called for every ``activity.heartbeat(*details)`` (after its cancellation check)."""
        self.next.heartbeat(*details)


class ActivityInboundInterceptor:
    """Wraps one activity attempt. Subclass it and override what you need; call the same
    method on ``self.next`` (or ``super()``) to go on."""

    def __init__(self, next: ActivityInboundInterceptor) -> None:
        self.next = next

    def init(self, outbound: ActivityOutboundInterceptor) -> None:
        """Called once per attempt before :meth:`execute_activity`, with the outbound
        chain so far: wrap it (``super().init(MyOutbound(outbound))``) to intercept
        ``info()`` and ``heartbeat()``."""
        self.next.init(outbound)

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        """Run the attempt; returns the activity's result (raising fails the attempt,
        which is then retried by its retry policy, as if the function had raised)."""
        return await self.next.execute_activity(input)


# -- workflows ------------------------------------------------------------------------------


def _no_headers() -> dict[str, Any]:
    return {}


@dataclass
class ExecuteWorkflowInput:
    """The run of a workflow: :meth:`WorkflowInboundInterceptor.execute_workflow`."""

    type: type
    """The ``@workflow.defn`` class."""
    run_fn: Callable[..., Awaitable[Any]]
    """Its run method, bound to the workflow object."""
    args: Sequence[Any]
    headers: Mapping[str, Any] = field(default_factory=_no_headers)


@dataclass
class HandleSignalInput:
    """A signal delivered to a handler: :meth:`WorkflowInboundInterceptor.handle_signal`.
    For a dynamic handler, ``args`` is ``[name, args]``, as the handler takes them."""

    signal: str
    args: Sequence[Any]
    headers: Mapping[str, Any] = field(default_factory=_no_headers)
    handler: Callable[..., Any] | None = field(default=None, repr=False)
    """The handler the worker found for it (called by the innermost interceptor)."""


@dataclass
class HandleQueryInput:
    """A query: :meth:`WorkflowInboundInterceptor.handle_query`."""

    id: str
    query: str
    args: Sequence[Any]
    headers: Mapping[str, Any] = field(default_factory=_no_headers)
    handler: Callable[..., Any] | None = field(default=None, repr=False)


@dataclass
class HandleUpdateInput:
    """An update, to validate or to handle: :meth:`WorkflowInboundInterceptor.
    handle_update_validator` and :meth:`~WorkflowInboundInterceptor.handle_update_handler`."""

    id: str
    update: str
    args: Sequence[Any]
    headers: Mapping[str, Any] = field(default_factory=_no_headers)
    handler: Callable[..., Any] | None = field(default=None, repr=False)
    """The validator or the handler (called by the innermost interceptor)."""


@dataclass
class StartActivityInput:
    """An activity the workflow schedules: :meth:`WorkflowOutboundInterceptor.start_activity`
    (the options of ``workflow.start_activity``)."""

    activity: str
    """The activity type name."""
    args: Sequence[Any]
    task_queue: str | None = None
    start_to_close_timeout: timedelta | None = None
    schedule_to_close_timeout: timedelta | None = None
    heartbeat_timeout: timedelta | None = None
    retry_policy: RetryPolicy | None = None
    at_most_once: bool | None = None
    summary: str = ""
    ret_type: Any = None
    headers: Mapping[str, Any] = field(default_factory=_no_headers)
    fn: Callable[..., Any] | str | None = field(default=None, repr=False)
    """What the workflow passed (the function or the name): scheduled unless ``activity``
    was changed to another name."""


@dataclass
class StartLocalActivityInput:
    """A local activity: :meth:`WorkflowOutboundInterceptor.start_local_activity`."""

    activity: str
    args: Sequence[Any]
    start_to_close_timeout: timedelta | None = None
    schedule_to_close_timeout: timedelta | None = None
    schedule_to_start_timeout: timedelta | None = None
    retry_policy: RetryPolicy | None = None
    local_retry_threshold: timedelta | None = None
    summary: str = ""
    ret_type: Any = None
    headers: Mapping[str, Any] = field(default_factory=_no_headers)
    fn: Callable[..., Any] | str | None = field(default=None, repr=False)


@dataclass
class StartChildWorkflowInput:
    """A child workflow: :meth:`WorkflowOutboundInterceptor.start_child_workflow`."""

    workflow: str
    """The child's workflow type name."""
    args: Sequence[Any]
    id: str | None = None
    task_queue: str | None = None
    parent_close_policy: str = "terminate"
    memo: dict[str, Any] | None = None
    ret_type: Any = None
    headers: Mapping[str, Any] = field(default_factory=_no_headers)
    fn: Any = field(default=None, repr=False)
    """What the workflow passed (run method, class or name)."""


@dataclass
class SignalChildWorkflowInput:
    """A signal to a child: :meth:`WorkflowOutboundInterceptor.signal_child_workflow`."""

    signal: str
    args: Sequence[Any]
    child_workflow_id: str
    headers: Mapping[str, Any] = field(default_factory=_no_headers)
    send: Callable[[str, Sequence[Any]], Awaitable[None]] | None = field(default=None, repr=False)
    """Sends it (called by the innermost interceptor)."""


@dataclass
class SignalExternalWorkflowInput:
    """A signal to another workflow (``workflow.get_external_workflow_handle(...).signal``):
    :meth:`WorkflowOutboundInterceptor.signal_external_workflow`."""

    signal: str
    args: Sequence[Any]
    workflow_id: str
    workflow_run_id: str | None = None
    headers: Mapping[str, Any] = field(default_factory=_no_headers)
    send: Callable[[str, Sequence[Any]], Awaitable[None]] | None = field(default=None, repr=False)
    """Sends it (called by the innermost interceptor)."""


@dataclass
class ContinueAsNewInput:
    """``workflow.continue_as_new``: :meth:`WorkflowOutboundInterceptor.continue_as_new`."""

    workflow: Any
    """The workflow to continue as (None: the same)."""
    args: Sequence[Any]
    task_queue: str | None = None
    headers: Mapping[str, Any] = field(default_factory=_no_headers)


class WorkflowOutboundInterceptor:
    """Wraps what workflow code asks of its worker. Subclass it and override what you
    need; call the same method on ``self.next`` (or ``super()``) to go on."""

    def __init__(self, next: WorkflowOutboundInterceptor) -> None:
        self.next = next

    def info(self) -> WorkflowInfo:
        """Called for every ``workflow.info()``."""
        return self.next.info()

    def start_activity(self, input: StartActivityInput) -> ActivityHandle[Any]:
        """Called for every activity the workflow starts (``execute_activity`` too)."""
        return self.next.start_activity(input)

    def start_local_activity(self, input: StartLocalActivityInput) -> ActivityHandle[Any]:
        """Called for every local activity."""
        return self.next.start_local_activity(input)

    async def start_child_workflow(
        self, input: StartChildWorkflowInput
    ) -> ChildWorkflowHandle[Any]:
        """Called for every child workflow (``execute_child_workflow`` too)."""
        return await self.next.start_child_workflow(input)

    async def signal_child_workflow(self, input: SignalChildWorkflowInput) -> None:
        """Called for every signal to a child (its handle's ``signal``)."""
        await self.next.signal_child_workflow(input)

    async def signal_external_workflow(self, input: SignalExternalWorkflowInput) -> None:
        """Called for every signal to another workflow through an external handle."""
        await self.next.signal_external_workflow(input)

    def continue_as_new(self, input: ContinueAsNewInput) -> NoReturn:
        """Called for ``workflow.continue_as_new`` (raises, as it does)."""
        self.next.continue_as_new(input)


class WorkflowInboundInterceptor:
    """Wraps one workflow run's entry points. Subclass it and override what you need; call
    the same method on ``self.next`` (or ``super()``) to go on."""

    def __init__(self, next: WorkflowInboundInterceptor) -> None:
        self.next = next

    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        """Called once per run (before the workflow's ``__init__``), with the outbound
        chain so far: wrap it (``super().init(MyOutbound(outbound))``) to intercept what
        the workflow asks for."""
        self.next.init(outbound)

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        """Run the workflow; returns its result."""
        return await self.next.execute_workflow(input)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        """Run a signal's handler."""
        await self.next.handle_signal(input)

    def handle_query(self, input: HandleQueryInput) -> Any:
        """Run a query's handler; returns its result."""
        return self.next.handle_query(input)

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        """Run an update's validator (raise to reject the update)."""
        self.next.handle_update_validator(input)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        """Run an update's handler; returns its result."""
        return await self.next.handle_update_handler(input)


@dataclass
class WorkflowInterceptorClassInput:
    """What :meth:`Interceptor.workflow_interceptor_class` is given (temporalio's shape;
    Duragent has no sandbox, so nothing is in it)."""

    unsafe_extern_functions: MutableMapping[str, Callable[..., Any]] = field(
        default_factory=lambda: {}
    )


class Interceptor:
    """A worker interceptor: return a wrapper of ``next`` from :meth:`intercept_activity`
    (or ``next`` itself to leave activities alone), and a
    :class:`WorkflowInboundInterceptor` class from :meth:`workflow_interceptor_class` (or
    None to leave workflows alone)."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        """Called for every activity attempt."""
        return next

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        """Called for every workflow run (again on replay): the class to instantiate with
        the next inbound interceptor, or None."""
        del input
        return None
