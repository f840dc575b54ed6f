"""The time-skipping test environment with real workflows and an in-process worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from duragent import (
    ApplicationError,
    ConfigurationError,
    RetryPolicy,
    Worker,
    activity,
    workflow,
)
from duragent.testing import WorkflowEnvironment

# Real-time bound on waiting for a result: generous for a slow CI machine, and still
# a million times shorter than the workflow time these tests let pass.
REAL_TIMEOUT = 10.0
attempts: dict[str, int] = {}


@activity.defn
async def fails_once(key: str) -> int:
    attempts[key] = attempts.get(key, 0) + 1
    if attempts[key] == 1:
        raise ApplicationError("transient")
    return activity.info().attempt


@activity.defn
async def takes_real_time(seconds: float) -> dict[str, Any]:
    info = activity.info()
    await asyncio.sleep(seconds)
    return {"attempt": info.attempt}


@workflow.defn
class SleepsAWeek:
    @workflow.run
    async def run(self) -> datetime:
        await workflow.sleep(timedelta(days=7))
        return workflow.now()


@workflow.defn
class AwaitsApproval:
    def __init__(self) -> None:
        self.approved = False

    @workflow.run
    async def run(self) -> dict[str, Any]:
        start = workflow.now()
        try:
            await workflow.wait_condition(lambda: self.approved, timeout=timedelta(days=3))
            outcome = "approved"
        except TimeoutError:
            outcome = "timed out"
        return {"outcome": outcome, "waited_s": (workflow.now() - start).total_seconds()}

    @workflow.signal
    def approve(self) -> None:
        self.approved = True


@workflow.defn
class RetriesHourly:
    @workflow.run
    async def run(self, key: str) -> dict[str, Any]:
        start = workflow.now()
        attempt = await workflow.execute_activity(
            fails_once,
            key,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(hours=1)),
        )
        return {"attempt": attempt, "elapsed_s": (workflow.now() - start).total_seconds()}


@workflow.defn
class ActivityBesideTimer:
    @workflow.run
    async def run(self, seconds: float) -> dict[str, Any]:
        start = workflow.now()
        timer = asyncio.ensure_future(workflow.sleep(timedelta(hours=1)))
        result = await workflow.execute_activity(
            takes_real_time,
            seconds,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )
        activity_done = workflow.now()
        await timer
        return {
            "attempt": result["attempt"],
            "activity_s": (activity_done - start).total_seconds(),
            "total_s": (workflow.now() - start).total_seconds(),
        }


@workflow.defn
class Ticker:
    @workflow.run
    async def run(self, ticks: int) -> list[float]:
        start = workflow.now()
        out: list[float] = []
        for _ in range(ticks):
            await workflow.sleep(timedelta(hours=1))
            out.append((workflow.now() - start).total_seconds() / 3600)
        return out


WORKFLOWS = [SleepsAWeek, AwaitsApproval, RetriesHourly, ActivityBesideTimer, Ticker]
ACTIVITIES = [fails_once, takes_real_time]


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with await WorkflowEnvironment.start_time_skipping() as env:
        yield env


def worker(env: WorkflowEnvironment) -> Worker:
    return Worker(env.client, task_queue="q", workflows=WORKFLOWS, activities=ACTIVITIES)


async def test_a_week_long_sleep_completes_at_once(env: WorkflowEnvironment) -> None:
    start = env.get_current_time()
    async with worker(env):
        handle = await env.client.start_workflow(SleepsAWeek.run, id="week", task_queue="q")
        woke_at = await handle.result(timeout=REAL_TIMEOUT)
    assert woke_at >= start + timedelta(days=7)
    assert env.get_current_time() >= start + timedelta(days=7)
    # The workflow's clock and the environment's agree (no hidden real wait).
    assert env.get_current_time() - woke_at < timedelta(minutes=1)


async def test_wait_condition_times_out_after_skipped_days(env: WorkflowEnvironment) -> None:
    async with worker(env):
        result = await env.client.execute_workflow(AwaitsApproval.run, id="wc", task_queue="q")
    assert result["outcome"] == "timed out"
    assert result["waited_s"] >= timedelta(days=3).total_seconds()


async def test_a_signal_that_arrives_first_is_not_skipped_past(env: WorkflowEnvironment) -> None:
    async with worker(env):
        handle = await env.client.start_workflow(AwaitsApproval.run, id="sig", task_queue="q")
        await handle.signal(AwaitsApproval.approve)
        result = await handle.result(timeout=REAL_TIMEOUT)
    assert result["outcome"] == "approved"
    assert result["waited_s"] < 60
    types = {e.TYPE for e in (await handle.fetch_history()).events}
    assert "TimerFired" not in types


async def test_an_hour_long_retry_backoff_is_skipped(env: WorkflowEnvironment) -> None:
    async with worker(env):
        handle = await env.client.start_workflow(
            RetriesHourly.run, "backoff", id="retry", task_queue="q"
        )
        result = await handle.result(timeout=REAL_TIMEOUT)
    assert result["attempt"] == 2
    assert result["elapsed_s"] >= 3600


async def test_time_does_not_skip_while_an_activity_runs(env: WorkflowEnvironment) -> None:
    async with worker(env):
        handle = await env.client.start_workflow(
            ActivityBesideTimer.run, 0.3, id="busy", task_queue="q"
        )
        result = await handle.result(timeout=REAL_TIMEOUT)
    # The hour-long timer was pending all along, yet the one allowed attempt completed
    # well within its 10 s start-to-close timeout of workflow time.
    assert result["attempt"] == 1
    assert result["activity_s"] < 10
    assert result["total_s"] >= 3600
    types = [e.TYPE for e in (await handle.fetch_history()).events]
    assert "ActivityTaskCompleted" in types
    assert "ActivityTaskTimedOut" not in types


async def test_env_sleep_advances_time_manually(env: WorkflowEnvironment) -> None:
    env.auto_time_skipping = False
    assert not env.auto_time_skipping
    start = env.get_current_time()
    async with worker(env):
        handle = await env.client.start_workflow(SleepsAWeek.run, id="manual", task_queue="q")
        await env.sleep(timedelta(days=6))
        assert env.get_current_time() >= start + timedelta(days=6)
        assert (await handle.describe()).status == "running"
        await env.sleep(timedelta(days=1, minutes=1))
        woke_at = await handle.result(timeout=REAL_TIMEOUT)
    assert woke_at >= start + timedelta(days=7)


async def test_env_sleep_stops_at_each_timer_on_the_way(env: WorkflowEnvironment) -> None:
    with env.auto_time_skipping_disabled():
        assert not env.auto_time_skipping
        async with worker(env):
            handle = await env.client.start_workflow(Ticker.run, 3, id="tick", task_queue="q")
            # Each tick's timer is started only after the previous one fired and the
            # worker ran the workflow: all three fit in 3.5 hours only if env.sleep
            # stops at every timer and lets the worker act.
            await env.sleep(timedelta(hours=3, minutes=30))
            ticks = await handle.result(timeout=REAL_TIMEOUT)
    assert env.auto_time_skipping
    assert [round(t, 2) for t in ticks] == [1.0, 2.0, 3.0]


async def test_disabling_auto_skipping_keeps_real_time(env: WorkflowEnvironment) -> None:
    async with worker(env):
        with env.auto_time_skipping_disabled():
            handle = await env.client.start_workflow(SleepsAWeek.run, id="real", task_queue="q")
            with pytest.raises(TimeoutError):
                await handle.result(timeout=0.2)
        # Skipping resumes once the block ends.
        await handle.result(timeout=REAL_TIMEOUT)


async def test_env_sleep_without_workers_just_moves_the_clock(env: WorkflowEnvironment) -> None:
    start = env.get_current_time()
    await env.sleep(3600)
    assert env.get_current_time() - start >= timedelta(hours=1)
    with pytest.raises(ConfigurationError):
        await env.sleep(-1)


async def test_shutdown_is_idempotent_and_final() -> None:
    env = await WorkflowEnvironment.start_time_skipping()
    assert env.supports_time_skipping
    await env.shutdown()
    await env.shutdown()
    with pytest.raises(ConfigurationError):
        await env.sleep(1)


async def test_local_environment_uses_a_real_file_and_real_time(tmp_path: Path) -> None:
    async with await WorkflowEnvironment.start_local() as env:
        assert not env.supports_time_skipping
        assert not env.auto_time_skipping
        with pytest.raises(ConfigurationError):
            env.auto_time_skipping = True
        with env.auto_time_skipping_disabled():
            pass
        path = Path(env.client.store.path)
        assert path.exists()
        before = env.get_current_time()
        await env.sleep(0.05)
        assert env.get_current_time() - before >= timedelta(milliseconds=50)
        async with worker(env):
            handle = await env.client.start_workflow(SleepsAWeek.run, id="slow", task_queue="q")
            with pytest.raises(TimeoutError):
                await handle.result(timeout=0.2)
    assert not path.exists()

    chosen = tmp_path / "chosen.db"
    async with await WorkflowEnvironment.start_local(chosen) as env, worker(env):
        handle = await env.client.start_workflow(AwaitsApproval.run, id="a", task_queue="q")
        await handle.signal(AwaitsApproval.approve)
        assert (await handle.result(timeout=REAL_TIMEOUT))["outcome"] == "approved"
    assert chosen.exists()
