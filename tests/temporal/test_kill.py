"""SIGKILL on Temporal: a worker process killed during an at-most-once tool; another worker
finishes the run; the tool ran once and was not re-run, no recorded model call was made
again, and the model was told the call may or may not have taken effect."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from ..durable_agents.test_agent_runs import tool_lines
from ..temporal_server import TemporalServerInfo

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def start_worker(
    server: TemporalServerInfo, task_queue: str, call_log: Path, env: dict[str, str]
) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.temporal.kill_worker",
            server.address,
            task_queue,
            str(call_log),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


async def wait_for(predicate: Any, what: str) -> None:
    for _ in range(300):
        if predicate():
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


async def test_worker_killed_during_at_most_once_tool(
    temporal_server: TemporalServerInfo, tclient: Any, task_queue: str, tmp_path: Path
) -> None:
    tool_log = tmp_path / "tools.log"
    call_log = tmp_path / "calls.log"
    marker = tmp_path / "release"
    env = {**os.environ, "DURAGENT_TEST_LOG": str(tool_log), "DURAGENT_TEST_BLOCK": str(marker)}
    first = start_worker(temporal_server, task_queue, call_log, env)
    try:
        handle = await tclient.start_workflow(
            "AskAgent",
            args=["payer", "pay"],
            id=f"kill-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )
        await wait_for(lambda: tool_lines(tool_log) == ["activity charge_card 9.5"], "the tool")
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
    marker.touch()
    second = start_worker(temporal_server, task_queue, call_log, env)
    try:
        assert await asyncio.wait_for(handle.result(), 60) == "Payment handled."
    finally:
        second.kill()
        second.wait()
    assert tool_lines(tool_log) == ["activity charge_card 9.5"]  # not run again
    assert len(call_log.read_text().splitlines()) == 2  # each model turn called once
    from temporalio.api.enums.v1 import EventType

    history = await handle.fetch_history()
    kinds = [e.event_type for e in history.events]
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT in kinds  # detected by its timeout
    last_model_call = [
        e.activity_task_scheduled_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ][-1]
    assert b"was interrupted by a crash" in last_model_call.input.payloads[0].data
