"""A workflow that iterates a set of ``asyncio.gather`` futures runs to its end on a worker
that keeps no workflow in memory: every workflow task replays the run from its history in
a fresh instance, whose futures lie at other addresses than the ones before (the engine
side, with more of asyncio's helpers, is in tests/unit/test_engine_set_order.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from duragent import Client, Worker, activity, workflow

T = timedelta(seconds=30)


@activity.defn(dynamic=True)
async def named(args: Sequence[Any]) -> str:
    return activity.info().activity_type


@workflow.defn
class FollowTheSet:
    @workflow.run
    async def run(self) -> list[str]:
        gathers = [
            asyncio.gather(workflow.execute_activity(f"g{i}", start_to_close_timeout=T))
            for i in range(10)
        ]
        done, _ = await asyncio.wait(set(gathers))
        # One activity per gather, one workflow task each, in the order the set iterates;
        # their types differ, so another order on replay is a nondeterminism error.
        return [
            await workflow.execute_activity(f"after-{g.result()[0]}", start_to_close_timeout=T)
            for g in done
        ]


async def test_a_set_of_gathers_iterates_the_same_in_every_replay(client: Client) -> None:
    async with Worker(
        client,
        task_queue="q",
        workflows=[FollowTheSet],
        activities=[named],
        max_cached_workflows=0,
    ):
        handle = await client.start_workflow(FollowTheSet.run, id="set", task_queue="q")
        result = asyncio.ensure_future(handle.result())
        # A workflow task that fails (a nondeterminism error) is retried, and the run
        # does not finish: stop at the first failure the run records.
        while not result.done():
            failure = (await handle.describe()).task_failure
            assert failure is None, failure
            await asyncio.wait([result], timeout=0.05)
        order = result.result()
    assert sorted(order) == sorted(f"after-g{i}" for i in range(10))
