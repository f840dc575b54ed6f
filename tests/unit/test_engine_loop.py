"""The deterministic loop itself: creation-number hashes, FIFO callbacks, and what escapes a
callback, driven directly (the workflow-level behaviour is in the other engine tests)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from duragent._engine.loop import WorkflowEventLoop, WorkflowTimerHandle


class _Timers:
    def __init__(self) -> None:
        self.started: list[tuple[int, WorkflowTimerHandle]] = []

    def start_timer(self, delay_ms: int, handle: WorkflowTimerHandle) -> None:
        self.started.append((delay_ms, handle))

    def cancel_timer(self, handle: WorkflowTimerHandle) -> None:
        pass


def _run(main: Any) -> tuple[WorkflowEventLoop, Any]:
    loop = WorkflowEventLoop(_Timers())
    box: list[Any] = []

    async def wrapper() -> None:
        box.append(await main(loop))

    loop.create_task(wrapper())
    loop.run_until_idle()
    assert box, "the coroutine did not finish"
    return loop, box[0]


def test_futures_and_tasks_hash_by_creation_number_in_every_way_they_are_made() -> None:
    async def noop() -> None:
        pass

    async def main(loop: WorkflowEventLoop) -> list[int]:
        made: list[Any] = [
            loop.create_future(),
            loop.create_task(noop()),
            asyncio.ensure_future(noop()),
            asyncio.get_running_loop().create_future(),
            asyncio.create_task(noop()),
        ]
        # asyncio.gather makes its outer future itself, not with loop.create_future.
        made.append(asyncio.gather(*made[1:3], *made[4:]))
        await made[-1]
        made.append(asyncio.create_task(noop()))
        return [hash(x) for x in made]

    loop, hashes = _run(main)
    # 1 is the wrapper task; gathers are numbered apart (the others keep the numbers they
    # had before gathers were numbered: runs recorded then replay the same).
    assert hashes == [2, 3, 4, 5, 6, (1 << 40) + 1, 7]
    assert loop.hash_counter == 7


def test_gather_s_future_keeps_its_behaviour_and_other_loops_keep_theirs() -> None:
    gathering: Any = asyncio.tasks._GatheringFuture  # type: ignore[attr-defined]

    async def forever() -> None:
        await asyncio.Event().wait()

    async def main(loop: WorkflowEventLoop) -> tuple[Any, ...]:
        child = loop.create_task(forever())
        outer = asyncio.gather(child, return_exceptions=False)
        await asyncio.sleep(0)
        outer.cancel()  # _GatheringFuture.cancel: cancels the children
        with contextlib.suppress(asyncio.CancelledError):
            await outer
        failing = asyncio.gather(asyncio.sleep(0), _fail())
        with contextlib.suppress(ValueError):
            await failing
        return outer, child, failing

    _, (outer, child, failing) = _run(main)
    assert isinstance(outer, gathering)
    assert child.cancelled()
    assert isinstance(outer.exception(), asyncio.CancelledError)  # as gather does anywhere
    assert isinstance(failing.exception(), ValueError)

    class Own(gathering):
        pass

    async def own(loop: WorkflowEventLoop) -> Any:
        return Own([], loop=loop)

    assert type(_run(own)[1]) is Own  # someone's subclass keeps its own class

    async def elsewhere() -> Any:
        return asyncio.gather(asyncio.sleep(0))

    assert type(asyncio.run(elsewhere())) is gathering  # not changed outside workflows


async def _fail() -> None:
    raise ValueError("fail")


def test_a_task_refused_at_creation_leaves_the_numbering_as_it_was() -> None:
    async def main(loop: WorkflowEventLoop) -> tuple[int, int]:
        with pytest.raises(TypeError):
            loop.create_task(42)  # not a coroutine: Task.__init__ refuses it
        gathered = asyncio.gather(asyncio.sleep(0))  # still numbered as a gather
        await gathered
        return hash(loop.create_future()), hash(gathered)

    _, (future, gathered) = _run(main)
    assert future == 3  # 1: the wrapper task, 2: the task gather made for the sleep
    assert gathered == (1 << 40) + 1


def test_a_set_of_tasks_iterates_in_creation_order_whatever_their_addresses() -> None:
    async def value(i: int) -> int:
        return i

    async def main(loop: WorkflowEventLoop) -> list[int]:
        tasks = [loop.create_task(value(i)) for i in range(50)]
        done, _ = await asyncio.wait(set(reversed(tasks)))
        return [t.result() for t in done]

    _, order = _run(main)
    assert order == list(range(50))


def test_callbacks_run_in_fifo_order_and_a_cancelled_one_does_not_run() -> None:
    seen: list[str] = []

    async def main(loop: WorkflowEventLoop) -> list[str]:
        loop.call_soon(seen.append, "a")
        skipped = loop.call_soon(seen.append, "skipped")
        loop.call_soon(seen.append, "b")
        skipped.cancel()
        assert skipped.cancelled()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return seen

    _, order = _run(main)
    assert order == ["a", "b"]


def test_an_exception_escaping_a_callback_is_reported_and_later_callbacks_still_run() -> None:
    seen: list[str] = []
    boom = ValueError("boom")

    def fail() -> None:
        raise boom

    loop = WorkflowEventLoop(_Timers())
    loop.call_soon(fail)
    loop.call_soon(seen.append, "after")
    loop.run_until_idle()
    assert seen == ["after"]
    assert loop.take_unhandled() == [boom]
    assert loop.take_unhandled() == []

    contexts: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: contexts.append(context))  # pyright: ignore[reportUnknownLambdaType, reportUnknownArgumentType]
    handle = loop.call_soon(fail)
    loop.run_until_idle()
    assert contexts[0]["exception"] is boom
    assert contexts[0]["handle"] is handle
    assert "fail" in contexts[0]["message"]


def test_finished_tasks_are_dropped_from_the_loop_s_task_list() -> None:
    async def noop() -> None:
        pass

    async def main(loop: WorkflowEventLoop) -> int:
        for _ in range(500):
            await loop.create_task(noop())
        waiting = loop.create_task(asyncio.sleep(0))
        tasks = loop.tasks
        assert waiting in tasks
        return len(loop._tasks)  # pyright: ignore[reportPrivateUsage]

    _, kept = _run(main)
    assert kept < 200
