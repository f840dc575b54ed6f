"""One workflow instance: events in, commands out.

:meth:`WorkflowInstance.activate` applies a batch of input events (the run started, an
activity finished, a timer fired, a signal arrived...) to the workflow object, runs its
code on the deterministic loop until nothing is ready, and returns the commands the code
asked for. It never raises: an unexpected exception in workflow code is returned as a
*task failure*, which leaves the run open so that fixed code can continue it.

The instance also implements :class:`~duragent._runtime.WorkflowRuntime`, the backend of
the ``duragent.workflow`` functions.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import random as _random
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, NoReturn

from .._definitions import (
    WorkflowDefinition,
    get_activity_definition,
    workflow_definition_of,
)
from .._runtime import (
    ActivityOptions,
    LocalActivityOptions,
    WorkflowRuntime,
    current_runtime,
)
from .._workflow_interceptors import InterceptedRuntime, intercepted
from ..errors import (
    ActivityError,
    ConfigurationError,
    FailureError,
    QueryError,
    RetryState,
)
from ..interceptor import ExecuteWorkflowInput, Interceptor
from ..serde import DataConverter, Payload
from ..workflow import (
    ActivityHandle,
    ContinueAsNewError,
    WorkflowInfo,
)
from . import commands as cmd
from . import events as ev
from .children import ChildWorkflows, PendingChild
from .completion import TaskCompletion
from .failure import Failure, FailureKind, exception_from_failure, failure_from_exception
from .fork import FORK_STATE_KEY, ForkRecording
from .loop import WorkflowEventLoop, WorkflowTimerHandle
from .messages import Handlers, MessageHandling

DEFAULT_CONTINUE_AS_NEW_THRESHOLD = 10_000
PATCH_MARKER = "patch"


class InstanceDisposed(BaseException):
    """Raised into workflow code that runs while its evicted instance is torn down."""


@dataclass(frozen=True, slots=True)
class Activation:
    """A batch of input events for one workflow task."""

    events: Sequence[ev.Event]
    time: int
    """Workflow time of this task, ms since the epoch."""
    replaying: bool
    history_length: int
    """Last event id the task had seen."""
    patches: frozenset[str] = frozenset()
    """Patch ids recorded by this task in history (replay only)."""


@dataclass(slots=True)
class _PendingActivity:
    handle: ActivityHandle[Any]
    activity_type: str
    result_type: Any
    local: cmd.ScheduleLocalActivity | None = None
    """For a local activity: how to run it (again, after a backoff timer)."""
    backoff: asyncio.TimerHandle | None = None


@dataclass(slots=True)
class _Condition:
    fn: Callable[[], bool]
    future: asyncio.Future[None]
    context: contextvars.Context
    """The waiting task's context: the predicate may call workflow functions."""


class WorkflowInstance(MessageHandling, ChildWorkflows, WorkflowRuntime):
    """A live workflow object plus the state the engine keeps for it."""

    def __init__(
        self,
        definition: WorkflowDefinition,
        *,
        run_id: str,
        converter: DataConverter,
        continue_as_new_threshold: int = DEFAULT_CONTINUE_AS_NEW_THRESHOLD,
        run_state: Mapping[str, Any] | None = None,
        interceptors: Sequence[Interceptor] = (),
    ) -> None:
        self.definition = definition
        self._interceptors = interceptors
        self._intercepted: InterceptedRuntime | None = None
        """The worker's workflow interceptors around this run (made with the object)."""
        self.run_id = run_id
        self._converter = converter
        self._continue_as_new_threshold = continue_as_new_threshold
        self._loop = WorkflowEventLoop(self)
        self._context = contextvars.copy_context()
        self._context.run(current_runtime.set, self)

        self._commands: list[cmd.Command] = []
        self._local_requests: list[cmd.ScheduleLocalActivity] = []
        self._local_cancels: list[int] = []
        self._next_seq = 1
        self._activities: dict[int, _PendingActivity] = {}
        self._timers: dict[int, WorkflowTimerHandle] = {}
        self._children: dict[int, PendingChild] = {}
        self._externals: dict[int, asyncio.Future[None]] = {}
        self._conditions: list[_Condition] = []
        self._buffered_signals: dict[str, list[tuple[Payload, ...]]] = {}
        self._runtime_handlers = Handlers()
        self._handler_tasks: set[asyncio.Task[Any]] = set()

        self._object: Any = None
        self._info: WorkflowInfo | None = None
        self._main: asyncio.Task[Any] | None = None
        self._start_args: list[Any] | None = None
        self._time_ms = 0
        self._replaying = False
        self._history_length = 0
        self._activation_patches: frozenset[str] = frozenset()
        self._patches: dict[str, bool] = {}
        # Seeded per run; made on first use (a cached instance is otherwise ~20% bigger).
        self._random: _random.Random | None = None
        self._cancel_requested = False
        self._read_only: str | None = None
        self._task_failure: BaseException | None = None
        self._disposed = False
        self._run_state: dict[str, Any] = dict(run_state or {})
        self.closed = False
        """Whether the code issued its close command (complete, fail, cancel, continue)."""

    # ------------------------------------------------------------------------- activation

    def activate(self, activation: Activation) -> TaskCompletion:
        """Apply one batch of input events and run the code until it waits again: the
        commands the code asked for (at the activation's position and time), or the task
        failure that prevented them."""
        self._commands = []
        self._local_requests = []
        self._local_cancels = []
        self._task_failure = None
        self._time_ms = activation.time
        self._loop.set_time_ms(activation.time)
        self._replaying = activation.replaying
        self._history_length = activation.history_length
        self._activation_patches = activation.patches
        try:
            for event in activation.events:
                self._apply(event)
            if self._start_args is not None:
                self._start_main(self._start_args)
                self._start_args = None
            self._loop.run_until_idle(self._check_conditions)
            for exc in self._loop.take_unhandled():
                self._fail_task(exc)
            self._check_main()
        except BaseException as exc:  # a bug here must not take the worker down
            self._fail_task(exc)
        if self._task_failure is not None:
            return TaskCompletion(
                activation.history_length, activation.time, (), failure=self._task_failure
            )
        return TaskCompletion(
            activation.history_length,
            activation.time,
            self._commands,
            local_activities=self._local_requests,
            cancelled_local=self._local_cancels,
        )

    def _fail_task(self, exc: BaseException) -> None:
        if self._task_failure is None:
            self._task_failure = exc

    def _apply(self, event: ev.Event) -> None:
        handler = _APPLIERS.get(type(event))
        if handler is not None:
            handler(self, event)

    def _on_started(self, event: ev.Event) -> None:
        assert isinstance(event, ev.WorkflowExecutionStarted)
        self.construct(event)

    def construct(self, event: ev.WorkflowExecutionStarted) -> None:
        """Create the workflow object from its start event (once).

        Normally the first activation does this; a worker calls it earlier when updates
        must be validated before that activation runs (``__init__`` is the same call
        either way, so replay is unaffected).
        """
        if self._info is not None:
            return
        self._info = WorkflowInfo(
            workflow_id=event.workflow_id,
            run_id=self.run_id,
            workflow_type=event.workflow_type,
            task_queue=event.task_queue,
            attempt=event.attempt,
            start_time=datetime.fromtimestamp(event.time / 1000, tz=UTC),
            parent_workflow_id=event.parent_workflow_id,
            parent_run_id=event.parent_run_id,
            continued_run_id=event.continued_from_run_id,
            first_run_id=event.first_run_id or self.run_id,
            _history_length=lambda: self._history_length,
            _continue_as_new_threshold=self._continue_as_new_threshold,
        )
        if event.fork is not None:
            self._run_state[FORK_STATE_KEY] = ForkRecording(event.fork, event.fork_results)
        arg_hints, _ = self.definition.hints
        args = self._converter.decode_all(event.input, arg_hints, what="workflow argument")
        if self._interceptors:
            self._intercepted = self._context.run(intercepted, self, self._interceptors)
            if self._intercepted is not None:
                self._context.run(current_runtime.set, self._intercepted)
        cls = self.definition.cls
        ctx = self._context.copy()
        self._object = ctx.run(cls, *args) if self.definition.init_takes_args else ctx.run(cls)
        # The run method starts after every event of this batch is applied, so signals that
        # came with the start (signal-with-start) are handled before run's first line.
        self._start_args = args

    def _start_main(self, args: list[Any]) -> None:
        run = getattr(self._object, self.definition.run_fn.__name__)
        if self._intercepted is not None:
            coro: Coroutine[Any, Any, Any] = self._intercepted.inbound.execute_workflow(
                ExecuteWorkflowInput(type=self.definition.cls, run_fn=run, args=args)
            )
        else:
            coro = run(*args)
        self._main = self._loop.create_task(coro, name="workflow-run", context=self._context.copy())
        if self._cancel_requested:
            self._main.cancel()

    def _check_main(self) -> None:
        main = self._main
        if main is None or not main.done() or self.closed:
            return
        if main.cancelled():
            self._close(cmd.CancelWorkflow())
            return
        exc = main.exception()
        if exc is None:
            result = self._converter.encode(main.result(), what="workflow result")
            self._close(cmd.CompleteWorkflow(result=result))
        elif isinstance(exc, ContinueAsNewError):
            self._close(self._continue_as_new_command(exc))
        elif isinstance(exc, asyncio.CancelledError) and self._cancel_requested:
            self._close(cmd.CancelWorkflow())
        elif self._fails_workflow(exc):
            self._close(cmd.FailWorkflow(failure=failure_from_exception(exc, self._converter)))
        else:
            self._fail_task(exc)

    def _fails_workflow(self, exc: BaseException) -> bool:
        return isinstance(exc, (FailureError, *self.definition.failure_exception_types))

    def _close(self, command: cmd.Command) -> None:
        self._commands.append(command)
        self.closed = True

    def _continue_as_new_command(self, exc: ContinueAsNewError) -> cmd.ContinueAsNew:
        info = self.info()
        workflow_type = exc.workflow_type or info.workflow_type
        return cmd.ContinueAsNew(
            workflow_type=workflow_type,
            task_queue=exc.task_queue or info.task_queue,
            input=self._converter.encode_all(exc.input_args, what="continue-as-new argument"),
        )

    def _check_conditions(self) -> bool:
        """Resolve satisfied ``wait_condition`` calls; True if any was resolved."""
        resolved = False
        for cond in list(self._conditions):
            if cond.future.done():
                self._conditions.remove(cond)
                continue
            try:
                ok = cond.context.run(cond.fn)
            except Exception as exc:
                self._conditions.remove(cond)
                cond.future.set_exception(exc)
                resolved = True
                continue
            if ok:
                self._conditions.remove(cond)
                cond.future.set_result(None)
                resolved = True
        return resolved

    # -- activity and timer resolutions (children: children.py) ------------------------------

    def _on_activity_completed(self, event: ev.Event) -> None:
        assert isinstance(event, ev.ActivityTaskCompleted)
        pending = self._activities.pop(event.seq, None)
        if pending is None or pending.handle.done():
            return
        try:
            value = self._converter.decode(
                event.result,
                pending.result_type,
                what=f"result of activity {pending.activity_type!r}",
            )
        except Exception as exc:
            pending.handle.set_exception(exc)
        else:
            pending.handle.set_result(value)

    def _on_activity_failed(self, event: ev.Event) -> None:
        assert isinstance(
            event, ev.ActivityTaskFailed | ev.ActivityTaskTimedOut | ev.ActivityTaskCanceled
        )
        pending = self._activities.pop(event.seq, None)
        if pending is None or pending.handle.done():
            return
        if isinstance(event, ev.ActivityTaskCanceled):
            failure = Failure(
                message="activity cancelled",
                kind=FailureKind.CANCELLED,
                type="CancelledError",
                details=event.details,
            )
            state = RetryState.CANCEL_REQUESTED
        else:
            failure, state = event.failure, event.retry_state
        pending.handle.set_exception(
            self._activity_error(
                "activity", pending.activity_type, event.seq, event.attempt, state, failure
            )
        )

    def _activity_error(
        self, what: str, activity_type: str, seq: int, attempt: int, state: str, cause: Failure
    ) -> ActivityError:
        """The error workflow code sees, with its recorded form in ``failure`` (as
        temporalio's: the activity's facts, the cause's type, message and stack trace)."""
        cause_exc = exception_from_failure(cause, self._converter)
        message = f"{what} {activity_type!r} failed: {cause_exc}"
        error = ActivityError(
            message,
            activity_type=activity_type,
            activity_seq=seq,
            attempt=attempt,
            retry_state=state,
            cause=cause_exc,
        )
        info: dict[str, Any] = {
            "activity_type": activity_type,
            "activity_seq": seq,
            "attempt": attempt,
        }
        if state:
            info["retry_state"] = state
        error.failure = Failure(
            message=message,
            kind=FailureKind.ACTIVITY,
            type="ActivityError",
            info=info,
            cause=cause,
        )
        return error

    def _on_local_activity(self, event: ev.Event) -> None:
        assert isinstance(event, ev.LocalActivityRecorded)
        pending = self._activities.get(event.seq)
        if pending is None or pending.handle.done():
            self._activities.pop(event.seq, None)
            return
        if event.backoff_ms is not None and pending.local is not None:
            # Too long a backoff to hold the task for: wait on a durable timer, then run
            # the next attempt (a timer command of this task, so replay does the same).
            request = replace(
                pending.local, attempt=event.attempt + 1, scheduled_time=event.scheduled_time
            )
            pending.local = request

            def run_again() -> None:
                pending.backoff = None
                if self._activities.get(event.seq) is pending and not pending.handle.done():
                    self._local_requests.append(request)

            pending.backoff = self._loop.call_later(event.backoff_ms / 1000, run_again)
            return
        del self._activities[event.seq]
        if event.failure is None:
            try:
                value = self._converter.decode(
                    event.result or Payload(b"null"),
                    pending.result_type,
                    what=f"result of local activity {pending.activity_type!r}",
                )
            except Exception as exc:
                pending.handle.set_exception(exc)
            else:
                pending.handle.set_result(value)
            return
        pending.handle.set_exception(
            self._activity_error(
                "local activity",
                pending.activity_type,
                event.seq,
                event.attempt,
                event.retry_state,
                event.failure,
            )
        )

    def _on_timer_fired(self, event: ev.Event) -> None:
        assert isinstance(event, ev.TimerFired)
        handle = self._timers.pop(event.seq, None)
        if handle is not None:
            self._loop.fire_timer(handle)

    # -- cancellation (signals, updates and queries: messages.py) ---------------------------

    def _on_cancel_requested(self, event: ev.Event) -> None:
        if self._cancel_requested:
            return  # only the first request cancels; a second must not interrupt cleanup
        self._cancel_requested = True
        if self._main is not None and not self._main.done():
            self._main.cancel()

    # ---------------------------------------------------------------------- timer sink

    def start_timer(self, delay_ms: int, handle: WorkflowTimerHandle) -> None:
        self._check_writable("start a timer")
        seq = self._take_seq()
        handle.seq = seq
        self._timers[seq] = handle
        self._commands.append(cmd.StartTimer(seq=seq, duration_ms=delay_ms))

    def cancel_timer(self, handle: WorkflowTimerHandle) -> None:
        if self._timers.pop(handle.seq, None) is None:
            return
        if not self._drop_pending(lambda c: isinstance(c, cmd.StartTimer) and c.seq == handle.seq):
            self._commands.append(cmd.CancelTimer(seq=handle.seq))

    def _drop_pending(self, pred: Callable[[cmd.Command], bool]) -> bool:
        """Remove a not-yet-recorded command of this activation (started and cancelled in
        the same task: nothing needs recording)."""
        for i, c in enumerate(self._commands):
            if pred(c):
                del self._commands[i]
                return True
        return False

    def _take_seq(self) -> int:
        seq = self._next_seq
        self._next_seq += 1
        return seq

    def dispose(self) -> None:
        """Tear down an evicted instance: cancel its coroutines (workflow code that tries
        to issue commands while being torn down gets :class:`InstanceDisposed`) and drop
        all state, so nothing runs later at garbage collection."""
        if self._disposed:
            return
        self._disposed = True
        tasks = [t for t in list(self._loop.tasks) if not t.done()]
        for task in tasks:
            with contextlib.suppress(BaseException):
                task.cancel()
        with contextlib.suppress(BaseException):  # teardown must not fail
            self._loop.run_until_idle()
        self._loop.take_unhandled()
        self._loop.close()
        self._conditions.clear()
        self._activities.clear()
        self._timers.clear()
        self._children.clear()
        self._externals.clear()
        self._handler_tasks.clear()
        self._main = None
        self._object = None

    def _check_writable(self, action: str) -> None:
        if self._disposed:
            raise InstanceDisposed()
        if self._read_only is not None:
            raise QueryError(f"{self._read_only} tried to {action}; it must be read-only")
        if self.closed:
            raise ConfigurationError(f"cannot {action}: the workflow has already closed")

    # ------------------------------------------------------------------ WorkflowRuntime

    def info(self) -> WorkflowInfo:
        if self._info is None:
            raise ConfigurationError("workflow info is not available before the run starts")
        return self._info

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._time_ms / 1000, tz=UTC)

    def random(self) -> _random.Random:
        if self._random is None:
            seed = int.from_bytes(hashlib.sha256(self.run_id.encode()).digest()[:8])
            self._random = _random.Random(seed)
        return self._random

    def uuid4(self) -> uuid.UUID:
        return uuid.UUID(int=self.random().getrandbits(128), version=4)

    def is_replaying(self) -> bool:
        return self._replaying

    def _activity_ref(
        self, activity: Callable[..., Any] | str, result_type: Any
    ) -> tuple[str, Any, bool | None]:
        """(type name, result type, the definition's at_most_once) of an activity given by
        function, method, class or name."""
        if isinstance(activity, str):
            return activity, result_type, None
        defn = get_activity_definition(activity)
        if defn is None:
            raise ConfigurationError(
                f"{activity!r} is not an @activity.defn function; pass it or its name"
            )
        if defn.dynamic:
            raise ConfigurationError("call a dynamic activity by the type name it handles")
        return (
            defn.name,
            result_type if result_type is not None else defn.hints[1],
            (defn.at_most_once),
        )

    def _new_activity(
        self, name: str, result_type: Any, *, start_to_close: Any, schedule_to_close: Any
    ) -> tuple[int, _PendingActivity]:
        if start_to_close is None and schedule_to_close is None:
            raise ConfigurationError(
                f"activity {name!r} needs start_to_close_timeout or schedule_to_close_timeout"
            )
        seq = self._take_seq()
        handle: ActivityHandle[Any] = ActivityHandle(loop=self._loop)
        handle._stable_hash = self._loop.next_hash()  # pyright: ignore[reportPrivateUsage]
        pending = _PendingActivity(handle, name, result_type)
        self._activities[seq] = pending
        return seq, pending

    def start_activity(
        self,
        activity: Callable[..., Any] | str,
        args: Sequence[Any],
        options: ActivityOptions,
        result_type: Any,
    ) -> ActivityHandle[Any]:
        self._check_writable("start an activity")
        name, result_type, defn_once = self._activity_ref(activity, result_type)
        at_most_once = options.at_most_once
        if at_most_once is None:
            at_most_once = bool(defn_once)
        seq, pending = self._new_activity(
            name,
            result_type,
            start_to_close=options.start_to_close_timeout,
            schedule_to_close=options.schedule_to_close_timeout,
        )

        def on_cancel() -> None:
            if self._disposed:
                return
            self._activities.pop(seq, None)
            if not self._drop_pending(
                lambda c: isinstance(c, cmd.ScheduleActivity) and c.seq == seq
            ):
                self._commands.append(cmd.RequestCancelActivity(seq=seq))

        pending.handle._on_cancel = on_cancel  # pyright: ignore[reportPrivateUsage]
        self._commands.append(
            cmd.ScheduleActivity(
                seq=seq,
                activity_type=name,
                task_queue=options.task_queue or self.info().task_queue,
                input=self._converter.encode_all(args, what=f"argument of activity {name!r}"),
                start_to_close_timeout_ms=_ms(options.start_to_close_timeout),
                schedule_to_close_timeout_ms=_ms(options.schedule_to_close_timeout),
                heartbeat_timeout_ms=_ms(options.heartbeat_timeout),
                retry_policy=options.retry_policy,
                at_most_once=at_most_once,
                summary=options.summary,
            )
        )
        return pending.handle

    def start_local_activity(
        self,
        activity: Callable[..., Any] | str,
        args: Sequence[Any],
        options: LocalActivityOptions,
        result_type: Any,
    ) -> ActivityHandle[Any]:
        self._check_writable("start a local activity")
        name, result_type, _ = self._activity_ref(activity, result_type)
        seq, pending = self._new_activity(
            name,
            result_type,
            start_to_close=options.start_to_close_timeout,
            schedule_to_close=options.schedule_to_close_timeout,
        )
        threshold = options.local_retry_threshold
        request = cmd.ScheduleLocalActivity(
            seq=seq,
            activity_type=name,
            input=self._converter.encode_all(args, what=f"argument of local activity {name!r}"),
            start_to_close_timeout_ms=_ms(options.start_to_close_timeout),
            schedule_to_close_timeout_ms=_ms(options.schedule_to_close_timeout),
            retry_policy=options.retry_policy,
            local_retry_threshold_ms=(
                int(threshold.total_seconds() * 1000) if threshold is not None else 60_000
            ),
            summary=options.summary,
        )
        pending.local = request

        def on_cancel() -> None:
            if self._disposed:
                return
            self._activities.pop(seq, None)
            if pending.backoff is not None:
                pending.backoff.cancel()  # waiting for its next attempt: nothing runs
                return
            asked = [r for r in self._local_requests if r.seq == seq]
            if asked:
                self._local_requests.remove(asked[0])  # never started
            else:
                self._local_cancels.append(seq)

        pending.handle._on_cancel = on_cancel  # pyright: ignore[reportPrivateUsage]
        self._local_requests.append(request)
        return pending.handle

    async def _wait_condition(self, fn: Callable[[], bool], timeout: float | None) -> None:
        if fn():
            return
        future: asyncio.Future[None] = self._loop.create_future()
        self._conditions.append(_Condition(fn, future, contextvars.copy_context()))
        if timeout is None:
            await future
        else:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
            # cancellation of the workflow that arrives together with the condition.
            async with asyncio.timeout(timeout):
                await future

    def wait_condition(self, fn: Callable[[], bool], timeout: float | None) -> Awaitable[None]:
        self._check_writable("wait for a condition")
        return self._wait_condition(fn, timeout)

    def patched(self, patch_id: str, *, deprecated: bool) -> bool:
        self._check_writable("check a patch")
        if patch_id in self._patches:
            return self._patches[patch_id]
        use = deprecated or not self._replaying or patch_id in self._activation_patches
        if use and not (deprecated and self._replaying):
            self._commands.append(
                cmd.RecordMarker(
                    name=PATCH_MARKER, details={"id": patch_id, "deprecated": deprecated}
                )
            )
        self._patches[patch_id] = use
        return use

    def continue_as_new(
        self, args: Sequence[Any], workflow: Any, task_queue: str | None
    ) -> NoReturn:
        self._check_writable("continue as new")
        workflow_type = None
        if workflow is not None:
            workflow_type = (
                workflow if isinstance(workflow, str) else workflow_definition_of(workflow).name
            )
        raise ContinueAsNewError(args, workflow_type, task_queue)

    def run_state(self) -> dict[str, Any]:
        return self._run_state

    def record_marker(self, name: str, details: dict[str, Any]) -> None:
        self._check_writable("record a marker")
        self._commands.append(cmd.RecordMarker(name=name, details=details))


def _ms(delta: Any) -> int | None:
    return None if delta is None else int(delta.total_seconds() * 1000)


_APPLIERS: dict[type[ev.Event], Callable[[WorkflowInstance, ev.Event], None]] = {
    ev.WorkflowExecutionStarted: WorkflowInstance._on_started,  # pyright: ignore[reportPrivateUsage]
    ev.ActivityTaskCompleted: WorkflowInstance._on_activity_completed,  # pyright: ignore[reportPrivateUsage]
    ev.ActivityTaskFailed: WorkflowInstance._on_activity_failed,  # pyright: ignore[reportPrivateUsage]
    ev.ActivityTaskTimedOut: WorkflowInstance._on_activity_failed,  # pyright: ignore[reportPrivateUsage]
    ev.ActivityTaskCanceled: WorkflowInstance._on_activity_failed,  # pyright: ignore[reportPrivateUsage]
    ev.TimerFired: WorkflowInstance._on_timer_fired,  # pyright: ignore[reportPrivateUsage]
    ev.LocalActivityRecorded: WorkflowInstance._on_local_activity,  # pyright: ignore[reportPrivateUsage]
    ev.WorkflowExecutionSignaled: WorkflowInstance._on_signaled,  # pyright: ignore[reportPrivateUsage]
    ev.WorkflowExecutionCancelRequested: WorkflowInstance._on_cancel_requested,  # pyright: ignore[reportPrivateUsage]
    ev.WorkflowExecutionUpdateAccepted: WorkflowInstance._on_update_accepted,  # pyright: ignore[reportPrivateUsage]
    ev.ChildWorkflowExecutionStarted: WorkflowInstance._on_child_started,  # pyright: ignore[reportPrivateUsage]
    ev.StartChildWorkflowExecutionFailed: WorkflowInstance._on_child_start_failed,  # pyright: ignore[reportPrivateUsage]
    ev.ChildWorkflowExecutionCompleted: WorkflowInstance._on_child_closed,  # pyright: ignore[reportPrivateUsage]
    ev.ChildWorkflowExecutionFailed: WorkflowInstance._on_child_closed,  # pyright: ignore[reportPrivateUsage]
    ev.ExternalWorkflowExecutionSignaled: WorkflowInstance._on_external_resolved,  # pyright: ignore[reportPrivateUsage]
    ev.ExternalWorkflowExecutionCancelRequested: WorkflowInstance._on_external_resolved,  # pyright: ignore[reportPrivateUsage]
    ev.ExternalWorkflowRequestFailed: WorkflowInstance._on_external_resolved,  # pyright: ignore[reportPrivateUsage]
}
