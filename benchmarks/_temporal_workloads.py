"""The same workloads as ``_workloads.py``, written for the Temporal Python SDK.

Used by ``engine_bench.py`` to compare against a local Temporal dev server. Imported only
when ``temporalio`` is installed (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow  # pyright: ignore[reportMissingImports]

TIMEOUT = timedelta(seconds=30)


@activity.defn
async def noop() -> None:
    """Does nothing: measures the engine, not the activity."""


@activity.defn
async def echo(value: int) -> int:
    return value


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


WORKFLOWS: list[type] = [SequentialActivities, OneActivity]
ACTIVITIES = [noop, echo]
