"""Activities on a real SQLite store with an in-process worker: retries, timeouts,
heartbeats, errors, sync and async, dynamic activities."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest

from duragent import (
    ActivityError,
    ApplicationError,
    Client,
    RetryPolicy,
    TimeoutError,
    Worker,
    WorkflowFailureError,
    activity,
    workflow,
)

FAST = RetryPolicy(
    initial_interval=timedelta(milliseconds=10), maximum_interval=timedelta(milliseconds=50)
)
attempts: dict[str, int] = {}


@activity.defn
async def flaky(key: str, fail_times: int) -> str:
    attempts[key] = attempts.get(key, 0) + 1
    if attempts[key] <= fail_times:
        raise RuntimeError(f"transient failure {attempts[key]}")
    return f"{key} ok after {attempts[key]}"


@activity.defn
def sync_flaky(key: str, fail_times: int) -> str:
    assert threading.current_thread() is not threading.main_thread()
    attempts[key] = attempts.get(key, 0) + 1
    if attempts[key] <= fail_times:
        raise ApplicationError("nope", type="Transient")
    return f"sync {key} ok"


@activity.defn
async def fatal() -> None:
    raise ApplicationError("bad input", {"field": "x"}, type="BadInput", non_retryable=True)


@activity.defn
async def slow(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "slow done"


@activity.defn
async def info_activity() -> dict[str, Any]:
    info = activity.info()
    return {
        "attempt": info.attempt,
        "key": info.idempotency_key,
        "type": info.activity_type,
        "wf": info.workflow_id,
    }


@activity.defn
async def heartbeating(key: str) -> int:
    info = activity.info()
    start = info.heartbeat_details[0] if info.heartbeat_details else 0
    attempts[key] = attempts.get(key, 0) + 1
    for i in range(start, 10):
        activity.heartbeat(i)
        if attempts[key] == 1 and i == 4:
            await asyncio.sleep(10)  # stalls: the heartbeat timeout fires
        await asyncio.sleep(0.01)
    return start


@activity.defn(dynamic=True)
async def dispatch(args: Sequence[Any]) -> str:
    return f"{activity.info().activity_type}({', '.join(map(str, args))})"


@workflow.defn
class Run:
    @workflow.run
    async def run(self, name: str, args: list[Any], policy: dict[str, Any] | None) -> Any:
        kwargs: dict[str, Any] = {"start_to_close_timeout": timedelta(seconds=5)}
        if policy is not None:
            kwargs["retry_policy"] = RetryPolicy(
                **{"initial_interval": timedelta(milliseconds=10), **policy}
            )
        return await workflow.execute_activity(name, args=args, **kwargs)


@workflow.defn
class Timeouts:
    @workflow.run
    async def run(self, kind: str) -> str:
        try:
            if kind == "start_to_close":
                await workflow.execute_activity(
                    slow,
                    5,
                    start_to_close_timeout=timedelta(milliseconds=200),
                    retry_policy=RetryPolicy(
                        maximum_attempts=2, initial_interval=timedelta(milliseconds=10)
                    ),
                )
            else:
                await workflow.execute_activity(
                    slow, 5, schedule_to_close_timeout=timedelta(milliseconds=300)
                )
        except ActivityError as err:
            assert isinstance(err.cause, TimeoutError)
            return f"{err.cause.type} after {err.attempt}"
        return "no timeout"


@workflow.defn
class Heartbeats:
    @workflow.run
    async def run(self) -> int:
        return await workflow.execute_activity(
            heartbeating,
            "hb",
            start_to_close_timeout=timedelta(seconds=10),
            heartbeat_timeout=timedelta(milliseconds=300),
            retry_policy=FAST,
        )


ALL = [flaky, sync_flaky, fatal, slow, info_activity, heartbeating, dispatch]


def worker(client: Client) -> Worker:
    return Worker(client, task_queue="q", workflows=[Run, Timeouts, Heartbeats], activities=ALL)


async def run_activity(
    client: Client, name: str, *args: Any, policy: dict[str, Any] | None = None, wf_id: str = "wf"
) -> Any:
    return await client.execute_workflow(
        Run.run, args=[name, list(args), policy], id=wf_id, task_queue="q"
    )


async def test_async_and_sync_activities_retry_until_success(client: Client) -> None:
    async with worker(client):
        assert await run_activity(client, "flaky", "a", 2, policy={}) == "a ok after 3"
        assert (
            await run_activity(client, "sync_flaky", "b", 1, policy={}, wf_id="wf2") == "sync b ok"
        )
    history = await client.get_workflow_handle("wf").fetch_history()
    completed = [e for e in history.events if e.TYPE == "ActivityTaskCompleted"]
    assert completed[0].attempt == 3  # type: ignore[attr-defined]
    failed_attempts = client.store.attempts(history.run_id)
    assert [a["attempt"] for a in failed_attempts] == [1, 2]
    assert all(a["outcome"] == "failed" for a in failed_attempts)
    assert failed_attempts[0]["failure"].message == "transient failure 1"


async def test_maximum_attempts_then_activity_error(client: Client) -> None:
    async with worker(client):
        with pytest.raises(WorkflowFailureError) as info:
            await run_activity(client, "flaky", "c", 10, policy={"maximum_attempts": 3})
    err = info.value.cause
    assert isinstance(err, ActivityError)
    assert err.attempt == 3
    assert "transient failure 3" in str(err.cause)
    assert attempts["c"] == 3


async def test_non_retryable_error_fails_at_once_with_details(client: Client) -> None:
    async with worker(client):
        with pytest.raises(WorkflowFailureError) as info:
            await run_activity(client, "fatal", policy={})
    cause = info.value.cause
    assert isinstance(cause, ActivityError) and cause.attempt == 1
    app = cause.cause
    assert isinstance(app, ApplicationError)
    assert app.type == "BadInput" and app.non_retryable
    assert list(app.details) == [{"field": "x"}]


async def test_non_retryable_error_types_in_policy(client: Client) -> None:
    async with worker(client):
        with pytest.raises(WorkflowFailureError) as info:
            await run_activity(
                client, "sync_flaky", "d", 5, policy={"non_retryable_error_types": ["Transient"]}
            )
    assert isinstance(info.value.cause, ActivityError)
    assert attempts["d"] == 1


async def test_retry_after_is_honoured(client: Client) -> None:
    calls: list[float] = []

    @activity.defn(name="rate_limited")
    async def rate_limited() -> str:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise ApplicationError("429", retry_after=timedelta(milliseconds=400))
        return "ok"

    async with Worker(client, task_queue="q", workflows=[Run], activities=[rate_limited]):
        assert await run_activity(client, "rate_limited", policy={}) == "ok"
    assert calls[1] - calls[0] >= 0.35


async def test_start_to_close_and_schedule_to_close_timeouts(client: Client) -> None:
    async with worker(client):
        assert (
            await client.execute_workflow(Timeouts.run, "start_to_close", id="t1", task_queue="q")
            == "START_TO_CLOSE after 2"
        )
        assert (
            await client.execute_workflow(
                Timeouts.run, "schedule_to_close", id="t2", task_queue="q"
            )
            == "SCHEDULE_TO_CLOSE after 1"
        )


async def test_heartbeat_timeout_retries_with_last_details(client: Client) -> None:
    async with worker(client):
        # The first attempt stalls after heartbeating 4; the retry resumes from there.
        assert await client.execute_workflow(Heartbeats.run, id="hb", task_queue="q") == 4
    history = await client.get_workflow_handle("hb").fetch_history()
    outcomes = [a["outcome"] for a in client.store.attempts(history.run_id)]
    assert outcomes == ["timed_out"]


async def test_activity_info_and_idempotency_key(client: Client) -> None:
    async with worker(client):
        got = await run_activity(client, "info_activity", policy={})
        again = await run_activity(client, "info_activity", policy={}, wf_id="wf-b")
    assert got["attempt"] == 1 and got["type"] == "info_activity" and got["wf"] == "wf"
    assert got["key"] != again["key"]


async def test_dynamic_activity_receives_unknown_types(client: Client) -> None:
    async with worker(client):
        assert await run_activity(client, "get_weather", "CA", 3, policy={}) == "get_weather(CA, 3)"


async def test_unknown_activity_waits_for_a_worker_that_knows_it(client: Client) -> None:
    @activity.defn(name="later")
    async def later() -> str:
        return "finally"

    async with Worker(client, task_queue="q", workflows=[Run], activities=[flaky]):
        handle = await client.start_workflow(
            Run.run, args=["later", [], None], id="w", task_queue="q"
        )
        await asyncio.sleep(0.3)
        desc = await handle.describe()
        assert desc.status == "running" and desc.pending_activities == 1
    async with Worker(client, task_queue="q", workflows=[Run], activities=[later]):
        assert await handle.result() == "finally"


async def test_unserializable_result_fails_without_retry(client: Client) -> None:
    @activity.defn(name="returns_object")
    async def returns_object() -> Any:
        return object()

    async with Worker(client, task_queue="q", workflows=[Run], activities=[returns_object]):
        with pytest.raises(WorkflowFailureError) as info:
            await run_activity(client, "returns_object", policy={})
    cause = info.value.cause
    assert isinstance(cause, ActivityError) and cause.attempt == 1
    assert "cannot be serialized" in str(cause.cause)
