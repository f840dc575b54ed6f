"""What :meth:`~duragent.Client.list_workflows` and :meth:`~duragent.Client.count_workflows`
return: the runs a filter selects, read a page at a time, both as Duragent code awaits them
(a list) and as Temporal code iterates them (``async for``)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Final

from ._backend.records import RunPage
from ._handles import WorkflowExecution
from .errors import ConfigurationError

__all__ = [
    "WorkflowExecutionAsyncIterator",
    "WorkflowExecutionCount",
    "WorkflowExecutionCountAggregationGroup",
    "split_group_by",
]

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
            if token is None:  # (a page may be short, even empty, with more to follow)
                return


@dataclass(frozen=True, slots=True)
class WorkflowExecutionCountAggregationGroup:
    """The runs of one group of a ``GROUP BY ExecutionStatus`` count."""

    count: int
    group_values: Sequence[str]
    """The group's status, as Temporal names it (``["Running"]``)."""


@dataclass(frozen=True, slots=True)
class WorkflowExecutionCount:
    """How many runs a :meth:`~duragent.Client.count_workflows` filter selects, and with
    ``GROUP BY ExecutionStatus`` how many of each status (else ``groups`` is empty)."""

    count: int
    groups: Sequence[WorkflowExecutionCountAggregationGroup] = field(default=())


_GROUP_BY: Final = re.compile(r"(?:^|\s)GROUP\s+BY\s+(\S+)\s*$", re.IGNORECASE)


def split_group_by(query: str | None) -> tuple[str | None, bool]:
    """``query`` without a final ``GROUP BY ExecutionStatus`` (None when nothing is left),
    and whether it had one.

    Raises:
        ConfigurationError: A ``GROUP BY`` of something else.
    """
    if query is None:
        return None, False
    found = _GROUP_BY.search(query)
    if found is None:
        return query, False
    if found.group(1) != "ExecutionStatus":
        raise ConfigurationError(
            f"list filter {query!r}: only GROUP BY ExecutionStatus is supported, not "
            f"GROUP BY {found.group(1)}"
        )
    where = query[: found.start()].strip()
    return where or None, True
