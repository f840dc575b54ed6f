"""An external stream store (where workers on Temporal publish token streams) lists the runs
it holds rows of, so they can expire: which runs are due, dropping their rows, asking again
later, and the migration that lists the runs of a stream store written before (real SQLite)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from duragent.store._stream_rows import StreamRow
from duragent.store.sqlite import SqliteStore

FORMATS = Path(__file__).resolve().parents[1] / "fixtures" / "formats"
TEXT = [StreamRow(1, "text", "Sun"), StreamRow(2, "text", "ny")]


def _listed(path: Path) -> list[tuple[str, str, str, int, int]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT run_id, namespace, workflow_id, last_time, checked_at FROM stream_runs "
            "ORDER BY run_id"
        ).fetchall()


def _rows_of(path: Path, run_id: str) -> int:
    with sqlite3.connect(path) as conn:
        return int(
            conn.execute(
                "SELECT count(*) FROM stream_events WHERE run_id = ?", (run_id,)
            ).fetchone()[0]
        )


def test_each_write_lists_the_run_with_its_last_write(tmp_path: Path) -> None:
    path = tmp_path / "streams.db"
    store = SqliteStore(str(path))
    try:
        ns, wf = "default", "wf-a"
        assert store.publish_attempt("a", 1, 1, TEXT, 100, start=True, namespace=ns, workflow_id=wf)
        assert store.publish_attempt("a", 1, 1, [], 250, end="commit", namespace=ns, workflow_id=wf)
        assert store.publish_attempt("b", 1, 1, TEXT, 120, start=True, namespace="other")
        assert _listed(path) == [("a", "default", "wf-a", 250, 0), ("b", "other", "", 120, 0)]
        # A refused write (a superseded attempt) lists nothing.
        assert not store.publish_attempt("a", 1, 1, TEXT, 900, namespace=ns, workflow_id=wf)
        assert _listed(path)[0][3] == 250
    finally:
        store.close()


def test_due_runs_are_those_written_before_the_cutoff_and_not_asked_about_lately(
    tmp_path: Path,
) -> None:
    path = tmp_path / "streams.db"
    store = SqliteStore(str(path))
    try:
        for run_id, at, namespace in (
            ("old", 100, "default"),
            ("older", 50, "default"),
            ("new", 900, "default"),
            ("theirs", 60, "other"),
        ):
            store.publish_attempt(run_id, 1, 1, TEXT, at, start=True, namespace=namespace)
        due = store.stream_runs_due("default", 500, 1_000, 10)
        assert [r.run_id for r in due] == ["older", "old"]  # oldest first; not "theirs"
        assert [r.run_id for r in store.stream_runs_due("default", 500, 1_000, 1)] == ["older"]

        store.stream_runs_checked(["older"], 700)  # found open at 700
        assert [r.run_id for r in store.stream_runs_due("default", 500, 700, 10)] == ["old"]
        assert [r.run_id for r in store.stream_runs_due("default", 500, 701, 10)] == [
            "older",
            "old",
        ]
        # A new write makes the run current again (and forgets the check).
        store.publish_attempt("older", 2, 1, TEXT, 950, start=True, namespace="default")
        assert [r.run_id for r in store.stream_runs_due("default", 500, 2_000, 10)] == ["old"]

        assert store.drop_stream_runs(["old"], 1_000) == 3  # the start marker and two deltas
        assert _rows_of(path, "old") == 0
        assert _rows_of(path, "older") == 6  # untouched
        assert [r[0] for r in _listed(path)] == ["new", "older", "theirs"]
        assert store.stream_runs_due("default", 500, 2_000, 10) == []
    finally:
        store.close()


def test_the_migration_lists_the_runs_an_older_stream_store_holds(tmp_path: Path) -> None:
    """A version-8 file used as a stream store: rows of runs it does not know (Temporal's)
    get listed, with no namespace and their newest row's time; its own runs do not."""
    path = tmp_path / "old.db"
    shutil.copy(FORMATS / "store_v8.db", path)
    with sqlite3.connect(path) as conn:
        own = {str(r[0]) for r in conn.execute("SELECT DISTINCT run_id FROM stream_events")}
        assert own  # the frozen file has an embedded streamed run
        conn.executemany(
            "INSERT INTO stream_events (run_id, call, attempt, seq, kind, data, time) "
            "VALUES (?, 1, 1, ?, 'text', 'x', ?)",
            [("temporal-run", 1, 10), ("temporal-run", 2, 30)],
        )
    store = SqliteStore(str(path))
    try:
        assert _listed(path) == [("temporal-run", "", "", 30, 0)]
        # Listed with no namespace: due for any namespace's worker (which removes its rows
        # only if Temporal lists the run as closed, see duragent.temporal._stream_expiry).
        assert [r.run_id for r in store.stream_runs_due("default", 100, 100, 10)] == [
            "temporal-run"
        ]
    finally:
        store.close()
