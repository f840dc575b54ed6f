"""Fork and hermetic replay on the embedded store: scripted agent runs forked at several
model calls onto other scripted models. The provider's call log proves which model calls
were made, the tool log which tools ran, the ledger what was reused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from duragent import Client, ConfigurationError, ForkError, Worker
from duragent._engine import events as ev
from duragent.openai_agents import usage_report
from duragent.openai_agents.workflows import start_agent
from duragent.testing.scripted_model import ScriptedModelProvider

from .conftest import fork_worker
from .fork_app import TASK_QUEUE

HELPER = "tests.durable_agents.fork_app:helper"
SOURCE_OUTPUT = "Paris and Rome are sunny, 68F."


@pytest.fixture
def provider(fork_provider: ScriptedModelProvider) -> ScriptedModelProvider:
    return fork_provider


@pytest.fixture(params=[1000, 0], ids=["cached", "replay-every-task"])
async def worker(
    request: pytest.FixtureRequest, client: Client, provider: ScriptedModelProvider, tool_log: Path
) -> AsyncIterator[Worker]:
    async with fork_worker(client, provider, cache=request.param) as w:
        yield w


def tools_run(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def reset(provider: ScriptedModelProvider, log: Path) -> None:
    assert provider.call_log is not None
    provider.call_log.write_text("")
    log.write_text("")


async def source_run(client: Client, id: str = "src", agent: str = HELPER) -> Any:
    handle = await start_agent(client, agent, "weather?", id=id, task_queue=TASK_QUEUE)
    return await handle.result()


async def history(client: Client, id: str) -> list[ev.Event]:
    return list((await client.get_workflow_handle(id).fetch_history()).events)


@pytest.mark.parametrize("k", [2, 3, 4])
async def test_a_fork_reuses_calls_before_k_and_goes_on_with_another_model(
    client: Client, worker: Worker, provider: ScriptedModelProvider, tool_log: Path, k: int
) -> None:
    assert (await source_run(client)).final_output == SOURCE_OUTPUT
    source = await usage_report(client, "src")
    before = await history(client, "src")
    reset(provider, tool_log)

    fork = await client.fork("src", k, model="v2", id="fork")
    outcome = await fork.result()

    assert outcome["final_output"] == "v2: sunny and 69.8F."
    # No call before k was made again; calls from k on went to v2 only.
    assert [c["model"] for c in provider.calls()] == ["v2", "v2"]
    # No tool before the fork point ran again; v2's convert(20) ran live.
    assert tools_run(tool_log) == ["convert 21.0"]
    report = await usage_report(client, "fork")
    assert report.reused_calls == k - 1
    assert report.reused_tokens == sum(c.total_tokens for c in source.calls[: k - 1])
    assert report.provider_calls == 2
    # The recorded request of call k shows the new model.
    requests = [
        e.input[0].to_json_value()
        for e in await history(client, "fork")
        if isinstance(e, ev.ActivityTaskScheduled) and e.summary == "helper"
    ]
    assert [r["config"]["model"] for r in requests] == ["v1"] * (k - 1) + ["v2", "v2"]
    # The source is untouched.
    assert await history(client, "src") == before
    start = (await history(client, "fork"))[0]
    assert isinstance(start, ev.WorkflowExecutionStarted) and start.fork is not None


async def test_an_unchanged_rerun_with_everything_recorded_costs_nothing(
    client: Client, worker: Worker, provider: ScriptedModelProvider, tool_log: Path
) -> None:
    await source_run(client)
    reset(provider, tool_log)
    fork = await client.fork("src", 1, tools="recorded", models="recorded", id="again")
    assert (await fork.result())["final_output"] == SOURCE_OUTPUT
    assert provider.calls() == []
    assert tools_run(tool_log) == []
    diff = await client.diff("src", "again")
    assert diff.identical and diff.first_divergence is None
    report = await usage_report(client, "again")
    assert report.provider_calls == 0 and report.reused_calls == 4

    # A fork of the fork (its own overrides inherited) reruns for nothing as well.
    changed = await client.fork("src", 3, model="v2", id="changed")
    await changed.result()
    reset(provider, tool_log)
    again = await client.fork("changed", 4, tools="recorded", models="recorded", id="twice")
    assert (await again.result())["final_output"] == "v2: sunny and 69.8F."
    assert provider.calls() == [] and tools_run(tool_log) == []
    assert (await client.diff("changed", "twice")).identical


@pytest.mark.parametrize(
    ("unmatched", "berlin_ran", "output"),
    [
        ("live", True, "v3: Berlin and Paris."),
        ("dry_run", False, "v3: Berlin and Paris."),
        ("fail", False, None),
    ],
)
async def test_recorded_tools_serve_matches_and_apply_the_policy_to_the_others(
    client: Client,
    worker: Worker,
    provider: ScriptedModelProvider,
    tool_log: Path,
    unmatched: str,
    berlin_ran: bool,
    output: str | None,
) -> None:
    await source_run(client)
    reset(provider, tool_log)
    fork = await client.fork(
        "src", 1, model="v3", tools="recorded", unmatched_tools=unmatched, id="dry"
    )
    if output is None:
        with pytest.raises(Exception, match="never recorded"):
            await fork.result()
    else:
        assert (await fork.result())["final_output"] == output
    # get_weather(Paris) was served from the recording; Berlin had no recording.
    assert tools_run(tool_log) == (["get_weather Berlin"] if berlin_ran else [])
    served = [
        e.details
        for e in await history(client, "dry")
        if isinstance(e, ev.MarkerRecorded) and e.name == "duragent.served"
    ]
    hows = {d["how"] for d in served if d["kind"] == "tool"}
    assert "recorded" in hows
    if unmatched != "live":
        assert {"dry_run" if unmatched == "dry_run" else "failed"} <= hows


async def test_at_most_once_tools_never_run_live_in_a_fork_unless_allowed(
    client: Client, worker: Worker, provider: ScriptedModelProvider, tool_log: Path
) -> None:
    payer = "tests.durable_agents.fork_app:payer_agent"
    await source_run(client, "pay", payer)
    assert tools_run(tool_log) == ["pay 5"]
    reset(provider, tool_log)
    # Same call: served from the recording even with live tools.
    same = await client.fork("pay", 1, id="same")
    assert (await same.result())["final_output"] == "paid 5"
    # Another amount: not run.
    refused = await client.fork("pay", 1, model="payer2", id="refused")
    assert (await refused.result())["final_output"] == "tried to pay 7"
    assert tools_run(tool_log) == []
    allowed = await client.fork("pay", 1, model="payer2", allow_side_effects=True, id="ok")
    await allowed.result()
    assert tools_run(tool_log) == ["pay 7"]


async def test_overrides_reach_the_recorded_request_and_only_the_chosen_agent(
    client: Client, worker: Worker, provider: ScriptedModelProvider, tool_log: Path
) -> None:
    await source_run(client)
    fork = await client.fork(
        "src",
        4,
        instructions="Be terse.",
        model_settings={"temperature": 0.1},
        id="terse",
    )
    await fork.result()
    last = [
        e.input[0].to_json_value()["config"]
        for e in await history(client, "terse")
        if isinstance(e, ev.ActivityTaskScheduled) and e.summary == "helper"
    ][-1]
    assert last["system_instructions"] == "Be terse." and last["model"] == "v1"
    assert last["model_settings"]["temperature"] == 0.1
    reset(provider, tool_log)
    other = await client.fork("src", 3, model="v2", agent="somebody else", id="other")
    assert (await other.result())["final_output"] == SOURCE_OUTPUT
    assert [c["model"] for c in provider.calls()] == ["v1", "v1"]


async def test_fork_errors_are_clear_and_create_nothing(client: Client, worker: Worker) -> None:
    await source_run(client)
    with pytest.raises(ForkError, match=r"made 4 model calls; at_model_call must be 1\.\.4"):
        await client.fork("src", 5)
    with pytest.raises(ConfigurationError, match="tools='sometimes' is not a fork mode"):
        await client.fork("src", 1, tools="sometimes")
    assert [e.id for e in await client.list_workflows()] == ["src"]
