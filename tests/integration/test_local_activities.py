"""Local activities on a real store: run by the workflow's worker while it holds the
workflow task, outcome recorded with the task's commands, retried locally (a long backoff
on a durable timer), failing like activities, and run again after a SIGKILL."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
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
from duragent._engine import events as ev

from ..fixtures.kill_app import LocalBlocking
from .crash_harness import harness

T = timedelta(seconds=10)
FAST = RetryPolicy(initial_interval=timedelta(milliseconds=10))
calls: dict[str, int] = {}


@activity.defn
async def lookup(key: str) -> dict[str, Any]:
    calls[key] = calls.get(key, 0) + 1
    info = activity.info()
    if key.startswith("flaky") and calls[key] < 3:
        raise ConnectionError(f"cache unreachable ({calls[key]})")
    if key == "bad":
        raise ApplicationError("no such key", type="KeyMissing", non_retryable=True)
    return {"key": key, "pid": os.getpid(), "local": info.is_local, "attempt": info.attempt}


@activity.defn
def slow_sync(seconds: float) -> str:
    import time

    time.sleep(seconds)
    return "slow"


@activity.defn
async def remote(value: str) -> str:
    return value.upper()


@workflow.defn
class UsesLocal:
    @workflow.run
    async def run(self, key: str) -> list[Any]:
        found = await workflow.execute_local_activity(
            lookup, key, start_to_close_timeout=T, retry_policy=FAST
        )
        after = await workflow.execute_activity(remote, found["key"], start_to_close_timeout=T)
        return [found, after]


@workflow.defn
class FailsLocally:
    @workflow.run
    async def run(self, what: str) -> dict[str, Any]:
        try:
            if what == "timeout":
                await workflow.execute_local_activity(
                    slow_sync,
                    2.0,
                    start_to_close_timeout=timedelta(milliseconds=200),
                    retry_policy=RetryPolicy(
                        maximum_attempts=2, initial_interval=timedelta(milliseconds=10)
                    ),
                )
            elif what == "unregistered":
                await workflow.execute_local_activity("nobody_has_this", start_to_close_timeout=T)
            else:
                await workflow.execute_local_activity(lookup, "bad", start_to_close_timeout=T)
        except ActivityError as err:
            assert err.failure is not None and err.failure.cause is not None
            return {
                "attempt": err.attempt,
                "retry_state": err.retry_state,
                "cause": type(err.cause).__name__,
                "type": getattr(err.cause, "type", ""),
                "stack": err.failure.cause.stack_trace,
            }
        return {}


@workflow.defn
class LongBackoff:
    @workflow.run
    async def run(self) -> dict[str, Any]:
        return await workflow.execute_local_activity(
            lookup,
            "flaky-backoff",
            start_to_close_timeout=T,
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=150)),
            local_retry_threshold=timedelta(milliseconds=100),
        )


constructed: list[str] = []


@workflow.defn
class Alternates:
    """An activity, then a local activity, in turns (a tool call after a model call)."""

    def __init__(self) -> None:
        constructed.append(workflow.info().workflow_id)

    @workflow.run
    async def run(self, turns: int) -> list[str]:
        out: list[str] = []
        for i in range(turns):
            out.append(await workflow.execute_activity(remote, f"t{i}", start_to_close_timeout=T))
            found = await workflow.execute_local_activity(lookup, f"k{i}", start_to_close_timeout=T)
            out.append(found["key"])
        return out


def _types(history: Any) -> list[str]:
    return [e.TYPE for e in history.events]


@pytest.mark.parametrize("cached", [1000, 0], ids=["cached", "replay-every-task"])
async def test_a_local_activity_runs_in_the_workflows_worker_and_is_recorded_once(
    client: Client, cached: int
) -> None:
    calls.clear()
    async with Worker(
        client,
        task_queue="la",
        workflows=[UsesLocal],
        activities=[lookup, remote],
        max_cached_workflows=cached,
    ):
        found, after = await client.execute_workflow(
            UsesLocal.run, "flaky-1", id="la-1", task_queue="la"
        )
    assert found == {"key": "flaky-1", "pid": os.getpid(), "local": True, "attempt": 3}
    assert after == "FLAKY-1"
    assert calls["flaky-1"] == 3  # retried locally, never again after it was recorded
    history = await client.get_workflow_handle("la-1").fetch_history()
    types = _types(history)
    # The outcome and the next command are one task's commands: no schedule, no task.
    start = types.index("LocalActivityRecorded")
    assert types[start - 1 : start + 2] == [
        "WorkflowTaskCompleted",
        "LocalActivityRecorded",
        "ActivityTaskScheduled",
    ]
    recorded = [e for e in history.events if isinstance(e, ev.LocalActivityRecorded)]
    assert [(e.seq, e.activity_type, e.attempt) for e in recorded] == [(1, "lookup", 3)]
    assert types.count("WorkflowTaskCompleted") == 2


@pytest.mark.parametrize(
    ("what", "expected"),
    [
        ("bad", {"attempt": 1, "retry_state": "NON_RETRYABLE_FAILURE", "type": "KeyMissing"}),
        (
            "timeout",
            {
                "attempt": 2,
                "retry_state": "MAXIMUM_ATTEMPTS_REACHED",
                "cause": "TimeoutError",
                "type": "START_TO_CLOSE",
            },
        ),
        (
            "unregistered",
            {"attempt": 1, "retry_state": "NON_RETRYABLE_FAILURE", "type": "NotFoundError"},
        ),
    ],
)
async def test_a_failed_local_activity_raises_activity_error(
    client: Client, what: str, expected: dict[str, Any]
) -> None:
    async with Worker(
        client, task_queue="la", workflows=[FailsLocally], activities=[lookup, slow_sync]
    ):
        result = await client.execute_workflow(
            FailsLocally.run, what, id=f"la-{what}", task_queue="la"
        )
    assert {k: result[k] for k in expected} == expected
    if what == "bad":
        assert "in lookup" in result["stack"]  # where it was raised, in the activity


async def test_a_backoff_longer_than_the_threshold_waits_on_a_durable_timer(
    client: Client,
) -> None:
    calls.clear()
    async with Worker(client, task_queue="la", workflows=[LongBackoff], activities=[lookup]):
        result = await client.execute_workflow(LongBackoff.run, id="la-3", task_queue="la")
    assert result["attempt"] == 3
    history = await client.get_workflow_handle("la-3").fetch_history()
    recorded = [e for e in history.events if isinstance(e, ev.LocalActivityRecorded)]
    assert [(e.attempt, e.backoff_ms is not None, e.result is not None) for e in recorded] == [
        (1, True, False),
        (2, True, False),
        (3, False, True),
    ]
    assert _types(history).count("TimerFired") == 2


@pytest.mark.slow
async def test_a_local_activity_interrupted_by_sigkill_runs_again_elsewhere(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "release-local"
    with harness(tmp_path) as h:
        client = await Client.connect(f"sqlite:///{h.db}")
        handle = await client.start_workflow(
            LocalBlocking.run, str(marker), id="lb", task_queue="kill"
        )
        first = h.spawn()
        h.wait_for_line("start", "local-1")
        h.kill(first)  # nothing of the held task was recorded
        marker.touch()
        h.spawn()
        assert await handle.result(timeout=30) == ["LOCAL-1", "AFTER"]
        assert h.starts()["local-1"] == 2
        assert h.count("end", "local-1") == 1
        history = await handle.fetch_history()
        assert _types(history).count("LocalActivityRecorded") == 1
        await client.close()


async def test_a_local_activity_after_an_activity_holds_the_cached_run(client: Client) -> None:
    """The task an activity's result triggers asks for a local activity: the worker holds
    it with the run it already activated (from its cache), and never rebuilds the run from
    history, so a run alternating the two costs the same per turn however long it gets."""
    constructed.clear()
    async with Worker(
        client, task_queue="la-alt", workflows=[Alternates], activities=[lookup, remote]
    ):
        out = await client.execute_workflow(Alternates.run, 6, id="la-alt", task_queue="la-alt")
    assert out == [x for i in range(6) for x in (f"T{i}", f"k{i}")]
    assert constructed == ["la-alt"]  # one instance: no replay from history
    history = await client.get_workflow_handle("la-alt").fetch_history()
    types = _types(history)
    assert types.count("LocalActivityRecorded") == 6
    assert types.count("ActivityTaskScheduled") == 6
    # Each local outcome is recorded with the next activity's schedule, in one task.
    assert types.count("WorkflowTaskCompleted") == 7
