# pyright: strict, reportUnnecessaryTypeIgnoreComment=true
"""Pins the static types users see: checked by pyright (part of ``scripts/test.py``),
never run. ``assert_type`` lines fail the type check when an overload stops inferring the
result type; the ``pyright: ignore`` lines are calls that must stay type errors (an
unnecessary ignore is reported, so a check that stops rejecting them fails too)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, assert_type

from duragent import Client, activity, workflow
from duragent.client import WorkflowHandle
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
        # Wrong argument types are type errors.
        await workflow.execute_activity(count_words, 3, start_to_close_timeout=T)  # pyright: ignore[reportArgumentType, reportCallIssue]
        await workflow.execute_child_workflow(Child.run, "three")  # pyright: ignore[reportArgumentType, reportCallIssue]
        return 0


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
    await client.start_workflow(Words.run, 3, id="w", task_queue="q")  # pyright: ignore[reportArgumentType, reportCallIssue]
