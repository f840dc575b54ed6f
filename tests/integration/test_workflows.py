"""Workflows on a real SQLite store with an in-process worker: signals, cancellation,
termination, child workflows, continue-as-new, timers, id policies, listing."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from duragent import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    Client,
    TerminatedError,
    Worker,
    WorkflowAlreadyStartedError,
    WorkflowFailureError,
    WorkflowNotFoundError,
    WorkflowNotRunningError,
    activity,
    workflow,
)

T = timedelta(seconds=5)
log: list[str] = []


@activity.defn
async def record(text: str) -> str:
    log.append(text)
    return text


@activity.defn
async def wait_forever() -> None:
    while True:
        activity.heartbeat()
        await asyncio.sleep(0.02)


@workflow.defn
class Inbox:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.closed = False

    @workflow.run
    async def run(self, expected: int) -> list[str]:
        await workflow.wait_condition(lambda: len(self.items) >= expected or self.closed)
        return self.items

    @workflow.signal
    async def add(self, item: str) -> None:
        self.items.append(item)

    @workflow.signal
    def close(self) -> None:
        self.closed = True


@workflow.defn
class CleansUp:
    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.execute_activity(
                wait_forever, start_to_close_timeout=T, heartbeat_timeout=timedelta(seconds=1)
            )
        except asyncio.CancelledError:
            await workflow.execute_activity(record, "cleanup ran", start_to_close_timeout=T)
            raise
        return "not cancelled"


@workflow.defn
class Child:
    @workflow.run
    async def run(self, mode: str) -> str:
        if mode == "fail":
            raise ApplicationError("child broke", type="ChildBroke")
        if mode == "wait":
            await workflow.sleep(3600)
        return f"child:{mode}:{workflow.info().parent_workflow_id}"


@workflow.defn
class Parent:
    @workflow.run
    async def run(self, mode: str) -> str:
        if mode == "parallel":
            results = await asyncio.gather(
                *(
                    workflow.execute_child_workflow(Child.run, str(i), id=f"kid-{i}")
                    for i in range(3)
                )
            )
            return ",".join(results)
        if mode == "abandon":
            await workflow.start_child_workflow(
                Child.run, "wait", id="abandoned", parent_close_policy="abandon"
            )
            await workflow.start_child_workflow(Child.run, "wait", id="terminated")
            return "left children behind"
        if mode == "cancel_child":
            handle = await workflow.start_child_workflow(Child.run, "wait", id="to-cancel")
            await workflow.sleep(0.05)
            handle.cancel()
            await workflow.sleep(0.3)  # closing now would terminate the child instead
            return "cancel requested"
        try:
            return await workflow.execute_child_workflow(Child.run, mode)
        except ChildWorkflowError as err:
            assert isinstance(err.cause, ApplicationError)
            return f"caught {err.cause.type}"


@workflow.defn
class Counter:
    @workflow.run
    async def run(self, n: int, total: int) -> int:
        if n == 0:
            return total
        workflow.continue_as_new(args=[n - 1, total + n])


@workflow.defn
class Napper:
    @workflow.run
    async def run(self, seconds: float) -> bool:
        start = workflow.now()
        await workflow.sleep(seconds)
        return (workflow.now() - start).total_seconds() >= seconds


WORKFLOWS = [Inbox, CleansUp, Child, Parent, Counter, Napper]


def worker(client: Client) -> Worker:
    return Worker(client, task_queue="q", workflows=WORKFLOWS, activities=[record, wait_forever])


async def test_signals_are_delivered_in_order_exactly_once(client: Client) -> None:
    async with worker(client):
        handle = await client.start_workflow(Inbox.run, 3, id="inbox", task_queue="q")
        for item in ("a", "b", "c"):
            await handle.signal(Inbox.add, item)
        assert await handle.result() == ["a", "b", "c"]
        with pytest.raises(WorkflowNotRunningError):
            await handle.signal(Inbox.add, "late")


async def test_signal_before_a_worker_exists_is_kept(client: Client) -> None:
    handle = await client.start_workflow(Inbox.run, 2, id="inbox", task_queue="q")
    await handle.signal("add", "early-1")
    await handle.signal("add", "early-2")
    async with worker(client):
        assert await handle.result() == ["early-1", "early-2"]


async def test_signal_with_start(client: Client) -> None:
    async with worker(client):
        h1 = await client.signal_with_start_workflow(
            Inbox.run, 2, id="sws", task_queue="q", signal=Inbox.add, signal_args=["first"]
        )
        h2 = await client.signal_with_start_workflow(
            Inbox.run, 2, id="sws", task_queue="q", signal=Inbox.add, signal_args=["second"]
        )
        assert h1.run_id == h2.run_id
        assert await h1.result() == ["first", "second"]


async def test_cancel_lets_workflow_clean_up_then_finishes_cancelled(client: Client) -> None:
    async with worker(client):
        handle = await client.start_workflow(CleansUp.run, id="c", task_queue="q")
        await asyncio.sleep(0.2)
        await handle.cancel("user asked")
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
        assert isinstance(info.value.cause, CancelledError)
    assert "cleanup ran" in log
    assert (await handle.describe()).status == "canceled"


async def test_terminate_stops_at_once(client: Client) -> None:
    async with worker(client):
        handle = await client.start_workflow(Inbox.run, 5, id="t", task_queue="q")
        await handle.terminate("enough")
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
    assert isinstance(info.value.cause, TerminatedError)
    events = (await handle.fetch_history()).events
    assert events[-1].TYPE == "WorkflowExecutionTerminated"


async def test_child_workflows_results_failures_in_parallel(client: Client) -> None:
    async with worker(client):
        assert (
            await client.execute_workflow(Parent.run, "ok", id="p1", task_queue="q")
            == "child:ok:p1"
        )
        assert (
            await client.execute_workflow(Parent.run, "fail", id="p2", task_queue="q")
            == "caught ChildBroke"
        )
        assert (
            await client.execute_workflow(Parent.run, "parallel", id="p3", task_queue="q")
            == "child:0:p3,child:1:p3,child:2:p3"
        )


async def test_parent_close_policies(client: Client) -> None:
    async with worker(client):
        await client.execute_workflow(Parent.run, "abandon", id="p", task_queue="q")
        abandoned = await client.get_workflow_handle("abandoned").describe()
        terminated = await client.get_workflow_handle("terminated").describe()
    assert abandoned.status == "running"
    assert terminated.status == "terminated"


async def test_cancelling_a_child_from_the_parent(client: Client) -> None:
    async with worker(client):
        await client.execute_workflow(Parent.run, "cancel_child", id="p", task_queue="q")
        child = client.get_workflow_handle("to-cancel")
        with pytest.raises(WorkflowFailureError) as info:
            await child.result(timeout=5)
    assert isinstance(info.value.cause, CancelledError)


async def test_continue_as_new_keeps_the_id_with_fresh_histories(client: Client) -> None:
    async with worker(client):
        handle = await client.start_workflow(Counter.run, args=[5, 0], id="count", task_queue="q")
        assert await handle.result() == 15
    runs = await client.list_workflows(workflow_id_prefix="count")
    assert len(runs) == 6
    assert sorted(r.status for r in runs) == ["completed"] + ["continued_as_new"] * 5
    assert len({r.first_run_id for r in runs}) == 1
    assert all(r.history_length <= 4 for r in runs)


async def test_timer_fires_and_survives_worker_restart(client: Client) -> None:
    async with worker(client):
        handle = await client.start_workflow(Napper.run, 0.5, id="nap", task_queue="q")
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.6)  # the timer comes due while no worker runs
    async with worker(client):
        assert await handle.result(timeout=5) is True


async def test_duplicate_running_id_is_a_clear_error(client: Client) -> None:
    await client.start_workflow(Inbox.run, 1, id="dup", task_queue="q")
    with pytest.raises(WorkflowAlreadyStartedError) as info:
        await client.start_workflow(Inbox.run, 1, id="dup", task_queue="q")
    assert "dup" in str(info.value)
    again = await client.start_workflow(
        Inbox.run, 1, id="dup", task_queue="q", id_conflict_policy="use_existing"
    )
    replaced = await client.start_workflow(
        Inbox.run, 1, id="dup", task_queue="q", id_conflict_policy="terminate_existing"
    )
    assert replaced.run_id != again.run_id
    statuses = sorted(r.status for r in await client.list_workflows())
    assert statuses == ["running", "terminated"]


async def test_list_and_describe(client: Client) -> None:
    async with worker(client):
        await client.execute_workflow(Child.run, "x", id="a", task_queue="q")
        await client.start_workflow(Inbox.run, 1, id="b", task_queue="q")
        running = await client.list_workflows(status="running")
        assert [r.id for r in running] == ["b"]
        desc = await client.get_workflow_handle("a").describe()
        assert desc.status == "completed" and desc.workflow_type == "Child"
        assert desc.close_time is not None and desc.history_length == 3
    with pytest.raises(WorkflowNotFoundError):
        await client.get_workflow_handle("nope").describe()


async def test_activity_error_crosses_to_the_client(client: Client) -> None:
    @activity.defn(name="explode")
    async def explode() -> None:
        raise ApplicationError("kaboom", type="Kaboom", non_retryable=True)

    @workflow.defn(name="Explodes")
    class Explodes:
        @workflow.run
        async def run(self) -> None:
            await workflow.execute_activity(explode, start_to_close_timeout=T)

    async with Worker(client, task_queue="q", workflows=[Explodes], activities=[explode]):
        with pytest.raises(WorkflowFailureError) as info:
            await client.execute_workflow(Explodes.run, id="e", task_queue="q")
    cause = info.value.cause
    assert isinstance(cause, ActivityError)
    assert isinstance(cause.cause, ApplicationError) and cause.cause.type == "Kaboom"


async def test_memory_store_runs_workflows() -> None:
    client = await Client.connect("memory://")
    async with worker(client):
        assert await client.execute_workflow(Child.run, "m", id="mem", task_queue="q") == (
            "child:m:None"
        )
    await client.close()
