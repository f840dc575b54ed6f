"""The durable stream in the store (real SQLite): fenced publishing, idempotent rows,
attempt markers, and what readers see of a call whose first attempt failed, whenever they
read and wherever they resume."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path

from duragent import Client, RetryPolicy, Worker, activity, workflow
from duragent._stream.view import SHOWN_KINDS, EffectiveView
from duragent.store import _stream_rows as rows
from duragent.store._stream_rows import StreamRow
from duragent.store.base import StartRequest
from duragent.store.schema import SCHEMA_VERSION
from duragent.store.sqlite import SqliteStore
from duragent.streaming import Reset, StreamEvent, TextDelta

_release = asyncio.Event()


@activity.defn
async def hold() -> str:
    await _release.wait()
    return "done"


@workflow.defn
class Holding:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(
            hold,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=2),
        )


def _stream(db: Path) -> list[tuple[int, int, int, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT call, attempt, seq, kind FROM stream_events ORDER BY stream_offset"
        ).fetchall()


async def test_publishing_is_fenced_by_the_attempts_lease(client: Client, db_path: Path) -> None:
    store = client.store
    _release.clear()
    async with Worker(client, task_queue="q", workflows=[Holding], activities=[hold]) as worker:
        handle = await client.start_workflow(Holding.run, id="h", task_queue="q")
        runner = worker._activities  # pyright: ignore[reportPrivateUsage]
        while not runner.in_flight:
            await asyncio.sleep(0.01)
        task = next(iter(runner.in_flight.values())).task
        now = client.clock.now_ms()
        batch = [StreamRow(1, "text", "a"), StreamRow(2, "text", "b")]
        assert store.publish_stream(task, batch, now, start=True)
        assert store.publish_stream(task, batch, now)  # a retried write adds nothing
        assert _stream(db_path) == [(1, 1, 0, "start"), (1, 1, 1, "text"), (1, 1, 2, "text")]
        store.housekeeping(now + 60_000, "")  # the attempt's lease expired
        assert not store.publish_stream(task, [StreamRow(3, "text", "c")], now + 60_001)
        assert (1, 1, -1, "failed") in _stream(db_path)  # ... and subscribers learn it
        _release.set()  # the attempt returns late: its result is refused too
        while runner.in_flight:
            await asyncio.sleep(0.01)
        assert (await handle.describe()).status == "running"  # retried (at a later "now")
    assert (1, 1, 3, "text") not in _stream(db_path)


# -- a call whose first attempt failed, as every reader sees it ---------------------------


def _run(store: SqliteStore) -> str:
    return store.start_workflow(StartRequest("w", "W", "q"), 0).run_id


def _publish(store: SqliteStore, run_id: str, op: tuple[str, ...], now: int) -> None:
    """Apply one step of a call's life: (kind, attempt[, text])."""
    kind, attempt = op[0], int(op[1])
    with store._write(now) as tx:  # pyright: ignore[reportPrivateUsage]
        if kind == "start":
            rows.insert(tx, run_id, 1, attempt, [], start=True)
        elif kind == "text":
            seq = int(op[3])
            rows.insert(tx, run_id, 1, attempt, [StreamRow(seq, "text", op[2])], start=False)
        elif kind == "failed":
            rows.end_attempt(tx, run_id, 1, attempt, "interrupted")
        else:
            rows.commit(tx, run_id, 1, attempt, [])


LIFE = [
    ("start", "1"),
    ("text", "1", "Sun", "1"),
    ("text", "1", "ny in", "2"),
    ("failed", "1"),
    ("start", "2"),
    ("text", "2", "Sunny", "1"),
    ("text", "2", " in Paris", "2"),
    ("commit", "2"),
]


def _read(store: SqliteStore, run_id: str, view: EffectiveView, after: int) -> list[StreamEvent]:
    page = store.read_stream(run_id, after)
    return view.page(page, lambda row: None)


def _shown(events: list[StreamEvent]) -> str:
    text = ""
    for e in events:
        if isinstance(e, Reset):
            text = ""
        elif isinstance(e, TextDelta):
            text += e.text
    return text


def test_every_reader_sees_the_committed_attempt_once(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "s.db"))
    run_id = _run(store)
    live_view = EffectiveView()
    live: list[StreamEvent] = []
    for now, op in enumerate(LIFE, start=1):  # a subscriber reading after every write
        _publish(store, run_id, op, now)
        live += _read(store, run_id, live_view, live[-1].offset if live else 0)
    kinds = [type(e).__name__ for e in live]
    assert kinds == ["TextDelta"] * 2 + ["Reset"] + ["TextDelta"] * 2 + ["CallCommitted"]
    assert _shown(live) == "Sunny in Paris"
    committed = [e for e in live if isinstance(e, TextDelta) and e.attempt == 2]

    late = _read(store, run_id, EffectiveView(), 0)  # arrives after the commit
    assert late == [*committed, live[-1]]  # only the attempt that counted, no reset

    for i, event in enumerate(live):  # resumes after each event it was given
        shown = store.stream_shown(run_id, event.offset, SHOWN_KINDS)
        resumed = live[: i + 1] + _read(store, run_id, EffectiveView(shown), event.offset)
        assert _shown(resumed) == "Sunny in Paris", resumed
        assert [e for e in resumed if isinstance(e, TextDelta) and e.attempt == 2] == committed


def test_an_older_store_is_migrated_to_have_streams(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    source = Path(__file__).resolve().parents[1] / "fixtures" / "formats" / "store_v3.db"
    path.write_bytes(source.read_bytes())
    store = SqliteStore(str(path))
    with sqlite3.connect(path) as conn:
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        assert int(version[0]) == SCHEMA_VERSION
        assert [r[0] for r in conn.execute("SELECT DISTINCT stream FROM runs")] == [0]
    run_id = _run(store)
    for now, op in enumerate(LIFE, start=1):
        _publish(store, run_id, op, now)
    assert _shown(_read(store, run_id, EffectiveView(), 0)) == "Sunny in Paris"
    store.close()


def test_an_external_stream_store_fences_by_attempt_number(tmp_path: Path) -> None:
    """On Temporal the stream store has no lease to check: once a later attempt of a call
    started, an earlier one (a zombie) is refused; so is an attempt after its end."""
    store = SqliteStore(str(tmp_path / "streams.db"))
    text = StreamRow(1, "text", "Sun")
    assert store.publish_attempt("r", 1, 1, [text], 1, start=True)
    assert store.publish_attempt("r", 1, 2, [], 2, start=True)  # the retry began
    assert not store.publish_attempt("r", 1, 1, [StreamRow(2, "text", "ny")], 3)
    assert store.publish_attempt("r", 1, 2, [StreamRow(1, "text", "Rain")], 4, end="commit")
    assert not store.publish_attempt("r", 1, 2, [StreamRow(2, "text", "!")], 5)
    page = store.read_stream_rows("r", 0)
    assert page.state == rows.STREAMING and page.status == "running"
    events = EffectiveView().page(page, lambda row: None)
    assert _shown(events) == "Rain"
    assert [type(e).__name__ for e in events] == ["TextDelta", "CallCommitted"]
    assert store.read_stream_rows("nothing", 0).state == 0
    store.close()
