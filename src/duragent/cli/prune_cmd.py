"""``duragent prune``: remove closed runs older than a given age from a SQLite store."""

from __future__ import annotations

import asyncio
import json

import click

from .._backend import is_temporal
from ..errors import ConfigurationError
from ..views.format import fmt_bytes
from ._common import CliState, out, parse_duration, run, session


async def _prune(
    state: CliState, older_than: str, dry_run: bool, as_json: bool, keep_payloads: bool
) -> None:
    age = parse_duration(older_than)
    if age.total_seconds() <= 0:
        raise click.BadParameter("must be more than 0", param_hint="--older-than")
    if is_temporal(state.db):
        raise ConfigurationError(
            f"{state.db} is a Temporal address: Temporal removes closed runs itself, after "
            "the namespace's retention period (duragent prune is for SQLite stores)"
        )
    async with session(state) as client:
        now = client.clock.now_ms()  # the store's own clock, as for close times
        cutoff = now - int(age.total_seconds() * 1000)
        report = client.store.prune_closed_runs(cutoff, now, dry_run=dry_run)
        payloads = None
        if not dry_run and not keep_payloads:
            # In a thread: the mark reads every event, and the loop keeps the session alive.
            payloads = await asyncio.to_thread(client.store.collect_payloads, now)
    if as_json:
        found: dict[str, object] = {
            "runs": report.runs,
            "events": report.events,
            "dry_run": dry_run,
        }
        if payloads is not None:
            found["payloads"] = {
                "removed": payloads.removed,
                "removed_bytes": payloads.removed_bytes,
                "kept": payloads.kept,
                "skipped": payloads.skipped,
            }
        click.echo(json.dumps(found))
        return
    verb = "would remove" if dry_run else "removed"
    out().print(
        f"{verb} {report.runs:,} closed run{'s' * (report.runs != 1)} "
        f"({report.events:,} events) closed more than {older_than} ago"
    )
    if payloads is not None and payloads.skipped:
        out().print(f"payloads not reclaimed: {payloads.skipped}")
    elif payloads is not None:
        out().print(
            f"reclaimed {payloads.removed:,} payload{'s' * (payloads.removed != 1)} "
            f"({fmt_bytes(payloads.removed_bytes)}) no kept run refers to; "
            f"{payloads.kept:,} in use"
        )


@click.command("prune", short_help="Remove closed runs older than an age (SQLite stores).")
@click.option(
    "--older-than",
    required=True,
    metavar="AGE",
    help="Remove runs that closed at least this long ago: 30d, 12h, 90m, 3600 (seconds).",
)
@click.option("--dry-run", is_flag=True, help="Only count what would be removed.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.option(
    "--keep-payloads",
    is_flag=True,
    help="Do not reclaim the payloads no kept run refers to (it reads every event).",
)
@click.pass_obj
def prune_command(
    state: CliState, older_than: str, dry_run: bool, as_json: bool, keep_payloads: bool
) -> None:
    """Remove every run that closed (completed, failed, cancelled, terminated, timed out,
    continued as new) more than AGE ago, with its history, activity attempts, updates,
    usage ledger entries and token stream. Running runs are never removed, however old.

    The store keeps every closed run until it is pruned; run this from cron, or while
    workers run (it works in short transactions), or let workers do it as they run
    (Worker(..., run_retention=timedelta(days=30)) in Python). Then the payloads no kept
    run refers to any more are reclaimed (runs share payloads by content: forks, identical
    inputs, a conversation's earlier turns), unless --keep-payloads: this reads every
    event, while workers go on writing. The file does not shrink: SQLite reuses the freed
    pages for new rows (run VACUUM, with no worker running, to shrink it). For a Temporal
    address, the namespace's retention does this instead.
    """
    run(_prune(state, older_than, dry_run, as_json, keep_payloads))
