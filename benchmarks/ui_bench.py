"""Web UI speed: the first screen of a 200-turn agent run page (its conversation and its
timeline tab), its conversation and timeline from the JSON API (whole and a page), and a
runs list over 10,000 runs, as time to first byte (HTTP) and time to a rendered page
(Chromium, load event).

    python benchmarks/ui_bench.py [--turns 200] [--runs 10000] [--repeat 5]
    python benchmarks/ui_bench.py --check       # exit 1 when a target is missed
    python benchmarks/ui_bench.py --markdown    # the README's table

Prints medians (min..max) of repeated loads, and as a baseline the same server's
``/api/v1/openapi.json`` (no store access), so the figures can be read as ratios on a noisy
machine. The targets are such ratios (first byte, against the baseline's first byte); the
tests assert nothing here. Each page is loaded once before it is measured: that load fills
the server's caches (a run page's events, its summary and what its model calls said; the
runs' summaries), and the run page's is reported apart, as its first load (one sample).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))  # history_growth imports _report

from _report import Target, check_figures, markdown_table  # noqa: E402
from benchmarks.history_growth import Research, script  # noqa: E402
from tests.server.browser import browser_session  # noqa: E402
from tests.server.conftest import serving  # noqa: E402

from duragent import Client, Worker  # noqa: E402
from duragent.openai_agents import OpenAIAgentsPlugin  # noqa: E402
from duragent.testing import ScriptedModelProvider  # noqa: E402


async def make_store(db: Path, turns: int, runs: int) -> None:
    client = await Client.connect(f"sqlite:///{db}")
    provider = ScriptedModelProvider({"researcher": script(turns)})
    async with Worker(
        client,
        task_queue="bench",
        workflows=[Research],
        plugins=[OpenAIAgentsPlugin(model_provider=provider)],
    ):
        handle = await client.start_workflow(
            Research.run, turns, id="long-agent", task_queue="bench"
        )
        await handle.result(timeout=900)
    for i in range(runs):
        # No worker for this queue: the runs stay open, as in a busy store.
        await client.start_workflow("Idle", id=f"run-{i:05d}", task_queue="idle")
    await client.close()


def ttfb(host: str, port: int, path: str, token: str) -> tuple[float, float]:
    """(seconds to the first byte, seconds to the whole body)."""
    conn = http.client.HTTPConnection(host, port, timeout=120)
    started = time.perf_counter()
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    first = time.perf_counter() - started
    response.read()
    whole = time.perf_counter() - started
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"{path}: HTTP {response.status}")
    return first, whole


def fmt(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"{statistics.median(ms):8.1f} ms  ({min(ms):.1f}..{max(ms):.1f})"


BASELINE = "baseline /api/v1/openapi.json"
TARGETS: dict[str, float] = {
    "run page": 40.0,
    "timeline tab": 40.0,
    "conversation API": 40.0,
    "conversation API page": 20.0,
    "timeline API": 40.0,
    "runs list": 40.0,
    "runs list API": 20.0,
}
"""First byte of each page, in first bytes of the baseline (at most)."""


def run(
    turns: int, runs: int, repeat: int
) -> tuple[dict[str, dict[str, list[float]]], dict[str, list[float]]]:
    with tempfile.TemporaryDirectory(prefix="duragent-ui-bench-") as tmp:
        db = Path(tmp) / "ui.db"
        started = time.perf_counter()
        asyncio.run(make_store(db, turns, runs))
        print(
            f"store: a {turns}-turn agent run and {runs:,} other runs "
            f"({time.perf_counter() - started:.0f}s to build)",
            file=sys.stderr,
        )
        with serving(f"sqlite:///{db}") as server:
            run_api = "/api/v1/runs/long-agent"
            last = max(1, turns + 1 - 24)  # the last 25 model calls (one more answers)
            pages = {
                "baseline /api/v1/openapi.json": "/api/v1/openapi.json",
                f"run page, {turns}-turn agent": "/runs/long-agent",
                f"timeline tab, {turns}-turn agent": "/runs/long-agent?tab=timeline",
                f"conversation API, {turns}-turn agent (whole)": f"{run_api}/conversation",
                "conversation API page (25 calls)": f"{run_api}/conversation?from={last}&limit=25",
                f"timeline API, {turns}-turn agent (whole)": f"{run_api}/timeline",
                f"runs list, {runs + 1:,} runs": "/",
                "runs list API (50 rows)": "/api/v1/runs",
            }
            shown = [label for label in pages if label.startswith(("run page", "timeline tab"))]
            shown.append(f"runs list, {runs + 1:,} runs")
            results: dict[str, dict[str, list[float]]] = {}
            for label, path in pages.items():
                # The first load warms the server's caches (a run's events, summary and
                # what its model calls said; the runs' summaries): reported apart.
                cold = ttfb(server.host, server.port, path, server.token)
                if label.startswith("run page"):
                    results[f"{label}, first load after start"] = {
                        "ttfb": [cold[0]],
                        "body": [cold[1]],
                    }
                firsts: list[float] = []
                wholes: list[float] = []
                for _ in range(repeat):
                    first, whole = ttfb(server.host, server.port, path, server.token)
                    firsts.append(first)
                    wholes.append(whole)
                results[label] = {"ttfb": firsts, "body": wholes}
            rendered: dict[str, list[float]] = {}
            with browser_session(server.url, server.token) as s:
                for label in shown:
                    path = pages[label]
                    times: list[float] = []
                    for _ in range(repeat):
                        t0 = time.perf_counter()
                        s.page.goto(server.url + path, wait_until="load")
                        times.append(time.perf_counter() - t0)
                    rendered[label] = times
    return results, rendered


def _target_for(label: str) -> float | None:
    if label.endswith("first load after start"):
        return None  # one sample, cold caches: shown, not a target
    for prefix, bound in sorted(TARGETS.items(), key=lambda kv: -len(kv[0])):
        if label.startswith(prefix):
            return bound
    return None


def main(argv: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--markdown", action="store_true", help="print the README table")
    args = parser.parse_args(argv)
    results, rendered = run(args.turns, args.runs, args.repeat)
    base = statistics.median(results[BASELINE]["ttfb"])
    checks = [
        Target(
            f"{label} first byte / baseline first byte", statistics.median(r["ttfb"]) / base, bound
        )
        for label, r in results.items()
        if (bound := _target_for(label)) is not None
    ]
    if args.markdown:
        rows: list[list[str]] = []
        for label, r in results.items():
            ratio = statistics.median(r["ttfb"]) / base
            bound = _target_for(label)
            page = rendered.get(label)
            rows.append(
                [
                    label,
                    f"{statistics.median(r['ttfb']) * 1000:.1f} ms",
                    f"{statistics.median(r['body']) * 1000:.1f} ms",
                    f"{statistics.median(page) * 1000:.0f} ms" if page else "",
                    f"{ratio:.1f}x",
                    f"≤ {bound:g}x" if bound is not None else "",
                ]
            )
        header = [
            "page",
            "first byte",
            "whole body",
            "rendered (Chromium)",
            "first byte / baseline",
            "target",
        ]
        print(markdown_table(header, rows))
        return 0
    print("\nmedian (min..max) over", args.repeat, "loads; the machine is shared and noisy")
    for label, r in results.items():
        ratio = statistics.median(r["ttfb"]) / base
        print(
            f"  {label:48s} first byte {fmt(r['ttfb'])}   whole {fmt(r['body'])}"
            f"   ({ratio:.1f}x baseline)"
        )
    for label, times in rendered.items():
        print(f"  {label:48s} rendered   {fmt(times)}  (Chromium, load event)")
    print()
    failed = check_figures(checks)
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
