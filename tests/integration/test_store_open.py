"""Opening a store while other processes open it and write to it (issue 17).

SQLite answers ``PRAGMA journal_mode = WAL`` on a new file, and a first schema creation
racing with another, with "busy" at once, whatever the busy timeout. The store retries
those until the busy timeout has really elapsed; a ``StoreLockedError`` says how long it
waited.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from duragent import Client, StoreLockedError
from duragent.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_many_processes_open_a_new_file_at_once_while_others_write(tmp_path: Path) -> None:
    rounds, openers = 12, 8
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.integration.store_procs",
            "open-race",
            str(tmp_path),
            str(rounds),
            str(openers),
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 0 and lines, proc.stderr
    failures = lines[:-1]
    assert not failures, "\n".join(f"{f['who']}: {f['outcome']}\n{f['detail']}" for f in failures)
    assert lines[-1] == {"rounds": rounds, "opens": rounds * openers}
    for r in range(rounds):
        store = SqliteStore(str(tmp_path / f"race{r}.db"))
        try:
            started = {run.workflow_id for run in store.list_runs(limit=100_000)}
        finally:
            store.close()
        assert {f"o{k}" for k in range(openers)} <= started


def _held_in_rollback_mode(path: Path) -> sqlite3.Connection:
    """A Duragent file in rollback-journal mode whose write lock another connection holds:
    switching it to WAL is then answered "busy" at once, whatever the busy timeout (the
    situation of a new file that several processes open together)."""
    SqliteStore(str(path)).close()
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    assert holder.execute("PRAGMA journal_mode = DELETE").fetchone()[0] == "delete"
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_open_gives_up_only_after_the_busy_timeout_and_says_how_long_it_waited(
    tmp_path: Path,
) -> None:
    path = tmp_path / "held.db"
    holder = _held_in_rollback_mode(path)
    try:
        started = time.monotonic()
        with pytest.raises(StoreLockedError) as info:
            SqliteStore(str(path), busy_timeout_ms=400)
        elapsed = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    message = str(info.value)
    waited = re.search(r"after waiting (\d+) ms \(busy timeout 400 ms\)", message)
    assert waited is not None, message
    assert int(waited.group(1)) >= 400 and elapsed >= 0.4, (message, elapsed)
    assert info.value.retryable


async def test_open_waits_out_a_lock_released_within_the_timeout(tmp_path: Path) -> None:
    path = tmp_path / "brief.db"
    holder = _held_in_rollback_mode(path)
    timer = threading.Timer(0.3, lambda: holder.execute("ROLLBACK"))
    timer.start()
    try:
        client = await Client.connect(f"sqlite:///{path}", busy_timeout_ms=10_000)
        await client.start_workflow("Anything", id="after-the-wait", task_queue="q")
        assert [r.id for r in await client.list_workflows()] == ["after-the-wait"]
        await client.close()
    finally:
        timer.join()
        holder.close()
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    check.close()
