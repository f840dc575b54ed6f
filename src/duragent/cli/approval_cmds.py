"""``duragent approvals|approve|reject``: tool calls waiting for a human decision.

Pending approvals are read from history (``pending_approvals``), so listing them needs no
worker. A decision is an update (``duragent_decide_approval``) that the workflow's validator
checks: deciding a call that is not pending is an error, and nothing is recorded.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ..errors import UpdateRejectedError
from ..views.format import to_json, truncate
from ._agents import duragent_command, require_agents_sdk
from ._common import CliState, err, out, run, session

if TYPE_CHECKING:
    from ..client import Client
    from ..openai_agents import ApprovalRequest

_SLOW_DECISION_S = 3.0
"""After this long without the workflow taking a decision, say that a worker is needed."""


async def _pending_of(client: Client, workflow_id: str) -> list[ApprovalRequest]:
    from ..openai_agents import pending_approvals

    return await pending_approvals(client.get_workflow_handle(workflow_id))


async def _collect(
    client: Client, workflow_id: str | None, limit: int
) -> list[tuple[str, ApprovalRequest]]:
    if workflow_id is not None:
        await client.get_workflow_handle(workflow_id).describe()  # a clear "not found"
        return [(workflow_id, r) for r in await _pending_of(client, workflow_id)]
    found: list[tuple[str, ApprovalRequest]] = []
    for execution in await client.list_workflows(waiting_for_approval=True, limit=limit):
        found += [(execution.id, r) for r in await _pending_of(client, execution.id)]
    return found


def _table(rows: list[tuple[str, ApprovalRequest]]) -> Table:
    table = Table(show_edge=False, header_style="bold", pad_edge=False)
    table.add_column("WORKFLOW ID", overflow="fold")
    table.add_column("CALL ID", overflow="fold")
    table.add_column("TOOL")
    table.add_column("ARGUMENTS", overflow="fold")
    table.add_column("AGENT")
    for workflow_id, r in rows:
        table.add_row(
            Text(workflow_id),
            Text(r.call_id, style="cyan"),
            Text(r.tool, style="bold"),
            Text(truncate(r.arguments, 120)),
            Text(r.agent),
        )
    return table


async def _approvals(state: CliState, workflow_id: str | None, limit: int, as_json: bool) -> None:
    async with session(state) as client:
        rows = await _collect(client, workflow_id, limit)
    if as_json:
        data = [{"workflow_id": wid, **dataclasses.asdict(r)} for wid, r in rows]
        click.echo(to_json(data, indent=2))
        return
    if not rows:
        where = f" in workflow {workflow_id}" if workflow_id else ""
        out().print(f"[dim]no tool calls are waiting for approval{escape(where)}[/]")
        return
    out().print(_table(rows))
    first_id, first = rows[0]
    err().print(
        "[dim]decide with: "
        f"{escape(duragent_command('approve', first_id, first.call_id))}  or  "
        f"{escape(duragent_command('reject', first_id, first.call_id, '--message', 'TEXT'))}[/]"
    )


@click.command("approvals", short_help="List tool calls waiting for approval.")
@click.argument("workflow_id", metavar="[ID]", required=False)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Without ID: look at most at this many workflows waiting for approval (newest first).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@click.pass_obj
def approvals_command(state: CliState, workflow_id: str | None, limit: int, as_json: bool) -> None:
    """List the tool calls waiting for a human decision: of workflow ID, or of every
    running workflow. Read from history, so no worker needs to be running.

    Decide with `duragent approve ID CALL_ID` or `duragent reject ID CALL_ID`.
    """
    require_agents_sdk()
    run(_approvals(state, workflow_id, limit, as_json))


def _not_taken(queue: str, timeout: float | None) -> TimeoutError:
    return TimeoutError(
        f"no worker took the decision within {timeout}s; it stays queued and is applied "
        f"when a worker for task queue {queue!r} runs"
    )


async def _wait_for_decision(task: asyncio.Future[Any], queue: str, timeout: float | None) -> Any:
    first = _SLOW_DECISION_S if timeout is None else min(_SLOW_DECISION_S, timeout)
    done, _ = await asyncio.wait({task}, timeout=first)
    if done:
        return task.result()
    if timeout is not None and timeout <= first:
        raise _not_taken(queue, timeout)
    err().print(
        f"[yellow]waiting for a worker on task queue {escape(queue)} to take the decision...[/]"
    )
    try:
        return await asyncio.wait_for(task, None if timeout is None else timeout - first)
    except TimeoutError:
        raise _not_taken(queue, timeout) from None


async def _decide(
    state: CliState,
    workflow_id: str,
    call_id: str,
    approve: bool,
    message: str | None,
    timeout: float | None,
) -> None:
    from ..openai_agents import decide

    async with session(state) as client:
        handle = client.get_workflow_handle(workflow_id)
        execution = await handle.describe()
        pending = {r.call_id: r for r in await _pending_of(client, workflow_id)}
        request = pending.get(call_id)
        if request is None:
            if execution.status != "running":
                why = f"workflow {workflow_id!r} is {execution.status.replace('_', ' ')}"
            else:
                known = ", ".join(sorted(pending)) or "none"
                why = (
                    f"it is not waiting for approval in workflow {workflow_id!r} (pending: {known})"
                )
            raise UpdateRejectedError(f"cannot decide tool call {call_id!r}: {why}")
        task = asyncio.ensure_future(decide(handle, call_id, approve=approve, message=message))
        try:
            await _wait_for_decision(task, execution.task_queue, timeout)
        except UpdateRejectedError as error:
            # Decided meanwhile by someone else, or the run moved on: the validator's reason.
            reason = error.cause if error.cause is not None else error
            raise UpdateRejectedError(f"cannot decide tool call {call_id!r}: {reason}") from error
        finally:
            task.cancel()
    call = f"{request.tool}({truncate(request.arguments, 120)})"
    if approve:
        click.echo(f"approved {call_id}: {call} of workflow {workflow_id}; the run goes on")
    else:
        told = f"; the model is told: {message}" if message else ""
        click.echo(f"rejected {call_id}: {call} of workflow {workflow_id}{told}")


_TIMEOUT_OPTION = click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Give up (exit 1) if no worker takes the decision in time.",
)


@click.command("approve", short_help="Approve a tool call waiting for approval.")
@click.argument("workflow_id", metavar="ID")
@click.argument("call_id")
@_TIMEOUT_OPTION
@click.pass_obj
def approve_command(state: CliState, workflow_id: str, call_id: str, timeout: float | None) -> None:
    """Approve tool call CALL_ID of workflow ID: the tool runs and the agent goes on.

    Exits 1 if the call is not waiting for approval (see `duragent approvals`).
    """
    require_agents_sdk()
    run(_decide(state, workflow_id, call_id, True, None, timeout))


@click.command("reject", short_help="Reject a tool call waiting for approval.")
@click.argument("workflow_id", metavar="ID")
@click.argument("call_id")
@click.option(
    "--message",
    "-m",
    metavar="TEXT",
    help="What the model is told instead of the tool's output (default: the SDK's "
    "'not approved' message).",
)
@_TIMEOUT_OPTION
@click.pass_obj
def reject_command(
    state: CliState, workflow_id: str, call_id: str, message: str | None, timeout: float | None
) -> None:
    """Reject tool call CALL_ID of workflow ID: the tool does not run, and the model is
    told so (with --message TEXT) and goes on.

    Exits 1 if the call is not waiting for approval (see `duragent approvals`).
    """
    require_agents_sdk()
    run(_decide(state, workflow_id, call_id, False, message, timeout))
