"""Forks of runs with work in flight at the fork point, approvals before and after it, a
source that continued as new, and workflow code that changed since the source ran."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from duragent import Client, ForkError, WorkflowHandle
from duragent._engine import events as ev
from duragent.openai_agents import decide, pending_approvals, send_message, start_chat
from duragent.openai_agents.workflows import start_agent
from duragent.testing.scripted_model import ScriptedModelProvider

from ..waits import wait_for_task_failure
from .conftest import fork_worker
from .fork_app import TASK_QUEUE, Busy, Simple, SimpleChanged

SOURCE_OUTPUT = "Paris and Rome are sunny, 68F."


def log_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


async def wait_for_model_calls(handle: WorkflowHandle[Any], n: int) -> None:
    for _ in range(500):
        events = (await handle.fetch_history()).events
        done = {e.seq for e in events if isinstance(e, ev.ActivityTaskCompleted)}
        models = [
            e.seq
            for e in events
            if isinstance(e, ev.ActivityTaskScheduled) and e.summary == "helper"
        ]
        if len(models) >= n and set(models[:n]) <= done:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the run did not make {n} model calls")


async def test_work_in_flight_at_the_fork_point_is_treated_as_started_in_the_source(
    client: Client,
    db_path: Path,
    fork_provider: ScriptedModelProvider,
    tool_log: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gates = tmp_path / "gates"
    gates.mkdir()
    monkeypatch.setenv("DURAGENT_TEST_GATES", str(gates))
    async with fork_worker(client, fork_provider):
        source = await client.start_workflow(Busy.run, "kid", id="busy", task_queue=TASK_QUEUE)
        await wait_for_model_calls(source, 4)
        # The child it started is still running: a fork cannot share it.
        with pytest.raises(ForkError, match=r"child workflow 'kid'.*had not finished"):
            await client.fork("busy", 2)
        (gates / "lookup").touch()
        await client.get_workflow_handle("kid").signal("finish")
        await wait_until(source, lambda h: "value of k" in h and "child done" in h)
        # The source now waits for the at-most-once charge, which it never finished.
        fork = await client.fork("busy", 2, id="busy-fork")
        await wait_until(fork, lambda h: "'hold'" in h)
        timers = (
            sqlite3.connect(db_path)
            .execute("SELECT fire_at FROM timers WHERE run_id = ?", (fork.run_id,))
            .fetchall()
        )
        assert len(timers) == 1 and timers[0][0] > client.clock.now_ms() + 3_500_000  # re-armed
        (gates / "end").touch()
        result = await fork.result()
        assert result == (
            f"{SOURCE_OUTPUT} | value of k | charge failed: ApplicationError | child done"
        )
        # lookup, charge and the tool before the fork point ran once, in the source (the
        # tools after it ran again, live); no second child was started.
        runs = log_lines(tool_log)
        assert [runs.count(x) for x in ("lookup k", "charge 5", "get_weather Paris")] == [1, 1, 1]
        assert runs.count("get_weather Rome") == 2
        assert [e.id for e in await client.list_workflows(workflow_id_prefix="kid")] == ["kid"]
        (gates / "charge").touch()
        assert (await source.result()).endswith("charged 5 | child done")


async def wait_until(handle: WorkflowHandle[Any], ok: Any) -> None:
    """Until ``ok(text)`` holds for the text of the run's history events."""
    for _ in range(500):
        events = (await handle.fetch_history()).events
        if ok(" ".join(repr(e) for e in events)):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the run's history never showed it")


async def test_an_approval_before_the_fork_point_is_not_asked_again_one_after_it_is(
    client: Client, fork_provider: ScriptedModelProvider, tool_log: Path
) -> None:
    clerk = "tests.durable_agents.fork_app:clerk"
    async with fork_worker(client, fork_provider):
        source = await start_agent(client, clerk, "refund A1", id="refund", task_queue=TASK_QUEUE)
        while not (pending := await pending_approvals(source)):
            await asyncio.sleep(0.02)
        await decide(source, pending[0].call_id, approve=True)
        assert (await source.result()).final_output == "refund done"

        after = await client.fork("refund", 2, id="after")
        assert (await after.result())["final_output"] == "refund done"
        assert await pending_approvals(after) == []

        before = await client.fork("refund", 1, tools="recorded", id="before")
        while not (pending := await pending_approvals(before)):
            await asyncio.sleep(0.02)
        await decide(before, pending[0].call_id, approve=True)
        assert (await before.result())["final_output"] == "refund done"
    assert log_lines(tool_log) == ["refund A1"]  # served from the recording the second time


async def test_a_source_that_continued_as_new_is_forked_run_by_run(
    client: Client, fork_provider: ScriptedModelProvider, call_log: Path
) -> None:
    chatter = "tests.durable_agents.fork_app:chatter"
    async with fork_worker(client, fork_provider):
        await start_chat(client, chatter, id="chat", task_queue=TASK_QUEUE, messages_per_run=1)
        assert await send_message(client, "chat", "hi") == "one"
        assert await send_message(client, "chat", "again") == "two"
        runs = {e.run_id: e for e in await client.list_workflows(workflow_id_prefix="chat")}
        # The latest run has made no model call yet; the one before it made one.
        with pytest.raises(ForkError, match="made no model calls"):
            await client.fork("chat", 1)
        second = sorted(runs.values(), key=lambda e: e.start_time)[1]
        call_log.write_text("")
        fork = await client.fork("chat", 1, run_id=second.run_id, model="chat2", id="chat-b")
        # The forked run re-runs the reply to "again" with the other model, continues as
        # new like its source, and stays a fork: the next message goes to chat2 too.
        assert await send_message(client, "chat-b", "more") == "three, again"
        assert fork.run_id != (await fork.describe()).run_id
    assert [c["model"] for c in fork_provider.calls()] == ["chat2", "chat2"]


async def test_a_fork_of_a_run_whose_code_changed_fails_its_task_with_a_nondeterminism_error(
    client: Client, fork_provider: ScriptedModelProvider
) -> None:
    async with fork_worker(client, fork_provider, workflows=[Simple]):
        handle = await client.start_workflow(Simple.run, "weather?", id="s", task_queue=TASK_QUEUE)
        assert await handle.result() == SOURCE_OUTPUT
    async with fork_worker(client, fork_provider, workflows=[SimpleChanged]):
        fork = await client.fork("s", 3, model="v2", id="s-fork")
        failed = await wait_for_task_failure(fork)
    assert failed.task_failure is not None
    assert "NondeterminismError" in failed.task_failure
    assert "at history event 3" in failed.task_failure and "StartTimer" in failed.task_failure
