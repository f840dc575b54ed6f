"""The Temporal programming-model additions on Temporal too: methods and callable classes
as activities, local activities, and failures carrying temporalio's fields."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

import pytest

from duragent import ActivityError, ApplicationError, RetryPolicy, activity, workflow
from duragent.errors import ApplicationErrorCategory

pytestmark = pytest.mark.timeout(120)

Workers = Callable[..., AbstractAsyncContextManager[Any]]
T = timedelta(seconds=10)
CALLS: dict[str, int] = {}


class Store:
    def __init__(self, data: dict[str, str]) -> None:
        self.data = data

    @activity.defn(name="parity_get")
    async def get(self, key: str) -> dict[str, Any]:
        CALLS[key] = CALLS.get(key, 0) + 1
        if key.startswith("flaky") and CALLS[key] < 2:
            raise ConnectionError("try again")
        return {"value": self.data.get(key, ""), "local": activity.info().is_local}


@activity.defn(name="parity_double")
class Double:
    def __init__(self, factor: int) -> None:
        self.factor = factor

    def __call__(self, x: int) -> int:
        return x * self.factor


@activity.defn(name="parity_decline")
async def decline(amount: int) -> None:
    raise ApplicationError(
        "declined",
        {"amount": amount},
        type="Declined",
        next_retry_delay=timedelta(milliseconds=10),
        category=ApplicationErrorCategory.BENIGN,
    )


@workflow.defn(name="ParityWorkflow")
class ParityWorkflow:
    @workflow.run
    async def run(self, key: str) -> dict[str, Any]:
        fast = RetryPolicy(initial_interval=timedelta(milliseconds=10))
        out: dict[str, Any] = {}
        out["method"] = await workflow.execute_activity_method(
            Store.get, key, start_to_close_timeout=T, retry_policy=fast
        )
        out["class"] = await workflow.execute_activity_class(Double, 21, start_to_close_timeout=T)
        out["local"] = await workflow.execute_local_activity_method(
            Store.get, f"flaky-{key}", start_to_close_timeout=T, retry_policy=fast
        )
        try:
            await workflow.execute_activity(
                decline,
                7,
                start_to_close_timeout=T,
                retry_policy=RetryPolicy(maximum_attempts=2),
            )
        except ActivityError as err:
            cause = err.cause
            assert isinstance(cause, ApplicationError) and cause.failure is not None
            out["failure"] = [
                err.retry_state,
                cause.type,
                list(cause.details),
                cause.category,
                "in decline" in cause.failure.stack_trace,
            ]
        return out


async def test_parity_features_run_on_temporal(
    tclient: Any, task_queue: str, temporal_worker: Workers, max_cached: int
) -> None:
    CALLS.clear()
    store = Store({"k": "v"})
    async with temporal_worker(
        workflows=[ParityWorkflow],
        activities=[store.get, Double(2), decline],
        max_cached_workflows=max_cached,
    ):
        handle = await tclient.start_workflow(
            "ParityWorkflow", "k", id=f"parity-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
        out = await handle.result()
    assert out["method"] == {"value": "v", "local": False}
    assert out["class"] == 42
    assert out["local"] == {"value": "", "local": True}
    assert out["failure"] == [
        "MAXIMUM_ATTEMPTS_REACHED",
        "Declined",
        [{"amount": 7}],
        "BENIGN",
        True,
    ]


TOKENS: dict[str, bytes] = {}


@activity.defn(name="parity_hand_off")
async def hand_off(key: str) -> str:
    TOKENS[key] = activity.info().task_token
    activity.raise_complete_async()


@workflow.defn(name="ParityAsyncWorkflow")
class ParityAsyncWorkflow:
    @workflow.run
    async def run(self, key: str) -> str:
        return await workflow.execute_activity(hand_off, key, start_to_close_timeout=T)


async def test_an_activity_completes_asynchronously_on_temporal(
    tclient: Any, task_queue: str, temporal_worker: Workers
) -> None:
    key = uuid.uuid4().hex[:8]
    async with temporal_worker(workflows=[ParityAsyncWorkflow], activities=[hand_off]):
        handle = await tclient.start_workflow(
            "ParityAsyncWorkflow", key, id=f"parity-async-{key}", task_queue=task_queue
        )
        for _ in range(600):
            if key in TOKENS:
                break
            await asyncio.sleep(0.05)
        # Temporal's own task token: temporalio's handle completes the attempt.
        await tclient.get_async_activity_handle(task_token=TOKENS[key]).complete("from outside")
        assert await handle.result() == "from outside"
