"""Real worker subprocesses for crash tests: spawn, wait for log lines, SIGKILL."""

from __future__ import annotations

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


class Harness:
    """Worker processes on one database, plus the execution log their activities write."""

    def __init__(self, db: Path, log: Path) -> None:
        self.db = db
        self.log = log
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(
        self, crash_at: str | None = None, *, extra: tuple[str, ...] = ()
    ) -> subprocess.Popen[bytes]:
        env = {**os.environ, "DURAGENT_TEST_LOG": str(self.log), "PYTHONUNBUFFERED": "1"}
        env.pop("DURAGENT_CRASH_AT", None)
        if crash_at:
            env["DURAGENT_CRASH_AT"] = crash_at
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "duragent",
                "--db",
                f"sqlite:///{self.db}",
                "worker",
                "tests.fixtures.kill_app",
                *extra,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.procs.append(proc)
        return proc

    def lines(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [line.split() for line in self.log.read_text().splitlines() if line]

    def count(self, event: str, name: str) -> int:
        return sum(1 for p in self.lines() if p[0] == event and p[1] == name)

    def starts(self) -> Counter[str]:
        return Counter(p[1] for p in self.lines() if p[0] == "start")

    def wait_for_line(self, event: str, name: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count(event, name):
                return
            time.sleep(0.01)
        raise AssertionError(f"no '{event} {name}' in the log within {timeout}s: {self.lines()}")

    @staticmethod
    def kill(proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    @staticmethod
    def expect_crash(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
        """Wait for a worker armed with a crash point to SIGKILL itself."""
        code = proc.wait(timeout=timeout)
        stderr = proc.stderr.read().decode() if proc.stderr else ""
        assert code == -signal.SIGKILL, f"worker exited {code}, not by SIGKILL:\n{stderr}"

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            if proc.stderr:
                proc.stderr.close()


@contextmanager
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path / "crash.db", tmp_path / "executions.log")
    try:
        yield h
    finally:
        h.stop_all()
