"""Durable MCP benchmark: what the per-worker connection pool saves.

Usage::

    python benchmarks/mcp_bench.py             # 15 agent runs per variant
    python benchmarks/mcp_bench.py --quick     # 4 runs per variant
    python benchmarks/mcp_bench.py --check     # exit 1 when the pool saves less than 2x
    python benchmarks/mcp_bench.py --markdown  # the README table

An agent (scripted model) lists a stdio MCP server's tools and calls one tool per run, in a
workflow on an in-process worker. Measured from the recorded history, per run: the
``duragent.mcp.call_tool`` activity (started to completed) and the whole run (started to
completed). Two variants of the same ``MCPServerProvider``:

* **no pool** (``max_idle_connections=0``, the baseline): every activity spawns the server,
  connects, makes its request and shuts it down, as a stateless provider without a pool;
* **pooled** (the default): connections are kept per worker process and reused.

The server is the test suite's (``tests/fixtures/mcp_weather_server.py``, over stdio).
Figures are medians (min..max) over the runs, with the ratio to the baseline measured in the
same process; the machine is shared and noisy. The last line is a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any, Final

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _report import Target, check_figures, log, markdown_table, num, text_table  # noqa: E402
from tests.fixtures.mcp_app import (  # noqa: E402
    TASK_QUEUE,
    WORKFLOWS,
    RunMCPAgent,
    plugin,
    provider,
)

from duragent import Client, Worker  # noqa: E402

POOL_SAVES_AT_LEAST: Final = 2.0
"""Target: the pooled call_tool activity is at least this many times faster than a spawn."""


def _check(ok: bool, what: str) -> None:
    """A workload produced a wrong result: the figures would mean nothing."""
    if not ok:
        raise RuntimeError(f"benchmark workload went wrong: {what}")


async def _variant(pooled: bool, runs: int) -> dict[str, list[float]]:
    """Per-run ``call_tool`` activity and whole-run durations (ms)."""
    weather = provider(max_idle_connections=4 if pooled else 0)
    calls: list[float] = []
    totals: list[float] = []
    with tempfile.TemporaryDirectory(prefix="duragent-bench-mcp-") as tmp:
        client = await Client.connect(str(Path(tmp) / "bench.db"))
        try:
            async with Worker(
                client,
                task_queue=TASK_QUEUE,
                workflows=list(WORKFLOWS),
                plugins=[plugin(weather, stateful=False)],
            ):
                for i in range(runs):
                    wf_id = f"run-{i}"
                    result = await client.execute_workflow(
                        RunMCPAgent.run,
                        args=["forecaster", "CA?"],
                        id=wf_id,
                        task_queue=TASK_QUEUE,
                    )
                    _check(result == "Flood watch for CA until 6 PM.", f"answer {result!r}")
                    events = (await client.get_workflow_handle(wf_id).fetch_history()).events
                    call_seq = next(
                        e.seq  # type: ignore[attr-defined]
                        for e in events
                        if e.TYPE == "ActivityTaskScheduled"
                        and e.activity_type == "duragent.mcp.call_tool"  # type: ignore[attr-defined]
                    )
                    done: Any = next(
                        e
                        for e in events
                        if e.TYPE == "ActivityTaskCompleted" and e.seq == call_seq  # type: ignore[attr-defined]
                    )
                    calls.append(float(done.time - done.started_time))
                    totals.append(float(events[-1].time - events[0].time))
        finally:
            await client.close()
    return {"call_tool": calls, "run": totals}


def _stats(samples: list[float]) -> str:
    return f"{num(statistics.median(samples))} ({num(min(samples))}..{num(max(samples))})"


async def main(args: argparse.Namespace) -> int:
    runs = 4 if args.quick else 15
    os.environ.setdefault("WEATHER_API_KEY", "benchmark-key")
    log(f"no pool: {runs} runs")
    baseline = await _variant(False, runs)
    log(f"pooled: {runs} runs")
    pooled = await _variant(True, runs)
    rows: list[list[str]] = []
    md_rows: list[list[str]] = []
    summary: dict[str, Any] = {}
    for key, label in (
        ("call_tool", "`duragent.mcp.call_tool` activity"),
        ("run", "whole agent run (list tools, model, tool, model)"),
    ):
        base = statistics.median(baseline[key])
        fast = statistics.median(pooled[key])
        rows.append([label, _stats(baseline[key]), _stats(pooled[key]), f"{base / fast:.1f}x"])
        md_rows.append([label, f"{num(base)} ms", f"{num(fast)} ms", f"{base / fast:.0f}x"])
        summary[key] = {"no_pool_ms": base, "pooled_ms": fast, "ratio": base / fast}
    header = ["measurement (ms)", "no pool (baseline)", "pooled", "ratio"]
    if args.markdown:
        print(
            markdown_table(
                [
                    "measurement (median of " + str(runs) + " runs)",
                    "no pool (baseline: every activity spawns and connects)",
                    "pooled (default)",
                    "ratio",
                ],
                md_rows,
            )
        )
        return 0
    print(text_table(header, rows, right={1, 2, 3}))
    checks = [
        Target(
            "call_tool: no pool / pooled",
            summary["call_tool"]["ratio"],
            POOL_SAVES_AT_LEAST,
            at_least=True,
        )
    ]
    print()
    failed = check_figures(checks)
    print(json.dumps(summary))
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 runs per variant")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--markdown", action="store_true", help="print the README table")
    sys.exit(asyncio.run(main(parser.parse_args())))
