"""The examples on Temporal, by changing only the address: the agent crash demo on a dev
server it starts itself (``--temporal``: two workers share the queue, the one that ran the
tool is SIGKILLed, the other finishes), the engine crash demo and the weather agent on the
session's dev server (``--address`` / ``DURAGENT_ADDRESS``)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from examples import interceptors, operations, weather_agent

from ..temporal_server import TemporalServerInfo
from .conftest import check_interceptors_output, check_operations_output, offline_env
from .test_agent_crash_demo import _scripted
from .test_demos import executions, weather_script

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def test_agent_crash_demo_on_a_dev_server_it_starts(
    temporal_server: TemporalServerInfo,  # fails, not skips, in CI when Temporal is missing
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from examples import agent_crash_demo

    _scripted(monkeypatch, "alerts")
    assert agent_crash_demo.main(["--temporal"]) == 0
    out = capfd.readouterr().out
    ui = re.search(r"Temporal UI: (http://127\.0\.0\.1:\d+)\n", out)
    assert ui, out
    assert "worker 2 started" in out and "both poll the queue" in out
    ran = re.search(r"\[worker (\d)\] tool get_weather_alerts\(state=\"CA\"\) -> ", out)
    assert ran, out
    victim = ran.group(1)
    survivor = "2" if victim == "1" else "1"
    assert f"killed worker {victim}" in out
    assert f"[worker {survivor}] model call (Weather Assistant): answers" in out
    assert re.search(r"model calls served from history:\s+1\s", out), out
    assert re.search(r"tokens re-paid:\s+0\n", out), out
    assert f'executions of get_weather_alerts(state="CA"): 1  (by worker {victim})' in out
    assert "Done: the agent finished where it stopped" in out
    assert f"The run in the Temporal UI: {ui.group(1)}/namespaces/default/workflows/" in out


def test_engine_crash_demo_on_temporal(temporal_server: TemporalServerInfo) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "examples.crash_demo", "--address", temporal_server.url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=200,
        check=False,
        env=offline_env(),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "killed with SIGKILL" in out
    # Step 2's attempt died with its worker: retried once Temporal's heartbeat timeout passed.
    assert "completed steps and their attempts: [1, 2, 1, 1]" in out
    assert "workflow completed" in out


async def test_weather_agent_on_temporal(
    temporal_server: TemporalServerInfo,
    monkeypatch: pytest.MonkeyPatch,
    tool_log: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DURAGENT_ADDRESS", temporal_server.url)
    answer = await weather_agent.main("Any weather alerts in CA?", model_provider=weather_script())
    assert answer == "From the tool: 2 active alerts for CA:"
    out = capsys.readouterr().out
    assert '2. tool get_weather_alerts(state="CA") -> 2 active alerts for CA:' in out
    assert re.search(r"model calls: 2 \(\d+ input \+ \d+ output tokens\)", out), out
    assert executions(tool_log) == [("get_weather_alerts", {"state": "CA"})]


async def test_operations_example_on_temporal(
    temporal_server: TemporalServerInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    # In this process: a Python process that ran a temporalio worker is aborted now and
    # then while the interpreter finalizes, after everything ran (temporalio sdk-python
    # #300; the CLI's worker exits around it). The module runs as a script on SQLite in
    # test_examples.py.
    await operations.main_async(temporal_server.url)
    check_operations_output(capsys.readouterr().out)


async def test_interceptors_example_on_temporal(
    temporal_server: TemporalServerInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    interceptors.AUDIT.clear()
    await interceptors.main_async(temporal_server.url)  # in this process, as above
    check_interceptors_output(capsys.readouterr().out)
