"""Workflows and activities written against Duragent's public API only: the parity suite
runs them on both backends (embedded and Temporal)."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from duragent import ActivityError, ApplicationError, RetryPolicy, activity, workflow
from duragent.errors import CancelledError, ChildWorkflowError

SHORT = timedelta(seconds=10)
FAST_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=10), maximum_attempts=3)

# Side effects seen by the test process (workers run in it): attempts per key.
ATTEMPTS: defaultdict[str, int] = defaultdict(int)
EVENTS: list[str] = []


@dataclass
class Order:
    item: str
    quantity: int = 1
    tags: list[str] = field(default_factory=lambda: [])


@activity.defn
async def describe(order: Order) -> str:
    info = activity.info()
    return f"{order.item}x{order.quantity}|{info.activity_type}|{info.idempotency_key}"


@activity.defn
def multiply(x: int, y: int = 2) -> int:
    return x * y


@activity.defn
async def flaky(key: str, fail_times: int) -> int:
    ATTEMPTS[key] += 1
    if ATTEMPTS[key] <= fail_times:
        raise RuntimeError(f"attempt {ATTEMPTS[key]} failed")
    return activity.info().attempt


@activity.defn
async def refuse(key: str, kind: str) -> None:
    ATTEMPTS[key] += 1
    if kind == "non_retryable":
        raise ApplicationError("card declined", {"code": 51}, type="Declined", non_retryable=True)
    raise ValueError("bad value")


@activity.defn
async def slow(key: str, seconds: float) -> str:
    ATTEMPTS[key] += 1
    await asyncio.sleep(seconds)
    return "done"


@activity.defn
async def resumable(key: str) -> list[Any]:
    """Heartbeats progress, fails its first attempt; the second sees the details."""
    ATTEMPTS[key] += 1
    info = activity.info()
    if info.attempt == 1:
        activity.heartbeat({"done": 3})
        await asyncio.sleep(0.3)  # let the heartbeat reach the server
        raise RuntimeError("crash after progress")
    return list(info.heartbeat_details)


@activity.defn
async def wait_for_cancel_async(key: str) -> str:
    while True:
        try:
            activity.heartbeat()
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            EVENTS.append(f"{key}:async-cancelled")
            raise


@activity.defn
def wait_for_cancel_sync(key: str) -> str:
    while True:
        try:
            activity.heartbeat()
        except CancelledError:
            EVENTS.append(f"{key}:sync-cancelled")
            raise
        time.sleep(0.05)


@activity.defn(dynamic=True)
async def anything(args: list[Any]) -> dict[str, Any]:
    return {"type": activity.info().activity_type, "args": args}


@activity.defn(at_most_once=True)
async def pay_once(key: str, seconds: float) -> str:
    ATTEMPTS[key] += 1
    await asyncio.sleep(seconds)
    return "paid"


ACTIVITIES = [
    describe,
    multiply,
    flaky,
    refuse,
    slow,
    resumable,
    wait_for_cancel_async,
    wait_for_cancel_sync,
    anything,
    pay_once,
]


@workflow.defn
class Activities:
    """Sync and async activities, typed arguments, dynamic activity, idempotency key."""

    @workflow.run
    async def run(self, order: Order) -> list[Any]:
        text = await workflow.execute_activity(describe, order, start_to_close_timeout=SHORT)
        product = await workflow.execute_activity(multiply, 21, start_to_close_timeout=SHORT)
        both = await workflow.execute_activity(multiply, args=[3, 5], start_to_close_timeout=SHORT)
        dyn = await workflow.execute_activity("lookup", args=["a", 1], start_to_close_timeout=SHORT)
        return [text, product, both, dyn, workflow.info().run_id]


@workflow.defn
class Retries:
    @workflow.run
    async def run(self, key: str) -> list[Any]:
        out: list[Any] = []
        out.append(
            await workflow.execute_activity(
                flaky,
                args=[key + "-flaky", 2],
                start_to_close_timeout=SHORT,
                retry_policy=FAST_RETRY,
            )
        )
        for kind, policy in (
            ("non_retryable", FAST_RETRY),
            (
                "by_type",
                RetryPolicy(
                    initial_interval=timedelta(milliseconds=10),
                    non_retryable_error_types=["ValueError"],
                ),
            ),
            ("exhausted", FAST_RETRY),
        ):
            try:
                await workflow.execute_activity(
                    refuse,
                    args=[f"{key}-{kind}", "non_retryable" if kind == "non_retryable" else "x"],
                    start_to_close_timeout=SHORT,
                    retry_policy=policy,
                )
            except ActivityError as err:
                cause = err.cause
                assert isinstance(cause, ApplicationError)
                out.append(
                    [kind, type(err).__name__, cause.type, cause.non_retryable, list(cause.details)]
                )
        return out


@workflow.defn
class Timeouts:
    @workflow.run
    async def run(self, key: str) -> list[str]:
        out: list[str] = []
        no_retry = RetryPolicy(maximum_attempts=1)
        options: tuple[tuple[str, dict[str, Any]], ...] = (
            ("start_to_close", {"start_to_close_timeout": timedelta(milliseconds=300)}),
            ("schedule_to_close", {"schedule_to_close_timeout": timedelta(milliseconds=300)}),
            (
                "heartbeat",
                {"start_to_close_timeout": SHORT, "heartbeat_timeout": timedelta(milliseconds=300)},
            ),
        )
        for name, kwargs in options:
            try:
                await workflow.execute_activity(
                    slow, args=[f"{key}-{name}", 3.0], retry_policy=no_retry, **kwargs
                )
            except ActivityError as err:
                out.append(f"{name}:{type(err.cause).__name__}:{getattr(err.cause, 'type', '')}")
        return out


@workflow.defn
class Heartbeats:
    @workflow.run
    async def run(self, key: str) -> list[Any]:
        details = await workflow.execute_activity(
            resumable,
            key,
            start_to_close_timeout=SHORT,
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=10)),
        )
        out: list[Any] = [details]
        for fn in (wait_for_cancel_async, wait_for_cancel_sync):
            handle = workflow.start_activity(
                fn, key, start_to_close_timeout=SHORT, heartbeat_timeout=timedelta(seconds=2)
            )
            await workflow.sleep(0.5)
            handle.cancel()
            try:
                await handle
            except asyncio.CancelledError:
                out.append("cancelled")
        # Give the activities time to see the cancellation before the run closes.
        await workflow.sleep(1)
        return out


@workflow.defn
class AtMostOnce:
    @workflow.run
    async def run(self, key: str) -> list[str]:
        out: list[str] = []
        try:
            await workflow.execute_activity(
                pay_once,
                args=[key + "-hung", 5.0],
                start_to_close_timeout=timedelta(milliseconds=400),
            )
        except ActivityError as err:
            assert isinstance(err.cause, ApplicationError)
            out.append(err.cause.type)
        # Longer than the worker's default heartbeat timeout: kept alive by the worker.
        out.append(
            await workflow.execute_activity(
                pay_once, args=[key + "-long", 1.5], start_to_close_timeout=SHORT
            )
        )
        return out


@workflow.defn
class PayOnce:
    """One long at-most-once call: its result, or why it did not finish."""

    @workflow.run
    async def run(self, key: str, seconds: float) -> str:
        try:
            return await workflow.execute_activity(
                pay_once, args=[key, seconds], start_to_close_timeout=timedelta(seconds=60)
            )
        except ActivityError as err:
            assert isinstance(err.cause, ApplicationError)
            return err.cause.type


@workflow.defn
class Messages:
    """Signals (named, dynamic, registered at run time), queries, updates with validator."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.done = False

    @workflow.run
    async def run(self, greeting: str) -> list[str]:
        self.items.append(greeting)
        await workflow.wait_condition(lambda: self.done)
        # Signals named "late" that came before this line were kept; they arrive now.
        workflow.set_signal_handler("late", self._late)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.items

    def _late(self, value: str) -> None:
        self.items.append(f"late:{value}")

    @workflow.signal
    def add(self, item: str) -> None:
        self.items.append(item)

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.query
    def count(self) -> int:
        return len(self.items)

    @workflow.update
    async def add_checked(self, order: Order) -> int:
        await workflow.sleep(0.01)
        self.items.append(order.item)
        return len(self.items)

    @add_checked.validator
    def _check(self, order: Order) -> None:
        if order.quantity <= 0:
            raise ValueError("quantity must be positive")


@workflow.defn
class DynamicSignals:
    def __init__(self) -> None:
        self.items: list[str] = []

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: len(self.items) >= 2)
        return self.items

    @workflow.signal(dynamic=True)
    def other(self, name: str, args: list[Any]) -> None:
        self.items.append(f"{name}{args}")


@workflow.defn
class Timers:
    def __init__(self) -> None:
        self.poked = False

    @workflow.run
    async def run(self, seconds: float) -> list[str]:
        start = workflow.now()
        await workflow.sleep(seconds)
        await asyncio.sleep(seconds)
        out = [f"slept:{(workflow.now() - start).total_seconds() >= 2 * seconds}"]
        try:
            await workflow.wait_condition(lambda: self.poked, timeout=timedelta(milliseconds=50))
        except TimeoutError:
            out.append("condition timed out")
        r = workflow.random().randint(0, 10**9)
        u = str(workflow.uuid4())
        out.append(f"{r > -1}:{len(u)}")
        if workflow.patched("v2"):
            out.append("patched")
        return out


@workflow.defn
class Child:
    @workflow.run
    async def run(self, n: int) -> str:
        if n < 0:
            raise ApplicationError("negative", type="Negative", non_retryable=True)
        info = workflow.info()
        return f"{info.workflow_id}|{info.parent_workflow_id}|{n * 2}"


@workflow.defn
class Parent:
    @workflow.run
    async def run(self, n: int) -> list[str]:
        out = [await workflow.execute_child_workflow(Child.run, n)]
        try:
            await workflow.execute_child_workflow(
                Child.run, -1, id=workflow.info().workflow_id + "/bad"
            )
        except ChildWorkflowError as err:
            out.append(f"{type(err.cause).__name__}:{getattr(err.cause, 'type', '')}")
        return out


@workflow.defn
class ChildWithPolicy:
    """Starts a child with the parent close policy it is given (the bad-input tests give
    one that does not exist)."""

    @workflow.run
    async def run(self, policy: str) -> str:
        return await workflow.execute_child_workflow(Child.run, 1, parent_close_policy=policy)


@workflow.defn
class Receiver:
    def __init__(self) -> None:
        self.got: list[str] = []

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: bool(self.got))
        return self.got

    @workflow.signal
    def deliver(self, value: str) -> None:
        self.got.append(value)


@workflow.defn
class Sender:
    @workflow.run
    async def run(self, target: str) -> str:
        await workflow.get_external_workflow_handle(target).signal(Receiver.deliver, "hello")
        return "sent"


@workflow.defn
class Counter:
    @workflow.run
    async def run(self, n: int, limit: int) -> list[Any]:
        if n < limit:
            workflow.continue_as_new(args=[n + 1, limit])
        info = workflow.info()
        return [n, info.continued_run_id is not None, info.first_run_id != info.run_id]


@workflow.defn
class Failing:
    @workflow.run
    async def run(self, kind: str) -> None:
        if kind == "application":
            raise ApplicationError("no luck", "detail", type="NoLuck", non_retryable=True)
        if kind == "activity":
            await workflow.execute_activity(
                refuse, args=["fail-wf", "non_retryable"], start_to_close_timeout=SHORT
            )
        raise KeyError("a bug: the task is retried, the run stays open")


@workflow.defn
class Parallel:
    @workflow.run
    async def run(self) -> list[Any]:
        handles = [
            workflow.start_activity(
                slow, args=[f"p{i}", 0.05 * (3 - i)], start_to_close_timeout=SHORT
            )
            for i in range(3)
        ]
        done, pending = await workflow.wait(handles, return_when=asyncio.FIRST_COMPLETED)
        order = [await f for f in workflow.as_completed(handles)]
        return [len(done) >= 1, len(done) + len(pending), order]


@activity.defn
async def echo(value: Any) -> Any:
    return value


@activity.defn
async def grow(n: int) -> str:
    ATTEMPTS[f"grow-{n}"] += 1
    return "x" * n


@workflow.defn
class Echo:
    @workflow.run
    async def run(self, value: Any) -> Any:
        return value


@workflow.defn
class RunActivity:
    """Runs one activity by name (the bad-input tests pick the name and arguments)."""

    @workflow.run
    async def run(self, name: str, args: list[Any]) -> Any:
        return await workflow.execute_activity(
            name,
            args=args,
            start_to_close_timeout=SHORT,
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=100),
                maximum_interval=timedelta(milliseconds=500),
            ),
        )


ACTIVITIES += [echo, grow]

WORKFLOWS = [
    PayOnce,
    RunActivity,
    Echo,
    Activities,
    Retries,
    Timeouts,
    Heartbeats,
    AtMostOnce,
    Messages,
    DynamicSignals,
    Timers,
    Child,
    Parent,
    ChildWithPolicy,
    Receiver,
    Sender,
    Counter,
    Failing,
    Parallel,
]
