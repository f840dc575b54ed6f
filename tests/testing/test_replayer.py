"""The Replayer: recorded histories against the same and against changed code."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from duragent import (
    ConfigurationError,
    NondeterminismError,
    SerializationError,
    StoreVersionError,
    Worker,
    WorkflowHistory,
    activity,
    workflow,
)
from duragent.testing import Replayer, ReplayResult, WorkflowEnvironment

T = timedelta(seconds=10)


@activity.defn
async def fetch(x: str) -> str:
    return f"fetched {x}"


@activity.defn
async def summarize(x: str) -> str:
    return f"summary of {x}"


@activity.defn
async def translate(x: str) -> str:
    return f"translation of {x}"


@workflow.defn(name="TwoSteps")
class TwoSteps:
    @workflow.run
    async def run(self, x: str) -> str:
        page = await workflow.execute_activity(fetch, x, start_to_close_timeout=T)
        await workflow.sleep(timedelta(hours=1))
        return await workflow.execute_activity(summarize, page, start_to_close_timeout=T)


@workflow.defn(name="TwoSteps")
class TwoStepsChanged:
    """The same workflow after an incompatible edit: another activity in step two."""

    @workflow.run
    async def run(self, x: str) -> str:
        page = await workflow.execute_activity(fetch, x, start_to_close_timeout=T)
        await workflow.sleep(timedelta(hours=1))
        return await workflow.execute_activity(translate, page, start_to_close_timeout=T)


@workflow.defn(name="TwoSteps")
class TwoStepsPatched:
    """The compatible way to make the same edit."""

    @workflow.run
    async def run(self, x: str) -> str:
        page = await workflow.execute_activity(fetch, x, start_to_close_timeout=T)
        await workflow.sleep(timedelta(hours=1))
        step = translate if workflow.patched("translate") else summarize
        return await workflow.execute_activity(step, page, start_to_close_timeout=T)


@workflow.defn(name="TwoSteps")
class TwoStepsBroken:
    """Code that raises where the recorded run went on."""

    @workflow.run
    async def run(self, x: str) -> str:
        await workflow.execute_activity(fetch, x, start_to_close_timeout=T)
        raise RuntimeError("bug introduced later")


@workflow.defn
class Other:
    @workflow.run
    async def run(self) -> None:
        return None


@pytest.fixture
async def history() -> AsyncIterator[WorkflowHistory]:
    async with await WorkflowEnvironment.start_time_skipping() as env:
        async with Worker(
            env.client, task_queue="q", workflows=[TwoSteps], activities=[fetch, summarize]
        ):
            handle = await env.client.start_workflow(TwoSteps.run, "page", id="two", task_queue="q")
            assert await handle.result(timeout=10) == "summary of fetched page"
        yield await handle.fetch_history()


def scheduled_event_id(history: WorkflowHistory, activity_type: str) -> int:
    return next(
        e.event_id
        for e in history.events
        if e.TYPE == "ActivityTaskScheduled" and getattr(e, "activity_type", "") == activity_type
    )


async def test_json_round_trip_replays_against_the_same_code(history: WorkflowHistory) -> None:
    restored = WorkflowHistory.from_json(history.to_json())
    assert list(restored.events) == list(history.events)
    assert (restored.workflow_id, restored.run_id) == (history.workflow_id, history.run_id)
    result = await Replayer(workflows=[TwoSteps]).replay_workflow(restored)
    assert isinstance(result, ReplayResult)
    assert result.ok and result.replay_failure is None
    assert result.history is restored


async def test_replays_json_text_and_files(history: WorkflowHistory, tmp_path: Path) -> None:
    replayer = Replayer(workflows=[TwoSteps])
    text = history.to_json()
    path = tmp_path / "two.json"
    path.write_text(text)
    for source in (text, text.encode(), path, str(path)):
        result = await replayer.replay_workflow(source)
        assert result.ok
        assert result.history.run_id == history.run_id


async def test_changed_code_raises_nondeterminism_naming_the_event(
    history: WorkflowHistory,
) -> None:
    with pytest.raises(NondeterminismError) as info:
        await Replayer(workflows=[TwoStepsChanged]).replay_workflow(history)
    err = info.value
    assert err.event_id == scheduled_event_id(history, "summarize")
    assert "summarize" in err.expected and "translate" in err.actual
    message = str(err)
    assert f"event {err.event_id}" in message
    assert "summarize" in message and "translate" in message
    assert "workflow.patched" in message


async def test_failure_can_be_returned_instead_of_raised(history: WorkflowHistory) -> None:
    result = await Replayer(workflows=[TwoStepsChanged]).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert not result.ok
    assert isinstance(result.replay_failure, NondeterminismError)
    assert result.history is history


async def test_a_patched_change_replays_old_histories(history: WorkflowHistory) -> None:
    result = await Replayer(workflows=[TwoStepsPatched]).replay_workflow(history)
    assert result.ok


async def test_code_that_now_raises_is_a_replay_failure(history: WorkflowHistory) -> None:
    result = await Replayer(workflows=[TwoStepsBroken]).replay_workflow(
        history, raise_on_replay_failure=False
    )
    failure = result.replay_failure
    assert isinstance(failure, NondeterminismError)
    assert "bug introduced later" in str(failure)
    assert isinstance(failure.__cause__, RuntimeError)
    # The second workflow task (after the first activity) is where the code raised.
    tasks = [e.event_id for e in history.events if e.TYPE == "WorkflowTaskCompleted"]
    assert failure.event_id == tasks[1]


async def test_replay_many(history: WorkflowHistory) -> None:
    replayer = Replayer(workflows=[TwoSteps])
    results = await replayer.replay_workflows([history, history.to_json()])
    assert results.ok and len(results) == 2
    assert all(r.ok for r in results)

    changed = Replayer(workflows=[TwoStepsChanged])
    with pytest.raises(NondeterminismError):
        await changed.replay_workflows([history])
    results = await changed.replay_workflows([history, history], raise_on_replay_failure=False)
    assert not results.ok
    assert set(results.replay_failures) == {history.run_id}


async def test_unknown_workflow_type_names_it_and_the_known_ones(
    history: WorkflowHistory,
) -> None:
    with pytest.raises(ConfigurationError) as info:
        await Replayer(workflows=[Other]).replay_workflow(history)
    message = str(info.value)
    assert "'TwoSteps'" in message and "'Other'" in message


async def test_bad_inputs_are_clear_errors(history: WorkflowHistory) -> None:
    with pytest.raises(ConfigurationError):
        Replayer(workflows=[int])
    with pytest.raises(ConfigurationError):
        Replayer(workflows=[TwoSteps, TwoStepsChanged])
    replayer = Replayer(workflows=[TwoSteps])
    assert replayer.workflow_types == ["TwoSteps"]
    with pytest.raises(SerializationError):
        await replayer.replay_workflow("{not json")
    newer = history.to_dict() | {"version": 99}
    with pytest.raises(StoreVersionError, match="upgrade"):
        await replayer.replay_workflow(json.dumps(newer))
    headless = WorkflowHistory(history.workflow_id, history.run_id, list(history.events)[1:])
    with pytest.raises(SerializationError, match="WorkflowExecutionStarted"):
        await replayer.replay_workflow(headless)
    gap = WorkflowHistory(
        history.workflow_id, history.run_id, [history.events[0], *list(history.events)[2:]]
    )
    with pytest.raises(SerializationError, match="damaged"):
        await replayer.replay_workflow(gap)
