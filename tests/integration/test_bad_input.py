"""Bad input gets a clear error and loses nothing: corrupt, foreign, newer or locked
databases; oversized or unserializable payloads; unknown workflow types; code that
breaks determinism or has a bug."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pytest

from duragent import (
    Client,
    NondeterminismError,
    PayloadTooLargeError,
    SerializationError,
    StoreCorruptError,
    StoreLockedError,
    StoreVersionError,
    Worker,
    activity,
    workflow,
)
from duragent._worker import watchdog
from duragent.store.schema import SCHEMA_VERSION

from ..waits import wait_for_task_failure

T = timedelta(seconds=5)


@activity.defn
async def echo(x: str) -> str:
    return x


@workflow.defn(name="Evolving")
class EvolvingV1:
    @workflow.run
    async def run(self) -> str:
        await workflow.execute_activity(echo, "one", start_to_close_timeout=T)
        await workflow.sleep(0.3)
        return await workflow.execute_activity(echo, "two", start_to_close_timeout=T)


@workflow.defn(name="Evolving")
class EvolvingBroken:
    """Deploys a change without workflow.patched: replay must refuse it."""

    @workflow.run
    async def run(self) -> str:
        await workflow.sleep(0.3)
        return await workflow.execute_activity(echo, "two", start_to_close_timeout=T)


buggy_fixed = False


@workflow.defn
class Buggy:
    @workflow.run
    async def run(self) -> str:
        if not buggy_fixed:
            raise ZeroDivisionError("bug in workflow code")
        return "fixed"


async def test_file_that_is_not_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my notes, not a database\n" * 100)
    with pytest.raises(StoreCorruptError) as info:
        await Client.connect(f"sqlite:///{path}")
    assert "not a valid Duragent database" in str(info.value)
    assert path.read_bytes().startswith(b"these are my notes")  # untouched


async def test_sqlite_file_of_another_application(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers (name) VALUES ('ada')")
    conn.commit()
    conn.close()
    with pytest.raises(StoreCorruptError) as info:
        await Client.connect(f"sqlite:///{path}")
    assert "not a Duragent one" in str(info.value)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT name FROM customers").fetchall() == [("ada",)]
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["customers"]


async def test_database_from_a_newer_duragent(db_path: Path) -> None:
    (await Client.connect(f"sqlite:///{db_path}")).store.close()
    conn = sqlite3.connect(db_path)
    conn.execute(
        "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),)
    )
    conn.commit()
    conn.close()
    with pytest.raises(StoreVersionError) as info:
        await Client.connect(f"sqlite:///{db_path}")
    assert "newer Duragent" in str(info.value) and "upgrade" in str(info.value).lower()


async def test_locked_database_is_reported_and_nothing_is_lost(db_path: Path) -> None:
    client = await Client.connect(f"sqlite:///{db_path}", busy_timeout_ms=200)
    await client.start_workflow("Anything", id="before", task_queue="q")
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreLockedError) as info:
            await client.start_workflow("Anything", id="during", task_queue="q")
        assert "locked" in str(info.value) and info.value.retryable
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    await client.start_workflow("Anything", id="after", task_queue="q")
    assert sorted(r.id for r in await client.list_workflows()) == ["after", "before"]
    await client.close()


async def test_oversized_and_unserializable_arguments_store_nothing(db_path: Path) -> None:
    client = await Client.connect(f"sqlite:///{db_path}", max_payload_bytes=1000)
    with pytest.raises(PayloadTooLargeError) as info:
        await client.start_workflow("Anything", "x" * 5000, id="big", task_queue="q")
    assert "max_payload_bytes" in str(info.value)
    with pytest.raises(SerializationError) as err:
        await client.start_workflow("Anything", object(), id="obj", task_queue="q")
    assert "object" in str(err.value)
    assert await client.list_workflows() == []
    await client.close()


async def test_unknown_workflow_type_waits_for_a_worker_that_knows_it(client: Client) -> None:
    handle = await client.start_workflow(EvolvingV1.run, id="w", task_queue="q")
    async with Worker(client, task_queue="q", workflows=[Buggy], activities=[echo]):
        await asyncio.sleep(0.2)
        desc = await handle.describe()
        assert desc.status == "running" and desc.history_length == 1  # untouched
    async with Worker(client, task_queue="q", workflows=[EvolvingV1], activities=[echo]):
        assert await handle.result(timeout=10) == "two"


async def test_nondeterministic_deploy_keeps_the_run_open_until_fixed(client: Client) -> None:
    async with Worker(
        client, task_queue="q", workflows=[EvolvingV1], activities=[echo], max_cached_workflows=0
    ):
        handle = await client.start_workflow(EvolvingV1.run, id="evo", task_queue="q")
        await asyncio.sleep(0.15)  # inside the sleep
    async with Worker(client, task_queue="q", workflows=[EvolvingBroken], activities=[echo]):
        desc = await wait_for_task_failure(handle)
    assert desc.status == "running"
    assert desc.task_failure is not None and "NondeterminismError" in desc.task_failure
    assert "ScheduleActivity(seq=1, type='echo')" in desc.task_failure
    # Deploying the right code again (a new worker retries at once) finishes the run.
    async with Worker(client, task_queue="q", workflows=[EvolvingV1], activities=[echo]):
        assert await handle.result(timeout=10) == "two"
    assert (await handle.describe()).task_failure is None


async def test_bug_in_workflow_code_is_retried_after_a_fix(client: Client) -> None:
    global buggy_fixed
    buggy_fixed = False
    async with Worker(client, task_queue="q", workflows=[Buggy]):
        handle = await client.start_workflow(Buggy.run, id="bug", task_queue="q")
        desc = await wait_for_task_failure(handle)
    assert desc.status == "running" and "ZeroDivisionError" in (desc.task_failure or "")
    buggy_fixed = True
    async with Worker(client, task_queue="q", workflows=[Buggy]):
        assert await handle.result(timeout=10) == "fixed"


def test_nondeterminism_error_is_exported() -> None:
    import duragent

    assert duragent.NondeterminismError is NondeterminismError


@workflow.defn
class BlocksTheWorker:
    @workflow.run
    async def run(self, seconds: float) -> str:
        time.sleep(seconds)  # noqa: ASYNC251 - the mistake: blocking in workflow code
        return "woke"


async def test_workflow_code_that_blocks_the_worker_is_reported_with_its_line(
    client: Client, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python cannot interrupt it, but the worker's log says which workflow and where."""
    monkeypatch.setattr(watchdog, "BLOCKED_TASK_WARNING_S", 0.2)
    caplog.set_level(logging.WARNING, logger="duragent.worker")
    async with Worker(client, task_queue="q", workflows=[BlocksTheWorker]):
        handle = await client.start_workflow(BlocksTheWorker.run, 1.0, id="sleepy", task_queue="q")
        assert await handle.result(timeout=10) == "woke"
    warnings = [
        r.getMessage() for r in caplog.records if "held the worker's thread" in r.getMessage()
    ]
    assert warnings, "no warning about the blocked worker"
    first = warnings[0]
    assert "the workflow task of workflow 'sleepy' (BlocksTheWorker)" in first
    assert "time.sleep(seconds)" in first and "test_bad_input.py" in first
    assert "use workflow.sleep and activities" in first
    # Warned again only as the block goes on (0.2 s, 0.4 s, 0.8 s), not every tick.
    assert len(warnings) <= 3
