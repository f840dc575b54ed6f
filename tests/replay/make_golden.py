"""Record the golden histories in ``golden/`` (frozen fixtures of the history format).

Run from the repository root, only when the history format changes (a new event type, a
new schema version), and commit the files it writes::

    .venv/bin/python -m tests.replay.make_golden [SCENARIO ...]

It runs the workflows of ``golden_workflows.py`` on a time-skipping test environment and
exports one history per scenario; together they contain every history event type
(``test_golden.py`` checks that, and that every file still replays).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `tests.replay` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from duragent import Client, Worker, WorkflowFailureError, WorkflowHandle
from duragent.testing import WorkflowEnvironment
from tests.replay import golden_workflows as g

GOLDEN_DIR = Path(__file__).parent / "golden"
QUEUE = "golden"


async def first_task_done(handle: WorkflowHandle[object]) -> None:
    """Wait until the run's first workflow task is recorded (it is waiting now)."""
    for _ in range(1000):
        events = (await handle.fetch_history()).events
        if any(e.TYPE == "WorkflowTaskCompleted" for e in events):
            return
        await asyncio.sleep(0.005)
    raise RuntimeError(f"{handle.id} never ran its first workflow task")


async def expect_failure(handle: WorkflowHandle[object]) -> None:
    try:
        await handle.result(timeout=30)
    except WorkflowFailureError:
        return
    raise RuntimeError(f"{handle.id} was expected to fail")


async def activities(client: Client) -> list[WorkflowHandle[object]]:
    handle = await client.start_workflow(g.Activities.run, id="golden-activities", task_queue=QUEUE)
    await handle.result(timeout=30)
    return [handle]


async def timers_and_signals(client: Client) -> list[WorkflowHandle[object]]:
    handle = await client.start_workflow(
        g.TimersAndSignals.run, id="golden-timers", task_queue=QUEUE
    )
    await handle.signal(g.TimersAndSignals.add, "ada")
    await handle.signal(g.TimersAndSignals.add, "grace")
    await handle.result(timeout=30)
    return [handle]


async def cancelled(client: Client) -> list[WorkflowHandle[object]]:
    handle = await client.start_workflow(g.Cancellable.run, id="golden-cancelled", task_queue=QUEUE)
    await first_task_done(handle)
    await handle.cancel("golden cancel")
    await expect_failure(handle)
    return [handle]


async def terminated(client: Client) -> list[WorkflowHandle[object]]:
    handle = await client.start_workflow(
        g.WaitsForever.run, id="golden-terminated", task_queue=QUEUE
    )
    await first_task_done(handle)
    await handle.terminate("golden terminate")
    await expect_failure(handle)
    return [handle]


async def failed(client: Client) -> list[WorkflowHandle[object]]:
    handle = await client.start_workflow(
        g.Fails.run, "golden failure", id="golden-failed", task_queue=QUEUE
    )
    await expect_failure(handle)
    return [handle]


async def children(client: Client) -> list[WorkflowHandle[object]]:
    target = await client.start_workflow(g.WaitsForever.run, id="golden-target", task_queue=QUEUE)
    target_2 = await client.start_workflow(
        g.WaitsForever.run, id="golden-target-2", task_queue=QUEUE
    )
    parent = await client.start_workflow(
        g.Parent.run, "golden-target", id="golden-parent", task_queue=QUEUE
    )
    await parent.result(timeout=30)
    await target.result(timeout=30)
    await expect_failure(target_2)
    child = client.get_workflow_handle("golden-child-ok")
    await child.result(timeout=30)
    return [parent, child]


async def continue_as_new(client: Client) -> list[WorkflowHandle[object]]:
    handle = await client.start_workflow(
        g.Countdown.run, 1, id="golden-countdown", task_queue=QUEUE
    )
    await handle.result(timeout=30)
    assert handle.run_id is not None
    first = client.get_workflow_handle(handle.id, run_id=handle.run_id)
    return [first]


async def updates(client: Client) -> list[WorkflowHandle[object]]:
    handle = await client.start_workflow(g.Updatable.run, id="golden-updates", task_queue=QUEUE)
    assert await handle.execute_update(g.Updatable.add, "a") == 1
    assert await handle.execute_update(g.Updatable.add, "b") == 2
    await handle.signal(g.Updatable.close)
    await handle.result(timeout=30)
    return [handle]


async def local_activities(client: Client) -> list[WorkflowHandle[object]]:
    handle = await client.start_workflow(g.LocalActivities.run, id="golden-local", task_queue=QUEUE)
    await handle.result(timeout=30)
    return [handle]


Scenario = Callable[[Client], Awaitable[list[WorkflowHandle[object]]]]

SCENARIOS: dict[str, Scenario] = {
    "activities": activities,
    "timers_and_signals": timers_and_signals,
    "cancelled": cancelled,
    "terminated": terminated,
    "failed": failed,
    "children": children,
    "continue_as_new": continue_as_new,
    "updates": updates,
    "local_activities": local_activities,  # event version 3
}


async def main(names: list[str]) -> None:
    """Record the named scenarios (all when none are named). The files of earlier
    versions are frozen: re-record only the scenarios a format change adds."""
    GOLDEN_DIR.mkdir(exist_ok=True)
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios {sorted(unknown)}; known: {sorted(SCENARIOS)}")
    async with await WorkflowEnvironment.start_time_skipping() as env:
        env.client.identity = "golden-client"
        async with Worker(
            env.client,
            task_queue=QUEUE,
            workflows=g.WORKFLOWS,
            activities=g.ACTIVITIES,
            identity="golden-worker",
        ):
            for name, scenario in SCENARIOS.items():
                if names and name not in names:
                    continue
                handles = await scenario(env.client)
                for i, handle in enumerate(handles):
                    history = await handle.fetch_history()
                    suffix = "" if i == 0 else f"_{handle.id.removeprefix('golden-')}"
                    path = GOLDEN_DIR / f"{name}{suffix}.json"
                    path.write_text(history.to_json() + "\n")
                    types = sorted({e.TYPE for e in history.events})
                    print(f"{path.name}: {len(history.events)} events, {', '.join(types)}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
