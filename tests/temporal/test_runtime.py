"""Duragent workflows and activities, unchanged, on a real Temporal dev server: everything
DESIGN section 2 promises, through ``TemporalRuntime`` and the Temporal worker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

import pytest

from . import app
from .app import ACTIVITIES, ATTEMPTS, EVENTS, WORKFLOWS, Order

pytestmark = pytest.mark.timeout(120)

Workers = Callable[..., AbstractAsyncContextManager[Any]]


def wid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def run(tclient: Any, task_queue: str, workflow: str, *args: Any, id: str = "") -> Any:
    handle = await tclient.start_workflow(
        workflow, args=list(args), id=id or wid(workflow), task_queue=task_queue
    )
    return await handle.result()


async def test_activities_typed_sync_async_dynamic(
    tclient: Any, task_queue: str, temporal_worker: Workers, max_cached: int
) -> None:
    async with temporal_worker(
        workflows=WORKFLOWS, activities=ACTIVITIES, max_cached_workflows=max_cached
    ):
        text, product, both, dyn, run_id = await run(
            tclient, task_queue, "Activities", Order("tea", 2)
        )
    assert text == f"teax2|describe|{run_id}:1"  # idempotency key: run id + activity id
    assert product == 42  # sync activity, default argument
    assert both == 15
    assert dyn == {"type": "lookup", "args": ["a", 1]}


async def test_retries_non_retryable_and_exhausted(
    tclient: Any, task_queue: str, temporal_worker: Workers
) -> None:
    key = wid("retries")
    async with temporal_worker(workflows=WORKFLOWS, activities=ACTIVITIES):
        out = await run(tclient, task_queue, "Retries", key)
    assert out[0] == 3  # succeeded on its third attempt
    assert out[1:] == [
        ["non_retryable", "ActivityError", "Declined", True, [{"code": 51}]],
        ["by_type", "ActivityError", "ValueError", False, []],
        ["exhausted", "ActivityError", "ValueError", False, []],
    ]
    assert ATTEMPTS[f"{key}-non_retryable"] == 1
    assert ATTEMPTS[f"{key}-by_type"] == 1
    assert ATTEMPTS[f"{key}-exhausted"] == 3


async def test_three_timeouts(tclient: Any, task_queue: str, temporal_worker: Workers) -> None:
    async with temporal_worker(workflows=WORKFLOWS, activities=ACTIVITIES):
        out = await run(tclient, task_queue, "Timeouts", wid("timeouts"))
    assert out == [
        "start_to_close:TimeoutError:START_TO_CLOSE",
        "schedule_to_close:TimeoutError:SCHEDULE_TO_CLOSE",
        "heartbeat:TimeoutError:HEARTBEAT",
    ]


async def test_heartbeat_details_and_cancellation_reach_activities(
    tclient: Any, task_queue: str, temporal_worker: Workers
) -> None:
    key = wid("hb")
    async with temporal_worker(workflows=WORKFLOWS, activities=ACTIVITIES):
        out = await run(tclient, task_queue, "Heartbeats", key)
    assert out == [[{"done": 3}], "cancelled", "cancelled"]
    assert f"{key}:async-cancelled" in EVENTS
    assert f"{key}:sync-cancelled" in EVENTS


async def test_at_most_once_is_never_rerun_and_kept_alive(
    tclient: Any, task_queue: str, temporal_worker: Workers
) -> None:
    key = wid("amo")
    async with temporal_worker(
        workflows=WORKFLOWS,
        activities=ACTIVITIES,
        at_most_once_heartbeat_timeout=timedelta(milliseconds=600),
    ):
        out = await run(tclient, task_queue, "AtMostOnce", key)
    assert out == ["ActivityAttemptInterrupted", "paid"]
    assert ATTEMPTS[f"{key}-hung"] == 1  # timed out, not retried
    assert ATTEMPTS[f"{key}-long"] == 1  # ran past the heartbeat timeout, heartbeated for


async def test_signals_queries_updates(
    tclient: Any, task_queue: str, temporal_worker: Workers, max_cached: int
) -> None:
    from temporalio.client import WorkflowUpdateFailedError

    async with temporal_worker(
        workflows=WORKFLOWS, activities=ACTIVITIES, max_cached_workflows=max_cached
    ):
        handle = await tclient.start_workflow(
            "Messages", "hi", id=wid("msg"), task_queue=task_queue
        )
        await handle.signal("add", "a")
        assert await handle.execute_update("add_checked", Order("b")) == 3
        with pytest.raises(WorkflowUpdateFailedError) as rejected:
            await handle.execute_update("add_checked", Order("c", 0))
        assert "quantity must be positive" in str(rejected.value.cause)
        assert await handle.query("count") == 3
        await handle.signal("late", "x")  # kept until the run registers a handler
        await handle.signal("finish")
        result = await handle.result()
        dynamic = await tclient.start_workflow(
            "DynamicSignals", id=wid("dyn"), task_queue=task_queue
        )
        await dynamic.signal("mystery", args=[1, 2])
        await dynamic.signal("other")
        assert await dynamic.result() == ["mystery[1, 2]", "other[]"]
    # "a" may arrive with the start, before run's first line: either order is right.
    assert sorted(result[:2]) == ["a", "hi"]
    assert result[2:] == ["b", "late:x"]


async def test_signal_with_start_and_update_with_start(
    tclient: Any, task_queue: str, temporal_worker: Workers
) -> None:
    from temporalio.client import WithStartWorkflowOperation
    from temporalio.common import WorkflowIDConflictPolicy

    async with temporal_worker(workflows=WORKFLOWS, activities=ACTIVITIES):
        handle = await tclient.start_workflow(
            "Messages",
            "hi",
            id=wid("sws"),
            task_queue=task_queue,
            start_signal="add",
            start_signal_args=["first"],
        )
        await handle.signal("late", "l")
        await handle.signal("finish")
        assert (await handle.result())[:2] == ["first", "hi"]  # signal before run's first line

        start = WithStartWorkflowOperation(
            "Messages",
            "hi",
            id=wid("uws"),
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        assert (
            await tclient.execute_update_with_start_workflow(
                "add_checked", Order("u"), start_workflow_operation=start
            )
            == 2
        )


async def test_timers_conditions_patches_and_determinism(
    tclient: Any, task_queue: str, temporal_worker: Workers, max_cached: int
) -> None:
    async with temporal_worker(
        workflows=WORKFLOWS, activities=ACTIVITIES, max_cached_workflows=max_cached
    ):
        out = await run(tclient, task_queue, "Timers", 0.05)
    assert out == ["slept:True", "condition timed out", "True:36", "patched"]


async def test_children_external_handles_and_continue_as_new(
    tclient: Any, task_queue: str, temporal_worker: Workers
) -> None:
    parent_id = wid("parent")
    receiver_id = wid("receiver")
    async with temporal_worker(workflows=WORKFLOWS, activities=ACTIVITIES):
        out = await run(tclient, task_queue, "Parent", 4, id=parent_id)
        receiver = await tclient.start_workflow("Receiver", id=receiver_id, task_queue=task_queue)
        assert await run(tclient, task_queue, "Sender", receiver_id) == "sent"
        assert await receiver.result() == ["hello"]
        assert await run(tclient, task_queue, "Counter", 0, 3) == [3, True, True]
    # Duragent's default child id: "<parent id>/child-<n>".
    assert out == [f"{parent_id}/child-1|{parent_id}|8", "ApplicationError:Negative"]


async def test_failures_reach_the_client_and_bugs_retry_the_task(
    tclient: Any, task_queue: str, temporal_worker: Workers
) -> None:
    from temporalio.api.enums.v1 import EventType
    from temporalio.client import WorkflowFailureError
    from temporalio.exceptions import ActivityError, ApplicationError

    async with temporal_worker(workflows=WORKFLOWS, activities=ACTIVITIES):
        with pytest.raises(WorkflowFailureError) as failed:
            await run(tclient, task_queue, "Failing", "application")
        cause = failed.value.cause
        assert isinstance(cause, ApplicationError)
        assert (cause.type, cause.message, list(cause.details)) == ("NoLuck", "no luck", ["detail"])
        with pytest.raises(WorkflowFailureError) as failed:
            await run(tclient, task_queue, "Failing", "activity")
        assert isinstance(failed.value.cause, ActivityError)
        assert isinstance(failed.value.cause.cause, ApplicationError)
        assert failed.value.cause.cause.type == "Declined"
        # A bug (not a FailureError) fails the workflow task; the run stays open.
        handle = await tclient.start_workflow(
            "Failing", "bug", id=wid("bug"), task_queue=task_queue
        )
        for _ in range(100):
            history = await handle.fetch_history()
            if any(
                e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED for e in history.events
            ):
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the workflow task never failed")
        assert (await handle.describe()).status.name == "RUNNING"
        await handle.terminate()


async def test_wait_and_as_completed_are_deterministic(
    tclient: Any, task_queue: str, temporal_worker: Workers, max_cached: int
) -> None:
    async with temporal_worker(
        workflows=WORKFLOWS, activities=ACTIVITIES, max_cached_workflows=max_cached
    ):
        out = await run(tclient, task_queue, "Parallel")
    assert out[:2] == [True, 3]
    assert sorted(out[2]) == ["done"] * 3


def test_app_names_match_the_agents_integration() -> None:
    from duragent.openai_agents import _names
    from duragent.temporal import _instance

    assert _instance.APPROVAL_MARKER == _names.APPROVAL_MARKER
    assert _instance.DECIDE_UPDATE == _names.DECIDE_UPDATE
    assert _instance.PENDING_QUERY == _names.PENDING_QUERY
    assert app.SHORT  # the app module is shared with the parity suite


async def test_the_same_app_runs_on_the_embedded_engine(client: Any) -> None:
    """The workflows above are plain Duragent code: the embedded engine runs them too."""
    from duragent import Worker

    async with Worker(client, task_queue="embedded", workflows=WORKFLOWS, activities=ACTIVITIES):
        parallel = await client.execute_workflow("Parallel", id=wid("par"), task_queue="embedded")
        timers = await client.execute_workflow(
            "Timers", 0.05, id=wid("timers"), task_queue="embedded"
        )
    assert parallel[:2] == [True, 3]
    assert timers == ["slept:True", "condition timed out", "True:36", "patched"]
