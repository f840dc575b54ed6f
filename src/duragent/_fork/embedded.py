"""Forks on the embedded store: plan from the source's history, then copy its prefix into
the new run in one transaction (planned again if the source moved on meanwhile)."""

from __future__ import annotations

import uuid
from typing import Final

from ..errors import ForkError
from ..store._fork_rows import ForkRun, SourceMovedError
from ..store.base import StartResult
from ..store.sqlite import SqliteStore
from .plan import ForkOptions, plan_fork

_ATTEMPTS: Final = 5


def fork_in_store(
    store: SqliteStore,
    source_workflow_id: str,
    source_run_id: str | None,
    options: ForkOptions,
    *,
    workflow_id: str,
    now: int,
) -> StartResult:
    """Fork a run of ``store`` (its latest run when ``source_run_id`` is None).

    Raises:
        WorkflowNotFoundError: No such workflow or run.
        WorkflowAlreadyStartedError: A run with ``workflow_id`` is running.
        ForkError: The run cannot be forked there.
    """
    record = store.describe(source_workflow_id, source_run_id)
    for _ in range(_ATTEMPTS):
        events = store.read_history(record.run_id)
        plan = plan_fork(record.workflow_id, record.run_id, events, options)
        assert plan.cut is not None
        try:
            return store.fork_run(
                ForkRun(
                    source_run_id=record.run_id,
                    source_last_event_id=len(events),
                    start=plan.start,
                    cut=plan.cut,
                    workflow_id=workflow_id,
                    run_id=uuid.uuid4().hex,
                    fork=plan.spec.to_payload(),
                    fork_results=plan.results,
                ),
                now,
            )
        except SourceMovedError:
            continue
    raise ForkError(
        f"run {record.run_id} of {source_workflow_id!r} kept moving on while being forked; "
        "try again"
    )
