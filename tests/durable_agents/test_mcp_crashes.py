"""SIGKILL real worker processes around durable MCP calls; the test MCP server's own call
log says how many calls it really saw.

The workers run ``tests.fixtures.mcp_app`` through the CLI; each spawns the stdio server
with the secret ``$WEATHER_API_KEY`` from its environment. The exported history (``duragent
export``) and the database file itself must not contain that secret.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from duragent import ApplicationError, Client, WorkflowFailureError
from duragent.openai_agents import MODEL_ACTIVITY
from tests.fixtures.mcp_app import TASK_QUEUE, RunMCPAgent

from .agent_workers import ROOT, AgentWorkers, agent_workers
from .mcp_helpers import SECRET, ServerLog

pytestmark = pytest.mark.slow

APP = "tests.fixtures.mcp_app"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    state = tmp_path / "mcp-state"
    state.mkdir()
    block = tmp_path / "release-payment"
    values = {
        "WEATHER_API_KEY": SECRET,
        "MCP_CALL_LOG": str(tmp_path / "mcp-calls.log"),
        "MCP_STATE_DIR": str(state),
        "MCP_BLOCK_FILE": str(block),
    }
    yield values
    block.touch()  # lets an orphaned server process still blocked in a call finish


def run(
    directory: Path,
    env: dict[str, str],
    agent: str,
    drive: Callable[[AgentWorkers, ServerLog], None],
) -> tuple[str, AgentWorkers]:
    """Start ``agent`` in workflow ``w``, let ``drive`` spawn and kill workers, and return
    the result."""

    async def main() -> tuple[str, AgentWorkers]:
        with agent_workers(directory, APP, env) as workers:
            client = await Client.connect(workers.url)
            try:
                handle = await client.start_workflow(
                    RunMCPAgent.run, args=[agent, "go"], id="w", task_queue=TASK_QUEUE
                )
                await asyncio.to_thread(drive, workers, ServerLog(Path(env["MCP_CALL_LOG"])))
                return await handle.result(timeout=60), workers
            finally:
                await client.close()

    return asyncio.run(main())


def wait_for_call(log: ServerLog, tool: str, timeout: float = 30) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.calls(tool):
            return
        time.sleep(0.01)
    raise AssertionError(f"the server saw no call of {tool} within {timeout}s")


def test_killed_right_after_the_mcp_call_completed(tmp_path: Path, env: dict[str, str]) -> None:
    """The worker dies as the next model call starts: the call's recorded result serves the
    new worker, which never calls the server (nor lists its tools) again."""
    log = ServerLog(Path(env["MCP_CALL_LOG"]))

    def drive(w: AgentWorkers, log: ServerLog) -> None:
        w.expect_crash(w.spawn(f"activity_start:{MODEL_ACTIVITY}@2"))
        assert len(log.calls("get_alerts")) == 1
        w.spawn()

    result, workers = run(tmp_path, env, "forecaster", drive)
    assert result == "Flood watch for CA until 6 PM."
    assert len(log.calls("get_alerts")) == 1
    assert workers.model_calls() == {"forecaster#0": 1, "forecaster#1": 1}
    # The timeline shows the MCP call as a tool call named after the server.
    shown = _cli(workers.db, "show", "w")
    assert "tool weather.get_alerts" in shown
    assert "mcp weather list tools" in shown
    assert "Flood watch for CA" in shown
    exported = _cli(workers.db, "export", "w")
    assert "weather.get_alerts" in exported
    assert "Flood watch for CA" in exported
    # Connection details and the factory's secret stay on the worker.
    assert SECRET not in exported
    assert "mcp_weather_server" not in exported
    stored = _database_bytes(workers.db)
    assert b"Flood watch for CA" in stored  # payloads are stored as plain JSON...
    assert SECRET.encode() not in stored  # ...and the secret is not among them


def test_killed_before_the_result_was_recorded_retries_with_the_same_key(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """The call returned but its worker died before recording it: it runs again (at least
    once), and both requests carry the same idempotency key for the server to deduplicate."""
    log = ServerLog(Path(env["MCP_CALL_LOG"]))

    def drive(w: AgentWorkers, log: ServerLog) -> None:
        w.expect_crash(w.spawn("activity_returned:duragent.mcp.call_tool"))
        w.spawn()

    result, _ = run(tmp_path, env, "forecaster", drive)
    assert result == "Flood watch for CA until 6 PM."
    calls = log.calls("get_alerts")
    assert len(calls) == 2
    assert calls[0]["key"] == calls[1]["key"]


def test_an_interrupted_at_most_once_call_is_not_repeated(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """``send_payment`` is at-most-once (``per_tool``): killed mid-call, it is not sent again,
    and the model is told it may or may not have taken effect."""
    log = ServerLog(Path(env["MCP_CALL_LOG"]))

    def drive(w: AgentWorkers, log: ServerLog) -> None:
        first = w.spawn()
        wait_for_call(log, "send_payment")
        w.kill(first)
        w.spawn()

    result, _ = run(tmp_path, env, "payer", drive)
    assert "weather.send_payment was interrupted" in result
    assert "may or may not have taken effect" in result
    assert len(log.calls("send_payment")) == 1


def _cli(db: Path, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "duragent", "--db", f"sqlite:///{db}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    return proc.stdout


def _database_bytes(db: Path) -> bytes:
    data: list[Any] = []
    for path in (db, db.with_name(db.name + "-wal")):
        if path.exists():
            data.append(path.read_bytes())
    return b"".join(data)


def test_a_stateful_session_lost_with_its_worker_fails_the_run_clearly(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """The run's session (``places`` is stateful) lived in the worker that died: the new
    worker does not reconnect behind the run's back; the run fails with MCPSessionLost."""
    log = ServerLog(Path(env["MCP_CALL_LOG"]))

    def drive(w: AgentWorkers, log: ServerLog) -> None:
        w.expect_crash(w.spawn(f"activity_start:{MODEL_ACTIVITY}@2"))
        assert [c["tool"] for c in log.calls()] == ["set_location"]
        w.spawn()

    with pytest.raises(WorkflowFailureError) as failed:
        run(tmp_path, env, "locator", drive)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "MCPSessionLost"
    assert "session with server 'places' was lost (the worker holding it died)" in str(cause)
    assert [c["tool"] for c in log.calls()] == ["set_location"]  # get_location never ran
