"""Search attributes and memo on both backends: set at start and by the workflow
(``workflow.upsert_search_attributes`` / ``upsert_memo``, removals too), shown by
``describe()``, and filtered on by ``list_workflows(search_attributes=...)``; the workflow
replays with them. The names are registered on the test dev server
(``tests/temporal_server.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from duragent import Client, ConfigurationError, Worker, WorkflowExecution, workflow
from duragent.search_attributes import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
)

pytestmark = pytest.mark.timeout(120)

Workers = Callable[..., Worker]
Ids = Callable[[str], str]
DUE = datetime(2026, 12, 24, 18, 0, tzinfo=UTC)


@dataclass
class Owner:
    name: str
    team: str


@workflow.defn
class Ticket:
    def __init__(self) -> None:
        self.closing = False

    @workflow.run
    async def run(self, customer: str) -> str:
        workflow.upsert_search_attributes(
            {"Priority": 2, "Urgent": True, "Tags": ["billing", "eu"], "DueAt": DUE}
        )
        workflow.upsert_memo({"owner": Owner("ana", "support"), "note": "first"})
        await workflow.wait_condition(lambda: self.closing)
        workflow.upsert_search_attributes({"Urgent": None, "Score": 0.5})
        workflow.upsert_memo({"note": None})
        return customer

    @workflow.signal
    def close(self) -> None:
        self.closing = True


@workflow.defn
class Rolling:
    """Continues as new once; the new run keeps the search attributes and the memo."""

    @workflow.run
    async def run(self, rounds: int) -> int:
        if rounds == 0:
            return workflow.info().attempt
        workflow.upsert_search_attributes({"Priority": rounds})
        workflow.continue_as_new(rounds - 1)


CUSTOMER = SearchAttributeKey.for_keyword("CustomerId")
SUMMARY = SearchAttributeKey.for_text("Summary")
SCORE = SearchAttributeKey.for_float("Score")
DUE_AT = SearchAttributeKey.for_datetime("DueAt")
TAGS = SearchAttributeKey.for_keyword_list("Tags")
PRIORITY = SearchAttributeKey.for_int("Priority")


@workflow.defn
class TypedTicket:
    """temporalio's typed keys: a Text attribute, an int stored in a Double, removals."""

    def __init__(self) -> None:
        self.closing = False

    @workflow.run
    async def run(self) -> str:
        workflow.upsert_search_attributes(
            [SCORE.value_set(3), SUMMARY.value_set("refund"), TAGS.value_set(["a", "b"])]
        )
        await workflow.wait_condition(lambda: self.closing)
        workflow.upsert_search_attributes([SUMMARY.value_unset(), TAGS.value_unset()])
        return "closed"

    @workflow.signal
    def close(self) -> None:
        self.closing = True


async def listed(client: Client, **filters: Any) -> list[str]:
    """Workflow ids matching (Temporal's visibility is eventually consistent: wait a bit
    for the expected list instead of reading it once)."""
    return [r.id for r in await client.list_workflows(**filters)]


async def eventually(client: Client, expected: list[str], **filters: Any) -> list[str]:
    got: list[str] = []
    for _ in range(100):
        got = sorted(await listed(client, **filters))
        if got == sorted(expected):
            return got
        await asyncio.sleep(0.1)
    return got


async def described(
    client: Client, wf_id: str, check: Callable[[WorkflowExecution], bool]
) -> WorkflowExecution:
    d = await client.get_workflow_handle(wf_id).describe()
    for _ in range(100):
        if check(d):
            break
        await asyncio.sleep(0.1)
        d = await client.get_workflow_handle(wf_id).describe()
    return d


async def test_set_upserted_described_and_listed(
    client: Client, worker: Workers, task_queue: str, new_id: Ids, max_cached: int
) -> None:
    a, b = new_id("ticket-a"), new_id("ticket-b")
    customer = new_id("cust")
    async with worker(workflows=[Ticket], max_cached_workflows=max_cached):
        ha = await client.start_workflow(
            Ticket.run,
            "a",
            id=a,
            task_queue=task_queue,
            search_attributes={"CustomerId": customer},
            memo={"source": "email"},
        )
        hb = await client.start_workflow(
            Ticket.run,
            "b",
            id=b,
            task_queue=task_queue,
            search_attributes={"CustomerId": customer, "Priority": 7},
        )
        d = await described(client, a, lambda d: "Tags" in d.search_attributes)
        assert d.search_attributes == {
            "CustomerId": customer,
            "Priority": 2,
            "Urgent": True,
            "Tags": ["billing", "eu"],
            "DueAt": DUE.isoformat(),
        }
        assert d.memo == {
            "source": "email",
            "owner": {"name": "ana", "team": "support"},
            "note": "first",
        }
        # Both runs upserted Priority 2 over b's start value.
        assert await eventually(
            client, [a, b], search_attributes={"CustomerId": customer}
        ) == sorted([a, b])
        assert await eventually(
            client, [a, b], search_attributes={"CustomerId": customer, "Tags": "eu"}
        ) == sorted([a, b])
        assert (
            await eventually(client, [], search_attributes={"CustomerId": customer, "Tags": "us"})
            == []
        )
        assert await eventually(
            client, [a, b], search_attributes={"CustomerId": customer, "DueAt": DUE}
        ) == sorted([a, b])

        await ha.signal(Ticket.close)
        assert await ha.result() == "a"
        d = await client.get_workflow_handle(a).describe()
        assert "Urgent" not in d.search_attributes
        assert d.search_attributes["Score"] == 0.5
        assert "note" not in d.memo
        assert await eventually(
            client, [b], search_attributes={"CustomerId": customer, "Urgent": True}
        ) == [b]
        assert await eventually(
            client, [a], search_attributes={"CustomerId": customer, "Score": 0.5}
        ) == [a]
        await hb.signal(Ticket.close)
        assert await hb.result() == "b"


async def test_continued_as_new_run_keeps_search_attributes_and_memo(
    client: Client, worker: Workers, task_queue: str, new_id: Ids
) -> None:
    wf_id, customer = new_id("rolling"), new_id("cust")
    async with worker(workflows=[Rolling]):
        handle = await client.start_workflow(
            Rolling.run,
            1,
            id=wf_id,
            task_queue=task_queue,
            search_attributes={"CustomerId": customer},
            memo={"source": "email"},
        )
        assert await handle.result() == 1
    d = await client.get_workflow_handle(wf_id).describe()
    assert d.run_id != handle.run_id  # the second run
    assert d.search_attributes == {"CustomerId": customer, "Priority": 1}
    assert d.memo == {"source": "email"}
    assert await eventually(client, [wf_id, wf_id], search_attributes={"CustomerId": customer}) == [
        wf_id,
        wf_id,
    ]


async def test_typed_keys_as_in_temporalio(
    client: Client, worker: Workers, task_queue: str, new_id: Ids
) -> None:
    wf_id, customer = new_id("typed"), new_id("cust")
    async with worker(workflows=[TypedTicket]):
        handle = await client.start_workflow(
            TypedTicket.run,
            id=wf_id,
            task_queue=task_queue,
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(CUSTOMER, customer), SearchAttributePair(DUE_AT, DUE)]
            ),
        )
        d = await described(client, wf_id, lambda d: "Summary" in d.search_attributes)
        assert d.search_attributes == {
            "CustomerId": customer,
            "DueAt": DUE.isoformat(),
            "Score": 3.0,
            "Summary": "refund",
            "Tags": ["a", "b"],
        }
        typed = d.typed_search_attributes
        assert typed[SCORE] == 3.0 and isinstance(typed[SCORE], float)
        assert typed.get(DUE_AT) == DUE
        assert typed.get(SUMMARY) == "refund" and typed.get(CUSTOMER) == customer
        assert typed.get(TAGS) == ["a", "b"] and typed.get(PRIORITY) is None
        assert SCORE in typed and PRIORITY not in typed
        assert await eventually(client, [wf_id], search_attributes=[(CUSTOMER, customer)]) == [
            wf_id
        ]
        assert await eventually(
            client,
            [wf_id],
            search_attributes=[(CUSTOMER, customer), (SCORE, 3), (SUMMARY, "refund")],
        ) == [wf_id]
        assert await eventually(
            client,
            [wf_id],
            search_attributes=TypedSearchAttributes([SearchAttributePair(CUSTOMER, customer)]),
        ) == [wf_id]
        await handle.signal(TypedTicket.close)
        assert await handle.result() == "closed"
    d = await described(client, wf_id, lambda d: "Summary" not in d.search_attributes)
    assert set(d.search_attributes) == {"CustomerId", "DueAt", "Score"}


def test_typed_keys_check_their_values() -> None:
    with pytest.raises(ConfigurationError, match="is a Int; it cannot hold 'x'"):
        PRIORITY.value_set("x")  # pyright: ignore[reportArgumentType]
    with pytest.raises(ConfigurationError, match="is a Bool"):
        TypedSearchAttributes([SearchAttributePair(SearchAttributeKey.for_bool("Urgent"), 1)])
    with pytest.raises(ValueError, match="given twice"):
        TypedSearchAttributes(
            [SearchAttributePair(CUSTOMER, "a"), SearchAttributePair(CUSTOMER, "b")]
        )
    with pytest.raises(ConfigurationError, match="not valid"):
        SearchAttributeKey.for_keyword("a b")
    pairs = TypedSearchAttributes([SearchAttributePair(SCORE, 1)])
    assert pairs[SCORE] == 1.0 and pairs.updated(SearchAttributePair(SCORE, 2))[SCORE] == 2.0
    with pytest.raises(KeyError):
        pairs[PRIORITY]


async def test_bad_search_attributes_are_refused(client: Client, task_queue: str) -> None:
    with pytest.raises(ConfigurationError, match="not valid"):
        await client.start_workflow(
            Ticket.run, "x", id="bad-sa", task_queue=task_queue, search_attributes={"a b": 1}
        )
    with pytest.raises(ConfigurationError, match="cannot hold dict"):
        await client.start_workflow(
            Ticket.run,
            "x",
            id="bad-sa",
            task_queue=task_queue,
            search_attributes={"CustomerId": {"no": 1}},
        )
    with pytest.raises(ConfigurationError, match="time zone"):
        await client.list_workflows(search_attributes={"DueAt": datetime(2026, 1, 1)})
    with pytest.raises(ConfigurationError, match="not valid"):
        await client.list_workflows(search_attributes={"x') OR 1=1 --": "y"})


async def test_unregistered_or_mistyped_attributes_on_temporal_are_named(
    client: Client, task_queue: str, backend: str
) -> None:
    """Temporal needs each custom search attribute registered with its type; the embedded
    store has no registry (any name, any type)."""
    start = client.start_workflow(
        Ticket.run,
        "x",
        id="unregistered-sa",
        task_queue=task_queue,
        search_attributes={"NotRegistered": "v"},
    )
    if backend == "temporal":
        with pytest.raises(ConfigurationError, match=r"NotRegistered.*search-attribute create"):
            await start
        with pytest.raises(ConfigurationError, match="NotRegistered"):
            await client.list_workflows(search_attributes={"NotRegistered": "v"})
        with pytest.raises(ConfigurationError, match="Priority of type Int"):
            await client.list_workflows(search_attributes={"Priority": "high"})
    else:
        handle = await start
        assert (await handle.describe()).search_attributes == {"NotRegistered": "v"}
        assert await client.list_workflows(search_attributes={"Priority": "high"}) == []
        await handle.terminate()
