"""asyncio.gather / wait / as_completed over activities replay identically, because the
completion order is part of history."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

from duragent import activity, workflow
from duragent._engine import commands as cmd

from .history_builder import HistoryBuilder

T = timedelta(seconds=10)


@activity.defn
async def fetch(name: str) -> str:
    raise NotImplementedError


@workflow.defn
class Gather:
    @workflow.run
    async def run(self) -> list[str]:
        return list(
            await asyncio.gather(
                *(workflow.execute_activity(fetch, n, start_to_close_timeout=T) for n in "abc")
            )
        )


@workflow.defn
class FirstCompleted:
    @workflow.run
    async def run(self) -> str:
        tasks = {
            asyncio.ensure_future(workflow.execute_activity(fetch, n, start_to_close_timeout=T))
            for n in "xyz"
        }
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for p in pending:
            p.cancel()
        winner = done.pop().result()
        # A second activity whose input depends on who won: a wrong winner on replay
        # would show up as a different command.
        return await workflow.execute_activity(fetch, f"after-{winner}", start_to_close_timeout=T)


@workflow.defn
class AsCompleted:
    @workflow.run
    async def run(self) -> list[str]:
        order: list[str] = []
        for fut in asyncio.as_completed(
            [workflow.execute_activity(fetch, n, start_to_close_timeout=T) for n in "pqr"]
        ):
            order.append(await fut)
        return order


def test_gather_schedules_all_then_completes_in_order_of_arguments() -> None:
    h = HistoryBuilder(Gather.run)
    assert len(h.step()) == 3
    for seq, value in ((3, "C"), (1, "A"), (2, "B")):
        h.complete_activity(seq, value)
        h.step()
    done = h.events[-1]
    assert done.TYPE == "WorkflowExecutionCompleted"
    h.replay()  # no NondeterminismError


def test_wait_first_completed_replays_the_recorded_winner() -> None:
    h = HistoryBuilder(FirstCompleted.run)
    scheduled = h.step()
    assert len(scheduled) == 3
    seq_of = {
        c.input[0].to_json_value(): c.seq for c in scheduled if isinstance(c, cmd.ScheduleActivity)
    }
    h.complete_activity(seq_of["y"], "Y")  # y wins
    follow_up = h.step()
    assert any(
        isinstance(c, cmd.ScheduleActivity) and c.input[0].to_json_value() == "after-Y"
        for c in follow_up
    )
    # Late completions of the losers and the last activity.
    last = next(c for c in follow_up if isinstance(c, cmd.ScheduleActivity))
    h.complete_activity(seq_of["x"], "X")
    h.complete_activity(last.seq, "done")
    h.step()
    assert h.events[-1].TYPE == "WorkflowExecutionCompleted"
    replayed = h.replay()
    assert replayed.closed


def test_as_completed_replays_in_recorded_completion_order() -> None:
    h = HistoryBuilder(AsCompleted.run)
    h.step()
    for seq, value in ((2, "Q"), (3, "R"), (1, "P")):
        h.complete_activity(seq, value)
        h.step()
    done = h.events[-1]
    assert done.TYPE == "WorkflowExecutionCompleted"
    assert done.result.to_json_value() == ["Q", "R", "P"]  # type: ignore[attr-defined]
    h.replay()


def test_completions_in_one_batch_resolve_in_history_order() -> None:
    h = HistoryBuilder(AsCompleted.run)
    h.step()
    # Two activities finish before the workflow runs again: history order decides.
    h.complete_activity(3, "R")
    h.complete_activity(1, "P")
    h.step()
    h.complete_activity(2, "Q")
    h.step()
    assert h.events[-1].result.to_json_value() == ["R", "P", "Q"]  # type: ignore[attr-defined]
    h.replay()


def test_deterministic_now_random_uuid() -> None:
    seen: list[tuple[datetime, float, uuid.UUID]] = []

    @workflow.defn
    class Det:
        @workflow.run
        async def run(self) -> None:
            seen.append((workflow.now(), workflow.random().random(), workflow.uuid4()))
            await workflow.execute_activity(fetch, "x", start_to_close_timeout=T)
            seen.append((workflow.now(), workflow.random().random(), workflow.uuid4()))

    h = HistoryBuilder(Det.run)
    h.step()
    h.complete_activity(1, "X")
    h.step(advance_ms=5000)
    live = list(seen)
    seen.clear()
    h.replay()
    assert seen == live
    assert (live[1][0] - live[0][0]).total_seconds() == 5.0
    assert live[0][2].version == 4
