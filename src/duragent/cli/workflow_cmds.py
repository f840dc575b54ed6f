"""Commands that act on one workflow (cancel and terminate also on many): start, result,
cancel, terminate, signal, export."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from ..client import new_workflow_id
from ..views.format import to_json
from ._common import (
    CliState,
    err,
    list_filter_option,
    parse_args,
    run,
    search_attribute_option,
    session,
)
from .batch import act_on_matching

_RUN_OPTION = click.option(
    "--run", "run_id", metavar="RUN_ID", help="A specific run (default: the latest run)."
)


async def _start(
    state: CliState,
    workflow_type: str,
    args: list[Any],
    workflow_id: str,
    task_queue: str,
    wait: bool,
    timeout: float | None,
    as_json: bool,
    search_attributes: tuple[tuple[str, Any], ...] = (),
    cron_schedule: str = "",
) -> None:
    async with session(state, create=True) as client:
        handle = await client.start_workflow(
            workflow_type,
            args=args,
            id=workflow_id,
            task_queue=task_queue,
            search_attributes=dict(search_attributes),
            cron_schedule=cron_schedule,
        )
        run_id = handle.run_id or ""
        if not as_json:
            err().print(
                f"started [bold]{escape(workflow_type)}[/] id [cyan]{escape(workflow_id)}[/] "
                f"run [dim]{run_id}[/] on queue {escape(task_queue)}"
            )
            click.echo(run_id)
        result: Any = None
        if wait:
            result = await handle.result(timeout=timeout)
        if as_json:
            data: dict[str, Any] = {"workflow_id": workflow_id, "run_id": run_id}
            if wait:
                data["result"] = result
            click.echo(to_json(data))
        elif wait:
            click.echo(to_json(result))


@click.command("start", short_help="Start a workflow and print its run id.")
@click.argument("workflow_type")
@click.argument("args", nargs=-1)
@click.option("--id", "workflow_id", metavar="ID", help="Workflow id (default: a random one).")
@click.option(
    "--task-queue",
    "-q",
    required=True,
    envvar="DURAGENT_TASK_QUEUE",
    metavar="QUEUE",
    help="Queue whose workers run it (env DURAGENT_TASK_QUEUE).",
)
@click.option("--wait", is_flag=True, help="Wait for the result and print it as JSON.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="With --wait: give up (exit 1) after this long.",
)
@search_attribute_option(
    "Give the run search attribute NAME (repeatable; find it with duragent list "
    "--search-attribute)."
)
@click.option("--json", "as_json", is_flag=True, help="Print {workflow_id, run_id[, result]}.")
@click.option(
    "--cron-schedule",
    metavar="EXPR",
    default="",
    help="A cron workflow (Temporal's cron_schedule): each run at the next matching time "
    "(5 fields, UTC). Prefer `duragent schedule create`.",
)
@click.pass_obj
def start_command(
    state: CliState,
    workflow_type: str,
    args: tuple[str, ...],
    workflow_id: str | None,
    task_queue: str,
    wait: bool,
    timeout: float | None,
    search_attributes: tuple[tuple[str, Any], ...],
    as_json: bool,
    cron_schedule: str,
) -> None:
    """Start a workflow of WORKFLOW_TYPE with ARGS and print its run id.

    Each ARG is parsed as JSON (42, true, '{"city": "Paris"}'); anything that is not valid
    JSON is passed as a string.
    """
    run(
        _start(
            state,
            workflow_type,
            parse_args(args),
            workflow_id or new_workflow_id(workflow_type.lower()),
            task_queue,
            wait,
            timeout,
            as_json,
            search_attributes,
            cron_schedule,
        )
    )


async def _result(
    state: CliState, workflow_id: str, run_id: str | None, timeout: float | None
) -> None:
    async with session(state) as client:
        handle = client.get_workflow_handle(workflow_id, run_id=run_id)
        await handle.describe()  # a clear "not found" before waiting
        click.echo(to_json(await handle.result(timeout=timeout)))


@click.command("result", short_help="Wait for a workflow's result.")
@click.argument("workflow_id")
@_RUN_OPTION
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Give up (exit 1) after this long; default: wait as long as it takes.",
)
@click.pass_obj
def result_command(
    state: CliState, workflow_id: str, run_id: str | None, timeout: float | None
) -> None:
    """Wait for WORKFLOW_ID to close and print its result as JSON.

    Exits 1 with the error when the workflow failed, was cancelled or terminated.
    """
    run(_result(state, workflow_id, run_id, timeout))


async def _act(
    state: CliState, workflow_id: str, run_id: str | None, action: str, **kw: Any
) -> None:
    async with session(state) as client:
        handle = client.get_workflow_handle(workflow_id, run_id=run_id)
        if action == "cancel":
            await handle.cancel(kw["reason"])
            click.echo(f"cancellation requested for workflow {workflow_id}")
        elif action == "terminate":
            await handle.terminate(kw["reason"])
            click.echo(f"terminated workflow {workflow_id}")
        else:
            await handle.signal(kw["name"], args=kw["args"])
            click.echo(f"sent signal {kw['name']} to workflow {workflow_id}")


_BATCH_NOTE = (
    "\n\nWith --query FILTER instead, every running workflow the list filter selects (after "
    "a question, unless --yes)."
)


def _stop_command(action: str, short_help: str, doc: str) -> click.Command:
    """``cancel`` or ``terminate``: one workflow by id, or every running one a list filter
    selects."""

    @click.command(action, short_help=short_help, help=doc + _BATCH_NOTE)
    @click.argument("workflow_id", required=False)
    @_RUN_OPTION
    @click.option("--reason", default="", help="Why (recorded in history).")
    @list_filter_option("Instead of WORKFLOW_ID: every running workflow it selects.")
    @click.option("--yes", "-y", is_flag=True, help="With --query: do not ask first.")
    @click.option("--dry-run", is_flag=True, help="With --query: only list the workflows.")
    @click.option("--json", "as_json", is_flag=True, help="With --query: print JSON.")
    @click.pass_obj
    def command(
        state: CliState,
        workflow_id: str | None,
        run_id: str | None,
        reason: str,
        query: str | None,
        yes: bool,
        dry_run: bool,
        as_json: bool,
    ) -> None:
        if (workflow_id is None) == (query is None):
            raise click.UsageError("give a WORKFLOW_ID or --query FILTER (one of them)")
        if query is None:
            assert workflow_id is not None
            if yes or dry_run or as_json:
                raise click.UsageError("--yes, --dry-run and --json go with --query")
            run(_act(state, workflow_id, run_id, action, reason=reason))
            return
        if run_id is not None:
            raise click.UsageError("--run names a run of one workflow: not with --query")
        run(
            act_on_matching(state, query, action, reason, yes=yes, dry_run=dry_run, as_json=as_json)
        )

    return command


cancel_command = _stop_command(
    "cancel",
    "Request cancellation of a workflow (or of many).",
    "Ask WORKFLOW_ID to cancel: its code gets a CancelledError and may clean up.",
)
terminate_command = _stop_command(
    "terminate",
    "Stop a workflow at once (or many).",
    "Stop WORKFLOW_ID at once; none of its code runs after this.",
)


@click.command("signal", short_help="Send a signal to a workflow.")
@click.argument("workflow_id")
@click.argument("name")
@click.argument("args", nargs=-1)
@_RUN_OPTION
@click.pass_obj
def signal_command(
    state: CliState, workflow_id: str, name: str, args: tuple[str, ...], run_id: str | None
) -> None:
    """Send signal NAME with ARGS (each parsed as JSON, else a string) to WORKFLOW_ID."""
    run(_act(state, workflow_id, run_id, "signal", name=name, args=parse_args(args)))


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a crash never leaves a half-written file."""
    directory = path.parent if str(path.parent) else Path()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


async def _export(
    state: CliState, workflow_id: str, run_id: str | None, output: Path | None
) -> None:
    async with session(state) as client:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        # Inside the session: large payloads are read from the store on first access.
        text = history.to_json() + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    _write_atomically(output, text)
    err().print(
        f"wrote {len(history.events)} events of workflow {escape(workflow_id)} "
        f"run {history.run_id} to {escape(str(output))}"
    )


@click.command("export", short_help="Write a workflow's history as JSON.")
@click.argument("workflow_id")
@_RUN_OPTION
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="File to write (default: stdout).",
)
@click.pass_obj
def export_command(
    state: CliState, workflow_id: str, run_id: str | None, output: Path | None
) -> None:
    """Write the event history of WORKFLOW_ID as JSON (readable by WorkflowHistory.from_json
    and the Replayer)."""
    run(_export(state, workflow_id, run_id, output))
