"""Errors across the Temporal boundary, both ways.

Workflow and activity code raise and catch :mod:`duragent.errors` on both backends. Here a
Duragent error becomes the temporalio exception Temporal records (an ``ApplicationError``
keeps its type, details, ``non_retryable`` and ``retry_after`` as ``next_retry_delay``), and
a temporalio exception read back (an activity or child failure, a workflow failure seen by a
client) becomes the Duragent error of the same meaning, cause chain included.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Final

import temporalio.exceptions as tx

from .._engine.failure import failure_from_exception
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
from ._payloads import PayloadBridge

__all__ = ["INTERRUPTED", "to_duragent", "to_temporal"]

INTERRUPTED: Final = "ActivityAttemptInterrupted"
_MAX_DEPTH: Final = 16

_TIMEOUT_TYPES: Final = {
    tx.TimeoutType.START_TO_CLOSE: "START_TO_CLOSE",
    tx.TimeoutType.SCHEDULE_TO_CLOSE: "SCHEDULE_TO_CLOSE",
    tx.TimeoutType.SCHEDULE_TO_START: "SCHEDULE_TO_START",
    tx.TimeoutType.HEARTBEAT: "HEARTBEAT",
}
_TIMEOUT_BACK: Final = {v: k for k, v in _TIMEOUT_TYPES.items()}
_RETRY_STATES_BACK: Final = {s.name: s for s in tx.RetryState}


def _details(bridge: PayloadBridge, values: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        try:
            out.append(bridge.to_raw(v, what="error detail"))
        except Exception:  # details must never hide the original error
            out.append(bridge.to_raw(repr(v)))
    return out


def _stack(exc: BaseException) -> str:
    return str(getattr(exc, "stack_trace", "") or "")


def to_temporal(exc: BaseException, bridge: PayloadBridge, depth: int = 0) -> BaseException:
    """The temporalio exception recording ``exc`` (already-temporal ones pass through)."""
    if isinstance(exc, tx.TemporalError):
        return exc
    cause_exc = exc.cause if isinstance(exc, FailureError) else exc.__cause__
    cause = (
        to_temporal(cause_exc, bridge, depth + 1)
        if cause_exc is not None and depth < _MAX_DEPTH
        else None
    )
    out: BaseException
    if isinstance(exc, ApplicationError):
        out = tx.ApplicationError(
            exc.message,
            *_details(bridge, exc.details),
            type=exc.type,
            non_retryable=exc.non_retryable,
            next_retry_delay=(
                exc.next_retry_delay if exc.next_retry_delay is not None else exc.retry_after
            ),
            category=(
                tx.ApplicationErrorCategory.BENIGN
                if exc.category == ApplicationErrorCategory.BENIGN
                else tx.ApplicationErrorCategory.UNSPECIFIED
            ),
        )
    elif isinstance(exc, TimeoutError):
        out = tx.TimeoutError(
            exc.message,
            type=_TIMEOUT_BACK.get(exc.type, tx.TimeoutType.START_TO_CLOSE),
            last_heartbeat_details=_details(bridge, exc.last_heartbeat_details),
        )
    elif isinstance(exc, CancelledError):
        out = tx.CancelledError(exc.message, *_details(bridge, exc.details))
    elif isinstance(exc, asyncio.CancelledError):
        out = tx.CancelledError(str(exc) or "cancelled")
    elif isinstance(exc, TerminatedError):
        out = tx.TerminatedError(exc.message)
    elif isinstance(exc, ActivityError):
        out = tx.ActivityError(
            exc.message,
            scheduled_event_id=0,
            started_event_id=0,
            identity="",
            activity_type=exc.activity_type,
            activity_id=str(exc.activity_seq),
            retry_state=_RETRY_STATES_BACK.get(exc.retry_state),
        )
    elif isinstance(exc, ChildWorkflowError):
        out = tx.ChildWorkflowError(
            exc.message,
            namespace="",
            workflow_id=exc.workflow_id,
            run_id=exc.run_id,
            workflow_type=exc.workflow_type,
            initiated_event_id=0,
            started_event_id=0,
            retry_state=None,
        )
    else:
        # Any other exception: its class name is the type, as on the embedded engine.
        out = tx.ApplicationError(str(exc) or type(exc).__name__, type=type(exc).__name__)
    out.__cause__ = cause
    out.__traceback__ = exc.__traceback__
    return out


def to_duragent(exc: BaseException, bridge: PayloadBridge, depth: int = 0) -> BaseException:
    """The :mod:`duragent.errors` exception a temporalio exception stands for (others pass
    through unchanged)."""
    if not isinstance(exc, tx.FailureError):
        return exc
    cause_exc = exc.__cause__
    cause = (
        to_duragent(cause_exc, bridge, depth + 1)
        if cause_exc is not None and depth < _MAX_DEPTH
        else None
    )
    out: FailureError
    if isinstance(exc, tx.ApplicationError):
        out = ApplicationError(
            exc.message,
            *exc.details,
            type=exc.type or None,
            non_retryable=exc.non_retryable,
            next_retry_delay=exc.next_retry_delay,
            category=(
                ApplicationErrorCategory.BENIGN
                if exc.category == tx.ApplicationErrorCategory.BENIGN
                else ApplicationErrorCategory.UNSPECIFIED
            ),
            cause=cause,
        )
    elif isinstance(exc, tx.TimeoutError):
        out = TimeoutError(
            exc.message,
            type=_TIMEOUT_TYPES.get(exc.type, "START_TO_CLOSE") if exc.type else "START_TO_CLOSE",
            last_heartbeat_details=list(exc.last_heartbeat_details),
            cause=cause,
        )
    elif isinstance(exc, tx.CancelledError):
        out = CancelledError(exc.message, *exc.details)
    elif isinstance(exc, tx.TerminatedError):
        out = TerminatedError(exc.message)
    elif isinstance(exc, tx.ActivityError):
        seq = exc.activity_id
        out = ActivityError(
            f"activity {exc.activity_type!r} failed: {cause}",
            activity_type=exc.activity_type,
            activity_seq=int(seq) if seq.isdigit() else 0,
            attempt=0,
            retry_state=exc.retry_state.name if exc.retry_state is not None else "",
            cause=cause,
        )
    elif isinstance(exc, tx.ChildWorkflowError):
        out = ChildWorkflowError(
            f"child workflow {exc.workflow_id!r} did not complete: {cause}",
            workflow_id=exc.workflow_id,
            workflow_type=exc.workflow_type,
            run_id=exc.run_id,
            cause=cause,
        )
    else:
        out = ApplicationError(exc.message, type=type(exc).__name__, cause=cause)
    failure = exc.failure
    stack = failure.stack_trace if failure is not None else ""
    out.stack_trace = stack  # type: ignore[attr-defined]
    # The recorded form, as on the embedded engine: err.failure.stack_trace, .cause, ...
    out.failure = dataclasses.replace(
        failure_from_exception(out, bridge.converter), stack_trace=stack
    )
    return out


def interrupted(activity_type: str, timeout: BaseException | None) -> ApplicationError:
    """The failure of an at-most-once attempt that may have started and was not re-run."""
    return ApplicationError(
        f"an attempt of at-most-once activity {activity_type!r} was interrupted (its worker "
        "stopped or stopped answering) and was not run again: it may or may not have taken "
        "effect",
        type=INTERRUPTED,
        non_retryable=True,
        cause=timeout,
    )


def retry_delay(retry_after: timedelta | None, backoff_ms: int) -> timedelta | None:
    """Temporal's ``next_retry_delay`` replaces the backoff; Duragent's ``retry_after`` is a
    minimum, so the larger of the two."""
    if retry_after is None:
        return None
    return max(retry_after, timedelta(milliseconds=backoff_ms))
