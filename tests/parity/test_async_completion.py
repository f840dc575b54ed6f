"""Asynchronous activity completion on both backends: an activity calls
``activity.raise_complete_async()`` and something else completes it through
``client.get_async_activity_handle(...)`` (by task token or by workflow and activity id),
fails it (retried like any failure, with its last heartbeat details), heartbeats it, or
reports it cancelled; its worker may shut down meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from duragent import (
    ActivityError,
    ApplicationError,
    Client,
    RetryPolicy,
    Worker,
    activity,
    workflow,
)
from duragent.client import AsyncActivityHandle
from duragent.errors import (
    ActivityNotFoundError,
    AsyncActivityCancelledError,
    ConfigurationError,
    WorkflowFailureError,
)

pytestmark = pytest.mark.timeout(120)

Workers = Callable[..., Worker]
Ids = Callable[[str], str]

# What each attempt handed out, by workflow id: the test completes it from "outside".
OPEN: dict[str, list[dict[str, Any]]] = {}


@activity.defn
async def ask_human(question: str) -> str:
    info = activity.info()
    if info.heartbeat_details:  # a retry after fail(..., last_heartbeat_details=...)
        return f"resumed at {info.heartbeat_details[0]} on attempt {info.attempt}"
    OPEN.setdefault(info.workflow_id, []).append(
        {
            "token": info.task_token,
            "activity_id": info.activity_id,
            "attempt": info.attempt,
            "question": question,
        }
    )
    activity.raise_complete_async()


@workflow.defn
class Approval:
    @workflow.run
    async def run(self, question: str) -> str:
        return await workflow.execute_activity(
            ask_human,
            question,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=10),
                maximum_attempts=3,
                non_retryable_error_types=["Rejected"],
            ),
        )


@workflow.defn
class CancelsApproval:
    def __init__(self) -> None:
        self.cancel_it = False
        self.finish = False

    @workflow.run
    async def run(self, question: str) -> str:
        handle = workflow.start_activity(
            ask_human, question, start_to_close_timeout=timedelta(seconds=60)
        )
        await workflow.wait_condition(lambda: self.cancel_it)
        handle.cancel()
        try:
            await handle
            outcome = "completed"
        except asyncio.CancelledError:
            outcome = "cancelled"
        await workflow.wait_condition(lambda: self.finish)
        return outcome

    @workflow.signal
    def cancel(self) -> None:
        self.cancel_it = True

    @workflow.signal
    def done(self) -> None:
        self.finish = True


WORKFLOWS = [Approval, CancelsApproval]


async def opened(workflow_id: str, count: int = 1) -> dict[str, Any]:
    """The ``count``-th attempt the activity left open (waits for it to start)."""
    for _ in range(1200):
        if len(OPEN.get(workflow_id, ())) >= count:
            return OPEN[workflow_id][count - 1]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no attempt {count} of {workflow_id} was left open")


async def test_complete_by_token_after_the_worker_stopped(
    client: Client, worker: Workers, task_queue: str, new_id: Ids
) -> None:
    wf_id = new_id("approve")
    async with worker(workflows=WORKFLOWS, activities=[ask_human]):
        handle = await client.start_workflow(
            Approval.run, "ship it?", id=wf_id, task_queue=task_queue
        )
        attempt = await opened(wf_id)
    # The worker is gone; the attempt is not interrupted, and completes from here.
    assert attempt["token"]
    await client.get_async_activity_handle(task_token=attempt["token"]).complete("yes")
    async with worker(workflows=WORKFLOWS, activities=[ask_human]):
        assert await handle.result() == "yes"
    # The token named one attempt that is over now.
    with pytest.raises(ActivityNotFoundError):
        await client.get_async_activity_handle(task_token=attempt["token"]).complete("again")


async def test_complete_by_id_heartbeat_and_fail_with_retry(
    client: Client, worker: Workers, task_queue: str, new_id: Ids
) -> None:
    wf_id = new_id("by-id")
    async with worker(workflows=WORKFLOWS, activities=[ask_human]):
        handle = await client.start_workflow(
            Approval.run, "deploy?", id=wf_id, task_queue=task_queue
        )
        first = await opened(wf_id)
        by_id = client.get_async_activity_handle(
            workflow_id=wf_id, activity_id=first["activity_id"]
        )
        assert isinstance(by_id, AsyncActivityHandle)
        await by_id.heartbeat("halfway")
        # Failing it retries it like any failure; the next attempt sees the details.
        await by_id.fail(RuntimeError("reviewer away"), last_heartbeat_details=["step 2"])
        assert await handle.result() == "resumed at step 2 on attempt 2"
        assert len(OPEN[wf_id]) == 1

        wf_id2 = new_id("rejected")
        handle2 = await client.start_workflow(
            Approval.run, "drop db?", id=wf_id2, task_queue=task_queue
        )
        token = (await opened(wf_id2))["token"]
        await client.get_async_activity_handle(task_token=token).fail(
            ApplicationError("no way", {"by": "ops"}, type="Rejected")
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle2.result()
    cause = failed.value.cause
    assert isinstance(cause, ActivityError)
    assert isinstance(cause.cause, ApplicationError)
    assert cause.cause.type == "Rejected"
    assert cause.cause.message == "no way"
    assert list(cause.cause.details) == [{"by": "ops"}]


async def test_cancellation_reaches_the_handle(
    client: Client, worker: Workers, task_queue: str, new_id: Ids
) -> None:
    wf_id = new_id("cancel")
    async with worker(workflows=WORKFLOWS, activities=[ask_human]):
        handle = await client.start_workflow(
            CancelsApproval.run, "wait?", id=wf_id, task_queue=task_queue
        )
        ref = client.get_async_activity_handle(task_token=(await opened(wf_id))["token"])
        await ref.heartbeat()  # no cancellation requested yet
        await handle.signal(CancelsApproval.cancel)
        for _ in range(600):
            try:
                await ref.heartbeat("still waiting")
            except AsyncActivityCancelledError:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the heartbeat never reported the cancellation")
        await ref.report_cancellation()
        await handle.signal(CancelsApproval.done)
        assert await handle.result() == "cancelled"


async def test_bad_references(client: Client, new_id: Ids) -> None:
    with pytest.raises(ConfigurationError, match="task_token"):
        client.get_async_activity_handle()
    with pytest.raises(ConfigurationError, match="task_token"):
        client.get_async_activity_handle(task_token=b"x", workflow_id="w", activity_id="1")
    with pytest.raises(ConfigurationError, match="task_token"):
        client.get_async_activity_handle(workflow_id="w")
    with pytest.raises(ConfigurationError, match="task token"):
        await client.get_async_activity_handle(task_token=b"not a token").complete(1)
    with pytest.raises(ActivityNotFoundError):
        await client.get_async_activity_handle(
            workflow_id=new_id("nobody"), activity_id="1"
        ).complete(1)
