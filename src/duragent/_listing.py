"""What :meth:`~duragent.Client.list_workflows` and :meth:`~duragent.Client.count_workflows`
return: the runs a filter selects, read a page at a time, both as Duragent code awaits them
(a list) and as Temporal code iterates them (``async for``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from dataclasses import dataclass, field
from typing import Final

from ._backend.records import RunPage
from ._handles import WorkflowExecution

__all__ = ["WorkflowExecutionAsyncIterator", "WorkflowExecutionCount"]

DEFAULT_LIST_LIMIT: Final = 100
"""Runs an awaited ``list_workflows()`` returns when no ``limit`` is given."""

ReadPage = Callable[[int, str | None], Awaitable[RunPage]]
"""Reads ``page_size`` runs after the page token (None: the first page)."""


class WorkflowExecutionAsyncIterator:
    """The runs a :meth:`~duragent.Client.list_workflows` call selects, newest first.

    ``await`` it for a list (at most ``limit`` runs, 100 when no limit was given), or
    ``async for`` over it, as with temporalio, for every run it selects (at most ``limit``),
    read ``page_size`` at a time: runs started while it pages never shift or repeat the
    pages that follow.
    """

    def __init__(self, read: ReadPage, *, limit: int | None, page_size: int) -> None:
        self._read = read
        self._limit = limit
        self._page_size = page_size

    def __await__(self) -> Generator[object, None, list[WorkflowExecution]]:
        return self._first().__await__()

    async def _first(self) -> list[WorkflowExecution]:
        limit = DEFAULT_LIST_LIMIT if self._limit is None else self._limit
        page = await self._read(limit, None)
        return [WorkflowExecution._from_record(r) for r in page.runs]  # pyright: ignore[reportPrivateUsage]

    def __aiter__(self) -> AsyncIterator[WorkflowExecution]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[WorkflowExecution]:
        left = self._limit
        token: str | None = None
        while left is None or left > 0:
            size = self._page_size if left is None else min(self._page_size, left)
            page = await self._read(size, token)
            for record in page.runs:
                yield WorkflowExecution._from_record(record)  # pyright: ignore[reportPrivateUsage]
            if left is not None:
                left -= len(page.runs)
            token = page.next_page_token
            if token is None or not page.runs:
                return


@dataclass(frozen=True, slots=True)
class WorkflowExecutionCount:
    """How many runs a :meth:`~duragent.Client.count_workflows` filter selects
    (``groups`` stays empty: ``GROUP BY`` is not supported)."""

    count: int
    groups: tuple[object, ...] = field(default=())
