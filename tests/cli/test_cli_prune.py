"""``duragent prune``: closed runs older than an age go, with every row kept for them;
running runs stay and keep working."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pytest

from duragent import Client, Worker, WorkflowNotFoundError, activity, workflow
from duragent.store._retention import PRUNED_TABLES
from duragent.store._visibility import run_count_drift
from duragent.store.base import UsageEntry

from ..fixtures.payload_app import Big, keep, payload_rows
from .conftest import Cli, db_url, spawn_worker, stop_worker

T = timedelta(seconds=10)
QUEUE = "prune"


@activity.defn
async def shout(text: str) -> str:
    return text.upper()


@workflow.defn
class Job:
    def __init__(self) -> None:
        self.notes: list[str] = []

    @workflow.run
    async def run(self, text: str, wait: bool) -> list[str]:
        first = await workflow.execute_activity(shout, text, start_to_close_timeout=T)
        if wait:
            await workflow.wait_condition(lambda: bool(self.notes))
        return [first, *self.notes]

    @workflow.signal
    def note(self, text: str) -> None:
        self.notes.append(text)

    @workflow.update
    def add(self, text: str) -> int:
        self.notes.append(text)
        return len(self.notes)


@workflow.defn
class Parent:
    @workflow.run
    async def run(self) -> list[str]:
        return await workflow.execute_child_workflow(
            Job.run, args=["child", False], id=f"{workflow.info().workflow_id}-child"
        )


@workflow.defn
class Launcher:
    """Starts a child that outlives it (abandoned when the launcher closes)."""

    @workflow.run
    async def run(self) -> str:
        await workflow.start_child_workflow(
            Job.run,
            args=["orphan", True],
            id="orphan",
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
        )
        return "launched"


def _rows(db: Path, run_ids: set[str]) -> dict[str, int]:
    """Rows per table that belong to these runs."""
    marks = ",".join("?" * len(run_ids))
    with sqlite3.connect(db) as conn:
        return {
            table: conn.execute(
                f"SELECT count(*) FROM {table} WHERE run_id IN ({marks})", sorted(run_ids)
            ).fetchone()[0]
            for table in ("runs", *PRUNED_TABLES)
        }


def _run_ids(db: Path) -> dict[str, str]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT workflow_id, run_id FROM runs"))


async def _closed_and_running(db: Path) -> None:
    """Four closed runs (a job, one with an update, a parent and its child) and one left
    running, started first."""
    client = await Client.connect(db_url(db))
    try:
        waiting = await client.start_workflow(
            Job.run, args=["old", True], id="old", task_queue=QUEUE
        )
        async with Worker(client, task_queue=QUEUE, workflows=[Job, Parent], activities=[shout]):
            assert await client.execute_workflow(
                Job.run, args=["a", False], id="a", task_queue=QUEUE
            ) == ["A"]
            b = await client.start_workflow(Job.run, args=["b", True], id="b", task_queue=QUEUE)
            assert await b.execute_update(Job.add, "updated") == 1
            assert await b.result() == ["B", "updated"]
            assert await client.execute_workflow(Parent.run, id="p", task_queue=QUEUE) == ["CHILD"]
            await asyncio.sleep(0.05)  # "old" ran its activity and waits
            assert (await waiting.describe()).status == "running"
        client.store.record_usage(
            UsageEntry(
                run_id=(await client.get_workflow_handle("a").describe()).run_id,
                seq=1,
                attempt=1,
                kind="model",
                name="m",
                time=1,
            )
        )
    finally:
        await client.close()


async def _finish(db: Path) -> list[str]:
    client = await Client.connect(db_url(db))
    try:
        async with Worker(client, task_queue=QUEUE, workflows=[Job, Parent], activities=[shout]):
            handle = client.get_workflow_handle("old")
            await handle.signal(Job.note, "after the prune")
            result: list[str] = await handle.result()
            for gone in ("a", "b", "p", "p-child"):
                with pytest.raises(WorkflowNotFoundError):
                    await client.get_workflow_handle(gone).describe()
            # New work on the pruned file runs as before.
            assert await client.execute_workflow(
                Job.run, args=["new", False], id="a", task_queue=QUEUE
            ) == ["NEW"]
        return result
    finally:
        await client.close()


def test_prune_removes_closed_runs_with_their_rows_and_keeps_running_ones(
    run_cli: Cli, cli_db: Path
) -> None:
    asyncio.run(_closed_and_running(cli_db))
    ids = _run_ids(cli_db)
    closed = {ids[w] for w in ("a", "b", "p", "p-child")}
    before = _rows(cli_db, closed)
    assert before["events"] > 0 and before["updates"] == 1 and before["usage_ledger"] == 1
    kept_before = _rows(cli_db, {ids["old"]})
    time.sleep(0.2)

    # Not old enough yet: nothing goes.
    assert run_cli.ok("prune", "--older-than", "1h").stdout.startswith(
        "removed 0 closed runs (0 events)"
    )
    dry = run_cli.json("prune", "--older-than", "0.1", "--dry-run", "--json")
    assert dry == {"runs": 4, "events": before["events"], "dry_run": True}
    assert _rows(cli_db, closed) == before

    out = run_cli.ok("prune", "--older-than", "0.1").stdout
    assert out.startswith(f"removed 4 closed runs ({before['events']} events)")
    assert set(_rows(cli_db, closed).values()) == {0}
    assert _rows(cli_db, {ids["old"]}) == kept_before  # running: untouched, however old
    with sqlite3.connect(cli_db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert run_count_drift(conn) == {}  # the counts by status follow the removal
        assert dict(conn.execute("SELECT status, runs FROM run_counts")) == {
            "running": 1,
            "completed": 0,
        }

    assert asyncio.run(_finish(cli_db)) == ["OLD", "after the prune"]


def test_every_table_with_rows_per_run_is_pruned(cli_db: Path) -> None:
    async def create() -> None:
        await (await Client.connect(db_url(cli_db))).close()

    asyncio.run(create())
    with sqlite3.connect(cli_db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        per_run = {
            t
            for t in tables
            if any(c[1] == "run_id" for c in conn.execute(f"PRAGMA table_info({t})"))
        }
    # stream_runs lists runs of Temporal whose streams the file keeps, never its own runs.
    assert per_run - {"runs", "stream_runs"} == set(PRUNED_TABLES)


def test_prune_refuses_bad_input_and_changes_nothing(run_cli: Cli, cli_db: Path) -> None:
    missing = run_cli.fail("prune", "--older-than", "30d")
    assert missing.stderr.startswith("error: no database at")
    assert not cli_db.exists()
    asyncio.run(_closed_and_running(cli_db))
    before = _run_ids(cli_db)
    for bad in ("soon", "-5", "0"):
        result = run_cli("prune", "--older-than", bad)
        assert result.exit_code == 2, result.stderr
        assert "--older-than" in result.stderr or "duration" in result.stderr
    assert run_cli("prune").exit_code == 2  # --older-than is required
    temporal = Cli("temporal://127.0.0.1:1/default").fail("prune", "--older-than", "30d")
    assert "Temporal removes closed runs itself" in temporal.stderr
    assert _run_ids(cli_db) == before


async def _orphan(db: Path, prune: Cli) -> list[str]:
    client = await Client.connect(db_url(db))
    try:
        async with Worker(client, task_queue=QUEUE, workflows=[Job, Launcher], activities=[shout]):
            assert await client.execute_workflow(Launcher.run, id="l", task_queue=QUEUE) == (
                "launched"
            )
            orphan = client.get_workflow_handle("orphan")
            assert (await orphan.describe()).status == "running"
            await asyncio.sleep(0.15)
            report = await asyncio.to_thread(prune.json, "prune", "--older-than", "0.1", "--json")
            assert report["runs"] == 1  # the launcher; its child is running
            with pytest.raises(WorkflowNotFoundError):
                await client.get_workflow_handle("l").describe()
            await orphan.signal(Job.note, "parent gone")
            return await orphan.result()
    finally:
        await client.close()


def test_a_running_child_outlives_its_pruned_parent(run_cli: Cli, cli_db: Path) -> None:
    assert asyncio.run(_orphan(cli_db, run_cli)) == ["ORPHAN", "parent gone"]


def test_a_worker_started_with_run_retention_removes_old_closed_runs(
    run_cli: Cli, cli_db: Path, tmp_path: Path
) -> None:
    asyncio.run(_closed_and_running(cli_db))
    time.sleep(1.2)  # every closed run is now more than a second old
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        proc = spawn_worker(db_url(cli_db), "tests.fixtures.cli_app", log, "--run-retention", "1s")
        try:
            deadline = time.monotonic() + 30
            while set(_run_ids(cli_db)) != {"old"}:
                assert proc.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, f"left: {_run_ids(cli_db)}"
                time.sleep(0.1)
        finally:
            assert stop_worker(proc) == 0, log_path.read_text()
    with sqlite3.connect(cli_db) as conn:
        assert run_count_drift(conn) == {}
    bad = run_cli("worker", "tests.fixtures.cli_app", "--run-retention", "soon")
    assert bad.exit_code == 2 and "is not a duration" in bad.output
    zero = run_cli("worker", "tests.fixtures.cli_app", "--run-retention", "0")
    assert zero.exit_code == 1 and "run_retention must be a positive" in zero.stderr
    bad = run_cli("worker", "tests.fixtures.cli_app", "--stream-retention", "soon")
    assert bad.exit_code == 2 and "is not a duration" in bad.output
    negative = run_cli("worker", "tests.fixtures.cli_app", "--stream-retention", "-5")
    assert negative.exit_code == 1 and "stream_retention must be a non-negative" in negative.stderr


def test_prune_reclaims_the_payloads_no_kept_run_refers_to(run_cli: Cli, cli_db: Path) -> None:
    async def runs() -> None:
        client = await Client.connect(db_url(cli_db))
        async with client, Worker(client, task_queue=QUEUE, workflows=[Big], activities=[keep]):
            for n in range(3):
                text = f"document {n}: " + "words " * 400
                result = await client.execute_workflow(
                    Big.run, text, id=f"big-{n}", task_queue=QUEUE
                )
                assert result == text

    asyncio.run(runs())
    before = payload_rows(cli_db)
    assert before >= 3
    time.sleep(0.2)
    kept = run_cli.json("prune", "--older-than", "0.1", "--keep-payloads", "--json")
    assert kept == {"runs": 3, "events": kept["events"], "dry_run": False}
    assert payload_rows(cli_db) == before  # asked to keep them

    asyncio.run(runs())  # the same payloads again, and three more runs
    time.sleep(0.2)
    pruned = run_cli.json("prune", "--older-than", "0.1", "--json")
    assert pruned["runs"] == 3
    assert pruned["payloads"]["removed"] == before and pruned["payloads"]["kept"] == 0
    assert pruned["payloads"]["removed_bytes"] > 3 * 2400
    assert payload_rows(cli_db) == 0
    text = run_cli.ok("prune", "--older-than", "0.1").stdout
    assert "reclaimed 0 payloads (0 B) no kept run refers to; 0 in use" in text
