"""``duragent worker``: run the workflows and activities of a module until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import timedelta

import click
from rich.markup import escape

from ..errors import ConfigurationError
from ..worker import Worker
from ._common import CliState, err, run, session
from .loading import AppDefinitions, load_app

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _banner(state: CliState, app: AppDefinitions, queue: str, worker: Worker) -> None:
    console = err()
    console.print(
        f"[bold]duragent worker[/] [dim]{escape(worker.worker_id)}[/]\n"
        f"  db          {escape(state.db)}\n"
        f"  task queue  [cyan]{escape(queue)}[/]\n"
        f"  workflows   {escape(', '.join(app.workflow_names) or '-')}\n"
        f"  activities  {escape(', '.join(app.activity_names) or '-')}\n"
        "[dim]Ctrl+C or SIGTERM stops it gracefully.[/]"
    )


def _install_stop_handlers(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> bool:
    """Make SIGINT/SIGTERM set ``stop``; False where the platform cannot (Windows)."""

    def on_signal(signum: int) -> None:
        name = signal.Signals(signum).name
        err().print(f"[yellow]{name} received: shutting down (send it again to force)[/]")
        for sig in _STOP_SIGNALS:  # a second signal kills the process the default way
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        stop.set()

    try:
        for sig in _STOP_SIGNALS:
            loop.add_signal_handler(sig, on_signal, sig)
    except (NotImplementedError, RuntimeError):
        return False
    return True


async def _run_worker(
    state: CliState,
    app: AppDefinitions,
    queue: str,
    max_concurrent_activities: int,
    max_cached_workflows: int,
    shutdown_grace: float,
) -> None:
    async with session(state, create=True) as client:
        worker = Worker(
            client,
            task_queue=queue,
            workflows=app.workflows,
            activities=app.activities,
            max_concurrent_activities=max_concurrent_activities,
            max_cached_workflows=max_cached_workflows,
            graceful_shutdown_timeout=timedelta(seconds=shutdown_grace),
        )
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        _install_stop_handlers(loop, stop)
        await worker.start()
        _banner(state, app, queue, worker)
        running = asyncio.create_task(worker.run(), name="duragent-worker")
        stopping = asyncio.create_task(stop.wait(), name="duragent-worker-stop")
        try:
            await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            await worker.shutdown()
            await running  # re-raises if the worker itself failed
        err().print("[dim]worker stopped[/]")


@click.command("worker", short_help="Run a worker for a module's workflows.")
@click.argument("module")
@click.option(
    "--task-queue",
    "-q",
    metavar="QUEUE",
    help="Queue to poll (default: the module's TASK_QUEUE).",
)
@click.option(
    "--max-concurrent-activities",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Activity attempts running at once.",
)
@click.option(
    "--max-cached-workflows",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Workflow instances kept in memory (others are rebuilt by replay).",
)
@click.option(
    "--shutdown-grace",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    metavar="SECONDS",
    help="On stop, let running activities finish this long before handing them back.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default="warning",
    show_default=True,
    help="Logging level of the worker's log on stderr.",
)
@click.pass_obj
def worker_command(
    state: CliState,
    module: str,
    task_queue: str | None,
    max_concurrent_activities: int,
    max_cached_workflows: int,
    shutdown_grace: float,
    log_level: str,
) -> None:
    """Run a worker for the workflows and activities defined in MODULE.

    MODULE is a dotted module name (importable from the current directory) or a path to a
    .py file. Every @workflow.defn class and @activity.defn function at module level is
    registered, unless the module lists them in WORKFLOWS / ACTIVITIES. The task queue
    defaults to the module's TASK_QUEUE. Runs until SIGINT or SIGTERM, then shuts down
    gracefully.
    """
    app = load_app(module)
    queue = task_queue or app.task_queue
    if not queue:
        raise ConfigurationError(
            f"no task queue: pass --task-queue or define TASK_QUEUE in {module}"
        )
    logging.basicConfig(
        level=getattr(logging, log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    run(
        _run_worker(
            state,
            app,
            queue,
            max_concurrent_activities,
            max_cached_workflows,
            shutdown_grace,
        )
    )
