"""Activities that are not plain functions: methods bound to an instance that holds their
dependencies, and callable objects (Temporal's usual ways to inject a client)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from duragent import (
    ActivityError,
    Client,
    ConfigurationError,
    RetryPolicy,
    Worker,
    activity,
    workflow,
)

T = timedelta(seconds=10)


@dataclass
class Greeter:
    """Holds a dependency (here a greeting and a call log) the activities need."""

    greeting: str
    calls: list[str] = field(default_factory=list)

    @activity.defn
    async def greet(self, name: str) -> str:
        self.calls.append(name)
        return f"{self.greeting}, {name}!"

    @activity.defn(name="shout")
    def shout(self, name: str, times: int = 1) -> str:
        self.calls.append(name.upper())
        return "!".join([name.upper()] * times)


@activity.defn
class Counter:
    """A callable class: the class is decorated, an instance registered."""

    def __init__(self, start: int) -> None:
        self.value = start

    async def __call__(self, step: int) -> int:
        self.value += step
        return self.value


class Doubler:
    """A callable class whose ``__call__`` is decorated."""

    def __init__(self, factor: int) -> None:
        self.factor = factor

    @activity.defn(name="double")
    def __call__(self, x: int) -> int:
        return x * self.factor


@workflow.defn
class UsesMethods:
    @workflow.run
    async def run(self, name: str) -> list[object]:
        a = await workflow.execute_activity_method(Greeter.greet, name, start_to_close_timeout=T)
        b = await workflow.execute_activity_method(
            Greeter.shout, args=[name, 2], start_to_close_timeout=T
        )
        c = await workflow.execute_activity_class(Counter, 5, start_to_close_timeout=T)
        d = await workflow.start_activity_class(Doubler, 21, start_to_close_timeout=T)
        return [a, b, c, d]


async def test_bound_methods_and_callable_objects_keep_their_instance(client: Client) -> None:
    greeter = Greeter("Hello")
    counter = Counter(100)
    q = f"q-{uuid.uuid4().hex[:6]}"
    async with Worker(
        client,
        task_queue=q,
        workflows=[UsesMethods],
        activities=[greeter.greet, greeter.shout, counter, Doubler(3)],
    ):
        result = await client.execute_workflow(UsesMethods.run, "ada", id="m-1", task_queue=q)
    assert result == ["Hello, ada!", "ADA!ADA", 105, 63]
    assert greeter.calls == ["ada", "ADA"]
    assert counter.value == 105


def test_a_method_taken_from_its_class_is_refused_with_the_fix(client: Client) -> None:
    with pytest.raises(ConfigurationError, match=r"Greeter\.greet.*is a method.*bound"):
        Worker(client, task_queue="q", activities=[Greeter.greet])
    with pytest.raises(ConfigurationError, match=r"Counter.*is a class.*instance"):
        Worker(client, task_queue="q", activities=[Counter])


def test_two_instances_of_one_method_cannot_share_a_name(client: Client) -> None:
    with pytest.raises(ConfigurationError, match="two activities are named 'greet'"):
        Worker(client, task_queue="q", activities=[Greeter("a").greet, Greeter("b").greet])


@activity.defn
async def reads_workflow_time() -> str:
    return workflow.now().isoformat()


@workflow.defn
class CallsIt:
    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.execute_activity(
                reads_workflow_time,
                start_to_close_timeout=T,
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
        except ActivityError as err:
            return str(err.cause)
        return "no error"


async def test_an_activity_calling_a_workflow_function_is_told_where_it_is(
    client: Client,
) -> None:
    async with Worker(
        client, task_queue="wf-fn", workflows=[CallsIt], activities=[reads_workflow_time]
    ):
        message = await client.execute_workflow(CallsIt.run, id="m-2", task_queue="wf-fn")
    assert message == (
        "duragent.workflow.now() was called from activity code (activity "
        "'reads_workflow_time'), which is not workflow code: workflow functions work only "
        "inside a @workflow.defn class. Call it in the workflow and pass the value to the "
        "activity"
    )
