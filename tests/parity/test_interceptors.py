"""Worker interceptors (``duragent.interceptor``) on both backends: every attempt of every
kind of activity goes through the chain in order, an interceptor can change the arguments
and the result, ``info()`` and ``heartbeat()`` go through the outbound chain, a raise fails
the attempt (and it is retried); a workflow's run, signals, queries and updates go through
its inbound chain and what it asks for through its outbound chain; what is not an
interceptor is refused by name."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from typing import Any, NoReturn

import pytest
import temporalio.worker

from duragent import (
    ApplicationError,
    Client,
    ConfigurationError,
    RetryPolicy,
    UpdateRejectedError,
    Worker,
    activity,
    workflow,
)
from duragent.activity import Info
from duragent.interceptor import (
    ActivityInboundInterceptor,
    ActivityOutboundInterceptor,
    ContinueAsNewInput,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    HandleQueryInput,
    HandleSignalInput,
    HandleUpdateInput,
    Interceptor,
    SignalChildWorkflowInput,
    SignalExternalWorkflowInput,
    StartActivityInput,
    StartChildWorkflowInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)
from duragent.workflow import ActivityHandle, ChildWorkflowHandle, WorkflowInfo

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


class _TemporalOne(temporalio.worker.Interceptor):
    pass


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (_TemporalOne(), "subclass duragent.interceptor.Interceptor"),
        (object(), "must be duragent.interceptor.Interceptor instances"),
    ],
)
async def test_what_is_not_supported_is_refused_by_name(
    worker: Callable[..., Worker], given: object, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        worker(workflows=[Intercepted], activities=[greet], interceptors=[given])


@workflow.defn
class Kid:
    def __init__(self) -> None:
        self.heard: list[str] = []

    @workflow.run
    async def run(self, name: str) -> str:
        await workflow.wait_condition(lambda: len(self.heard) == 2)
        return f"kid {name} heard {' and '.join(sorted(self.heard))}"

    @workflow.signal
    def hear(self, word: str) -> None:
        self.heard.append(word)


@workflow.defn
class Again:
    @workflow.run
    async def run(self, times: int) -> str:
        if times:
            workflow.continue_as_new(times - 1)
        return "done"


@workflow.defn
class Flow:
    def __init__(self) -> None:
        self.notes: list[str] = []

    @workflow.run
    async def run(self, name: str) -> list[Any]:
        await workflow.wait_condition(lambda: len(self.notes) >= 2)
        options: dict[str, Any] = {"start_to_close_timeout": timedelta(seconds=10)}
        return [
            workflow.info().workflow_type,
            await workflow.execute_activity(flaky, name, **options),
            await workflow.execute_local_activity(flaky, name, **options),
            await self._kid(name),
            self.notes,
        ]

    async def _kid(self, name: str) -> str:
        kid = await workflow.start_child_workflow(Kid.run, name, id=f"{name}-kid")
        await kid.signal(Kid.hear, "ping")
        await workflow.get_external_workflow_handle(f"{name}-kid").signal(Kid.hear, "pong")
        return await kid

    @workflow.signal
    def note(self, text: str) -> None:
        self.notes.append(text)

    @workflow.query
    def notes_so_far(self) -> list[str]:
        return self.notes

    @workflow.update
    def add(self, text: str) -> int:
        self.notes.append(text)
        return len(self.notes)

    @add.validator
    def check(self, text: str) -> None:
        if not text:
            raise ValueError("an empty note")


def _log(entry: str) -> None:
    # Once each: a replay runs the chain again (and temporalio, without a cache, does not
    # always say that it is replaying).
    if entry not in _seen:
        _seen.append(entry)


class _FlowOutbound(WorkflowOutboundInterceptor):
    def info(self) -> WorkflowInfo:
        return dataclasses.replace(super().info(), workflow_type="Flow (intercepted)")

    def start_activity(self, input: StartActivityInput) -> ActivityHandle[Any]:
        _log(f"activity {input.activity} {list(input.args)}")
        input.args = [f"{input.args[0]}-changed"]
        return super().start_activity(input)

    def start_local_activity(self, input: StartLocalActivityInput) -> ActivityHandle[Any]:
        _log(f"local activity {input.activity}")
        return super().start_local_activity(input)

    async def start_child_workflow(
        self, input: StartChildWorkflowInput
    ) -> ChildWorkflowHandle[Any]:
        _log(f"child {input.workflow} {list(input.args)}")
        return await super().start_child_workflow(input)

    async def signal_child_workflow(self, input: SignalChildWorkflowInput) -> None:
        _log(f"signal child {input.child_workflow_id} {input.signal} {list(input.args)}")
        await super().signal_child_workflow(input)

    async def signal_external_workflow(self, input: SignalExternalWorkflowInput) -> None:
        _log(f"signal external {input.workflow_id} {input.signal} {list(input.args)}")
        input.args = [f"{input.args[0]}!"]
        await super().signal_external_workflow(input)

    def continue_as_new(self, input: ContinueAsNewInput) -> NoReturn:
        _log(f"continue as new {list(input.args)}")
        super().continue_as_new(input)


class _FlowInbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_FlowOutbound(outbound))

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        _log(f"run {input.type.__name__} {list(input.args)}")
        return await super().execute_workflow(input)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        _log(f"signal {input.signal} {list(input.args)}")
        input.args = [str(input.args[0]).upper()]
        await super().handle_signal(input)

    def handle_query(self, input: HandleQueryInput) -> Any:
        _log(f"query {input.query}")
        return ["seen by the interceptor", *super().handle_query(input)]

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        _log(f"validate {input.update} {list(input.args)}")
        super().handle_update_validator(input)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        _log(f"update {input.update} {list(input.args)}")
        return await super().handle_update_handler(input)


class _Flows(Interceptor):
    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return _FlowInbound


async def test_a_workflow_s_entry_points_and_calls_go_through_its_chain(
    client: Client,
    worker: Callable[..., Worker],
    task_queue: str,
    new_id: Callable[[str], str],
    max_cached: int,
) -> None:
    _seen.clear()
    key = new_id("flow")
    async with worker(
        workflows=[Flow, Kid, Again],
        activities=[flaky],
        interceptors=[_Flows(), Interceptor()],
        max_cached_workflows=max_cached,  # 0: the chain runs again on every replay
    ):
        handle = await client.start_workflow(Flow.run, key, id=key, task_queue=task_queue)
        await handle.signal(Flow.note, "go")
        with pytest.raises(UpdateRejectedError, match="an empty note"):
            await handle.execute_update(Flow.add, "")
        assert await handle.execute_update(Flow.add, "more") == 2
        assert await handle.query(Flow.notes_so_far) == ["seen by the interceptor", "GO", "more"]
        out = await handle.result()
        again = await client.execute_workflow(Again.run, 1, id=f"{key}-a", task_queue=task_queue)
    assert out == [
        "Flow (intercepted)",
        1,
        1,
        f"kid {key} heard PING and PONG!",  # the kid's inbound chain uppercased them
        ["GO", "more"],
    ]
    assert again == "done"
    assert _seen[-3:] == ["run Again [1]", "continue as new [0]", "run Again [0]"]
    # The rest: each once, in the order the run caused them (a signal, a query and a
    # validator run whenever they arrive: Temporal runs the handlers of the signals that
    # came with a run's first task before the run method).
    causal = [
        f"run Flow ['{key}']",
        "update add ['more']",
        f"activity flaky ['{key}']",
        "local activity flaky",
        f"child Kid ['{key}']",
        f"signal child {key}-kid hear ['ping']",
        f"signal external {key}-kid hear ['pong']",
    ]
    rest = _seen[:-3]
    messages = [
        "signal note ['go']",
        "validate add ['']",
        "validate add ['more']",
        f"run Kid ['{key}']",  # the child is a workflow of this worker: intercepted too
        "signal hear ['ping']",
        "signal hear ['pong!']",
    ]
    assert sorted(rest) == sorted([*causal, *messages, "query notes_so_far"])
    assert [e for e in rest if e in causal] == causal
    assert rest.index(messages[0]) < rest.index(causal[1])  # the update counted the signal
