"""The main demo: an AI agent survives a SIGKILL of its worker, and nothing is paid twice.

1. starts the fake weather APIs (everything runs offline) and a worker process running the
   weather agent of :mod:`examples.weather_agent` on a fresh SQLite file;
2. asks the agent a question; every model call and tool call is an activity in history;
3. kills the worker with SIGKILL right after the agent's first tool call completes;
4. starts a new worker process, which replays the history (the model call and the tool call
   already made come from history) and finishes the run where it stopped;
5. prints the timeline and the ledger: model calls made, model calls served from history,
   tokens re-paid (0), and proof from the tool's own log that the completed tool call was
   not executed again.

Run it with ``python3 scripts/demo.py`` (which sets up the environment and the local model
first), or ``python -m examples.agent_crash_demo`` in the project's virtual environment.
With ``OPENAI_API_KEY`` set, the agent uses a real model instead of the local one.

On Temporal (``--temporal``: a local dev server this demo starts and stops; or ``--address
temporal://HOST:PORT/NS``) two worker processes share the task queue from the start (scale-out);
the one that ran the tool call is killed and the other finishes the run. Temporal detects the
dead worker by heartbeat timeouts (``HEARTBEAT_TIMEOUT`` here), not by its pid.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from duragent import Client, WorkflowHandle

from . import demo_support, llm, weather_api
from .demo_support import Step
from .weather_agent import TASK_QUEUE, WeatherAgentWorkflow

ROOT: Final = Path(__file__).resolve().parent.parent
QUESTIONS: Final = (
    "Are there any weather alerts in California?",
    # Asked if the model answers the first without calling a tool (small models do, sometimes).
    "Use the get_weather_alerts tool: any weather alerts in CA?",
)
WORKFLOW_ID: Final = "weather-agent-crash-demo"
STEP_TIMEOUT_SECONDS: Final = 240.0
"""Give up if a run makes no progress for this long."""
CLOSED: Final = frozenset(
    {
        "WorkflowExecutionCompleted",
        "WorkflowExecutionFailed",
        "WorkflowExecutionCanceled",
        "WorkflowExecutionTerminated",
    }
)
RULE: Final = "-" * 78
HEARTBEAT_TIMEOUT: Final = "3"
"""On Temporal: seconds after which a dead worker's activities and workflow tasks go to the
other worker (``examples.run_worker --heartbeat-timeout``)."""


class DemoError(Exception):
    """Something went wrong that the demo cannot explain away."""


def section(title: str) -> None:
    print(f"\n{RULE}\n{title}\n{RULE}", flush=True)


def _cli_has_plugins() -> bool:
    """Whether ``duragent worker`` takes the module's PLUGINS (newer CLIs do)."""
    try:
        from duragent.cli.loading import AppDefinitions
    except ImportError:
        return False
    return any(f.name == "plugins" for f in dataclasses.fields(AppDefinitions))


def worker_command(db_url: str) -> list[str]:
    """The command that runs a worker for the weather agent."""
    if demo_support.is_temporal(db_url):
        return [
            *[sys.executable, "-m", "examples.run_worker", "--address", db_url],
            *["--heartbeat-timeout", HEARTBEAT_TIMEOUT, "examples.weather_agent"],
        ]
    if _cli_has_plugins():
        return [
            sys.executable,
            "-m",
            "duragent",
            "--db",
            db_url,
            "worker",
            "examples.weather_agent",
        ]
    return [sys.executable, "-m", "examples.run_worker", "--db", db_url, "examples.weather_agent"]


@dataclasses.dataclass
class WorkerProcess:
    """A worker process and the file its output goes to."""

    number: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def label(self) -> str:
        return f"worker {self.number}"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def check_alive(self) -> None:
        code = self.process.poll()
        if code is not None:
            raise DemoError(f"{self.label} exited with code {code}; its output:\n{self.output()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def spawn_worker(number: int, db_url: str, directory: Path, tool_log: Path) -> WorkerProcess:
    """Start a worker process; its tools append every execution to ``tool_log``."""
    log = directory / f"worker-{number}.log"
    env = {**os.environ, "DURAGENT_TOOL_LOG": str(tool_log)}
    with log.open("wb") as out:
        process = subprocess.Popen(
            worker_command(db_url), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    return WorkerProcess(number, process, log)


def pid_of(worker_id: str) -> int | None:
    """The process id inside a worker id (``host-pid-suffix``)."""
    parts = worker_id.rsplit("-", 2)
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


class Watcher:
    """Follows a run's history and prints each model and tool call as it completes."""

    def __init__(self, handle: WorkflowHandle[Any], workers: list[WorkerProcess]) -> None:
        self.handle = handle
        self.workers = workers
        self.printed: set[int] = set()
        self.started = time.monotonic()

    def who(self, worker_id: str) -> str:
        pid = pid_of(worker_id)
        for w in self.workers:
            if w.pid == pid:
                return w.label
        return worker_id or "?"

    async def follow(self, current: Sequence[WorkerProcess], *, stop_at_tool: bool) -> Step | None:
        """Print completions until a tool call completes (``stop_at_tool``; returns it) or the
        run closes (returns None)."""
        last_progress = time.monotonic()
        while True:
            history = await self.handle.fetch_history()
            for step in demo_support.steps_of(history.events):
                if not step.completed or step.seq in self.printed:
                    continue
                self.printed.add(step.seq)
                last_progress = time.monotonic()
                elapsed = time.monotonic() - self.started
                retry = f"  (attempt {step.attempt})" if step.attempt > 1 else ""
                print(
                    f"  {elapsed:5.1f}s  [{self.who(step.worker)}] "
                    f"{demo_support.describe_step(step)}{retry}",
                    flush=True,
                )
                if stop_at_tool and step.kind == "tool":
                    return step
            if history.events and history.events[-1].TYPE in CLOSED:
                return None
            for w in current:
                w.check_alive()
            if time.monotonic() - last_progress > STEP_TIMEOUT_SECONDS:
                outputs = "\n".join(f"{w.label}'s output:\n{w.output()}" for w in current)
                raise DemoError(f"no progress for {STEP_TIMEOUT_SECONDS:.0f}s; {outputs}")
            await asyncio.sleep(0.02)


def print_cli(db_url: str, *args: str) -> None:
    """Run a ``duragent`` CLI command and show its output."""
    print(f"$ duragent {' '.join(args)}", flush=True)
    subprocess.run(
        [sys.executable, "-m", "duragent", "--address", db_url, *args],
        cwd=ROOT,
        check=False,
        env={**os.environ, "COLUMNS": os.environ.get("COLUMNS", "120")},
    )
    sys.stdout.flush()


async def ledger(
    client: Client,
    handle: WorkflowHandle[Any],
    crashed_step: Step,
    served: set[int],
    workers: Sequence[WorkerProcess],
    tool_log: Path,
    api_requests: int,
) -> bool:
    """Print what the crash cost; True if nothing completed was done twice. ``served`` are
    the model calls recorded before the crash (the run went on from their recorded results)."""
    from duragent.openai_agents import usage_report

    report = await usage_report(client, handle.id)
    entries = report.ledger
    made = ", ".join(
        f"{w.label}: {sum(1 for e in entries if pid_of(e.worker) == w.pid)}" for w in workers
    )
    served_tokens = sum(c.total_tokens for c in report.calls if c.seq in served)
    executions = [
        e
        for e in weather_api.read_tool_log(tool_log)
        if e.tool == crashed_step.name and e.arguments == crashed_step.arguments
    ]
    runs_by = ", ".join(
        next((w.label for w in workers if w.pid == e.pid), f"pid {e.pid}") for e in executions
    )
    call = f"{crashed_step.name}({demo_support.format_arguments(crashed_step.arguments)})"
    print(f"  model calls in the run's history:   {report.model_calls}")
    print(f"  model calls made (provider calls):  {report.provider_calls}  ({made})")
    print(
        f"  model calls served from history:    {len(served)}  ({served_tokens} tokens "
        "not paid for again after the crash)"
    )
    print(f"  tokens re-paid:                     {report.repaid_tokens}")
    print(f"  executions of {call}: {len(executions)}  (by {runs_by or 'nobody'})")
    print(f"  requests the fake weather APIs served: {api_requests}")
    ok = report.repaid_tokens == 0 and len(executions) == 1
    if len(executions) == 1:
        print(
            "\n  The tool call that completed before the crash ran exactly once: the new worker "
            "took\n  its result from history instead of calling the weather API again."
        )
    else:
        print(f"\n  UNEXPECTED: {call} ran {len(executions)} times.")
    if report.repaid_tokens:
        print(
            "  Some tokens were re-paid: the crash hit the instant between a model response "
            "and its commit to history."
        )
    return ok


async def start_run(client: Client, workflow_id: str, question: str) -> WorkflowHandle[str]:
    print(f'  asking the agent: "{question}"  (workflow id {workflow_id})', flush=True)
    return await client.start_workflow(
        WeatherAgentWorkflow.run, question, id=workflow_id, task_queue=TASK_QUEUE
    )


async def run_demo(
    db_url: str, directory: Path, server: Any, temporal: Any = None, *, keep_open: bool = False
) -> int:
    """The demo on ``db_url``; ``temporal`` is the dev server it runs on, if it started one."""
    on_temporal = demo_support.is_temporal(db_url)
    tool_log = directory / "tool-executions.log"
    client = await Client.connect(db_url)
    workers: list[WorkerProcess] = []
    try:
        section("1. Start " + ("two workers" if on_temporal else "a worker") + " and ask the agent")
        if temporal is not None:
            print(f"  Temporal: local dev server {temporal.url}, started by this demo")
            print(f"  Temporal UI: {temporal.ui_url}")
        elif on_temporal:
            print(f"  Temporal: {db_url}")
        else:
            print(f"  store:  {db_url.removeprefix('sqlite:///')}")
        print(f"  model:  {llm.describe()}")
        print(f"  APIs:   fake weather APIs on {server.base_url} (offline)")
        first = spawn_worker(1, db_url, directory, tool_log)
        workers.append(first)
        command = " ".join(["python", *worker_command(db_url)[1:]])
        print(f"  worker 1 started (pid {first.pid}): {command}")
        if on_temporal:
            other = spawn_worker(2, db_url, directory, tool_log)
            workers.append(other)
            print(f"  worker 2 started (pid {other.pid}): the same command; both poll the queue")

        crashed: Step | None = None
        handle: WorkflowHandle[str] | None = None
        watcher: Watcher | None = None
        suffix = f"-{uuid.uuid4().hex[:6]}" if on_temporal else ""  # a server may be shared
        for attempt, question in enumerate(QUESTIONS):
            workflow_id = WORKFLOW_ID if attempt == 0 else f"{WORKFLOW_ID}-{attempt + 1}"
            handle = await start_run(client, workflow_id + suffix, question)
            watcher = Watcher(handle, workers)
            crashed = await watcher.follow(workers, stop_at_tool=True)
            if crashed is not None:
                break
            answer = await handle.result()
            print(f'  the model answered without calling a tool: "{answer}"')
            if attempt + 1 < len(QUESTIONS):
                print("  (small models sometimes do) asking again, more explicitly:")
        if crashed is None or handle is None or watcher is None:
            print(
                "\n  The model never called a tool, so there was no tool call to crash after. "
                "Nothing was lost either: the run completed normally. Try a real model "
                "(set OPENAI_API_KEY) to see the crash and the recovery."
            )
            return 0

        # Kill the worker that ran the tool call (on Temporal either may have).
        victim = next((w for w in workers if w.pid == pid_of(crashed.worker)), first)
        section(f"2. SIGKILL {victim.label}, which ran the tool call, right after it completed")
        os.kill(victim.pid, signal.SIGKILL)
        victim.process.wait()
        where = "on the Temporal server" if on_temporal else "in SQLite"
        print(
            f"  killed {victim.label} (pid {victim.pid}) with SIGKILL: no cleanup, no goodbye. "
            f"Its in-memory state is gone;\n  the run's history {where} holds every completed "
            "step:"
        )
        events = (await handle.fetch_history()).events
        demo_support.print_steps(events, indent="    ")
        served = {s.seq for s in demo_support.steps_of(events) if s.kind == "model" and s.completed}

        if on_temporal:
            survivor = next(w for w in workers if w is not victim)
            section(f"3. {survivor.label} carries on with the run")
            print(
                f"  Temporal gives the dead worker's work to {survivor.label} once its heartbeat "
                f"timeout ({HEARTBEAT_TIMEOUT} s) passes;\n  completed model and tool calls "
                "are served from history, not made again:"
            )
        else:
            survivor = spawn_worker(2, db_url, directory, tool_log)
            workers.append(survivor)
            section("3. Start a new worker: it resumes the run where it stopped")
            print(
                f"  worker 2 started (pid {survivor.pid}). It sees worker 1 is dead, replays "
                "the history\n  (completed model and tool calls are served from history, not "
                "made again) and carries on:"
            )
        await watcher.follow([survivor], stop_at_tool=False)
        answer = await handle.result()
        print(f'\n  answer: "{answer}"')

        section(f"4. The timeline (duragent show {handle.id})")
        print_cli(db_url, "show", handle.id)

        section("5. The ledger: what the crash cost")
        ok = await ledger(client, handle, crashed, served, workers, tool_log, server.count())
        survivor.stop()
        if ok:
            print(
                "\nDone: the agent finished where it stopped, and nothing completed was done twice."
            )
        if temporal is not None:
            ui = f"{temporal.ui_url}/namespaces/{temporal.namespace}/workflows/{handle.id}"
            print(f"\nThe run in the Temporal UI: {ui}")
            if keep_open:
                await asyncio.to_thread(input, "Press Enter to stop the Temporal dev server. ")
            else:
                print("(the dev server stops with this demo; --keep-open keeps it until Enter)")
        return 0 if ok else 1
    finally:
        for w in workers:
            w.stop()
        await client.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo (``argv``: its command line; none when called from Python)."""
    parser = argparse.ArgumentParser(description="An AI agent survives a SIGKILL of its worker.")
    parser.add_argument(
        "--temporal",
        action="store_true",
        help="run on a local Temporal dev server that the demo starts and stops "
        "(needs duragent[temporal])",
    )
    parser.add_argument(
        "--keep-open",
        action="store_true",
        help="with --temporal: keep the dev server (and its UI) until Enter is pressed",
    )
    args = demo_support.parse_args(parser, list(argv or []))
    print("Duragent: an AI agent survives a crash of its worker (kill -9), offline.")
    with contextlib.ExitStack() as stack:
        temporal = (
            stack.enter_context(demo_support.temporal_dev_server()) if args.temporal else None
        )
        server = stack.enter_context(demo_support.offline_apis())
        db_url, directory = stack.enter_context(
            demo_support.temporary_store("duragent-agent-demo-")
        )
        try:
            return asyncio.run(
                run_demo(db_url, directory, server, temporal, keep_open=args.keep_open)
            )
        except DemoError as err:
            print(f"\nThe demo failed: {err}", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
