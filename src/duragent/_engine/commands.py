"""Commands: what workflow code asks the engine to do.

An activation of a workflow instance returns a list of commands. Each command is recorded
as exactly one command event (:func:`to_event`), and on replay the command the code asks for
again is checked against that event (:func:`matches`): same kind, same sequence number, same
target. Arguments are deliberately not compared, so changing what is passed to an activity
does not break running workflows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..retry import RetryPolicy
from ..serde import Payload
from . import events as ev
from .failure import Failure


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """Base of all commands."""

    def describe(self) -> str:
        """A short human-readable form for nondeterminism messages."""
        return type(self).__name__


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleActivity(Command):
    seq: int
    activity_type: str
    task_queue: str
    input: tuple[Payload, ...] = ()
    start_to_close_timeout_ms: int | None = None
    schedule_to_close_timeout_ms: int | None = None
    heartbeat_timeout_ms: int | None = None
    retry_policy: RetryPolicy | None = None
    at_most_once: bool = False
    summary: str = ""

    def describe(self) -> str:
        return f"ScheduleActivity(seq={self.seq}, type={self.activity_type!r})"


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleLocalActivity(Command):
    """Run a local activity on this worker, now. Not recorded itself: the worker holds the
    workflow task while it runs and records its outcome (:class:`RecordLocalActivity`)
    with the task's commands."""

    seq: int
    activity_type: str
    input: tuple[Payload, ...] = ()
    start_to_close_timeout_ms: int | None = None
    schedule_to_close_timeout_ms: int | None = None
    retry_policy: RetryPolicy | None = None
    local_retry_threshold_ms: int = 60_000
    """A retry whose backoff is longer waits on a durable timer instead of holding the
    workflow task."""
    summary: str = ""
    attempt: int = 1
    scheduled_time: int | None = None
    """When attempt 1 was scheduled (None: now)."""

    def describe(self) -> str:
        return f"ScheduleLocalActivity(seq={self.seq}, type={self.activity_type!r})"


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordLocalActivity(Command):
    """The outcome of a local activity (see ``events.LocalActivityRecorded``)."""

    seq: int
    activity_type: str
    attempt: int
    result: Payload | None = None
    failure: Failure | None = None
    retry_state: str = ""
    backoff_ms: int | None = None
    started_time: int = 0
    scheduled_time: int = 0
    worker: str = ""
    summary: str = ""

    def describe(self) -> str:
        return f"LocalActivity(seq={self.seq}, type={self.activity_type!r})"

    @classmethod
    def of(cls, event: ev.LocalActivityRecorded) -> RecordLocalActivity:
        """The command that records ``event`` (a live outcome becomes a command)."""
        return cls(
            seq=event.seq,
            activity_type=event.activity_type,
            attempt=event.attempt,
            result=event.result,
            failure=event.failure,
            retry_state=event.retry_state,
            backoff_ms=event.backoff_ms,
            started_time=event.started_time,
            scheduled_time=event.scheduled_time,
            worker=event.worker,
            summary=event.summary,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestCancelActivity(Command):
    seq: int

    def describe(self) -> str:
        return f"RequestCancelActivity(seq={self.seq})"


@dataclass(frozen=True, slots=True, kw_only=True)
class StartTimer(Command):
    seq: int
    duration_ms: int

    def describe(self) -> str:
        return f"StartTimer(seq={self.seq}, duration_ms={self.duration_ms})"


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelTimer(Command):
    seq: int

    def describe(self) -> str:
        return f"CancelTimer(seq={self.seq})"


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordMarker(Command):
    name: str
    details: dict[str, Any] = field(default_factory=lambda: {})

    def describe(self) -> str:
        return f"RecordMarker({self.name!r}, {self.details})"


@dataclass(frozen=True, slots=True, kw_only=True)
class StartChildWorkflow(Command):
    seq: int
    workflow_type: str
    workflow_id: str
    task_queue: str
    input: tuple[Payload, ...] = ()
    parent_close_policy: str = "terminate"
    memo: dict[str, Any] = field(default_factory=lambda: {})

    def describe(self) -> str:
        return (
            f"StartChildWorkflow(seq={self.seq}, type={self.workflow_type!r}, "
            f"id={self.workflow_id!r})"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestCancelExternal(Command):
    seq: int
    workflow_id: str
    run_id: str = ""
    child: bool = False

    def describe(self) -> str:
        return f"RequestCancelExternal(seq={self.seq}, id={self.workflow_id!r})"


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalExternal(Command):
    seq: int
    workflow_id: str
    run_id: str = ""
    signal_name: str
    input: tuple[Payload, ...] = ()
    child: bool = False

    def describe(self) -> str:
        return (
            f"SignalExternal(seq={self.seq}, id={self.workflow_id!r}, signal={self.signal_name!r})"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class CompleteUpdate(Command):
    update_id: str
    result: Payload | None = None
    failure: Failure | None = None

    def describe(self) -> str:
        return f"CompleteUpdate({self.update_id!r})"


@dataclass(frozen=True, slots=True, kw_only=True)
class CompleteWorkflow(Command):
    result: Payload


@dataclass(frozen=True, slots=True, kw_only=True)
class FailWorkflow(Command):
    failure: Failure


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelWorkflow(Command):
    details: tuple[Payload, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ContinueAsNew(Command):
    workflow_type: str
    task_queue: str
    input: tuple[Payload, ...] = ()
    memo: dict[str, Any] = field(default_factory=lambda: {})


CLOSE_COMMANDS = (CompleteWorkflow, FailWorkflow, CancelWorkflow, ContinueAsNew)


def to_event(cmd: Command, *, event_id: int, time: int, new_run_id: str = "") -> ev.Event:
    """The command event that records ``cmd``.

    ``new_run_id`` is the run id chosen for a ``ContinueAsNew``.
    """
    if isinstance(cmd, ScheduleActivity):
        return ev.ActivityTaskScheduled(
            event_id=event_id,
            time=time,
            seq=cmd.seq,
            activity_type=cmd.activity_type,
            task_queue=cmd.task_queue,
            input=cmd.input,
            start_to_close_timeout_ms=cmd.start_to_close_timeout_ms,
            schedule_to_close_timeout_ms=cmd.schedule_to_close_timeout_ms,
            heartbeat_timeout_ms=cmd.heartbeat_timeout_ms,
            retry_policy=cmd.retry_policy,
            at_most_once=cmd.at_most_once,
            summary=cmd.summary,
        )
    if isinstance(cmd, RequestCancelActivity):
        return ev.ActivityTaskCancelRequested(event_id=event_id, time=time, seq=cmd.seq)
    if isinstance(cmd, StartTimer):
        return ev.TimerStarted(
            event_id=event_id,
            time=time,
            seq=cmd.seq,
            duration_ms=cmd.duration_ms,
            fire_at=time + cmd.duration_ms,
        )
    if isinstance(cmd, CancelTimer):
        return ev.TimerCanceled(event_id=event_id, time=time, seq=cmd.seq)
    if isinstance(cmd, RecordMarker):
        return ev.MarkerRecorded(event_id=event_id, time=time, name=cmd.name, details=cmd.details)
    if isinstance(cmd, RecordLocalActivity):
        return ev.LocalActivityRecorded(
            event_id=event_id,
            time=time,
            seq=cmd.seq,
            activity_type=cmd.activity_type,
            attempt=cmd.attempt,
            result=cmd.result,
            failure=cmd.failure,
            retry_state=cmd.retry_state,
            backoff_ms=cmd.backoff_ms,
            started_time=cmd.started_time,
            scheduled_time=cmd.scheduled_time,
            worker=cmd.worker,
            summary=cmd.summary,
        )
    if isinstance(cmd, StartChildWorkflow):
        return ev.StartChildWorkflowExecutionInitiated(
            event_id=event_id,
            time=time,
            seq=cmd.seq,
            workflow_type=cmd.workflow_type,
            workflow_id=cmd.workflow_id,
            task_queue=cmd.task_queue,
            input=cmd.input,
            parent_close_policy=cmd.parent_close_policy,
            memo=cmd.memo,
        )
    if isinstance(cmd, RequestCancelExternal):
        return ev.RequestCancelExternalWorkflowExecutionInitiated(
            event_id=event_id,
            time=time,
            seq=cmd.seq,
            workflow_id=cmd.workflow_id,
            run_id=cmd.run_id,
            child=cmd.child,
        )
    if isinstance(cmd, SignalExternal):
        return ev.SignalExternalWorkflowExecutionInitiated(
            event_id=event_id,
            time=time,
            seq=cmd.seq,
            workflow_id=cmd.workflow_id,
            run_id=cmd.run_id,
            signal_name=cmd.signal_name,
            input=cmd.input,
            child=cmd.child,
        )
    if isinstance(cmd, CompleteUpdate):
        return ev.WorkflowExecutionUpdateCompleted(
            event_id=event_id,
            time=time,
            update_id=cmd.update_id,
            result=cmd.result,
            failure=cmd.failure,
        )
    if isinstance(cmd, CompleteWorkflow):
        return ev.WorkflowExecutionCompleted(event_id=event_id, time=time, result=cmd.result)
    if isinstance(cmd, FailWorkflow):
        return ev.WorkflowExecutionFailed(event_id=event_id, time=time, failure=cmd.failure)
    if isinstance(cmd, CancelWorkflow):
        return ev.WorkflowExecutionCanceled(event_id=event_id, time=time, details=cmd.details)
    if isinstance(cmd, ContinueAsNew):
        return ev.WorkflowExecutionContinuedAsNew(
            event_id=event_id,
            time=time,
            new_run_id=new_run_id,
            workflow_type=cmd.workflow_type,
            task_queue=cmd.task_queue,
            input=cmd.input,
            memo=cmd.memo,
        )
    raise TypeError(f"unknown command {cmd!r}")


def matches(cmd: Command, event: ev.Event) -> bool:
    """Whether ``event`` records ``cmd`` (same kind and identity; arguments not compared)."""
    if isinstance(cmd, ScheduleActivity):
        return (
            isinstance(event, ev.ActivityTaskScheduled)
            and event.seq == cmd.seq
            and event.activity_type == cmd.activity_type
        )
    if isinstance(cmd, RequestCancelActivity):
        return isinstance(event, ev.ActivityTaskCancelRequested) and event.seq == cmd.seq
    if isinstance(cmd, StartTimer):
        return isinstance(event, ev.TimerStarted) and event.seq == cmd.seq
    if isinstance(cmd, CancelTimer):
        return isinstance(event, ev.TimerCanceled) and event.seq == cmd.seq
    if isinstance(cmd, RecordMarker):
        return (
            isinstance(event, ev.MarkerRecorded)
            and event.name == cmd.name
            and event.details == cmd.details
        )
    if isinstance(cmd, RecordLocalActivity):
        return (
            isinstance(event, ev.LocalActivityRecorded)
            and event.seq == cmd.seq
            and event.activity_type == cmd.activity_type
        )
    if isinstance(cmd, StartChildWorkflow):
        return (
            isinstance(event, ev.StartChildWorkflowExecutionInitiated)
            and event.seq == cmd.seq
            and event.workflow_type == cmd.workflow_type
        )
    if isinstance(cmd, RequestCancelExternal):
        return (
            isinstance(event, ev.RequestCancelExternalWorkflowExecutionInitiated)
            and event.seq == cmd.seq
        )
    if isinstance(cmd, SignalExternal):
        return (
            isinstance(event, ev.SignalExternalWorkflowExecutionInitiated)
            and event.seq == cmd.seq
            and event.signal_name == cmd.signal_name
        )
    if isinstance(cmd, CompleteUpdate):
        return (
            isinstance(event, ev.WorkflowExecutionUpdateCompleted)
            and event.update_id == cmd.update_id
        )
    if isinstance(cmd, CompleteWorkflow):
        return isinstance(event, ev.WorkflowExecutionCompleted)
    if isinstance(cmd, FailWorkflow):
        return isinstance(event, ev.WorkflowExecutionFailed)
    if isinstance(cmd, CancelWorkflow):
        return isinstance(event, ev.WorkflowExecutionCanceled)
    if isinstance(cmd, ContinueAsNew):
        return isinstance(event, ev.WorkflowExecutionContinuedAsNew)
    return False


def describe_event(event: ev.Event) -> str:
    """A short human-readable form of a command event for nondeterminism messages."""
    if isinstance(event, ev.ActivityTaskScheduled):
        return f"ScheduleActivity(seq={event.seq}, type={event.activity_type!r})"
    if isinstance(event, ev.TimerStarted):
        return f"StartTimer(seq={event.seq}, duration_ms={event.duration_ms})"
    if isinstance(event, ev.TimerCanceled):
        return f"CancelTimer(seq={event.seq})"
    if isinstance(event, ev.ActivityTaskCancelRequested):
        return f"RequestCancelActivity(seq={event.seq})"
    if isinstance(event, ev.MarkerRecorded):
        return f"RecordMarker({event.name!r}, {event.details})"
    if isinstance(event, ev.LocalActivityRecorded):
        return f"LocalActivity(seq={event.seq}, type={event.activity_type!r})"
    if isinstance(event, ev.StartChildWorkflowExecutionInitiated):
        return (
            f"StartChildWorkflow(seq={event.seq}, type={event.workflow_type!r}, "
            f"id={event.workflow_id!r})"
        )
    if isinstance(event, ev.WorkflowExecutionUpdateCompleted):
        return f"CompleteUpdate({event.update_id!r})"
    names: dict[type[ev.Event], str] = {
        ev.WorkflowExecutionCompleted: "CompleteWorkflow",
        ev.WorkflowExecutionFailed: "FailWorkflow",
        ev.WorkflowExecutionCanceled: "CancelWorkflow",
        ev.WorkflowExecutionContinuedAsNew: "ContinueAsNew",
    }
    return names.get(type(event), event.TYPE)
