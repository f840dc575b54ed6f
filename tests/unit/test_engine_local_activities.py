"""Engine core: local activities. The code asks for them in an activation; the worker
runs them while it holds the task and hands their outcomes back in the same task; the
outcomes are recorded among the task's commands, and replay delivers them at the same
points without asking for them again."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from duragent import ActivityError, ApplicationError, NondeterminismError, activity, workflow
from duragent._engine import commands as cmd
from duragent._engine import events as ev
from duragent._engine.failure import Failure
from duragent.errors import RetryState

from .history_builder import HistoryBuilder, kinds, payload

T = timedelta(seconds=5)


@activity.defn
async def lookup(key: str) -> str:
    raise NotImplementedError


@activity.defn
async def charge(amount: float) -> str:
    raise NotImplementedError


@workflow.defn
class LocalThenRemote:
    @workflow.run
    async def run(self, key: str) -> str:
        value = await workflow.execute_local_activity(lookup, key, start_to_close_timeout=T)
        return await workflow.execute_activity(charge, len(value), start_to_close_timeout=T)


@workflow.defn
class TwoAtOnce:
    @workflow.run
    async def run(self) -> list[str]:
        return list(
            await asyncio.gather(
                workflow.execute_local_activity(lookup, "a", start_to_close_timeout=T),
                workflow.execute_local_activity(lookup, "b", start_to_close_timeout=T),
            )
        )


@workflow.defn
class Catches:
    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.execute_local_activity(lookup, "x", start_to_close_timeout=T)
        except ActivityError as err:
            assert isinstance(err.cause, ApplicationError)
            return f"{err.retry_state} {err.cause.type} {err.failure.cause.stack_trace}"  # type: ignore[union-attr]
        return "no error"


@workflow.defn
class NoLocal:
    @workflow.run
    async def run(self, key: str) -> str:
        return await workflow.execute_activity(charge, 3, start_to_close_timeout=T)


@workflow.defn
class FirstOfTwo:
    @workflow.run
    async def run(self) -> str:
        fast = workflow.start_local_activity(lookup, "fast", start_to_close_timeout=T)
        slow = workflow.start_local_activity(lookup, "slow", start_to_close_timeout=T)
        done, pending = await asyncio.wait([fast, slow], return_when=asyncio.FIRST_COMPLETED)
        for handle in pending:
            handle.cancel()
        return str(next(iter(done)).result())


Outcome = Callable[[cmd.ScheduleLocalActivity], ev.LocalActivityRecorded]


def ok(value: Callable[[cmd.ScheduleLocalActivity], Any]) -> Outcome:
    def outcome(request: cmd.ScheduleLocalActivity) -> ev.LocalActivityRecorded:
        return ev.LocalActivityRecorded(
            event_id=0,
            time=0,
            seq=request.seq,
            activity_type=request.activity_type,
            attempt=request.attempt,
            result=payload(value(request)),
        )

    return outcome


def task(h: HistoryBuilder, outcome: Outcome, *, last_first: bool = False) -> list[str]:
    """One workflow task as a worker runs it: activate, run the local activities it asks
    for (handing their outcomes back in order, or the last asked for first), record."""
    h.run.feed(h.events[h.run.last_event_id :])
    live = h.run.activate(h.time)
    assert live is not None and live.failure is None
    waiting = list(live.local_activities)
    while waiting:
        live = h.run.resolve_local(outcome(waiting.pop() if last_first else waiting.pop(0)))
        assert live.failure is None, live.failure
        waiting.extend(live.local_activities)
    h.add(ev.WorkflowTaskCompleted, processed_through=live.processed_through)
    for c in live.commands:
        h.events.append(cmd.to_event(c, event_id=len(h.events) + 1, time=live.time))
    h.run.feed(h.events[h.run.last_event_id :])
    return kinds(live.commands)


def test_outcome_and_next_commands_are_recorded_in_one_task_and_replay() -> None:
    h = HistoryBuilder(LocalThenRemote.run, "k")
    asked: list[cmd.ScheduleLocalActivity] = []
    recorded = task(h, ok(lambda r: asked.append(r) or "value"))
    assert recorded == [
        "LocalActivity(seq=1, type='lookup')",
        "ScheduleActivity(seq=2, type='charge')",
    ]
    assert [a.input[0].to_json_value() for a in asked] == ["k"]
    assert not any(isinstance(e, ev.ActivityTaskScheduled) and e.seq == 1 for e in h.events)
    h.complete_activity(2, "receipt")
    assert kinds(h.step()) == ["CompleteWorkflow"]
    replayed = h.replay()  # delivers the recorded outcome; asks for nothing to run
    assert replayed.closed


def test_outcomes_replay_in_the_order_they_were_delivered() -> None:
    h = HistoryBuilder(TwoAtOnce.run)
    recorded = task(h, ok(lambda r: r.input[0].to_json_value() * 2), last_first=True)
    # b finished first: its outcome was delivered (and recorded) before a's.
    assert recorded == [
        "LocalActivity(seq=2, type='lookup')",
        "LocalActivity(seq=1, type='lookup')",
        "CompleteWorkflow",
    ]
    complete = h.events[-1]
    assert isinstance(complete, ev.WorkflowExecutionCompleted)
    assert complete.result.to_json_value() == ["aa", "bb"]
    assert h.replay().closed


def test_a_failed_local_activity_raises_activity_error_with_its_record() -> None:
    h = HistoryBuilder(Catches.run)

    def fail(request: cmd.ScheduleLocalActivity) -> ev.LocalActivityRecorded:
        return ev.LocalActivityRecorded(
            event_id=0,
            time=0,
            seq=request.seq,
            activity_type=request.activity_type,
            attempt=3,
            failure=Failure(message="gone", type="NotFound", stack_trace="Traceback: here"),
            retry_state=RetryState.MAXIMUM_ATTEMPTS_REACHED,
        )

    task(h, fail)
    done = h.events[-1]
    assert isinstance(done, ev.WorkflowExecutionCompleted)
    assert done.result.to_json_value() == "MAXIMUM_ATTEMPTS_REACHED NotFound Traceback: here"
    assert h.replay().closed


def test_a_long_backoff_waits_on_a_durable_timer_then_runs_the_next_attempt() -> None:
    h = HistoryBuilder(LocalThenRemote.run, "k")

    def backoff(request: cmd.ScheduleLocalActivity) -> ev.LocalActivityRecorded:
        return ev.LocalActivityRecorded(
            event_id=0,
            time=0,
            seq=request.seq,
            activity_type=request.activity_type,
            attempt=request.attempt,
            failure=Failure(message="busy"),
            backoff_ms=120_000,
        )

    assert task(h, backoff) == [
        "LocalActivity(seq=1, type='lookup')",
        "StartTimer(seq=2, duration_ms=120000)",
    ]
    h.add(ev.TimerFired, seq=2)
    attempts: list[int] = []
    assert task(h, ok(lambda r: attempts.append(r.attempt) or "v")) == [
        "LocalActivity(seq=1, type='lookup')",
        "ScheduleActivity(seq=3, type='charge')",
    ]
    assert attempts == [2]
    assert not h.replay().closed  # replays both tasks without asking to run anything


def test_code_that_no_longer_asks_for_the_local_activity_is_nondeterministic() -> None:
    h = HistoryBuilder(LocalThenRemote.run, "k")
    task(h, ok(lambda r: "v"))
    with pytest.raises(NondeterminismError, match="LocalActivity\\(seq=1, type='lookup'\\)"):
        h.replay(NoLocal)


def test_code_that_newly_asks_for_a_local_activity_is_nondeterministic() -> None:
    h = HistoryBuilder(NoLocal.run, "k")
    h.step()
    asked = r"code asked for ScheduleLocalActivity\(seq=1, type='lookup'\)"
    with pytest.raises(NondeterminismError, match=asked):
        h.replay(LocalThenRemote)


def test_a_local_activity_the_code_cancels_is_reported_and_never_recorded() -> None:
    h = HistoryBuilder(FirstOfTwo.run)
    h.run.feed(h.events)
    live = h.run.activate(h.time)
    assert live is not None
    fast, slow = live.local_activities
    live = h.run.resolve_local(ok(lambda r: "fast done")(fast))
    assert live.cancelled_local == [slow.seq]  # the worker stops it
    assert kinds(live.commands) == ["LocalActivity(seq=1, type='lookup')", "CompleteWorkflow"]
    h.add(ev.WorkflowTaskCompleted, processed_through=live.processed_through)
    for c in live.commands:
        h.events.append(cmd.to_event(c, event_id=len(h.events) + 1, time=live.time))
    assert h.replay().closed
