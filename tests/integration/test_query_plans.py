"""What running workflows asks SQLite never scans a table that grows with history.

Runs, events and payloads are kept after a workflow closes, so a database in service holds
millions of rows in them. A statement on the path of starting, claiming, completing,
signalling, timing out or reading a workflow that scans one of them costs time in
proportion to everything ever run, and while it writes it holds the one write lock that
every worker shares. (Found so: the workflow task claim read the run's columns by
subqueries in its ``RETURNING`` clause, which SQLite plans as a scan: 17 ms a claim with
100,000 runs kept.)

A real worker runs a workload covering those paths on a real file, every statement sent
to SQLite is recorded, and each is checked with ``EXPLAIN QUERY PLAN``. Listing and
counting runs (visibility, the UI) may scan, and is not in the workload.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from duragent import ApplicationError, Client, Worker, WorkflowStatus, activity, workflow
from duragent._backend.records import RunFilter
from duragent.store._visibility import run_count_drift

T = timedelta(seconds=10)
QUEUE = "plans"
ELSEWHERE = "plans-activities"
"""A queue only another worker serves: its activities are claimed by polling."""

GROWING = ("runs", "events", "payloads", "usage_ledger", "stream_events", "attempts", "updates")
"""Tables whose rows outlive the work that wrote them."""
LIVE_ONLY = ("runs_open_workflow_id",)
"""Partial indexes of those tables that hold only what is still running: walking one costs
in proportion to the work in flight, not to history."""


@activity.defn
async def shout(text: str) -> str:
    return text.upper()


@workflow.defn
class Leaf:
    @workflow.run
    async def run(self, text: str) -> str:
        return await workflow.execute_activity(
            shout, text, start_to_close_timeout=T, task_queue=ELSEWHERE
        )


@workflow.defn
class Branch:
    def __init__(self) -> None:
        self.notes: list[str] = []

    @workflow.run
    async def run(self, text: str) -> list[str]:
        first = await workflow.execute_activity(shout, text, start_to_close_timeout=T)
        await workflow.sleep(0.01)
        child = await workflow.execute_child_workflow(
            Leaf.run, f"{text}-child", id=f"{workflow.info().workflow_id}-leaf"
        )
        await workflow.wait_condition(lambda: bool(self.notes))
        return [first, child, *self.notes]

    @workflow.signal
    def note(self, text: str) -> None:
        self.notes.append(text)

    @workflow.query
    def seen(self) -> int:
        return len(self.notes)

    @workflow.update
    def add(self, text: str) -> int:
        self.notes.append(text)
        return len(self.notes)


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement any connection opened from now on sends to SQLite (with its
    parameters bound: EXPLAIN needs them)."""
    sent: list[str] = []
    connect: Callable[..., sqlite3.Connection] = sqlite3.connect

    def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = connect(*args, **kwargs)
        conn.set_trace_callback(sent.append)
        return conn

    monkeypatch.setattr(sqlite3, "connect", traced)
    return sent


async def _workload(db: Path) -> None:
    client = await Client.connect(f"sqlite:///{db}")
    try:
        # Started before any worker runs: their first tasks are claimed by polling.
        handles = [
            await client.start_workflow(Branch.run, f"w{i}", id=f"w{i}", task_queue=QUEUE)
            for i in range(3)
        ]
        async with (
            Worker(client, task_queue=QUEUE, workflows=[Branch, Leaf], activities=[shout]),
            Worker(client, task_queue=ELSEWHERE, activities=[shout]),
        ):
            await asyncio.sleep(0.05)
            for handle in handles[:2]:
                await handle.signal(Branch.note, "signalled")
            assert await handles[2].execute_update(Branch.add, "updated") == 1
            assert await handles[0].query(Branch.seen) >= 0
            results = [await h.result() for h in handles]
            await client.get_workflow_handle("w0").describe()
    finally:
        await client.close()
    assert results[0][:2] == ["W0", "W0-CHILD"]


def _scans(db: Path, sent: list[str]) -> dict[str, list[str]]:
    """Statement -> the growing tables its plan scans."""
    found: dict[str, list[str]] = {}
    with sqlite3.connect(db) as conn:
        for sql in dict.fromkeys(sent):
            head = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
            if head not in ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "REPLACE"):
                continue
            if sql.rstrip().endswith("LIMIT 0"):
                continue  # reads no row (the store's look at a table's columns)
            plan = conn.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
            scanned = [
                detail
                for *_, detail in plan
                if detail.startswith("SCAN ")
                and detail.split()[1] in GROWING
                and detail.split()[-1] not in LIVE_ONLY
            ]
            if scanned:
                found[sql] = scanned
    return found


def test_running_workflows_never_scans_what_history_keeps(
    tmp_path: Path, statements: list[str]
) -> None:
    db = tmp_path / "plans.db"
    asyncio.run(_workload(db))
    # The workload went down the paths this test is about.
    assert any("UPDATE tasks SET owner" in s and "kind = 0" in s for s in statements)
    assert any("INTO timers" in s for s in statements)
    assert any("UPDATE tasks SET owner" in s and "kind = 1" in s for s in statements)
    assert _scans(db, statements) == {}


def test_the_check_sees_a_scan(tmp_path: Path) -> None:
    """The same check on the claim as it was: its plan scans ``runs``."""
    db = tmp_path / "plans.db"
    asyncio.run(Client.connect(f"sqlite:///{db}")).store.close()
    old_claim = (
        "UPDATE tasks SET owner = 'w', lease = lease + 1 WHERE task_id IN (SELECT task_id "
        "FROM tasks WHERE kind = 0 AND owner IS NULL LIMIT 1) RETURNING task_id, "
        "(SELECT workflow_id FROM runs WHERE runs.run_id = tasks.run_id)"
    )
    assert _scans(db, [old_claim]) == {old_claim: ["SCAN runs"]}


async def _listings(db: Path) -> None:
    client = await Client.connect(f"sqlite:///{db}")
    try:
        async with (
            Worker(client, task_queue=QUEUE, workflows=[Branch, Leaf], activities=[shout]),
            Worker(client, task_queue=ELSEWHERE, activities=[shout]),
        ):
            done = await client.start_workflow(Branch.run, "done", id="done", task_queue=QUEUE)
            await done.signal(Branch.note, "go")
            await done.result()
            for i in range(3):  # left waiting for a signal
                await client.start_workflow(Branch.run, f"r{i}", id=f"r{i}", task_queue=QUEUE)
            running = await client.list_workflows(status="running")
            assert [w.id for w in running] == ["r2", "r1", "r0"]  # newest first
            assert [w.id for w in await client.list_workflows(status="running", limit=2)] == [
                "r2",
                "r1",
            ]
            count = client.backend.count_runs
            assert await count(RunFilter(status="running")) == 3
            assert await count(RunFilter(status="completed")) == 2  # with its child
            assert await count(RunFilter(status="running", task_failing=True)) == 0
            assert await client.list_workflows(status="running", workflow_type="Leaf") == []
            leaves = await client.list_workflows(workflow_type="Leaf")
            assert [w.id for w in leaves] == ["done-leaf"]
            branches = await client.list_workflows(workflow_type="Branch", limit=2)
            assert [w.id for w in branches] == ["r2", "r1"]
            closed = await client.list_workflows(status="completed")
            assert [w.id for w in closed] == ["done-leaf", "done"]
            first = await client.backend.list_runs(RunFilter(status="completed"), page_size=1)
            second = await client.backend.list_runs(
                RunFilter(status="completed"), page_size=1, page_token=first.next_page_token
            )
            assert [r.workflow_id for r in (*first.runs, *second.runs)] == ["done-leaf", "done"]
            leaf = await client.list_workflows(status="completed", workflow_type="Leaf")
            assert [w.id for w in leaf] == ["done-leaf"]
            assert await client.list_workflows(status="failed") == []
            # The same through Temporal's list filter.
            by_filter = client.list_workflows
            assert [w.id for w in await by_filter("ExecutionStatus = 'Running'")] == [
                "r2",
                "r1",
                "r0",
            ]
            found = await by_filter("ExecutionStatus = 'Completed' AND WorkflowId STARTS_WITH 'd'")
            assert [w.id for w in found] == ["done-leaf", "done"]
            assert [w.id for w in await by_filter("WorkflowId STARTS_WITH 'done-'")] == [
                "done-leaf"
            ]
            assert [w.id for w in await by_filter("WorkflowType = 'Leaf'")] == ["done-leaf"]
            assert await by_filter("ExecutionStatus = 'Failed'") == []
            by_prefix = client.list_workflows
            assert [w.id for w in await by_prefix(workflow_id_prefix="r")] == ["r2", "r1", "r0"]
            assert [w.id for w in await by_prefix(workflow_id_prefix="done")] == [
                "done-leaf",
                "done",
            ]
            assert [w.id for w in await by_prefix(workflow_id_prefix="done-")] == ["done-leaf"]
            running_r = await by_prefix(workflow_id_prefix="r", status="running", limit=1)
            assert [w.id for w in running_r] == ["r2"]
            assert await by_prefix(workflow_id_prefix="r\U0010ffff") == []  # no range above
            assert await client.list_workflows(task_failing=True) == []
            assert await client.list_workflows(waiting_for_approval=True) == []
            for i in range(3):
                await client.get_workflow_handle(f"r{i}").signal(Branch.note, "go")
                await client.get_workflow_handle(f"r{i}").result()
            assert await client.list_workflows(status="running") == []
    finally:
        await client.close()


def test_listing_running_runs_reads_only_running_runs(
    tmp_path: Path, statements: list[str]
) -> None:
    """The runs list of the CLI and the UI, filtered to running runs (or to those whose
    task fails, or that wait for an approval: running too), goes through the index of
    running runs instead of every run kept (without it, 25 ms a page among 100,000
    closed runs); filtered by a workflow id prefix, through the range of ids it covers; by
    workflow type, through that type's runs (schema v7's index); by one closed status (the
    UI's "failed" tab), through the closed runs of that status (schema v8's index)."""
    db = tmp_path / "plans.db"
    asyncio.run(_listings(db))
    lists = ("SELECT rowid, * FROM runs", "SELECT count(*) FROM runs")
    listed = [
        s
        for s in statements
        if s.startswith(lists)
        and ("'running'" in s or "workflow_id >=" in s or "workflow_type =" in s)
    ]
    assert len(listed) >= 10  # each filter above: running runs, a prefix, a type
    assert any("INDEXED BY runs_open_workflow_id" in s for s in listed)
    assert any("INDEXED BY runs_by_workflow_id" in s for s in listed)
    assert any("INDEXED BY runs_closed_by_status" in s for s in listed)
    assert _scans(db, listed) == {}


@workflow.defn
class Ends:
    """Ends as asked: completed, failed, continued as new (then completed), or waits (to
    be cancelled or terminated)."""

    @workflow.run
    async def run(self, how: str) -> str:
        if how == "fail":
            raise ApplicationError("asked to fail", non_retryable=True)
        if how == "continue":
            workflow.continue_as_new("complete")
        if how == "wait":
            await workflow.wait_condition(lambda: False)
        return how


async def _every_status(db: Path) -> dict[str, int]:
    client = await Client.connect(f"sqlite:///{db}")
    try:
        async with Worker(client, task_queue=QUEUE, workflows=[Ends]):
            for i, how in enumerate(("complete", "fail", "continue", "wait", "wait")):
                await client.start_workflow(Ends.run, how, id=f"{how}-{i}", task_queue=QUEUE)
            handles = {
                w.id: client.get_workflow_handle(w.id) for w in await client.list_workflows()
            }
            waiting = [h for wid, h in handles.items() if wid.startswith("wait")]
            await waiting[0].cancel()
            await waiting[1].terminate("asked to stop")
            for handle in handles.values():
                with contextlib.suppress(Exception):
                    await handle.result(timeout=10)
        count = client.backend.count_runs
        counts = {s.value: await count(RunFilter(status=s.value)) for s in WorkflowStatus}
        assert await count(RunFilter()) == sum(counts.values())
        return counts
    finally:
        await client.close()


def test_counts_by_status_are_kept_through_every_way_a_run_ends(
    tmp_path: Path, statements: list[str]
) -> None:
    """The UI's and /metrics' counts by status come from counts the store keeps (no
    count of every run kept), and they stay right whichever way runs close."""
    db = tmp_path / "plans.db"
    counts = asyncio.run(_every_status(db))
    assert counts == {
        "running": 0,
        "completed": 2,  # one directly, one after continuing as new
        "failed": 1,
        "canceled": 1,
        "terminated": 1,
        "continued_as_new": 1,
    }
    with sqlite3.connect(db) as conn:
        assert run_count_drift(conn) == {}
    assert not [s for s in statements if s.startswith("SELECT count(*) FROM runs")]
