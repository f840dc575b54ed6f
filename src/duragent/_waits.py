"""``workflow.wait`` and ``workflow.as_completed``: ``asyncio.wait`` / ``asyncio.as_completed``
that give the same answer on every replay, on every backend.

``asyncio.wait`` returns *sets*. On the embedded engine every workflow future and task hashes
by its creation number, so iterating those sets is replay-stable there; on Temporal's loop a
task created with ``asyncio.create_task`` hashes by its memory address, so the order of a
``done`` set can differ on replay. These versions return *lists in the order given* (and
``as_completed`` yields in completion order, which history records), so code that uses them
is deterministic on both backends. Re-exported by :mod:`duragent.workflow`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
F = TypeVar("F", bound=asyncio.Future[Any])

__all__ = ["as_completed", "wait"]


async def wait(
    fs: Iterable[F],
    *,
    timeout: float | None = None,
    return_when: str = asyncio.ALL_COMPLETED,
) -> tuple[list[F], list[F]]:
    """Wait for futures or tasks (activity and child handles included) like
    ``asyncio.wait``, returning ``(done, pending)`` as lists in the order of ``fs``.

    Args:
        fs: Futures or tasks (not coroutines).
        timeout: Seconds to wait at most (a durable timer); what is not done by then is
            returned as pending.
        return_when: ``asyncio.FIRST_COMPLETED``, ``FIRST_EXCEPTION`` or ``ALL_COMPLETED``.
    """
    futures = list(fs)
    if not futures:
        raise ValueError("workflow.wait needs at least one future or task")
    if any(asyncio.iscoroutine(f) for f in futures):
        raise TypeError("workflow.wait takes futures or tasks; wrap coroutines in tasks first")
    if return_when not in (asyncio.FIRST_COMPLETED, asyncio.FIRST_EXCEPTION, asyncio.ALL_COMPLETED):
        raise ValueError(f"invalid return_when {return_when!r}")

    def satisfied() -> bool:
        done = [f for f in futures if f.done()]
        if len(done) == len(futures):
            return True
        if return_when == asyncio.FIRST_COMPLETED:
            return bool(done)
        if return_when == asyncio.FIRST_EXCEPTION:
            return any(not f.cancelled() and f.exception() is not None for f in done)
        return False

    if not satisfied():
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_done(_: Any) -> None:
            if not waiter.done() and satisfied():
                waiter.set_result(None)

        for f in futures:
            f.add_done_callback(on_done)
        try:
            if timeout is None:
                await waiter
            else:
                try:
                    async with asyncio.timeout(timeout):
                        await waiter
                except TimeoutError:
                    pass
        finally:
            for f in futures:
                f.remove_done_callback(on_done)
    return [f for f in futures if f.done()], [f for f in futures if not f.done()]


def as_completed(
    fs: Iterable[Awaitable[T]], *, timeout: float | None = None
) -> Iterator[Awaitable[T]]:
    """Like ``asyncio.as_completed``: awaitables that give the results in the order the
    inputs complete (raising ``asyncio.TimeoutError`` past ``timeout``)."""
    loop = asyncio.get_running_loop()
    futures = [asyncio.ensure_future(f) for f in fs]
    completed: deque[asyncio.Future[T] | None] = deque()
    wakeup: list[asyncio.Future[None]] = []

    def arrived(f: asyncio.Future[T] | None) -> None:
        completed.append(f)
        while wakeup:
            w = wakeup.pop(0)
            if not w.done():
                w.set_result(None)

    for f in futures:
        f.add_done_callback(arrived)
    timer = loop.call_later(timeout, arrived, None) if timeout is not None and futures else None

    async def next_result() -> T:
        while not completed:
            w: asyncio.Future[None] = loop.create_future()
            wakeup.append(w)
            await w
        f = completed.popleft()
        if f is None:
            raise TimeoutError
        if timer is not None and len(completed) == 0 and all(x.done() for x in futures):
            timer.cancel()
        return f.result()

    for _ in futures:
        yield next_result()
