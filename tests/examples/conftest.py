"""Fixtures for the example tests: the fake weather APIs, a tool-execution log, and helpers
for scripted models."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from examples import fake_weather_server

try:
    from duragent.models.local import is_available as _local_model_available
except ImportError:  # pragma: no cover - the local model's package is optional
    LOCAL_MODEL = False
else:
    LOCAL_MODEL = _local_model_available()

requires_local_model = pytest.mark.skipif(
    not LOCAL_MODEL,
    reason="the local model is not installed (scripts/_venv.py: ensure_local_model)",
)


def offline_env() -> dict[str, str]:
    """This process's environment without a remote model (for example subprocesses)."""
    return {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}


@pytest.fixture
def weather_server(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[fake_weather_server.FakeWeatherServer]:
    """The fake weather APIs on a free port, with the tools pointed at them."""
    with fake_weather_server.serving() as server:
        for name, value in fake_weather_server.environment(server.base_url).items():
            monkeypatch.setenv(name, value)
        yield server


@pytest.fixture
def tool_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A file every tool execution is appended to."""
    path = tmp_path / "tools.log"
    monkeypatch.setenv("DURAGENT_TOOL_LOG", str(path))
    return path


@pytest.fixture(autouse=True)
def _offline_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Examples must not reach a remote model from the tests."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def first_user_text(items: list[Any]) -> str:
    """The first user message of a scripted model's input items."""
    for item in items:
        if isinstance(item, dict) and item.get("role") == "user":
            content = item.get("content")
            return content if isinstance(content, str) else str(content)
    return ""


def tool_outputs(items: list[Any]) -> list[str]:
    """The tool results in a scripted model's input items (an MCP tool's content parts
    joined into one text)."""
    outputs: list[str] = []
    for item in items:
        if isinstance(item, dict) and item.get("type") == "function_call_output":
            output = item.get("output")
            if isinstance(output, list):
                output = "".join(str(p.get("text", "")) for p in output if isinstance(p, dict))
            outputs.append(str(output))
    return outputs


def check_operations_output(out: str) -> None:
    """What ``examples.operations`` prints, on either backend."""
    assert "GROUP BY ExecutionStatus)): {'Running': 3, 'Completed': 5}" in out
    listed = re.findall(r"^  (ticket-\d)  started ", out, re.MULTILINE)
    assert sorted(listed) == ["ticket-3", "ticket-4", "ticket-5"]
    assert "Terminated 3 stale tickets." in out
    assert "Runs by status now: {'Completed': 5, 'Terminated': 3}" in out


def check_interceptors_output(out: str) -> None:
    """What ``examples.interceptors`` prints, on either backend."""
    assert "charged" in out  # the house retry policy retried the failed first call
    assert "workflow Checkout got signal confirm" in out
    assert "activity charge attempt 1 failed: the payment API timed out" in out
    assert "activity charge attempt 2 ok" in out
