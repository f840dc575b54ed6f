"""Agent tests run real workers on real SQLite with the scripted model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from duragent import Client, Worker
from duragent.openai_agents import OpenAIAgentsPlugin
from duragent.testing.scripted_model import ScriptedModelProvider

from .agents_app import ACTIVITIES, SCRIPTS, TASK_QUEUE, WORKFLOWS


@pytest.fixture
def call_log(tmp_path: Path) -> Path:
    return tmp_path / "model-calls.log"


@pytest.fixture
def provider(call_log: Path) -> ScriptedModelProvider:
    return ScriptedModelProvider(SCRIPTS, call_log=call_log)


@pytest.fixture
def tool_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "tools.log"
    monkeypatch.setenv("DURAGENT_TEST_LOG", str(path))
    return path


@pytest.fixture(params=[1000, 0], ids=["cached", "replay-every-task"])
async def worker(
    request: pytest.FixtureRequest, client: Client, provider: ScriptedModelProvider, tool_log: Path
) -> AsyncIterator[Worker]:
    """A worker with the plugin; the second variant evicts after every task, so each task
    replays the whole history (proving replay is deterministic)."""
    async with Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=list(WORKFLOWS),
        activities=list(ACTIVITIES),
        max_cached_workflows=request.param,
        plugins=[OpenAIAgentsPlugin(model_provider=provider)],
    ) as w:
        yield w
