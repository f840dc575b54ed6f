"""Temporal's list filter on both backends: ``client.list_workflows("...")`` (awaited and
iterated with ``async for``) and ``client.count_workflows("...")`` select the same runs on
the embedded engine as Temporal's server does, and a filter either cannot read is a
``ConfigurationError``. The custom names are registered on the test dev server
(``tests/temporal_server.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from duragent import ApplicationError, Client, ConfigurationError, Worker, workflow

pytestmark = pytest.mark.timeout(120)

Workers = Callable[..., Worker]
Ids = Callable[[str], str]


@workflow.defn
class Job:
    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self, how: str) -> str:
        if how == "fail":
            raise ApplicationError("asked to fail", non_retryable=True)
        if how == "wait":
            await workflow.wait_condition(lambda: self.done)
        return how

    @workflow.signal
    def finish(self) -> None:
        self.done = True


@workflow.defn
class Other:
    @workflow.run
    async def run(self) -> str:
        return "other"


RUNS: dict[str, tuple[str, dict[str, Any]]] = {
    # name: (how it ends, search attributes at start)
    "a": (
        "complete",
        {"Priority": 1, "Tags": ["eu"], "Urgent": True, "Score": 0.25, "CustomerId": "O'Brien"},
    ),
    "b": ("complete", {"Priority": 5, "Tags": ["eu", "vip"], "Urgent": False, "Score": 0.5}),
    "c": ("fail", {"Priority": 9, "Tags": ["us"], "Urgent": True, "Score": 0.75}),
    "d": (
        "wait",
        {"Priority": 3, "Tags": ["us", "vip"], "DueAt": datetime(2026, 12, 24, tzinfo=UTC)},
    ),
    "e": ("wait", {"Priority": 7, "DueAt": datetime(2026, 3, 1, 12, 30, tzinfo=UTC)}),
}

QUERIES: list[tuple[str, set[str]]] = [
    ("ExecutionStatus = 'Running'", {"d", "e"}),
    ("ExecutionStatus = 'Completed' OR ExecutionStatus = 'Failed'", {"a", "b", "c", "other"}),
    ("ExecutionStatus IN ('Failed', 'Running')", {"c", "d", "e"}),
    ("ExecutionStatus != 'Running'", {"a", "b", "c", "other"}),
    ("WorkflowType = 'Other'", {"other"}),
    ("WorkflowType = 'Job' AND Priority >= 5", {"b", "c", "e"}),
    ("Priority BETWEEN 3 AND 7", {"b", "d", "e"}),
    ("Priority < 3 OR Priority > 8", {"a", "c"}),
    ("Priority IN (1, 9)", {"a", "c"}),
    ("Tags = 'vip'", {"b", "d"}),
    ("Tags IN ('us')", {"c", "d"}),
    ("Urgent = true", {"a", "c"}),
    ("Urgent = false", {"b"}),
    ("Score >= 0.5", {"b", "c"}),
    ("DueAt > '2026-06-01T00:00:00Z'", {"d"}),
    ("DueAt BETWEEN '2026-01-01T00:00:00Z' AND '2026-12-31T00:00:00Z'", {"d", "e"}),
    ("(Priority = 1 OR Priority = 9) AND Urgent = true", {"a", "c"}),
    ("Priority = 1 OR Priority = 9 AND Urgent = false", {"a"}),  # AND binds tighter
    ("CustomerId = 'O\\'Brien'", {"a"}),  # a quote escaped by a backslash
    ("CustomerId = 'O''Brien'", {"a"}),  # or doubled
    ('CustomerId = "O\'Brien"', {"a"}),
    ("StartTime > '2020-01-01T00:00:00Z'", {*RUNS, "other"}),
    # (Temporal's visibility shows a history length of 0 until a run closes.)
    ("HistoryLength > 2 AND ExecutionStatus = 'Completed'", {"a", "b", "other"}),
    ("CloseTime > '2020-01-01T00:00:00Z'", {"a", "b", "c", "other"}),
]
"""Each filter (scoped to this test's runs by their id prefix) and the runs it selects."""


async def _eventually(client: Client, query: str, expected: set[str], prefix: str) -> set[str]:
    """The runs ``query`` selects, waiting out Temporal's visibility lag."""
    got: set[str] = set()
    for _ in range(100):
        listed = await client.list_workflows(query, limit=100)
        got = {w.id.removeprefix(prefix) for w in listed}
        if got == expected:
            return got
        await asyncio.sleep(0.1)
    return got


async def test_list_filters_select_the_same_runs(
    client: Client, worker: Workers, task_queue: str, new_id: Ids
) -> None:
    prefix = new_id("lf") + "-"
    scope = f"WorkflowId STARTS_WITH '{prefix}'"
    async with worker(workflows=[Job, Other]):
        handles = {
            name: await client.start_workflow(
                Job.run,
                how,
                id=prefix + name,
                task_queue=task_queue,
                search_attributes=attributes,
            )
            for name, (how, attributes) in RUNS.items()
        }
        await client.execute_workflow(Other.run, id=prefix + "other", task_queue=task_queue)
        for name, (how, _) in RUNS.items():
            if how == "complete":
                await handles[name].result()
            elif how == "fail":
                with pytest.raises(Exception, match="asked to fail"):
                    await handles[name].result()
        for query, expected in QUERIES:
            scoped = f"{scope} AND ({query})"
            assert await _eventually(client, scoped, expected, prefix) == expected, query
            assert (await client.count_workflows(scoped)).count == len(expected), query
        # Iterated as temporalio's iterator is, a page at a time, and up to a limit.
        everything = [w.id async for w in client.list_workflows(scope, page_size=2)]
        assert sorted(everything) == sorted(prefix + n for n in (*RUNS, "other"))
        assert len({w.id async for w in client.list_workflows(scope, limit=3, page_size=2)}) == 3
        # Counted by status, as Temporal counts GROUP BY ExecutionStatus.
        grouped = await client.count_workflows(f"{scope} GROUP BY ExecutionStatus")
        assert grouped.count == len(RUNS) + 1
        assert {tuple(g.group_values): g.count for g in grouped.groups} == {
            ("Running",): 2,
            ("Completed",): 3,
            ("Failed",): 1,
        }
        # The keyword filters combine with a list filter.
        running = await client.list_workflows(scope, status="running")
        assert {w.id for w in running} == {prefix + "d", prefix + "e"}
        for name in ("d", "e"):
            await handles[name].signal(Job.finish)
            assert await handles[name].result() == "wait"


@pytest.mark.parametrize(
    "bad",
    [
        "WorkflowType = ",
        "WorkflowType = 'Job' AND",
        "(WorkflowType = 'Job'",
        "ExecutionStatus = 'Runing'",
        "StartTime > 'yesterday'",
    ],
)
async def test_a_filter_neither_can_read_is_a_configuration_error(client: Client, bad: str) -> None:
    with pytest.raises(ConfigurationError, match="list filter"):
        await client.list_workflows(bad)
    with pytest.raises(ConfigurationError, match="list filter"):
        await client.count_workflows(bad)


async def test_only_a_count_groups_and_only_by_status(client: Client) -> None:
    with pytest.raises(ConfigurationError, match="only GROUP BY ExecutionStatus"):
        await client.count_workflows("WorkflowType = 'Job' GROUP BY WorkflowType")
    with pytest.raises(ConfigurationError, match="GROUP BY is not supported in a list"):
        await client.list_workflows("WorkflowType = 'Job' GROUP BY ExecutionStatus")
