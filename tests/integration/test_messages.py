"""Queries and updates on a real store with an in-process worker."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from duragent import (
    ApplicationError,
    Client,
    QueryError,
    UpdateFailedError,
    UpdateRejectedError,
    Worker,
    WorkflowNotRunningError,
    activity,
    workflow,
)

T = timedelta(seconds=5)


@activity.defn
async def lookup(item: str) -> int:
    return len(item)


@workflow.defn
class Cart:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.done = False

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self.done)
        return self.items

    @workflow.query
    def count(self) -> int:
        return len(self.items)

    @workflow.query
    def contains(self, item: str) -> bool:
        return item in self.items

    @workflow.query
    def sneaky(self) -> int:
        self.items = []  # a query must not change state
        return 0

    @workflow.query
    def runs_activity(self) -> None:
        workflow.start_activity(lookup, "x", start_to_close_timeout=T)

    @workflow.update
    async def add(self, item: str) -> int:
        # An update handler may run activities and wait: it is workflow code.
        price = await workflow.execute_activity(lookup, item, start_to_close_timeout=T)
        self.items.append(item)
        return price

    @add.validator
    def validate_add(self, item: str) -> None:
        if not item:
            raise ValueError("item must not be empty")
        if item in self.items:
            raise ApplicationError(f"{item} is already in the cart")

    @workflow.update
    def fail_update(self) -> None:
        raise ApplicationError("cannot do that", type="Refused")

    @workflow.signal
    def checkout(self) -> None:
        self.done = True


def worker(client: Client, **kwargs: object) -> Worker:
    return Worker(client, task_queue="q", workflows=[Cart], activities=[lookup], **kwargs)  # type: ignore[arg-type]


async def test_updates_return_results_and_are_recorded(client: Client) -> None:
    async with worker(client):
        handle = await client.start_workflow(Cart.run, id="cart", task_queue="q")
        assert await handle.execute_update(Cart.add, "apple") == 5
        assert await handle.execute_update(Cart.add, "kiwi") == 4
        assert await handle.query(Cart.count) == 2
        assert await handle.query(Cart.contains, "kiwi") is True
        await handle.signal(Cart.checkout)
        assert await handle.result() == ["apple", "kiwi"]
    events = (await handle.fetch_history()).events
    types = [e.TYPE for e in events]
    assert types.count("WorkflowExecutionUpdateAccepted") == 2
    assert types.count("WorkflowExecutionUpdateCompleted") == 2


async def test_rejected_update_leaves_no_trace_in_history(client: Client) -> None:
    async with worker(client):
        handle = await client.start_workflow(Cart.run, id="cart", task_queue="q")
        await handle.execute_update(Cart.add, "apple")
        before = len((await handle.fetch_history()).events)
        with pytest.raises(UpdateRejectedError) as info:
            await handle.execute_update(Cart.add, "apple")
        assert "already in the cart" in str(info.value)
        with pytest.raises(UpdateRejectedError) as empty:
            await handle.execute_update(Cart.add, "")
        assert "must not be empty" in str(empty.value)
        with pytest.raises(UpdateRejectedError):
            await handle.execute_update("no_such_update")
        assert len((await handle.fetch_history()).events) == before
        assert await handle.query(Cart.count) == 1


async def test_failing_update_handler(client: Client) -> None:
    async with worker(client):
        handle = await client.start_workflow(Cart.run, id="cart", task_queue="q")
        with pytest.raises(UpdateFailedError) as info:
            await handle.execute_update(Cart.fail_update)
        assert isinstance(info.value.cause, ApplicationError)
        assert info.value.cause.type == "Refused"
        assert (await handle.describe()).status == "running"


async def test_start_update_then_result(client: Client) -> None:
    async with worker(client):
        handle = await client.start_workflow(Cart.run, id="cart", task_queue="q")
        update = await handle.start_update(Cart.add, "pear", id="u-1")
        assert update.id == "u-1"
        assert await update.result() == 4
        again = handle.get_update_handle("u-1", result_type=int)
        assert await again.result() == 4


async def test_update_with_start(client: Client) -> None:
    async with worker(client):
        first = await client.execute_update_with_start_workflow(
            Cart.run, id="cart", task_queue="q", update=Cart.add, update_args=["fig"]
        )
        second = await client.execute_update_with_start_workflow(
            Cart.run, id="cart", task_queue="q", update=Cart.add, update_args=["plum"]
        )
        assert (first, second) == (3, 4)
        handle = client.get_workflow_handle("cart")
        assert await handle.query(Cart.count) == 2
        assert len(await client.list_workflows()) == 1


async def test_queries_are_read_only_and_never_recorded(client: Client) -> None:
    async with worker(client):
        handle = await client.start_workflow(Cart.run, id="cart", task_queue="q")
        await handle.execute_update(Cart.add, "apple")
        before = len((await handle.fetch_history()).events)
        with pytest.raises(QueryError) as changed:
            await handle.query(Cart.sneaky)
        assert "changed workflow state" in str(changed.value)
        with pytest.raises(QueryError) as activity_error:
            await handle.query(Cart.runs_activity)
        assert "read-only" in str(activity_error.value)
        with pytest.raises(QueryError) as unknown:
            await handle.query("missing")
        assert "no query 'missing'" in str(unknown.value)
        assert await handle.query(Cart.count) == 1  # state intact (rebuilt if needed)
        assert len((await handle.fetch_history()).events) == before


async def test_query_replays_an_evicted_workflow_and_closed_ones(client: Client) -> None:
    async with worker(client, max_cached_workflows=0):
        handle = await client.start_workflow(Cart.run, id="cart", task_queue="q")
        await handle.execute_update(Cart.add, "a")
        await handle.execute_update(Cart.add, "bb")
        assert await handle.query(Cart.count) == 2
        await handle.signal(Cart.checkout)
        await handle.result()
        assert await handle.query(Cart.contains, "bb") is True
        with pytest.raises(WorkflowNotRunningError):
            await handle.execute_update(Cart.add, "late")


async def test_query_without_a_worker_times_out_clearly(client: Client) -> None:
    handle = await client.start_workflow(Cart.run, id="cart", task_queue="nobody")
    with pytest.raises(QueryError) as info:
        await handle.query(Cart.count, timeout=0.2)
    assert "'nobody'" in str(info.value)


async def test_update_waits_for_a_worker(client: Client) -> None:
    handle = await client.start_workflow(Cart.run, id="cart", task_queue="q")
    pending = asyncio.ensure_future(handle.execute_update(Cart.add, "late-bird"))
    await asyncio.sleep(0.2)
    assert not pending.done()
    async with worker(client):
        assert await pending == 9


async def test_query_sees_a_signal_sent_just_before(client: Client) -> None:
    """Read-your-writes: a query waits for the workflow task of an earlier signal."""

    @workflow.defn(name="Counter")
    class Counter:
        def __init__(self) -> None:
            self.n = 0

        @workflow.run
        async def run(self) -> None:
            await workflow.wait_condition(lambda: self.n < 0)

        @workflow.signal
        def bump(self) -> None:
            self.n += 1

        @workflow.query
        def value(self) -> int:
            return self.n

    async with Worker(client, task_queue="q", workflows=[Counter]):
        handle = await client.start_workflow(Counter.run, id="counter", task_queue="q")
        for expected in range(1, 31):
            await handle.signal(Counter.bump)
            assert await handle.query(Counter.value) == expected
