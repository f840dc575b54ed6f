"""``duragent worker`` as a real process: serves workflows, stops cleanly on a signal."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from .conftest import QUEUE, REPO_ROOT, Cli, db_url, spawn_worker, stop_worker


def _greet(tmp_path: Path, module: str, stop_signal: int, expected: str) -> tuple[int | None, str]:
    """Run ``duragent worker MODULE``, have it greet "proc" (expecting ``expected``), stop
    it with ``stop_signal``: its exit status and its log."""
    url = db_url(tmp_path / "w.db")
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        proc = spawn_worker(url, module, log)
        try:
            cli = Cli(url)
            cli.ok("start", "Greeter", "proc", "--id", "g", "-q", QUEUE)
            result = cli.ok("result", "g", "--timeout", "10")
            assert json.loads(result.stdout) == expected
            assert proc.poll() is None
            status = stop_worker(proc, stop_signal)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return status, log_path.read_text()


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
    status, banner = _greet(tmp_path, module, stop_signal, "Hello, proc!")
    assert status == 0, banner
    assert "cli-tests" in banner
    assert "Greeter" in banner
    assert "Flaky" in banner
    assert "flaky" in banner
    assert "not_registered" not in banner
    assert "worker stopped" in banner


def test_worker_takes_the_module_s_interceptors(tmp_path: Path) -> None:
    """``INTERCEPTORS`` in the module wrap the activities of ``duragent worker``."""
    app = tmp_path / "cli_intercepted_app.py"
    app.write_text(
        "from duragent.interceptor import ActivityInboundInterceptor, Interceptor\n"
        "from tests.fixtures.cli_app import TASK_QUEUE, Greeter, greet\n"
        "\n"
        "class Shouting(ActivityInboundInterceptor):\n"
        "    async def execute_activity(self, input):\n"
        "        input.args = [str(a).upper() for a in input.args]\n"
        "        return await super().execute_activity(input)\n"
        "\n"
        "class Upper(Interceptor):\n"
        "    def intercept_activity(self, next):\n"
        "        return Shouting(next)\n"
        "\n"
        "INTERCEPTORS = [Upper()]\n"
    )
    status, banner = _greet(tmp_path, str(app), signal.SIGTERM, "Hello, PROC!")
    assert status == 0, banner
    assert "interceptors Upper" in banner
