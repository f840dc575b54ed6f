"""Sets of the futures asyncio's helpers make in a workflow iterate the same way on replay.

``asyncio.wait`` returns sets and ``asyncio.as_completed`` builds one, so the order a
workflow sees depends on the futures' hashes. A future that hashed by its address (as the
outer future of ``asyncio.gather`` did: asyncio constructs it directly, not through
``loop.create_future``) could iterate in another order in a fresh worker, where addresses
differ, and the workflow would schedule its next activities in another order: a
nondeterminism error. Each replay below runs on a heap laid out differently on purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from duragent import activity, workflow
from duragent._engine import commands as cmd

from .history_builder import HistoryBuilder

T = timedelta(seconds=10)
_GatheringFuture: Any = asyncio.tasks._GatheringFuture  # type: ignore[attr-defined]
N = 12


@activity.defn
async def fetch(name: str) -> str:
    raise NotImplementedError


def _start(i: int) -> Awaitable[Any]:
    return workflow.start_activity(fetch, f"g{i}", start_to_close_timeout=T)


async def _in_timeout(i: int) -> Any:
    async with asyncio.timeout(60):
        return await _start(i)


async def _gather(i: int) -> Any:
    return (await asyncio.gather(_start(i)))[0]


def _make(kind: str, i: int, group: asyncio.TaskGroup) -> asyncio.Future[Any]:
    """The ``i``-th future a workflow waits on, made by the asyncio helper ``kind``."""
    made: dict[str, Callable[[], asyncio.Future[Any]]] = {
        "gather": lambda: asyncio.gather(_start(i)),
        "gather of tasks": lambda: asyncio.gather(asyncio.ensure_future(_start(i))),
        "nested gather": lambda: asyncio.gather(_gather(i)),
        "shield": lambda: asyncio.shield(asyncio.gather(_start(i))),
        "wait_for": lambda: asyncio.ensure_future(asyncio.wait_for(_gather(i), 60)),
        "timeout": lambda: asyncio.ensure_future(_in_timeout(i)),
        "task group": lambda: group.create_task(_gather(i)),
    }
    return made[kind]()


def _label(result: Any) -> str:
    return str(result[0] if isinstance(result, list) else result)  # pyright: ignore[reportUnknownArgumentType]


@workflow.defn
class WaitOnSet:
    """Waits on a set of ``N`` futures made by one helper, then schedules one follow-up
    activity per future in the order the ``done`` set iterates (of a type named for it:
    replay checks types, so another order is a nondeterminism error)."""

    @workflow.run
    async def run(self, kind: str) -> list[str]:
        async with asyncio.TaskGroup() as group:
            futures = [_make(kind, i, group) for i in range(N)]
            done, _ = await asyncio.wait(set(futures))
        return list(
            await asyncio.gather(
                *(
                    workflow.execute_activity(
                        f"after-{_label(f.result())}", start_to_close_timeout=T
                    )
                    for f in done
                )
            )
        )


@workflow.defn
class AsCompletedOverDone:
    """``as_completed`` over futures that are all done already: it yields them in the
    order its own set of them iterates."""

    @workflow.run
    async def run(self, kind: str) -> list[str]:
        async with asyncio.TaskGroup() as group:
            futures = [_make(kind, i, group) for i in range(N)]
            await asyncio.wait(futures)
        follow_ups: list[Awaitable[str]] = []
        for next_done in asyncio.as_completed(futures):
            label = _label(await next_done)
            follow_ups.append(workflow.start_activity(f"after-{label}", start_to_close_timeout=T))
        return list(await asyncio.gather(*follow_ups))


@contextlib.contextmanager
def _shuffled_heap(holes: int) -> Iterator[None]:
    """Futures of the size of the ones under test, every other one freed: what runs inside
    gets its futures at other addresses, in another relative order, than before."""
    gc.collect()
    made = _GatheringFuture.__new__
    junk: list[Any] = [made(_GatheringFuture) for _ in range(holes)]
    del junk[::2]
    yield
    del junk


def _live_run(workflow_cls: Any, kind: str) -> tuple[HistoryBuilder, list[str]]:
    """Runs the workflow to its end; returns its history and its follow-ups' types."""
    h = HistoryBuilder(workflow_cls.run, kind)
    first = _scheduled(h.step())
    assert [c.input[0].to_json_value() for c in first] == [f"g{i}" for i in range(N)]
    # All finish in one batch, in reverse: completion order is not what decides below.
    for c in reversed(first):
        h.complete_activity(c.seq, c.input[0].to_json_value())
    follow_ups = _scheduled(h.step())
    for c in follow_ups:
        h.complete_activity(c.seq, "ok")
    h.step()
    assert h.events[-1].TYPE == "WorkflowExecutionCompleted"
    return h, [c.activity_type for c in follow_ups]


def _scheduled(commands: list[cmd.Command]) -> list[cmd.ScheduleActivity]:
    return [c for c in commands if isinstance(c, cmd.ScheduleActivity)]


@pytest.mark.parametrize(
    "kind",
    ["gather", "gather of tasks", "nested gather", "shield", "wait_for", "timeout", "task group"],
)
@pytest.mark.parametrize("workflow_cls", [WaitOnSet, AsCompletedOverDone])
def test_the_order_of_a_set_of_futures_is_the_same_on_another_heap_and_on_replay(
    workflow_cls: Any, kind: str
) -> None:
    h, order = _live_run(workflow_cls, kind)
    assert sorted(order) == sorted(f"after-g{i}" for i in range(N))
    for holes in (7, 40, 133):
        with _shuffled_heap(holes):
            # Another live run (a worker that started afresh) schedules the same order...
            assert _live_run(workflow_cls, kind)[1] == order
            # ...and so does a replay of the first run (after an eviction): no
            # NondeterminismError.
            h.replay()
