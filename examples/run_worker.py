"""Run a worker for one of the examples, plugins included.

    python -m examples.run_worker --db sqlite:///demo.db examples.weather_agent

Like ``duragent worker MODULE``, it registers the module's ``WORKFLOWS`` and ``ACTIVITIES``
on its ``TASK_QUEUE``, and it also passes the module's ``PLUGINS`` (the Agents SDK plugin,
with the model the examples use) to the worker. It runs until SIGINT or SIGTERM, then shuts
down gracefully; SIGKILL it to simulate a crash.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import signal
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from duragent import Client, Worker


def worker_for(
    client: Client,
    module: ModuleType,
    *,
    max_cached_workflows: int = 1000,
    plugins: Sequence[Any] | None = None,
    activities: Sequence[Any] | None = None,
    **kwargs: Any,
) -> Worker:
    """A worker for ``module``'s ``TASK_QUEUE``, ``WORKFLOWS``, ``ACTIVITIES`` and ``PLUGINS``
    (``plugins`` and ``activities`` replace the module's)."""
    if activities is None:
        activities = list(getattr(module, "ACTIVITIES", []))
    return Worker(
        client,
        task_queue=module.TASK_QUEUE,
        workflows=list(module.WORKFLOWS),
        activities=list(activities),
        plugins=list(getattr(module, "PLUGINS", []) if plugins is None else plugins),
        max_cached_workflows=max_cached_workflows,
        **kwargs,
    )


async def serve(db: str, module_name: str, max_cached_workflows: int) -> None:
    """Run the worker until SIGINT/SIGTERM."""
    module = importlib.import_module(module_name)
    client = await Client.connect(db)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with worker_for(client, module, max_cached_workflows=max_cached_workflows) as w:
            print(
                f"worker {w.worker_id} (pid {os.getpid()}) serving {module_name} on "
                f"queue {module.TASK_QUEUE!r}",
                file=sys.stderr,
                flush=True,
            )
            await stop.wait()
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m examples.run_worker", description=__doc__)
    parser.add_argument("module", help="example module, e.g. examples.weather_agent")
    parser.add_argument("--db", default=os.environ.get("DURAGENT_DB", "sqlite:///duragent.db"))
    parser.add_argument("--max-cached-workflows", type=int, default=1000)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.db, args.module, args.max_cached_workflows))


if __name__ == "__main__":
    main()
