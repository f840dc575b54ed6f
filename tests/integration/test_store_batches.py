"""Writes joining an open batch (``SqliteStore.batch``), on a real SQLite file: each write
after the first is behind a savepoint, so one failing undoes its own part only (and the
error comes out mapped to a ``StoreError``), while a failure of the block itself keeps
nothing; a write outside any batch is its own transaction."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from duragent.errors import StoreError
from duragent.store.sqlite import SqliteStore


def _store(tmp_path: Path) -> SqliteStore:
    store = SqliteStore(str(tmp_path / "store.db"))
    store._conn.execute("CREATE TABLE notes (n INTEGER PRIMARY KEY)")  # pyright: ignore[reportPrivateUsage]
    return store


def _notes(store: SqliteStore) -> list[int]:
    rows = store._conn.execute("SELECT n FROM notes ORDER BY n").fetchall()  # pyright: ignore[reportPrivateUsage]
    return [int(n) for (n,) in rows]


def _note(store: SqliteStore, n: int, now: int = 1) -> None:
    with store._write(now) as tx:  # pyright: ignore[reportPrivateUsage]
        tx.c.execute("INSERT INTO notes (n) VALUES (?)", (n,))
        tx.topics.add("notes")


def _failing_note(store: SqliteStore) -> None:
    """A write that inserts 2, marks a digest as new, then breaks a constraint."""
    with store._write(2) as tx:  # pyright: ignore[reportPrivateUsage]
        assert tx.now == 2
        tx.c.execute("INSERT INTO notes (n) VALUES (2)")
        tx.new_digests.add(b"gone")
        tx.c.execute("INSERT INTO notes (n) VALUES (1)")


def test_a_failing_write_in_a_batch_undoes_only_its_own_part(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with store.batch(1):
        _note(store, 1)
        with pytest.raises(StoreError):  # mapped, not a bare sqlite3 error
            _failing_note(store)
        with store._write(3) as tx:  # pyright: ignore[reportPrivateUsage]
            assert tx.now == 3 and b"gone" not in tx.new_digests
            tx.c.execute("INSERT INTO notes (n) VALUES (3)")
        assert tx.now == 1  # the batch's time again
    assert _notes(store) == [1, 3]
    assert b"gone" not in store._known_digests  # pyright: ignore[reportPrivateUsage]
    store.close()


def _batch_failing_with(store: SqliteStore, err: BaseException) -> None:
    with store.batch(1):
        _note(store, 1)
        _note(store, 2)
        raise err


def test_a_batch_whose_block_fails_keeps_nothing(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with pytest.raises(StoreError):
        _batch_failing_with(store, sqlite3.OperationalError("disk I/O error"))
    with pytest.raises(KeyError):
        _batch_failing_with(store, KeyError("a bug in the caller"))
    assert _notes(store) == []
    # The connection is usable again, outside any batch.
    _note(store, 4)
    assert _notes(store) == [4]
    assert not store._conn.in_transaction  # pyright: ignore[reportPrivateUsage]
    store.close()


def test_a_write_blocked_by_another_connection_waits_and_errors_clearly(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "store.db"), busy_timeout_ms=50)
    store._conn.execute("CREATE TABLE notes (n INTEGER PRIMARY KEY)")  # pyright: ignore[reportPrivateUsage]
    other = sqlite3.connect(str(tmp_path / "store.db"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(StoreError):
        _note(store, 1)
    other.execute("ROLLBACK")
    other.close()
    _note(store, 2)  # the lock was given back: the next write works
    assert _notes(store) == [2]
    store.close()
