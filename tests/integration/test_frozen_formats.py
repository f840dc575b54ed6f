"""Persisted formats keep loading: a store file of every schema version (migrated in place
when older) and payload envelopes of version 1 are read, replayed and continued by current
code."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from duragent import Client, SerializationError, StoreVersionError, Worker, WorkflowFailureError
from duragent._engine import events as ev
from duragent.schedule import ScheduleIntervalSpec, ScheduleOverlapPolicy, SchedulePolicy
from duragent.serde import DataConverter, Payload
from duragent.store._visibility import run_count_drift
from duragent.store.schema import SCHEMA_VERSION
from duragent.streaming import RunClosed, TextDelta
from duragent.testing import Replayer

from ..fixtures.formats.store_workflows import (
    DUE,
    TASK_QUEUE,
    TOLD,
    Failing,
    Recorded,
    Tagged,
    Waiting,
    summarize,
)

FORMATS = Path(__file__).resolve().parents[1] / "fixtures" / "formats"


STORES = sorted(FORMATS.glob("store_v*.db"))


def _schema_version(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0])


def test_there_is_a_frozen_store_of_the_current_schema_version() -> None:
    assert FORMATS / f"store_v{SCHEMA_VERSION}.db" in STORES, (
        "run: python -m tests.fixtures.formats.make_store"
    )
    assert [_schema_version(p) for p in STORES] == list(range(1, SCHEMA_VERSION + 1))


@pytest.fixture(params=STORES, ids=lambda p: p.stem)
async def old_store(request: pytest.FixtureRequest, tmp_path: Path) -> Client:
    path = tmp_path / "store.db"
    shutil.copy(request.param, path)
    client = await Client.connect(f"sqlite:///{path}")
    assert _schema_version(path) == SCHEMA_VERSION  # migrated on open
    return client


def _shape(path: str | Path) -> dict[str, Any]:
    """A store's schema, whatever order its columns were added in: each table's columns,
    and the SQL of its indexes and triggers."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        objects = conn.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
        return {
            "tables": {
                name: sorted(tuple(c[1:]) for c in conn.execute(f"PRAGMA table_info({name})"))
                for kind, name, _ in objects
                if kind == "table"
            },
            "indexes and triggers": {
                name: sql for kind, name, sql in objects if kind in ("index", "trigger")
            },
        }


async def test_migrated_store_has_the_schema_of_a_new_one(
    old_store: Client, tmp_path: Path
) -> None:
    new = await Client.connect(f"sqlite:///{tmp_path / 'new.db'}")
    await new.close()
    assert _shape(old_store.store.path) == _shape(tmp_path / "new.db")
    await old_store.close()


async def test_migrated_store_keeps_its_run_counts(old_store: Client) -> None:
    """Version 7's counts of runs by status, filled by the migration, agree with the runs,
    and stay right as runs start and close."""
    store = old_store.store
    with contextlib.closing(sqlite3.connect(store.path)) as conn:
        assert run_count_drift(conn) == {}
    running = store.count_runs("running")
    assert running >= 1 and store.count_runs() >= running + 2
    async with Worker(
        old_store, task_queue=TASK_QUEUE, workflows=[Waiting], activities=[summarize]
    ):
        waiting = old_store.get_workflow_handle("waiting")
        await waiting.signal(Waiting.finish)
        await waiting.result(timeout=10)
    assert store.count_runs("running") == running - 1
    with contextlib.closing(sqlite3.connect(store.path)) as conn:
        assert run_count_drift(conn) == {}
    await old_store.close()


async def test_store_is_read_replayed_and_continued(old_store: Client) -> None:
    client = old_store
    runs = {
        r.id: r
        for r in await client.list_workflows()
        # (a schedule's run and a cron workflow since v6)
        if r.id not in ("streamed", "tagged", "cron") and not r.id.startswith("nightly-")
    }
    assert {k: v.status for k, v in runs.items()} == {
        "recorded": "completed",
        "waiting": "running",
        "failing": "failed",
    }
    assert await client.get_workflow_handle("recorded").result() == (
        "40 items, 80 items, signalled"
    )
    with pytest.raises(WorkflowFailureError, match="recorded failure"):
        await client.get_workflow_handle("failing").result()
    # The large activity inputs were stored as shared chunk trees; they read back whole.
    history = await client.get_workflow_handle("recorded").fetch_history()
    inputs = [
        e.input[0].to_json_value()
        for e in history.events
        if isinstance(e, ev.ActivityTaskScheduled)
    ]
    assert [len(i) for i in inputs] == [40, 80]
    replayer = Replayer(workflows=[Recorded, Waiting, Failing])
    for run_id in ("recorded", "failing", "waiting"):
        await replayer.replay_workflow(await client.get_workflow_handle(run_id).fetch_history())
    # A current worker finishes what the old version left running.
    async with Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[Recorded, Waiting, Failing],
        activities=[summarize],
    ):
        waiting = client.get_workflow_handle("waiting")
        await waiting.signal(Waiting.finish)
        assert await waiting.result(timeout=10) == "finished by a newer Duragent"
    await client.close()


@pytest.mark.parametrize(
    "path", [p for p in STORES if _schema_version(p) >= 4], ids=lambda p: p.stem
)
async def test_frozen_stream_rows_are_read(path: Path, tmp_path: Path) -> None:
    """Stores since version 4 hold a run's durable stream; current code reads it."""
    copy = tmp_path / "store.db"
    shutil.copy(path, copy)
    client = await Client.connect(f"sqlite:///{copy}")
    try:
        events = [e async for e in client.get_workflow_handle("streamed").stream()]
    finally:
        await client.close()
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == TOLD
    assert isinstance(events[-1], RunClosed) and events[-1].result == TOLD


@pytest.mark.parametrize(
    "path", [p for p in STORES if _schema_version(p) >= 5], ids=lambda p: p.stem
)
async def test_frozen_search_attributes_and_memo_are_read(path: Path, tmp_path: Path) -> None:
    """Stores since version 5 hold runs' search attributes; current code shows them,
    filters on them and replays the upserts."""
    copy = tmp_path / "store.db"
    shutil.copy(path, copy)
    client = await Client.connect(f"sqlite:///{copy}")
    try:
        d = await client.get_workflow_handle("tagged").describe()
        assert d.search_attributes == {
            "CustomerId": "c-1",
            "Priority": 2,
            "Tags": ["billing", "eu"],
            "DueAt": DUE.isoformat(),
            "Score": 0.5,
        }
        assert d.memo == {"source": "email", "owner": "ana"}
        for filters in ({"Tags": "eu"}, {"DueAt": DUE}, {"CustomerId": "c-1", "Priority": 2}):
            assert [r.id for r in await client.list_workflows(search_attributes=filters)] == [
                "tagged"
            ]
        assert await client.list_workflows(search_attributes={"Priority": 7}) == []
        history = await client.get_workflow_handle("tagged").fetch_history()
        await Replayer(workflows=[Tagged]).replay_workflow(history)
    finally:
        await client.close()


@pytest.mark.parametrize(
    "path", [p for p in STORES if _schema_version(p) < 5], ids=lambda p: p.stem
)
async def test_runs_of_stores_before_search_attributes_have_none(
    path: Path, tmp_path: Path
) -> None:
    """Migrated to version 5, older runs have no search attributes (filters skip them) and
    new runs in the same file get theirs."""
    copy = tmp_path / "store.db"
    shutil.copy(path, copy)
    client = await Client.connect(f"sqlite:///{copy}")
    try:
        assert (await client.get_workflow_handle("recorded").describe()).search_attributes == {}
        assert await client.list_workflows(search_attributes={"CustomerId": "c-1"}) == []
        async with Worker(client, task_queue=TASK_QUEUE, workflows=[Tagged]):
            await client.execute_workflow(
                Tagged.run,
                id="tagged-now",
                task_queue=TASK_QUEUE,
                search_attributes={"CustomerId": "c-1"},
            )
        found = await client.list_workflows(search_attributes={"CustomerId": "c-1", "Tags": "eu"})
        assert [r.id for r in found] == ["tagged-now"]
    finally:
        await client.close()


@pytest.mark.parametrize(
    "path", [p for p in STORES if _schema_version(p) >= 6], ids=lambda p: p.stem
)
async def test_frozen_schedules_are_read(path: Path, tmp_path: Path) -> None:
    """Stores since version 6 hold schedules; current code reads and acts on them."""
    copy = tmp_path / "store.db"
    shutil.copy(path, copy)
    client = await Client.connect(f"sqlite:///{copy}")
    try:
        handle = client.get_schedule_handle("nightly")
        d = await handle.describe()
        assert d.schedule.action.workflow == "Waiting"
        assert d.schedule.spec.cron_expressions == ("0 2 * * mon-fri",)
        assert d.schedule.spec.intervals == (
            ScheduleIntervalSpec(every=timedelta(hours=6), offset=timedelta(minutes=5)),
        )
        assert d.schedule.policy == SchedulePolicy(
            overlap=ScheduleOverlapPolicy.BUFFER_ONE,
            catchup_window=timedelta(hours=1),
            pause_on_failure=True,
        )
        assert d.schedule.state.paused and d.schedule.state.note == "frozen"
        assert d.info.num_actions == 1
        started = d.info.recent_actions[0].action.workflow_id
        assert started.startswith("nightly-")
        assert [a.workflow_id for a in d.info.running_actions] == [started]
        await handle.unpause()
        assert (await handle.describe()).info.next_action_times
    finally:
        await client.close()


@pytest.mark.parametrize(
    "path", [p for p in STORES if _schema_version(p) >= 6], ids=lambda p: p.stem
)
async def test_frozen_cron_workflow_is_read(path: Path, tmp_path: Path) -> None:
    """Stores since version 6 hold cron workflows; current code reads and ends them."""
    copy = tmp_path / "store.db"
    shutil.copy(path, copy)
    client = await Client.connect(f"sqlite:///{copy}")
    try:
        handle = client.get_workflow_handle("cron")
        assert (await handle.describe()).status == "running"
        events = (await handle.fetch_history()).events
        assert [type(e) for e in events] == [ev.WorkflowExecutionStarted]
        await handle.terminate("frozen")
        with pytest.raises(WorkflowFailureError, match="frozen"):
            await handle.result()
    finally:
        await client.close()


async def test_a_store_too_old_to_migrate_is_refused_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    shutil.copy(FORMATS / "store_v1.db", path)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
        conn.commit()
    before = path.read_bytes()
    with pytest.raises(StoreVersionError, match="schema version 0, which this Duragent cannot"):
        await Client.connect(f"sqlite:///{path}")
    assert path.read_bytes() == before


def test_v1_payload_envelopes() -> None:
    samples = json.loads((FORMATS / "payloads_v1.json").read_text())
    converter = DataConverter()
    for sample in samples["samples"]:
        payload = Payload(sample["payload"].encode())
        assert converter.decode(payload) == sample["value"]
        assert converter.encode(sample["value"]).to_json_value() == sample["value"]
    for sample in samples["rejected"]:
        with pytest.raises(SerializationError, match=sample["error"]):
            converter.decode(Payload(sample["payload"].encode()))


def test_event_field_order_only_grows() -> None:
    """The store keeps event attributes by position (schema version 3), so the fields of
    every event type keep their order forever; new fields go at the end."""
    frozen: dict[str, list[str]] = json.loads((FORMATS / "event_fields.json").read_text())
    current = {
        name: [f.name for f in dataclasses.fields(cls) if f.name not in ("event_id", "time")]
        for name, cls in ev.EVENT_TYPES.items()
    }
    assert set(frozen) <= set(current), "an event type was removed or renamed"
    for name, fields in frozen.items():
        assert current[name][: len(fields)] == fields, (
            f"{name}: fields {current[name]} no longer start with the frozen {fields}"
        )
    assert set(current) <= set(frozen), (
        "a new event type: add its fields to tests/fixtures/formats/event_fields.json"
    )
