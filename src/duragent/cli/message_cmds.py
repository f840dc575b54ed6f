"""Commands that talk to a running workflow's code: query and update."""

from __future__ import annotations

from typing import Any

import click

from ..views.format import to_json
from ._common import CliState, parse_args, run, session

_RUN_OPTION = click.option(
    "--run", "run_id", metavar="RUN_ID", help="A specific run (default: the latest run)."
)


async def _query(
    state: CliState,
    workflow_id: str,
    run_id: str | None,
    name: str,
    args: list[Any],
    timeout: float,
) -> None:
    async with session(state) as client:
        handle = client.get_workflow_handle(workflow_id, run_id=run_id)
        click.echo(to_json(await handle.query(name, args=args, timeout=timeout)))


@click.command("query", short_help="Ask a workflow's query handler.")
@click.argument("workflow_id")
@click.argument("name")
@click.argument("args", nargs=-1)
@_RUN_OPTION
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for a worker to answer.",
)
@click.pass_obj
def query_command(
    state: CliState,
    workflow_id: str,
    name: str,
    args: tuple[str, ...],
    run_id: str | None,
    timeout: float,
) -> None:
    """Run query NAME with ARGS (each parsed as JSON, else a string) on WORKFLOW_ID and
    print the answer as JSON. Nothing is recorded; closed workflows can be queried too."""
    run(_query(state, workflow_id, run_id, name, parse_args(args), timeout))


async def _update(
    state: CliState,
    workflow_id: str,
    run_id: str | None,
    name: str,
    args: list[Any],
    update_id: str | None,
    timeout: float | None,
) -> None:
    async with session(state) as client:
        handle = client.get_workflow_handle(workflow_id, run_id=run_id)
        await handle.describe()  # a clear "not found" before waiting
        result = await handle.execute_update(name, args=args, id=update_id, timeout=timeout)
        click.echo(to_json(result))


@click.command("update", short_help="Send an update and print its result.")
@click.argument("workflow_id")
@click.argument("name")
@click.argument("args", nargs=-1)
@_RUN_OPTION
@click.option(
    "--id", "update_id", metavar="ID", help="Update id, to make retries of this command idempotent."
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Give up (exit 1) after this long; default: wait as long as it takes.",
)
@click.pass_obj
def update_command(
    state: CliState,
    workflow_id: str,
    name: str,
    args: tuple[str, ...],
    run_id: str | None,
    update_id: str | None,
    timeout: float | None,
) -> None:
    """Send update NAME with ARGS (each parsed as JSON, else a string) to WORKFLOW_ID and
    print its result as JSON. Exits 1 if the update is rejected or fails."""
    run(_update(state, workflow_id, run_id, name, parse_args(args), update_id, timeout))
