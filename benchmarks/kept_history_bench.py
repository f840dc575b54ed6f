"""Kept history: does the engine slow down as its database keeps more closed runs?

Usage::

    python benchmarks/kept_history_bench.py              # 0, 10,000 and 100,000 runs kept
    python benchmarks/kept_history_bench.py --kept 0 1000000
    python benchmarks/kept_history_bench.py --quick      # 0 and 10,000
    python benchmarks/kept_history_bench.py --check      # exit 1 when a target is missed
    python benchmarks/kept_history_bench.py --markdown   # the README's table

A database in service keeps every closed run with its history (until ``duragent prune``):
millions of rows in ``runs`` and ``events``. Nothing on the path of running a workflow may
cost in proportion to them. One database file is grown step by step to each ``--kept``
level and, at each, a worker runs the engine benchmark's two latency workloads:

* start -> result of a one-activity workflow (the worker finds the new run's first task by
  polling: the claim statement reads the run's row), median of ``--count`` workflows;
* a sequential no-op activity, in a workflow of 100 of them;
* what the runs list of the CLI and the UI asks, a page of 50 each: the running runs (with
  a few runs left running on a queue nobody serves), the failed runs (a few, the UI's
  "failed" tab), the same through a list filter (``LIST_FILTER``), the runs of a rare
  workflow type, the runs whose id starts with a rare prefix; and the counts of runs by
  status (the UI's tabs and ``/metrics``).

The kept runs are copies, under new ids, of real completed runs of the same workloads,
with their full histories (the copies share their payloads, as identical runs do). The
baseline is the fresh database (0 kept) measured in the same run: ``--check`` exits 1 when
a figure at the most runs kept is more than 1.5x its figure on the fresh database (2x for
the list's reads, which take a fraction of a millisecond: see ``READ_BOUND``).
(Listing by search attribute alone reads runs by start time and is not measured here.)
The last line is a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _workloads as wl
from _report import Figure, Target, figures_table, log, markdown_table, num, report_targets

from duragent import (
    ApplicationError,
    Client,
    Worker,
    WorkflowFailureError,
    WorkflowStatus,
    workflow,
)
from duragent._backend.records import RunFilter

QUEUE = "kept"
SEQ = 100
"""Activities in the sequential workload's workflow."""
GROWTH_BOUND = 1.5
"""Target: a figure at the most runs kept / the same figure on the fresh database."""


READ_BOUND = 2.0
"""Target for the runs list's reads (a fraction of a millisecond each): measured one level
after the other in one process, they drift by up to about 1.7x for reasons that have nothing
to do with the runs kept (the counts read a table of six rows, and drift as much). A read
that walks the kept runs is 100x slower at 100,000 (25 ms instead of 0.2): far outside."""

MEASURES: tuple[tuple[str, str, float], ...] = (
    ("latency", "1-activity workflow start → result", GROWTH_BOUND),
    ("seq", "sequential no-op activity", GROWTH_BOUND),
    ("running", "page of running runs", READ_BOUND),
    ("failed", "page of failed runs", READ_BOUND),
    ("filter", "page by a list filter", READ_BOUND),
    ("by_type", "page of a rare workflow type", READ_BOUND),
    ("by_prefix", "page of a rare id prefix", READ_BOUND),
    ("counts", "counts of runs by status", READ_BOUND),
)
"""(key, label, target) of each figure, each in ms and compared with the fresh file."""


@dataclass
class Level:
    kept: int
    runs: int
    events: int
    file_mb: float
    ms: dict[str, list[float]]
    """Samples by the keys of MEASURES."""


IDLE_QUEUE = "kept-nobody"
"""Runs started here stay running: the list of running runs has something to find."""
FAILED = 3
"""Runs that fail, at the first level (the kept copies are all of completed runs)."""
LIST_FILTER = "ExecutionStatus = 'Failed' AND WorkflowId STARTS_WITH 'failing-'"
"""Temporal's list filter a page is read by (finding the failed runs)."""


@workflow.defn
class Failing:
    @workflow.run
    async def run(self, i: int) -> int:
        raise ApplicationError(f"failure {i}", non_retryable=True)


async def _median_ms(count: int, read: Any) -> float:
    """Median ms of ``count`` awaits of ``read()``, which must find something."""
    times: list[float] = []
    for _ in range(count):
        t0 = time.perf_counter()
        found = await read()
        times.append(time.perf_counter() - t0)
        if not found:
            raise RuntimeError("a runs list found nothing")
    return statistics.median(times) * 1000


async def _measure(
    db: Path, repeats: int, count: int, tag: str, *, first: bool
) -> dict[str, list[float]]:
    """Samples of each of MEASURES, one per repeat (a median of ``count`` for those that
    are quick). ``first``: the first level, which starts the runs the lists find (the same
    ones at every level, so that each list returns as much at each)."""
    ms: dict[str, list[float]] = {key: [] for key, _, _ in MEASURES}
    client = await Client.connect(str(db))
    try:
        async with Worker(
            client,
            task_queue=QUEUE,
            workflows=[wl.OneActivity, wl.SequentialActivities, wl.Trivial, Failing],
            activities=[wl.echo, wl.noop],
        ):
            for i in range(3):
                await client.execute_workflow(
                    wl.OneActivity.run, i, id=f"{tag}-warm-{i}", task_queue=QUEUE
                )
            for r in range(repeats):
                ms["latency"].append(
                    await wl.median_latency_ms(
                        client, wl.OneActivity.run, count, f"{tag}-lat-{r}", QUEUE
                    )
                )
                t0 = time.perf_counter()
                done = await client.execute_workflow(
                    wl.SequentialActivities.run, SEQ, id=f"{tag}-seq-{r}", task_queue=QUEUE
                )
                ms["seq"].append((time.perf_counter() - t0) * 1000 / SEQ)
                if done != SEQ:
                    raise RuntimeError(f"sequential workflow returned {done!r}")
            if first:
                await client.start_workflow(wl.OneActivity.run, 0, id="idle", task_queue=IDLE_QUEUE)
                # A run of a type no kept run has (the copies are of the other two types).
                await client.execute_workflow(wl.Trivial.run, 1, id="rare", task_queue=QUEUE)
                for i in range(FAILED):
                    failing = await client.start_workflow(
                        Failing.run, i, id=f"failing-{i}", task_queue=QUEUE
                    )
                    with contextlib.suppress(WorkflowFailureError):
                        await failing.result()
            lists = client.list_workflows
            counts = client.backend.count_runs
            reads: dict[str, Any] = {
                "running": lambda: lists(status="running", limit=50),
                "failed": lambda: lists(status="failed", limit=50),
                "filter": lambda: lists(LIST_FILTER, limit=50),
                "by_type": lambda: lists(workflow_type="Trivial", limit=50),
                "by_prefix": lambda: lists(workflow_id_prefix="rar", limit=50),
                "counts": lambda: asyncio.gather(
                    *(counts(RunFilter(status=s.value)) for s in WorkflowStatus)
                ),
            }
            for _ in range(repeats):
                for key, read in reads.items():
                    ms[key].append(await _median_ms(count, read))
    finally:
        await client.close()
    return ms


def _grow(db: Path, target: int) -> None:
    """Copy the database's completed runs (with their events) under new ids until it keeps
    at least ``target`` closed runs."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout = 10000")
        columns = [d[0] for d in conn.execute("SELECT * FROM runs LIMIT 0").description]
        renamed = {"run_id", "workflow_id", "first_run_id"}
        pick = ", ".join(
            f"{c} || '~' || k.n" if c in renamed else c for c in columns
        )  # new ids: the source run's, with the copy's number
        sources = [
            r[0]
            for r in conn.execute(
                "SELECT run_id FROM runs WHERE status = 'completed' AND run_id NOT LIKE '%~%' "
                "AND workflow_type != 'Trivial'"  # the rare type stays rare
            )
        ]
        if not sources:
            raise RuntimeError("no completed run to copy")
        have = conn.execute("SELECT count(*) FROM runs WHERE status != 'running'").fetchone()[0]
        batch = 0
        while have < target:
            copies = min(-(-(target - have) // len(sources)), 2000)
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS k (n TEXT PRIMARY KEY)")
            conn.execute("DELETE FROM k")
            conn.executemany(
                "INSERT INTO k VALUES (?)", [(f"{target}.{batch}.{i}",) for i in range(copies)]
            )
            marks = ",".join("?" * len(sources))
            conn.execute(
                f"INSERT INTO runs ({', '.join(columns)}) SELECT {pick} FROM runs, k "
                f"WHERE run_id IN ({marks})",
                sources,
            )
            conn.execute(
                "INSERT INTO events (run_id, event_id, type, time, attrs) "
                "SELECT run_id || '~' || k.n, event_id, type, time, attrs FROM events, k "
                f"WHERE run_id IN ({marks})",
                sources,
            )
            conn.execute("COMMIT")
            have += copies * len(sources)
            batch += 1
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def _counts(db: Path) -> tuple[int, int]:
    with sqlite3.connect(db) as conn:
        runs = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
        events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    return int(runs), int(events)


async def measure(args: argparse.Namespace) -> list[Level]:
    levels: list[Level] = []
    with tempfile.TemporaryDirectory(prefix="duragent-kept-") as tmp:
        db = Path(tmp) / "kept.db"
        for kept in sorted(set(args.kept)):
            if kept:
                log(f"growing the database to {kept:,} kept runs")
                _grow(db, kept)
            log(f"measuring with {kept:,} runs kept")
            ms = await _measure(db, args.repeats, args.count, f"k{kept}", first=not levels)
            runs, events = _counts(db)
            size = db.stat().st_size / 1e6
            levels.append(Level(kept, runs, events, size, ms))
    return levels


def figures(levels: list[Level]) -> list[Figure]:
    return [
        Figure(f"{key}_ms_{lv.kept}", f"{label}, {lv.kept:,} kept", "ms", lv.ms[key])
        for lv in levels
        for key, label, _ in MEASURES
    ]


def targets(levels: list[Level]) -> list[Target]:
    fresh, most = levels[0], levels[-1]
    if fresh.kept != 0 or most is fresh:
        return []
    return [
        Target(
            f"{label} with {most.kept:,} kept / fresh",
            statistics.median(most.ms[key]) / statistics.median(fresh.ms[key]),
            bound,
        )
        for key, label, bound in MEASURES
    ]


def markdown(levels: list[Level]) -> str:
    fresh = levels[0]

    def cell(key: str, lv: Level) -> str:
        median = statistics.median(lv.ms[key])
        return f"{num(median)} ms ({median / statistics.median(fresh.ms[key]):.2f}x)"

    rows = [
        [
            f"{lv.kept:,}",
            f"{lv.runs:,} / {lv.events:,}",
            f"{lv.file_mb:,.0f} MB",
            *(cell(key, lv) for key, _, _ in MEASURES),
        ]
        for lv in levels
    ]
    return markdown_table(
        [
            "closed runs kept",
            "runs / events in the file",
            "file",
            *(label for _, label, _ in MEASURES),
        ],
        rows,
    )


async def main(args: argparse.Namespace) -> int:
    load_before = os.getloadavg()[0]
    levels = await measure(args)
    load_after = os.getloadavg()[0]
    if args.markdown:
        print(markdown(levels))
        return 0
    print()
    print(
        f"Kept history — {os.cpu_count()} cores, {args.repeats} repetitions of {args.count} "
        f"workflows (median, min..max), load average {load_before:.1f} before / "
        f"{load_after:.1f} after"
    )
    print()
    print(figures_table(figures(levels)))
    for lv in levels:
        print(f"  {lv.kept:,} kept: {lv.runs:,} runs, {lv.events:,} events, {lv.file_mb:.0f} MB")
    return report_targets(
        figures(levels), targets(levels), (load_before, load_after), check=args.check
    )


def _parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument(
        "--kept", type=int, nargs="+", default=[0, 10_000, 100_000], help="closed runs kept"
    )
    parser.add_argument("--repeats", type=int, default=5, help="repetitions per level")
    parser.add_argument("--count", type=int, default=50, help="workflows per repetition")
    parser.add_argument("--quick", action="store_true", help="0 and 10,000 kept, fewer runs")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--markdown", action="store_true", help="print the README table")
    args = parser.parse_args(argv)
    if args.quick:
        args.kept, args.repeats, args.count = [0, 10_000], 2, 20
    if 0 not in args.kept:
        parser.error("--kept must include 0 (the fresh database is the baseline)")
    if any(k < 0 for k in args.kept):
        parser.error("--kept takes counts of runs, 0 or more")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(_parse())))
