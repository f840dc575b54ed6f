"""DESIGN section 2 on both backends: activities (typed, sync, async, dynamic), retries,
timeouts, heartbeats, cancellation, at-most-once, timers, patches, children, external
handles, continue-as-new, failures, deterministic waits; describe, list and history."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from duragent import Client, Worker, WorkflowStatus
from duragent._engine import events as ev
from duragent.errors import ActivityError, ApplicationError, WorkflowFailureError

from . import app
from .app import ACTIVITIES, ATTEMPTS, EVENTS, WORKFLOWS, Order

pytestmark = pytest.mark.timeout(120)

Workers = Callable[..., Worker]
Ids = Callable[[str], str]


async def test_activities_typed_sync_async_dynamic(
    client: Client, worker: Workers, task_queue: str, new_id: Ids, max_cached: int
) -> None:
    async with worker(workflows=WORKFLOWS, activities=ACTIVITIES, max_cached_workflows=max_cached):
        handle = await client.start_workflow(
            app.Activities.run, Order("tea", 2), id=new_id("act"), task_queue=task_queue
        )
        text, product, both, dyn, run_id = await handle.result()
    assert run_id == handle.run_id
    assert text == f"teax2|describe|{run_id}:1"  # idempotency key: run id + activity seq
    assert product == 42  # sync activity, default argument
    assert both == 15
    assert dyn == {"type": "lookup", "args": ["a", 1]}
    history = await handle.fetch_history()
    scheduled = [e for e in history.events if isinstance(e, ev.ActivityTaskScheduled)]
    assert [(e.seq, e.activity_type) for e in scheduled] == [
        (1, "describe"),
        (2, "multiply"),
        (3, "multiply"),
        (4, "lookup"),
    ]
    completed = [e for e in history.events if isinstance(e, ev.ActivityTaskCompleted)]
    assert [e.result.to_json_value() for e in completed] == [text, 42, 15, dyn]
    assert isinstance(history.events[-1], ev.WorkflowExecutionCompleted)


async def test_retries_non_retryable_and_exhausted(
    client: Client, worker: Workers, task_queue: str, new_id: Ids
) -> None:
    key = new_id("retries")
    async with worker(workflows=WORKFLOWS, activities=ACTIVITIES):
        out = await client.execute_workflow(app.Retries.run, key, id=key, task_queue=task_queue)
    assert out[0] == 3  # succeeded on its third attempt
    assert out[1:] == [
        ["non_retryable", "ActivityError", "Declined", True, [{"code": 51}]],
        ["by_type", "ActivityError", "ValueError", False, []],
        ["exhausted", "ActivityError", "ValueError", False, []],
    ]
    assert ATTEMPTS[f"{key}-non_retryable"] == 1
    assert ATTEMPTS[f"{key}-by_type"] == 1
    assert ATTEMPTS[f"{key}-exhausted"] == 3
    attempts = await client.backend.activity_attempts(
        key, (await client.get_workflow_handle(key).describe()).run_id
    )
    # The flaky activity's failed attempts are known (Temporal keeps the last one).
    assert any(a.seq == 1 and a.outcome == "failed" for a in attempts)


async def test_three_timeouts(
    client: Client, worker: Workers, task_queue: str, new_id: Ids
) -> None:
    async with worker(workflows=WORKFLOWS, activities=ACTIVITIES):
        out = await client.execute_workflow(
            app.Timeouts.run, new_id("t"), id=new_id("timeouts"), task_queue=task_queue
        )
    assert out == [
        "start_to_close:TimeoutError:START_TO_CLOSE",
        "schedule_to_close:TimeoutError:SCHEDULE_TO_CLOSE",
        "heartbeat:TimeoutError:HEARTBEAT",
    ]


async def test_heartbeat_details_and_cancellation_reach_activities(
    client: Client, worker: Workers, task_queue: str, new_id: Ids
) -> None:
    key = new_id("hb")
    async with worker(workflows=WORKFLOWS, activities=ACTIVITIES):
        out = await client.execute_workflow(app.Heartbeats.run, key, id=key, task_queue=task_queue)
    assert out == [[{"done": 3}], "cancelled", "cancelled"]
    assert f"{key}:async-cancelled" in EVENTS
    assert f"{key}:sync-cancelled" in EVENTS


async def test_at_most_once_is_never_rerun_and_kept_alive(
    client: Client, worker: Workers, task_queue: str, new_id: Ids
) -> None:
    key = new_id("amo")
    async with worker(workflows=WORKFLOWS, activities=ACTIVITIES):
        out = await client.execute_workflow(app.AtMostOnce.run, key, id=key, task_queue=task_queue)
    assert out == ["ActivityAttemptInterrupted", "paid"]
    assert ATTEMPTS[f"{key}-hung"] == 1  # timed out, not retried
    assert ATTEMPTS[f"{key}-long"] == 1
    history = await client.get_workflow_handle(key).fetch_history()
    (failed,) = [e for e in history.events if isinstance(e, ev.ActivityTaskFailed)]
    assert failed.failure.type == "ActivityAttemptInterrupted"


async def test_timers_conditions_patches_and_determinism(
    client: Client, worker: Workers, task_queue: str, new_id: Ids, max_cached: int
) -> None:
    async with worker(workflows=WORKFLOWS, activities=ACTIVITIES, max_cached_workflows=max_cached):
        handle = await client.start_workflow(
            app.Timers.run, 0.05, id=new_id("timers"), task_queue=task_queue
        )
        out = await handle.result()
    assert out == ["slept:True", "condition timed out", "True:36", "patched"]
    events = (await handle.fetch_history()).events
    markers = [e for e in events if isinstance(e, ev.MarkerRecorded)]
    assert [(m.name, m.details["id"]) for m in markers] == [("patch", "v2")]
    assert len([e for e in events if isinstance(e, ev.TimerFired)]) >= 2


async def test_children_external_handles_and_continue_as_new(
    client: Client, worker: Workers, task_queue: str, new_id: Ids
) -> None:
    parent_id = new_id("parent")
    receiver_id = new_id("receiver")
    counter_id = new_id("counter")
    async with worker(workflows=WORKFLOWS, activities=ACTIVITIES):
        out = await client.execute_workflow(app.Parent.run, 4, id=parent_id, task_queue=task_queue)
        receiver = await client.start_workflow(
            app.Receiver.run, id=receiver_id, task_queue=task_queue
        )
        sent = await client.execute_workflow(
            app.Sender.run, receiver_id, id=new_id("sender"), task_queue=task_queue
        )
        assert sent == "sent"
        assert await receiver.result() == ["hello"]
        counter = await client.start_workflow(
            app.Counter.run, args=[0, 2], id=counter_id, task_queue=task_queue
        )
        assert await counter.result() == [2, True, True]
    # Duragent's default child id: "<parent id>/child-<n>".
    assert out == [f"{parent_id}/child-1|{parent_id}|8", "ApplicationError:Negative"]
    parent = await client.get_workflow_handle(parent_id).describe()
    children = await client.backend.child_runs(parent_id, parent.run_id)
    assert [c.workflow_id for c in children] == [f"{parent_id}/child-1", f"{parent_id}/bad"]
    assert [c.status for c in children] == [WorkflowStatus.COMPLETED, WorkflowStatus.FAILED]
    runs = await client.backend.runs_of_workflow(counter_id)
    assert [r.status for r in runs] == ["continued_as_new", "continued_as_new", "completed"]
    last = await counter.describe()
    assert last.run_id == runs[-1].run_id and last.first_run_id == runs[0].run_id


async def test_failures_reach_the_client_and_bugs_retry_the_task(
    client: Client, worker: Workers, task_queue: str, new_id: Ids
) -> None:
    async with worker(workflows=WORKFLOWS, activities=ACTIVITIES):
        with pytest.raises(WorkflowFailureError) as failed:
            await client.execute_workflow(
                app.Failing.run, "application", id=new_id("app"), task_queue=task_queue
            )
        cause = failed.value.cause
        assert isinstance(cause, ApplicationError)
        assert (cause.type, cause.message, list(cause.details)) == ("NoLuck", "no luck", ["detail"])
        with pytest.raises(WorkflowFailureError) as failed:
            await client.execute_workflow(
                app.Failing.run, "activity", id=new_id("act"), task_queue=task_queue
            )
        assert isinstance(failed.value.cause, ActivityError)
        assert isinstance(failed.value.cause.cause, ApplicationError)
        assert failed.value.cause.cause.type == "Declined"
        # A bug (not a FailureError) fails the workflow task; the run stays open.
        handle = await client.start_workflow(
            app.Failing.run, "bug", id=new_id("bug"), task_queue=task_queue
        )
        for _ in range(200):
            desc = await handle.describe()
            if desc.task_failure is not None:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the workflow task never failed")
        assert desc.status == WorkflowStatus.RUNNING
        assert "KeyError" in desc.task_failure and "a bug" in desc.task_failure
        assert desc.task_attempts >= 1
        listed: list[Any] = []
        for _ in range(200):  # Temporal's visibility is eventually consistent
            listed = await client.list_workflows(workflow_id_prefix=handle.id, task_failing=True)
            if listed:
                break
            await asyncio.sleep(0.05)
        assert [e.id for e in listed] == [handle.id]
        await handle.terminate("enough")
        assert (await handle.describe()).status == WorkflowStatus.TERMINATED


async def test_wait_and_as_completed_are_deterministic(
    client: Client, worker: Workers, task_queue: str, new_id: Ids, max_cached: int
) -> None:
    async with worker(workflows=WORKFLOWS, activities=ACTIVITIES, max_cached_workflows=max_cached):
        out = await client.execute_workflow(
            app.Parallel.run, id=new_id("par"), task_queue=task_queue
        )
    assert out[:2] == [True, 3]
    assert sorted(out[2]) == ["done"] * 3


async def test_cancel_terminate_describe_and_list(
    client: Client, worker: Workers, task_queue: str, new_id: Ids
) -> None:
    prefix = new_id("life")
    async with worker(workflows=WORKFLOWS, activities=ACTIVITIES):
        waiting = await client.start_workflow(
            app.Receiver.run, id=f"{prefix}-a", task_queue=task_queue, memo={"owner": "ada"}
        )
        desc = await waiting.describe()
        assert (desc.status, desc.workflow_type, desc.task_queue) == (
            WorkflowStatus.RUNNING,
            "Receiver",
            task_queue,
        )
        assert desc.memo == {"owner": "ada"}
        await waiting.cancel("not needed")
        with pytest.raises(WorkflowFailureError):
            await waiting.result()
        assert (await waiting.describe()).status == WorkflowStatus.CANCELED
        events = (await waiting.fetch_history()).events
        requested = [e for e in events if isinstance(e, ev.WorkflowExecutionCancelRequested)]
        assert [e.reason for e in requested] == ["not needed"]
        assert isinstance(events[-1], ev.WorkflowExecutionCanceled)
        other = await client.start_workflow(
            app.Receiver.run, id=f"{prefix}-b", task_queue=task_queue
        )
        await other.terminate("stop")
        terminated = (await other.fetch_history()).events[-1]
        assert isinstance(terminated, ev.WorkflowExecutionTerminated)
        assert terminated.reason == "stop"
    listed: list[Any] = []
    for _ in range(100):  # Temporal's visibility is eventually consistent
        listed = await client.list_workflows(workflow_id_prefix=prefix)
        if len(listed) == 2 and all(e.status != "running" for e in listed):
            break
        await asyncio.sleep(0.05)
    assert sorted((e.id, e.status) for e in listed) == [
        (f"{prefix}-a", WorkflowStatus.CANCELED),
        (f"{prefix}-b", WorkflowStatus.TERMINATED),
    ]
    assert [e.id for e in await client.list_workflows(workflow_id_prefix=prefix, limit=1)] == [
        f"{prefix}-b"  # newest first
    ]
    assert await client.list_workflows(workflow_id_prefix=prefix, status="completed") == []


async def test_watches_wake_on_changes_and_history_reads_from_an_event(
    client: Client, worker: Workers, task_queue: str, new_id: Ids
) -> None:
    backend = client.backend
    async with worker(workflows=WORKFLOWS, activities=ACTIVITIES):
        handle = await client.start_workflow(
            app.Messages.run, "hi", id=new_id("watch"), task_queue=task_queue
        )
        assert await handle.query(app.Messages.count) == 1  # its first task is done
        assert handle.run_id is not None
        run_watch = backend.watch_run(handle.id, handle.run_id)
        runs_watch = backend.watch_runs()
        try:
            seen = (await backend.read_history(handle.id, handle.run_id))[-1].event_id
            while await run_watch.wait(0.2):  # drain wake-ups from before (may be spurious)
                pass
            await handle.signal(app.Messages.add, "x")
            assert await run_watch.wait(10.0)
            new = await backend.read_history(handle.id, handle.run_id, after_event_id=seen)
            assert new and all(e.event_id > seen for e in new)
            signals = [e for e in new if isinstance(e, ev.WorkflowExecutionSignaled)]
            assert [e.signal_name for e in signals] == ["add"]
            while await runs_watch.wait(0.2):
                pass
            await client.start_workflow(app.Receiver.run, id=new_id("other"), task_queue=task_queue)
            assert await runs_watch.wait(10.0)
        finally:
            run_watch.close()
            runs_watch.close()
        await handle.signal(app.Messages.finish)
        assert await handle.result() == ["hi", "x"]


async def test_an_at_most_once_call_stopped_by_a_graceful_shutdown_is_not_rerun(
    client: Client, worker: Workers, task_queue: str, new_id: Ids
) -> None:
    key = new_id("shutdown")
    async with worker(workflows=WORKFLOWS, activities=ACTIVITIES):
        handle = await client.start_workflow(
            app.PayOnce.run, args=[key, 30.0], id=key, task_queue=task_queue
        )
        for _ in range(200):
            if ATTEMPTS[key]:
                break
            await asyncio.sleep(0.05)
        assert ATTEMPTS[key] == 1
    # The worker shut down mid-call; another one takes the run over.
    async with worker(workflows=WORKFLOWS, activities=ACTIVITIES):
        assert await handle.result(timeout=60) == "ActivityAttemptInterrupted"
    assert ATTEMPTS[key] == 1  # not run again
