"""Retention: what removing old runs and reclaiming their payloads costs, and what it costs
the workers that go on meanwhile.

Usage::

    python benchmarks/retention_bench.py              # 2,000 conversations of 8 turns
    python benchmarks/retention_bench.py --runs 10000
    python benchmarks/retention_bench.py --quick      # 400 conversations
    python benchmarks/retention_bench.py --check      # exit 1 when a target is missed
    python benchmarks/retention_bench.py --markdown   # the README's table

A file is filled with ``--runs`` conversations run by a real worker: each is ``--turns``
model-like calls whose input is the whole conversation so far (stored as chunk trees that
share each turn's prefix, as an agent's are) and whose text is the run's own. The older half
is then removed (``prune_closed_runs``, the work of ``duragent prune``) and the payloads only
they used are reclaimed (``collect_payloads_apart``: in a child process, as a worker with
``run_retention`` does) while the same worker runs sequential no-op activities. Figures:

* the removal, and the collection (its mark reads every event and follows every chunk tree;
  its sweep removes 250 rows per transaction), next to the least any collection must read
  (every event's attributes and every payload, one pass each, measured in the same run);
* the longest write transaction of the collection, next to the longest removal step (200
  runs);
* a sequential no-op activity while the collection runs, next to the same before it.

Every payload of every kept run is read back at the end: a collection that removed one in
use fails the run. The last line is a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _workloads as wl
from _report import Figure, Target, figures_table, log, markdown_table, report_targets

from duragent import Client, Worker, activity, workflow
from duragent.store._retention import PRUNE_STEP
from duragent.store._tx import payloads_in
from duragent.store.sqlite import SqliteStore

QUEUE = "retention-bench"
SEQ = 50
"""Sequential no-op activities per sample."""
COLLECT_VS_SCAN = 16.0
"""Target: the collection's time / one pass over every event and payload."""
WRITE_VS_PRUNE_STEP = 2.0
"""Target: the collection's longest write transaction / the longest removal step (200 runs
a transaction) of the same run."""
ACTIVITY_DURING = 2.0
"""Target: a sequential activity while the collection runs / the same before it."""


@activity.defn
async def reply(conversation: list[dict[str, Any]]) -> dict[str, Any]:
    turn = len(conversation)
    return {"role": "assistant", "content": f"{conversation[0]['content'][:24]} turn {turn}"}


@workflow.defn
class Conversation:
    """``turns`` calls, each given the whole conversation so far."""

    @workflow.run
    async def run(self, tag: str, turns: int) -> int:
        conversation: list[dict[str, Any]] = [
            {"role": "user", "content": f"{tag}: " + "please research this topic " * 6}
        ]
        for _ in range(turns):
            answer = await workflow.execute_activity(
                reply, conversation, start_to_close_timeout=timedelta(seconds=30)
            )
            conversation.append(answer)
            conversation.append(
                {"role": "tool", "content": f"{tag} result {len(conversation)} " + "data " * 30}
            )
        return len(conversation)


@dataclass
class Results:
    runs: int = 0
    events: int = 0
    payloads: int = 0
    file_mb: float = 0.0
    removed_runs: int = 0
    prune_s: list[float] = field(default_factory=lambda: [])
    scan_s: list[float] = field(default_factory=lambda: [])
    collect_s: list[float] = field(default_factory=lambda: [])
    removed_payloads: int = 0
    removed_mb: float = 0.0
    longest_write_ms: list[float] = field(default_factory=lambda: [])
    prune_step_ms: list[float] = field(default_factory=lambda: [])
    seq_before_ms: list[float] = field(default_factory=lambda: [])
    seq_during_ms: list[float] = field(default_factory=lambda: [])


async def _fill(client: Client, first: int, count: int, turns: int) -> None:
    for start in range(first, first + count, 50):
        handles = [
            await client.start_workflow(
                Conversation.run, args=[f"conversation {i}", turns], id=f"c-{i}", task_queue=QUEUE
            )
            for i in range(start, min(first + count, start + 50))
        ]
        for handle in handles:
            await handle.result()


async def _seq_ms(client: Client, tag: str) -> float:
    t0 = time.perf_counter()
    await client.execute_workflow(wl.SequentialActivities.run, SEQ, id=tag, task_queue=QUEUE)
    return (time.perf_counter() - t0) * 1000 / SEQ


def _scan(db: Path) -> float:
    """Seconds of one pass over every event's attributes and every payload."""
    conn = sqlite3.connect(db)
    try:
        t0 = time.perf_counter()
        n = sum(len(a) for (a,) in conn.execute("SELECT attrs FROM events"))
        n += sum(len(d) for (_, d) in conn.execute("SELECT digest, data FROM payloads"))
        if n == 0:
            raise RuntimeError("nothing to scan")
        return time.perf_counter() - t0
    finally:
        conn.close()


def _count(db: Path) -> tuple[int, int, int]:
    with sqlite3.connect(db) as conn:
        return (
            int(conn.execute("SELECT count(*) FROM runs").fetchone()[0]),
            int(conn.execute("SELECT count(*) FROM events").fetchone()[0]),
            int(conn.execute("SELECT count(*) FROM payloads").fetchone()[0]),
        )


def _verify(db: Path) -> None:
    """Every payload of every kept run reads back."""
    store = SqliteStore(str(db))
    try:
        with sqlite3.connect(db) as conn:
            run_ids = [str(r[0]) for r in conn.execute("SELECT run_id FROM runs")]
        for run_id in run_ids:
            for event in store.read_history(run_id):
                for payload in payloads_in([event]):
                    if not payload.data:
                        raise RuntimeError(f"an empty payload in run {run_id}")
    finally:
        store.close()


async def measure(args: argparse.Namespace) -> Results:
    out = Results()
    with tempfile.TemporaryDirectory(prefix="duragent-retention-bench-") as tmp:
        db = Path(tmp) / "retention.db"
        store = SqliteStore(str(db))
        client = Client(store)
        try:
            async with Worker(
                client,
                task_queue=QUEUE,
                workflows=[Conversation, wl.SequentialActivities],
                activities=[reply, wl.noop],
            ):
                old = args.runs // 2
                log(f"  running {args.runs:,} conversations of {args.turns} turns ...")
                await _fill(client, 0, old, args.turns)
                await asyncio.sleep(0.05)
                cutoff = client.clock.now_ms()
                await asyncio.sleep(0.05)
                await _fill(client, old, args.runs - old, args.turns)
                out.runs, out.events, out.payloads = _count(db)
                out.file_mb = db.stat().st_size / 1e6
                for r in range(args.repeats):
                    out.seq_before_ms.append(await _seq_ms(client, f"seq-before-{r}"))
                for _ in range(args.repeats):
                    out.scan_s.append(await asyncio.to_thread(_scan, db))

                log("  removing the older half ...")
                t0 = time.perf_counter()
                removed = 0
                while True:
                    s0 = time.perf_counter()
                    step = store.prune_step(cutoff, client.clock.now_ms())
                    if step.runs == PRUNE_STEP:
                        out.prune_step_ms.append((time.perf_counter() - s0) * 1000)
                    removed += step.runs
                    if step.runs < PRUNE_STEP:
                        break
                out.prune_s.append(time.perf_counter() - t0)
                out.removed_runs = removed
                if not out.prune_step_ms:
                    raise RuntimeError("use more --runs: no full removal step was measured")

                log("  reclaiming payloads while the worker runs activities ...")
                t0 = time.perf_counter()
                collecting = asyncio.create_task(
                    store.collect_payloads_apart(client.clock.now_ms(), stop=asyncio.Event())
                )
                r = 0
                while not collecting.done():
                    out.seq_during_ms.append(await _seq_ms(client, f"seq-during-{r}"))
                    r += 1
                report = await collecting
                out.collect_s.append(time.perf_counter() - t0)
                out.removed_payloads = report.removed
                out.removed_mb = report.removed_bytes / 1e6
                out.longest_write_ms.append(report.longest_write_ms)
                if report.removed == 0:
                    raise RuntimeError(f"the collection removed nothing ({report})")
        finally:
            await client.close()
        log("  reading every kept run back ...")
        _verify(db)
    return out


def figures(r: Results) -> list[Figure]:
    return [
        Figure("prune_s", f"remove {r.removed_runs:,} runs", "s", r.prune_s),
        Figure("prune_step_ms", "one removal step (200 runs)", "ms", r.prune_step_ms),
        Figure("scan_s", "one pass over every event and payload", "s", r.scan_s),
        Figure("collect_s", "reclaim their payloads", "s", r.collect_s),
        Figure("longest_write_ms", "its longest write transaction", "ms", r.longest_write_ms),
        Figure("seq_before_ms", "sequential activity, before", "ms", r.seq_before_ms),
        Figure("seq_during_ms", "sequential activity, while it reclaims", "ms", r.seq_during_ms),
    ]


def targets(r: Results) -> list[Target]:
    def med(xs: list[float]) -> float:
        return statistics.median(xs) if xs else float("nan")

    return [
        Target(
            "payload collection / one pass over events and payloads",
            med(r.collect_s) / med(r.scan_s),
            COLLECT_VS_SCAN,
        ),
        Target(
            "longest collection write / longest removal step",
            max(r.longest_write_ms, default=math.nan) / max(r.prune_step_ms, default=math.nan),
            WRITE_VS_PRUNE_STEP,
        ),
        Target(
            "sequential activity while collecting / before",
            med(r.seq_during_ms) / med(r.seq_before_ms),
            ACTIVITY_DURING,
        ),
    ]


def markdown(r: Results) -> str:
    f = {fig.key: fig.median for fig in figures(r)}
    rows = [
        [
            f"{r.runs:,} runs, {r.events:,} events, {r.payloads:,} payloads ({r.file_mb:.0f} MB)",
            f"{r.removed_runs:,} in {f['prune_s']:.2f} s ({f['prune_step_ms']:.1f} ms a step)",
            f"{r.removed_payloads:,} ({r.removed_mb:.1f} MB) in {f['collect_s']:.2f} s "
            f"({f['collect_s'] / f['scan_s']:.1f}x one scan)",
            f"{f['longest_write_ms']:.1f} ms",
            f"{f['seq_before_ms']:.2f} -> {f['seq_during_ms']:.2f} ms",
        ]
    ]
    return markdown_table(
        [
            "file",
            "runs removed",
            "payloads reclaimed",
            "longest write",
            "sequential activity (before -> during)",
        ],
        rows,
    )


async def main(args: argparse.Namespace) -> int:
    load_before = os.getloadavg()[0]
    results = await measure(args)
    load_after = os.getloadavg()[0]
    if args.markdown:
        print(markdown(results))
        return 0
    print()
    print(
        f"Retention — {os.cpu_count()} cores, {results.runs:,} conversations of {args.turns} "
        f"turns ({results.events:,} events, {results.payloads:,} payloads, "
        f"{results.file_mb:.0f} MB), median, min..max; load average {load_before:.1f} "
        f"before / {load_after:.1f} after"
    )
    print()
    print(figures_table(figures(results)))
    print(
        f"  reclaimed {results.removed_payloads:,} payloads ({results.removed_mb:.1f} MB) "
        f"of the {results.removed_runs:,} removed runs"
    )
    return report_targets(
        figures(results),
        targets(results),
        (load_before, load_after),
        check=args.check,
        extra={"removed_payloads": results.removed_payloads},
    )


def _parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--runs", type=int, default=2000, help="conversations run")
    parser.add_argument("--turns", type=int, default=8, help="calls per conversation")
    parser.add_argument("--repeats", type=int, default=5, help="samples of the baselines")
    parser.add_argument("--quick", action="store_true", help="400 conversations")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--markdown", action="store_true", help="print the README table")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.repeats = 400, 3
    if args.runs < 2 * PRUNE_STEP:
        parser.error(f"--runs must be at least {2 * PRUNE_STEP} (a full removal step)")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(_parse())))
