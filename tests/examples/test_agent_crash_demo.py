"""The main demo, as a user runs it: an agent's worker process is SIGKILLed after its first
tool call, a new worker finishes the run, and nothing completed is done or paid twice."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import offline_env, requires_local_model

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.local_model
@requires_local_model
@pytest.mark.timeout(300)
def test_agent_crash_demo() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "examples.agent_crash_demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
        env=offline_env(),
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "killed worker 1" in out
    assert re.search(r"\[worker 1\] tool \w+\(.*\) -> ", out), out
    assert re.search(r"\[worker 2\] model call \(Weather Assistant\): answers ", out), out
    # The ledger.
    assert re.search(r"model calls in the run's history:\s+[2-9]", out), out
    assert re.search(r"model calls made \(provider calls\):\s+[2-9]", out), out
    assert re.search(r"model calls served from history:\s+[1-9]", out), out
    assert re.search(r"tokens re-paid:\s+0\n", out), out
    assert re.search(r"executions of \w+\(.*\): 1  \(by worker 1\)", out), out
    # The timeline (duragent show) shows the model call the crash interrupted, retried.
    assert "workflow completed" in out
    assert "Done: the agent finished where it stopped" in out


def _scripted(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    """Run the demo's workers with a scripted model (see ``scripted_worker``)."""
    from examples import agent_crash_demo

    monkeypatch.setattr(
        agent_crash_demo,
        "worker_command",
        lambda db_url: [sys.executable, "-m", "tests.examples.scripted_worker", db_url, mode],
    )
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("mode", "tool"),
    [("alerts", 'get_weather_alerts(state="CA")'), ("ip-first", "get_ip_address()")],
)
def test_agent_crash_demo_with_a_scripted_model(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], mode: str, tool: str
) -> None:
    from examples import agent_crash_demo

    _scripted(monkeypatch, mode)
    assert agent_crash_demo.main() == 0
    out = capfd.readouterr().out
    assert f"[worker 1] tool {tool} -> " in out  # whichever tool came first
    assert "killed worker 1" in out
    assert "[worker 2] model call (Weather Assistant): " in out
    assert re.search(r"model calls served from history:\s+1\s", out), out
    assert re.search(r"tokens re-paid:\s+0\n", out), out
    assert f"executions of {tool}: 1  (by worker 1)" in out
    assert "Done: the agent finished where it stopped" in out


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_agent_crash_demo_when_the_model_calls_no_tool(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    from examples import agent_crash_demo

    _scripted(monkeypatch, "no-tool")
    assert agent_crash_demo.main() == 0
    out = capfd.readouterr().out
    assert out.count("the model answered without calling a tool") == 2  # asked twice
    assert "asking again, more explicitly" in out
    assert "The model never called a tool" in out
    assert "killed worker" not in out
