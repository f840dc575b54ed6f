"""Reclaiming payloads after runs are removed (real SQLite files, a real worker): what only
removed runs used goes, what a kept run reaches (directly, through a shared chunk tree, or
through a prefix of its conversation) stays; a writer whose caches knew a reclaimed payload
stores it again; a payload a writer comes to use while a collection runs is kept."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import sqlite3
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from duragent import Client, Worker, activity, workflow
from duragent.errors import StoreError
from duragent.serde import Payload
from duragent.store._payload_gc import STALE_AFTER_MS, _Collection, chunk_refs, event_refs
from duragent.store._tx import payloads_in
from duragent.store.base import StartRequest
from duragent.store.sqlite import SqliteStore

from ..fixtures.payload_app import payload_rows

QUEUE = "payload-gc"


@activity.defn
async def echo(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return items


@workflow.defn
class Carry:
    """Hands a list to an activity and back: the list is stored as a chunk tree twice."""

    @workflow.run
    async def run(self, items: list[dict[str, Any]]) -> int:
        out = await workflow.execute_activity(
            echo, items, start_to_close_timeout=timedelta(seconds=10)
        )
        return len(out)


def _items(tag: str, count: int) -> list[dict[str, Any]]:
    return [{"i": k, "text": f"{tag} item {k} " + "x" * 120} for k in range(count)]


def _read_everything(path: Path, run_id: str) -> int:
    """Every payload of the run's history, loaded (raises if one is missing)."""
    store = SqliteStore(str(path))
    try:
        loaded = 0
        for event in store.read_history(run_id):
            for payload in payloads_in([event]):
                loaded += len(payload.data)
        return loaded
    finally:
        store.close()


def _prune(path: Path, run_ids: list[str]) -> None:
    """Make these runs look closed an hour after the epoch, and prune runs closed before."""
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "UPDATE runs SET start_time = 1, close_time = 2 WHERE run_id = ?",
            [(r,) for r in run_ids],
        )
    store = SqliteStore(str(path))
    try:
        assert store.prune_closed_runs(1_000, _now()).runs == len(run_ids)
    finally:
        store.close()


def _now() -> int:
    return int(time.time() * 1000)


async def _run(client: Client, workflow_id: str, items: list[dict[str, Any]]) -> str:
    handle = await client.start_workflow(Carry.run, items, id=workflow_id, task_queue=QUEUE)
    assert await handle.result() == len(items)
    return (await handle.describe()).run_id


async def _runs(path: Path, runs: list[tuple[str, list[dict[str, Any]]]]) -> list[str]:
    """Run ``Carry`` once per (workflow id, items) on the file at ``path``: the run ids."""
    client = await Client.connect(str(path))
    try:
        async with Worker(client, task_queue=QUEUE, workflows=[Carry], activities=[echo]):
            return [await _run(client, workflow_id, items) for workflow_id, items in runs]
    finally:
        await client.close()


async def test_what_only_removed_runs_used_goes_and_what_kept_runs_reach_stays(
    tmp_path: Path,
) -> None:
    path = tmp_path / "gc.db"
    base = _items("shared", 24)
    gone, kept, alone = await _runs(
        path,
        [
            ("gone", base),  # its list is the kept run's prefix
            ("kept", [*base, *_items("more", 8)]),
            ("alone", _items("alone", 24)),
        ],
    )
    kept_bytes = _read_everything(path, kept)
    before = payload_rows(path)
    with sqlite3.connect(path) as conn:  # the kept run reaches chunks of the removed one
        (attrs,) = conn.execute(
            "SELECT attrs FROM events WHERE run_id = ? AND type = 'WorkflowExecutionStarted'",
            (kept,),
        ).fetchone()
        assert [t for t, _ in event_refs(attrs)] == [True]

    _prune(path, [gone, alone])
    store = SqliteStore(str(path))
    try:
        report = store.collect_payloads(_now())
        assert report.skipped == ""
        assert report.removed > 0 and report.removed_bytes > 24 * 120
        assert payload_rows(path) == before - report.removed == report.kept
        assert _read_everything(path, kept) == kept_bytes  # whole, and unchanged
        again = store.collect_payloads(_now())  # nothing left to reclaim
        assert (again.removed, again.kept) == (0, report.kept)
    finally:
        store.close()
    with sqlite3.connect(path) as conn:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        assert version == 8  # two collections (each moves the epoch twice), none running
        assert conn.execute("SELECT count(*) FROM payload_rescued").fetchone()[0] == 0

    # Nothing else refers to the removed run's own chunks: all of its tree went.
    _prune(path, [kept])
    store = SqliteStore(str(path))
    try:
        assert store.collect_payloads(_now()).kept == 0
        assert payload_rows(path) == 0
    finally:
        store.close()


async def test_a_writer_that_knew_a_reclaimed_payload_stores_it_again(tmp_path: Path) -> None:
    """The worker's connection knows the payload's chunks exist (it wrote them); after a
    collection by another connection removed them, its next write sees the new payload
    epoch, forgets what it knew, and stores them again."""
    path = tmp_path / "gc.db"
    items = _items("again", 24)
    client = await Client.connect(str(path))
    try:
        async with Worker(client, task_queue=QUEUE, workflows=[Carry], activities=[echo]):
            first = await _run(client, "first", items)
            _prune(path, [first])
            removed = SqliteStore(str(path))
            try:
                assert removed.collect_payloads(_now()).removed > 0
            finally:
                removed.close()
            assert payload_rows(path) == 0
            second = await _run(client, "second", items)  # the same payloads again
    finally:
        await client.close()
    assert _read_everything(path, second) > 24 * 120


async def test_a_payload_used_while_a_collection_runs_is_kept(tmp_path: Path) -> None:
    """Between the collection's mark (which finds the payload unused: its run was removed)
    and its sweep, a run starts with the same payload: it is listed as rescued, and the
    sweep keeps it and the chunks it reaches."""
    path = tmp_path / "gc.db"
    items = _items("rescued", 24)
    client = await Client.connect(str(path))
    loop = asyncio.get_running_loop()
    try:
        async with Worker(client, task_queue=QUEUE, workflows=[Carry], activities=[echo]):
            first = await _run(client, "first", items)
            _prune(path, [first])
            started: list[str] = []

            def meanwhile() -> None:
                future = asyncio.run_coroutine_threadsafe(_run(client, "during", items), loop)
                started.append(future.result(timeout=30))

            store = SqliteStore(str(path))
            try:
                report = await asyncio.to_thread(
                    store.collect_payloads, _now(), after_mark=meanwhile
                )
            finally:
                store.close()
            # The mark found nothing in use, and every candidate was rescued.
            assert report.removed == 0 and report.kept == payload_rows(path) > 0
    finally:
        await client.close()
    assert _read_everything(path, started[0]) > 24 * 120
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM payload_rescued").fetchone()[0] == 0


def test_references_are_found_in_events_and_chunk_trees() -> None:
    attrs = (
        '[1,{"t":"00112233445566778899aabbccddeeff"},"text",'
        '{"h":"ffeeddccbbaa99887766554433221100"}]'
    )
    assert list(event_refs(attrs)) == [
        (True, bytes.fromhex("00112233445566778899aabbccddeeff")),
        (False, bytes.fromhex("ffeeddccbbaa99887766554433221100")),
    ]
    key = bytes(range(16))
    ref = base64.urlsafe_b64encode(key).rstrip(b"=")
    tree = b'json-tree/1\n{"\\u0000s":[{"\\u0000r":"' + ref + b'"}],"\\u0000t":[]}'
    assert list(chunk_refs(tree)) == [key]


async def test_a_collection_that_stops_or_dies_half_way_leaves_nothing_lost(
    tmp_path: Path,
) -> None:
    path = tmp_path / "gc.db"
    gone, kept = await _runs(path, [("gone", _items("gone", 24)), ("kept", _items("kept", 24))])
    _prune(path, [gone])
    store = SqliteStore(str(path))
    try:
        # A worker stopping at once: its collection process ends at its first step.
        stop = asyncio.Event()
        stop.set()
        with contextlib.suppress(StoreError):  # terminated before it began: nothing started
            await store.collect_payloads_apart(_now(), stop=stop)
        with sqlite3.connect(path) as conn:
            assert int(conn.execute("PRAGMA user_version").fetchone()[0]) % 2 == 0

        # One whose process died half-way (the flag stays up): taken over after an hour,
        # not before.
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA user_version = 7")
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('payload_gc_started', ?)",
                (str(_now() - 60_000),),
            )
        busy = store.collect_payloads(_now())
        assert busy.skipped == "another payload collection is running" and busy.removed == 0
        with sqlite3.connect(path) as conn:
            conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'payload_gc_started'",
                (str(_now() - STALE_AFTER_MS - 1),),
            )
        report = store.collect_payloads(_now())
        assert report.skipped == "" and report.removed > 0
        with sqlite3.connect(path) as conn:
            assert int(conn.execute("PRAGMA user_version").fetchone()[0]) == 10
    finally:
        store.close()
    assert _read_everything(path, kept) > 24 * 120


def test_no_collection_while_a_worker_of_an_older_version_runs(tmp_path: Path) -> None:
    """A worker registered before the file was migrated never reads the payload epoch: its
    caches could refer to what a collection removes. Its row (payload_epochs 0) stops
    collections while it heartbeats."""
    path = tmp_path / "gc.db"
    store = SqliteStore(str(path))
    try:
        with sqlite3.connect(path) as conn:
            conn.execute(
                "INSERT INTO workers (worker_id, host, pid, pid_started, task_queue, "
                "workflow_types, started_at, heartbeat_at, payload_epochs) "
                "VALUES ('old', 'box', 4242, '0', 'q', '[]', ?, ?, 0)",
                (_now(), _now()),
            )
        refused = store.collect_payloads(_now())
        assert refused.skipped.startswith("workers of an older Duragent use this file")
        assert "pid 4242 on box" in refused.skipped
        with sqlite3.connect(path) as conn:
            assert int(conn.execute("PRAGMA user_version").fetchone()[0]) == 0
            conn.execute("UPDATE workers SET heartbeat_at = ?", (_now() - 11 * 60_000,))
        assert store.collect_payloads(_now()).skipped == ""  # it stopped heartbeating
    finally:
        store.close()


async def test_bytes_that_are_both_a_payload_and_a_chunk_keep_the_chunks_below(
    tmp_path: Path,
) -> None:
    """A run's raw payload whose bytes are exactly a block of another run's chunk tree: the
    mark reaches that block first as a plain payload, and must still follow it to the
    chunks it refers to."""
    path = tmp_path / "gc.db"
    client = await Client.connect(str(path))
    try:
        async with Worker(client, task_queue=QUEUE, workflows=[Carry], activities=[echo]):
            kept = await _run(client, "kept", _items("kept", 24))
            with sqlite3.connect(path) as conn:
                block = next(
                    bytes(d)
                    for (d,) in conn.execute("SELECT data FROM payloads")
                    if bytes(d).startswith(b'[{"\\u0000r"')
                )
            # Started on a queue nobody serves: its input is that block, byte for byte. The
            # mark reads events by run id: one such run must come before a run of the tree.
            # Run ids are random, so more of each are started until one pair is in that
            # order (more of the tree's runs too: the first may sort before any other).
            raws: list[str] = []
            for n in range(40):
                raw = await client.start_workflow(
                    "Carry", Payload(block), id=f"raw-{n}", task_queue="nobody"
                )
                raws.append((await raw.describe()).run_id)
                if min(raws) < kept:
                    break
                kept = max(kept, await _run(client, f"kept-{n}", _items("kept", 24)))
            else:
                raise AssertionError("no run id sorted before the kept run's")
    finally:
        await client.close()
    store = SqliteStore(str(path))
    try:
        assert store.collect_payloads(_now()).removed == 0  # nothing was pruned
    finally:
        store.close()
    assert _read_everything(path, kept) > 24 * 120


async def test_a_payload_read_while_a_collection_runs_is_not_written_by_reference(
    tmp_path: Path,
) -> None:
    """Read after the collection started, their runs removed before the mark: the sweep
    removes them. Written into a new run during the collection, or after it, neither may
    be by its reference alone (that would refer to nothing): their bytes go in again."""
    path = tmp_path / "gc.db"
    sources = await _runs(path, [(f"source-{n}", _items(f"s{n}", 24)) for n in (1, 2)])
    conn = sqlite3.connect(path, isolation_level=None)
    collection = _Collection(conn, _now(), threading.Event())
    assert collection._start() == ""
    store = SqliteStore(str(path))  # opened in the collection's epoch
    try:
        payloads = [store.read_history(r)[0].input[0] for r in sources]  # type: ignore[attr-defined]
        assert all(p.data for p in payloads)  # read (kept in memory) while it runs
        _prune(path, sources)
        assert collection._sweep(collection._mark())[0] > 0
        written: list[str] = []
        for name, payload in (("during", payloads[0]), ("after", payloads[1])):
            if name == "after":
                collection._finish()
            request = StartRequest(name, "Carry", QUEUE, input=(payload,))
            written.append(store.start_workflow(request, _now()).run_id)
            # Read before anything could write those bytes again:
            assert _read_everything(path, written[-1]) > 24 * 120, name
    finally:
        store.close()
        conn.close()
