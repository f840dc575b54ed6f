"""Sync activities in a ProcessPoolExecutor: results, heartbeats and cancellation cross
the process boundary; what can never cross it is refused up front or failed for good."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from duragent import (
    ActivityError,
    CancelledError,
    Client,
    ConfigurationError,
    RetryPolicy,
    Worker,
    WorkflowFailureError,
    activity,
    workflow,
)
from duragent.interceptor import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

FAST = RetryPolicy(initial_interval=timedelta(milliseconds=10), maximum_attempts=3)


@activity.defn
def crunch(n: int) -> dict[str, int]:
    """CPU work in another process; reports the pid it ran in."""
    return {"sum": sum(i * i for i in range(n)), "pid": os.getpid()}


@activity.defn
def resumable(marker: str) -> list[int]:
    """Heartbeats progress; the first attempt stalls so its heartbeat timeout fires and
    the retry resumes from the last recorded detail."""
    info = activity.info()
    start = int(info.heartbeat_details[0]) + 1 if info.heartbeat_details else 0
    for i in range(start, 6):
        activity.heartbeat(i)
        if info.attempt == 1 and i == 2:
            Path(marker).write_text("stalled")
            time.sleep(3)  # the heartbeat timeout (0.5 s) expires
            return []
    return [info.attempt, start]


@activity.defn
def until_cancelled(marker: str) -> str:
    """Heartbeats until the workflow cancels it; records how it ended."""
    try:
        for _ in range(600):
            activity.heartbeat()
            Path(marker).write_text("running")
            time.sleep(0.05)
    except CancelledError:
        Path(marker).write_text("cancelled")
        raise
    return "never cancelled"


@activity.defn
def hand_off(path: str) -> str:
    """Writes its task token for someone else, then leaves the activity open."""
    Path(path).write_bytes(activity.info().task_token)
    activity.raise_complete_async()


@activity.defn
def unpicklable_result() -> object:
    return (i for i in range(3))  # a generator cannot be pickled back


@workflow.defn
class Crunch:
    @workflow.run
    async def run(self, n: int) -> dict[str, int]:
        return await workflow.execute_activity(
            crunch, n, start_to_close_timeout=timedelta(seconds=20)
        )


@workflow.defn
class Resume:
    @workflow.run
    async def run(self, marker: str) -> list[int]:
        return await workflow.execute_activity(
            resumable,
            marker,
            start_to_close_timeout=timedelta(seconds=20),
            heartbeat_timeout=timedelta(milliseconds=500),
            retry_policy=FAST,
        )


@workflow.defn
class CancelIt:
    @workflow.run
    async def run(self, marker: str) -> str:
        handle = workflow.start_activity(
            until_cancelled,
            marker,
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=timedelta(seconds=5),
        )
        await workflow.wait_condition(lambda: self.go, timeout=timedelta(seconds=30))
        handle.cancel()
        try:
            await handle
        except asyncio.CancelledError:
            return "cancelled"
        return "not cancelled"

    def __init__(self) -> None:
        self.go = False

    @workflow.signal
    def cancel_now(self) -> None:
        self.go = True


@workflow.defn
class BadResult:
    @workflow.run
    async def run(self) -> object:
        return await workflow.execute_activity(
            unpicklable_result, start_to_close_timeout=timedelta(seconds=20)
        )


@workflow.defn
class HandOff:
    @workflow.run
    async def run(self, path: str) -> str:
        return await workflow.execute_activity(
            hand_off, path, start_to_close_timeout=timedelta(seconds=60)
        )


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    with ProcessPoolExecutor(max_workers=2) as executor:
        yield executor


async def test_sync_activity_runs_in_another_process(
    client: Client, pool: ProcessPoolExecutor
) -> None:
    async with Worker(
        client, task_queue="pp", workflows=[Crunch], activities=[crunch], activity_executor=pool
    ):
        result = await client.execute_workflow(Crunch.run, 1000, id="pp-1", task_queue="pp")
    assert result["sum"] == sum(i * i for i in range(1000))
    assert result["pid"] != os.getpid()


async def test_heartbeats_cross_the_process_boundary(
    client: Client, pool: ProcessPoolExecutor, tmp_path: Path
) -> None:
    marker = tmp_path / "resume"
    async with Worker(
        client, task_queue="pp", workflows=[Resume], activities=[resumable], activity_executor=pool
    ):
        result = await client.execute_workflow(Resume.run, str(marker), id="pp-2", task_queue="pp")
    # Attempt 2 started after the last heartbeat detail the first attempt sent (2).
    assert result == [2, 3]
    assert marker.read_text() == "stalled"


async def test_a_pool_activity_completes_asynchronously(
    client: Client, pool: ProcessPoolExecutor, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    async with Worker(
        client, task_queue="pp", workflows=[HandOff], activities=[hand_off], activity_executor=pool
    ):
        handle = await client.start_workflow(
            HandOff.run, str(token_file), id="pp-async", task_queue="pp"
        )
        for _ in range(600):
            if token_file.exists() and token_file.read_bytes():
                break
            await asyncio.sleep(0.05)
        await client.get_async_activity_handle(task_token=token_file.read_bytes()).complete(
            "done elsewhere"
        )
        assert await handle.result() == "done elsewhere"


async def test_cancellation_reaches_the_pool_process(
    client: Client, pool: ProcessPoolExecutor, tmp_path: Path
) -> None:
    marker = tmp_path / "cancel"
    async with Worker(
        client,
        task_queue="pp",
        workflows=[CancelIt],
        activities=[until_cancelled],
        activity_executor=pool,
    ):
        handle = await client.start_workflow(CancelIt.run, str(marker), id="pp-3", task_queue="pp")
        while not marker.exists():
            await asyncio.sleep(0.02)
        await handle.signal(CancelIt.cancel_now)
        assert await handle.result() == "cancelled"
        for _ in range(500):  # the child notices at its next heartbeat
            if marker.read_text() == "cancelled":
                break
            await asyncio.sleep(0.02)
    assert marker.read_text() == "cancelled"


async def test_a_result_that_cannot_cross_fails_once_not_forever(
    client: Client, pool: ProcessPoolExecutor
) -> None:
    async with Worker(
        client,
        task_queue="pp",
        workflows=[BadResult],
        activities=[unpicklable_result],
        activity_executor=pool,
    ):
        handle = await client.start_workflow(BadResult.run, id="pp-4", task_queue="pp")
        with pytest.raises(WorkflowFailureError) as err:
            await handle.result()
    cause = err.value.cause
    assert isinstance(cause, ActivityError)
    assert cause.attempt == 1
    assert "picklable" in str(cause.cause)


def test_an_activity_that_cannot_be_pickled_is_refused_at_worker(
    client: Client, pool: ProcessPoolExecutor
) -> None:
    @activity.defn
    def local_fn() -> None: ...

    with pytest.raises(ConfigurationError, match=r"'local_fn'.*cannot run in a process pool"):
        Worker(client, task_queue="pp", activities=[local_fn], activity_executor=pool)


class _Halving(Interceptor):
    """Halves ``crunch``'s argument on its way to the pool; or swaps its function."""

    def __init__(self, swap: bool) -> None:
        self.swap = swap

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        swap = self.swap

        class Inbound(ActivityInboundInterceptor):
            async def execute_activity(self, input: ExecuteActivityInput) -> Any:
                if swap:
                    input.fn = len
                else:
                    input.args = [input.args[0] // 2]
                return await super().execute_activity(input)

        return Inbound(next)


@pytest.mark.parametrize("swap", [False, True], ids=["new-arguments", "new-function"])
async def test_interceptors_wrap_pool_activities_in_the_worker_process(
    client: Client, pool: ProcessPoolExecutor, swap: bool
) -> None:
    """The chain runs in the worker's process: it may change the arguments that cross to
    the pool, but not the function (which crosses by name): that fails for good."""
    async with Worker(
        client,
        task_queue="pp",
        workflows=[Crunch],
        activities=[crunch],
        activity_executor=pool,
        interceptors=[_Halving(swap)],
    ):
        if not swap:
            result = await client.execute_workflow(Crunch.run, 1000, id="pp-i", task_queue="pp")
            assert result["sum"] == sum(i * i for i in range(500))
            assert result["pid"] != os.getpid()
            return
        with pytest.raises(WorkflowFailureError) as failed:
            await client.execute_workflow(Crunch.run, 1000, id="pp-swap", task_queue="pp")
    cause = failed.value.__cause__
    assert isinstance(cause, ActivityError)
    assert "replaced the function of activity 'crunch'" in str(cause.__cause__)
