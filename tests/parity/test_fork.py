"""Fork through the client on both backends: ``Client.fork`` (and ``duragent fork``) copies
the history prefix on the embedded store and starts a cassette fork on Temporal; either
way the calls before the fork point are not made again, and ``Client.diff`` reads both
runs through the backend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from duragent import Client, ForkError, Worker
from duragent.openai_agents import OpenAIAgentsPlugin, usage_report
from duragent.testing.scripted_model import ScriptedModelProvider

from ..cli.conftest import Cli
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


@pytest.fixture
async def fork_worker(
    worker: Callable[..., Worker], provider: ScriptedModelProvider, tool_log: Path
) -> AsyncIterator[Worker]:
    async with worker(
        workflows=[Simple], plugins=[OpenAIAgentsPlugin(model_provider=provider)]
    ) as w:
        yield w


def reset(provider: ScriptedModelProvider, log: Path) -> None:
    assert provider.call_log is not None
    provider.call_log.write_text("")
    log.write_text("")


async def test_client_fork_reuses_the_calls_before_k_and_diff_compares(
    client: Client,
    fork_worker: Worker,
    task_queue: str,
    new_id: Callable[[str], str],
    provider: ScriptedModelProvider,
    tool_log: Path,
) -> None:
    source_id = new_id("src")
    source = await client.start_workflow(
        Simple.run, "weather?", id=source_id, task_queue=task_queue
    )
    assert await source.result() == SOURCE_OUTPUT
    reset(provider, tool_log)

    fork = await client.fork(source_id, 3, model="v2", id=new_id("fork"))
    assert await fork.result() == "v2: sunny and 69.8F."
    assert [c["model"] for c in provider.calls()] == ["v2", "v2"]
    assert tool_log.read_text().splitlines() == ["convert 21.0"]
    diff = await client.diff(source_id, fork.id)
    assert diff.identical_turns == 2 and diff.first_call_change[0] == "model: v1 -> v2"
    assert diff.b.usage.reused_calls == 2
    report = await usage_report(client, fork.id)
    assert report.reused_calls == 2 and report.provider_calls == 2

    # Unchanged, everything recorded: nothing runs, and the diff says so.
    reset(provider, tool_log)
    again = await client.fork(source_id, 1, tools="recorded", models="recorded")
    assert await again.result() == SOURCE_OUTPUT
    assert provider.calls() == [] and tool_log.read_text() == ""
    assert (await client.diff(source_id, again.id)).same_output

    with pytest.raises(ForkError, match="made 4 model calls"):
        await client.fork(source_id, 7)


async def test_duragent_fork_on_the_command_line(
    client: Client,
    address: str,
    fork_worker: Worker,
    task_queue: str,
    new_id: Callable[[str], str],
    provider: ScriptedModelProvider,
) -> None:
    source_id, fork_id = new_id("src"), new_id("fork")
    source = await client.start_workflow(
        Simple.run, "weather?", id=source_id, task_queue=task_queue
    )
    assert await source.result() == SOURCE_OUTPUT

    # The CLI runs its own event loop: in a thread, next to this test's worker.
    cli = Cli(address)
    args = ("fork", source_id, "--at-turn", "3", "--model", "v2", "--id", fork_id, "--wait")
    forked = await asyncio.to_thread(cli.ok, *args)
    assert "v2: sunny and 69.8F." in forked.stdout
    shown = (await asyncio.to_thread(cli.ok, "show", fork_id)).stdout
    assert "forked from" in shown and "at model call 3; model v2" in shown
    diff = await asyncio.to_thread(cli.json, "diff", source_id, fork_id, "--json")
    assert diff["identical_turns"] == 2 and diff["b"]["usage"]["reused_calls"] == 2
