"""Durable timers: asyncio.sleep, wait_for, wait_condition with timeouts."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from duragent import workflow
from duragent._engine import commands as cmd
from duragent._engine import events as ev
from duragent.errors import ConfigurationError

from .history_builder import HistoryBuilder, kinds


@workflow.defn
class Sleeper:
    @workflow.run
    async def run(self) -> str:
        await asyncio.sleep(60)
        await workflow.sleep(timedelta(days=7))
        return "awake"


def test_sleep_is_a_durable_timer() -> None:
    h = HistoryBuilder(Sleeper.run)
    (timer,) = h.step()
    assert isinstance(timer, cmd.StartTimer)
    assert timer.duration_ms == 60_000
    assert h.step() == []  # nothing happened: still waiting
    h.add(ev.TimerFired, seq=1)
    (week,) = h.step(advance_ms=60_000)
    assert isinstance(week, cmd.StartTimer)
    assert week.duration_ms == 7 * 24 * 3600 * 1000
    h.add(ev.TimerFired, seq=2)
    (done,) = h.step(advance_ms=week.duration_ms)
    assert isinstance(done, cmd.CompleteWorkflow)
    started = next(e for e in h.events if isinstance(e, ev.TimerStarted) and e.seq == 1)
    assert started.fire_at == started.time + 60_000
    h.replay()


@workflow.defn
class Approval:
    def __init__(self) -> None:
        self.approved = False

    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.wait_condition(lambda: self.approved, timeout=timedelta(hours=1))
        except TimeoutError:
            return "timed out"
        return "approved"

    @workflow.signal
    def approve(self) -> None:
        self.approved = True


def test_wait_condition_met_before_timeout_cancels_the_timer() -> None:
    h = HistoryBuilder(Approval.run)
    assert kinds(h.step()) == ["StartTimer(seq=1, duration_ms=3600000)"]
    h.add(ev.WorkflowExecutionSignaled, signal_name="approve")
    assert kinds(h.step()) == ["CancelTimer(seq=1)", "CompleteWorkflow"]
    h.replay()


def test_wait_condition_timeout() -> None:
    h = HistoryBuilder(Approval.run)
    h.step()
    h.add(ev.TimerFired, seq=1)
    (done,) = h.step(advance_ms=3_600_000)
    assert isinstance(done, cmd.CompleteWorkflow)
    assert done.result.to_json_value() == "timed out"


def test_wait_condition_already_true_needs_no_timer() -> None:
    @workflow.defn
    class Already:
        @workflow.run
        async def run(self) -> str:
            await workflow.wait_condition(lambda: True, timeout=timedelta(hours=1))
            return "ok"

    assert kinds(HistoryBuilder(Already.run).step()) == ["CompleteWorkflow"]


def test_wait_for_with_timer_race() -> None:
    @workflow.defn
    class Race:
        @workflow.run
        async def run(self) -> str:
            try:
                await asyncio.wait_for(asyncio.sleep(100), timeout=10)
            except TimeoutError:
                return "timeout won"
            return "sleep won"

    h = HistoryBuilder(Race.run)
    commands = h.step()
    assert sorted(c.describe() for c in commands) == [
        "StartTimer(seq=1, duration_ms=10000)",
        "StartTimer(seq=2, duration_ms=100000)",
    ]
    h.add(ev.TimerFired, seq=1)
    done = h.step(advance_ms=10_000)
    assert kinds(done) == ["CancelTimer(seq=2)", "CompleteWorkflow"]
    h.replay()


def test_io_in_workflow_code_is_refused_clearly() -> None:
    @workflow.defn
    class DoesIO:
        @workflow.run
        async def run(self) -> None:
            await asyncio.get_running_loop().getaddrinfo("example.com", 80)

    h = HistoryBuilder(DoesIO.run)
    h.run.feed(h.events)
    live = h.run.activate(h.time)
    assert live is not None
    assert isinstance(live.failure, ConfigurationError)
    assert "activity" in str(live.failure)


def test_to_thread_in_workflow_code_is_refused() -> None:
    @workflow.defn
    class Threads:
        @workflow.run
        async def run(self) -> None:
            await asyncio.to_thread(print, "hi")

    h = HistoryBuilder(Threads.run)
    h.run.feed(h.events)
    live = h.run.activate(h.time)
    assert live is not None
    with pytest.raises(ConfigurationError):
        raise live.failure  # type: ignore[misc]


def test_wait_condition_predicate_may_call_workflow_functions() -> None:
    @workflow.defn
    class UsesInfo:
        def __init__(self) -> None:
            self.go = False

        @workflow.run
        async def run(self) -> str:
            await workflow.wait_condition(
                lambda: self.go or workflow.info().get_current_history_length() > 100
            )
            return workflow.info().workflow_id

        @workflow.signal
        def start(self) -> None:
            self.go = True

    h = HistoryBuilder(UsesInfo.run)
    assert h.step() == []
    h.add(ev.WorkflowExecutionSignaled, signal_name="start")
    assert kinds(h.step()) == ["CompleteWorkflow"]
