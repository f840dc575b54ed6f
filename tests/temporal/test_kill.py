"""SIGKILL on Temporal: a worker process killed right after a model response arrived (its
completion lost) and one killed during an at-most-once tool; another worker finishes the
run. No recorded model call is made again, the lost response is reported as re-paid (the
usage ledger travels in heartbeat details and the completed result), the at-most-once tool
is not re-run and the model is told it may or may not have taken effect."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from duragent import Client
from duragent._engine import events as ev
from duragent.openai_agents import usage_report

from ..durable_agents.test_agent_runs import tool_lines
from ..temporal_server import TemporalServerInfo

# Worker processes took over a minute to start under load.
pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
MODEL = "duragent.openai_agents.invoke_model"


def start_worker(
    server: TemporalServerInfo, task_queue: str, call_log: Path, env: dict[str, str]
) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.temporal.kill_worker", server.url, task_queue, str(call_log)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()


async def wait_for(predicate: Any, what: str) -> None:
    for _ in range(600):
        if predicate():
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


async def start_and_crash(
    server: TemporalServerInfo, client: Client, task_queue: str, call_log: Path, env: dict[str, str]
) -> Any:
    """Start the weather agent's run on a worker whose crash point (``env``) kills it."""
    first = start_worker(server, task_queue, call_log, env)
    try:
        handle = await client.start_workflow(
            "AskAgent",
            args=["weather", "Paris?"],
            id=f"kill-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )
        await asyncio.to_thread(first.wait, 60)
        assert first.returncode == -signal.SIGKILL
    finally:
        stop(first)
    return handle


def model_calls(call_log: Path) -> list[tuple[str, int]]:
    lines = call_log.read_text().splitlines() if call_log.exists() else []
    return [(c["model"], c["step"]) for c in map(json.loads, lines)]


@pytest.fixture
async def client(temporal_server: TemporalServerInfo) -> Any:
    c = await Client.connect(temporal_server.url)
    yield c
    await c.close()


@pytest.fixture
def task_queue() -> str:
    return f"kill-{uuid.uuid4().hex[:10]}"


async def test_worker_killed_after_a_model_response_before_its_completion(
    temporal_server: TemporalServerInfo, client: Client, task_queue: str, tmp_path: Path
) -> None:
    tool_log = tmp_path / "tools.log"
    call_log = tmp_path / "calls.log"
    env = {**os.environ, "DURAGENT_TEST_LOG": str(tool_log)}
    # The first worker dies the moment its second model call has returned (its response
    # arrived and was paid for), before the call's completion reaches Temporal.
    crashing = {**env, "DURAGENT_CRASH_AT": f"activity_returned:{MODEL}@2"}
    handle = await start_and_crash(temporal_server, client, task_queue, call_log, crashing)
    second = start_worker(temporal_server, task_queue, call_log, env)
    try:
        assert await handle.result(timeout=60) == "Sunny in Paris, 69.8F."
    finally:
        stop(second)
    calls = model_calls(call_log)
    # Turn 1 was recorded before the crash and served from history; turn 2 was lost with
    # the worker and made again; turn 3 once.
    assert [step for _, step in calls] == [0, 1, 1, 2]
    assert tool_lines(tool_log) == ["tool get_weather Paris", "tool convert 21.0"]
    report = await usage_report(client, handle.id)
    assert report.model_calls == 3
    assert report.provider_calls == 4
    assert report.repaid_calls == 1 and report.repaid_tokens > 0
    assert report.handovers >= 1 and report.served_from_history >= 1
    lost = [e for e in report.ledger if (e.seq, e.attempt) == (3, 1)]
    assert len(lost) == 1 and lost[0].input_tokens > 0


async def test_worker_killed_during_a_model_call_is_replaced_after_its_heartbeat_timeout(
    temporal_server: TemporalServerInfo, client: Client, task_queue: str, tmp_path: Path
) -> None:
    tool_log = tmp_path / "tools.log"
    call_log = tmp_path / "calls.log"
    # Model calls may take 10 minutes here: only activity_heartbeat_timeout (1 s) can hand
    # the dead worker's call to the other worker in time.
    env = {**os.environ, "DURAGENT_TEST_LOG": str(tool_log), "DURAGENT_TEST_HEARTBEAT": "1"}
    # The first worker dies as its second model call starts: no response has arrived.
    crashing = {**env, "DURAGENT_CRASH_AT": f"activity_start:{MODEL}@2"}
    handle = await start_and_crash(temporal_server, client, task_queue, call_log, crashing)
    second = start_worker(temporal_server, task_queue, call_log, env)
    try:
        assert await handle.result(timeout=60) == "Sunny in Paris, 69.8F."
    finally:
        stop(second)
    # Turn 1 was recorded and served from history; turn 2 had not answered when its worker
    # died, so it was made once, on the second worker (attempt 2); turn 3 once.
    assert [step for _, step in model_calls(call_log)] == [0, 1, 2]
    assert tool_lines(tool_log) == ["tool get_weather Paris", "tool convert 21.0"]
    report = await usage_report(client, handle.id)
    assert (report.model_calls, report.provider_calls) == (3, 3)
    assert report.repaid_calls == 0 and report.repaid_tokens == 0  # nothing was paid twice
    assert report.served_from_history >= 1
    events = (await handle.fetch_history()).events
    retried = [e for e in events if isinstance(e, ev.ActivityTaskCompleted) and e.attempt == 2]
    assert len(retried) == 1


async def test_worker_killed_during_an_at_most_once_tool(
    temporal_server: TemporalServerInfo, client: Client, task_queue: str, tmp_path: Path
) -> None:
    tool_log = tmp_path / "tools.log"
    call_log = tmp_path / "calls.log"
    marker = tmp_path / "release"
    env = {**os.environ, "DURAGENT_TEST_LOG": str(tool_log), "DURAGENT_TEST_BLOCK": str(marker)}
    first = start_worker(temporal_server, task_queue, call_log, env)
    try:
        handle = await client.start_workflow(
            "AskAgent",
            args=["payer", "pay"],
            id=f"kill-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )
        await wait_for(lambda: tool_lines(tool_log) == ["activity charge_card 9.5"], "the tool")
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        stop(first)
    marker.touch()
    second = start_worker(temporal_server, task_queue, call_log, env)
    try:
        assert await handle.result(timeout=60) == "Payment handled."
    finally:
        stop(second)
    assert tool_lines(tool_log) == ["activity charge_card 9.5"]  # not run again
    assert len(model_calls(call_log)) == 2  # each model turn called once
    events = (await handle.fetch_history()).events
    (interrupted,) = [e for e in events if isinstance(e, ev.ActivityTaskFailed)]
    assert interrupted.failure.type == "ActivityAttemptInterrupted"  # detected by its timeout
    last_model_call = [
        e for e in events if isinstance(e, ev.ActivityTaskScheduled) and e.activity_type == MODEL
    ][-1]
    assert "was interrupted by a crash" in last_model_call.input[0].data.decode()
