"""SIGKILL real worker processes at chosen points; the workflow must finish with the
right result, and an activity whose completion was recorded must never run again."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from duragent import Client

from ..fixtures.kill_app import Blocking, Fanout, Payment, Pipeline
from .crash_harness import harness

pytestmark = pytest.mark.slow


async def completed_attempts(client: Client, workflow_id: str) -> dict[str, int]:
    """Activity input name -> attempt number recorded in its completion event."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    names = {
        e.seq: e.input[0].to_json_value()  # type: ignore[attr-defined]
        for e in history.events
        if e.TYPE == "ActivityTaskScheduled"
    }
    return {
        names[e.seq]: e.attempt  # type: ignore[attr-defined]
        for e in history.events
        if e.TYPE == "ActivityTaskCompleted"
    }


async def wait_for_workers(client: Client, n: int) -> None:
    for _ in range(500):
        if len(client.store.known_types("kill")[0]) and client.store.count_workers() >= n:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{n} workers did not register")


async def test_kill_before_an_activity_starts(tmp_path: Path) -> None:
    with harness(tmp_path) as h:
        client = await Client.connect(f"sqlite:///{h.db}")
        handle = await client.start_workflow(Pipeline.run, 4, id="p", task_queue="kill")
        h.expect_crash(h.spawn("activity_start:step@3"))  # dies as s2 is about to start
        assert h.starts() == {"s0": 1, "s1": 1}
        h.spawn()
        assert await handle.result(timeout=30) == ["S0", "S1", "S2", "S3"]
        assert h.starts() == {"s0": 1, "s1": 1, "s2": 1, "s3": 1}
        attempts = await completed_attempts(client, "p")
        # s2 was claimed (attempt 1) when the worker died: the retry is attempt 2.
        assert attempts == {"s0": 1, "s1": 1, "s2": 2, "s3": 1}
        await client.close()


async def test_kill_mid_activity_retries_it_and_counts_the_attempt(tmp_path: Path) -> None:
    marker = tmp_path / "release-b"
    with harness(tmp_path) as h:
        client = await Client.connect(f"sqlite:///{h.db}")
        handle = await client.start_workflow(Blocking.run, str(marker), id="b", task_queue="kill")
        first = h.spawn()
        h.wait_for_line("start", "b")
        h.kill(first)
        marker.touch()
        h.spawn()
        assert await handle.result(timeout=30) == ["A", "B", "C"]
        assert h.starts() == {"a": 1, "b": 2, "c": 1}
        assert (await completed_attempts(client, "b"))["b"] == 2
        run_id = (await handle.describe()).run_id
        interrupted = client.store.attempts(run_id)
        assert [(a["attempt"], a["outcome"]) for a in interrupted] == [(1, "interrupted")]
        await client.close()


async def test_kill_after_return_before_completion_is_recorded(tmp_path: Path) -> None:
    with harness(tmp_path) as h:
        client = await Client.connect(f"sqlite:///{h.db}")
        handle = await client.start_workflow(Pipeline.run, 3, id="p", task_queue="kill")
        h.expect_crash(h.spawn("activity_returned:step@2"))
        # s1 ran to the end, but its completion never reached the database...
        assert h.count("end", "s1") == 1
        h.spawn()
        assert await handle.result(timeout=30) == ["S0", "S1", "S2"]
        # ...so it runs again (at-least-once); s0, whose completion was recorded, does not.
        assert h.starts() == {"s0": 1, "s1": 2, "s2": 1}
        await client.close()


async def test_kill_before_a_workflow_task_is_recorded(tmp_path: Path) -> None:
    """The worker dies while recording the workflow task that follows s1. A cached run
    commits an activity's result together with the task it triggers, so s1's result is
    lost with it and s1 runs again (at-least-once); s0, recorded earlier, does not."""
    with harness(tmp_path) as h:
        client = await Client.connect(f"sqlite:///{h.db}")
        handle = await client.start_workflow(Pipeline.run, 3, id="p", task_queue="kill")
        h.expect_crash(h.spawn("workflow_task_complete@3"))
        h.spawn()
        assert await handle.result(timeout=30) == ["S0", "S1", "S2"]
        assert h.starts() == {"s0": 1, "s1": 2, "s2": 1}
        await client.close()


async def test_kill_mid_replay(tmp_path: Path) -> None:
    with harness(tmp_path) as h:
        client = await Client.connect(f"sqlite:///{h.db}")
        handle = await client.start_workflow(Pipeline.run, 6, id="p", task_queue="kill")
        h.expect_crash(h.spawn("activity_start:step@4"))
        # The next worker must replay the history (cache miss) and dies halfway through.
        h.expect_crash(h.spawn("mid_replay"))
        h.spawn()
        assert await handle.result(timeout=30) == [f"S{i}" for i in range(6)]
        assert h.starts() == {f"s{i}": 1 for i in range(6)}
        await client.close()


async def test_at_most_once_activity_is_not_rerun_after_a_crash(tmp_path: Path) -> None:
    marker = tmp_path / "release-pay"
    with harness(tmp_path) as h:
        client = await Client.connect(f"sqlite:///{h.db}")
        handle = await client.start_workflow(Payment.run, str(marker), id="pay", task_queue="kill")
        first = h.spawn()
        h.wait_for_line("start", "pay")
        h.kill(first)
        marker.touch()
        h.spawn()
        assert await handle.result(timeout=30) == "needs review: ActivityAttemptInterrupted"
        assert h.count("start", "pay") == 1
        await client.close()


async def test_two_workers_never_run_the_same_task_at_once(tmp_path: Path) -> None:
    with harness(tmp_path) as h:
        client = await Client.connect(f"sqlite:///{h.db}")
        # Two slots each: neither worker can take all the work while the other starts.
        h.spawn(extra=("--max-concurrent-activities", "2"))
        h.spawn(extra=("--max-concurrent-activities", "2"))
        await wait_for_workers(client, 2)
        handles = [
            await client.start_workflow(
                Fanout.run, args=[f"w{i}", 10], id=f"f{i}", task_queue="kill"
            )
            for i in range(8)
        ]
        for i, handle in enumerate(handles):
            assert await handle.result(timeout=60) == [f"W{i}-{j}" for j in range(10)]
        lines = h.lines()
        starts = [p for p in lines if p[0] == "start"]
        assert len(starts) == 80
        assert len({p[1] for p in starts}) == 80  # each activity ran exactly once
        pids = {p[3] for p in starts}
        assert len(pids) == 2, "both workers should have done some of the work"
        await client.close()
