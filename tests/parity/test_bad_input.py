"""The same Duragent error, on both backends, for the same bad input: a workflow that does
not exist, an id already running, a closed run, an argument that cannot be serialized or
is too large, an update its validator rejects, a query nobody answers, an activity or
workflow type no worker knows (the run waits for a worker that knows it)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from duragent import Client, Worker, WorkflowStatus, activity, workflow
from duragent.errors import (
    ActivityError,
    ApplicationError,
    ConfigurationError,
    PayloadTooLargeError,
    QueryError,
    SerializationError,
    UpdateRejectedError,
    WorkflowAlreadyStartedError,
    WorkflowFailureError,
    WorkflowNotFoundError,
    WorkflowNotRunningError,
)

from ..waits import wait_for_task_failure
from . import app
from .app import ACTIVITIES, WORKFLOWS, Order

pytestmark = pytest.mark.timeout(120)

Workers = Callable[..., Worker]
Ids = Callable[[str], str]


async def test_a_workflow_that_does_not_exist(client: Client) -> None:
    handle = client.get_workflow_handle("no-such-workflow")
    calls: list[Any] = [
        handle.describe(),
        handle.result(),
        handle.fetch_history(),
        handle.signal("x"),
        handle.cancel(),
        handle.terminate(),
        handle.query("x", timeout=2),
        handle.execute_update("x"),
    ]
    for call in calls:
        with pytest.raises(WorkflowNotFoundError):
            await call


async def test_an_id_already_running_and_the_conflict_policies(
    client: Client, task_queue: str, new_id: Ids
) -> None:
    wid = new_id("dup")
    first = await client.start_workflow(app.Receiver.run, id=wid, task_queue=task_queue)
    with pytest.raises(WorkflowAlreadyStartedError) as already:
        await client.start_workflow(app.Receiver.run, id=wid, task_queue=task_queue)
    assert already.value.run_id == first.run_id
    same = await client.start_workflow(
        app.Receiver.run, id=wid, task_queue=task_queue, id_conflict_policy="use_existing"
    )
    assert same.run_id == first.run_id
    fresh = await client.start_workflow(
        app.Receiver.run, id=wid, task_queue=task_queue, id_conflict_policy="terminate_existing"
    )
    assert fresh.run_id != first.run_id
    old = await client.get_workflow_handle(wid, run_id=first.run_id).describe()
    assert old.status == WorkflowStatus.TERMINATED and old.status == "terminated"
    assert isinstance(old.status, WorkflowStatus)
    await fresh.terminate()


async def test_unknown_policy_and_status_values_name_the_allowed_ones(
    client: Client, worker: Workers, task_queue: str, new_id: Ids
) -> None:
    wid = new_id("policy")
    with pytest.raises(ConfigurationError) as policy:
        await client.start_workflow(
            app.Receiver.run, id=wid, task_queue=task_queue, id_conflict_policy="reuse"
        )
    assert str(policy.value) == (
        "unknown id_conflict_policy 'reuse': use one of 'fail', 'use_existing', "
        "'terminate_existing' (IdConflictPolicy)"
    )
    with pytest.raises(WorkflowNotFoundError):
        await client.get_workflow_handle(wid).describe()  # nothing was started
    with pytest.raises(ConfigurationError) as status:
        await client.list_workflows(status="runing")
    assert "unknown status 'runing': use one of 'running', 'completed'" in str(status.value)
    async with worker(workflows=WORKFLOWS, activities=ACTIVITIES):
        # In workflow code: the task fails (the run stays open), saying what to use.
        handle = await client.start_workflow(
            app.ChildWithPolicy.run, "abandonn", id=wid, task_queue=task_queue
        )
        desc = await wait_for_task_failure(handle, timeout=30)
        assert desc.task_failure is not None
        assert "unknown parent_close_policy 'abandonn'" in desc.task_failure
        assert "'terminate', 'request_cancel', 'abandon' (ParentClosePolicy)" in desc.task_failure
        await handle.terminate()
        started = await client.start_workflow(
            app.ChildWithPolicy.run,
            workflow.ParentClosePolicy.ABANDON,
            id=new_id("policy"),
            task_queue=task_queue,
        )
        assert (await started.result(timeout=30)).endswith("|2")


async def test_messages_to_a_closed_run(client: Client, task_queue: str, new_id: Ids) -> None:
    handle = await client.start_workflow(
        app.Receiver.run, id=new_id("closed"), task_queue=task_queue
    )
    await handle.terminate()
    for call in (
        handle.signal(app.Receiver.deliver, "late"),
        handle.cancel(),
        handle.terminate(),
        handle.execute_update("anything"),
    ):
        with pytest.raises(WorkflowNotRunningError):
            await call


async def test_arguments_that_cannot_be_sent(
    client: Client, address: str, task_queue: str, new_id: Ids
) -> None:
    wid = new_id("bad-arg")
    with pytest.raises(SerializationError):
        await client.start_workflow(app.Echo.run, object(), id=wid, task_queue=task_queue)
    with pytest.raises(WorkflowNotFoundError):  # nothing was started
        await client.get_workflow_handle(wid).describe()
    small = await Client.connect(address, max_payload_bytes=1000)
    try:
        with pytest.raises(PayloadTooLargeError):
            await small.start_workflow(app.Echo.run, "x" * 2000, id=wid, task_queue=task_queue)
        handle = await small.start_workflow(app.Receiver.run, id=wid, task_queue=task_queue)
        with pytest.raises(PayloadTooLargeError):
            await handle.signal(app.Receiver.deliver, "x" * 2000)
        await handle.terminate()
    finally:
        await small.close()


async def test_a_result_too_large_fails_the_activity_once(
    address: str, task_queue: str, new_id: Ids
) -> None:
    before = app.ATTEMPTS["grow-2000"]
    small = await Client.connect(address, max_payload_bytes=1000)
    try:
        async with Worker(small, task_queue=task_queue, workflows=WORKFLOWS, activities=ACTIVITIES):
            with pytest.raises(WorkflowFailureError) as failed:
                await small.execute_workflow(
                    app.RunActivity.run,
                    args=["grow", [2000]],
                    id=new_id("big"),
                    task_queue=task_queue,
                )
    finally:
        await small.close()
    cause = failed.value.cause
    assert isinstance(cause, ActivityError)
    assert isinstance(cause.cause, ApplicationError)
    assert cause.cause.non_retryable and "PayloadTooLarge" in cause.cause.type
    assert app.ATTEMPTS["grow-2000"] == before + 1  # not retried


async def test_rejected_and_unknown_updates_and_queries(
    client: Client, worker: Workers, task_queue: str, new_id: Ids
) -> None:
    async with worker(workflows=WORKFLOWS, activities=ACTIVITIES):
        handle = await client.start_workflow(
            app.Messages.run, "hi", id=new_id("rej"), task_queue=task_queue
        )
        with pytest.raises(UpdateRejectedError) as rejected:
            await handle.execute_update(app.Messages.add_checked, Order("c", 0))
        assert "quantity must be positive" in str(rejected.value)
        assert isinstance(rejected.value.cause, ApplicationError)
        assert rejected.value.cause.type == "UpdateRejectedError"
        with pytest.raises(UpdateRejectedError):
            await handle.execute_update("no_such_update", 1)
        with pytest.raises(QueryError) as unknown:
            await handle.query("no_such_query")
        assert "no_such_query" in str(unknown.value)
        assert await handle.query(app.Messages.count) == 1  # nothing was recorded
    # No worker: nobody answers.
    with pytest.raises(QueryError) as unanswered:
        await handle.query(app.Messages.count, timeout=1.0)
    assert task_queue in str(unanswered.value)
    await handle.terminate()


async def test_an_activity_type_no_worker_knows_waits_for_one(
    client: Client, worker: Workers, task_queue: str, new_id: Ids
) -> None:
    @activity.defn(name="later")
    async def later(x: int) -> str:
        return f"finally {x}"

    no_dynamic = [a for a in ACTIVITIES if a is not app.anything]
    async with worker(workflows=WORKFLOWS, activities=no_dynamic):
        handle = await client.start_workflow(
            app.RunActivity.run, args=["later", [1]], id=new_id("later"), task_queue=task_queue
        )
        desc = await handle.describe()
        for _ in range(100):
            desc = await handle.describe()
            if desc.pending_activities == 1:
                break
            await asyncio.sleep(0.05)
        assert desc.status == WorkflowStatus.RUNNING and desc.pending_activities == 1
    async with worker(workflows=WORKFLOWS, activities=[later]):
        assert await handle.result(timeout=30) == "finally 1"


async def test_a_workflow_type_no_worker_knows_waits_for_one(
    client: Client, worker: Workers, task_queue: str, new_id: Ids
) -> None:
    async with worker(workflows=[app.Receiver], activities=ACTIVITIES):
        handle = await client.start_workflow(
            "Echo", "hello", id=new_id("unknown"), task_queue=task_queue
        )
        await asyncio.sleep(0.5)
        assert (await handle.describe()).status == WorkflowStatus.RUNNING
    async with worker(workflows=WORKFLOWS, activities=ACTIVITIES):
        assert await handle.result(timeout=30) == "hello"
