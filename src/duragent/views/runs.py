"""What the CLI and the web UI show about a run as a whole: its facts as JSON, its duration."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

from ..client import WorkflowExecution

if TYPE_CHECKING:
    from ..openai_agents import UsageReport


def execution_dict(e: WorkflowExecution) -> dict[str, Any]:
    """A JSON-able form of a :class:`WorkflowExecution`."""
    return {
        "workflow_id": e.id,
        "run_id": e.run_id,
        "workflow_type": e.workflow_type,
        "task_queue": e.task_queue,
        "status": e.status,
        "start_time": e.start_time.isoformat(),
        "close_time": e.close_time.isoformat() if e.close_time else None,
        "history_length": e.history_length,
        "history_size_bytes": e.history_size_bytes,
        "first_run_id": e.first_run_id,
        "parent_id": e.parent_id,
        "parent_run_id": e.parent_run_id,
        "pending_activities": e.pending_activities,
        "task_failure": e.task_failure,
        "task_attempts": e.task_attempts,
        "memo": e.memo,
        "search_attributes": e.search_attributes,
    }


def run_duration_ms(e: WorkflowExecution) -> float:
    """How long the run took (so far, while it is running)."""
    end = e.close_time.timestamp() if e.close_time else time.time()
    return (end - e.start_time.timestamp()) * 1000


def report_dict(report: UsageReport) -> dict[str, Any]:
    """A JSON-able form of the report, totals included."""
    data = dataclasses.asdict(report)
    del data["ledger"]  # the raw entries; the report's figures already account for them
    data.update(
        model_calls=report.model_calls,
        input_tokens=report.input_tokens,
        output_tokens=report.output_tokens,
        cached_tokens=report.cached_tokens,
        total_tokens=report.total_tokens,
    )
    return data
