"""Local activity vs activity: ms per sequential call, on the embedded engine.

Usage::

    python benchmarks/local_activity_bench.py [--calls 200] [--repeat 5]
    python benchmarks/local_activity_bench.py --check      # exit 1 when the target is missed
    python benchmarks/local_activity_bench.py --markdown   # the README's table

One workflow runs N no-op activities one after the other; another runs N no-op local
activities. Each run uses a fresh SQLite file and a warm worker. Prints the median (min..max)
ms per call of each and their ratio (the baseline is the activity, measured in the same
run). The machine is shared and noisy: compare ratios, not absolute figures.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import Target, check_figures, markdown_table

from duragent import Client, Worker, activity, workflow

T = timedelta(seconds=30)
FASTER: float = 2.0
"""Target: a local activity is at least this many times faster per call than an activity
(it queues no task and adds no commit of its own)."""


@activity.defn
async def noop(i: int) -> int:
    return i


@workflow.defn
class Activities:
    @workflow.run
    async def run(self, n: int) -> int:
        total = 0
        for i in range(n):
            total += await workflow.execute_activity(noop, i, start_to_close_timeout=T)
        return total


@workflow.defn
class LocalActivities:
    @workflow.run
    async def run(self, n: int) -> int:
        total = 0
        for i in range(n):
            total += await workflow.execute_local_activity(noop, i, start_to_close_timeout=T)
        return total


async def one_run(
    workflow_run: Callable[[Any, int], Awaitable[int]], calls: int, directory: Path, tag: str
) -> float:
    client = await Client.connect(f"sqlite:///{directory / f'{tag}.db'}")
    try:
        async with Worker(
            client, task_queue="bench", workflows=[Activities, LocalActivities], activities=[noop]
        ):
            await client.execute_workflow(workflow_run, 2, id=f"{tag}-warm", task_queue="bench")
            start = time.perf_counter()
            result = await client.execute_workflow(workflow_run, calls, id=tag, task_queue="bench")
            elapsed = time.perf_counter() - start
        assert result == calls * (calls - 1) // 2
        return elapsed * 1000 / calls
    finally:
        await client.close()


def _fmt(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ms ({min(values):.2f}..{max(values):.2f})"


async def main(calls: int, repeat: int, *, check: bool, markdown: bool) -> int:
    activity_ms: list[float] = []
    local_ms: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for r in range(repeat):  # interleaved, so load changes hit both alike
            activity_ms.append(await one_run(Activities.run, calls, directory, f"a{r}"))
            local_ms.append(await one_run(LocalActivities.run, calls, directory, f"l{r}"))
    ratio = statistics.median(activity_ms) / statistics.median(local_ms)
    target = Target("local activity speed-up over an activity", ratio, FASTER, at_least=True)
    if markdown:
        print(
            markdown_table(
                ["measurement (per sequential call)", "median (min..max)", "vs activity", "target"],
                [
                    [f"activity (baseline), {calls} calls", _fmt(activity_ms), "1x", ""],
                    [
                        "local activity",
                        _fmt(local_ms),
                        f"{ratio:.1f}x faster",
                        f"≥ {FASTER:g}x faster",
                    ],
                ],
            )
        )
        return 0
    print(f"{calls} sequential calls, {repeat} runs, median (min..max) per call")
    print(f"  activity:        {_fmt(activity_ms)}")
    print(f"  local activity:  {_fmt(local_ms)}")
    print(f"  local activity is {ratio:.1f}x faster per call")
    missed = check_figures([target])
    return 1 if check and missed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Local activity vs activity, ms per call.")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--check", action="store_true", help="exit 1 when the target is missed")
    parser.add_argument("--markdown", action="store_true", help="print the README table")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.calls, args.repeat, check=args.check, markdown=args.markdown)))
