"""The main demo: a workflow survives a SIGKILL of its worker.

1. starts a worker process for ``examples.order_pipeline``,
2. starts an order workflow,
3. kills the worker with SIGKILL while the second step runs,
4. starts a new worker, which picks the work up at once,
5. prints the result and the timeline: the completed first step was not repeated.

Run it with ``python3 scripts/demo.py --engine-only`` (which sets up the environment first).
``--temporal`` runs it on a local Temporal dev server it starts and stops, and ``--address
temporal://HOST:PORT/NS`` (or ``DURAGENT_ADDRESS``) on another Temporal cluster: there a
dead worker is detected by its activity's heartbeat timeout (2 s here), not by its pid.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from duragent import Client

from . import demo_support
from .order_pipeline import Order, OrderPipeline

ROOT = Path(__file__).resolve().parent.parent


HEARTBEAT_TIMEOUT = "2"
"""Seconds after which Temporal hands a dead worker's activity to another worker."""


def spawn_worker(db_url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            *[sys.executable, "-m", "examples.run_worker", "--address", db_url],
            *["--heartbeat-timeout", HEARTBEAT_TIMEOUT, "examples.order_pipeline"],
        ],
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )


async def wait_for_step(client: Client, workflow_id: str, steps_done: int) -> None:
    """Wait until ``steps_done`` activities have completed and the next one is running."""
    handle = client.get_workflow_handle(workflow_id)
    while True:
        history = await handle.fetch_history()
        completed = sum(1 for e in history.events if e.TYPE == "ActivityTaskCompleted")
        if completed >= steps_done and (await handle.describe()).pending_activities:
            return
        await asyncio.sleep(0.02)


async def main(db_url: str) -> None:
    client = await Client.connect(db_url)
    print(f"store: {db_url.removeprefix('sqlite:///')}")
    worker = spawn_worker(db_url)
    print(f"worker 1 started (pid {worker.pid})")
    handle = await client.start_workflow(
        OrderPipeline.run, Order("A-1", 3), id="order-A-1", task_queue="orders"
    )
    print("workflow order-A-1 started")

    await wait_for_step(client, "order-A-1", 1)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    print(f"worker 1 killed with SIGKILL during step 2 (pid {worker.pid})")

    restarted = time.monotonic()
    worker = spawn_worker(db_url)
    print(f"worker 2 started (pid {worker.pid}); it finds worker 1 dead and resumes")
    try:
        result = await handle.result(timeout=60)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=10)
    print(f"finished {time.monotonic() - restarted:.2f}s after the restart: {result}")

    history = await handle.fetch_history()
    completed = [e for e in history.events if e.TYPE == "ActivityTaskCompleted"]
    attempts = [getattr(e, "attempt", 0) for e in completed]
    print(
        f"completed steps and their attempts: {attempts} (step 1 ran once; step 2 was "
        "interrupted by the crash and retried)"
    )
    await client.close()


def show_timeline(db_url: str) -> None:
    print("\ntimeline (duragent show order-A-1):", flush=True)
    subprocess.run(
        [sys.executable, "-m", "duragent", "--address", db_url, "show", "order-A-1"],
        cwd=ROOT,
        check=True,
        env={**os.environ, "COLUMNS": "110"},
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="The workflow-engine crash demo.")
    parser.add_argument(
        "--temporal", action="store_true", help="on a local Temporal dev server it starts"
    )
    args = demo_support.parse_args(parser)
    with contextlib.ExitStack() as stack:
        if args.temporal:
            print(f"Temporal UI: {stack.enter_context(demo_support.temporal_dev_server()).ui_url}")
        address, _ = stack.enter_context(demo_support.temporary_store("duragent-demo-"))
        asyncio.run(main(address))
        show_timeline(address)
