"""Worker interceptors (``duragent.interceptor``) on both backends: every attempt of every
kind of activity goes through the chain in order, an interceptor can change the arguments
and the result, ``info()`` and ``heartbeat()`` go through the outbound chain, a raise fails
the attempt (and it is retried), and what is not supported is refused by name."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import temporalio.worker

from duragent import (
    ApplicationError,
    Client,
    ConfigurationError,
    RetryPolicy,
    Worker,
    activity,
    workflow,
)
from duragent.activity import Info
from duragent.interceptor import (
    ActivityInboundInterceptor,
    ActivityOutboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

pytestmark = pytest.mark.timeout(120)

_seen: list[str] = []
"""What the interceptors and activities saw, in order (one test runs at a time)."""


@activity.defn
async def greet(name: str) -> str:
    activity.heartbeat("greeting", name)
    return f"hello {name} from {activity.info().activity_type}"


@activity.defn
def shout(text: str) -> str:
    activity.heartbeat("shouting")
    return f"{text.upper()} from {activity.info().activity_type}"


@activity.defn
async def flaky(key: str) -> int:
    return activity.info().attempt


@workflow.defn
class Intercepted:
    @workflow.run
    async def run(self, key: str) -> list[Any]:
        options: dict[str, Any] = {"start_to_close_timeout": timedelta(seconds=10)}
        retry = RetryPolicy(initial_interval=timedelta(milliseconds=10), maximum_attempts=3)
        return [
            await workflow.execute_activity(greet, "ada", **options),
            await workflow.execute_activity(shout, "hi", **options),
            await workflow.execute_local_activity(greet, "bo", **options),
            await workflow.execute_activity(flaky, key, retry_policy=retry, **options),
        ]


class _Outbound(ActivityOutboundInterceptor):
    def __init__(self, next: ActivityOutboundInterceptor, tag: str) -> None:
        super().__init__(next)
        self.tag = tag

    def info(self) -> Info:
        info = super().info()
        return dataclasses.replace(info, activity_type=f"{info.activity_type}+{self.tag}")

    def heartbeat(self, *details: Any) -> None:
        _seen.append(f"{self.tag} beat {list(details)}")
        super().heartbeat(*details)


class _Inbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, tag: str) -> None:
        super().__init__(next)
        self.tag = tag

    def init(self, outbound: ActivityOutboundInterceptor) -> None:
        super().init(_Outbound(outbound, self.tag))

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        name = getattr(input.fn, "__name__", "?")
        _seen.append(f"{self.tag}> {name} {list(input.args)}")
        if self.tag == "inner" and name == "flaky" and activity.info().attempt == 1:
            raise ApplicationError("refused by the interceptor")
        if self.tag == "inner" and name == "greet":
            input.args = [f"{input.args[0]}!"]  # the function gets the changed argument
        assert (input.executor is None) == (name != "shout")
        result = await super().execute_activity(input)
        _seen.append(f"<{self.tag} {name}")
        return f"{result} [{self.tag}]" if isinstance(result, str) else result


class _Tagging(Interceptor):
    def __init__(self, tag: str) -> None:
        self.tag = tag

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Inbound(next, self.tag)


async def test_every_attempt_goes_through_the_chain_in_order(
    client: Client, worker: Callable[..., Worker], task_queue: str, new_id: Callable[[str], str]
) -> None:
    _seen.clear()
    key = new_id("intercepted")
    async with worker(
        workflows=[Intercepted],
        activities=[greet, shout, flaky],
        interceptors=[_Tagging("outer"), _Tagging("inner")],
    ):
        out = await client.execute_workflow(Intercepted.run, key, id=key, task_queue=task_queue)
    # The outer interceptor wrapped the outbound chain first: its info() is the deeper one.
    assert out == [
        "hello ada! from greet+outer+inner [inner] [outer]",
        "HI from shout+outer+inner [inner] [outer]",
        "hello bo! from greet+outer+inner [inner] [outer]",
        2,  # the first attempt was refused by the interceptor, then retried
    ]
    assert _seen == [
        "outer> greet ['ada']",
        "inner> greet ['ada']",
        "inner beat ['greeting', 'ada!']",
        "outer beat ['greeting', 'ada!']",
        "<inner greet",
        "<outer greet",
        "outer> shout ['hi']",
        "inner> shout ['hi']",
        "inner beat ['shouting']",
        "outer beat ['shouting']",
        "<inner shout",
        "<outer shout",
        "outer> greet ['bo']",
        "inner> greet ['bo']",
        "inner beat ['greeting', 'bo!']",
        "outer beat ['greeting', 'bo!']",
        "<inner greet",
        "<outer greet",
        f"outer> flaky ['{key}']",
        f"inner> flaky ['{key}']",
        f"outer> flaky ['{key}']",
        f"inner> flaky ['{key}']",
        "<inner flaky",
        "<outer flaky",
    ]


class _WithWorkflows(Interceptor):
    def workflow_interceptor_class(self, input: Any) -> Any:
        return None


class _TemporalOne(temporalio.worker.Interceptor):
    pass


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (_WithWorkflows(), "workflow interceptors are not supported yet"),
        (_TemporalOne(), "subclass duragent.interceptor.Interceptor"),
        (object(), "must be duragent.interceptor.Interceptor instances"),
    ],
)
async def test_what_is_not_supported_is_refused_by_name(
    worker: Callable[..., Worker], given: object, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        worker(workflows=[Intercepted], activities=[greet], interceptors=[given])
