"""Duragent workflows and activities used by ``engine_bench.py``, ``_resume_worker.py`` and
``kept_history_bench.py``.

They live in their own module so that the benchmark process and the worker subprocess of
the resume measurement register the very same definitions.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from duragent import activity, workflow

TIMEOUT = timedelta(seconds=30)
RESUME_QUEUE = "bench-resume"
STARTED_FILE = "activity-started"
"""Written by :func:`wait_for_marker` when it starts waiting (the kill can happen)."""
RELEASE_FILE = "release"
"""When it exists, :func:`wait_for_marker` returns at once."""


@activity.defn
async def noop() -> None:
    """Does nothing: measures the engine, not the activity."""


@activity.defn
async def echo(value: int) -> int:
    return value


def _released_or_mark_started(directory: str) -> bool:
    if os.path.exists(os.path.join(directory, RELEASE_FILE)):
        return True
    with open(os.path.join(directory, STARTED_FILE), "w") as f:
        f.write(str(os.getpid()))
    return False


@activity.defn
async def wait_for_marker(directory: str) -> str:
    """Return at once if the release file exists; otherwise say so and wait forever
    (until the process is killed)."""
    if _released_or_mark_started(directory):
        return "released"
    await asyncio.Event().wait()
    return "never"


@workflow.defn
class SequentialActivities:
    """Runs ``count`` no-op activities one after another."""

    @workflow.run
    async def run(self, count: int) -> int:
        for _ in range(count):
            await workflow.execute_activity(noop, start_to_close_timeout=TIMEOUT)
        return count


@workflow.defn
class OneActivity:
    @workflow.run
    async def run(self, value: int) -> int:
        return await workflow.execute_activity(echo, value, start_to_close_timeout=TIMEOUT)


async def median_latency_ms(
    client: Any, run: Callable[..., Any], count: int, id_prefix: str, queue: str
) -> float:
    """Median start -> result ms of ``count`` one-activity workflows (``run``, returning
    its argument) started one after another; ``client`` is a Duragent or a Temporal client
    (both have ``execute_workflow(run, arg, id=, task_queue=)``)."""
    times: list[float] = []
    for i in range(count):
        t0 = time.perf_counter()
        result = await client.execute_workflow(run, i, id=f"{id_prefix}-{i}", task_queue=queue)
        times.append(time.perf_counter() - t0)
        if result != i:
            raise RuntimeError(f"benchmark workload went wrong: workflow returned {result!r}")
    return statistics.median(times) * 1000


@workflow.defn
class Trivial:
    @workflow.run
    async def run(self, value: int) -> int:
        return value


@workflow.defn
class Resumable:
    """One activity, then one that waits until killed (and returns at once after)."""

    @workflow.run
    async def run(self, directory: str) -> str:
        first = await workflow.execute_activity(echo, 7, start_to_close_timeout=TIMEOUT)
        second = await workflow.execute_activity(
            wait_for_marker, directory, start_to_close_timeout=timedelta(hours=1)
        )
        return f"{first}:{second}"


RESUME_WORKFLOWS: list[type] = [Resumable]
RESUME_ACTIVITIES = [echo, wait_for_marker]
