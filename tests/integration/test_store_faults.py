"""The store under faults beyond SIGKILL (issue 17): a full disk, I/O errors.

Real worker processes on a real file: the disk is filled for real (a small tmpfs mounted
by the test, then a filler file), I/O errors come from the kernel (a worker's file size
limit, ``RLIMIT_FSIZE``, which makes writes past it fail with ``EFBIG``). Every operation
fails with a clear error, nothing half-written is kept, and once the fault is gone the same
worker processes carry on, without losing or repeating a step.
"""

from __future__ import annotations

import asyncio
import errno
import resource
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from duragent import Client, StoreFileChangedError, StoreFullError
from tests.fixtures.kill_app import TASK_QUEUE, Pipeline

from .crash_harness import Harness

STEPS = 25


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB tmpfs of its own, so that filling it up fills nobody else's disk."""
    mount_point = tmp_path / "small-fs"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            f"this test mounts a small tmpfs, which needs root (CAP_SYS_ADMIN): {done.stderr}"
        )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(directory: Path) -> Path:
    """Write a file until the file system is full; returns it (delete it to free space)."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as f:
        for size in (1 << 20, 1 << 16, 1 << 12, 512):
            while True:
                try:
                    f.write(b"\0" * size)
                except OSError as err:
                    assert err.errno == errno.ENOSPC, err
                    break
    return filler


def _wait_for(what: str, check: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _check_consistent(db: Path) -> None:
    """Nothing half-written: the file is sound, every history is gapless and matches its
    run's counters, every task and timer belongs to a run."""
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        for run_id, last in conn.execute("SELECT run_id, last_event_id FROM runs"):
            ids = [
                r[0]
                for r in conn.execute(
                    "SELECT event_id FROM events WHERE run_id = ? ORDER BY event_id", (run_id,)
                )
            ]
            assert ids == list(range(1, last + 1)), (run_id, ids, last)
        orphans = conn.execute(
            "SELECT count(*) FROM tasks WHERE run_id NOT IN (SELECT run_id FROM runs)"
        ).fetchone()[0]
        assert orphans == 0
    finally:
        conn.close()


def _registered_workers(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT count(*) FROM workers").fetchone()[0])
    finally:
        conn.close()


def _assert_each_step_ran_once(h: Harness, runs: int) -> None:
    lines = h.lines()
    starts = Counter((p[5], p[1]) for p in lines if p[0] == "start")
    ends = {(p[5], p[1]) for p in lines if p[0] == "end"}
    assert len(starts) == runs * STEPS, len(starts)
    assert set(starts.values()) == {1}, {k: v for k, v in starts.items() if v != 1}
    assert len(ends) == runs * STEPS


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_a_full_disk_fails_every_write_clearly_and_work_resumes_when_space_is_freed(
    small_fs: Path, tmp_path: Path
) -> None:
    h = Harness(small_fs / "store.db", tmp_path / "executions.log")  # the log is elsewhere
    try:
        workers = [h.spawn(), h.spawn()]
        client = await Client.connect(f"sqlite:///{h.db}")
        handles = [
            await client.start_workflow(Pipeline.run, STEPS, id=f"p{i}", task_queue=TASK_QUEUE)
            for i in range(4)
        ]
        # Both workers started (registered), not only one of them busy: a worker still
        # starting when the disk fills cannot register, and exits.
        await asyncio.to_thread(
            _wait_for,
            "some steps, both workers up",
            lambda: len(h.lines()) >= 24 and _registered_workers(h.db) == 2,
        )
        filler = _fill(small_fs)

        # Every write fails, saying the disk is full; reads still answer.
        with pytest.raises(StoreFullError) as info:
            await client.start_workflow(Pipeline.run, 1, id="during", task_queue=TASK_QUEUE)
        message = str(info.value)
        assert "disk" in message and "full" in message and "Free space" in message
        assert info.value.retryable
        # (A tiny write such as a cancel request may still fit in pages SQLite already
        # holds, so only the start above is asserted to fail.)
        assert (await handles[0].describe()).status == "running"
        # The workers are stuck too: no step completes (one running may still end).
        await asyncio.sleep(1.0)
        before = len(h.lines())
        await asyncio.sleep(1.5)
        assert len(h.lines()) - before <= 4, "steps went on while the disk was full"

        filler.unlink()
        results = await asyncio.wait_for(asyncio.gather(*(x.result() for x in handles)), 120)
        assert results == [[f"S{k}" for k in range(STEPS)]] * 4
        assert all(w.poll() is None for w in workers), "a worker process stopped"
        assert [r.id for r in await client.list_workflows()] == ["p3", "p2", "p1", "p0"]
        await client.close()
    finally:
        h.stop_all()
    _assert_each_step_ran_once(h, 4)
    _check_consistent(h.db)


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_io_errors_are_named_and_the_same_worker_carries_on_once_they_stop(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path / "store.db", tmp_path / "executions.log")
    try:
        client = await Client.connect(f"sqlite:///{h.db}")
        handles = [
            await client.start_workflow(Pipeline.run, STEPS, id=f"p{i}", task_queue=TASK_QUEUE)
            for i in range(3)
        ]
        worker = h.spawn()
        await asyncio.to_thread(_wait_for, "some steps", lambda: len(h.lines()) >= 6)
        # From now on the kernel refuses this worker's writes past 64 KB of any file
        # (EFBIG): SQLite reports a disk I/O error when its log would grow past that.
        limit = 64 * 1024
        resource.prlimit(worker.pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
        stalled_at = -1
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until the worker is stuck on its writes
            count = len(h.lines())
            await asyncio.sleep(1.0)
            if len(h.lines()) == count:
                stalled_at = count
                break
        assert stalled_at >= 0, "the worker never hit its file size limit"
        resource.prlimit(
            worker.pid,
            resource.RLIMIT_FSIZE,
            (resource.RLIM_INFINITY, resource.RLIM_INFINITY),
        )
        results = await asyncio.wait_for(asyncio.gather(*(x.result() for x in handles)), 120)
        assert results == [[f"S{k}" for k in range(STEPS)]] * 3
        assert worker.poll() is None, "the worker process stopped"
        await client.close()
        worker.terminate()
        _, stderr = worker.communicate(timeout=30)
    finally:
        h.stop_all()
    assert b"disk I/O error" in stderr, stderr.decode()[-3000:]
    _assert_each_step_ran_once(h, 3)
    _check_consistent(h.db)


def _replace_with_a_copy(db: Path) -> None:
    """What a restore from backup does: another file takes the path (atomic rename)."""
    copy = db.with_name("restored.db")
    source, target = sqlite3.connect(db), sqlite3.connect(copy)
    source.backup(target)
    source.close()
    target.close()
    copy.replace(db)


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["deleted", "moved", "replaced"])
async def test_a_database_file_moved_deleted_or_replaced_is_detected_and_stops_the_worker(
    tmp_path: Path, fault: str
) -> None:
    h = Harness(tmp_path / "store.db", tmp_path / "executions.log")
    try:
        client = await Client.connect(f"sqlite:///{h.db}")
        handle = await client.start_workflow(Pipeline.run, 500, id="long", task_queue=TASK_QUEUE)
        worker = h.spawn()
        await asyncio.to_thread(_wait_for, "some steps", lambda: len(h.lines()) >= 6)
        if fault == "deleted":
            h.db.unlink()
        elif fault == "moved":
            h.db.rename(tmp_path / "elsewhere.db")
        else:
            _replace_with_a_copy(h.db)
        expected = "was replaced by another file" if fault == "replaced" else "deleted or moved"
        # The worker notices within a housekeeping round and exits with the reason.
        code = await asyncio.to_thread(worker.wait, 30)
        assert worker.stderr is not None
        stderr = worker.stderr.read().decode()
        assert code == 1, stderr[-2000:]
        assert expected in stderr and "nothing more is written" in stderr, stderr[-2000:]
        # This process's own connection refuses to go on too, writes and reads alike.
        with pytest.raises(StoreFileChangedError) as info:
            await handle.signal("anything")
        assert expected in str(info.value)
        with pytest.raises(StoreFileChangedError):
            await handle.describe()
        client.store.close()
    finally:
        h.stop_all()
