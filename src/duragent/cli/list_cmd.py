"""``duragent list``: the workflow runs in the store, newest first."""

from __future__ import annotations

import time
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from ..client import WorkflowExecution
from ..store.base import RunStatus
from ._common import (
    STATUS_STYLES,
    CliState,
    fmt_dt,
    fmt_duration,
    out,
    run,
    session,
    to_json,
)

_STATUSES = [
    RunStatus.RUNNING,
    RunStatus.COMPLETED,
    RunStatus.FAILED,
    RunStatus.CANCELED,
    RunStatus.TERMINATED,
    RunStatus.CONTINUED_AS_NEW,
]


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
    }


def run_duration_ms(e: WorkflowExecution) -> float:
    """How long the run took (so far, while it is running)."""
    end = e.close_time.timestamp() if e.close_time else time.time()
    return (end - e.start_time.timestamp()) * 1000


def _table(runs: list[WorkflowExecution]) -> Table:
    table = Table(show_edge=False, header_style="bold", pad_edge=False)
    table.add_column("WORKFLOW ID", overflow="fold")
    table.add_column("TYPE")
    table.add_column("STATUS", no_wrap=True)
    table.add_column("STARTED", no_wrap=True)
    table.add_column("CLOSED", no_wrap=True)
    table.add_column("DURATION", justify="right", no_wrap=True)
    table.add_column("EVENTS", justify="right")
    table.add_column("", no_wrap=True)
    for e in runs:
        status = Text(e.status.replace("_", " "), style=STATUS_STYLES.get(e.status, ""))
        marker = Text("⚠ task failing", style="bold red") if e.task_failure else Text("")
        if e.pending_activities and not e.task_failure:
            marker = Text(f"{e.pending_activities} pending", style="dim")
        table.add_row(
            Text(e.id),
            Text(e.workflow_type),
            status,
            fmt_dt(e.start_time),
            fmt_dt(e.close_time),
            fmt_duration(run_duration_ms(e)),
            str(e.history_length),
            marker,
        )
    return table


async def _list(
    state: CliState,
    status: str | None,
    workflow_type: str | None,
    prefix: str | None,
    limit: int,
    as_json: bool,
) -> None:
    async with session(state) as client:
        runs = await client.list_workflows(
            status=status, workflow_type=workflow_type, workflow_id_prefix=prefix, limit=limit
        )
    if as_json:
        click.echo(to_json([execution_dict(e) for e in runs], indent=2))
        return
    console = out()
    if not runs:
        console.print("[dim]no workflows[/]")
        return
    console.print(_table(runs))


@click.command("list")
@click.option(
    "--status",
    type=click.Choice(_STATUSES, case_sensitive=False),
    help="Only runs with this status.",
)
@click.option("--type", "workflow_type", metavar="TYPE", help="Only runs of this workflow type.")
@click.option("--prefix", metavar="PREFIX", help="Only workflow ids starting with PREFIX.")
@click.option(
    "--limit", type=click.IntRange(min=1), default=50, show_default=True, help="At most N runs."
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@click.pass_obj
def list_command(
    state: CliState,
    status: str | None,
    workflow_type: str | None,
    prefix: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List workflow runs, newest first."""
    run(_list(state, status, workflow_type, prefix, limit, as_json))
