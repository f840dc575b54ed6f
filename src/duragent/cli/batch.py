"""``duragent cancel|terminate --query FILTER``: act on every running run a list filter
selects (Temporal's batch operations, done by this process one run at a time)."""

from __future__ import annotations

import sys

import click

from ..errors import WorkflowNotFoundError, WorkflowNotRunningError
from ..views.format import to_json
from ._common import CliState, err, session

_VERBS = {
    "cancel": ("cancel", "cancellation requested for"),
    "terminate": ("terminate", "terminated"),
}
_SHOWN = 5
"""Workflow ids named in the confirmation question."""


async def act_on_matching(
    state: CliState,
    query: str,
    action: str,
    reason: str,
    *,
    yes: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Cancel or terminate (``action``) every running run ``query`` selects, after a
    confirmation unless ``yes``; ``dry_run``: only list them."""
    verb, done_text = _VERBS[action]
    async with session(state) as client:
        targets = [(w.id, w.run_id) async for w in client.list_workflows(query, status="running")]
        if dry_run or not targets:
            if as_json:
                click.echo(to_json([{"workflow_id": w, "run_id": r} for w, r in targets]))
            elif not targets:
                err().print("no running workflow matches")
            else:
                for workflow_id, _ in targets:
                    click.echo(workflow_id)
                err().print(f"{len(targets)} running workflows would be {done_text.split()[-1]}")
            return
        if not yes:
            names = ", ".join(w for w, _ in targets[:_SHOWN])
            if len(targets) > _SHOWN:
                names += f" and {len(targets) - _SHOWN} more"
            question = f"{verb.capitalize()} {len(targets)} running workflows ({names})?"
            if not sys.stdin.isatty():
                raise click.UsageError(
                    f"{len(targets)} running workflows match: pass --yes to {verb} them "
                    "without a question (or --dry-run to list them)"
                )
            if not click.confirm(question, err=True):
                raise click.Abort
        acted: list[str] = []
        closed: list[str] = []
        for workflow_id, run_id in targets:
            handle = client.get_workflow_handle(workflow_id, run_id=run_id)
            try:
                if action == "cancel":
                    await handle.cancel(reason)
                else:
                    await handle.terminate(reason)
            except (WorkflowNotRunningError, WorkflowNotFoundError):
                closed.append(workflow_id)  # it closed (or was removed) since it was listed
                continue
            acted.append(workflow_id)
    if as_json:
        click.echo(to_json({action: acted, "already_closed": closed}))
        return
    summary = f"{done_text} {len(acted)} workflows"
    if closed:
        summary += f" ({len(closed)} had closed meanwhile)"
    click.echo(summary)
