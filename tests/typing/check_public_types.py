# pyright: strict, reportUnnecessaryTypeIgnoreComment=true
"""Pins the static types users see: checked by pyright (part of ``scripts/test.py``),
never run. ``assert_type`` lines fail the type check when an overload stops inferring the
result type; the ``pyright: ignore`` lines are calls that must stay type errors (an
unnecessary ignore is reported, so a check that stops rejecting them fails too)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, assert_type

from duragent import Client, IdConflictPolicy, WorkflowStatus, activity, workflow
from duragent.client import WorkflowHandle, WorkflowUpdateHandle
from duragent.workflow import ActivityHandle, ChildWorkflowHandle

T = timedelta(seconds=5)


@activity.defn
async def count_words(text: str) -> int:
    return len(text.split())


@activity.defn
def shout(text: str) -> str:
    return text.upper()


@activity.defn
async def ping() -> bool:
    return True


class Service:
    @activity.defn
    async def lookup(self, key: str) -> float:
        return 1.0

    @activity.defn
    async def ready(self) -> bool:
        return True


@workflow.defn
class Child:
    @workflow.run
    async def run(self, n: int) -> list[int]:
        return [n]


@workflow.defn
class Words:
    @workflow.run
    async def run(self, text: str) -> int:
        assert_type(
            await workflow.execute_activity(count_words, text, start_to_close_timeout=T), int
        )
        assert_type(await workflow.execute_activity(shout, text, start_to_close_timeout=T), str)
        assert_type(await workflow.execute_activity(ping, start_to_close_timeout=T), bool)
        assert_type(
            workflow.start_activity(count_words, text, start_to_close_timeout=T),
            ActivityHandle[int],
        )
        assert_type(
            await workflow.execute_activity(
                "count_words", text, result_type=int, start_to_close_timeout=T
            ),
            int,
        )
        # Untyped styles stay allowed and give Any.
        assert_type(
            await workflow.execute_activity("count_words", args=[text], start_to_close_timeout=T),
            Any,
        )
        assert_type(
            await workflow.execute_activity_method(Service.lookup, "k", start_to_close_timeout=T),
            float,
        )
        assert_type(
            await workflow.execute_activity_method(Service.ready, start_to_close_timeout=T),
            bool,
        )
        assert_type(
            workflow.start_activity_method(Service.lookup, "k", start_to_close_timeout=T),
            ActivityHandle[float],
        )
        assert_type(await workflow.execute_child_workflow(Child.run, 3), list[int])
        assert_type(
            await workflow.start_child_workflow(Child.run, 3), ChildWorkflowHandle[list[int]]
        )
        assert_type(
            await workflow.execute_child_workflow("Child", 3, result_type=list[int]), list[int]
        )
        assert_type(
            await workflow.execute_local_activity(count_words, text, start_to_close_timeout=T),
            int,
        )
        assert_type(await workflow.execute_local_activity(ping, start_to_close_timeout=T), bool)
        assert_type(
            workflow.start_local_activity(shout, text, start_to_close_timeout=T),
            ActivityHandle[str],
        )
        assert_type(
            await workflow.execute_local_activity(
                "shout", text, result_type=str, start_to_close_timeout=T
            ),
            str,
        )
        assert_type(
            await workflow.execute_local_activity_method(
                Service.lookup, "k", start_to_close_timeout=T
            ),
            float,
        )
        # Wrong argument types are type errors.
        await workflow.execute_local_activity(count_words, 3, start_to_close_timeout=T)  # pyright: ignore[reportArgumentType, reportCallIssue]
        await workflow.execute_activity(count_words, 3, start_to_close_timeout=T)  # pyright: ignore[reportArgumentType, reportCallIssue]
        await workflow.execute_child_workflow(Child.run, "three")  # pyright: ignore[reportArgumentType, reportCallIssue]
        return 0


@workflow.defn
class Counter:
    def __init__(self) -> None:
        self.value = 0

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.value < 0)

    @workflow.query
    def current(self) -> int:
        return self.value

    @workflow.query
    def scaled(self, factor: float) -> float:
        return self.value * factor

    @workflow.update
    async def add(self, n: int) -> int:
        self.value += n
        return self.value

    @workflow.update
    def reset(self) -> bool:
        self.value = 0
        return True


async def messages(client: Client) -> None:
    handle = client.get_workflow_handle("c")
    assert_type(await handle.query(Counter.current), int)
    assert_type(await handle.query(Counter.scaled, 0.5), float)
    assert_type(await handle.query("current", result_type=int), int)
    assert_type(await handle.query("current"), Any)
    assert_type(await handle.execute_update(Counter.add, 2), int)
    assert_type(await handle.execute_update(Counter.reset), bool)
    assert_type(await handle.start_update(Counter.add, 2), WorkflowUpdateHandle[int])
    assert_type(await (await handle.start_update(Counter.add, 2)).result(), int)
    assert_type(await handle.execute_update("add", 2, result_type=int), int)
    await handle.query(Counter.scaled, "half")  # pyright: ignore[reportArgumentType, reportCallIssue]
    await handle.execute_update(Counter.add, "two")  # pyright: ignore[reportArgumentType, reportCallIssue]


async def client_side(client: Client) -> None:
    handle = await client.start_workflow(Words.run, "a b", id="w", task_queue="q")
    assert_type(handle, WorkflowHandle[int])
    assert_type(await handle.result(), int)
    assert_type(await client.execute_workflow(Words.run, "a b", id="w", task_queue="q"), int)
    assert_type(
        await client.execute_workflow("Words", "a b", id="w", task_queue="q", result_type=int),
        int,
    )
    assert_type(
        await client.start_workflow(
            Words.run, "a b", id="w", task_queue="q", memo={"k": 1}, id_conflict_policy="fail"
        ),
        WorkflowHandle[int],
    )
    assert_type(await client.execute_workflow("Words", "x", id="w", task_queue="q"), Any)
    assert_type(
        await client.start_workflow(
            Words.run, "a b", id="w", task_queue="q", id_conflict_policy=IdConflictPolicy.FAIL
        ),
        WorkflowHandle[int],
    )
    assert_type((await handle.describe()).status, WorkflowStatus)
    assert_type(
        [r.status for r in await client.list_workflows(status="running")], list[WorkflowStatus]
    )
    await client.start_workflow(Words.run, 3, id="w", task_queue="q")  # pyright: ignore[reportArgumentType, reportCallIssue]
