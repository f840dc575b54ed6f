"""Helpers for the CLI tests: invoking commands in-process and running real worker processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
from click.testing import CliRunner, Result

from duragent.cli import cli

REPO_ROOT = Path(__file__).resolve().parents[2]
QUEUE = "cli-tests"
STOP_TIMEOUT_S = 20.0  # a graceful stop is quick, but a loaded machine can take seconds to exit


def db_url(path: Path) -> str:
    """``sqlite:///`` URL of an absolute path (four slashes)."""
    return f"sqlite:///{path}"


@dataclass
class Cli:
    """Runs ``duragent --db <url> ...`` in-process and checks no traceback escaped."""

    url: str

    def __call__(
        self, *args: str, env: dict[str, str | None] | None = None, input: str | None = None
    ) -> Result:
        runner = CliRunner()
        full_env: dict[str, str | None] = {
            "COLUMNS": "200",
            "DURAGENT_DB": None,
            "DURAGENT_ADDRESS": None,
            "DURAGENT_TASK_QUEUE": None,
        }
        full_env.update(env or {})
        result = runner.invoke(cli, ["--db", self.url, *args], env=full_env, input=input)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(
                f"duragent {' '.join(args)} raised {result.exception!r}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}"
            ) from result.exception
        return result

    def ok(self, *args: str, input: str | None = None) -> Result:
        """Run and require exit status 0."""
        result = self(*args, input=input)
        assert result.exit_code == 0, (
            f"duragent {' '.join(args)} exited {result.exit_code}\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}"
        )
        return result

    def fail(self, *args: str, input: str | None = None) -> Result:
        """Run and require exit status 1 (a reported error)."""
        result = self(*args, input=input)
        assert result.exit_code == 1, (
            f"duragent {' '.join(args)} exited {result.exit_code}, expected 1\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}"
        )
        return result

    def json(self, *args: str) -> Any:
        """Run with exit status 0 and parse stdout as JSON."""
        return json.loads(self.ok(*args).stdout)

    def wait_for(self, predicate: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
        """Poll ``predicate`` until it holds (fails the test after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.05)


def spawn_worker(
    url: str, module: str, stderr: IO[bytes], *options: str
) -> subprocess.Popen[bytes]:
    """``python -m duragent --db URL worker MODULE [OPTIONS]`` from the repository root."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DURAGENT_")}
    return subprocess.Popen(
        [sys.executable, "-m", "duragent", "--db", url, "worker", module, *options],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )


def stop_worker(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int | None:
    """Send ``sig`` and wait; returns the exit status, or None if it had to be killed."""
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(sig)
    try:
        return proc.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


@pytest.fixture(autouse=True)
def _isolated_imports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Undo what importing a test's app module does to ``sys.path`` and ``sys.modules``."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]


@pytest.fixture
def cli_db(tmp_path: Path) -> Path:
    """A database path that does not exist yet."""
    return tmp_path / "cli.db"


@pytest.fixture
def run_cli(cli_db: Path) -> Cli:
    """The CLI on a fresh database file."""
    return Cli(db_url(cli_db))


@pytest.fixture(scope="module")
def app_cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """The CLI on a database served by a real worker process (``tests.fixtures.cli_app``),
    shared by the tests of a module; the worker must stop cleanly on SIGTERM."""
    directory = tmp_path_factory.mktemp("cli-app")
    url = db_url(directory / "app.db")
    log_path = directory / "worker.log"
    with log_path.open("wb") as log:
        proc = spawn_worker(url, "tests.fixtures.cli_app", log)
        try:
            yield Cli(url)
            assert proc.poll() is None, f"worker died:\n{log_path.read_text()}"
        finally:
            status = stop_worker(proc)
    assert status == 0, f"worker exit status {status}:\n{log_path.read_text()}"
