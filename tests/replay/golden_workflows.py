"""Workflows whose recorded histories are the golden files in ``golden/``.

Together their histories contain every history event type. ``make_golden.py`` runs them
and writes the files; ``test_golden.py`` replays every file against this code.

These definitions are frozen with the files: changing what a workflow asks for (its
activities, timers, children, their order) makes its golden history nondeterministic,
which is exactly what the replay test is there to catch. Change the code only together
with a regenerated file, and only when the history format itself changes.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from duragent import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    RetryPolicy,
    WorkflowAlreadyStartedError,
    activity,
    workflow,
)

T = timedelta(seconds=10)
HOURLY = RetryPolicy(initial_interval=timedelta(hours=1))


# ----------------------------------------------------------------------------- activities


@activity.defn
async def greet(name: str) -> str:
    return f"hello {name}"


@activity.defn
async def reject(reason: str) -> None:
    raise ApplicationError(reason, type="Rejected", non_retryable=True)


@activity.defn
async def flaky() -> None:
    raise ApplicationError("try again later", type="Transient")


ACTIVITIES = [greet, reject, flaky]


# ------------------------------------------------------------------------------ workflows


@workflow.defn
class Activities:
    """Activities completed, failed, timed out and cancelled (while in retry backoff)."""

    @workflow.run
    async def run(self) -> list[str]:
        out = [await workflow.execute_activity(greet, "golden", start_to_close_timeout=T)]
        try:
            await workflow.execute_activity(reject, "no", start_to_close_timeout=T)
        except ActivityError as err:
            out.append(f"failed: {err.cause}")
        try:
            # The first attempt fails; an hour's backoff would end past the 30 minutes
            # the activity has in all, so it times out (schedule-to-close) at once. (Not a
            # start-to-close timeout: that leaves the timed-out attempt running, which
            # is not what this file is about.)
            await workflow.execute_activity(
                flaky, schedule_to_close_timeout=timedelta(minutes=30), retry_policy=HOURLY
            )
        except ActivityError as err:
            out.append(f"timed out: {type(err.cause).__name__}")
        backing_off = workflow.start_activity(flaky, start_to_close_timeout=T, retry_policy=HOURLY)
        # The first attempt fails and waits an hour to retry; cancel it meanwhile.
        await workflow.sleep(timedelta(minutes=1))
        backing_off.cancel()
        try:
            await backing_off
        except asyncio.CancelledError:
            out.append("cancelled")
        await workflow.sleep(timedelta(minutes=1))  # let the cancellation be recorded
        return out


@workflow.defn
class TimersAndSignals:
    """Timers started, fired and cancelled; signals; a patch marker."""

    def __init__(self) -> None:
        self.names: list[str] = []

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: len(self.names) >= 2)
        if workflow.patched("greeting-v2"):
            self.names.append("patched")
        long_timer = asyncio.ensure_future(workflow.sleep(timedelta(days=30)))
        await workflow.sleep(timedelta(days=1))
        long_timer.cancel()
        try:
            await long_timer
        except asyncio.CancelledError:
            self.names.append("long timer cancelled")
        return self.names

    @workflow.signal
    def add(self, name: str) -> None:
        self.names.append(name)


@workflow.defn
class Cancellable:
    """Cancelled from outside: cleans up, then closes as cancelled."""

    @workflow.run
    async def run(self) -> None:
        try:
            await workflow.wait_condition(lambda: False)
        except asyncio.CancelledError:
            await workflow.execute_activity(greet, "cleanup", start_to_close_timeout=T)
            raise


@workflow.defn
class WaitsForever:
    """Waits without a timer until terminated, cancelled or signalled ``finish``."""

    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.done)
        return "finished"

    @workflow.signal
    def finish(self) -> None:
        self.done = True


@workflow.defn
class Fails:
    @workflow.run
    async def run(self, message: str) -> None:
        raise ApplicationError(message, type="GoldenFailure", non_retryable=True)


@workflow.defn
class Child:
    @workflow.run
    async def run(self, mode: str) -> str:
        if mode == "fail":
            raise ApplicationError("child failed", type="ChildFailure")
        return f"child {mode}"


@workflow.defn
class Parent:
    """Children completed, failed and refused (duplicate id); external signal and cancel,
    and an external request that fails. ``target`` is a running :class:`WaitsForever`."""

    @workflow.run
    async def run(self, target: str) -> list[str]:
        out = [await workflow.execute_child_workflow(Child.run, "ok", id="golden-child-ok")]
        try:
            await workflow.execute_child_workflow(Child.run, "fail", id="golden-child-fail")
        except ChildWorkflowError as err:
            out.append(f"child failed: {err.cause}")
        try:
            await workflow.start_child_workflow(WaitsForever.run, id=target)
        except WorkflowAlreadyStartedError:
            out.append("duplicate child id refused")
        external = workflow.get_external_workflow_handle(target)
        await external.signal(WaitsForever.finish)
        out.append("signalled")
        await workflow.get_external_workflow_handle(f"{target}-2").cancel()
        out.append("cancel requested")
        try:
            await workflow.get_external_workflow_handle("golden-nobody").signal("finish")
        except Exception as err:
            out.append(f"external request failed: {type(err).__name__}")
        return out


@workflow.defn
class Countdown:
    @workflow.run
    async def run(self, n: int) -> str:
        if n > 0:
            workflow.continue_as_new(n - 1)
        return "liftoff"


@workflow.defn
class Updatable:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.closed = False

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self.closed)
        return self.items

    @workflow.update
    async def add(self, item: str) -> int:
        self.items.append(item)
        return len(self.items)

    @workflow.signal
    def close(self) -> None:
        self.closed = True


@workflow.defn
class LocalActivities:
    """Local activities (event version 2): a result, a non-retryable failure, and a retry
    whose backoff (an hour) waits on a durable timer before the last attempt fails."""

    @workflow.run
    async def run(self) -> list[str]:
        out = [await workflow.execute_local_activity(greet, "local", start_to_close_timeout=T)]
        try:
            await workflow.execute_local_activity(reject, "no", start_to_close_timeout=T)
        except ActivityError as err:
            out.append(f"failed: {err.cause} ({err.retry_state})")
        try:
            await workflow.execute_local_activity(
                flaky,
                start_to_close_timeout=T,
                retry_policy=RetryPolicy(initial_interval=timedelta(hours=1), maximum_attempts=2),
            )
        except ActivityError as err:
            out.append(f"gave up after attempt {err.attempt} ({err.retry_state})")
        return out


WORKFLOWS = [
    LocalActivities,
    Activities,
    TimersAndSignals,
    Cancellable,
    WaitsForever,
    Fails,
    Child,
    Parent,
    Countdown,
    Updatable,
]
