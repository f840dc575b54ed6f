"""Messages benchmark: signals, queries, updates, and what waiting workflows cost.

Usage::

    python benchmarks/messages_bench.py            # full run (about 2 minutes)
    python benchmarks/messages_bench.py --quick    # smoke run (fewer repetitions, 2,000 waiting)

Measures, each on a fresh SQLite file in a temporary directory, with an in-process worker:

1. signal round trip: ``handle.signal()`` -> the workflow's handler runs -> a query sees the
   new state (polling the query), against a bare query round trip as the baseline;
2. update latency: an ``execute_update`` round trip (validator, handler, result), against the
   signal round trip;
3. memory of waiting workflows: RSS growth of a fresh worker process while 10,000 workflows
   start and wait on a signal with ``max_cached_workflows=100``, against the same with a
   cache big enough to keep every instance; plus how long starting them took. RSS also
   grows by a fixed step (SQLite's page cache filling up, the WAL index, allocator arenas)
   that does not depend on the number of workflows, so the growth over the second half
   alone is shown too: that is the cost of one more waiting workflow;
4. signal to an evicted workflow with a ~1,000-event history (the worker replays it): from
   ``signal()`` to the workflow's reaction (it returns) seen by ``result()``, and as
   recorded in history, against the same workflow still in the cache.

Every figure is repeated and reported as median (min..max): the machine is shared and
noisy. Targets are ratios to a baseline measured in the same run (a raw SQLite commit
loop on this disk, Temporal): ``--check`` exits 1 when one is missed, ``--markdown``
prints the README's table. The last line is a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from _report import (
    Figure,
    Target,
    check_figures,
    figures_table,
    log,
    markdown_table,
    num,
    text_table,
)
from engine_bench import _check, raw_commits

from duragent import Client, Worker, activity, workflow
from duragent._engine import events as ev

QUEUE = "msg"
HERE = Path(__file__).resolve()
LONG_HISTORY_ACTIVITIES = 333
"""Three events per activity (scheduled, completed, workflow task): ~1,000 events."""
MEMORY_WARM_UP = 200


# -- workflows -------------------------------------------------------------------------------


@activity.defn
async def noop() -> None:
    """Does nothing: measures the engine, not the activity."""


@workflow.defn
class Counter:
    """Counts ``bump`` signals; ``value`` reads the count; ``add`` is the update."""

    def __init__(self) -> None:
        self.count = 0
        self.done = False

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.done)
        return self.count

    @workflow.signal
    def bump(self) -> None:
        self.count += 1

    @workflow.signal
    def stop(self) -> None:
        self.done = True

    @workflow.query
    def value(self) -> int:
        return self.count

    @workflow.update
    def add(self, n: int) -> int:
        self.count += n
        return self.count

    @add.validator
    def validate_add(self, n: int) -> None:
        if n <= 0:
            raise ValueError("n must be positive")


@workflow.defn
class Waiter:
    """Waits for one ``release`` signal."""

    def __init__(self) -> None:
        self.released = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.released)

    @workflow.signal
    def release(self) -> None:
        self.released = True


@workflow.defn
class LongHistory:
    """Runs ``n`` no-op activities (a long history), then waits for ``release``."""

    def __init__(self) -> None:
        self.released = False

    @workflow.run
    async def run(self, n: int) -> int:
        for _ in range(n):
            await workflow.execute_activity(noop, start_to_close_timeout=timedelta(seconds=30))
        await workflow.wait_condition(lambda: self.released)
        return n

    @workflow.signal
    def release(self) -> None:
        self.released = True


WORKFLOWS = [Counter, Waiter, LongHistory]


# -- plumbing --------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _fresh(prefix: str, **worker_options: Any) -> AsyncIterator[tuple[Client, Worker]]:
    with tempfile.TemporaryDirectory(prefix=f"duragent-bench-{prefix}-") as tmp:
        client = await Client.connect(str(Path(tmp) / "bench.db"))
        try:
            worker = Worker(
                client, task_queue=QUEUE, workflows=WORKFLOWS, activities=[noop], **worker_options
            )
            async with worker:
                yield client, worker
        finally:
            await client.close()


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def _settle(client: Client, timeout: float = 600.0) -> None:
    """Until no workflow task is claimed, claimable or due."""
    deadline = time.monotonic() + timeout
    while not client.store.is_idle(client.clock.now_ms()):
        if time.monotonic() > deadline:
            raise RuntimeError("workflows did not settle")
        await asyncio.sleep(0.01)


# -- 1 and 2: signal round trip, query, update -----------------------------------------------


async def _read_until(handle: Any, expected: int) -> int:
    """Query ``value`` until it reaches ``expected``; returns how many queries it took."""
    queries = 0
    while True:
        queries += 1
        if await handle.query(Counter.value) >= expected:
            return queries


async def round_trips(repeats: int, count: int) -> dict[str, list[float]]:
    """Per repeat, the median ms of ``count`` (a) bare queries, (b) signal -> query sees
    it, (c) execute_update; plus the mean number of queries per signal round trip."""
    out: dict[str, list[float]] = {"query": [], "signal": [], "update": [], "polls": []}
    for r in range(repeats):
        async with _fresh("rt") as (client, _):
            handle = await client.start_workflow(Counter.run, id=f"counter-{r}", task_queue=QUEUE)
            expected = 0
            for _ in range(5):  # warm: caches, statements, the instance in the worker
                await handle.signal(Counter.bump)
                expected += 1
                await _read_until(handle, expected)
                expected = await handle.execute_update(Counter.add, 1)
            query: list[float] = []
            for _ in range(count):
                t0 = time.perf_counter()
                value = await handle.query(Counter.value)
                query.append(time.perf_counter() - t0)
                _check(value == expected, f"query returned {value}, not {expected}")
            signal: list[float] = []
            polls: list[int] = []
            for _ in range(count):
                t0 = time.perf_counter()
                await handle.signal(Counter.bump)
                expected += 1
                polls.append(await _read_until(handle, expected))
                signal.append(time.perf_counter() - t0)
            update: list[float] = []
            for _ in range(count):
                t0 = time.perf_counter()
                value = await handle.execute_update(Counter.add, 1)
                update.append(time.perf_counter() - t0)
                expected += 1
                _check(value == expected, f"update returned {value}, not {expected}")
            await handle.signal(Counter.stop)
            _check(await handle.result() == expected, "counter ended with a wrong count")
        out["query"].append(statistics.median(query) * 1000)
        out["signal"].append(statistics.median(signal) * 1000)
        out["update"].append(statistics.median(update) * 1000)
        out["polls"].append(statistics.mean(polls))
    return out


# -- 3: memory of waiting workflows ----------------------------------------------------------


async def memory_child(count: int, cache: int) -> dict[str, float]:
    """In a fresh process: RSS growth while ``count`` workflows start and wait."""
    async with _fresh("mem", max_cached_workflows=cache) as (client, worker):
        for i in range(MEMORY_WARM_UP):
            await client.start_workflow(Waiter.run, id=f"warm-{i}", task_queue=QUEUE)
        await _settle(client)
        gc.collect()
        rss_before = _rss_bytes()
        half = count // 2
        t0 = time.perf_counter()
        for i in range(half):
            await client.start_workflow(Waiter.run, id=f"w-{i}", task_queue=QUEUE)
        calls = time.perf_counter() - t0
        await _settle(client)
        t_pause = time.perf_counter()
        gc.collect()
        rss_half = _rss_bytes()  # halfway: is the growth still going on, or a fixed step?
        paused = time.perf_counter() - t_pause
        t1 = time.perf_counter()
        for i in range(half, count):
            await client.start_workflow(Waiter.run, id=f"w-{i}", task_queue=QUEUE)
        calls += time.perf_counter() - t1
        await _settle(client)
        waiting_s = time.perf_counter() - t0 - paused
        gc.collect()
        rss_after = _rss_bytes()
        _check(
            client.store.count_runs("running") == MEMORY_WARM_UP + count,
            "not every workflow is waiting",
        )
        _check(len(worker.cache) == min(cache, MEMORY_WARM_UP + count), "cache size is off")
        return {
            "rss_before_mb": rss_before / 2**20,
            "growth_mb": (rss_after - rss_before) / 2**20,
            "second_half_b_per_wf": (rss_after - rss_half) / (count - half),
            "start_s": calls,
            "waiting_s": waiting_s,
        }


def _memory_in_subprocess(count: int, cache: int) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, str(HERE), "--memory-child", str(count), str(cache)],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"memory child failed:\n{proc.stderr}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


async def memory(repeats: int, count: int, cache: int) -> list[dict[str, float]]:
    """One fresh worker process per repeat (RSS is a per-process figure)."""
    return [await asyncio.to_thread(_memory_in_subprocess, count, cache) for _ in range(repeats)]


# -- 4: signal to an evicted workflow --------------------------------------------------------


async def _long_history(client: Client, workflow_id: str) -> Any:
    handle = await client.start_workflow(
        LongHistory.run, LONG_HISTORY_ACTIVITIES, id=workflow_id, task_queue=QUEUE
    )

    def waiting() -> bool:
        events = client.store.read_history(handle.run_id or "")
        done = sum(1 for e in events if isinstance(e, ev.ActivityTaskCompleted))
        return done == LONG_HISTORY_ACTIVITIES and isinstance(events[-1], ev.WorkflowTaskCompleted)

    deadline = time.monotonic() + 120
    while not waiting():
        if time.monotonic() > deadline:
            raise RuntimeError("the long workflow did not reach its wait")
        await asyncio.sleep(0.01)
    return handle


async def _deliver(client: Client, handle: Any) -> tuple[float, float]:
    """ms from signal() to result(), and from the signal event to the close event."""
    t0 = time.perf_counter()
    await handle.signal(LongHistory.release)
    result = await handle.result()
    seen = (time.perf_counter() - t0) * 1000
    _check(result == LONG_HISTORY_ACTIVITIES, f"long workflow returned {result!r}")
    events = client.store.read_history(handle.run_id)
    signaled = next(e for e in events if isinstance(e, ev.WorkflowExecutionSignaled))
    return seen, float(events[-1].time - signaled.time)


async def evicted_signal(repeats: int) -> dict[str, Any]:
    out: dict[str, Any] = {"evicted": [], "evicted_recorded": [], "cached": [], "events": 0}
    async with _fresh("evict") as (client, worker):
        for r in range(repeats):
            evicted = await _long_history(client, f"evicted-{r}")
            cached = await _long_history(client, f"cached-{r}")
            out["events"] = len(client.store.read_history(evicted.run_id))
            worker.cache.evict(evicted.run_id)
            _check(evicted.run_id not in worker.cache, "the workflow is still cached")
            _check(cached.run_id in worker.cache, "the cached workflow was evicted")
            replays = worker._workflow_tasks.replays  # pyright: ignore[reportPrivateUsage]
            seen, recorded = await _deliver(client, evicted)
            _check(
                worker._workflow_tasks.replays == replays + 1,  # pyright: ignore[reportPrivateUsage]
                "the evicted workflow was not replayed",
            )
            out["evicted"].append(seen)
            out["evicted_recorded"].append(recorded)
            seen, _ = await _deliver(client, cached)
            out["cached"].append(seen)
    return out


# -- main ------------------------------------------------------------------------------------


async def _timed(label: str, fn: Callable[[], Awaitable[Any]]) -> Any:
    t0 = time.perf_counter()
    log(f"{label} ...")
    result = await fn()
    log(f"{label} done in {time.perf_counter() - t0:.1f}s")
    return result


QUERY_VS_COMMIT = 20.0
"""Target: a query round trip (client -> worker -> answer), in raw SQLite commits."""
SIGNAL_VS_QUERY = 4.0
"""Target: signal -> handler ran -> a query sees it, in query round trips."""
UPDATE_VS_QUERY = 3.0
"""Target: an ``execute_update`` round trip, in query round trips."""
EVICTED_MEMORY_SHARE = 0.05
"""Target: memory per waiting workflow with a small cache, as a share of the same with
every workflow cached."""
EVICTED_VS_CACHED = 40.0
"""Target: signal -> result of an evicted workflow (replayed from its ~1,000-event
history), in the same for a cached one."""


async def _commits(repeats: int) -> list[float]:
    return raw_commits(repeats)


def _ratio(ours: list[float], baseline: list[float]) -> str:
    return f"{statistics.median(ours) / statistics.median(baseline):.1f}x"


async def main(args: argparse.Namespace) -> int:
    t_start = time.perf_counter()
    load_before = os.getloadavg()[0]
    quick: bool = args.quick
    repeats: int = args.repeats or (3 if quick else 5)
    count = 20 if quick else 50
    waiting = 2_000 if quick else 10_000
    small_cache = 100
    mem_repeats = 1 if quick else 3

    commit = await _timed("raw SQLite commits (baseline)", lambda: _commits(repeats))
    rt = await _timed("signal / query / update round trips", lambda: round_trips(repeats, count))
    mem = await _timed(
        f"{waiting:,} waiting workflows, cache {small_cache}",
        lambda: memory(mem_repeats, waiting, small_cache),
    )
    mem_all = await _timed(
        f"{waiting:,} waiting workflows, all cached",
        lambda: memory(mem_repeats, waiting, waiting + MEMORY_WARM_UP),
    )
    evict = await _timed("signal to an evicted workflow", lambda: evicted_signal(repeats + 2))

    def col(rows: list[dict[str, float]], key: str, scale: float = 1.0) -> list[float]:
        return [row[key] * scale for row in rows]

    per_wf = [g * 2**20 / waiting for g in col(mem, "growth_mb")]
    per_wf_all = [g * 2**20 / waiting for g in col(mem_all, "growth_mb")]
    n_events = evict["events"]
    figures = [
        Figure("raw_commit_ms", "raw SQLite commit (baseline)", "ms", commit),
        Figure("query_ms", "query round trip (baseline)", "ms", rt["query"]),
        Figure("signal_rt_ms", "signal -> handler ran -> query sees it", "ms", rt["signal"]),
        Figure("update_ms", "execute_update round trip", "ms", rt["update"]),
        Figure(
            "waiting_rss_mb",
            f"RSS growth, {waiting:,} waiting, cache {small_cache}",
            "MB",
            col(mem, "growth_mb"),
        ),
        Figure("waiting_rss_b_per_wf", "  per waiting workflow", "B", per_wf),
        Figure(
            "waiting_rss_b_per_wf_second_half",
            f"  per waiting workflow, last {waiting - waiting // 2:,} only",
            "B",
            col(mem, "second_half_b_per_wf"),
        ),
        Figure(
            "waiting_start_s",
            f"  start {waiting:,} workflows (client calls)",
            "s",
            col(mem, "start_s"),
        ),
        Figure("waiting_all_s", "  start until all are waiting", "s", col(mem, "waiting_s")),
        Figure(
            "cached_rss_mb",
            f"RSS growth, {waiting:,} waiting, all cached (baseline)",
            "MB",
            col(mem_all, "growth_mb"),
        ),
        Figure("cached_rss_b_per_wf", "  per waiting workflow", "B", per_wf_all),
        Figure(
            "cached_rss_b_per_wf_second_half",
            f"  per waiting workflow, last {waiting - waiting // 2:,} only",
            "B",
            col(mem_all, "second_half_b_per_wf"),
        ),
        Figure(
            "evicted_signal_ms",
            f"signal -> result, evicted, {n_events}-event history",
            "ms",
            evict["evicted"],
        ),
        Figure(
            "evicted_signal_recorded_ms",
            "  signal event -> close event (in history)",
            "ms",
            evict["evicted_recorded"],
        ),
        Figure(
            "cached_signal_ms",
            f"signal -> result, cached, {n_events}-event history (baseline)",
            "ms",
            evict["cached"],
        ),
    ]

    load_after = os.getloadavg()[0]
    med = statistics.median
    checks = [
        Target("query round trip / raw commit", med(rt["query"]) / med(commit), QUERY_VS_COMMIT),
        Target(
            "signal round trip / query round trip",
            med(rt["signal"]) / med(rt["query"]),
            SIGNAL_VS_QUERY,
        ),
        Target(
            "update round trip / query round trip",
            med(rt["update"]) / med(rt["query"]),
            UPDATE_VS_QUERY,
        ),
        Target(
            f"RSS per waiting workflow: cache {small_cache} / all cached",
            med(per_wf) / med(per_wf_all),
            EVICTED_MEMORY_SHARE,
        ),
        Target(
            "signal -> result: evicted / cached workflow",
            med(evict["evicted"]) / med(evict["cached"]),
            EVICTED_VS_CACHED,
        ),
    ]
    if args.markdown:
        print(
            markdown_table(
                ["measurement", "median", "ratio", "target"],
                [
                    ["raw SQLite commit, WAL (the baseline)", f"{num(med(commit))} ms", "", ""],
                    [
                        "query round trip",
                        f"{num(med(rt['query']))} ms",
                        f"{checks[0].value:.1f}x a raw commit",
                        f"≤ {QUERY_VS_COMMIT:g}x",
                    ],
                    [
                        "signal → handler ran → query sees it",
                        f"{num(med(rt['signal']))} ms",
                        f"{checks[1].value:.1f}x a query",
                        f"≤ {SIGNAL_VS_QUERY:g}x",
                    ],
                    [
                        "`execute_update` round trip",
                        f"{num(med(rt['update']))} ms",
                        f"{checks[2].value:.1f}x a query",
                        f"≤ {UPDATE_VS_QUERY:g}x",
                    ],
                    [
                        f"RSS growth, {waiting:,} workflows waiting on a signal, cache "
                        f"{small_cache}",
                        f"{num(med(col(mem, 'growth_mb')))} MB ({num(med(per_wf))} B per workflow)",
                        f"{checks[3].value:.3f}x all cached",
                        f"≤ {EVICTED_MEMORY_SHARE:g}x",
                    ],
                    [
                        "the same, all cached (baseline)",
                        f"{num(med(col(mem_all, 'growth_mb')))} MB ({num(med(per_wf_all))} B "
                        "per workflow)",
                        "",
                        "",
                    ],
                    [
                        f"signal → result for an evicted workflow with a {n_events:,}-event "
                        "history",
                        f"{num(med(evict['evicted']))} ms (cached: {num(med(evict['cached']))} ms)",
                        f"{checks[4].value:.1f}x cached",
                        f"≤ {EVICTED_VS_CACHED:g}x",
                    ],
                ],
            )
        )
        return 0
    print()
    print(
        f"Duragent messages — {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        f"{repeats} repetitions (median, min..max; memory: {mem_repeats} fresh processes), "
        f"load average {load_before:.1f} before / {load_after:.1f} after"
    )
    print()
    print(figures_table(figures))
    print()
    rows = [
        ["signal round trip / query round trip", _ratio(rt["signal"], rt["query"])],
        ["update round trip / signal round trip", _ratio(rt["update"], rt["signal"])],
        [
            f"RSS growth: all cached / cache {small_cache}",
            _ratio(col(mem_all, "growth_mb"), col(mem, "growth_mb")),
        ],
        ["signal to evicted / to cached workflow", _ratio(evict["evicted"], evict["cached"])],
    ]
    print(text_table(["ratio", "median"], rows, right={1}))
    print()
    print(
        f"  a signal round trip took {num(statistics.median(rt['polls']))} queries (mean); "
        f"memory runs start after {MEMORY_WARM_UP} warm-up workflows, RSS of a fresh worker "
        f"process then {num(statistics.median(col(mem, 'rss_before_mb')))} MB"
    )

    print()
    failed = check_figures(checks)
    summary: dict[str, Any] = {f.key: round(f.median, 4) for f in figures}
    summary["targets"] = {c.label: round(c.value, 4) for c in checks}
    summary["waiting"] = waiting
    summary["history_events"] = n_events
    summary["repeats"] = repeats
    summary["load_avg"] = [round(load_before, 2), round(load_after, 2)]
    total = time.perf_counter() - t_start
    summary["total_s"] = round(total, 1)
    print()
    print(f"total time: {total:.1f}s")
    print(json.dumps(summary, ensure_ascii=False))
    return 1 if args.check and failed else 0


def _parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    parser.add_argument("--repeats", type=int, default=0, help="repetitions per measurement")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--markdown", action="store_true", help="print the README table")
    parser.add_argument(
        "--memory-child",
        nargs=2,
        type=int,
        metavar=("COUNT", "CACHE"),
        help=argparse.SUPPRESS,  # internal: one memory measurement in this process
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    options = _parse()
    if options.memory_child:
        n, cache_size = options.memory_child
        print(json.dumps(asyncio.run(memory_child(n, cache_size))))
        sys.exit(0)
    sys.exit(asyncio.run(main(options)))
