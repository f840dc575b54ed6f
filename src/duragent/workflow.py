"""The workflow-side API: decorators for workflow classes and the functions workflow code
calls (activities, timers, conditions, child workflows, deterministic time and randomness).

Workflow code must be deterministic: given the same history it must ask for the same
things in the same order. Use :func:`now`, :func:`random` and :func:`uuid4` instead of
``datetime.now()``, ``random`` and ``uuid``, and do I/O only in activities. ``asyncio``
works as usual (``sleep``, ``gather``, ``wait``, ``as_completed``, ``wait_for``, ``timeout``)
and is durable: a sleep is a timer recorded in history. Prefer :func:`wait` and
:func:`as_completed` from this module over asyncio's: they return lists in a fixed order,
so they replay identically on every backend (on Temporal, ``asyncio.wait`` over tasks made
with ``asyncio.create_task`` returns sets whose order can change on replay).

Every function here dispatches to the runtime of the workflow that is running (found
through a context variable), so the same code runs on the embedded engine, on the
replayer and in tests.
"""

from __future__ import annotations

import asyncio
import logging
import random as _random
import uuid as _uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import (
    Any,
    Generic,
    NoReturn,
    TypedDict,
    TypeVar,
    Unpack,
    overload,
)

from ._definitions import (
    WorkflowDefinition,
)
from ._enum_input import enum_value
from ._runtime import (
    ActivityOptions,
    ChildWorkflowOptions,
    LocalActivityOptions,
    in_workflow,
    runtime,
)
from ._search_attributes import check_memo, split_search_attributes
from ._waits import as_completed, wait
from ._workflow_decorators import (
    UpdateMethod,
    defn,
    handler_name,
    init,
    query,
    run,
    signal,
    update,
)
from .errors import ConfigurationError
from .retry import RetryPolicy
from .search_attributes import SearchAttributeUpdate
from .serde import DataConverter

__all__ = [
    "ActivityHandle",
    "ChildWorkflowHandle",
    "ContinueAsNewError",
    "ExternalWorkflowHandle",
    "ParentClosePolicy",
    "UpdateMethod",
    "WorkflowInfo",
    "all_handlers_finished",
    "as_completed",
    "continue_as_new",
    "defn",
    "deprecate_patch",
    "execute_activity",
    "execute_activity_class",
    "execute_activity_method",
    "execute_child_workflow",
    "execute_local_activity",
    "execute_local_activity_class",
    "execute_local_activity_method",
    "get_external_workflow_handle",
    "in_workflow",
    "info",
    "init",
    "is_replaying",
    "logger",
    "now",
    "patched",
    "query",
    "random",
    "run",
    "set_dynamic_signal_handler",
    "set_signal_handler",
    "signal",
    "sleep",
    "start_activity",
    "start_activity_class",
    "start_activity_method",
    "start_child_workflow",
    "start_local_activity",
    "start_local_activity_class",
    "start_local_activity_method",
    "update",
    "upsert_memo",
    "upsert_search_attributes",
    "uuid4",
    "wait",
    "wait_condition",
]

T = TypeVar("T")
_A = TypeVar("_A")
_R = TypeVar("_R")
_S = TypeVar("_S")
_MISSING: Any = object()


class _ActivityOptions(TypedDict, total=False):
    """The keyword options of :func:`start_activity` / :func:`execute_activity`, spelled
    once for their typed overloads."""

    task_queue: str | None
    start_to_close_timeout: timedelta | None
    schedule_to_close_timeout: timedelta | None
    heartbeat_timeout: timedelta | None
    retry_policy: RetryPolicy | None
    at_most_once: bool | None
    summary: str


class _LocalActivityOptions(TypedDict, total=False):
    """The keyword options of :func:`start_local_activity` /
    :func:`execute_local_activity`, spelled once for their typed overloads."""

    start_to_close_timeout: timedelta | None
    schedule_to_close_timeout: timedelta | None
    schedule_to_start_timeout: timedelta | None
    retry_policy: RetryPolicy | None
    local_retry_threshold: timedelta | None
    summary: str


class _ChildOptions(TypedDict, total=False):
    """The keyword options of :func:`start_child_workflow` /
    :func:`execute_child_workflow`, spelled once for their typed overloads."""

    id: str | None
    task_queue: str | None
    parent_close_policy: str
    memo: dict[str, Any] | None


# ---------------------------------------------------------------------------- data types


@dataclass(frozen=True)
class WorkflowInfo:
    """Facts about the running workflow (deterministic: the same on replay)."""

    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    attempt: int
    start_time: datetime
    parent_workflow_id: str | None
    parent_run_id: str | None
    continued_run_id: str | None
    first_run_id: str
    _history_length: Callable[[], int]
    _continue_as_new_threshold: int

    def get_current_history_length(self) -> int:
        """Number of events in this run's history as of the current workflow task."""
        return self._history_length()

    def is_continue_as_new_suggested(self) -> bool:
        """Whether history has grown long enough that the workflow should
        :func:`continue_as_new` to keep replay fast."""
        return self._history_length() >= self._continue_as_new_threshold


class ParentClosePolicy(StrEnum):
    """What happens to a running child when its parent closes (the values are the
    strings recorded in history)."""

    TERMINATE = "terminate"
    REQUEST_CANCEL = "request_cancel"
    ABANDON = "abandon"


class ContinueAsNewError(BaseException):
    """Raised by :func:`continue_as_new`; not an ``Exception``, so a broad
    ``except Exception`` in workflow code does not swallow it."""

    def __init__(self, args: Sequence[Any], workflow_type: str | None, task_queue: str | None):
        super().__init__("continue as new")
        self.input_args = tuple(args)
        self.workflow_type = workflow_type
        self.task_queue = task_queue


class ActivityHandle(asyncio.Future[T], Generic[T]):
    """A started activity: await it for the result, ``cancel()`` it to request
    cancellation (the awaiting code gets ``asyncio.CancelledError`` at once)."""

    _on_cancel: Callable[[], None] | None = None
    _stable_hash: int = 0

    def __hash__(self) -> int:
        # Set by the runtime to a creation number: deterministic set iteration on replay.
        return self._stable_hash or id(self)

    def cancel(self, msg: Any = None) -> bool:
        if self.done():
            return False
        hook, self._on_cancel = self._on_cancel, None
        if hook is not None:
            hook()
        return super().cancel(msg)


class ChildWorkflowHandle(asyncio.Future[T], Generic[T]):
    """A started child workflow: await it for the result; ``signal()`` it; cancel it by
    cancelling the handle (the child receives a cancellation request)."""

    id: str = ""
    first_execution_run_id: str = ""
    _on_cancel: Callable[[], None] | None = None
    _signal: Callable[[str, Sequence[Any]], Awaitable[None]] | None = None
    _stable_hash: int = 0

    def __hash__(self) -> int:
        return self._stable_hash or id(self)

    def cancel(self, msg: Any = None) -> bool:
        if self.done():
            return False
        hook, self._on_cancel = self._on_cancel, None
        if hook is not None:
            hook()
        return super().cancel(msg)

    async def signal(
        self, signal: Callable[..., Any] | str, arg: Any = _MISSING, *, args: Sequence[Any] = ()
    ) -> None:
        """Send a signal to the child workflow."""
        assert self._signal is not None
        await self._signal(handler_name(signal, "signal"), _one_or_many(arg, args))


class ExternalWorkflowHandle:
    """A handle to another workflow, for signalling or cancelling it from workflow code."""

    def __init__(
        self,
        workflow_id: str,
        run_id: str | None,
        signal_fn: Callable[[str, Sequence[Any]], Awaitable[None]],
        cancel_fn: Callable[[], Awaitable[None]],
    ) -> None:
        self.id = workflow_id
        self.run_id = run_id
        self._signal_fn = signal_fn
        self._cancel_fn = cancel_fn

    async def signal(
        self, signal: Callable[..., Any] | str, arg: Any = _MISSING, *, args: Sequence[Any] = ()
    ) -> None:
        """Send a signal; raises if the workflow does not exist or is closed."""
        await self._signal_fn(handler_name(signal, "signal"), _one_or_many(arg, args))

    async def cancel(self) -> None:
        """Request cancellation of the workflow."""
        await self._cancel_fn()


def _one_or_many(arg: Any, args: Sequence[Any]) -> Sequence[Any]:
    if arg is not _MISSING:
        if args:
            raise ConfigurationError("pass either one positional argument or args=[...]")
        return (arg,)
    return tuple(args)


# ---------------------------------------------------------------------- runtime functions


def info() -> WorkflowInfo:
    """Facts about the running workflow."""
    return runtime().info()


def now() -> datetime:
    """Deterministic current time (UTC) of the workflow: the time of the current task."""
    return runtime().now()


def random() -> _random.Random:
    """A deterministic random generator, seeded per run."""
    return runtime().random()


def uuid4() -> _uuid.UUID:
    """A deterministic random UUID (version 4)."""
    return runtime().uuid4()


def is_replaying() -> bool:
    """Whether the code is re-running recorded history (e.g. to skip logging)."""
    return runtime().is_replaying()


def _seconds(duration: timedelta | float | None) -> float | None:
    if duration is None:
        return None
    return duration.total_seconds() if isinstance(duration, timedelta) else float(duration)


async def sleep(duration: timedelta | float) -> None:
    """Durable sleep: a timer recorded in history (same as ``asyncio.sleep`` here)."""
    seconds = _seconds(duration)
    assert seconds is not None
    await asyncio.sleep(seconds)


async def wait_condition(
    fn: Callable[[], bool], *, timeout: timedelta | float | None = None
) -> None:
    """Wait until ``fn()`` is true (checked after every change of workflow state).

    Raises:
        asyncio.TimeoutError: ``timeout`` passed first (a durable timer).
    """
    await runtime().wait_condition(fn, _seconds(timeout))


@overload
def start_activity(
    activity: Callable[[], Awaitable[_R]], **options: Unpack[_ActivityOptions]
) -> ActivityHandle[_R]: ...
@overload
def start_activity(
    activity: Callable[[_A], Awaitable[_R]], arg: _A, **options: Unpack[_ActivityOptions]
) -> ActivityHandle[_R]: ...
@overload
def start_activity(
    activity: Callable[[], _R], **options: Unpack[_ActivityOptions]
) -> ActivityHandle[_R]: ...
@overload
def start_activity(
    activity: Callable[[_A], _R], arg: _A, **options: Unpack[_ActivityOptions]
) -> ActivityHandle[_R]: ...
@overload
def start_activity(
    activity: str,
    arg: Any = ...,
    *,
    args: Sequence[Any] = (),
    result_type: type[_R],
    **options: Unpack[_ActivityOptions],
) -> ActivityHandle[_R]: ...
@overload
def start_activity(
    activity: str,
    arg: Any = ...,
    *,
    args: Sequence[Any] = (),
    result_type: Any = None,
    **options: Unpack[_ActivityOptions],
) -> ActivityHandle[Any]: ...
@overload
def start_activity(
    activity: Callable[..., Any],
    *,
    args: Sequence[Any],
    result_type: Any = None,
    **options: Unpack[_ActivityOptions],
) -> ActivityHandle[Any]: ...
def start_activity(
    activity: Callable[..., Any] | str,
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    task_queue: str | None = None,
    start_to_close_timeout: timedelta | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    heartbeat_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    at_most_once: bool | None = None,
    result_type: Any = None,
    summary: str = "",
) -> ActivityHandle[Any]:
    """Schedule an activity and return a handle to await (see :func:`execute_activity`)."""
    return runtime().start_activity(
        activity,
        _one_or_many(arg, args),
        ActivityOptions(
            task_queue=task_queue,
            start_to_close_timeout=start_to_close_timeout,
            schedule_to_close_timeout=schedule_to_close_timeout,
            heartbeat_timeout=heartbeat_timeout,
            retry_policy=retry_policy,
            at_most_once=at_most_once,
            summary=summary,
        ),
        result_type,
    )


# The overloads type what users call; the functions below forward their already-checked
# arguments whatever their shape.
_start_activity: Callable[..., ActivityHandle[Any]] = start_activity


@overload
async def execute_activity(
    activity: Callable[[], Awaitable[_R]], **options: Unpack[_ActivityOptions]
) -> _R: ...
@overload
async def execute_activity(
    activity: Callable[[_A], Awaitable[_R]], arg: _A, **options: Unpack[_ActivityOptions]
) -> _R: ...
@overload
async def execute_activity(
    activity: Callable[[], _R], **options: Unpack[_ActivityOptions]
) -> _R: ...
@overload
async def execute_activity(
    activity: Callable[[_A], _R], arg: _A, **options: Unpack[_ActivityOptions]
) -> _R: ...
@overload
async def execute_activity(
    activity: str,
    arg: Any = ...,
    *,
    args: Sequence[Any] = (),
    result_type: type[_R],
    **options: Unpack[_ActivityOptions],
) -> _R: ...
@overload
async def execute_activity(
    activity: str,
    arg: Any = ...,
    *,
    args: Sequence[Any] = (),
    result_type: Any = None,
    **options: Unpack[_ActivityOptions],
) -> Any: ...
@overload
async def execute_activity(
    activity: Callable[..., Any],
    *,
    args: Sequence[Any],
    result_type: Any = None,
    **options: Unpack[_ActivityOptions],
) -> Any: ...
async def execute_activity(
    activity: Callable[..., Any] | str,
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    task_queue: str | None = None,
    start_to_close_timeout: timedelta | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    heartbeat_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    at_most_once: bool | None = None,
    result_type: Any = None,
    summary: str = "",
) -> Any:
    """Run an activity and return its result.

    Args:
        activity: An ``@activity.defn`` function, method (``Service.fetch``) or callable
            class, or an activity type name.
        arg: The single argument (or use ``args=[...]`` for several).
        task_queue: Task queue of the activity; defaults to the workflow's.
        start_to_close_timeout: Limit on one attempt. One of this and
            ``schedule_to_close_timeout`` is required.
        schedule_to_close_timeout: Limit on all attempts together, retries included.
        heartbeat_timeout: An attempt that does not heartbeat this often is timed out.
        retry_policy: How failed attempts are retried; defaults to unlimited attempts with
            exponential backoff from 1 s to 100 s.
        at_most_once: Never re-run an attempt that may have started: if its worker dies
            mid-attempt the activity fails with an ``ActivityError`` instead.
        result_type: Type to decode the result into when ``activity`` is a name
            (otherwise the function's return annotation is used).
        summary: A short description shown in timelines.

    Raises:
        ActivityError: The activity failed for good; ``cause`` says why.
    """
    return await _start_activity(
        activity,
        arg,
        args=args,
        task_queue=task_queue,
        start_to_close_timeout=start_to_close_timeout,
        schedule_to_close_timeout=schedule_to_close_timeout,
        heartbeat_timeout=heartbeat_timeout,
        retry_policy=retry_policy,
        at_most_once=at_most_once,
        result_type=result_type,
        summary=summary,
    )


@overload
def start_local_activity(
    activity: Callable[[], Awaitable[_R]], **options: Unpack[_LocalActivityOptions]
) -> ActivityHandle[_R]: ...
@overload
def start_local_activity(
    activity: Callable[[_A], Awaitable[_R]], arg: _A, **options: Unpack[_LocalActivityOptions]
) -> ActivityHandle[_R]: ...
@overload
def start_local_activity(
    activity: Callable[[], _R], **options: Unpack[_LocalActivityOptions]
) -> ActivityHandle[_R]: ...
@overload
def start_local_activity(
    activity: Callable[[_A], _R], arg: _A, **options: Unpack[_LocalActivityOptions]
) -> ActivityHandle[_R]: ...
@overload
def start_local_activity(
    activity: str,
    arg: Any = ...,
    *,
    args: Sequence[Any] = (),
    result_type: type[_R],
    **options: Unpack[_LocalActivityOptions],
) -> ActivityHandle[_R]: ...
@overload
def start_local_activity(
    activity: str,
    arg: Any = ...,
    *,
    args: Sequence[Any] = (),
    result_type: Any = None,
    **options: Unpack[_LocalActivityOptions],
) -> ActivityHandle[Any]: ...
@overload
def start_local_activity(
    activity: Callable[..., Any],
    *,
    args: Sequence[Any],
    result_type: Any = None,
    **options: Unpack[_LocalActivityOptions],
) -> ActivityHandle[Any]: ...
def start_local_activity(
    activity: Callable[..., Any] | str,
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    start_to_close_timeout: timedelta | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    schedule_to_start_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    local_retry_threshold: timedelta | None = None,
    result_type: Any = None,
    summary: str = "",
) -> ActivityHandle[Any]:
    """Start a local activity and return a handle to await (see
    :func:`execute_local_activity`)."""
    return runtime().start_local_activity(
        activity,
        _one_or_many(arg, args),
        LocalActivityOptions(
            start_to_close_timeout=start_to_close_timeout,
            schedule_to_close_timeout=schedule_to_close_timeout,
            schedule_to_start_timeout=schedule_to_start_timeout,
            retry_policy=retry_policy,
            local_retry_threshold=local_retry_threshold,
            summary=summary,
        ),
        result_type,
    )


_start_local_activity: Callable[..., ActivityHandle[Any]] = start_local_activity


@overload
async def execute_local_activity(
    activity: Callable[[], Awaitable[_R]], **options: Unpack[_LocalActivityOptions]
) -> _R: ...
@overload
async def execute_local_activity(
    activity: Callable[[_A], Awaitable[_R]], arg: _A, **options: Unpack[_LocalActivityOptions]
) -> _R: ...
@overload
async def execute_local_activity(
    activity: Callable[[], _R], **options: Unpack[_LocalActivityOptions]
) -> _R: ...
@overload
async def execute_local_activity(
    activity: Callable[[_A], _R], arg: _A, **options: Unpack[_LocalActivityOptions]
) -> _R: ...
@overload
async def execute_local_activity(
    activity: str,
    arg: Any = ...,
    *,
    args: Sequence[Any] = (),
    result_type: type[_R],
    **options: Unpack[_LocalActivityOptions],
) -> _R: ...
@overload
async def execute_local_activity(
    activity: str,
    arg: Any = ...,
    *,
    args: Sequence[Any] = (),
    result_type: Any = None,
    **options: Unpack[_LocalActivityOptions],
) -> Any: ...
@overload
async def execute_local_activity(
    activity: Callable[..., Any],
    *,
    args: Sequence[Any],
    result_type: Any = None,
    **options: Unpack[_LocalActivityOptions],
) -> Any: ...
async def execute_local_activity(
    activity: Callable[..., Any] | str,
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    start_to_close_timeout: timedelta | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    schedule_to_start_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    local_retry_threshold: timedelta | None = None,
    result_type: Any = None,
    summary: str = "",
) -> Any:
    """Run a short activity on the worker that runs this workflow, and return its result.

    A local activity is not a task: the worker runs it at once, while it holds the
    workflow task, and records only its outcome, together with the task's other commands
    (one event, one commit, instead of a scheduled event, a task, its completion and a new
    workflow task). It is retried by the worker under ``retry_policy``; a retry whose
    backoff is longer than ``local_retry_threshold`` waits on a durable timer instead.

    Use it for short calls (well under a minute) whose result the workflow needs next and
    that are safe to repeat: a cache lookup, an idempotent write, a small computation
    that must not run in workflow code. Use :func:`execute_activity` for anything long,
    anything that must heartbeat or be cancelled cleanly, anything that must run on
    another worker or task queue, and anything at-most-once: a local activity runs again
    when its worker dies before the task is recorded. Register the function with the
    worker that runs the workflow (``Worker(activities=[...])``).

    Args:
        activity: An ``@activity.defn`` function, method or callable class, or its name.
        start_to_close_timeout: Limit on one attempt. One of this and
            ``schedule_to_close_timeout`` is required.
        schedule_to_close_timeout: Limit on all attempts together.
        schedule_to_start_timeout: Accepted for temporalio compatibility; a local activity
            starts at once.
        retry_policy: How failed attempts are retried (default: unlimited, 1 s to 100 s).
        local_retry_threshold: Longest backoff waited for while holding the workflow task
            (default 1 minute).
        result_type: Type to decode the result into when ``activity`` is a name.
        summary: A short description shown in timelines.

    Raises:
        ActivityError: The local activity failed for good; ``cause`` says why.
    """
    return await _start_local_activity(
        activity,
        arg,
        args=args,
        start_to_close_timeout=start_to_close_timeout,
        schedule_to_close_timeout=schedule_to_close_timeout,
        schedule_to_start_timeout=schedule_to_start_timeout,
        retry_policy=retry_policy,
        local_retry_threshold=local_retry_threshold,
        result_type=result_type,
        summary=summary,
    )


@overload
def start_local_activity_method(
    activity: Callable[[_S], Awaitable[_R]], **options: Unpack[_LocalActivityOptions]
) -> ActivityHandle[_R]: ...
@overload
def start_local_activity_method(
    activity: Callable[[_S, _A], Awaitable[_R]],
    arg: _A,
    **options: Unpack[_LocalActivityOptions],
) -> ActivityHandle[_R]: ...
@overload
def start_local_activity_method(
    activity: Callable[..., Any],
    *,
    args: Sequence[Any],
    result_type: Any = None,
    **options: Unpack[_LocalActivityOptions],
) -> ActivityHandle[Any]: ...
def start_local_activity_method(
    activity: Callable[..., Any],
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    result_type: Any = None,
    **options: Unpack[_LocalActivityOptions],
) -> ActivityHandle[Any]:
    """Start a local activity that is a method (``Service.fetch``; see
    :func:`start_activity_method`). Same as :func:`start_local_activity`, typed for
    methods."""
    return _start_local_activity(activity, arg, args=args, result_type=result_type, **options)


@overload
async def execute_local_activity_method(
    activity: Callable[[_S], Awaitable[_R]], **options: Unpack[_LocalActivityOptions]
) -> _R: ...
@overload
async def execute_local_activity_method(
    activity: Callable[[_S, _A], Awaitable[_R]],
    arg: _A,
    **options: Unpack[_LocalActivityOptions],
) -> _R: ...
@overload
async def execute_local_activity_method(
    activity: Callable[..., Any],
    *,
    args: Sequence[Any],
    result_type: Any = None,
    **options: Unpack[_LocalActivityOptions],
) -> Any: ...
async def execute_local_activity_method(
    activity: Callable[..., Any],
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    result_type: Any = None,
    **options: Unpack[_LocalActivityOptions],
) -> Any:
    """Run a local activity that is a method and return its result. Same as
    :func:`execute_local_activity`, typed for methods."""
    return await _start_local_activity(activity, arg, args=args, result_type=result_type, **options)


start_local_activity_class = start_local_activity
"""Start a local activity that is a callable class."""

execute_local_activity_class = execute_local_activity
"""Run a local activity that is a callable class."""


@overload
def start_activity_method(
    activity: Callable[[_S], Awaitable[_R]], **options: Unpack[_ActivityOptions]
) -> ActivityHandle[_R]: ...
@overload
def start_activity_method(
    activity: Callable[[_S, _A], Awaitable[_R]], arg: _A, **options: Unpack[_ActivityOptions]
) -> ActivityHandle[_R]: ...
@overload
def start_activity_method(
    activity: Callable[..., Any],
    *,
    args: Sequence[Any],
    result_type: Any = None,
    **options: Unpack[_ActivityOptions],
) -> ActivityHandle[Any]: ...
def start_activity_method(
    activity: Callable[..., Any],
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    result_type: Any = None,
    **options: Unpack[_ActivityOptions],
) -> ActivityHandle[Any]:
    """Start an activity that is a method (``Service.fetch``); the worker calls it on the
    instance it registered (``Worker(activities=[service.fetch])``). Same as
    :func:`start_activity`, typed for methods; the name matches temporalio's."""
    return _start_activity(activity, arg, args=args, result_type=result_type, **options)


@overload
async def execute_activity_method(
    activity: Callable[[_S], Awaitable[_R]], **options: Unpack[_ActivityOptions]
) -> _R: ...
@overload
async def execute_activity_method(
    activity: Callable[[_S, _A], Awaitable[_R]], arg: _A, **options: Unpack[_ActivityOptions]
) -> _R: ...
@overload
async def execute_activity_method(
    activity: Callable[..., Any],
    *,
    args: Sequence[Any],
    result_type: Any = None,
    **options: Unpack[_ActivityOptions],
) -> Any: ...
async def execute_activity_method(
    activity: Callable[..., Any],
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    result_type: Any = None,
    **options: Unpack[_ActivityOptions],
) -> Any:
    """Run an activity that is a method (``Service.fetch``) and return its result. Same as
    :func:`execute_activity`, typed for methods; the name matches temporalio's."""
    return await _start_activity(activity, arg, args=args, result_type=result_type, **options)


start_activity_class = start_activity
"""Start an activity that is a callable class (pass the class; the worker calls the
instance it registered). Same as :func:`start_activity`."""

execute_activity_class = execute_activity
"""Run an activity that is a callable class and return its result. Same as
:func:`execute_activity`."""


def patched(patch_id: str) -> bool:
    """Whether to take the new code path of a change to a running workflow.

    Returns True in new runs (and records the decision); in a run whose history predates
    the change it returns False, so old runs keep replaying the old path::

        if workflow.patched("send-email-v2"):
            await workflow.execute_activity(send_email_v2, ...)
        else:
            await workflow.execute_activity(send_email, ...)
    """
    return runtime().patched(patch_id, deprecated=False)


def deprecate_patch(patch_id: str) -> None:
    """Declare that no run still needs the old path of ``patch_id``: the ``patched`` branch
    can be removed, and histories with or without the patch marker both replay."""
    runtime().patched(patch_id, deprecated=True)


@overload
async def start_child_workflow(
    workflow: Callable[[_S], Awaitable[_R]], **options: Unpack[_ChildOptions]
) -> ChildWorkflowHandle[_R]: ...
@overload
async def start_child_workflow(
    workflow: Callable[[_S, _A], Awaitable[_R]], arg: _A, **options: Unpack[_ChildOptions]
) -> ChildWorkflowHandle[_R]: ...
@overload
async def start_child_workflow(
    workflow: str | type,
    arg: Any = ...,
    *,
    args: Sequence[Any] = (),
    result_type: type[_R],
    **options: Unpack[_ChildOptions],
) -> ChildWorkflowHandle[_R]: ...
@overload
async def start_child_workflow(
    workflow: str | type,
    arg: Any = ...,
    *,
    args: Sequence[Any] = (),
    result_type: Any = None,
    **options: Unpack[_ChildOptions],
) -> ChildWorkflowHandle[Any]: ...
@overload
async def start_child_workflow(
    workflow: Callable[..., Awaitable[Any]],
    *,
    args: Sequence[Any],
    result_type: Any = None,
    **options: Unpack[_ChildOptions],
) -> ChildWorkflowHandle[Any]: ...
async def start_child_workflow(
    workflow: Any,
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    id: str | None = None,
    task_queue: str | None = None,
    parent_close_policy: str = ParentClosePolicy.TERMINATE,
    memo: dict[str, Any] | None = None,
    result_type: Any = None,
) -> ChildWorkflowHandle[Any]:
    """Start a child workflow and return its handle once it has started.

    Args:
        workflow: The child's ``run`` method, class, or workflow type name.
        id: Workflow id of the child; defaults to ``"<parent id>/child-<n>"``.
        parent_close_policy: A :class:`ParentClosePolicy` value.

    Raises:
        WorkflowAlreadyStartedError: A workflow with this id is already running.
    """
    policy = enum_value(ParentClosePolicy, parent_close_policy, "parent_close_policy")
    return await runtime().start_child_workflow(
        workflow,
        _one_or_many(arg, args),
        ChildWorkflowOptions(id=id, task_queue=task_queue, parent_close_policy=policy, memo=memo),
        result_type,
    )


@overload
async def execute_child_workflow(
    workflow: Callable[[_S], Awaitable[_R]], **options: Unpack[_ChildOptions]
) -> _R: ...
@overload
async def execute_child_workflow(
    workflow: Callable[[_S, _A], Awaitable[_R]], arg: _A, **options: Unpack[_ChildOptions]
) -> _R: ...
@overload
async def execute_child_workflow(
    workflow: str | type,
    arg: Any = ...,
    *,
    args: Sequence[Any] = (),
    result_type: type[_R],
    **options: Unpack[_ChildOptions],
) -> _R: ...
@overload
async def execute_child_workflow(
    workflow: str | type,
    arg: Any = ...,
    *,
    args: Sequence[Any] = (),
    result_type: Any = None,
    **options: Unpack[_ChildOptions],
) -> Any: ...
@overload
async def execute_child_workflow(
    workflow: Callable[..., Awaitable[Any]],
    *,
    args: Sequence[Any],
    result_type: Any = None,
    **options: Unpack[_ChildOptions],
) -> Any: ...
async def execute_child_workflow(
    workflow: Any,
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    id: str | None = None,
    task_queue: str | None = None,
    parent_close_policy: str = ParentClosePolicy.TERMINATE,
    memo: dict[str, Any] | None = None,
    result_type: Any = None,
) -> Any:
    """Run a child workflow and return its result.

    Raises:
        ChildWorkflowError: The child failed, was cancelled or terminated.
    """
    handle = await start_child_workflow(
        workflow,
        arg,
        args=args,
        id=id,
        task_queue=task_queue,
        parent_close_policy=parent_close_policy,
        memo=memo,
        result_type=result_type,
    )
    return await handle


def get_external_workflow_handle(
    workflow_id: str, *, run_id: str | None = None
) -> ExternalWorkflowHandle:
    """A handle to signal or cancel another workflow from workflow code."""
    return runtime().external_workflow(workflow_id, run_id)


def continue_as_new(
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    workflow: Any = None,
    task_queue: str | None = None,
) -> NoReturn:
    """Close this run and start a new run of the same workflow id with a fresh history.

    Raises ``ContinueAsNewError`` (a ``BaseException``); let it propagate out of ``run``.
    """
    runtime().continue_as_new(_one_or_many(arg, args), workflow, task_queue)


def set_signal_handler(name: str, handler: Callable[..., Any] | None) -> None:
    """Register (or with ``None`` remove) a signal handler at run time. Signals that
    arrived earlier for this name are delivered to it now, in order."""
    runtime().set_handler("signal", name, handler)


def set_dynamic_signal_handler(handler: Callable[..., Any] | None) -> None:
    """Register a catch-all signal handler, called as ``handler(name, args)``."""
    runtime().set_handler("signal", None, handler)


def upsert_search_attributes(
    attributes: Mapping[str, Any] | Sequence[SearchAttributeUpdate[Any]],
) -> None:
    """Set search attributes of this run, so that
    ``client.list_workflows(search_attributes={...})`` and the CLI and web UI can find it.

    Either temporalio's typed updates (``[PRIORITY.value_set(2), TAGS.value_unset()]``, keys
    from :class:`~duragent.search_attributes.SearchAttributeKey`) or a mapping of name to
    value (``None`` removes one), whose type follows the value (str: Keyword, int: Int,
    float: Double, bool: Bool, datetime: Datetime, list of str: KeywordList). Datetimes
    must be timezone-aware; ``describe()`` returns them as ISO-8601 strings in UTC. A
    filter matches a list that contains the value. Recorded in history, so it replays. On
    Temporal each name must be registered on the namespace with its type (``temporal
    operator search-attribute create --name N --type Keyword``).

    Raises:
        ConfigurationError: A bad name or value.
    """
    values, kinds = split_search_attributes(attributes, removals=True)
    runtime().upsert_search_attributes(values, kinds)


def upsert_memo(memo: Mapping[str, Any]) -> None:
    """Set memo entries of this run (``None`` removes one): values shown by
    ``describe()``, not indexed. Values are converted like activity arguments (dataclasses
    and pydantic models become JSON). Recorded in history, so it replays."""
    converter = DataConverter()
    values = {
        k: None if v is None else converter.encode(v, what=f"memo {k!r}").to_json_value()
        for k, v in check_memo(memo).items()
    }
    runtime().upsert_memo(values)


def all_handlers_finished() -> bool:
    """Whether no signal or update handler is still running (await it before returning
    from ``run`` so that none is abandoned)."""
    return runtime().all_handlers_finished()


class _ReplaySafeLogger(logging.LoggerAdapter[logging.Logger]):
    """Logs only when not replaying, and tags records with the workflow id."""

    def isEnabledFor(self, level: int) -> bool:
        if in_workflow() and runtime().is_replaying():
            return False
        return super().isEnabledFor(level)

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        if in_workflow():
            wf = runtime().info()
            msg = f"{msg} [{wf.workflow_type} {wf.workflow_id}]"
        return msg, kwargs


logger = _ReplaySafeLogger(logging.getLogger("duragent.workflow"), {})
"""A logger for workflow code that stays quiet while history is replayed."""


# Kept for introspection by tools (e.g. the CLI) without importing internals.
WorkflowDefinitionType = WorkflowDefinition
