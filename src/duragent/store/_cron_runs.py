"""Runs started with ``cron_schedule=`` (Temporal's cron workflows), inside a transaction.

The first run exists from the start, but its first workflow task waits for the next
matching time. When a run completes or fails, the next run of the same workflow id starts
(with the first run's input) and its first task waits for the next matching time after
the close; ``runs.next_run_id`` links them so that ``handle.result()`` follows the chain
as temporalio does. A cancelled or terminated run ends the chain. Cron times are UTC, with
Vixie cron's rule for day of month and day of week (as Temporal's cron workflows).
"""

from __future__ import annotations

from .._engine import events as ev
from .._engine.cron import CronExpression
from ._runs import create_run, new_run_id
from ._tx import RunRow, Tx
from .base import RunStatus


def delay_first_task(tx: Tx, run: RunRow, cron_schedule: str) -> None:
    """Mark ``run`` as a cron run and hold its first workflow task until the next time."""
    due = CronExpression.parse(cron_schedule).next_after(tx.now)
    tx.c.execute("UPDATE runs SET cron_schedule = ? WHERE run_id = ?", (cron_schedule, run.run_id))
    tx.c.execute(
        "UPDATE tasks SET visible_at = ? WHERE run_id = ? AND kind = 0 AND owner IS NULL",
        (due, run.run_id),
    )
    tx.topics.add("timer")  # workers' housekeeping learns the new due time


def start_next_run(tx: Tx, run: RunRow, status: str) -> None:
    """After ``run`` closed: if it is a cron run that completed or failed, start the next
    run of its workflow, due at the next matching time."""
    row = tx.c.execute("SELECT cron_schedule FROM runs WHERE run_id = ?", (run.run_id,)).fetchone()
    if row is None or not row[0] or status not in (RunStatus.COMPLETED, RunStatus.FAILED):
        return
    cron_schedule = str(row[0])
    started = tx.read_event(run.run_id, 1)
    assert isinstance(started, ev.WorkflowExecutionStarted)
    following = create_run(
        tx,
        run_id=new_run_id(),
        workflow_id=run.workflow_id,
        workflow_type=run.workflow_type,
        task_queue=run.task_queue,
        input=started.input,
        memo=started.memo,
        continued_from=run,
    )
    delay_first_task(tx, following, cron_schedule)
    tx.c.execute("UPDATE runs SET next_run_id = ? WHERE run_id = ?", (following.run_id, run.run_id))
