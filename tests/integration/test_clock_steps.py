"""Timers, timeouts and leases across a step of the system clock (issue 17).

The wall clock can jump (NTP correcting a wrong clock, an administrator, a resumed VM);
durations must not. In process, the client's clock is the system clock plus a step the test
makes (its epoch moves with it, as the real one's does). Across processes, a worker runs
under libfaketime, whose time the test steps for real while the monotonic clocks go on.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest

from duragent import Client, RetryPolicy, Worker, activity, workflow
from duragent._clock import ClockEpoch, SystemClock
from duragent._engine import events as ev
from duragent.store.sqlite import SqliteStore
from tests.fixtures.kill_app import TASK_QUEUE, Napper

from .crash_harness import Harness

HOUR_MS = 3_600_000


class SteppableClock:
    """The system clock plus a step set by the test: what a step of the real clock does
    to wall time and to its distance from the monotonic clock."""

    def __init__(self) -> None:
        self.step_ms = 0
        self._system = SystemClock()

    def now_ms(self) -> int:
        return self._system.now_ms() + self.step_ms

    def epoch(self) -> ClockEpoch | None:
        epoch = self._system.epoch()
        assert epoch is not None, "this test needs Linux (boot id, CLOCK_BOOTTIME)"
        return ClockEpoch(epoch.boot_id, epoch.offset_ms + self.step_ms)


attempts: list[int] = []


@activity.defn
async def slow_step(seconds: float) -> str:
    attempts.append(activity.info().attempt)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        activity.heartbeat()
        await asyncio.sleep(0.1)
    return "done"


@workflow.defn
class Sleeper:
    @workflow.run
    async def run(self, seconds: float) -> str:
        await workflow.sleep(seconds)
        return "woke"


@workflow.defn
class SlowWork:
    @workflow.run
    async def run(self, seconds: float) -> str:
        return await workflow.execute_activity(
            slow_step,
            seconds,
            start_to_close_timeout=timedelta(seconds=seconds + 5),
            heartbeat_timeout=timedelta(seconds=2),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )


async def _wait_for_event(client: Client, run_id: str | None, kind: type[ev.Event]) -> float:
    """Wait until the run's history has an event of ``kind``; returns when (monotonic)."""
    assert run_id is not None
    for _ in range(1200):
        if any(isinstance(e, kind) for e in client.store.read_history(run_id)):
            return time.monotonic()
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {kind.__name__} in the history")


@pytest.mark.parametrize("step_ms", [HOUR_MS, -HOUR_MS])
async def test_a_timer_fires_after_its_duration_whichever_way_the_clock_is_stepped(
    db_path: Path, step_ms: int
) -> None:
    clock = SteppableClock()
    client = Client(SqliteStore(str(db_path)), clock=clock)
    async with Worker(client, task_queue="q", workflows=[Sleeper]):
        handle = await client.start_workflow(Sleeper.run, 2.0, id="s", task_queue="q")
        started = await _wait_for_event(client, handle.run_id, ev.TimerStarted)
        clock.step_ms = step_ms
        # Forward: not at once (the due time moved with the clock). Backward: not an hour
        # late (the result comes well within the wait below).
        assert await asyncio.wait_for(handle.result(), 60) == "woke"
        assert time.monotonic() - started >= 1.9
    history = client.store.read_history(handle.run_id or "")
    assert sum(isinstance(e, ev.TimerFired) for e in history) == 1
    await client.close()


async def test_a_running_attempt_keeps_its_lease_when_the_clock_jumps_forward(
    db_path: Path,
) -> None:
    attempts.clear()
    clock = SteppableClock()
    client = Client(SqliteStore(str(db_path)), clock=clock)
    async with Worker(client, task_queue="q", workflows=[SlowWork], activities=[slow_step]):
        handle = await client.start_workflow(SlowWork.run, 3.0, id="w", task_queue="q")
        await _wait_for_event(client, handle.run_id, ev.ActivityTaskScheduled)
        await asyncio.sleep(0.5)
        clock.step_ms = HOUR_MS  # its start-to-close and heartbeat timeouts are long past
        assert await asyncio.wait_for(handle.result(), 60) == "done"
    assert attempts == [1], "the attempt was timed out by the clock step and run again"
    await client.close()


LIBFAKETIME = next(iter(Path("/usr/lib").glob("*/faketime/libfaketime.so.1")), None)


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("step", ["+3600", "-3600"])
async def test_a_worker_process_whose_system_clock_is_stepped_keeps_timer_durations(
    tmp_path: Path, step: str
) -> None:
    if LIBFAKETIME is None:
        pytest.fail(
            "libfaketime is missing: scripts/test.py installs Debian's faketime package "
            "(apt-get install faketime)"
        )
    offset_file = tmp_path / "faketime"
    offset_file.write_text("+0\n")
    os.environ.update(
        {
            "LD_PRELOAD": str(LIBFAKETIME),
            "FAKETIME_TIMESTAMP_FILE": str(offset_file),
            "FAKETIME_CACHE_DURATION": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",  # the monotonic clocks go on: a real step
        }
    )
    h = Harness(tmp_path / "store.db", tmp_path / "executions.log")
    try:
        worker = h.spawn()
    finally:
        for name in (
            "LD_PRELOAD",
            "FAKETIME_TIMESTAMP_FILE",
            "FAKETIME_CACHE_DURATION",
            "FAKETIME_DONT_FAKE_MONOTONIC",
        ):
            os.environ.pop(name, None)
    try:
        client = await Client.connect(f"sqlite:///{h.db}")
        handle = await client.start_workflow(Napper.run, 4.0, id="nap", task_queue=TASK_QUEUE)
        started = await _wait_for_event(client, handle.run_id, ev.TimerStarted)
        offset_file.write_text(f"{step}\n")
        assert await asyncio.wait_for(handle.result(), 60) == "AFTER-NAP"
        assert time.monotonic() - started >= 3.9
        fired = [
            e
            for e in client.store.read_history(handle.run_id or "")
            if isinstance(e, ev.TimerFired)
        ]
        assert len(fired) == 1
        # The worker's clock really was stepped: it recorded the firing in its own time.
        assert abs(fired[0].time - client.clock.now_ms() - int(step) * 1000) < 600_000
        await client.close()
        worker.terminate()
        _, stderr = worker.communicate(timeout=30)
        assert b"the system clock was stepped by " + step.encode() in stderr, stderr[-2000:]
    finally:
        h.stop_all()
