"""A waiting workflow costs no memory: with a bounded instance cache, thousands of runs
waiting on a signal leave the worker's memory flat, and all of them still complete.

The worker runs in this process (``Worker(max_cached_workflows=50)``), so its memory is
this process's memory. Both measurements are taken with the cache already full, so the 50
cached instances are *replaced* by newer ones while the workflows start, not added:

* **RSS** (``/proc/self/statm``) over 2,000 new waiting workflows, without tracemalloc
  (whose own tables would count). RSS also counts SQLite's page cache (2 MB by default,
  filling up as the database grows), the WAL index and the allocator's arenas, which are
  bounded but not by the number of workflows: measured growth is about 5 MB here and
  about 4 MB for 10,000 workflows. The bound, 16 MB (8 KB per workflow), is generous
  against that noise yet below what keeping every instance alive would cost (about
  12 KB each: 24 MB).
* **Python heap** (``tracemalloc``: every allocation still alive, whoever made it) over
  1,000 more: this is where a leak of per-run state would show (an instance, its
  history, a dict entry per run id). Measured growth is about 40 B per workflow, most of
  it the cached instances' turnover; the bound, 256 B per workflow, is six times that and
  still well under 1 KB.

About 7 s (tracemalloc slows starting runs about threefold); the budget is 30 s.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
import tracemalloc
from pathlib import Path

import pytest

from duragent import Client, Worker, workflow

pytestmark = pytest.mark.slow

QUEUE = "memory"
CACHED = 50
WARM_UP = 2 * CACHED
WAITING = 2000
TRACED = 1000
HEAP_BUDGET_PER_WORKFLOW = 256
RSS_BUDGET_BYTES = 16 * 1024 * 1024


@workflow.defn
class Waiter:
    """Waits for one ``release`` signal and returns its value."""

    def __init__(self) -> None:
        self.value: str | None = None

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.value is not None)
        assert self.value is not None
        return self.value

    @workflow.signal
    def release(self, value: str) -> None:
        self.value = value


def rss_bytes() -> int:
    """Resident set size of this process."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def settle(client: Client, timeout: float = 20.0) -> None:
    """Until no workflow task is claimed, claimable or due: every run is waiting."""
    deadline = time.monotonic() + timeout
    while not client.store.is_idle(client.clock.now_ms()):
        if time.monotonic() > deadline:
            raise AssertionError(f"workflows did not settle within {timeout}s")
        await asyncio.sleep(0.02)


async def start(client: Client, prefix: str, n: int) -> None:
    for i in range(n):
        await client.start_workflow(Waiter.run, id=f"{prefix}{i}", task_queue=QUEUE)


def top_growth(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot) -> str:
    """The lines whose live allocations grew most (for the failure message)."""
    return "\n".join(f"  {s}" for s in after.compare_to(before, "lineno")[:10])


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc (Linux)")
@pytest.mark.timeout(60)
async def test_waiting_workflows_use_no_memory_beyond_the_cache(tmp_path: Path) -> None:
    client = await Client.connect(f"sqlite:///{tmp_path / 'memory.db'}")
    try:
        async with Worker(
            client, task_queue=QUEUE, workflows=[Waiter], max_cached_workflows=CACHED
        ) as worker:
            await start(client, "warm-", WARM_UP)
            await settle(client)
            assert len(worker.cache) == CACHED

            # RSS, without tracemalloc (whose own tables would count).
            gc.collect()
            rss_before = rss_bytes()
            await start(client, "a-", WAITING)
            await settle(client)
            gc.collect()
            rss_growth = rss_bytes() - rss_before

            # The Python heap, on a second batch. First turn the cache over, so that the
            # cached instances were allocated while tracing (their replacement nets out).
            tracemalloc.start(1)
            await start(client, "turnover-", CACHED)
            await settle(client)
            gc.collect()
            heap_before = tracemalloc.get_traced_memory()[0]
            snapshot_before = tracemalloc.take_snapshot()
            await start(client, "b-", TRACED)
            await settle(client)
            gc.collect()
            heap_growth = tracemalloc.get_traced_memory()[0] - heap_before
            snapshot_after = tracemalloc.take_snapshot()
            tracemalloc.stop()

            assert len(worker.cache) == CACHED
            assert client.store.count_runs("running") == WARM_UP + CACHED + WAITING + TRACED
            assert rss_growth < RSS_BUDGET_BYTES, (
                f"RSS grew {rss_growth / 2**20:.1f} MiB for {WAITING} waiting workflows"
            )
            assert heap_growth < TRACED * HEAP_BUDGET_PER_WORKFLOW, (
                f"Python heap grew {heap_growth / TRACED:.0f} B per waiting workflow "
                f"({heap_growth / 1024:.0f} KiB in all); most growth:\n"
                + top_growth(snapshot_before, snapshot_after)
            )

            ids = [f"a-{i}" for i in range(WAITING)] + [f"b-{i}" for i in range(TRACED)]
            for workflow_id in ids:
                await client.get_workflow_handle(workflow_id).signal(Waiter.release, workflow_id)
            for workflow_id in ids:
                handle = client.get_workflow_handle(workflow_id)
                assert await handle.result(timeout=20) == workflow_id
            assert client.store.count_runs("running") == WARM_UP + CACHED
            assert worker.cache.evictions >= len(ids)
    finally:
        if tracemalloc.is_tracing():
            tracemalloc.stop()
        await client.close()
