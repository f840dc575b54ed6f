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
* the runs list filtered to running runs (the CLI's and the UI's default question: "what
  is running?"), a page of 50, with a few runs left running on a queue nobody serves.

The kept runs are copies, under new ids, of real completed runs of the same workloads,
with their full histories (the copies share their payloads, as identical runs do). The
baseline is the fresh database (0 kept) measured in the same run: ``--check`` exits 1 when
a figure at the most runs kept is more than 1.5x its figure on the fresh database.
(Listing runs filtered otherwise, e.g. by workflow id prefix or closed status, reads runs
by start time and is not measured here.) The last
line is a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
from _report import Figure, Target, check_figures, figures_table, log, markdown_table, num

from duragent import Client, Worker

QUEUE = "kept"
SEQ = 100
"""Activities in the sequential workload's workflow."""
GROWTH_BOUND = 1.5
"""Target: a figure at the most runs kept / the same figure on the fresh database."""


@dataclass
class Level:
    kept: int
    runs: int
    events: int
    file_mb: float
    latency_ms: list[float]
    seq_ms: list[float]
    list_ms: list[float]


IDLE_QUEUE = "kept-nobody"
"""Runs started here stay running: the list of running runs has something to find."""


async def _measure(
    db: Path, repeats: int, count: int, tag: str
) -> tuple[list[float], list[float], list[float]]:
    """(start -> result medians, ms per sequential activity, ms per page of running runs),
    one of each per repeat."""
    latency: list[float] = []
    seq: list[float] = []
    listing: list[float] = []
    client = await Client.connect(str(db))
    try:
        async with Worker(
            client,
            task_queue=QUEUE,
            workflows=[wl.OneActivity, wl.SequentialActivities],
            activities=[wl.echo, wl.noop],
        ):
            for i in range(3):
                await client.execute_workflow(
                    wl.OneActivity.run, i, id=f"{tag}-warm-{i}", task_queue=QUEUE
                )
            for r in range(repeats):
                latency.append(
                    await wl.median_latency_ms(
                        client, wl.OneActivity.run, count, f"{tag}-lat-{r}", QUEUE
                    )
                )
                t0 = time.perf_counter()
                done = await client.execute_workflow(
                    wl.SequentialActivities.run, SEQ, id=f"{tag}-seq-{r}", task_queue=QUEUE
                )
                seq.append((time.perf_counter() - t0) * 1000 / SEQ)
                if done != SEQ:
                    raise RuntimeError(f"sequential workflow returned {done!r}")
            await client.start_workflow(
                wl.OneActivity.run, 0, id=f"{tag}-idle", task_queue=IDLE_QUEUE
            )
            for _ in range(repeats):
                times: list[float] = []
                for _ in range(count):
                    t0 = time.perf_counter()
                    page = await client.list_workflows(status="running", limit=50)
                    times.append(time.perf_counter() - t0)
                    if not page:
                        raise RuntimeError("the list of running runs is empty")
                listing.append(statistics.median(times) * 1000)
    finally:
        await client.close()
    return latency, seq, listing


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
                "SELECT run_id FROM runs WHERE status = 'completed' AND run_id NOT LIKE '%~%'"
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
            latency, seq, listing = await _measure(db, args.repeats, args.count, f"k{kept}")
            runs, events = _counts(db)
            size = db.stat().st_size / 1e6
            levels.append(Level(kept, runs, events, size, latency, seq, listing))
    return levels


def figures(levels: list[Level]) -> list[Figure]:
    out: list[Figure] = []
    for lv in levels:
        out.append(
            Figure(
                f"latency_ms_{lv.kept}", f"start -> result, {lv.kept:,} kept", "ms", lv.latency_ms
            )
        )
        out.append(
            Figure(f"seq_ms_{lv.kept}", f"sequential activity, {lv.kept:,} kept", "ms", lv.seq_ms)
        )
        out.append(
            Figure(f"list_ms_{lv.kept}", f"list running runs, {lv.kept:,} kept", "ms", lv.list_ms)
        )
    return out


def targets(levels: list[Level]) -> list[Target]:
    fresh, most = levels[0], levels[-1]
    if fresh.kept != 0 or most is fresh:
        return []
    return [
        Target(
            f"start -> result with {most.kept:,} kept / fresh",
            statistics.median(most.latency_ms) / statistics.median(fresh.latency_ms),
            GROWTH_BOUND,
        ),
        Target(
            f"sequential activity with {most.kept:,} kept / fresh",
            statistics.median(most.seq_ms) / statistics.median(fresh.seq_ms),
            GROWTH_BOUND,
        ),
        Target(
            f"list running runs with {most.kept:,} kept / fresh",
            statistics.median(most.list_ms) / statistics.median(fresh.list_ms),
            GROWTH_BOUND,
        ),
    ]


def markdown(levels: list[Level]) -> str:
    fresh = levels[0]

    def cell(samples: list[float], base: list[float]) -> str:
        median = statistics.median(samples)
        return f"{num(median)} ms ({median / statistics.median(base):.2f}x)"

    rows = [
        [
            f"{lv.kept:,}",
            f"{lv.runs:,} / {lv.events:,}",
            f"{lv.file_mb:,.0f} MB",
            cell(lv.latency_ms, fresh.latency_ms),
            cell(lv.seq_ms, fresh.seq_ms),
            cell(lv.list_ms, fresh.list_ms),
        ]
        for lv in levels
    ]
    return markdown_table(
        [
            "closed runs kept",
            "runs / events in the file",
            "file",
            "1-activity workflow start → result",
            "sequential no-op activity",
            "page of running runs",
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
    checks = targets(levels)
    print()
    failed = check_figures(checks)
    summary: dict[str, Any] = {f.key: round(f.median, 4) for f in figures(levels)}
    summary["targets"] = {c.label: round(c.value, 3) for c in checks}
    summary["load_avg"] = [round(load_before, 2), round(load_after, 2)]
    print(json.dumps(summary, ensure_ascii=False))
    return 1 if args.check and failed else 0


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
