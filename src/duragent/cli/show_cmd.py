"""``duragent show``: one workflow run, header and timeline."""

from __future__ import annotations

import re
import time
from dataclasses import fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .._backend.records import ActivityAttempt, PendingActivity
from .._engine import events as ev
from .._engine.failure import Failure
from .._fork.spec import SERVED_MARKER
from ..client import WorkflowExecution
from ..history import WorkflowHistory
from ..views.agent_rows import MODEL_ACTIVITY
from ..views.fork_rows import fork_facts
from ..views.format import fmt_bytes, fmt_dt, fmt_duration, to_json, truncate
from ..views.runs import execution_dict, report_dict, run_duration_ms
from ..views.timeline import State, Step, build_timeline, workflow_tasks
from ._common import CliState, out, run, session, status_markup
from .usage_cmd import usage_section

if TYPE_CHECKING:
    from ..client import Client
    from ..openai_agents import UsageReport

_STATE_STYLES = {
    State.OK: "green",
    State.FAILED: "bold red",
    State.TIMED_OUT: "bold red",
    State.CANCELLED: "yellow",
    State.RUNNING: "cyan",
    State.WAITING: "blue",
    State.INFO: "dim",
}
_STATE_LABELS = {State.OK: "ok", State.INFO: ""}
_FRAME = re.compile(r'File "([^"]+)", line (\d+)')


def _clock(ms: int, start: datetime) -> str:
    """Wall time of a step; the date only when it differs from the run's start."""
    when = datetime.fromtimestamp(ms / 1000)
    fmt = "%H:%M:%S.%f" if when.date() == start.astimezone().date() else "%Y-%m-%d %H:%M:%S.%f"
    return when.strftime(fmt)[:-3]


def _header(e: WorkflowExecution, events: list[ev.Event]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("workflow", Text(e.id, style="bold"))
    run_text = Text(e.run_id)
    if e.first_run_id and e.first_run_id != e.run_id:
        run_text.append(f"  (first run {e.first_run_id})", style="dim")
    grid.add_row("run", run_text)
    grid.add_row("type", Text(e.workflow_type))
    grid.add_row("task queue", Text(e.task_queue))
    status = Text.from_markup(status_markup(e.status))
    if e.pending_activities:
        n = e.pending_activities
        status.append(f"  ({n} pending {'activity' if n == 1 else 'activities'})", style="dim")
    grid.add_row("status", status)
    grid.add_row("started", fmt_dt(e.start_time))
    if e.close_time is not None:
        grid.add_row("closed", f"{fmt_dt(e.close_time)}  (took {fmt_duration(run_duration_ms(e))})")
    else:
        grid.add_row("running for", fmt_duration(run_duration_ms(e)))
    grid.add_row(
        "history",
        f"{e.history_length} events, {fmt_bytes(e.history_size_bytes)}, "
        f"{workflow_tasks(events)} workflow tasks",
    )
    if e.parent_id:
        grid.add_row("parent", Text(f"{e.parent_id} (run {e.parent_run_id})"))
    facts = fork_facts(events)
    if facts is not None:
        reused = facts.own.at_model_call - 1
        grid.add_row(
            "forked from",
            Text(
                f"{facts.summary().removeprefix('fork of ')}\nmodel calls 1-{reused} and the "
                "tool calls between them reused from the source (marked below)"
                if reused
                else facts.summary().removeprefix("fork of ")
            ),
        )
    if e.search_attributes:
        pairs = (f"{k}={to_json(v)}" for k, v in sorted(e.search_attributes.items()))
        grid.add_row("search attributes", Text(truncate("  ".join(pairs), 200)))
    if e.memo:
        grid.add_row("memo", Text(truncate(to_json(e.memo), 120)))
    return grid


def _task_failure_panel(e: WorkflowExecution, failure: Failure | None) -> RenderableType:
    body = Text(e.task_failure or "", style="bold red")
    if failure is not None:
        frames = _FRAME.findall(failure.stack_trace)
        if frames:
            path, line = frames[-1]
            body.append(f"\nat {path}:{line}", style="red")
    body.append(
        "\nThe run stays open and its workflow task is retried: deploy fixed code (or guard "
        "the change with workflow.patched) and restart the worker.",
        style="dim",
    )
    title = f"workflow task failing (attempt {e.task_attempts})"
    return Panel(body, title=title, title_align="left", border_style="red")


def _timeline(steps: list[Step], start: datetime) -> Table:
    table = Table(show_edge=False, header_style="bold", pad_edge=False, expand=False)
    table.add_column("#", justify="right", style="dim", no_wrap=True)
    table.add_column("TIME", no_wrap=True)
    table.add_column("STEP", overflow="fold")
    table.add_column("STATUS", no_wrap=True)
    table.add_column("TRIES", justify="right", no_wrap=True)
    table.add_column("TOOK", justify="right", no_wrap=True)
    table.add_column("DETAIL", overflow="fold")
    for s in steps:
        style = _STATE_STYLES.get(s.state, "")
        failed = s.state in (State.FAILED, State.TIMED_OUT)
        detail = Text(truncate(s.detail, 200 if failed else 80), style="red" if failed else "")
        for i, note in enumerate(s.notes):
            if detail or i:
                detail.append("\n")
            branch = "└ " if i == len(s.notes) - 1 else "├ "
            detail.append(branch, style="dim")
            detail.append(note.text, style=_STATE_STYLES.get(note.state, "dim"))
        table.add_row(
            str(s.event_id),
            _clock(s.time, start),
            Text(s.title, style="bold" if s.title.startswith("workflow") else ""),
            Text(_STATE_LABELS.get(s.state, s.state), style=style),
            str(s.attempts) if s.attempts else "",
            fmt_duration(s.duration_ms) if s.duration_ms is not None else "",
            detail,
        )
    return table


async def _usage(client: Client, workflow_id: str, events: list[ev.Event]) -> UsageReport | None:
    """The usage report when the run made model calls (and the Agents SDK is installed)."""
    if not any(
        (isinstance(e, ev.ActivityTaskScheduled) and e.activity_type == MODEL_ACTIVITY)
        or (isinstance(e, ev.MarkerRecorded) and e.name == SERVED_MARKER)
        for e in events
    ):
        return None
    try:
        from ..openai_agents import usage_report
    except ImportError:  # recorded by a worker that had the SDK; this process has not
        return None
    return await usage_report(client, workflow_id)


def _jsonable(record: ActivityAttempt | PendingActivity) -> dict[str, Any]:
    """The record's fields (the same keys as the store's rows), failures as dicts; the
    backend-specific ``details`` of a pending activity only when there are some."""
    out: dict[str, Any] = {}
    for f in fields(record):
        value = getattr(record, f.name)
        if f.name == "details" and not value:
            continue
        out[f.name] = value.to_dict() if isinstance(value, Failure) else value
    return out


async def _show(state: CliState, workflow_id: str, run_id: str | None, as_json: bool) -> None:
    # Everything is rendered inside the session: large payloads are read from the store on
    # first access.
    async with session(state) as client:
        backend = client.backend
        record = await backend.describe(workflow_id, run_id)
        execution = WorkflowExecution._from_record(record)
        events = await backend.read_history(workflow_id, record.run_id)
        attempts = await backend.activity_attempts(workflow_id, record.run_id)
        pending = await backend.pending_activities(workflow_id, record.run_id)
        failure = record.task_failure
        usage = await _usage(client, workflow_id, events)
        if as_json:
            data = WorkflowHistory(workflow_id, execution.run_id, events).to_dict()
            data["execution"] = execution_dict(execution)
            data["attempts"] = [_jsonable(a) for a in attempts]
            data["pending_activities"] = [_jsonable(p) for p in pending]
            if usage is not None:
                data["usage"] = report_dict(usage)
            click.echo(to_json(data, indent=2))
            return
        steps = build_timeline(events, attempts, pending, now_ms=int(time.time() * 1000))
    parts: list[RenderableType] = [_header(execution, events)]
    if execution.task_failure:
        parts.append(_task_failure_panel(execution, failure))
    parts.append(Text())
    parts.append(_timeline(steps, execution.start_time))
    if usage is not None:
        parts += [Text(), usage_section(usage)]
    out().print(Group(*parts))


@click.command("show", short_help="Show a workflow run as a timeline.")
@click.argument("workflow_id")
@click.option("--run", "run_id", metavar="RUN_ID", help="A specific run (default: the latest).")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the raw history (the export format) plus execution facts and attempts.",
)
@click.pass_obj
def show_command(state: CliState, workflow_id: str, run_id: str | None, as_json: bool) -> None:
    """Show WORKFLOW_ID: its status and a timeline of every step it took.

    Lists each activity with its attempts (failed ones included), timers, signals,
    cancellation, child workflows, updates and how the run closed. A workflow whose task
    keeps failing (a bug, or code that no longer matches its history) shows why in red.
    Agent runs show each model call as 'model <agent>' and each tool call as
    'tool <name>', followed by the run's usage (as `duragent usage ID` reports it). A fork
    (`duragent fork`) names its source, and marks the steps it reused from it and the calls
    it served from the source's recording.
    """
    run(_show(state, workflow_id, run_id, as_json))
