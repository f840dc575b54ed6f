"""History growth of a long agent run: naive journaling against Duragent's shared storage.

Usage::

    python benchmarks/history_growth.py            # 50, 100 and 200 turns
    python benchmarks/history_growth.py --turns 400
    python benchmarks/history_growth.py --check      # exit 1 when a target is missed
    python benchmarks/history_growth.py --markdown   # the README's table

An agent (the OpenAI Agents SDK on the durable plugin, a scripted model) calls a tool on
every turn, so every model call's input is the whole conversation so far. Tool results are
``--tool-output-bytes`` long (default 500, about a search snippet or an alert summary;
smaller messages make the journal's fixed per-event overhead weigh more). Journaling each
input whole grows with the square of the number of turns; Duragent stores each message
once and shares it, so its history should grow linearly. For every run this prints:

* naive bytes: every recorded payload in full (what a store without sharing would keep),
* stored bytes: what the SQLite file actually holds for the run (event rows, payloads and
  shared chunks),
* the ratio, and stored bytes per turn (flat when growth is linear).

The baseline is naive journaling, computed from the same run: ``--check`` exits 1 when the
stored history is not at least 30x smaller than naive at 200 turns (500-byte results), or
when the bytes stored per turn grow by more than 10% from the fewest turns to the most
(growth must stay linear); ``--markdown`` prints the README's table. The last line is a JSON
summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _report import Target, check_figures, markdown_table
from agents import Agent, Runner, function_tool

from duragent import Client, Worker, workflow
from duragent.openai_agents import OpenAIAgentsPlugin
from duragent.testing import ScriptedModelProvider, message, tool_call

SETTINGS = {"tool_output_bytes": 500}
"""Size of each tool result (set by --tool-output-bytes)."""


@function_tool
async def lookup(i: int) -> str:
    """Look up fact number i."""
    head = f"Fact {i}: the answer is {i * 7}. "
    filler = "Recorded in the archive of facts, with sources and notes. "
    size = SETTINGS["tool_output_bytes"]
    return (head + filler * (size // len(filler) + 1))[:size]


agent = Agent(
    name="researcher",
    instructions="You research facts one at a time. " * 10,
    model="researcher",
    tools=[lookup],
)


@workflow.defn
class Research:
    @workflow.run
    async def run(self, turns: int) -> str:
        result = await Runner.run(agent, "Collect every fact.", max_turns=turns + 5)
        return str(result.final_output)


def script(turns: int) -> list[Any]:
    steps: list[Any] = [[tool_call("lookup", {"i": i})] for i in range(turns)]
    steps.append([message(f"Collected {turns} facts.")])
    return steps


def stored_bytes(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        attrs = conn.execute("SELECT coalesce(sum(length(attrs)), 0) FROM events").fetchone()[0]
        blobs = conn.execute("SELECT coalesce(sum(length(data)), 0) FROM payloads").fetchone()[0]
        return int(attrs) + int(blobs)
    finally:
        conn.close()


async def measure(turns: int, workdir: Path) -> dict[str, Any]:
    db = workdir / f"history-{turns}.db"
    client = await Client.connect(f"sqlite:///{db}")
    provider = ScriptedModelProvider({"researcher": script(turns)})
    started = time.perf_counter()
    async with Worker(
        client,
        task_queue="bench",
        workflows=[Research],
        plugins=[OpenAIAgentsPlugin(model_provider=provider)],
    ):
        handle = await client.start_workflow(Research.run, turns, id="research", task_queue="bench")
        output = await handle.result(timeout=600)
    elapsed = time.perf_counter() - started
    history = await handle.fetch_history()
    naive = 0
    for event in history.events:
        for name in ("input", "result"):
            value = getattr(event, name, None)
            if isinstance(value, tuple):
                naive += sum(len(p.data) for p in value)  # type: ignore[attr-defined]
            elif value is not None and hasattr(value, "data"):
                naive += len(value.data)
    await client.close()
    stored = stored_bytes(db)
    return {
        "turns": turns,
        "events": len(history.events),
        "naive_bytes": naive,
        "stored_bytes": stored,
        "ratio": naive / stored,
        "stored_bytes_per_turn": stored / turns,
        "seconds": elapsed,
        "output": output,
    }


async def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--turns", type=int, nargs="*", default=[50, 100, 200])
    parser.add_argument(
        "--tool-output-bytes",
        type=int,
        default=500,
        help="size of each tool result (default: %(default)s)",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--markdown", action="store_true", help="print the README table")
    args = parser.parse_args()
    SETTINGS["tool_output_bytes"] = args.tool_output_bytes
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="duragent-history-") as tmp:
        for turns in args.turns:
            rows.append(await measure(turns, Path(tmp)))
    if args.markdown:
        print(
            markdown_table(
                ["turns", "naive", "stored", "ratio", "stored per turn"],
                [
                    [
                        str(r["turns"]),
                        _size(r["naive_bytes"]),
                        _size(r["stored_bytes"]),
                        f"{r['ratio']:.1f}x",
                        _size(r["stored_bytes_per_turn"]),
                    ]
                    for r in rows
                ],
            )
        )
        return 0
    print(f"each turn: a model call, then a tool call returning {args.tool_output_bytes} bytes")
    print(
        f"{'turns':>6} {'events':>7} {'naive':>12} {'stored':>11} {'ratio':>7} "
        f"{'stored/turn':>12} {'run s':>7}"
    )
    for r in rows:
        print(
            f"{r['turns']:>6} {r['events']:>7} {r['naive_bytes']:>12,} "
            f"{r['stored_bytes']:>11,} {r['ratio']:>6.1f}x {r['stored_bytes_per_turn']:>12,.0f} "
            f"{r['seconds']:>7.2f}"
        )
    checks: list[Target] = []
    at_200 = [r for r in rows if r["turns"] == 200]
    if at_200 and args.tool_output_bytes == 500:
        checks.append(Target("naive / stored at 200 turns", at_200[0]["ratio"], 30, at_least=True))
    if len(rows) > 1:
        first, last = min(rows, key=lambda r: r["turns"]), max(rows, key=lambda r: r["turns"])
        checks.append(
            Target(
                f"stored per turn at {last['turns']} turns / at {first['turns']} turns",
                last["stored_bytes_per_turn"] / first["stored_bytes_per_turn"],
                1.1,
            )
        )
    print()
    failed = check_figures(checks)
    print(json.dumps([{k: v for k, v in r.items() if k != "output"} for r in rows]))
    return 1 if args.check and failed else 0


def _size(n: float) -> str:
    if n >= 1e6:
        return f"{n / 2**20:.1f} MB"
    if n >= 1e4:
        return f"{n / 2**10:.0f} KB"
    if n >= 1e3:
        return f"{n / 2**10:.1f} KB"
    return f"{n:.0f} B"


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
