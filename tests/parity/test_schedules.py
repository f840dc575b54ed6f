"""Schedules on both backends: the same calls on the embedded engine (a worker takes the
actions) and on the Temporal dev server (its scheduler does), and the CLI's ``schedule``
commands with ``--address``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from duragent import (
    Client,
    ConfigurationError,
    ScheduleAlreadyRunningError,
    ScheduleNotFoundError,
    WorkflowFailureError,
)
from duragent._engine import events as ev
from duragent.schedule import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from tests.fixtures.schedule_app import Tick

from .test_cli import AddressCli

pytestmark = pytest.mark.timeout(120)


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def test_schedule_lifecycle(
    client: Client, worker: Callable[..., object], task_queue: str, new_id: Callable[[str], str]
) -> None:
    schedule_id = new_id("sched")
    prefix = new_id("tick")
    handle = await client.create_schedule(
        schedule_id,
        Schedule(
            action=ScheduleActionStartWorkflow(Tick.run, "p", id=prefix, task_queue=task_queue),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=1))]),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
        ),
    )
    with pytest.raises(ScheduleAlreadyRunningError):
        await client.create_schedule(
            schedule_id,
            Schedule(
                action=ScheduleActionStartWorkflow(Tick.run, "p", id=prefix, task_queue=task_queue),
                spec=ScheduleSpec(cron_expressions=["@daily"]),
            ),
        )
    async with worker(workflows=[Tick]):  # type: ignore[attr-defined]

        async def two_actions() -> bool:
            return (await handle.describe()).info.num_actions >= 2

        await eventually(two_actions, "two actions")
        await handle.pause(note="parity")
        d = await handle.describe()
        assert d.schedule.state.paused and d.schedule.state.note == "parity"
        assert d.schedule.action.workflow == "Tick" and d.schedule.action.args == ["p"]
        assert d.schedule.spec.intervals == (ScheduleIntervalSpec(every=timedelta(seconds=1)),)
        assert d.schedule.policy.overlap == ScheduleOverlapPolicy.ALLOW_ALL
        first = d.info.recent_actions[0].action.workflow_id
        assert first.startswith(f"{prefix}-20") and first.endswith("Z")
        assert await client.get_workflow_handle(first).result() == f"tick p {first}"
        count = d.info.num_actions
        await handle.trigger()

        async def triggered() -> bool:
            return (await handle.describe()).info.num_actions == count + 1

        await eventually(triggered, "the triggered action")

    def yearly(update: ScheduleUpdateInput) -> ScheduleUpdate:
        schedule = update.description.schedule
        schedule.spec = ScheduleSpec(cron_expressions=["30 2 * * 1-5"])
        schedule.state = ScheduleState(note="weekdays")
        return ScheduleUpdate(schedule)

    await handle.update(yearly)
    d = await handle.describe()
    assert d.schedule.spec.cron_expressions == ("30 2 * * 1-5",)
    assert not d.schedule.state.paused and d.schedule.state.note == "weekdays"
    assert [t.strftime("%H:%M") for t in d.info.next_action_times[:2]] == ["02:30", "02:30"]
    assert all(t.isoweekday() <= 5 for t in d.info.next_action_times)

    async def listed() -> bool:
        return schedule_id in [s.id async for s in await client.list_schedules()]

    await eventually(listed, "the schedule in the list")
    await handle.delete()
    with pytest.raises(ScheduleNotFoundError):
        await handle.describe()
    with pytest.raises(ScheduleNotFoundError):
        await client.get_schedule_handle(new_id("missing")).trigger()


async def test_bad_specs_are_refused(
    client: Client, task_queue: str, new_id: Callable[[str], str]
) -> None:
    action = ScheduleActionStartWorkflow(Tick.run, "x", id=new_id("x"), task_queue=task_queue)
    with pytest.raises(ConfigurationError):
        await client.create_schedule(
            new_id("bad"),
            Schedule(action=action, spec=ScheduleSpec(cron_expressions=["61 * * * *"])),
        )


def test_cli_schedule_commands(address: str, new_id: Callable[[str], str]) -> None:
    cli = AddressCli(address)
    schedule_id = new_id("cli")
    cli.ok(
        "schedule", "create", schedule_id, "Tick", "c", "-q", new_id("q"),
        "--cron", "0 3 * * *", "--paused", "--note", "cli",
    )  # fmt: skip
    data = cli.json("schedule", "describe", schedule_id, "--json")
    assert data["cron_expressions"] == ["0 3 * * *"] and data["paused"] and data["note"] == "cli"
    cli.ok("schedule", "unpause", schedule_id)
    assert not cli.json("schedule", "describe", schedule_id, "--json")["paused"]
    cli.ok("schedule", "delete", schedule_id)
    assert "not found" in cli.fail("schedule", "describe", schedule_id).stderr


async def test_cron_schedule_start_waits_for_its_time(
    client: Client, worker: Callable[..., object], task_queue: str, new_id: Callable[[str], str]
) -> None:
    workflow_id = new_id("cron")
    handle = await client.start_workflow(
        Tick.run, "c", id=workflow_id, task_queue=task_queue, cron_schedule="0 0 1 1 *"
    )
    async with worker(workflows=[Tick]):  # type: ignore[attr-defined]
        assert (await handle.describe()).status == "running"
        # Its code first runs on 1 January: no workflow task has completed.
        events = (await handle.fetch_history()).events
        assert not [e for e in events if isinstance(e, ev.WorkflowTaskCompleted)]
        await handle.terminate("done")
        with pytest.raises(WorkflowFailureError, match="terminated"):
            await handle.result()
