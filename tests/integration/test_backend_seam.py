"""The client-side backend seam on the embedded store: a locked database never stalls the
event loop, a client that can reach nothing but the protocol still does everything, and
the run filters, keyset pages and change watches the web UI builds on."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest

from duragent import (
    Client,
    ConfigurationError,
    QueryError,
    StoreLockedError,
    Worker,
    WorkflowNotFoundError,
    workflow,
)
from duragent._backend import (
    ClientBackend,
    EmbeddedBackend,
    RunFilter,
    RunRef,
    StartRequest,
)
from duragent.store.sqlite import SqliteStore

from ..waits import wait_for_task_failure

QUEUE = "seam"

# Holds the database's write lock until a line arrives on stdin.
LOCK_HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
"""


@workflow.defn
class Inbox:
    """Collects signals and updates until told to finish."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.done = False

    @workflow.run
    async def run(self, greeting: str) -> list[str]:
        await workflow.wait_condition(lambda: self.done)
        return [greeting, *self.items]

    @workflow.signal
    def add(self, item: str) -> None:
        self.items.append(item)

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.query
    def count(self) -> int:
        return len(self.items)

    @workflow.update
    def add_and_count(self, item: str) -> int:
        self.items.append(item)
        return len(self.items)


@workflow.defn
class Broken:
    @workflow.run
    async def run(self) -> None:
        raise RuntimeError("a bug in workflow code")  # fails the task, not the workflow


def _inbox_worker(client: Client) -> Worker:
    return Worker(client, task_queue=QUEUE, workflows=[Inbox, Broken])


# -- never blocking the loop ------------------------------------------------------------------


async def test_a_locked_database_does_not_stall_the_event_loop(tmp_path: Path) -> None:
    db = tmp_path / "locked.db"
    async with await Client.connect(str(db), busy_timeout_ms=20_000) as client:
        handle = await client.start_workflow(Inbox.run, "hi", id="w1", task_queue=QUEUE)
        holder = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            LOCK_HOLDER,
            str(db),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert holder.stdin is not None and holder.stdout is not None
        try:
            assert await holder.stdout.readline() == b"locked\n"
            start = asyncio.create_task(
                client.start_workflow(Inbox.run, "second", id="w2", task_queue=QUEUE)
            )
            signal = asyncio.create_task(handle.signal(Inbox.add, "while locked"))
            # Another task on the same loop keeps running while both calls wait for the
            # lock (a blocked loop would run none of this until the busy timeout).
            for _ in range(20):
                await asyncio.sleep(0.01)
                assert not start.done()
                assert not signal.done()
            # Reads do not wait for the lock at all (WAL, separate connection).
            assert (await handle.describe()).status == "running"
            assert [r.id for r in await client.list_workflows()] == ["w1"]
            holder.stdin.write(b"\n")
            await holder.stdin.drain()
            second = await start
            await signal
        finally:
            if holder.returncode is None:
                holder.kill()
            await holder.wait()
        assert second.id == "w2"
        history = await handle.fetch_history()
        assert [e.TYPE for e in history.events][-1] == "WorkflowExecutionSignaled"


async def test_no_wait_fails_fast_on_a_locked_database_and_restores_the_timeout(
    tmp_path: Path,
) -> None:
    db = tmp_path / "no-wait.db"
    store = await asyncio.to_thread(SqliteStore, str(db), busy_timeout_ms=20_000)
    request = StartRequest(workflow_id="w", workflow_type="Inbox", task_queue=QUEUE)
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        LOCK_HOLDER,
        str(db),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert holder.stdin is not None and holder.stdout is not None
    try:
        assert await holder.stdout.readline() == b"locked\n"
        with store.no_wait() as free:
            assert free
            with pytest.raises(StoreLockedError):
                store.start_workflow(request, 1)
        timeout = store._conn.execute("PRAGMA busy_timeout").fetchone()[0]  # pyright: ignore[reportPrivateUsage]
        assert timeout == 20_000
    finally:
        holder.stdin.write(b"\n")
        await holder.stdin.drain()
        await holder.wait()
    try:
        assert [r.workflow_id for r in store.list_runs()] == []  # nothing was changed
        # Another thread using the connection: no_wait does not wait for it either.
        entered, leave = threading.Event(), threading.Event()

        def hold() -> None:
            with store.batch(1):
                entered.set()
                leave.wait(30)

        held = asyncio.create_task(asyncio.to_thread(hold))
        try:
            assert await asyncio.to_thread(entered.wait, 30)
            with store.no_wait() as free:
                assert not free
        finally:
            leave.set()
            await held
    finally:
        store.close()


# -- a client that can reach nothing but the protocol -----------------------------------------

_PROTOCOL_MEMBERS = frozenset(
    name for name in vars(ClientBackend) if not name.startswith("_") and name != "mro"
)


class OnlyTheProtocol:
    """Exposes exactly :class:`ClientBackend`'s members of a real backend: a client on it
    cannot reach around the seam (no ``store``, no private helpers)."""

    def __init__(self, inner: EmbeddedBackend) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name not in _PROTOCOL_MEMBERS:
            raise AttributeError(f"{name!r} is not part of the ClientBackend protocol")
        return getattr(self._inner, name)


@pytest.fixture
async def seam_client(db_path: Path) -> AsyncIterator[Client]:
    inner = EmbeddedBackend(await asyncio.to_thread(SqliteStore, str(db_path)))
    client = Client(backend=cast(ClientBackend, OnlyTheProtocol(inner)))
    try:
        yield client
    finally:
        await client.close()


async def test_a_client_does_everything_through_the_protocol(
    client: Client, seam_client: Client
) -> None:
    with pytest.raises(ConfigurationError, match="no embedded store"):
        _ = seam_client.store
    async with _inbox_worker(client):  # the worker has its own embedded client
        handle = await seam_client.start_workflow(Inbox.run, "hello", id="p1", task_queue=QUEUE)
        await handle.signal(Inbox.add, "a")
        assert await handle.query(Inbox.count) == 1
        assert await handle.execute_update(Inbox.add_and_count, "b") == 2
        again = await seam_client.signal_with_start_workflow(
            Inbox.run, "ignored", id="p1", task_queue=QUEUE, signal=Inbox.add, signal_args=["c"]
        )
        assert again.run_id == handle.run_id
        update = await seam_client.start_update_with_start_workflow(
            Inbox.run,
            "other",
            id="p2",
            task_queue=QUEUE,
            update=Inbox.add_and_count,
            update_args=["x"],
        )
        assert await update.result() == 1
        later = seam_client.get_workflow_handle("p2").get_update_handle(update.id)
        assert later.run_id is None  # looked up when waited on
        assert await later.result() == 1
        await handle.signal(Inbox.finish)
        assert await handle.result(timeout=30) == ["hello", "a", "b", "c"]
        await seam_client.get_workflow_handle("p2").terminate("enough")
        described = await handle.describe()
        assert described.status == "completed"
        assert {r.id for r in await seam_client.list_workflows()} == {"p1", "p2"}
        history = await handle.fetch_history()
        assert history.events[0].TYPE == "WorkflowExecutionStarted"
        assert await seam_client.get_workflow_handle("p2").query(Inbox.count) == 1
    with pytest.raises(QueryError, match="no worker answered"):
        await seam_client.get_workflow_handle("p2").query(Inbox.count, timeout=0.2)
    with pytest.raises(WorkflowNotFoundError):
        await seam_client.get_workflow_handle("nope").describe()


# -- runs: filters, pages, counts, trees ------------------------------------------------------


async def _start_many(client: Client, ids: list[str], workflow_type: str = "Inbox") -> None:
    for workflow_id in ids:
        await client.start_workflow(workflow_type, "x", id=workflow_id, task_queue=QUEUE)


async def test_list_runs_pages_newest_first_without_gaps_or_repeats(client: Client) -> None:
    backend = client.backend
    await _start_many(client, [f"page-{i}" for i in range(7)])
    await _start_many(client, ["other-1"], workflow_type="Other")
    seen: list[str] = []
    token: str | None = None
    first_page = True
    while True:
        page = await backend.list_runs(RunFilter(), page_size=3, page_token=token)
        seen += [r.workflow_id for r in page.runs]
        if first_page:
            # Runs started while paging come before the first page; later pages stay put.
            await _start_many(client, ["late-1", "late-2"])
            first_page = False
        token = page.next_page_token
        if token is None:
            break
    assert seen == ["other-1", *(f"page-{i}" for i in reversed(range(7)))]
    newest = await backend.list_runs(RunFilter(), page_size=2)
    assert [r.workflow_id for r in newest.runs] == ["late-2", "late-1"]
    exact = await backend.list_runs(RunFilter(workflow_id_prefix="page-"), page_size=7)
    assert len(exact.runs) == 7
    assert exact.next_page_token is None  # exactly a page: no empty page after it
    with pytest.raises(ConfigurationError, match="bad page token"):
        await backend.list_runs(RunFilter(), page_token="not-a-token")
    with pytest.raises(ConfigurationError, match="page_size"):
        await backend.list_runs(RunFilter(), page_size=0)


async def test_list_and_count_filters_combine(client: Client) -> None:
    backend = client.backend
    await _start_many(client, ["a-1", "a-2", "b-1"])
    await _start_many(client, ["a-3"], workflow_type="Other")
    await client.get_workflow_handle("a-2").terminate("stop")

    async def ids(**kw: Any) -> list[str]:
        return [e.id for e in await client.list_workflows(**kw)]

    assert await ids(workflow_id_prefix="a-") == ["a-3", "a-2", "a-1"]
    assert await ids(workflow_id_prefix="a-", status="running") == ["a-3", "a-1"]
    assert await ids(workflow_id_prefix="a-", workflow_type="Inbox", status="running") == ["a-1"]
    assert await ids(status="terminated") == ["a-2"]
    assert await backend.count_runs(RunFilter()) == 4
    assert await backend.count_runs(RunFilter(status="running", workflow_type="Inbox")) == 2
    assert await ids(task_failing=True) == []
    assert await ids(waiting_for_approval=True) == []


async def test_task_failing_filter_finds_runs_stuck_on_a_bug(client: Client) -> None:
    async with _inbox_worker(client):
        broken = await client.start_workflow(Broken.run, id="broken", task_queue=QUEUE)
        await client.start_workflow(Inbox.run, "fine", id="fine", task_queue=QUEUE)
        await wait_for_task_failure(broken)
    failing = await client.list_workflows(task_failing=True)
    assert [e.id for e in failing] == ["broken"]
    assert failing[0].task_failure is not None and "a bug" in failing[0].task_failure
    assert await client.backend.count_runs(RunFilter(task_failing=True)) == 1


async def test_runs_of_a_workflow_and_their_usage_entries(client: Client) -> None:
    backend = client.backend
    first = await client.start_workflow(Inbox.run, "one", id="again", task_queue=QUEUE)
    await first.terminate("restart")
    second = await client.start_workflow(Inbox.run, "two", id="again", task_queue=QUEUE)
    runs = await backend.runs_of_workflow("again")
    assert [r.run_id for r in runs] == [first.run_id, second.run_id]
    assert await backend.runs_of_workflow("none") == []
    assert await backend.child_runs("again", second.run_id or "") == []
    refs = [RunRef(r.workflow_id, r.run_id) for r in runs]
    assert await backend.usage_entries(refs) == []


async def test_history_from_an_event_on(client: Client) -> None:
    backend = client.backend
    handle = await client.start_workflow(Inbox.run, "h", id="hist", task_queue=QUEUE)
    run_id = handle.run_id or ""
    await handle.signal(Inbox.add, "one")
    whole = await backend.read_history("hist", run_id)
    tail = await backend.read_history("hist", run_id, after_event_id=whole[0].event_id)
    assert [e.event_id for e in tail] == [e.event_id for e in whole[1:]]
    assert await backend.read_history("hist", run_id, after_event_id=whole[-1].event_id) == []
    with pytest.raises(WorkflowNotFoundError):
        await backend.read_history("hist", "no-such-run")


async def test_starting_with_an_id_conflict_policy(client: Client) -> None:
    backend = client.backend
    request = StartRequest(workflow_id="dup", workflow_type="Inbox", task_queue=QUEUE)
    first = await backend.start_workflow(request)
    same = await backend.start_workflow(
        StartRequest(
            workflow_id="dup",
            workflow_type="Inbox",
            task_queue=QUEUE,
            id_conflict_policy="use_existing",
        )
    )
    assert (same.run_id, same.started) == (first.run_id, False)


# -- change watches ---------------------------------------------------------------------------


async def test_watches_wake_on_changes_and_time_out_otherwise(client: Client) -> None:
    backend = client.backend
    handle = await client.start_workflow(Inbox.run, "w", id="watched", task_queue=QUEUE)
    run_watch = backend.watch_run("watched", handle.run_id or "")
    all_runs = backend.watch_runs()
    try:
        assert not await run_watch.wait(0.05)  # nothing happened
        await handle.signal(Inbox.add, "ping")  # after the timeout: still noticed
        assert await run_watch.wait(5)
        assert await all_runs.wait(5)
        assert not await run_watch.wait(0.05)  # the same change is not reported twice
        await client.start_workflow(Inbox.run, "x", id="another", task_queue=QUEUE)
        assert await all_runs.wait(5)
        assert not await run_watch.wait(0.05)  # another run's change is not this run's
    finally:
        run_watch.close()
        all_runs.close()
    with pytest.raises(ConfigurationError, match="closed"):
        await run_watch.wait(0.01)


async def test_a_worker_process_wakes_a_watch_in_another(client: Client, db_path: Path) -> None:
    """Watches hear commits made by another process (the cross-process wake-ups)."""
    handle = await client.start_workflow(Inbox.run, "w", id="remote", task_queue=QUEUE)
    watch = client.backend.watch_run("remote", handle.run_id or "")
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "duragent",
            "--db",
            str(db_path),
            "signal",
            "remote",
            "add",
            '"from afar"',
            stdout=asyncio.subprocess.DEVNULL,
        )
        assert await proc.wait() == 0
        assert await watch.wait(10)
    finally:
        watch.close()
    events = await client.backend.read_history("remote", handle.run_id or "")
    assert events[-1].TYPE == "WorkflowExecutionSignaled"
