"""``start_workflow(..., cron_schedule=...)``: Temporal's cron workflows on the embedded
engine, in the time-skipping environment (each run at its cron time, the chain followed
by ``handle.result()``, ended by terminating the current run)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from duragent import ConfigurationError, Worker, WorkflowFailureError
from duragent._engine import events as ev
from duragent.testing import WorkflowEnvironment
from tests.fixtures.schedule_app import TASK_QUEUE, Broken, Tick


async def test_cron_runs_start_at_each_time_and_result_follows_them() -> None:
    async with await WorkflowEnvironment.start_time_skipping() as env:
        client = env.client
        with env.auto_time_skipping_disabled():
            async with Worker(client, task_queue=TASK_QUEUE, workflows=[Tick, Broken]):
                handle = await client.start_workflow(
                    Tick.run, "c", id="cron", task_queue=TASK_QUEUE, cron_schedule="0 * * * *"
                )
                first = handle.run_id
                assert first is not None
                history = await client.get_workflow_handle("cron", run_id=first).fetch_history()
                # The run exists, but its code waits for the next hour.
                assert [type(e) for e in history.events] == [ev.WorkflowExecutionStarted]
                await env.sleep(timedelta(hours=3))
                runs = await client.backend.runs_of_workflow("cron")
                assert [r.status for r in runs] == ["completed"] * 3 + ["running"]
                assert [r.first_run_id for r in runs] == [first] * 4
                one = client.get_workflow_handle("cron", run_id=first)
                assert await one.result(follow_runs=False) == "tick c cron"
                for run in runs[:3]:
                    h = await client.get_workflow_handle("cron", run_id=run.run_id).fetch_history()
                    done = next(e for e in h.events if isinstance(e, ev.WorkflowTaskCompleted))
                    assert done.time % 3_600_000 < 60_000  # ran at the top of its hour
                await client.get_workflow_handle("cron").terminate("enough")
                with pytest.raises(WorkflowFailureError, match="terminated"):
                    await handle.result()  # followed to the run that was terminated
                assert len(await client.backend.runs_of_workflow("cron")) == 4

                # A failed run does not end the chain.
                broken = await client.start_workflow(
                    Broken.run, id="broken", task_queue=TASK_QUEUE, cron_schedule="@daily"
                )
                await env.sleep(timedelta(days=2))
                statuses = [r.status for r in await client.backend.runs_of_workflow("broken")]
                assert statuses == ["failed", "failed", "running"]
                await client.get_workflow_handle("broken").cancel()
                await env.sleep(timedelta(days=1))
                with pytest.raises(WorkflowFailureError):
                    await broken.result()


async def test_bad_cron_schedule_is_refused() -> None:
    async with await WorkflowEnvironment.start_time_skipping() as env:
        with pytest.raises(ConfigurationError, match=r"cron_schedule: .*outside 0-23"):
            await env.client.start_workflow(
                Tick.run, "x", id="x", task_queue=TASK_QUEUE, cron_schedule="0 25 * * *"
            )
        assert await env.client.list_workflows() == []
