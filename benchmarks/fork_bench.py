"""What a fork costs: a long agent run forked half-way onto another model, and re-run whole
with everything served from its recording.

Usage::

    python benchmarks/fork_bench.py               # 200 turns, 3 repetitions
    python benchmarks/fork_bench.py --turns 400
    python benchmarks/fork_bench.py --check       # exit 1 when a target is missed
    python benchmarks/fork_bench.py --markdown    # the README's table

An agent calls a tool on every turn (a scripted model, the durable plugin, one SQLite file).
For each repetition this measures, against the source run measured in the same process:

* creating a fork at model call ``turns / 2`` (``client.fork``): its time, and the bytes it
  added to the file (event rows, and payload bytes: content-addressed payloads are shared,
  so a fork should add almost none);
* running that fork to its end on another model: its time and the provider calls it made;
* a hermetic re-run from call 1 with tools and models recorded: its time (0 provider calls).

Medians (min..max) are printed with ratios to the source run; the last line is JSON. The
machine is shared and noisy: compare ratios, not absolute times. The targets (:data:`TARGETS`)
are such ratios.
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

from _report import Target, check_figures, markdown_table
from history_growth import Research, script

from duragent import Client, Worker
from duragent.openai_agents import OpenAIAgentsPlugin
from duragent.testing import ScriptedModelProvider, message

TARGETS: dict[str, float] = {
    "create_s": 0.05,
    "fork_payload_bytes": 0.01,
    "hermetic_s": 1.5,
    "hermetic_provider_calls": 0,
}
"""At most: creating a fork, in source runs; the payload bytes it adds, in the source run's
bytes; a hermetic re-run from call 1, in source runs (it runs every turn's SDK logic and
compares every request: not cheaper than the source with a free model); its provider calls."""


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
        if statistics.median(values) >= 1:
            return f"{statistics.median(values):.2f} s ({min(values):.2f}..{max(values):.2f})"
        return (
            f"{statistics.median(values) * 1000:.1f} ms "
            f"({min(values) * 1000:.1f}..{max(values) * 1000:.1f})"
        )
    return f"{statistics.median(values):,.0f} {unit}"


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--markdown", action="store_true", help="print the README table")
    args = parser.parse_args()
    runs: list[dict[str, Any]] = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as d:
            runs.append(await once(args.turns, Path(d)))

    def col(key: str) -> list[float]:
        return [float(r[key]) for r in runs]

    def med(key: str) -> float:
        return statistics.median(col(key))

    source = med("source_s")
    targets = [
        Target("create a fork, in source runs", med("create_s") / source, TARGETS["create_s"]),
        Target(
            "payload bytes a fork adds, in the source's bytes",
            med("fork_payload_bytes") / med("source_bytes"),
            TARGETS["fork_payload_bytes"],
        ),
        Target(
            "hermetic re-run, in source runs", med("hermetic_s") / source, TARGETS["hermetic_s"]
        ),
        Target(
            "provider calls of the hermetic re-run",
            med("hermetic_provider_calls"),
            TARGETS["hermetic_provider_calls"],
        ),
    ]
    if args.markdown:
        half = args.turns // 2
        rows = [
            [f"source run, {args.turns} turns (baseline)", _fmt(col("source_s")), "1x", ""],
            [
                f"`client.fork` at call {half}",
                _fmt(col("create_s")),
                f"{targets[0].value:.3f}x",
                f"≤ {TARGETS['create_s']:g}x",
            ],
            [
                "bytes the fork added to the file",
                f"{_fmt(col('fork_row_bytes'), 'B')} of event rows, "
                f"{_fmt(col('fork_payload_bytes'), 'B')} of payloads",
                f"{targets[1].value:.4f}x of {_fmt(col('source_bytes'), 'B')}",
                f"payloads ≤ {TARGETS['fork_payload_bytes']:g}x",
            ],
            [
                "run the fork to its end on another model",
                f"{_fmt(col('fork_run_s'))}, {med('fork_provider_calls'):.0f} provider call(s)",
                f"{med('fork_run_s') / source:.2f}x",
                "",
            ],
            [
                "`client.fork` at call 1, tools and models recorded",
                _fmt(col("hermetic_create_s")),
                f"{med('hermetic_create_s') / source:.2f}x",
                "",
            ],
            [
                "that hermetic re-run to its end",
                f"{_fmt(col('hermetic_s'))}, {med('hermetic_provider_calls'):.0f} provider calls",
                f"{targets[2].value:.2f}x",
                f"≤ {TARGETS['hermetic_s']:g}x, 0 calls",
            ],
        ]
        print(markdown_table(["measurement", "median (min..max)", "vs source run", "target"], rows))
        return 0
    print(f"{args.turns}-turn agent run, forked at call {args.turns // 2} ({args.repeat} runs)")
    print(f"  source run                      {_fmt(col('source_s'))}")
    print(
        f"  create the fork                 {_fmt(col('create_s'))}  "
        f"= {med('create_s') / source:.3f}x the source run"
    )
    print(
        f"  fork's history rows / payloads  {_fmt(col('fork_row_bytes'), 'B')} / "
        f"{_fmt(col('fork_payload_bytes'), 'B')}  (source: {_fmt(col('source_bytes'), 'B')})"
    )
    print(
        f"  run the fork to its end         {_fmt(col('fork_run_s'))}  "
        f"= {med('fork_run_s') / source:.3f}x, "
        f"{med('fork_provider_calls'):.0f} provider call(s)"
    )
    print(f"  create the hermetic fork        {_fmt(col('hermetic_create_s'))}")
    print(
        f"  hermetic re-run from call 1     {_fmt(col('hermetic_s'))}  "
        f"= {med('hermetic_s') / source:.3f}x, "
        f"{med('hermetic_provider_calls'):.0f} provider calls"
    )
    missed = check_figures(targets)
    print(json.dumps({k: med(k) for k in runs[0]}))
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
