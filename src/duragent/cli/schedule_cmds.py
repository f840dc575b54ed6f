"""``duragent schedule``: create, list, describe, pause, unpause, trigger and delete
schedules (on the embedded store or on Temporal)."""

from __future__ import annotations

from typing import Any

import click
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ..schedule import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleDescription,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
)
from ..views.format import fmt_dt, to_json
from ._common import CliState, err, out, parse_args, parse_duration, run, session

_DONE = {"pause": "paused", "unpause": "unpaused", "trigger": "triggered", "delete": "deleted"}
_OVERLAPS = [p.name.lower() for p in ScheduleOverlapPolicy]


def _interval(text: str) -> ScheduleIntervalSpec:
    every, _, offset = text.partition("+")
    return ScheduleIntervalSpec(
        every=parse_duration(every), offset=parse_duration(offset) if offset else None
    )


def _times(values: Any) -> str:
    return ", ".join(fmt_dt(v) for v in values) or "-"


def _description_dict(d: ScheduleDescription) -> dict[str, Any]:
    s, info = d.schedule, d.info
    return {
        "id": d.id,
        "workflow_type": s.action.workflow,
        "workflow_id": s.action.id,
        "task_queue": s.action.task_queue,
        "args": list(s.action.args),
        "cron_expressions": list(s.spec.cron_expressions),
        "intervals": [
            {
                "every_s": i.every.total_seconds(),
                "offset_s": i.offset.total_seconds() if i.offset else 0,
            }
            for i in s.spec.intervals
        ],
        "overlap": ScheduleOverlapPolicy(s.policy.overlap).name,
        "catchup_window_s": s.policy.catchup_window.total_seconds(),
        "pause_on_failure": s.policy.pause_on_failure,
        "paused": s.state.paused,
        "note": s.state.note,
        "remaining_actions": s.state.remaining_actions if s.state.limited_actions else None,
        "num_actions": info.num_actions,
        "num_actions_missed_catchup_window": info.num_actions_missed_catchup_window,
        "num_actions_skipped_overlap": info.num_actions_skipped_overlap,
        "buffered_actions": info.buffered_actions,
        "running": [
            {"workflow_id": a.workflow_id, "run_id": a.first_execution_run_id}
            for a in info.running_actions
        ],
        "recent_actions": [
            {
                "scheduled_at": a.scheduled_at.isoformat(),
                "started_at": a.started_at.isoformat(),
                "workflow_id": a.action.workflow_id,
                "run_id": a.action.first_execution_run_id,
            }
            for a in info.recent_actions
        ],
        "next_action_times": [t.isoformat() for t in info.next_action_times],
        "created_at": info.created_at.isoformat(),
    }


def _spec_text(spec: ScheduleSpec) -> str:
    parts = [f"cron {c}" for c in spec.cron_expressions]
    for i in spec.intervals:
        offset = f" +{i.offset}" if i.offset else ""
        parts.append(f"every {i.every}{offset}")
    return "; ".join(parts)


@click.group("schedule", short_help="Start workflows on a cron or interval schedule.")
def schedule_group() -> None:
    """Schedules start a workflow on cron expressions and/or fixed intervals, with an
    overlap policy and catch-up after downtime (as Temporal's schedules).

    Each action starts a workflow with id WORKFLOW_ID-<time> (e.g.
    report-2026-01-02T02:00:00Z). On the embedded store a running `duragent worker`
    (any task queue) takes the due actions; on Temporal the cluster does.
    """


@schedule_group.command("create", short_help="Create a schedule.")
@click.argument("schedule_id")
@click.argument("workflow_type")
@click.argument("args", nargs=-1)
@click.option(
    "--workflow-id", metavar="ID", help="Prefix of started workflow ids (default: SCHEDULE_ID)."
)
@click.option(
    "--task-queue",
    "-q",
    required=True,
    envvar="DURAGENT_TASK_QUEUE",
    metavar="QUEUE",
    help="Queue whose workers run the workflows (env DURAGENT_TASK_QUEUE).",
)
@click.option(
    "--cron",
    "crons",
    multiple=True,
    metavar="EXPR",
    help="A 5-field cron expression in UTC ('*/15 * * * *', '0 2 * * mon-fri', '@daily'); "
    "repeatable.",
)
@click.option(
    "--every",
    "intervals",
    multiple=True,
    metavar="DURATION[+OFFSET]",
    help="An interval (30s, 5m, 1h, 1d; '1h+5m' is 5 minutes past each hour); repeatable.",
)
@click.option(
    "--overlap",
    type=click.Choice(_OVERLAPS),
    default="skip",
    show_default=True,
    help="What to do when an action is due while the previous workflow still runs.",
)
@click.option(
    "--catchup-window",
    metavar="DURATION",
    default="365d",
    show_default=True,
    help="After downtime, run missed actions at most this old (the rest are skipped).",
)
@click.option("--pause-on-failure", is_flag=True, help="Pause when a started workflow fails.")
@click.option("--paused", is_flag=True, help="Create it paused.")
@click.option("--note", metavar="TEXT", help="A note (shown by describe).")
@click.option("--trigger", "trigger_now", is_flag=True, help="Also take one action now.")
@click.pass_obj
def create_command(
    state: CliState,
    schedule_id: str,
    workflow_type: str,
    args: tuple[str, ...],
    workflow_id: str | None,
    task_queue: str,
    crons: tuple[str, ...],
    intervals: tuple[str, ...],
    overlap: str,
    catchup_window: str,
    pause_on_failure: bool,
    paused: bool,
    note: str | None,
    trigger_now: bool,
) -> None:
    """Create schedule SCHEDULE_ID that starts WORKFLOW_TYPE with ARGS (each parsed as
    JSON, else a string) on --cron and/or --every."""
    if not crons and not intervals:
        raise click.UsageError("give at least one --cron or --every")
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            workflow_type,
            args=parse_args(args),
            id=workflow_id or schedule_id,
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(
            cron_expressions=list(crons), intervals=[_interval(i) for i in intervals]
        ),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy[overlap.upper()],
            catchup_window=parse_duration(catchup_window),
            pause_on_failure=pause_on_failure,
        ),
        state=ScheduleState(note=note, paused=paused),
    )

    async def create() -> None:
        async with session(state, create=True) as client:
            handle = await client.create_schedule(
                schedule_id, schedule, trigger_immediately=trigger_now
            )
            description = await handle.describe()
        err().print(
            f"created schedule [bold]{escape(schedule_id)}[/] starting "
            f"[bold]{escape(workflow_type)}[/] on queue {escape(task_queue)}; next: "
            f"{escape(_times(description.info.next_action_times[:3]))}"
        )
        click.echo(schedule_id)

    run(create())


@schedule_group.command("list", short_help="List schedules.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines, one per schedule.")
@click.pass_obj
def list_command(state: CliState, as_json: bool) -> None:
    """List the schedules: workflow type, spec, state and next action."""

    async def list_() -> None:
        async with session(state) as client:
            items = [s async for s in await client.list_schedules()]
        if as_json:
            for s in items:
                click.echo(
                    to_json(
                        {
                            "id": s.id,
                            "workflow_type": s.schedule.action.workflow,
                            "spec": _spec_text(s.schedule.spec),
                            "paused": s.schedule.state.paused,
                            "note": s.schedule.state.note,
                            "next_action_times": [
                                t.isoformat() for t in s.info.next_action_times[:1]
                            ],
                            "recent_actions": len(s.info.recent_actions),
                        }
                    )
                )
            return
        if not items:
            err().print("no schedules")
            return
        table = Table(show_edge=False, header_style="bold", pad_edge=False)
        for column in ("SCHEDULE ID", "WORKFLOW", "SPEC", "STATE", "NEXT", "LAST STARTED"):
            table.add_column(column, overflow="fold")
        for s in items:
            last = s.info.recent_actions[-1].action.workflow_id if s.info.recent_actions else "-"
            table.add_row(
                Text(s.id),
                Text(s.schedule.action.workflow),
                Text(_spec_text(s.schedule.spec)),
                Text("paused", style="yellow") if s.schedule.state.paused else Text("active"),
                _times(s.info.next_action_times[:1]),
                Text(last),
            )
        out().print(table)

    run(list_())


@schedule_group.command("describe", short_help="Show a schedule and what it did.")
@click.argument("schedule_id")
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
@click.pass_obj
def describe_command(state: CliState, schedule_id: str, as_json: bool) -> None:
    """Show SCHEDULE_ID: its action, spec, policy, state, counts, running workflows,
    recent actions and next action times."""

    async def describe() -> None:
        async with session(state) as client:
            d = await client.get_schedule_handle(schedule_id).describe()
        data = _description_dict(d)
        if as_json:
            click.echo(to_json(data, indent=2))
            return
        console = out()
        s, info = d.schedule, d.info
        console.print(f"[bold]{escape(d.id)}[/]  {escape(_spec_text(s.spec))}")
        console.print(
            f"  starts {escape(s.action.workflow)} {escape(to_json(list(s.action.args)))} as "
            f"{escape(s.action.id)}-<time> on queue {escape(s.action.task_queue)}"
        )
        console.print(
            f"  overlap {ScheduleOverlapPolicy(s.policy.overlap).name}, catch-up window "
            f"{s.policy.catchup_window}"
            + (", pause on failure" if s.policy.pause_on_failure else "")
        )
        paused = "[yellow]paused[/]" if s.state.paused else "active"
        note = f" ({escape(s.state.note)})" if s.state.note else ""
        console.print(f"  {paused}{note}")
        console.print(
            f"  actions {info.num_actions}, skipped (overlap) "
            f"{info.num_actions_skipped_overlap}, missed (catch-up window) "
            f"{info.num_actions_missed_catchup_window}, buffered {info.buffered_actions}"
        )
        for a in info.running_actions:
            console.print(f"  running  {escape(a.workflow_id)}")
        for r in info.recent_actions:
            console.print(f"  started  {escape(r.action.workflow_id)} at {fmt_dt(r.started_at)}")
        console.print(f"  next     {escape(_times(info.next_action_times[:5]))}")

    run(describe())


def _simple(name: str, short: str, doc: str, action: str) -> click.Command:
    @click.command(name, short_help=short, help=doc)
    @click.argument("schedule_id")
    @click.pass_obj
    def command(state: CliState, schedule_id: str, **options: Any) -> None:
        async def act() -> None:
            async with session(state) as client:
                handle = client.get_schedule_handle(schedule_id)
                if action == "pause":
                    await handle.pause(note=options.get("note"))
                elif action == "unpause":
                    await handle.unpause(note=options.get("note"))
                elif action == "trigger":
                    overlap = options.get("overlap")
                    await handle.trigger(
                        overlap=ScheduleOverlapPolicy[overlap.upper()] if overlap else None
                    )
                else:
                    await handle.delete()
            err().print(f"{_DONE[action]} schedule [bold]{escape(schedule_id)}[/]")

        run(act())

    return command


pause_command = click.option("--note", metavar="TEXT", help="Why (shown by describe).")(
    _simple("pause", "Pause a schedule.", "Pause SCHEDULE_ID: no action until unpaused.", "pause")
)
unpause_command = click.option("--note", metavar="TEXT", help="Why (shown by describe).")(
    _simple(
        "unpause",
        "Unpause a schedule.",
        "Unpause SCHEDULE_ID: actions resume at the next action time (times that passed "
        "while paused are not caught up).",
        "unpause",
    )
)
trigger_command = click.option(
    "--overlap",
    type=click.Choice(_OVERLAPS),
    help="Overlap policy for this action (default: the schedule's).",
)(
    _simple(
        "trigger",
        "Take an action now.",
        "Start SCHEDULE_ID's workflow now (also when paused).",
        "trigger",
    )
)
delete_command = _simple(
    "delete",
    "Delete a schedule.",
    "Delete SCHEDULE_ID; the workflows it started run on.",
    "delete",
)

for _command in (pause_command, unpause_command, trigger_command, delete_command):
    schedule_group.add_command(_command)
