"""Run a worker for one of the examples, plugins included.

    python -m examples.run_worker --address sqlite:///demo.db examples.weather_agent
    python -m examples.run_worker --address temporal://127.0.0.1:7233/default examples.weather_agent

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
from datetime import timedelta
from types import ModuleType
from typing import Any

from duragent import Client, Worker
from duragent.cli.loading import discover


def worker_for(
    client: Client,
    module: ModuleType,
    *,
    max_cached_workflows: int = 1000,
    plugins: Sequence[Any] | None = None,
    activities: Sequence[Any] | None = None,
    **kwargs: Any,
) -> Worker:
    """A worker for ``module``'s ``TASK_QUEUE``, workflows, activities and ``PLUGINS``, found
    as ``duragent worker`` finds them (``plugins`` and ``activities`` replace the module's)."""
    app = discover(module)
    return Worker(
        client,
        task_queue=app.task_queue or module.TASK_QUEUE,
        workflows=app.workflows,
        activities=app.activities if activities is None else list(activities),
        plugins=app.plugins if plugins is None else list(plugins),
        max_cached_workflows=max_cached_workflows,
        **kwargs,
    )


def takeover_options(address: str, heartbeat_timeout: float | None) -> dict[str, Any]:
    """Worker options that make another worker take over a dead worker's activities and
    workflow tasks after ``heartbeat_timeout`` seconds, on Temporal (which detects a dead
    worker by timeouts); none on the embedded engine, which sees the dead process."""
    if heartbeat_timeout is None or not address.startswith("temporal://"):
        return {}
    timeout = timedelta(seconds=heartbeat_timeout)
    return {
        "activity_heartbeat_timeout": timeout,
        "at_most_once_heartbeat_timeout": timeout,
        "temporal_options": {"sticky_queue_schedule_to_start_timeout": timeout},
    }


async def serve(
    db: str, module_name: str, max_cached_workflows: int, heartbeat_timeout: float | None = None
) -> None:
    """Run the worker until SIGINT/SIGTERM (on Temporal, with ``heartbeat_timeout`` seconds
    as its activity heartbeat and sticky timeouts when given: how soon another worker takes
    over the work of one that died)."""
    module = importlib.import_module(module_name)
    client = await Client.connect(db)
    options = takeover_options(db, heartbeat_timeout)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        worker = worker_for(client, module, max_cached_workflows=max_cached_workflows, **options)
        async with worker as w:
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
    parser.add_argument(
        "--address",
        "--db",
        dest="address",
        default=os.environ.get("DURAGENT_ADDRESS")
        or os.environ.get("DURAGENT_DB", "sqlite:///duragent.db"),
        help="sqlite:///FILE or temporal://HOST:PORT/NAMESPACE (env DURAGENT_ADDRESS)",
    )
    parser.add_argument("--max-cached-workflows", type=int, default=1000)
    parser.add_argument(
        "--heartbeat-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="on Temporal: another worker takes over a dead worker's activities and "
        "workflows after this (default: each activity's start-to-close timeout)",
    )
    args = parser.parse_args(argv)
    asyncio.run(serve(args.address, args.module, args.max_cached_workflows, args.heartbeat_timeout))


if __name__ == "__main__":
    main()
