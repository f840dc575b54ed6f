"""The log line of a failed activity attempt: a broken activity must not look like a
hang. Records go to the ``duragent.activity`` logger (WARNING), carry the traceback, and
are tagged so that a ``logging`` filter can route them (``record.duragent_error ==
"ActivityFailure"``; temporalio's ``__temporal_error_identifier`` is set too, so filters
written for Temporal keep working)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Final

from .._engine.failure import Failure
from ..activity import Info, logger_details
from ..errors import ApplicationErrorCategory
from ..retry import RetryDecision

activity_log: Final = logging.getLogger("duragent.activity")

ERROR_ID_ATTR: Final = "duragent_error"
TEMPORAL_ERROR_ID_ATTR: Final = "__temporal_error_identifier"


def error_extra(identifier: str, **more: Any) -> dict[str, Any]:
    """``extra`` for a log record of a failure kind (``ActivityFailure``,
    ``WorkflowTaskFailure``)."""
    return {ERROR_ID_ATTR: identifier, TEMPORAL_ERROR_ID_ATTR: identifier, **more}


def log_failed_attempt(
    info: Info,
    failure: Failure,
    error: BaseException | None,
    decision: RetryDecision,
    now_ms: int,
) -> None:
    """Log one failed attempt with what happens next (at DEBUG for a failure the
    activity marked ``ApplicationErrorCategory.BENIGN``, an expected one)."""
    benign = failure.info.get("category") == ApplicationErrorCategory.BENIGN
    level = logging.DEBUG if benign else logging.WARNING
    if not activity_log.isEnabledFor(level):
        return
    if decision.next_attempt_at is not None:
        at = datetime.fromtimestamp(decision.next_attempt_at / 1000, tz=UTC)
        delay = max(0, decision.next_attempt_at - now_ms) / 1000
        then = f"next attempt at {at.isoformat(timespec='milliseconds')} (in {delay:.1f} s)"
    else:
        then = f"not retried ({decision.retry_state}): the activity failed"
    exc_info = None
    trace = ""
    if error is not None and error.__traceback__ is not None:
        exc_info = (type(error), error, error.__traceback__)
    elif failure.stack_trace:
        trace = "\n" + failure.stack_trace.rstrip()  # raised in another process
    activity_log.log(
        level,
        "activity %s failed on attempt %d (workflow %s %s, run %s): %s; %s%s",
        info.activity_type,
        info.attempt,
        info.workflow_type,
        info.workflow_id,
        info.workflow_run_id,
        failure.describe(),
        then,
        trace,
        exc_info=exc_info,
        extra=error_extra("ActivityFailure", duragent_activity=logger_details(info)),
    )
