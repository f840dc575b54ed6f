"""``duragent worker``: run the workflows and activities of a module until stopped."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import signal
import sys
from datetime import timedelta
from typing import Any, NoReturn

import click
from rich.markup import escape

from .._backend import is_temporal
from .._definitions import get_activity_definition, get_workflow_definition
from ..errors import ConfigurationError, DuragentError
from ..worker import DEFAULT_STREAM_RETENTION, Worker
from ._common import CliState, err, parse_duration, report_error, run, session
from .loading import AppDefinitions, load_app

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def agents_plugin() -> Any:
    """A new ``OpenAIAgentsPlugin()`` with the default model provider.

    Raises:
        ConfigurationError: The OpenAI Agents SDK is not installed.
    """
    try:
        from ..openai_agents import OpenAIAgentsPlugin
    except ImportError as error:
        raise ConfigurationError(
            f"--agents needs the OpenAI Agents SDK: pip install 'duragent[agents]' ({error})"
        ) from error
    return OpenAIAgentsPlugin()


def _is_agents_plugin(plugin: Any) -> bool:
    return type(plugin).__name__ == "OpenAIAgentsPlugin"


def _default_model() -> str:
    """Where the plugin's default provider sends model calls (mirrors its choice)."""
    base_url = os.environ.get("OPENAI_BASE_URL")
    if base_url:
        return f"OpenAI-compatible endpoint {base_url}"
    if os.environ.get("OPENAI_API_KEY"):
        return "OpenAI (OPENAI_API_KEY)"
    return "offline local model"


def describe_plugin(plugin: Any) -> str:
    """A plugin's class name, with the model provider for the OpenAI Agents plugin."""
    name = type(plugin).__name__
    if not _is_agents_plugin(plugin):
        return name
    # The provider is created lazily; describe what was configured without creating it.
    source = getattr(plugin, "_provider_source", None)
    if source is None:
        model = _default_model()
    elif hasattr(source, "get_model"):  # a ModelProvider
        model = type(source).__name__
    else:  # a function returning one
        model = f"{getattr(source, '__qualname__', 'provider factory')}()"
    return f"{name} (models: {model})"


def _worker_names(worker: Worker) -> tuple[list[str], list[str]]:
    """Workflow and activity type names the worker runs (plugins' included)."""
    workflows = [d.name for w in worker.workflows if (d := get_workflow_definition(w)) is not None]
    activities: list[str] = []
    for fn in worker.activities:
        d = get_activity_definition(fn)
        if d is not None:
            activities.append("* (dynamic)" if d.dynamic else d.name)
    return workflows, activities


def _banner(state: CliState, plugins: list[Any], queue: str, worker: Worker) -> None:
    workflows, activities = _worker_names(worker)
    intercepting = [type(i).__name__ for i in worker.interceptors]
    console = err()
    console.print(
        f"[bold]duragent worker[/] [dim]{escape(worker.worker_id)}[/]\n"
        f"  address     {escape(state.db)}\n"
        f"  task queue  [cyan]{escape(queue)}[/]\n"
        f"  workflows   {escape(', '.join(workflows) or '-')}\n"
        f"  activities  {escape(', '.join(activities) or '-')}\n"
        f"  plugins     {escape(', '.join(describe_plugin(p) for p in plugins) or '-')}\n"
        f"  interceptors {escape(', '.join(intercepting) or '-')}\n"
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
    plugins: list[Any],
    queue: str,
    max_concurrent_activities: int,
    max_cached_workflows: int,
    shutdown_grace: float,
    run_retention: timedelta | None = None,
    stream_retention: timedelta | None = DEFAULT_STREAM_RETENTION,
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
            plugins=plugins,
            run_retention=run_retention,
            stream_retention=stream_retention,
            interceptors=app.interceptors,
        )
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        _install_stop_handlers(loop, stop)
        await worker.start()
        _banner(state, plugins, queue, worker)
        running = asyncio.create_task(worker.run(), name="duragent-worker")
        stopping = asyncio.create_task(stop.wait(), name="duragent-worker-stop")
        try:
            await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            await worker.shutdown()
            await running  # re-raises if the worker itself failed
        err().print("[dim]worker stopped[/]")


def _exit_skipping_finalization(code: int) -> NoReturn:
    """End the process with ``code`` once the worker and its client are closed, without
    finalizing the interpreter.

    On Temporal, threads of temporalio's core (Rust) can still call into Python while the
    interpreter finalizes, which aborts the process (SIGABRT in PyGILState_Release,
    temporalio sdk-python#300): a worker that stopped gracefully would exit with status
    134 instead of its own. Exit handlers run and output is flushed first, so nothing a
    normal exit would write is lost; only the finalization is skipped.
    """
    logging.getLogger("duragent.cli").debug(
        "exit %d without interpreter finalization (temporalio sdk-python#300)", code
    )
    atexit._run_exitfuncs()  # what a normal exit runs (logging.shutdown among them)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


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
    "--run-retention",
    metavar="AGE",
    help="Remove runs closed longer ago than AGE (30d, 12h, ...) as the worker runs, as "
    "`duragent prune --older-than AGE` does (default: keep every run). SQLite only: on "
    "Temporal the namespace's retention applies.",
)
@click.option(
    "--stream-retention",
    metavar="AGE",
    help="How long a closed run keeps its token stream (what `watch` replays), on both "
    "backends (on Temporal, in the stream store): 7d by default, `forever` to keep every "
    "stream. Afterwards subscribers get each response whole, from history.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default="warning",
    show_default=True,
    help="Logging level of the worker's log on stderr.",
)
@click.option(
    "--agents",
    "with_agents",
    is_flag=True,
    help="Add OpenAIAgentsPlugin() (model calls go to OPENAI_BASE_URL / OPENAI_API_KEY, "
    "else the offline local model) unless the module's PLUGINS has one.",
)
@click.pass_obj
def worker_command(
    state: CliState,
    module: str,
    task_queue: str | None,
    max_concurrent_activities: int,
    max_cached_workflows: int,
    shutdown_grace: float,
    run_retention: str | None,
    stream_retention: str | None,
    log_level: str,
    with_agents: bool,
) -> None:
    """Run a worker for the workflows and activities defined in MODULE.

    MODULE is a dotted module name (importable from the current directory) or a path to a
    .py file. Every @workflow.defn class and @activity.defn function at module level is
    registered, unless the module lists them in WORKFLOWS / ACTIVITIES. Worker plugins come
    from the module's PLUGINS list (e.g. [OpenAIAgentsPlugin(model_provider=...)]), which
    also brings the built-in agent workflows used by `duragent agent run|chat`, and
    activity interceptors from its INTERCEPTORS list (duragent.interceptor). The task
    queue defaults to the module's TASK_QUEUE. Runs until SIGINT or SIGTERM, then shuts
    down gracefully.
    """
    app = load_app(module, require_definitions=not with_agents)
    plugins = list(app.plugins)
    if with_agents and not any(_is_agents_plugin(p) for p in plugins):
        plugins.append(agents_plugin())
    retention = parse_duration(run_retention) if run_retention is not None else None
    streams_kept: timedelta | None = DEFAULT_STREAM_RETENTION
    if stream_retention is not None:
        streams_kept = None if stream_retention == "forever" else parse_duration(stream_retention)
    queue = task_queue or app.task_queue
    if not queue:
        raise ConfigurationError(
            f"no task queue: pass --task-queue or define TASK_QUEUE in {module}"
        )
    logging.basicConfig(
        level=getattr(logging, log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        run(
            _run_worker(
                state,
                app,
                plugins,
                queue,
                max_concurrent_activities,
                max_cached_workflows,
                shutdown_grace,
                retention,
                streams_kept,
            )
        )
    except DuragentError as error:
        if not is_temporal(state.db):
            raise  # the command group reports it
        report_error(str(error))
        _exit_skipping_finalization(1)
    if is_temporal(state.db):
        _exit_skipping_finalization(0)
