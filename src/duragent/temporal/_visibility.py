"""Runs as Temporal's visibility sees them: Duragent's run filters as list queries, run
records from execution infos and descriptions, and opaque page tokens."""

from __future__ import annotations

import base64
from typing import Any, Final

from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.workflow.v1 import WorkflowExecutionInfo

from .._backend.records import RunFilter
from .._engine.failure import Failure
from .._list_filter import STATUS_NAMES
from ..errors import ConfigurationError
from ..store.base import RunRecord, RunStatus
from ._search_attributes import decode as decode_search_attributes
from ._search_attributes import query_condition
from .history import memo_values

__all__ = ["STATUSES", "list_query", "page_token_in", "page_token_out", "run_record"]

STATUSES: Final = {
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING: RunStatus.RUNNING,
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED: RunStatus.COMPLETED,
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_FAILED: RunStatus.FAILED,
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_CANCELED: RunStatus.CANCELED,
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TERMINATED: RunStatus.TERMINATED,
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW: RunStatus.CONTINUED_AS_NEW,
    # A run timeout has no embedded counterpart: the run failed.
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TIMED_OUT: RunStatus.FAILED,
}

PENDING_APPROVALS: Final = "DuragentPendingApprovals"
_TOKEN_PREFIX: Final = "t1:"


def _quote(value: str) -> str:
    """A string literal of Temporal's list query language."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def list_query(f: RunFilter, *, approvals_attribute: bool) -> str:
    """The visibility query for ``f`` (conditions joined by AND; empty matches all).

    Raises:
        ConfigurationError: An unknown status, or ``waiting_for_approval`` on a cluster
            without the ``DuragentPendingApprovals`` search attribute.
    """
    parts: list[str] = []
    if f.status is not None:
        status = STATUS_NAMES.get(f.status)
        if status is None:
            known = ", ".join(STATUS_NAMES)
            raise ConfigurationError(f"unknown run status {f.status!r} (one of: {known})")
        parts.append(f"ExecutionStatus = {_quote(status)}")
    if f.workflow_type:
        parts.append(f"WorkflowType = {_quote(f.workflow_type)}")
    if f.workflow_id_prefix:
        parts.append(f"WorkflowId STARTS_WITH {_quote(f.workflow_id_prefix)}")
    if f.task_failing:
        # Visibility does not know (Temporal's TemporalReportedProblems attribute is set
        # only after several failures, where enabled): the backend checks each running run.
        parts.append("ExecutionStatus = 'Running'")
    if f.waiting_for_approval:
        if not approvals_attribute:
            raise ConfigurationError(
                f"listing runs waiting for approval needs the {PENDING_APPROVALS} search "
                "attribute on this namespace: temporal operator search-attribute create "
                f"--name {PENDING_APPROVALS} --type Int"
            )
        parts.append("ExecutionStatus = 'Running'")
        parts.append(f"{PENDING_APPROVALS} > 0")
    for name, value in f.search_attributes:
        parts.append(query_condition(name, value))
    if f.query is not None:
        if not f.query.strip():
            raise ConfigurationError("an empty list filter: pass None to list every run")
        # Alone it goes as written (an ORDER BY the server takes stays last); with other
        # conditions, in parentheses so that its OR stays inside.
        parts.append(f"({f.query})" if parts else f.query)
    return " AND ".join(dict.fromkeys(parts))


def page_token_out(token: bytes) -> str | None:
    """Temporal's next-page token as Duragent's opaque text token (None: last page)."""
    if not token:
        return None
    return _TOKEN_PREFIX + base64.urlsafe_b64encode(token).decode()


def page_token_in(token: str) -> bytes:
    """Inverse of :func:`page_token_out`.

    Raises:
        ConfigurationError: Not a token this backend issued.
    """
    if not token.startswith(_TOKEN_PREFIX):
        raise ConfigurationError(
            f"bad page token {token!r}: pass the next_page_token of the previous page"
        )
    try:
        return base64.urlsafe_b64decode(token[len(_TOKEN_PREFIX) :].encode())
    except (ValueError, UnicodeError) as err:
        raise ConfigurationError(f"bad page token {token!r}: {err}") from err


def _ms(ts: Any) -> int:
    return int(ts.seconds * 1000 + ts.nanos // 1_000_000)


def run_record(
    info: WorkflowExecutionInfo,
    *,
    pending_activities: int = 0,
    task_failure: Failure | None = None,
    task_attempts: int = 0,
) -> RunRecord:
    """A run record from Temporal's execution info (listed or described)."""
    memo, _ = memo_values(info.memo.fields)
    parent = info.parent_execution
    return RunRecord(
        run_id=info.execution.run_id,
        workflow_id=info.execution.workflow_id,
        workflow_type=info.type.name,
        task_queue=info.task_queue,
        status=STATUSES.get(info.status, RunStatus.RUNNING),
        start_time=_ms(info.start_time),
        close_time=_ms(info.close_time) if info.HasField("close_time") else None,
        history_length=info.history_length,
        history_bytes=info.history_size_bytes,
        first_run_id=info.first_run_id or info.execution.run_id,
        parent_workflow_id=parent.workflow_id or None,
        parent_run_id=parent.run_id or None,
        task_failure=task_failure,
        task_attempts=task_attempts,
        pending_activities=pending_activities,
        memo=memo,
        search_attributes=decode_search_attributes(info.search_attributes),
    )
