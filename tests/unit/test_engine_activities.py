"""Engine core: activities in, commands out (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from duragent import ActivityError, ApplicationError, activity, workflow
from duragent._engine import commands as cmd
from duragent._engine import events as ev
from duragent._engine.failure import Failure

from .history_builder import HistoryBuilder, kinds

T = timedelta(seconds=10)


@dataclass
class Order:
    item: str
    qty: int


@activity.defn
async def price(order: Order) -> float:
    raise NotImplementedError


@activity.defn
async def charge(amount: float) -> str:
    raise NotImplementedError


@workflow.defn
class Checkout:
    @workflow.run
    async def run(self, order: Order) -> str:
        amount = await workflow.execute_activity(price, order, start_to_close_timeout=T)
        receipt = await workflow.execute_activity(charge, amount, start_to_close_timeout=T)
        return f"{receipt} for {order.qty} {order.item}"


def test_sequential_activities_produce_one_command_per_task() -> None:
    h = HistoryBuilder(Checkout.run, Order("tea", 2))
    first = h.step()
    assert kinds(first) == ["ScheduleActivity(seq=1, type='price')"]
    schedule = first[0]
    assert isinstance(schedule, cmd.ScheduleActivity)
    assert schedule.task_queue == "q"
    assert schedule.start_to_close_timeout_ms == 10_000
    assert b'"item":"tea"' in schedule.input[0].data  # the dataclass went over as JSON

    h.complete_activity(1, 7.5)
    assert kinds(h.step()) == ["ScheduleActivity(seq=2, type='charge')"]
    h.complete_activity(2, "receipt-9")
    (done,) = h.step()
    assert isinstance(done, cmd.CompleteWorkflow)
    assert done.result.to_json_value() == "receipt-9 for 2 tea"


def test_activity_result_is_decoded_with_the_return_annotation() -> None:
    seen: list[object] = []

    @activity.defn
    async def get_order() -> Order:
        raise NotImplementedError

    @workflow.defn
    class UsesOrder:
        @workflow.run
        async def run(self) -> None:
            seen.append(await workflow.execute_activity(get_order, start_to_close_timeout=T))

    h = HistoryBuilder(UsesOrder.run)
    h.step()
    h.complete_activity(1, {"item": "pen", "qty": 3})
    h.step()
    assert seen == [Order("pen", 3)]


def test_failed_activity_raises_activity_error_with_cause() -> None:
    caught: list[BaseException] = []

    @workflow.defn
    class Catches:
        @workflow.run
        async def run(self) -> str:
            try:
                await workflow.execute_activity(charge, 1.0, start_to_close_timeout=T)
            except ActivityError as err:
                caught.append(err)
                return "handled"
            return "no"

    h = HistoryBuilder(Catches.run)
    h.step()
    h.add(
        ev.ActivityTaskFailed,
        seq=1,
        attempt=3,
        failure=Failure(message="card declined", type="Declined", non_retryable=True),
    )
    (done,) = h.step()
    assert isinstance(done, cmd.CompleteWorkflow)
    err = caught[0]
    assert isinstance(err, ActivityError)
    assert err.attempt == 3
    assert isinstance(err.cause, ApplicationError)
    assert err.cause.type == "Declined"
    assert err.cause.non_retryable


def test_unhandled_activity_error_fails_the_workflow() -> None:
    h = HistoryBuilder(Checkout.run, Order("tea", 1))
    h.step()
    h.add(ev.ActivityTaskFailed, seq=1, attempt=1, failure=Failure(message="down"))
    (done,) = h.step()
    assert isinstance(done, cmd.FailWorkflow)
    assert done.failure.type == "ActivityError"
    assert done.failure.cause is not None
    assert done.failure.cause.message == "down"


def test_bug_in_workflow_code_is_a_task_failure_not_a_workflow_failure() -> None:
    @workflow.defn
    class Buggy:
        @workflow.run
        async def run(self) -> None:
            raise KeyError("oops")

    h = HistoryBuilder(Buggy.run)
    h.run.feed(h.events)
    live = h.run.activate(h.time)
    assert live is not None
    assert isinstance(live.failure, KeyError)
    assert not live.commands


def test_activity_without_timeout_is_rejected_in_workflow_code() -> None:
    @workflow.defn
    class NoTimeout:
        @workflow.run
        async def run(self) -> None:
            await workflow.execute_activity(charge, 1.0)

    h = HistoryBuilder(NoTimeout.run)
    h.run.feed(h.events)
    live = h.run.activate(h.time)
    assert live is not None
    assert live.failure is not None
    assert "start_to_close_timeout" in str(live.failure)


def test_activity_called_by_name_with_result_type() -> None:
    got: list[object] = []

    @workflow.defn
    class ByName:
        @workflow.run
        async def run(self) -> None:
            got.append(
                await workflow.execute_activity(
                    "remote_thing",
                    args=[1, "a"],
                    result_type=Order,
                    start_to_close_timeout=T,
                    task_queue="other",
                )
            )

    h = HistoryBuilder(ByName.run)
    (schedule,) = h.step()
    assert isinstance(schedule, cmd.ScheduleActivity)
    assert schedule.activity_type == "remote_thing"
    assert schedule.task_queue == "other"
    assert [p.to_json_value() for p in schedule.input] == [1, "a"]
    h.complete_activity(1, {"item": "x", "qty": 1})
    h.step()
    assert got == [Order("x", 1)]


def test_cancelling_an_activity_in_the_same_task_records_nothing() -> None:
    @workflow.defn
    class CancelEarly:
        @workflow.run
        async def run(self) -> str:
            handle = workflow.start_activity(charge, 1.0, start_to_close_timeout=T)
            handle.cancel()
            return "ok"

    h = HistoryBuilder(CancelEarly.run)
    assert kinds(h.step()) == ["CompleteWorkflow"]


def test_cancelling_a_scheduled_activity_requests_cancellation() -> None:
    @workflow.defn
    class CancelLater:
        def __init__(self) -> None:
            self.stop = False

        @workflow.run
        async def run(self) -> str:
            handle = workflow.start_activity(charge, 1.0, start_to_close_timeout=T)
            await workflow.wait_condition(lambda: self.stop)
            handle.cancel()
            try:
                await handle
            except BaseException as err:  # asyncio.CancelledError
                return type(err).__name__
            return "finished"

        @workflow.signal
        def halt(self) -> None:
            self.stop = True

    h = HistoryBuilder(CancelLater.run)
    assert kinds(h.step()) == ["ScheduleActivity(seq=1, type='charge')"]
    h.add(ev.WorkflowExecutionSignaled, signal_name="halt")
    commands = h.step()
    assert kinds(commands) == ["RequestCancelActivity(seq=1)", "CompleteWorkflow"]
    done = commands[1]
    assert isinstance(done, cmd.CompleteWorkflow)
    assert done.result.to_json_value() == "CancelledError"


@pytest.mark.parametrize("bad", [object(), {1, 2, object()}])
def test_unserializable_activity_argument_is_a_clear_task_failure(bad: object) -> None:
    @workflow.defn
    class Bad:
        @workflow.run
        async def run(self) -> None:
            # The wrong type on purpose (a type error too): the runtime check is under test.
            await workflow.execute_activity(charge, bad, start_to_close_timeout=T)  # pyright: ignore[reportArgumentType, reportCallIssue]

    h = HistoryBuilder(Bad.run)
    h.run.feed(h.events)
    live = h.run.activate(h.time)
    assert live is not None
    assert live.failure is not None
    assert "cannot be serialized" in str(live.failure)
    assert "charge" in str(live.failure)
