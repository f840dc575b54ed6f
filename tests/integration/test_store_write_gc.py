"""No garbage collection inside a write transaction, on a real SQLite file.

Every other process's writes wait while one holds SQLite's write lock. A full collection in
a busy worker takes 100-200 ms (the soak saw write locks held that long, all of it the
collector): collections that come due during a write transaction run right after it."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from duragent.errors import StoreError
from duragent.store.sqlite import SqliteStore


class _Cycle:
    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(str(tmp_path / "store.db"))
    store._conn.execute("CREATE TABLE notes (n INTEGER PRIMARY KEY)")  # pyright: ignore[reportPrivateUsage]
    yield store
    store.close()


@pytest.fixture
def started() -> Iterator[list[str]]:
    """One entry per collection started, under a threshold low enough that almost any
    allocation makes one due."""
    seen: list[str] = []

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            seen.append("collect")

    old = gc.get_threshold()
    gc.callbacks.append(callback)
    gc.set_threshold(1, 1, 1)
    try:
        yield seen
    finally:
        gc.set_threshold(*old)
        gc.callbacks.remove(callback)


def _garbage(count: int = 50) -> None:
    for _ in range(count):
        _Cycle()


def test_collections_due_during_a_write_run_after_it(
    store: SqliteStore, started: list[str]
) -> None:
    assert gc.isenabled()
    with store._write(1) as tx:  # pyright: ignore[reportPrivateUsage]
        started.clear()
        assert not gc.isenabled()
        tx.c.execute("INSERT INTO notes (n) VALUES (1)")
        _garbage()
        assert started == []  # due many times over, and put off
    assert gc.isenabled()
    _garbage(1)
    assert started  # the first allocation after the write collects


def test_a_batch_and_its_nested_writes_collect_after_the_commit(
    store: SqliteStore, started: list[str]
) -> None:
    with store.batch(1):
        started.clear()
        with store._write(1) as tx:  # pyright: ignore[reportPrivateUsage]
            tx.c.execute("INSERT INTO notes (n) VALUES (1)")
            _garbage()
        assert not gc.isenabled()  # a nested write does not turn it back on
        _garbage()
        assert started == []
    assert gc.isenabled()


def _twice(store: SqliteStore) -> None:
    with store._write(1) as tx:  # pyright: ignore[reportPrivateUsage]
        tx.c.execute("INSERT INTO notes (n) VALUES (1)")
        tx.c.execute("INSERT INTO notes (n) VALUES (1)")  # a constraint error


def test_a_failed_write_turns_the_collector_back_on(store: SqliteStore) -> None:
    with pytest.raises(StoreError):
        _twice(store)
    assert gc.isenabled()
    with pytest.raises(KeyError), store._write(1):  # pyright: ignore[reportPrivateUsage]
        raise KeyError("the block itself failed")
    assert gc.isenabled()


def test_a_collector_the_application_turned_off_stays_off(store: SqliteStore) -> None:
    gc.disable()
    try:
        with store._write(1) as tx:  # pyright: ignore[reportPrivateUsage]
            tx.c.execute("INSERT INTO notes (n) VALUES (1)")
        assert not gc.isenabled()
    finally:
        gc.enable()
