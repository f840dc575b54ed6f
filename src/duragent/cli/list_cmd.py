"""``duragent list``: the workflow runs in the store, newest first."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table
from rich.text import Text

from ..client import WorkflowExecution
from ..store.base import RunStatus
from ..views.format import fmt_dt, fmt_duration, to_json
from ..views.runs import execution_dict, run_duration_ms
from ._common import (
    STATUS_STYLES,
    CliState,
    list_filter_option,
    out,
    run,
    search_attribute_option,
    session,
)

_STATUSES = [s.value for s in RunStatus]


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
    task_failing: bool = False,
    waiting_for_approval: bool = False,
    search_attributes: tuple[tuple[str, Any], ...] = (),
    query: str | None = None,
) -> None:
    async with session(state) as client:
        runs = await client.list_workflows(
            query,
            status=status,
            workflow_type=workflow_type,
            workflow_id_prefix=prefix,
            limit=limit,
            task_failing=task_failing,
            waiting_for_approval=waiting_for_approval,
            search_attributes=search_attributes,
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
@click.option(
    "--task-failing",
    is_flag=True,
    help="Only running runs whose workflow task keeps failing (a bug, a bad deploy).",
)
@click.option(
    "--waiting-for-approval",
    is_flag=True,
    help="Only running runs with a tool call waiting for a human decision.",
)
@search_attribute_option(
    "Only runs whose search attribute NAME equals VALUE (repeat to combine; a list "
    "attribute matches when it contains VALUE)."
)
@list_filter_option("Only the runs it selects.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@click.pass_obj
def list_command(
    state: CliState,
    status: str | None,
    workflow_type: str | None,
    prefix: str | None,
    limit: int,
    task_failing: bool,
    waiting_for_approval: bool,
    search_attributes: tuple[tuple[str, Any], ...],
    query: str | None,
    as_json: bool,
) -> None:
    """List workflow runs, newest first (filters combine)."""
    run(
        _list(
            state,
            status,
            workflow_type,
            prefix,
            limit,
            as_json,
            task_failing,
            waiting_for_approval,
            search_attributes,
            query,
        )
    )
