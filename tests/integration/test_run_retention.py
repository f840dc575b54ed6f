"""``Worker(run_retention=...)``: a worker removes runs closed longer ago than the retention
period, with their rows, as ``duragent prune`` does; running and recent runs stay."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pytest

from duragent import (
    Client,
    ConfigurationError,
    Worker,
    WorkflowNotFoundError,
    workflow,
)
from duragent.store._retention import PRUNE_STEP, PRUNED_TABLES
from duragent.store._tx import payloads_in
from duragent.store._visibility import run_count_drift
from duragent.store.sqlite import SqliteStore

from ..fixtures.payload_app import Big, keep, payload_rows

QUEUE = "retention"
HOUR_MS = 3_600_000


class MovableClock:
    """Wall time that the test moves forward on purpose (no step detection)."""

    def __init__(self) -> None:
        self.offset_ms = 0

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.offset_ms


@workflow.defn
class Job:
    def __init__(self) -> None:
        self.released = False

    @workflow.run
    async def run(self, wait: bool) -> str:
        if wait:
            await workflow.wait_condition(lambda: self.released)
        return "done"

    @workflow.signal
    def release(self) -> None:
        self.released = True


async def _exists(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except WorkflowNotFoundError:
        return False
    return True


async def _until_gone(client: Client, workflow_id: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while await _exists(client, workflow_id):
        if time.monotonic() > deadline:
            raise AssertionError(f"{workflow_id} was not removed within {timeout_s} s")
        await asyncio.sleep(0.05)


async def test_runs_closed_before_the_retention_period_are_removed(tmp_path: Path) -> None:
    db = tmp_path / "retention.db"
    clock = MovableClock()
    client = Client(SqliteStore(str(db)), clock=clock)
    try:
        async with Worker(client, task_queue=QUEUE, workflows=[Job]):
            for i in range(PRUNE_STEP + 50):  # more than one step: a backlog
                await client.execute_workflow(Job.run, False, id=f"old-{i}", task_queue=QUEUE)
            old_waiting = await client.start_workflow(
                Job.run, True, id="old-waiting", task_queue=QUEUE
            )
            await old_waiting.describe()
        clock.offset_ms += 2 * HOUR_MS  # the runs above closed two hours ago
        async with Worker(client, task_queue=QUEUE, workflows=[Job]):
            for i in range(3):
                await client.execute_workflow(Job.run, False, id=f"new-{i}", task_queue=QUEUE)
        async with Worker(
            client, task_queue=QUEUE, workflows=[Job], run_retention=timedelta(hours=1)
        ):
            await _until_gone(client, f"old-{PRUNE_STEP + 49}")
            await _until_gone(client, "old-0")
            # Running runs stay however old, and keep working; recent ones stay.
            assert await _exists(client, "old-waiting")
            for i in range(3):
                assert await _exists(client, f"new-{i}")
            await old_waiting.signal(Job.release)
            assert await old_waiting.result() == "done"
        listed = {w.id for w in await client.list_workflows(limit=1000)}
        assert listed == {"old-waiting", "new-0", "new-1", "new-2"}
        with sqlite3.connect(db) as conn:
            assert run_count_drift(conn) == {}
            kept = {r[0] for r in conn.execute("SELECT run_id FROM runs")}
            for table in PRUNED_TABLES:
                orphans = conn.execute(
                    f"SELECT count(*) FROM {table} WHERE run_id NOT IN (SELECT run_id FROM runs)"
                ).fetchone()[0]
                assert orphans == 0, table
        assert len(kept) == 4
    finally:
        await client.close()


async def test_without_retention_nothing_is_removed(tmp_path: Path) -> None:
    db = tmp_path / "kept.db"
    clock = MovableClock()
    client = Client(SqliteStore(str(db)), clock=clock)
    try:
        async with Worker(client, task_queue=QUEUE, workflows=[Job]):
            await client.execute_workflow(Job.run, False, id="kept", task_queue=QUEUE)
        clock.offset_ms += 365 * 24 * HOUR_MS
        async with Worker(client, task_queue=QUEUE, workflows=[Job]):
            await asyncio.sleep(0.3)  # a few housekeeping rounds
            assert await _exists(client, "kept")
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("runs", "streams"),
    [(None, None), (timedelta(hours=1), None), (None, timedelta(hours=1))],
)
async def test_an_idle_worker_sleeps_whatever_it_keeps(
    tmp_path: Path, runs: timedelta | None, streams: timedelta | None
) -> None:
    """The housekeeping loop sleeps until its next due time (at most half a second) with
    either retention turned off: a due time never set must not read as one passed."""
    client = Client(SqliteStore(str(tmp_path / "idle.db")), clock=MovableClock())
    store = client.store
    check_file = store.check_file
    rounds = 0

    def counted() -> None:
        nonlocal rounds
        rounds += 1
        check_file()

    store.check_file = counted  # type: ignore[method-assign]
    try:
        async with Worker(
            client,
            task_queue=QUEUE,
            workflows=[Job],
            run_retention=runs,
            stream_retention=streams,
        ):
            await asyncio.sleep(1.0)
        assert rounds <= 10  # every 0.5 s, plus a few wake-ups; a spin makes thousands
    finally:
        await client.close()


@pytest.mark.parametrize("bad", [timedelta(0), timedelta(seconds=-1), 3600])
async def test_a_retention_that_is_not_a_positive_duration_is_refused(
    tmp_path: Path, bad: object
) -> None:
    client = await Client.connect(f"sqlite:///{tmp_path / 'bad.db'}")
    try:
        with pytest.raises(ConfigurationError, match="run_retention must be a positive"):
            Worker(client, task_queue=QUEUE, workflows=[Job], run_retention=bad)  # type: ignore[arg-type]
    finally:
        await client.close()


async def test_the_worker_reclaims_the_payloads_of_the_runs_it_removed(tmp_path: Path) -> None:
    db = tmp_path / "payloads.db"
    clock = MovableClock()
    client = Client(SqliteStore(str(db)), clock=clock)
    shared = "shared document " + "words " * 400
    try:
        async with Worker(client, task_queue=QUEUE, workflows=[Big], activities=[keep]):
            await client.execute_workflow(Big.run, shared, id="old-shared", task_queue=QUEUE)
            await client.execute_workflow(
                Big.run, "own document " + "words " * 400, id="old-own", task_queue=QUEUE
            )
        clock.offset_ms += 2 * HOUR_MS
        async with Worker(client, task_queue=QUEUE, workflows=[Big], activities=[keep]):
            await client.execute_workflow(Big.run, shared, id="new", task_queue=QUEUE)
        in_use = payload_rows(db)
        async with Worker(
            client,
            task_queue=QUEUE,
            workflows=[Big],
            activities=[keep],
            run_retention=timedelta(hours=1),
        ):
            await _until_gone(client, "old-own")
            deadline = time.monotonic() + 20
            while payload_rows(db) == in_use:
                assert time.monotonic() < deadline, "the payloads were not reclaimed"
                await asyncio.sleep(0.05)
        # The old run's own document went (all of it: what is left is in use); the one
        # the kept run shares stayed.
        left = payload_rows(db)
        assert 0 < left < in_use
        again = client.store.collect_payloads(clock.now_ms())
        assert (again.removed, again.kept) == (0, left)
        assert await client.get_workflow_handle("new").result() == shared
        for event in client.store.read_history(
            (await client.get_workflow_handle("new").describe()).run_id
        ):
            for payload in payloads_in([event]):
                assert payload.data  # every payload of the kept run is there
    finally:
        await client.close()
