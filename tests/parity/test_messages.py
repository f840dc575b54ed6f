"""Signals (named, dynamic, registered at run time), queries, updates with validators,
signal-with-start and update-with-start, through Duragent's client on both backends."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from duragent import Client, Worker
from duragent._engine import events as ev
from duragent.errors import UpdateRejectedError

from . import app
from .app import ACTIVITIES, WORKFLOWS, Order

pytestmark = pytest.mark.timeout(120)

Workers = Callable[..., Worker]
Ids = Callable[[str], str]


async def test_signals_queries_updates(
    client: Client, worker: Workers, task_queue: str, new_id: Ids, max_cached: int
) -> None:
    async with worker(workflows=WORKFLOWS, activities=ACTIVITIES, max_cached_workflows=max_cached):
        handle = await client.start_workflow(
            app.Messages.run, "hi", id=new_id("msg"), task_queue=task_queue
        )
        await handle.signal(app.Messages.add, "a")
        assert await handle.execute_update(app.Messages.add_checked, Order("b")) == 3
        with pytest.raises(UpdateRejectedError) as rejected:
            await handle.execute_update(app.Messages.add_checked, Order("c", 0))
        assert "quantity must be positive" in str(rejected.value)
        assert await handle.query(app.Messages.count) == 3
        update = await handle.start_update(app.Messages.add_checked, Order("d"), id="upd-d")
        assert await update.result() == 4
        # A handle to the same update by its id (another caller) sees the same result.
        assert await handle.get_update_handle("upd-d").result() == 4
        await handle.signal("late", "x")  # kept until the run registers a handler
        await handle.signal(app.Messages.finish)
        result = await handle.result()
        dynamic = await client.start_workflow(
            app.DynamicSignals.run, id=new_id("dyn"), task_queue=task_queue
        )
        await dynamic.signal("mystery", args=[1, 2])
        await dynamic.signal("other")
        assert await dynamic.result() == ["mystery[1, 2]", "other[]"]
    # "a" may arrive with the start, before run's first line: either order is right.
    assert sorted(result[:2]) == ["a", "hi"]
    assert result[2:] == ["b", "d", "late:x"]
    events = (await handle.fetch_history()).events
    accepted = [e for e in events if isinstance(e, ev.WorkflowExecutionUpdateAccepted)]
    assert [e.update_name for e in accepted] == ["add_checked", "add_checked"]  # rejected: none
    signals = [e.signal_name for e in events if isinstance(e, ev.WorkflowExecutionSignaled)]
    assert signals == ["add", "late", "finish"]


async def test_signal_with_start_and_update_with_start(
    client: Client, worker: Workers, task_queue: str, new_id: Ids
) -> None:
    async with worker(workflows=WORKFLOWS, activities=ACTIVITIES):
        sws = new_id("sws")
        handle = await client.signal_with_start_workflow(
            app.Messages.run,
            "hi",
            id=sws,
            task_queue=task_queue,
            signal=app.Messages.add,
            signal_args=["first"],
        )
        # The same call again signals the running run instead of starting another.
        again = await client.signal_with_start_workflow(
            app.Messages.run,
            "ignored",
            id=sws,
            task_queue=task_queue,
            signal=app.Messages.add,
            signal_args=["second"],
        )
        assert again.run_id == handle.run_id
        await handle.signal("late", "l")
        await handle.signal(app.Messages.finish)
        out = await handle.result()
        assert out[0] == "first"  # the start's signal comes before run's first line
        assert sorted(out[1:3]) == ["hi", "second"]  # the other one may too

        uws = new_id("uws")
        result = await client.execute_update_with_start_workflow(
            app.Messages.run,
            "hi",
            id=uws,
            task_queue=task_queue,
            update=app.Messages.add_checked,
            update_args=[Order("u")],
        )
        assert result == 2
        result = await client.execute_update_with_start_workflow(
            app.Messages.run,
            "ignored",
            id=uws,
            task_queue=task_queue,
            update=app.Messages.add_checked,
            update_args=[Order("v")],
            id_conflict_policy="use_existing",
        )
        assert result == 3
        existing = client.get_workflow_handle(uws)
        with pytest.raises(UpdateRejectedError):
            await client.execute_update_with_start_workflow(
                app.Messages.run,
                "ignored",
                id=uws,
                task_queue=task_queue,
                update=app.Messages.add_checked,
                update_args=[Order("w", 0)],
            )
        assert await existing.query(app.Messages.count) == 3
        await existing.terminate()
