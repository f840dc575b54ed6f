"""``TemporalRuntime``: the :class:`~duragent._runtime.WorkflowRuntime` of a workflow run on
Temporal, implemented with ``temporalio.workflow`` (public API only).

Everything workflow code asks for becomes the temporalio call of the same meaning:
activities, timers, conditions, patches, children, external workflows, continue-as-new.
Duragent's handles are futures on the workflow's loop that mirror temporalio's, so their
``cancel()``, errors and deterministic hashes behave as on the embedded engine.
"""

from __future__ import annotations

import asyncio
import random as _random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final, NoReturn

import temporalio.common
import temporalio.exceptions as tx
import temporalio.workflow as tw
from temporalio.common import RawValue

from .._definitions import WorkflowDefinition, get_activity_definition, workflow_definition_of
from .._runtime import (
    ActivityOptions,
    ChildWorkflowOptions,
    LocalActivityOptions,
    WorkflowRuntime,
    current_runtime,
)
from ..errors import ActivityError, ConfigurationError, TimeoutError, WorkflowAlreadyStartedError
from ..interceptor import Interceptor
from ..retry import RetryPolicy
from ..workflow import ActivityHandle, ChildWorkflowHandle, ExternalWorkflowHandle, WorkflowInfo
from ._failures import interrupted, to_duragent
from ._payloads import PayloadBridge
from ._search_attributes import updates as search_attribute_updates

if TYPE_CHECKING:
    from ._instance import TemporalWorkflowInstance

__all__ = ["AUTO_HEARTBEAT", "MARKER_MEMO_PREFIX", "TemporalRuntime", "WorkerSettings"]

TIMEOUT_START_TO_CLOSE: Final = "TemporalTimeout:StartToClose"
TIMEOUT_HEARTBEAT: Final = "TemporalTimeout:Heartbeat"
AUTO_HEARTBEAT: Final = "DuragentAutoHeartbeat"
"""Listed among an activity's non-retryable error types (no error has this type) when
Duragent gave the call its default heartbeat timeout (at-most-once calls, or every call with
``activity_heartbeat_timeout``): the worker then heartbeats for the activity, so only a dead
or stuck worker times it out."""
MARKER_MEMO_PREFIX: Final = "duragent.marker."
"""Markers are memo entries ``duragent.marker.<n>.<name>`` (a WorkflowPropertiesModified
event): Temporal has no user marker command, and memo is readable with no worker."""

_POLICIES: Final = {
    "terminate": tw.ParentClosePolicy.TERMINATE,
    "request_cancel": tw.ParentClosePolicy.REQUEST_CANCEL,
    "abandon": tw.ParentClosePolicy.ABANDON,
}


@dataclass
class WorkerSettings:
    """What every run on one worker shares."""

    bridge: PayloadBridge
    definitions: dict[str, WorkflowDefinition]
    run_state_defaults: dict[str, Any] = field(default_factory=lambda: {})
    continue_as_new_threshold: int = 10_000
    at_most_once_heartbeat: timedelta = timedelta(seconds=30)
    activity_heartbeat: timedelta | None = None
    """Heartbeat timeout for other calls that set none (the worker heartbeats for them)."""
    pending_approvals_attribute: bool = False
    """Whether the server has the ``DuragentPendingApprovals`` search attribute."""
    interceptors: tuple[Interceptor, ...] = ()
    """The worker's interceptors (their workflow side wraps every run)."""


def temporal_retry_policy(
    policy: RetryPolicy | None, extra_non_retryable: Sequence[str]
) -> temporalio.common.RetryPolicy | None:
    """Duragent's policy as Temporal's (same defaults and backoff arithmetic)."""
    if policy is None and not extra_non_retryable:
        return None
    policy = policy or RetryPolicy()
    return temporalio.common.RetryPolicy(
        initial_interval=policy.initial_interval,
        backoff_coefficient=policy.backoff_coefficient,
        maximum_interval=policy.maximum_interval or policy.initial_interval * 100,
        maximum_attempts=policy.maximum_attempts,
        non_retryable_error_types=[*policy.non_retryable_error_types, *extra_non_retryable],
    )


class TemporalRuntime(WorkflowRuntime):
    """The runtime of one workflow run on Temporal."""

    def __init__(self, instance: TemporalWorkflowInstance, settings: WorkerSettings) -> None:
        self._instance = instance
        self._settings = settings
        self._bridge = settings.bridge
        self._run_state: dict[str, Any] = dict(settings.run_state_defaults)
        self._info: WorkflowInfo | None = None
        self._hash = 0
        self._children = 0
        self._markers = 0
        self.visible: WorkflowRuntime = self
        """What workflow code sees as its runtime: this, or the worker's interceptors
        around it (``_workflow_interceptors``)."""

    @property
    def definition(self) -> WorkflowDefinition:
        return self._instance.definition

    def next_hash(self) -> int:
        """A creation number: handles hash by it, so sets of them iterate the same way
        on replay."""
        self._hash += 1
        return self._hash

    # -- facts -------------------------------------------------------------------------------

    def info(self) -> WorkflowInfo:
        if self._info is None:
            i = tw.info()
            self._info = WorkflowInfo(
                workflow_id=i.workflow_id,
                run_id=i.run_id,
                workflow_type=i.workflow_type,
                task_queue=i.task_queue,
                attempt=i.attempt,
                start_time=i.workflow_start_time,
                parent_workflow_id=i.parent.workflow_id if i.parent else None,
                parent_run_id=i.parent.run_id if i.parent else None,
                continued_run_id=i.continued_run_id,
                first_run_id=i.first_execution_run_id,
                _history_length=lambda: tw.info().get_current_history_length(),
                _continue_as_new_threshold=self._settings.continue_as_new_threshold,
            )
        return self._info

    def now(self) -> Any:
        return tw.now()

    def random(self) -> _random.Random:
        return tw.random()

    def uuid4(self) -> uuid.UUID:
        return tw.uuid4()

    def is_replaying(self) -> bool:
        return tw.unsafe.is_replaying()

    # -- activities --------------------------------------------------------------------------

    def _activity_ref(
        self, activity: Callable[..., Any] | str, result_type: Any
    ) -> tuple[str, Any, bool | None]:
        """(type name, result type, the definition's at_most_once)."""
        if isinstance(activity, str):
            return activity, result_type, None
        defn = get_activity_definition(activity)
        if defn is None:
            raise ConfigurationError(
                f"{activity!r} is not an @activity.defn function; pass it or its name"
            )
        if defn.dynamic:
            raise ConfigurationError("call a dynamic activity by the type name it handles")
        hint = result_type if result_type is not None else defn.hints[1]
        return defn.name, hint, defn.at_most_once

    def start_activity(
        self,
        activity: Callable[..., Any] | str,
        args: Sequence[Any],
        options: ActivityOptions,
        result_type: Any,
    ) -> ActivityHandle[Any]:
        name, result_type, defn_once = self._activity_ref(activity, result_type)
        at_most_once = bool(defn_once) if options.at_most_once is None else options.at_most_once
        if options.start_to_close_timeout is None and options.schedule_to_close_timeout is None:
            raise ConfigurationError(
                f"activity {name!r} needs start_to_close_timeout or schedule_to_close_timeout"
            )
        raws = self._bridge.to_raws(args, what=f"argument of activity {name!r}")
        heartbeat = options.heartbeat_timeout
        extra: list[str] = []
        if at_most_once:
            # Crash detection on Temporal is by timeout: a timed-out attempt may have run,
            # so it must not be retried (the server's rule for "TemporalTimeout:<type>").
            extra = [TIMEOUT_START_TO_CLOSE, TIMEOUT_HEARTBEAT]
            if heartbeat is None:
                heartbeat = self._settings.at_most_once_heartbeat
                extra.append(AUTO_HEARTBEAT)
        elif heartbeat is None and self._settings.activity_heartbeat is not None:
            # A dead worker's attempt is retried after this, not after start-to-close.
            heartbeat = self._settings.activity_heartbeat
            extra = [AUTO_HEARTBEAT]
        task = tw.start_activity(
            name,
            args=raws,
            task_queue=options.task_queue,
            start_to_close_timeout=options.start_to_close_timeout,
            schedule_to_close_timeout=options.schedule_to_close_timeout,
            heartbeat_timeout=heartbeat,
            retry_policy=temporal_retry_policy(options.retry_policy, extra),
            summary=options.summary or None,
            result_type=RawValue,
        )
        return self._wrap_activity(task, name, result_type, at_most_once=at_most_once)

    def start_local_activity(
        self,
        activity: Callable[..., Any] | str,
        args: Sequence[Any],
        options: LocalActivityOptions,
        result_type: Any,
    ) -> ActivityHandle[Any]:
        name, result_type, _ = self._activity_ref(activity, result_type)
        if options.start_to_close_timeout is None and options.schedule_to_close_timeout is None:
            raise ConfigurationError(
                f"activity {name!r} needs start_to_close_timeout or schedule_to_close_timeout"
            )
        task = tw.start_local_activity(
            name,
            args=self._bridge.to_raws(args, what=f"argument of local activity {name!r}"),
            start_to_close_timeout=options.start_to_close_timeout,
            schedule_to_close_timeout=options.schedule_to_close_timeout,
            schedule_to_start_timeout=options.schedule_to_start_timeout,
            retry_policy=temporal_retry_policy(options.retry_policy, ()),
            local_retry_threshold=options.local_retry_threshold,
            summary=options.summary or None,
            result_type=RawValue,
        )
        return self._wrap_activity(task, name, result_type, at_most_once=False)

    def _wrap_activity(
        self, task: Any, name: str, result_type: Any, *, at_most_once: bool
    ) -> ActivityHandle[Any]:
        """A Duragent handle mirroring temporalio's activity handle ``task``."""
        handle: ActivityHandle[Any] = ActivityHandle(loop=asyncio.get_running_loop())
        handle._stable_hash = self.next_hash()  # pyright: ignore[reportPrivateUsage]

        def cancel_activity() -> None:
            task.cancel()

        handle._on_cancel = cancel_activity  # pyright: ignore[reportPrivateUsage]

        def resolve(t: asyncio.Task[Any]) -> None:
            if handle.done():
                return
            if t.cancelled():
                handle.cancel()
                return
            exc = t.exception()
            if exc is None:
                try:
                    value = self._bridge.decode(
                        t.result(), result_type, what=f"result of activity {name!r}"
                    )
                except Exception as err:
                    handle.set_exception(err)
                else:
                    handle.set_result(value)
                return
            err = to_duragent(exc, self._bridge)
            cause = getattr(err, "cause", None)
            if (
                at_most_once
                and isinstance(cause, TimeoutError)
                and cause.type in ("START_TO_CLOSE", "HEARTBEAT")
            ):
                cause = interrupted(name, cause)
                err = ActivityError(
                    f"activity {name!r} failed: {cause}",
                    activity_type=name,
                    activity_seq=getattr(err, "activity_seq", 0),
                    attempt=0,
                    retry_state=getattr(err, "retry_state", ""),
                    cause=cause,
                )
            handle.set_exception(err)

        task.add_done_callback(resolve)
        return handle

    # -- waiting -------------------------------------------------------------------------------

    def wait_condition(self, fn: Callable[[], bool], timeout: float | None) -> Awaitable[None]:
        def predicate() -> bool:
            # temporalio evaluates conditions outside the waiting task: give the predicate
            # its runtime (it may call workflow functions).
            token = current_runtime.set(self.visible)
            try:
                return fn()
            finally:
                current_runtime.reset(token)

        return tw.wait_condition(predicate, timeout=timeout)

    def patched(self, patch_id: str, *, deprecated: bool) -> bool:
        if deprecated:
            tw.deprecate_patch(patch_id)
            return True
        return tw.patched(patch_id)

    # -- children and other workflows -----------------------------------------------------------

    async def _start_child(
        self,
        workflow: Any,
        args: Sequence[Any],
        options: ChildWorkflowOptions,
        result_type: Any,
    ) -> ChildWorkflowHandle[Any]:
        if isinstance(workflow, str):
            workflow_type = workflow
        else:
            defn = workflow_definition_of(workflow)
            workflow_type = defn.name
            if result_type is None:
                result_type = defn.hints[1]
        self._children += 1
        workflow_id = options.id or f"{self.info().workflow_id}/child-{self._children}"
        raws = self._bridge.to_raws(args, what=f"argument of child {workflow_type!r}")
        try:
            child = await tw.start_child_workflow(
                workflow_type,
                args=raws,
                id=workflow_id,
                task_queue=options.task_queue,
                parent_close_policy=_POLICIES[options.parent_close_policy],
                memo=dict(options.memo) if options.memo else None,
                result_type=RawValue,
            )
        except tx.WorkflowAlreadyStartedError as err:
            raise WorkflowAlreadyStartedError(workflow_id, "", workflow_type) from err
        handle: ChildWorkflowHandle[Any] = ChildWorkflowHandle(loop=asyncio.get_running_loop())
        handle._stable_hash = self.next_hash()  # pyright: ignore[reportPrivateUsage]
        handle.id = workflow_id
        handle.first_execution_run_id = child.first_execution_run_id or ""

        def cancel_child() -> None:
            child.cancel()

        handle._on_cancel = cancel_child  # pyright: ignore[reportPrivateUsage]

        async def signal(name: str, sargs: Sequence[Any]) -> None:
            raw = self._bridge.to_raws(sargs, what=f"signal {name!r}")
            try:
                await child.signal(name, args=raw)
            except tx.FailureError as err:
                raise to_duragent(err, self._bridge) from None

        handle._signal = signal  # pyright: ignore[reportPrivateUsage]

        def resolve(t: asyncio.Task[Any]) -> None:
            if handle.done():
                return
            if t.cancelled():
                handle.cancel()
                return
            exc = t.exception()
            if exc is not None:
                handle.set_exception(to_duragent(exc, self._bridge))
                return
            try:
                value = self._bridge.decode(
                    t.result(), result_type, what=f"result of child workflow {workflow_id!r}"
                )
            except Exception as err:
                handle.set_exception(err)
            else:
                handle.set_result(value)

        child.add_done_callback(resolve)
        return handle

    def start_child_workflow(
        self,
        workflow: Any,
        args: Sequence[Any],
        options: ChildWorkflowOptions,
        result_type: Any,
    ) -> Awaitable[ChildWorkflowHandle[Any]]:
        return self._start_child(workflow, args, options, result_type)

    def external_workflow(self, workflow_id: str, run_id: str | None) -> ExternalWorkflowHandle:
        handle = tw.get_external_workflow_handle(workflow_id, run_id=run_id)
        bridge = self._bridge

        async def signal(name: str, args: Sequence[Any]) -> None:
            raws = bridge.to_raws(args, what=f"signal {name!r}")
            try:
                await handle.signal(name, args=raws)
            except tx.FailureError as err:
                raise to_duragent(err, bridge) from None

        async def cancel() -> None:
            try:
                await handle.cancel()
            except tx.FailureError as err:
                raise to_duragent(err, bridge) from None

        return ExternalWorkflowHandle(workflow_id, run_id, signal, cancel)

    def continue_as_new(
        self, args: Sequence[Any], workflow: Any, task_queue: str | None
    ) -> NoReturn:
        workflow_type = None
        if workflow is not None:
            workflow_type = (
                workflow if isinstance(workflow, str) else workflow_definition_of(workflow).name
            )
        raws = self._bridge.to_raws(args, what="continue-as-new argument")
        if workflow_type is None:
            tw.continue_as_new(args=raws, task_queue=task_queue)
        tw.continue_as_new(args=raws, workflow=workflow_type, task_queue=task_queue)

    # -- handlers and state ---------------------------------------------------------------------

    def set_handler(self, kind: str, name: str | None, fn: Callable[..., Any] | None) -> None:
        if kind != "signal":
            raise ConfigurationError(f"cannot register {kind} handlers at run time")
        self._instance.set_signal_handler(name, fn)

    def all_handlers_finished(self) -> bool:
        return tw.all_handlers_finished() and self._instance.own_handlers == 0

    def run_state(self) -> dict[str, Any]:
        return self._run_state

    def upsert_search_attributes(self, attributes: dict[str, Any], types: dict[str, str]) -> None:
        tw.upsert_search_attributes(
            search_attribute_updates(attributes, tw.info().typed_search_attributes, types)
        )

    def upsert_memo(self, memo: dict[str, Any]) -> None:
        tw.upsert_memo(memo)

    def record_marker(self, name: str, details: dict[str, Any]) -> None:
        self._markers += 1
        tw.upsert_memo({f"{MARKER_MEMO_PREFIX}{self._markers:04d}.{name}": details})
        self._instance.after_marker(name)
