"""``duragent usage``: what a workflow's agents spent on model calls, and what recovery saved.

The report comes from :func:`duragent.openai_agents.usage_report` (history plus the usage
ledger); the renderers here are shared with ``duragent show``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ..views.format import fmt_duration, fmt_time, to_json
from ..views.runs import report_dict
from ._agents import require_agents_sdk
from ._common import CliState, out, run, session

if TYPE_CHECKING:
    from ..client import Client
    from ..openai_agents import UsageReport


async def load_report(client: Client, workflow_id: str) -> UsageReport:
    """The usage report of ``workflow_id`` (all its runs and child workflows).

    Raises:
        WorkflowNotFoundError: There is no such workflow.
    """
    from ..openai_agents import usage_report

    await client.get_workflow_handle(workflow_id).describe()  # a clear "not found"
    return await usage_report(client, workflow_id)


def recovery_line(report: UsageReport) -> str:
    """Provider calls against recorded ones, re-paid work, handovers, replayed calls (and,
    for a fork, the calls it reused from its source)."""
    line = (
        f"provider calls made: {report.provider_calls}, recorded: {report.model_calls}, "
        f"re-paid: {report.repaid_calls} calls / {report.repaid_tokens} tokens; "
        f"handovers: {report.handovers}; served from history: "
        f"{report.served_from_history} calls / {report.tokens_served_from_history} tokens"
    )
    if report.reused_calls:
        line += (
            f"; reused from the fork's source: {report.reused_calls} calls / "
            f"{report.reused_tokens} tokens (not paid again)"
        )
    return line


def totals_line(report: UsageReport) -> str:
    """Model calls and tokens in one line."""
    return (
        f"model calls: {report.model_calls}, tokens: {report.total_tokens} "
        f"(input {report.input_tokens}, output {report.output_tokens}, "
        f"cached {report.cached_tokens})"
    )


def by_agent_table(report: UsageReport) -> Table:
    """One row per agent: calls and tokens."""
    table = Table(show_edge=False, header_style="bold", pad_edge=False)
    table.add_column("AGENT")
    for name in ("CALLS", "INPUT", "OUTPUT", "CACHED", "TOTAL"):
        table.add_column(name, justify="right")
    for agent, t in report.by_agent.items():
        table.add_row(
            Text(agent, style="bold"),
            str(t.model_calls),
            str(t.input_tokens),
            str(t.output_tokens),
            str(t.cached_tokens),
            str(t.input_tokens + t.output_tokens),
        )
    return table


def calls_table(report: UsageReport) -> Table:
    """One row per recorded model call."""
    several_runs = len({c.run_id for c in report.calls}) > 1
    table = Table(show_edge=False, header_style="bold", pad_edge=False)
    if several_runs:
        table.add_column("RUN", style="dim", no_wrap=True)
    table.add_column("CALL", justify="right", style="dim")
    table.add_column("TIME", no_wrap=True)
    table.add_column("AGENT")
    table.add_column("MODEL")
    table.add_column("ATTEMPT", justify="right")
    for name in ("INPUT", "OUTPUT", "CACHED", "LATENCY"):
        table.add_column(name, justify="right")
    for c in report.calls:
        row = [
            str(c.number),
            fmt_time(c.time)[11:],
            c.agent,
            c.model,
            str(c.attempt),
            str(c.input_tokens),
            str(c.output_tokens),
            str(c.cached_tokens),
            fmt_duration(c.latency_ms),
        ]
        table.add_row(*([c.run_id[:8]] if several_runs else []), *row)
    return table


def usage_section(report: UsageReport) -> RenderableType:
    """The short form ``duragent show`` appends: totals, per agent, recovery."""
    return Group(
        Text("usage", style="bold"),
        Text("  " + totals_line(report)),
        by_agent_table(report),
        Text("  " + recovery_line(report), style="dim"),
    )


async def _usage(state: CliState, workflow_id: str, as_json: bool) -> None:
    async with session(state) as client:
        report = await load_report(client, workflow_id)
    if as_json:
        click.echo(to_json(report_dict(report), indent=2))
        return
    console = out()
    runs = len(report.runs)
    console.print(
        f"[bold]usage of {escape(workflow_id)}[/] [dim]({runs} run{'' if runs == 1 else 's'}, "
        "child workflows included)[/]"
    )
    console.print("  " + totals_line(report), markup=False)
    if report.calls:
        console.print()
        console.print(by_agent_table(report))
        console.print()
        console.print(calls_table(report))
    console.print()
    console.print(recovery_line(report), markup=False)


@click.command("usage", short_help="Show what a workflow's agents spent on model calls.")
@click.argument("workflow_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def usage_command(state: CliState, workflow_id: str, as_json: bool) -> None:
    """Show the model usage of workflow ID (all its runs and child workflows): totals,
    per agent, each model call (seq, agent, model, attempt, tokens, latency), and what
    recovery did.

    'provider calls made' counts responses providers returned (the ledger), 'recorded'
    those in history; the difference was paid twice ('re-paid': a crash between a response
    and its commit). 'served from history' counts calls a worker that took over replayed
    instead of repeating; 'reused from the fork's source' the calls a fork (`duragent
    fork`) took from the run it was forked from.
    """
    require_agents_sdk()
    run(_usage(state, workflow_id, as_json))
