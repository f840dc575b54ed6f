"""Replay and nondeterminism detection."""

from __future__ import annotations

from datetime import timedelta

import pytest

from duragent import NondeterminismError, activity, workflow
from duragent._engine import events as ev

from .history_builder import HistoryBuilder

T = timedelta(seconds=10)


@activity.defn
async def step_a(x: int) -> int:
    raise NotImplementedError


@activity.defn
async def step_b(x: int) -> int:
    raise NotImplementedError


@workflow.defn(name="Pipeline")
class PipelineV1:
    @workflow.run
    async def run(self, x: int) -> int:
        y = await workflow.execute_activity(step_a, x, start_to_close_timeout=T)
        return await workflow.execute_activity(step_a, y, start_to_close_timeout=T)


@workflow.defn(name="Pipeline")
class PipelineChangedActivity:
    @workflow.run
    async def run(self, x: int) -> int:
        y = await workflow.execute_activity(step_a, x, start_to_close_timeout=T)
        return await workflow.execute_activity(step_b, y, start_to_close_timeout=T)


@workflow.defn(name="Pipeline")
class PipelineExtraTimer:
    @workflow.run
    async def run(self, x: int) -> int:
        y = await workflow.execute_activity(step_a, x, start_to_close_timeout=T)
        await workflow.sleep(1)
        return await workflow.execute_activity(step_a, y, start_to_close_timeout=T)


@workflow.defn(name="Pipeline")
class PipelineFewer:
    @workflow.run
    async def run(self, x: int) -> int:
        return x


@workflow.defn(name="Pipeline")
class PipelinePatched:
    @workflow.run
    async def run(self, x: int) -> int:
        y = await workflow.execute_activity(step_a, x, start_to_close_timeout=T)
        if workflow.patched("use-b"):
            return await workflow.execute_activity(step_b, y, start_to_close_timeout=T)
        return await workflow.execute_activity(step_a, y, start_to_close_timeout=T)


def finished_v1() -> HistoryBuilder:
    h = HistoryBuilder(PipelineV1.run, 1)
    h.step()
    h.complete_activity(1, 2)
    h.step()
    h.complete_activity(2, 3)
    h.step()
    return h


def test_replay_of_unchanged_code_reaches_the_same_state() -> None:
    h = finished_v1()
    run = h.replay()
    assert run.closed
    assert run.last_event_id == len(h.events)
    assert run.replayed_activations == 3


def test_changed_activity_type_names_event_expected_and_actual() -> None:
    h = finished_v1()
    with pytest.raises(NondeterminismError) as info:
        h.replay(PipelineChangedActivity.run)
    err = info.value
    scheduled_second = [e for e in h.events if isinstance(e, ev.ActivityTaskScheduled)][1]
    assert err.event_id == scheduled_second.event_id
    assert err.expected == "ScheduleActivity(seq=2, type='step_a')"
    assert err.actual == "ScheduleActivity(seq=2, type='step_b')"
    assert "workflow.patched" in str(err)


def test_extra_command_is_detected() -> None:
    h = finished_v1()
    with pytest.raises(NondeterminismError) as info:
        h.replay(PipelineExtraTimer.run)
    assert "StartTimer" in info.value.actual


def test_missing_command_is_detected() -> None:
    h = finished_v1()
    with pytest.raises(NondeterminismError) as info:
        h.replay(PipelineFewer.run)
    assert info.value.expected.startswith("ScheduleActivity(seq=1")
    assert info.value.actual == "CompleteWorkflow"


def test_patched_keeps_old_runs_on_the_old_path() -> None:
    old = finished_v1()
    old.replay(PipelinePatched.run)  # no error: patched() is False for the old history

    new = HistoryBuilder(PipelinePatched.run, 1)
    new.step()
    new.complete_activity(1, 2)
    commands = new.step()
    assert [c.describe() for c in commands] == [
        "RecordMarker('patch', {'id': 'use-b', 'deprecated': False})",
        "ScheduleActivity(seq=2, type='step_b')",
    ]
    new.complete_activity(2, 3)
    new.step()
    new.replay(PipelinePatched.run)
    # Once every old run is gone the patch is deprecated and then removed: the new
    # history still replays without its patch call.
    new.replay(PipelineChangedActivity.run)


def test_incremental_feeding_equals_full_replay() -> None:
    """A cached run is fed only what is new, one committed transaction at a time."""
    h = finished_v1()
    run = h.new_run()
    start = 0
    for i, event in enumerate(h.events):
        if isinstance(event, ev.WorkflowTaskCompleted) and i > start:
            run.feed(h.events[start:i])
            start = i
    run.feed(h.events[start:])
    assert run.closed
    assert run.replayed_activations == 3
