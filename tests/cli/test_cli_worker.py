"""``duragent worker`` as a real process: serves workflows, stops cleanly on a signal."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from .conftest import QUEUE, REPO_ROOT, Cli, db_url, spawn_worker, stop_worker


@pytest.mark.parametrize(
    ("module", "stop_signal"),
    [
        ("tests.fixtures.cli_app", signal.SIGTERM),
        (str(REPO_ROOT / "tests" / "fixtures" / "cli_app.py"), signal.SIGINT),
    ],
    ids=["dotted-sigterm", "path-sigint"],
)
def test_worker_runs_workflows_and_stops_gracefully(
    tmp_path: Path, module: str, stop_signal: int
) -> None:
    url = db_url(tmp_path / "w.db")
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        proc = spawn_worker(url, module, log)
        try:
            cli = Cli(url)
            cli.ok("start", "Greeter", "proc", "--id", "g", "-q", QUEUE)
            result = cli.ok("result", "g", "--timeout", "10")
            assert json.loads(result.stdout) == "Hello, proc!"
            assert proc.poll() is None
            status = stop_worker(proc, stop_signal)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    banner = log_path.read_text()
    assert status == 0, banner
    assert "cli-tests" in banner
    assert "Greeter" in banner
    assert "Flaky" in banner
    assert "flaky" in banner
    assert "not_registered" not in banner
    assert "worker stopped" in banner
