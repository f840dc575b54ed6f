"""What a fork costs: a long agent run forked half-way onto another model, and re-run whole
with everything served from its recording.

Usage::

    python benchmarks/fork_bench.py               # 200 turns, 3 repetitions
    python benchmarks/fork_bench.py --turns 400

An agent calls a tool on every turn (a scripted model, the durable plugin, one SQLite file).
For each repetition this measures, against the source run measured in the same process:

* creating a fork at model call ``turns / 2`` (``client.fork``): its time, and the bytes it
  added to the file (event rows, and payload bytes: content-addressed payloads are shared,
  so a fork should add almost none);
* running that fork to its end on another model: its time and the provider calls it made;
* a hermetic re-run from call 1 with tools and models recorded: its time (0 provider calls).

Medians (min..max) are printed with ratios to the source run; the last line is JSON. The
machine is shared and noisy: compare ratios, not absolute times.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from history_growth import Research, script

from duragent import Client, Worker
from duragent.openai_agents import OpenAIAgentsPlugin
from duragent.testing import ScriptedModelProvider, message


def _bytes(db: Path) -> tuple[int, int]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT coalesce(sum(length(attrs)), 0) FROM events").fetchone()[0]
        blobs = conn.execute("SELECT coalesce(sum(length(data)), 0) FROM payloads").fetchone()[0]
        return int(rows), int(blobs)
    finally:
        conn.close()


async def once(turns: int, directory: Path) -> dict[str, Any]:
    db = directory / "fork.db"
    log = directory / "calls.log"
    provider = ScriptedModelProvider(
        {"researcher": script(turns), "other": [[message("Done differently.")]]}, call_log=log
    )
    client = await Client.connect(f"sqlite:///{db}")
    out: dict[str, Any] = {}
    async with Worker(
        client,
        task_queue="bench",
        workflows=[Research],
        plugins=[OpenAIAgentsPlugin(model_provider=provider)],
    ):
        t0 = time.perf_counter()
        await client.execute_workflow(Research.run, turns, id="src", task_queue="bench")
        out["source_s"] = time.perf_counter() - t0
        rows0, blobs0 = _bytes(db)
        out["source_bytes"] = rows0 + blobs0
        log.write_text("")
        t0 = time.perf_counter()
        fork = await client.fork("src", turns // 2, model="other", id="half")
        out["create_s"] = time.perf_counter() - t0
        rows1, blobs1 = _bytes(db)
        out["fork_row_bytes"], out["fork_payload_bytes"] = rows1 - rows0, blobs1 - blobs0
        await fork.result()
        out["fork_run_s"] = time.perf_counter() - t0
        out["fork_provider_calls"] = len(provider.calls())
        log.write_text("")
        t0 = time.perf_counter()
        again = await client.fork("src", 1, tools="recorded", models="recorded", id="again")
        out["hermetic_create_s"] = time.perf_counter() - t0
        await again.result()
        out["hermetic_s"] = time.perf_counter() - t0
        out["hermetic_provider_calls"] = len(provider.calls())
    await client.close()
    return out


def _fmt(values: list[float], unit: str = "s") -> str:
    if unit == "s":
        return (
            f"{statistics.median(values) * 1000:.1f} ms "
            f"({min(values) * 1000:.1f}..{max(values) * 1000:.1f})"
        )
    return f"{statistics.median(values):,.0f} {unit}"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as d:
            runs.append(await once(args.turns, Path(d)))

    def col(key: str) -> list[float]:
        return [float(r[key]) for r in runs]

    source = statistics.median(col("source_s"))
    print(f"{args.turns}-turn agent run, forked at call {args.turns // 2} ({args.repeat} runs)")
    print(f"  source run                      {_fmt(col('source_s'))}")
    print(
        f"  create the fork                 {_fmt(col('create_s'))}  "
        f"= {statistics.median(col('create_s')) / source:.3f}x the source run"
    )
    print(
        f"  fork's history rows / payloads  {_fmt(col('fork_row_bytes'), 'B')} / "
        f"{_fmt(col('fork_payload_bytes'), 'B')}  (source: {_fmt(col('source_bytes'), 'B')})"
    )
    print(
        f"  run the fork to its end         {_fmt(col('fork_run_s'))}  "
        f"= {statistics.median(col('fork_run_s')) / source:.3f}x, "
        f"{statistics.median(col('fork_provider_calls')):.0f} provider call(s)"
    )
    print(f"  create the hermetic fork        {_fmt(col('hermetic_create_s'))}")
    print(
        f"  hermetic re-run from call 1     {_fmt(col('hermetic_s'))}  "
        f"= {statistics.median(col('hermetic_s')) / source:.3f}x, "
        f"{statistics.median(col('hermetic_provider_calls')):.0f} provider calls"
    )
    print(json.dumps({k: statistics.median(col(k)) for k in runs[0]}))


if __name__ == "__main__":
    asyncio.run(main())
