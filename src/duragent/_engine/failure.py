"""Failures: the recorded, process-independent form of an exception.

An exception raised in an activity or workflow is converted to a :class:`Failure` (message,
type, retry hints, stack trace, cause chain) before it is recorded; the other side turns it
back into the matching :mod:`duragent.errors` exception. Arbitrary exception classes are
never pickled: their class name becomes the failure ``type``.
"""

from __future__ import annotations

import asyncio
import traceback
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, Final

from ..errors import (
    ActivityError,
    ApplicationError,
    ApplicationErrorCategory,
    CancelledError,
    ChildWorkflowError,
    FailureError,
    TerminatedError,
    TimeoutError,
)
from ..serde import DataConverter, Payload

__all__ = ["Failure", "FailureKind", "exception_from_failure", "failure_from_exception"]

_MAX_CAUSE_DEPTH: Final = 8
_MAX_STACK_CHARS: Final = 8000


class FailureKind(StrEnum):
    """What a failure stands for (the values are the strings recorded in history)."""

    APPLICATION = "application"
    CANCELLED = "cancelled"
    TERMINATED = "terminated"
    TIMEOUT = "timeout"
    ACTIVITY = "activity"
    CHILD_WORKFLOW = "child_workflow"


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    """A recorded failure.

    ``info`` carries kind-specific facts (activity type and attempt, child workflow id,
    heartbeat details) as JSON-able values.
    """

    message: str
    kind: str = FailureKind.APPLICATION
    type: str = ""
    non_retryable: bool = False
    retry_after_ms: int | None = None
    details: tuple[Payload, ...] = ()
    next_retry_delay_ms: int | None = None
    """An exact delay before the next attempt, replacing the policy's backoff."""
    stack_trace: str = ""
    info: dict[str, Any] = field(default_factory=lambda: {})
    cause: Failure | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form; payload details are kept as their text."""
        out: dict[str, Any] = {"message": self.message, "kind": self.kind}
        if self.type:
            out["type"] = self.type
        if self.non_retryable:
            out["non_retryable"] = True
        if self.retry_after_ms is not None:
            out["retry_after_ms"] = self.retry_after_ms
        if self.next_retry_delay_ms is not None:
            out["next_retry_delay_ms"] = self.next_retry_delay_ms
        if self.details:
            out["details"] = [p.data.decode() for p in self.details]
        if self.stack_trace:
            out["stack_trace"] = self.stack_trace
        if self.info:
            out["info"] = self.info
        if self.cause is not None:
            out["cause"] = self.cause.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Failure:
        """Inverse of :meth:`to_dict`."""
        cause = data.get("cause")
        return cls(
            message=data["message"],
            kind=data.get("kind", FailureKind.APPLICATION),
            type=data.get("type", ""),
            non_retryable=bool(data.get("non_retryable", False)),
            retry_after_ms=data.get("retry_after_ms"),
            next_retry_delay_ms=data.get("next_retry_delay_ms"),
            details=tuple(Payload(d.encode()) for d in data.get("details", ())),
            stack_trace=data.get("stack_trace", ""),
            info=dict(data.get("info", {})),
            cause=cls.from_dict(cause) if cause is not None else None,
        )

    # -- temporalio's names for the same facts, so failure handlers written for Temporal
    # read them unchanged (``err.failure.application_failure_info.type``, ...).

    @property
    def source(self) -> str:
        """Who recorded the failure."""
        return "duragent"

    @property
    def application_failure_info(self) -> ApplicationFailureInfo | None:
        """Type, retry hints and details of an application failure (else None)."""
        if self.kind != FailureKind.APPLICATION:
            return None
        return ApplicationFailureInfo(
            type=self.type,
            non_retryable=self.non_retryable,
            next_retry_delay=_delta(
                self.next_retry_delay_ms
                if self.next_retry_delay_ms is not None
                else self.retry_after_ms
            ),
            details=self.details,
            category=str(self.info.get("category", "UNSPECIFIED")),
        )

    @property
    def timeout_failure_info(self) -> TimeoutFailureInfo | None:
        """Which timeout, and the last heartbeat's details (else None)."""
        if self.kind != FailureKind.TIMEOUT:
            return None
        return TimeoutFailureInfo(timeout_type=self.type, last_heartbeat_details=self.details)

    @property
    def canceled_failure_info(self) -> CanceledFailureInfo | None:
        """Details of a cancellation (else None)."""
        if self.kind != FailureKind.CANCELLED:
            return None
        return CanceledFailureInfo(details=self.details)

    @property
    def activity_failure_info(self) -> ActivityFailureInfo | None:
        """Which activity failed and why it was not retried (else None)."""
        if self.kind != FailureKind.ACTIVITY:
            return None
        info = self.info
        return ActivityFailureInfo(
            activity_type=TypeName(str(info.get("activity_type", ""))),
            activity_id=str(info.get("activity_seq", "")),
            retry_state=str(info.get("retry_state", "")),
            attempt=int(info.get("attempt", 0)),
        )

    @property
    def child_workflow_execution_failure_info(self) -> ChildWorkflowFailureInfo | None:
        """Which child workflow failed (else None)."""
        if self.kind != FailureKind.CHILD_WORKFLOW:
            return None
        info = self.info
        return ChildWorkflowFailureInfo(
            workflow_execution=WorkflowExecutionRef(
                workflow_id=str(info.get("workflow_id", "")),
                run_id=str(info.get("run_id", "")),
            ),
            workflow_type=TypeName(str(info.get("workflow_type", ""))),
        )

    def describe(self) -> str:
        """One line: type and message, with the root cause when there is one."""
        head = f"{self.type or self.kind}: {self.message}"
        root = self
        while root.cause is not None:
            root = root.cause
        if root is not self:
            head += f" (cause: {root.type or root.kind}: {root.message})"
        return head


@dataclass(frozen=True, slots=True)
class TypeName:
    """A named type (``activity_type.name``), shaped as in Temporal's failures."""

    name: str


@dataclass(frozen=True, slots=True)
class WorkflowExecutionRef:
    workflow_id: str
    run_id: str


@dataclass(frozen=True, slots=True)
class ApplicationFailureInfo:
    type: str
    non_retryable: bool
    next_retry_delay: timedelta | None
    details: tuple[Payload, ...]
    category: str


@dataclass(frozen=True, slots=True)
class TimeoutFailureInfo:
    timeout_type: str
    last_heartbeat_details: tuple[Payload, ...]


@dataclass(frozen=True, slots=True)
class CanceledFailureInfo:
    details: tuple[Payload, ...]


@dataclass(frozen=True, slots=True)
class ActivityFailureInfo:
    activity_type: TypeName
    activity_id: str
    retry_state: str
    attempt: int


@dataclass(frozen=True, slots=True)
class ChildWorkflowFailureInfo:
    workflow_execution: WorkflowExecutionRef
    workflow_type: TypeName


def _ms(delta: timedelta | None) -> int | None:
    return int(delta.total_seconds() * 1000) if delta is not None else None


def _delta(ms: int | None) -> timedelta | None:
    return timedelta(milliseconds=ms) if ms is not None else None


def _stack(exc: BaseException) -> str:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, chain=False))
    return text[-_MAX_STACK_CHARS:]


def _encode_details(details: Any, converter: DataConverter) -> tuple[Payload, ...]:
    try:
        return converter.encode_all(tuple(details), what="error detail")
    except Exception:  # details must never hide the original error
        return tuple(converter.encode(repr(d)) for d in details)


def failure_from_exception(
    exc: BaseException, converter: DataConverter, *, depth: int = 0
) -> Failure:
    """Convert an exception (and its cause chain) into a :class:`Failure`."""
    cause_exc = exc.__cause__ if exc.__cause__ is not None else None
    if isinstance(exc, FailureError) and exc.cause is not None:
        cause_exc = exc.cause
    cause = (
        failure_from_exception(cause_exc, converter, depth=depth + 1)
        if cause_exc is not None and depth < _MAX_CAUSE_DEPTH
        else None
    )
    stack = _stack(exc) if exc.__traceback__ is not None else ""
    if isinstance(exc, FailureError) and exc.failure is not None:
        return exc.failure  # rebuilt from a recorded failure: keep it (its stack trace)
    if isinstance(exc, ApplicationError):
        return Failure(
            message=exc.message,
            kind=FailureKind.APPLICATION,
            type=exc.type,
            non_retryable=exc.non_retryable,
            retry_after_ms=_ms(exc.retry_after),
            next_retry_delay_ms=_ms(exc.next_retry_delay),
            details=_encode_details(exc.details, converter),
            stack_trace=stack,
            info=(
                {"category": exc.category}
                if exc.category != ApplicationErrorCategory.UNSPECIFIED
                else {}
            ),
            cause=cause,
        )
    if isinstance(exc, TimeoutError):
        return Failure(
            message=exc.message,
            kind=FailureKind.TIMEOUT,
            type=exc.type,
            details=_encode_details(exc.last_heartbeat_details, converter),
            cause=cause,
        )
    if isinstance(exc, CancelledError):
        return Failure(
            message=exc.message,
            kind=FailureKind.CANCELLED,
            type="CancelledError",
            details=_encode_details(exc.details, converter),
            cause=cause,
        )
    if isinstance(exc, asyncio.CancelledError):
        return Failure(
            message=str(exc) or "cancelled",
            kind=FailureKind.CANCELLED,
            type="CancelledError",
            cause=cause,
        )
    if isinstance(exc, TerminatedError):
        return Failure(message=exc.message, kind=FailureKind.TERMINATED, type="TerminatedError")
    if isinstance(exc, ActivityError):
        return Failure(
            message=exc.message,
            kind=FailureKind.ACTIVITY,
            type="ActivityError",
            info={
                "activity_type": exc.activity_type,
                "activity_seq": exc.activity_seq,
                "attempt": exc.attempt,
                **({"retry_state": exc.retry_state} if exc.retry_state else {}),
            },
            stack_trace=stack,
            cause=cause,
        )
    if isinstance(exc, ChildWorkflowError):
        return Failure(
            message=exc.message,
            kind=FailureKind.CHILD_WORKFLOW,
            type="ChildWorkflowError",
            info={
                "workflow_id": exc.workflow_id,
                "workflow_type": exc.workflow_type,
                "run_id": exc.run_id,
            },
            stack_trace=stack,
            cause=cause,
        )
    # Any other exception: keep its class name as the type, so retry policies can name it.
    return Failure(
        message=str(exc) or type(exc).__name__,
        kind=FailureKind.APPLICATION,
        type=type(exc).__name__,
        stack_trace=stack,
        cause=cause,
    )


def exception_from_failure(failure: Failure, converter: DataConverter) -> FailureError:
    """Rebuild the :mod:`duragent.errors` exception a :class:`Failure` stands for."""
    cause = exception_from_failure(failure.cause, converter) if failure.cause is not None else None
    details = [converter.decode(p) for p in failure.details]
    exc: FailureError
    if failure.kind == FailureKind.TIMEOUT:
        exc = TimeoutError(
            failure.message, type=failure.type, last_heartbeat_details=details, cause=cause
        )
    elif failure.kind == FailureKind.CANCELLED:
        exc = CancelledError(failure.message, *details)
    elif failure.kind == FailureKind.TERMINATED:
        exc = TerminatedError(failure.message)
    elif failure.kind == FailureKind.ACTIVITY:
        info = failure.info
        exc = ActivityError(
            failure.message,
            activity_type=str(info.get("activity_type", "")),
            activity_seq=int(info.get("activity_seq", 0)),
            attempt=int(info.get("attempt", 0)),
            retry_state=str(info.get("retry_state", "")),
            cause=cause,
        )
    elif failure.kind == FailureKind.CHILD_WORKFLOW:
        info = failure.info
        exc = ChildWorkflowError(
            failure.message,
            workflow_id=str(info.get("workflow_id", "")),
            workflow_type=str(info.get("workflow_type", "")),
            run_id=str(info.get("run_id", "")),
            cause=cause,
        )
    else:
        exc = ApplicationError(
            failure.message,
            *details,
            type=failure.type or None,
            non_retryable=failure.non_retryable,
            retry_after=_delta(failure.retry_after_ms),
            next_retry_delay=_delta(failure.next_retry_delay_ms),
            category=str(failure.info.get("category", ApplicationErrorCategory.UNSPECIFIED)),
            cause=cause,
        )
    exc.failure = failure
    exc.stack_trace = failure.stack_trace  # type: ignore[attr-defined]
    return exc
