"""Schedules through the client with real workers: the public API, workflows started and
finished, pause on failure, the time-skipping environment, and worker processes killed
with SIGKILL while actions are due (no action lost or taken twice)."""

from __future__ import annotations

import asyncio
import calendar
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from duragent import (
    Client,
    ConfigurationError,
    ScheduleAlreadyRunningError,
    ScheduleNotFoundError,
    Worker,
)
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
from duragent.testing import WorkflowEnvironment
from tests.fixtures.schedule_app import TASK_QUEUE, Broken, Tick

ROOT = Path(__file__).resolve().parents[2]
EVERY_SECOND = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=1))])


async def wait_until(check, what: str, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_schedule_api_with_a_worker(tmp_path: Path) -> None:
    client = await Client.connect(f"sqlite:///{tmp_path / 's.db'}")
    handle = await client.create_schedule(
        "ticks",
        Schedule(
            action=ScheduleActionStartWorkflow(Tick.run, "a", id="tick", task_queue=TASK_QUEUE),
            spec=EVERY_SECOND,
        ),
    )
    with pytest.raises(ScheduleAlreadyRunningError):
        await client.create_schedule(
            "ticks",
            Schedule(
                action=ScheduleActionStartWorkflow(Tick.run, "a", id="t", task_queue="q"),
                spec=EVERY_SECOND,
            ),
        )
    with pytest.raises(ConfigurationError, match="expected 5"):
        await client.create_schedule(
            "bad",
            Schedule(
                action=ScheduleActionStartWorkflow(Tick.run, "a", id="t", task_queue="q"),
                spec=ScheduleSpec(cron_expressions=["every day"]),
            ),
        )
    async with Worker(client, task_queue=TASK_QUEUE, workflows=[Tick, Broken]):

        async def two_actions() -> bool:
            return (await handle.describe()).info.num_actions >= 2

        await wait_until(two_actions, "two actions")
        await handle.pause(note="enough")
        description = await handle.describe()
        assert description.schedule.state.paused and description.schedule.state.note == "enough"
        assert description.schedule.action.args == ["a"]
        assert description.schedule.action.workflow == "Tick"
        assert description.info.next_action_times == []
        first = description.info.recent_actions[0].action
        assert first.workflow_id.startswith("tick-")
        result = await client.get_workflow_handle(first.workflow_id).result()
        assert result == f"tick a {first.workflow_id}"
        count = description.info.num_actions

        await handle.trigger()
        assert (await handle.describe()).info.num_actions == count + 1

        def change(update: ScheduleUpdateInput) -> ScheduleUpdate:
            schedule = update.description.schedule
            schedule.spec = ScheduleSpec(cron_expressions=["0 0 1 1 *"])
            schedule.state = ScheduleState(note="yearly now")
            return ScheduleUpdate(schedule)

        await handle.update(change)
        description = await handle.describe()
        assert description.schedule.spec.cron_expressions == ("0 0 1 1 *",)
        assert not description.schedule.state.paused
        assert description.info.next_action_times[0].strftime("%m-%d %H:%M") == "01-01 00:00"
        listed = [s async for s in await client.list_schedules()]
        assert [(s.id, s.schedule.action.workflow) for s in listed] == [("ticks", "Tick")]
        await handle.delete()
        with pytest.raises(ScheduleNotFoundError):
            await handle.describe()
        with pytest.raises(ScheduleNotFoundError):
            await client.get_schedule_handle("nope").pause()
    await client.close()


async def test_pause_on_failure(tmp_path: Path) -> None:
    client = await Client.connect(f"sqlite:///{tmp_path / 's.db'}")
    handle = await client.create_schedule(
        "broken",
        Schedule(
            action=ScheduleActionStartWorkflow(Broken.run, id="broken", task_queue=TASK_QUEUE),
            spec=EVERY_SECOND,
            policy=SchedulePolicy(pause_on_failure=True),
        ),
    )
    async with Worker(client, task_queue=TASK_QUEUE, workflows=[Tick, Broken]):

        async def paused() -> bool:
            return (await handle.describe()).schedule.state.paused

        await wait_until(paused, "the schedule to pause")
    description = await handle.describe()
    assert description.info.num_actions == 1
    assert "failed" in (description.schedule.state.note or "")
    await client.close()


async def test_time_skipping_environment_runs_each_due_action() -> None:
    async with await WorkflowEnvironment.start_time_skipping() as env:
        with env.auto_time_skipping_disabled():
            handle = await env.client.create_schedule(
                "hourly",
                Schedule(
                    action=ScheduleActionStartWorkflow(
                        Tick.run, "h", id="hourly", task_queue=TASK_QUEUE
                    ),
                    spec=ScheduleSpec(cron_expressions=["@hourly"]),
                    policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
                ),
            )
            async with Worker(env.client, task_queue=TASK_QUEUE, workflows=[Tick]):
                await env.sleep(timedelta(hours=5))
                info = (await handle.describe()).info
                assert info.num_actions == 5
                ids = [a.action.workflow_id for a in info.recent_actions]
                assert all(i.endswith(":00:00Z") for i in ids), ids
                results = [await env.client.get_workflow_handle(i).result() for i in ids]
                assert results == [f"tick h {i}" for i in ids]


def _worker(db: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DURAGENT_")}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "duragent",
            "--db",
            f"sqlite:///{db}",
            "worker",
            "tests.fixtures.schedule_app",
        ],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )


@pytest.mark.slow
async def test_killed_workers_lose_no_action_and_take_none_twice(tmp_path: Path) -> None:
    """Two worker processes take a 1-second schedule's actions; one is SIGKILLed, then the
    other, the schedule stays due while none runs, and a third catches up: every second
    from the first action to the last started exactly one workflow."""
    db, log = tmp_path / "s.db", tmp_path / "workers.log"
    client = await Client.connect(f"sqlite:///{db}")
    handle = await client.create_schedule(
        "every-second",
        Schedule(
            action=ScheduleActionStartWorkflow(Tick.run, "k", id="k", task_queue=TASK_QUEUE),
            spec=EVERY_SECOND,
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
        ),
    )

    async def actions() -> int:
        return (await handle.describe()).info.num_actions

    procs = [_worker(db, log), _worker(db, log)]
    try:
        target = 3

        async def reached() -> bool:
            return await actions() >= target

        await wait_until(reached, "actions by two workers", timeout=60)
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(10)
        target = await actions() + 2
        await wait_until(reached, "actions by the surviving worker", timeout=60)
        procs[1].send_signal(signal.SIGKILL)
        procs[1].wait(10)
        stopped_at = await actions()
        await asyncio.sleep(2.5)  # due times pass with no worker
        assert await actions() == stopped_at
        procs.append(_worker(db, log))
        target = stopped_at + 5
        await wait_until(reached, "catch-up by a new worker", timeout=60)
        procs[2].send_signal(signal.SIGTERM)
        procs[2].wait(30)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    runs = await client.list_workflows(limit=10_000)
    ids = [r.id for r in runs]
    assert len(ids) == len(set(ids)), "an action time started two workflows"
    stamps = sorted(calendar.timegm(time.strptime(i[2:], "%Y-%m-%dT%H:%M:%SZ")) for i in ids)
    assert stamps == list(range(stamps[0], stamps[-1] + 1)), "an action time was lost"
    info = (await handle.describe()).info
    assert info.num_actions == len(ids)
    assert info.num_actions_missed_catchup_window == info.num_actions_skipped_overlap == 0
    await client.close()
