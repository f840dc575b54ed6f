"""Forks on Temporal (cassette mode): the source's calls before the fork point are served
from the recording carried in the fork's memo, the same results as on the embedded store."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from duragent import ForkError
from duragent.openai_agents import OpenAIAgentsPlugin
from duragent.temporal.fork import start_fork
from duragent.temporal.history import translate_history
from duragent.testing.scripted_model import ScriptedModelProvider
from duragent.views.diff import diff_histories

from ..durable_agents.fork_app import SCRIPTS, Simple

pytestmark = pytest.mark.timeout(120)
SOURCE_OUTPUT = "Paris and Rome are sunny, 68F."


@pytest.fixture
def tool_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "tools.log"
    monkeypatch.setenv("DURAGENT_TEST_LOG", str(path))
    return path


@pytest.fixture
def provider(tmp_path: Path) -> ScriptedModelProvider:
    return ScriptedModelProvider(SCRIPTS, call_log=tmp_path / "calls.log")


@pytest.fixture(params=[1000, 0], ids=["cached", "replay-every-task"])
async def fork_worker(
    request: pytest.FixtureRequest,
    temporal_worker: Callable[..., AbstractAsyncContextManager[Any]],
    provider: ScriptedModelProvider,
    tool_log: Path,
) -> AsyncIterator[Any]:
    async with temporal_worker(
        workflows=[Simple],
        plugins=[OpenAIAgentsPlugin(model_provider=provider)],
        max_cached_workflows=request.param,
    ) as worker:
        yield worker


def reset(provider: ScriptedModelProvider, log: Path) -> None:
    assert provider.call_log is not None
    provider.call_log.write_text("")
    log.write_text("")


async def test_a_fork_on_temporal_serves_the_calls_before_k_and_goes_on_live(
    fork_worker: Any, tclient: Any, task_queue: str, provider: ScriptedModelProvider, tool_log: Path
) -> None:
    source_id = f"src-{uuid.uuid4().hex[:8]}"
    source = await tclient.start_workflow(
        "fork.Simple", "weather?", id=source_id, task_queue=task_queue
    )
    assert await source.result() == SOURCE_OUTPUT
    reset(provider, tool_log)

    fork = await start_fork(tclient, source_id, 3, model="v2")
    assert await fork.result() == "v2: sunny and 69.8F."
    assert [c["model"] for c in provider.calls()] == ["v2", "v2"]
    assert tool_log.read_text().splitlines() == ["convert 21.0"]
    # The recorded request of call 3 names the new model; calls 1-2 were no activities.
    source_events = translate_history((await source.fetch_history()).events, source_id)
    fork_events = translate_history((await fork.fetch_history()).events, fork.id)
    diff = diff_histories(
        (source_id, source.result_run_id or "", source_events),
        (fork.id, fork.result_run_id or "", fork_events),
    )
    assert diff.identical_turns == 2 and diff.first_call_change[0] == "model: v1 -> v2"
    assert diff.b.usage.reused_calls == 2 and diff.b.usage.model_calls == 4

    reset(provider, tool_log)
    again = await start_fork(tclient, source_id, 1, tools="recorded", models="recorded")
    assert await again.result() == SOURCE_OUTPUT
    assert provider.calls() == [] and tool_log.read_text() == ""
    with pytest.raises(ForkError, match="made 4 model calls"):
        await start_fork(tclient, source_id, 7)
