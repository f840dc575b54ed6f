"""Checkpoints of the write-ahead log off the writer's thread (``store/_checkpointer.py``).

Real files, a real thread, a real process killed with SIGKILL: the log is copied back and
starts over while the writer goes on, a worker runs the checkpointer only while it runs,
and no commit is lost when the process dies in the middle of it all.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from duragent import Client, Worker, workflow
from duragent.store._checkpointer import (
    CHECKPOINT_EVERY,
    DEFAULT_AUTOCHECKPOINT_PAGES,
    FALLBACK_PAGES,
)
from duragent.store.base import StartRequest
from duragent.store.sqlite import SqliteStore


def _start(store: SqliteStore, n: int) -> None:
    store.start_workflow(StartRequest(f"w{n}", "Anything", "nobody"), now=1_000 + n)


def _autocheckpoint(store: SqliteStore) -> int:
    return int(store._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])  # pyright: ignore[reportPrivateUsage]


def _wait(condition: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_the_log_is_copied_back_off_the_writer_and_starts_over(tmp_path: Path) -> None:
    path = str(tmp_path / "store.db")
    store = SqliteStore(path)
    try:
        assert _autocheckpoint(store) == DEFAULT_AUTOCHECKPOINT_PAGES
        store.start_checkpointer()
        store.start_checkpointer()  # a second worker in this process shares it
        checkpointer = store._checkpointer  # pyright: ignore[reportPrivateUsage]
        assert checkpointer is not None
        # The writer's own checkpoint is only the fallback now.
        assert _autocheckpoint(store) == FALLBACK_PAGES
        count = CHECKPOINT_EVERY
        for n in range(count - 1):
            _start(store, n)
        with sqlite3.connect(path, isolation_level=None) as reader:
            # A reader's snapshot stops the thread's checkpoint short of the last commit,
            # as a commit made while it runs would.
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM runs").fetchone()
            _start(store, count - 1)  # wakes the thread
            _wait(lambda: checkpointer.checkpoints >= 1, "the background checkpoint")
            reader.execute("COMMIT")
        _start(store, count)  # copies the rest back (on the writer's thread: a few pages)
        _start(store, count + 1)  # starts the log over: it holds this commit alone
        with sqlite3.connect(path) as other:
            busy, log_frames, copied = other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert busy == 0
        assert 0 < log_frames < 64, f"the log did not start over ({log_frames} frames)"
        assert copied == log_frames

        store.stop_checkpointer()
        assert store._checkpointer is checkpointer  # pyright: ignore[reportPrivateUsage]
        store.stop_checkpointer()
        assert store._checkpointer is None  # pyright: ignore[reportPrivateUsage]
        assert _autocheckpoint(store) == DEFAULT_AUTOCHECKPOINT_PAGES
        store.stop_checkpointer()  # one too many: nothing to undo
        assert store.count_runs() == count + 2
    finally:
        store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == count + 2


def test_an_in_memory_store_has_no_checkpointer() -> None:
    store = SqliteStore(":memory:")
    try:
        store.start_checkpointer()
        assert store._checkpointer is None  # pyright: ignore[reportPrivateUsage]
        store.stop_checkpointer()
    finally:
        store.close()


@workflow.defn
class Nothing:
    @workflow.run
    async def run(self) -> str:
        return "done"


async def test_a_worker_checkpoints_while_it_runs(tmp_path: Path) -> None:
    client = await Client.connect(str(tmp_path / "store.db"))
    store = client.store
    try:
        async with Worker(client, task_queue="q", workflows=[Nothing]):
            assert store._checkpointer is not None  # pyright: ignore[reportPrivateUsage]
            assert await client.execute_workflow(Nothing.run, id="n", task_queue="q") == "done"
        # The client's connection outlives the worker: back to SQLite's own checkpoints.
        assert store._checkpointer is None  # pyright: ignore[reportPrivateUsage]
        assert _autocheckpoint(store) == DEFAULT_AUTOCHECKPOINT_PAGES
    finally:
        await client.close()


_WRITER = """
import sys
from duragent.store.sqlite import SqliteStore
from duragent.store.base import StartRequest
store = SqliteStore(sys.argv[1])
store.start_checkpointer()
n = 0
while True:
    store.start_workflow(StartRequest(f"w{n}", "Anything", "nobody"), now=1000 + n)
    print(n, store._checkpointer.checkpoints, flush=True)
    n += 1
"""


def test_sigkill_during_checkpoints_loses_no_commit(tmp_path: Path) -> None:
    """A process committing as fast as it can, its checkpointer copying the log back all
    along, is killed: every commit it had reported is there, and the file is sound."""
    path = str(tmp_path / "store.db")
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, path],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    acknowledged = checkpoints = -1
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            n, checkpoints = map(int, line.split())
            acknowledged = n
            if checkpoints >= 5:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert checkpoints >= 5, "the writer died on its own"
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ids = {row[0] for row in conn.execute("SELECT workflow_id FROM runs")}
    missing = [n for n in range(acknowledged + 1) if f"w{n}" not in ids]
    assert not missing, f"commits lost: {missing[:10]}"
