"""``duragent.testing.WorkflowEnvironment`` on Temporal: a dev server of its own, with
Temporal's per-workflow time skipping (experimental in Temporal) when asked."""

from __future__ import annotations

from datetime import timedelta

import pytest

from duragent import Worker, workflow
from duragent.testing import WorkflowEnvironment

pytestmark = [pytest.mark.timeout(120), pytest.mark.temporal]


@workflow.defn
class Reminder:
    @workflow.run
    async def run(self, days: int) -> float:
        start = workflow.now()
        await workflow.sleep(timedelta(days=days))
        return (workflow.now() - start).total_seconds()


async def test_a_week_long_sleep_is_skipped_on_temporal() -> None:
    async with await WorkflowEnvironment.start_temporal(time_skipping=True) as env:
        assert env.supports_time_skipping and env.auto_time_skipping
        assert env.client.backend.address.startswith("temporal://127.0.0.1:")
        async with Worker(env.client, task_queue="env", workflows=[Reminder]) as worker:
            assert type(worker).__name__ == "TemporalWorker"
            handle = await env.client.start_workflow(Reminder.run, 7, id="r", task_queue="env")
            # Real time would take a week: the timeout proves the skip.
            slept = await handle.result(timeout=60)
    assert slept >= timedelta(days=7).total_seconds()


async def test_without_time_skipping_time_is_real() -> None:
    async with await WorkflowEnvironment.start_temporal() as env:
        assert not env.supports_time_skipping
        async with Worker(env.client, task_queue="env", workflows=[Reminder]):
            handle = await env.client.start_workflow(Reminder.run, 1, id="r", task_queue="env")
            with pytest.raises(TimeoutError):
                await handle.result(timeout=1)
            await handle.terminate()
