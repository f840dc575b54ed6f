"""Temporal's list filter on the embedded engine, past what the parity suite compares: the
parser's errors (what and where), what the embedded engine refuses by name, and the
semantics a filter has on a SQLite file for the cases Temporal's own visibility stores do
not agree on (a missing attribute, ``!=`` on a list, ``IS NULL``, ``NOT IN``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from duragent import Client, ConfigurationError, Worker, workflow
from duragent._list_filter import Condition, ListFilter, parse_filter

QUEUE = "list-filter"


@workflow.defn
class Tagged:
    @workflow.run
    async def run(self) -> str:
        return "ok"


ATTRIBUTES = {
    "a": {"CustomerId": "O'Brien", "Tags": ["eu", "vip"], "Priority": 1},
    "b": {"CustomerId": 'say "hi"', "Tags": ["us"], "Priority": 2},
    "c": {"CustomerId": "2026-01-01T00:00:00Z", "Priority": 3},  # a Keyword that reads as a time
    "d": {},
}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    c = await Client.connect(f"sqlite:///{tmp_path / 'filter.db'}")
    async with Worker(c, task_queue=QUEUE, workflows=[Tagged]):
        for name, attributes in ATTRIBUTES.items():
            await c.execute_workflow(
                Tagged.run, id=f"run-{name}", task_queue=QUEUE, search_attributes=attributes
            )
    try:
        yield c
    finally:
        await c.close()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("CustomerId = 'O\\'Brien'", {"a"}),
        ('CustomerId = "say \\"hi\\""', {"b"}),
        ("CustomerId = '2026-01-01T00:00:00Z'", {"c"}),  # the string as written
        ("CustomerId != 'O\\'Brien'", {"b", "c"}),  # a run without it is not "different"
        ("CustomerId IS NULL", {"d"}),
        ("CustomerId IS NOT NULL AND Priority > 1", {"b", "c"}),
        ("Tags != 'eu'", {"b"}),  # a list differs when none of its values is equal
        ("Tags NOT IN ('eu', 'nope')", {"b"}),
        ("Priority NOT BETWEEN 2 AND 3", {"a"}),
        ("CustomerId STARTS_WITH 'O\\''", {"a"}),
        ("`Priority` = 2", {"b"}),
        ("WorkflowId IN ('run-a', 'run-d') AND RunId IS NOT NULL", {"a", "d"}),
        ("ParentWorkflowId IS NULL AND TaskQueue = 'list-filter'", {"a", "b", "c", "d"}),
        ("ExecutionStatus = 'TimedOut'", set()),  # no run times out here
        ("wOrKfLoWtYpE = 'Tagged'", set()),  # names are case-sensitive: a custom name
        ("WorkflowType = 'Tagged' and priority = 1 or Priority = 3", {"c"}),
    ],
)
async def test_what_a_filter_selects(client: Client, query: str, expected: set[str]) -> None:
    found = {w.id.removeprefix("run-") for w in await client.list_workflows(query)}
    assert found == expected
    assert (await client.count_workflows(query)).count == len(expected)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "an empty list filter"),
        ("   ", "an empty list filter"),
        ("Priority", "expected an operator after Priority at position 9"),
        (
            "Priority = ",
            "expected a value (a quoted string, number, true or false), found 'the end'",
        ),
        ("Priority = 1 AND", "expected a search attribute name or '(' at position 17"),
        ("(Priority = 1", "expected ')', found 'the end' at position 14"),
        ("Priority = 1)", "unexpected ')' at position 13"),
        ("Priority IN ()", "expected a value"),
        ("Priority IN (1, 2", "expected ')' closing the IN list"),
        ("Priority BETWEEN 1 OR 2", "expected AND in BETWEEN ... AND ..."),
        ("Priority NOT = 1", "expected IN or BETWEEN after NOT"),
        ("Priority = 'open", 'unexpected "\'" at position 12'),
        ("Priority = 1 ORDER BY StartTime", "ORDER BY is not supported"),
        ("Priority = 1 GROUP BY ExecutionStatus", "GROUP BY is not supported"),
        ("CustomerId STARTS_WITH 5", "STARTS_WITH takes a quoted string"),
        ("StartTime STARTS_WITH '2026'", "STARTS_WITH needs a text attribute"),
        ("ExecutionStatus = 'Runing'", "ExecutionStatus is one of Running, Completed"),
        ("ExecutionStatus > 'Running'", "ExecutionStatus takes =, !=, IN and NOT IN only"),
        ("StartTime > '2026-01-01'", "an RFC 3339 time"),  # no zone
        ("CloseTime < 5", "an RFC 3339 time"),
        ("HistoryLength > '3'", "compares with an integer"),
        ("WorkflowType = 5", "compares with a quoted string"),
        ("BuildIds = 'x'", "a Temporal system attribute the embedded engine does not keep"),
        ("ExecutionDuration > 5", "does not keep"),
        ("`bad name` = 1", "search attribute name 'bad name' is not valid"),
        ("Priority == 1", "expected a value"),
    ],
)
async def test_a_bad_filter_says_what_and_where(client: Client, query: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        await client.list_workflows(query)
    assert message in str(refused.value)


def test_and_binds_tighter_than_or() -> None:
    tree = parse_filter("A = 1 OR B = 2 AND (C = 3 OR D = 4)")
    assert tree == ListFilter(
        "or",
        (
            Condition("A", "=", (1,)),
            ListFilter(
                "and",
                (
                    Condition("B", "=", (2,)),
                    ListFilter("or", (Condition("C", "=", (3,)), Condition("D", "=", (4,)))),
                ),
            ),
        ),
    )
    assert parse_filter("X <> -2.5e1") == Condition("X", "!=", (-25.0,))


async def test_counts_grouped_by_status(client: Client) -> None:
    everything = await client.count_workflows("GROUP BY ExecutionStatus")  # the kept counts
    assert everything.count == 4
    assert [(g.group_values, g.count) for g in everything.groups] == [(["Completed"], 4)]
    some = await client.count_workflows("Priority >= 2 GROUP BY ExecutionStatus")
    assert (some.count, [(g.group_values, g.count) for g in some.groups]) == (
        2,
        [(["Completed"], 2)],
    )
    none = await client.count_workflows("Priority > 100 GROUP BY ExecutionStatus")
    assert (none.count, none.groups) == (0, ())
