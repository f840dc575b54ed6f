"""SIGKILL real agent workers at chosen points; after a restart the agent finishes with the
right output, a model call whose response was recorded is never made again, and a tool whose
completion was recorded is never run again.

Every scenario runs the scripted ``researcher`` agent (model, tool, model, tool, model) or a
variant of it in worker subprocesses (``tests.fixtures.agents_kill_app``). The scripted
model logs each call it really makes, so the tests count model calls across processes;
``usage_report`` must agree: ``repaid_calls`` is 1 only when the kill hit the window between
a model's response and its commit.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from duragent import Client
from duragent.openai_agents import MODEL_ACTIVITY, TOOL_ACTIVITY, UsageReport, usage_report
from tests.fixtures.agents_kill_app import RunAgent

from .agent_workers import TASK_QUEUE, AgentWorkers, agent_workers

pytestmark = pytest.mark.slow

RESEARCHER_CALLS = {"researcher#0": 1, "researcher#1": 1, "researcher#2": 1}


@dataclass
class Outcome:
    """What one scenario left behind, for the assertions."""

    results: dict[str, dict[str, Any]]
    model_calls: Counter[str]
    tool_starts: Counter[str]
    tool_ends: Counter[str]
    reports: dict[str, UsageReport]
    attempts: dict[str, dict[str, int]]
    """Workflow id -> activity summary -> attempt recorded in its completion."""


async def _recorded_attempts(client: Client, workflow_id: str) -> dict[str, int]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    scheduled = {
        e.seq: f"{e.summary}#{e.seq}"  # type: ignore[attr-defined]
        for e in history.events
        if e.TYPE == "ActivityTaskScheduled"
    }
    return {
        scheduled[e.seq]: e.attempt  # type: ignore[attr-defined]
        for e in history.events
        if e.TYPE == "ActivityTaskCompleted"
    }


def run_scenario(
    directory: Path, runs: dict[str, str], drive: Callable[[AgentWorkers], None]
) -> Outcome:
    """Start ``runs`` (workflow id -> agent name), let ``drive`` spawn and kill workers,
    wait for every run to finish and collect what happened."""

    async def main() -> Outcome:
        with agent_workers(directory) as workers:
            client = await Client.connect(workers.url)
            try:
                handles = {
                    wf_id: await client.start_workflow(
                        RunAgent.run, args=[agent, "go"], id=wf_id, task_queue=TASK_QUEUE
                    )
                    for wf_id, agent in runs.items()
                }
                drive(workers)
                results = {wf_id: await h.result(timeout=60) for wf_id, h in handles.items()}
                return Outcome(
                    results=results,
                    model_calls=workers.model_calls(),
                    tool_starts=workers.tool_starts(),
                    tool_ends=workers.tool_ends(),
                    reports={wf_id: await usage_report(client, wf_id) for wf_id in runs},
                    attempts={wf_id: await _recorded_attempts(client, wf_id) for wf_id in runs},
                )
            finally:
                await client.close()

    return asyncio.run(main())


# ----------------------------------------------------------------------------- scenarios
# Each scenario runs once per module (worker processes take seconds to start); several
# tests look at what it left behind.


@pytest.fixture(scope="module")
def model_response_lost(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """(a) The 2nd model call returned, but the worker died before its result was
    recorded."""

    def drive(w: AgentWorkers) -> None:
        w.expect_crash(w.spawn(f"activity_returned:{MODEL_ACTIVITY}@2"))
        assert w.model_calls() == {"researcher#0": 1, "researcher#1": 1}
        w.spawn()

    return run_scenario(tmp_path_factory.mktemp("a"), {"w": "researcher"}, drive)


@pytest.fixture(scope="module")
def killed_mid_tool(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """(b) SIGKILL while two tools run: an ordinary one (retried) and an at-most-once
    activity (not retried)."""

    def drive(w: AgentWorkers) -> None:
        first = w.spawn()
        w.wait_for_tool("start", "slow_lookup-b")
        w.wait_for_tool("start", "charge_card-9.5")
        w.wait_for_tool("start", "charge_card-7")
        w.wait_for_tool("start", "transfer-ada")
        w.wait_for_tool("start", "slow_note-milk")
        w.kill(first)
        w.marker.touch()
        w.spawn()

    return run_scenario(
        tmp_path_factory.mktemp("b"),
        {
            "slow": "slow_researcher",
            "pay": "payer",
            "careful": "careful_payer",
            "move": "mover",
            "note": "noter",
        },
        drive,
    )


def _between_tool_and_model(extra: tuple[str, ...]) -> Callable[[AgentWorkers], None]:
    def drive(w: AgentWorkers) -> None:
        # Workflow tasks: 1 start, 2 after model call 1, 3 after tool lookup-a (it would
        # schedule model call 2): the worker dies while recording the third.
        w.expect_crash(w.spawn("workflow_task_complete@3", *extra))
        assert w.tool_starts() == {"lookup-a": 1}
        assert w.model_calls() == {"researcher#0": 1}
        w.spawn()

    return drive


@pytest.fixture(scope="module")
def killed_between_tool_and_model(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """(c) The worker dies recording the workflow task that follows a tool call, before the
    next model call. With no cached runs the tool's result was committed on its own."""
    return run_scenario(
        tmp_path_factory.mktemp("c"),
        {"w": "researcher"},
        _between_tool_and_model(("--max-cached-workflows", "0")),
    )


@pytest.fixture(scope="module")
def killed_between_tool_and_model_cached(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """(c') The same kill on a worker that caches the run: a cached run commits an activity's
    result together with the workflow task it triggers, so the result dies with the task."""
    return run_scenario(
        tmp_path_factory.mktemp("c-cached"), {"w": "researcher"}, _between_tool_and_model(())
    )


@pytest.fixture(scope="module")
def killed_mid_replay(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """(d) A worker dies about to run the 2nd tool; the next one must rebuild the run by
    replay and dies half-way through it; a third one finishes."""

    def drive(w: AgentWorkers) -> None:
        w.expect_crash(w.spawn(f"activity_start:{TOOL_ACTIVITY}@2"))
        assert w.tool_starts() == {"lookup-a": 1}  # lookup-b was claimed, never started
        w.expect_crash(w.spawn("mid_replay"))
        w.spawn()

    return run_scenario(tmp_path_factory.mktemp("d"), {"w": "researcher"}, drive)


# ------------------------------------------------------------------------------- tests


def completed_activities(o: Outcome, wf_id: str) -> set[str]:
    """Activities of ``wf_id`` that completed (``summary#seq``)."""
    return set(o.attempts[wf_id])


def test_model_response_lost_before_commit_is_paid_again_once(model_response_lost: Outcome) -> None:
    o = model_response_lost
    assert o.results["w"]["output"] == "value-a | value-b"
    # Only the interrupted call was made twice; the recorded one was served from history.
    assert o.model_calls == {"researcher#0": 1, "researcher#1": 2, "researcher#2": 1}
    assert o.tool_starts == {"lookup-a": 1, "lookup-b": 1}
    report = o.reports["w"]
    assert report.model_calls == 3
    assert report.provider_calls == 4
    assert report.repaid_calls == 1
    assert report.repaid_tokens > 0
    assert report.handovers == 1
    assert o.attempts["w"] == {
        "researcher#1": 1,
        "lookup#2": 1,
        "researcher#3": 2,
        "lookup#4": 1,
        "researcher#5": 1,
    }
    # The recovering worker replayed the first model call from history.
    assert o.results["w"]["model_calls"] == 3
    assert o.results["w"]["served_from_history"] == 1


def test_usage_report_does_not_count_the_repaid_call_as_served(
    model_response_lost: Outcome,
) -> None:
    # The workflow's own tally (replay-aware) says 1: only researcher#0 was replayed.
    assert model_response_lost.reports["w"].served_from_history == 1


def test_tool_killed_mid_call_is_retried_and_no_model_call_repeats(
    killed_mid_tool: Outcome,
) -> None:
    o = killed_mid_tool
    assert o.results["slow"]["output"] == "value-a | slow-value-b"
    # The interrupted attempt is retried (at-least-once); the completed lookup-a is not.
    assert o.tool_starts["lookup-a"] == 1
    assert o.tool_starts["slow_lookup-b"] == 2
    assert o.tool_ends["slow_lookup-b"] == 1
    assert o.attempts["slow"]["slow_lookup#4"] == 2
    for step in range(3):
        assert o.model_calls[f"slow_researcher#{step}"] == 1
    assert o.reports["slow"].repaid_calls == 0
    assert o.reports["slow"].provider_calls == 3


def _assert_not_rerun(o: Outcome, wf_id: str, agent: str, tool: str) -> None:
    assert o.tool_starts[tool] == 1
    assert o.tool_ends[tool] == 0  # the killed attempt never finished...
    # ...and was not run again: the model was told, and answered from that.
    output = o.results[wf_id]["output"]
    name = tool.partition("-")[0]
    assert f"The call to {name} was interrupted by a crash" in output
    assert "not run again" in output
    assert o.model_calls[f"{agent}#0"] == 1
    assert o.model_calls[f"{agent}#1"] == 1
    assert o.reports[wf_id].repaid_calls == 0


def test_at_most_once_tool_interrupted_by_a_kill_is_not_rerun(killed_mid_tool: Outcome) -> None:
    """``activity_as_tool(charge_card, at_most_once=True)``."""
    _assert_not_rerun(killed_mid_tool, "careful", "careful_payer", "charge_card-7")


def test_at_most_once_function_tool_interrupted_by_a_kill_is_not_rerun(
    killed_mid_tool: Outcome,
) -> None:
    """``durable_tool(transfer, at_most_once=True)`` of a ``@function_tool``."""
    _assert_not_rerun(killed_mid_tool, "move", "mover", "transfer-ada")
    # The interruption is recorded as the activity's failure in history, not hidden.
    assert "transfer#2" not in completed_activities(killed_mid_tool, "move")


def test_a_tool_retried_after_a_kill_starts_from_the_recorded_run_context(
    killed_mid_tool: Outcome,
) -> None:
    """The killed attempt had already written into its copy of the context; the retry, in
    another process, gets the context as it was sent, so the note is taken once."""
    o = killed_mid_tool
    assert o.tool_starts["slow_note-milk"] == 2
    assert o.tool_ends["slow_note-milk"] == 1
    assert o.results["note"]["output"] == "noted milk (1 notes)"
    assert o.results["note"]["notes"] == ["milk"]
    assert o.reports["note"].repaid_calls == 0


def test_at_most_once_activity_keeps_its_guarantee_as_a_tool(killed_mid_tool: Outcome) -> None:
    """``activity_as_tool(charge_card)`` of an ``@activity.defn(at_most_once=True)``."""
    _assert_not_rerun(killed_mid_tool, "pay", "payer", "charge_card-9.5")


def test_kill_between_a_tool_call_and_the_next_model_call(
    killed_between_tool_and_model: Outcome,
) -> None:
    o = killed_between_tool_and_model
    assert o.results["w"]["output"] == "value-a | value-b"
    assert o.tool_starts == {"lookup-a": 1, "lookup-b": 1}
    assert o.model_calls == RESEARCHER_CALLS
    assert o.reports["w"].repaid_calls == 0
    assert o.reports["w"].provider_calls == 3
    assert set(o.attempts["w"].values()) == {1}


def test_kill_between_a_tool_call_and_the_next_model_call_on_a_caching_worker(
    killed_between_tool_and_model_cached: Outcome,
) -> None:
    o = killed_between_tool_and_model_cached
    assert o.results["w"]["output"] == "value-a | value-b"
    # The tool returned, but its result was to be committed with the task that died: it is
    # run again (the documented at-least-once window). No model call is repeated.
    assert o.tool_starts == {"lookup-a": 2, "lookup-b": 1}
    assert o.attempts["w"]["lookup#2"] == 2
    assert o.model_calls == RESEARCHER_CALLS
    assert o.reports["w"].repaid_calls == 0


def test_kill_mid_replay(killed_mid_replay: Outcome) -> None:
    o = killed_mid_replay
    assert o.results["w"]["output"] == "value-a | value-b"
    assert o.tool_starts == {"lookup-a": 1, "lookup-b": 1}
    assert o.model_calls == RESEARCHER_CALLS
    report = o.reports["w"]
    assert report.repaid_calls == 0
    assert report.provider_calls == 3
    assert report.handovers >= 1
    # The last worker rebuilt the run from history: both earlier model calls were replayed.
    assert o.results["w"]["served_from_history"] == 2


def test_kill_mid_replay_after_a_lost_model_call(tmp_path: Path) -> None:
    """The same kill with the first crash before the 3rd model call: the replayed history
    then has 16 events and the half-way cut lands right after a workflow task."""

    async def main() -> None:
        with agent_workers(tmp_path) as w:
            client = await Client.connect(w.url)
            try:
                handle = await client.start_workflow(
                    RunAgent.run, args=["researcher", "go"], id="w", task_queue=TASK_QUEUE
                )
                w.expect_crash(w.spawn(f"activity_start:{MODEL_ACTIVITY}@3"))
                replaying = w.spawn("mid_replay")
                deadline = time.monotonic() + 30
                while replaying.poll() is None and time.monotonic() < deadline:
                    failure = (await handle.describe()).task_failure
                    assert failure is None, f"the replaying worker failed the task: {failure}"
                    await asyncio.sleep(0.05)
                w.expect_crash(replaying, timeout=1)
                w.spawn()
                assert (await handle.result(timeout=30))["output"] == "value-a | value-b"
            finally:
                await client.close()

    asyncio.run(main())
