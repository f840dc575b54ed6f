"""Real agent worker subprocesses for the agent crash tests: spawn, wait, SIGKILL, count.

The workers run ``tests.fixtures.agents_kill_app`` through the CLI (``python -m duragent
worker``), which picks up its ``PLUGINS``. The scripted model logs every call it really makes
to ``model.log`` and the tools log every execution to ``tools.log``, so tests can count both
across processes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.fixtures.agents_kill_app"
TASK_QUEUE = "agents-kill"


class AgentWorkers:
    """Worker processes on one database, and the logs they write."""

    def __init__(self, directory: Path, app: str = APP, env: dict[str, str] | None = None) -> None:
        self.app = app
        self.env = dict(env or {})
        self.db = directory / "agents.db"
        self.tool_log = directory / "tools.log"
        self.model_log = directory / "model.log"
        self.marker = directory / "release"
        self.directory = directory
        self.procs: list[subprocess.Popen[bytes]] = []
        self.stderr: dict[int, Path] = {}

    @property
    def url(self) -> str:
        return f"sqlite:///{self.db}"

    def spawn(self, crash_at: str | None = None, *extra: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "DURAGENT_TEST_LOG": str(self.tool_log),
            "DURAGENT_MODEL_LOG": str(self.model_log),
            "DURAGENT_TEST_BLOCK": str(self.marker),
            "PYTHONUNBUFFERED": "1",
            **self.env,
        }
        env.pop("DURAGENT_CRASH_AT", None)
        if crash_at:
            env["DURAGENT_CRASH_AT"] = crash_at
        # stderr goes to a file: a pipe nobody reads could fill up and block the worker.
        log = self.directory / f"worker-{len(self.procs)}.stderr"
        with log.open("wb") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-m", "duragent", "--db", self.url, "worker", self.app, *extra],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        self.procs.append(proc)
        self.stderr[proc.pid] = log
        return proc

    def output(self, proc: subprocess.Popen[bytes]) -> str:
        """The end of a worker's stderr (for failure messages)."""
        log = self.stderr.get(proc.pid)
        return log.read_text(errors="replace")[-3000:] if log and log.exists() else ""

    # -- what happened -------------------------------------------------------------------------

    def tool_events(self) -> list[tuple[str, str]]:
        """``(event, tool-arg)`` per line of the tool log, in order."""
        if not self.tool_log.exists():
            return []
        return [
            (parts[0], parts[1])
            for parts in (line.split() for line in self.tool_log.read_text().splitlines())
            if len(parts) >= 2
        ]

    def tool_starts(self) -> Counter[str]:
        return Counter(name for event, name in self.tool_events() if event == "start")

    def tool_ends(self) -> Counter[str]:
        return Counter(name for event, name in self.tool_events() if event == "end")

    def model_calls(self) -> Counter[str]:
        """``model#step`` -> how many times the model really made that call."""
        if not self.model_log.exists():
            return Counter()
        calls = [json.loads(line) for line in self.model_log.read_text().splitlines() if line]
        return Counter(f"{c['model']}#{c['step']}" for c in calls)

    def wait_for_tool(self, event: str, name: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (event, name) in self.tool_events():
                return
            time.sleep(0.01)
        raise AssertionError(f"no '{event} {name}' within {timeout}s: {self.tool_events()}")

    # -- process control -----------------------------------------------------------------------

    @staticmethod
    def kill(proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def expect_crash(self, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
        """Wait for a worker armed with a crash point to SIGKILL itself."""
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill(proc)
            raise AssertionError(
                f"the worker did not reach its crash point within {timeout}s:\n{self.output(proc)}"
            ) from None
        assert code == -signal.SIGKILL, (
            f"worker exited {code}, not by SIGKILL:\n{self.output(proc)}"
        )

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)


@contextmanager
def agent_workers(
    directory: Path, app: str = APP, env: dict[str, str] | None = None
) -> Iterator[AgentWorkers]:
    workers = AgentWorkers(directory, app, env)
    try:
        yield workers
    finally:
        workers.stop_all()
