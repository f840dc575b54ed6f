"""Agent tests run real workers on real SQLite with the scripted model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from duragent import Client, Worker
from duragent.openai_agents import OpenAIAgentsPlugin
from duragent.testing.scripted_model import ScriptedModelProvider

from . import fork_app
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


@pytest.fixture
def fork_provider(call_log: Path) -> ScriptedModelProvider:
    """The scripted models of the fork tests (``fork_app.SCRIPTS``)."""
    return ScriptedModelProvider(fork_app.SCRIPTS, call_log=call_log)


def fork_worker(
    client: Client,
    provider: ScriptedModelProvider,
    *,
    cache: int = 1000,
    workflows: list[type] | None = None,
) -> Worker:
    """A worker for the fork tests' workflows (the built-in agent and chat workflows too)."""
    from duragent.openai_agents.workflows import AgentWorkflow, ChatWorkflow

    return Worker(
        client,
        task_queue=fork_app.TASK_QUEUE,
        workflows=workflows or [AgentWorkflow, ChatWorkflow, *fork_app.WORKFLOWS],
        activities=fork_app.ACTIVITIES,
        max_cached_workflows=cache,
        plugins=[OpenAIAgentsPlugin(model_provider=provider)],
    )
