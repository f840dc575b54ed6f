"""An activity's result and the workflow task it triggers, in one transaction, without the
task's row being inserted and deleted again (``Tx.ensure_workflow_task(defer=True)``).

On a real SQLite file, through the store (each path the claimed task can take in its
transaction) and through a worker (a workflow that signals itself right after an activity,
which needs the task's row in the middle of its own completion).
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

from duragent import Client, Worker, activity, workflow
from duragent._engine import commands as cmd
from duragent._engine.completion import TaskCompletion
from duragent.serde import DataConverter, Payload
from duragent.store._tx import DEFERRED_TASK_ID
from duragent.store.base import ActivityTask, WorkflowTask
from duragent.store.sqlite import SqliteStore

CLAIM_FOR = ("worker", "q", ["Anything"])


async def _activity_claimed(client: Client) -> ActivityTask:
    """A run of "Anything" whose first task scheduled one activity, claimed by "worker"."""
    store = client.store
    await client.start_workflow("Anything", id="w", task_queue="q")
    now = client.clock.now_ms()
    task = store.claim_workflow_task("worker", "q", ["Anything"], now)
    assert task is not None
    outcome = store.complete_workflow_task(
        task,
        TaskCompletion(
            processed_through=1,
            time=now,
            commands=(cmd.ScheduleActivity(seq=1, activity_type="act", task_queue="q"),),
        ),
        now,
        worker_id="worker",
        keep=True,
        eager_queue="q",
        eager_slots=1,
    )
    (claimed,) = outcome.eager_activities
    return claimed


def _task_rows(store: SqliteStore) -> list[tuple[int, int, str | None, int]]:
    return store._conn.execute(  # pyright: ignore[reportPrivateUsage]
        "SELECT task_id, kind, owner, lease FROM tasks ORDER BY task_id"
    ).fetchall()


def _result() -> Payload:
    return DataConverter().encode("done")


def _complete(store: SqliteStore, act: ActivityTask, now: int) -> WorkflowTask | None:
    """Record the activity's result, claiming its workflow task deferred (in a batch)."""
    return store.complete_activity_task(
        act, _result(), now, worker="worker", claim_for=CLAIM_FOR, defer_claim=True
    )


async def test_recorded_in_the_same_batch_the_task_never_gets_a_row(client: Client) -> None:
    store, act, now = client.store, await _activity_claimed(client), client.clock.now_ms()
    inserts: list[str] = []
    store._conn.set_trace_callback(  # pyright: ignore[reportPrivateUsage]
        lambda sql: inserts.append(sql) if sql.startswith("INSERT INTO tasks") else None
    )
    with store.batch(now):
        claimed = _complete(store, act, now)
        assert claimed is not None and claimed.task_id == DEFERRED_TASK_ID
        outcome = store.complete_workflow_task(
            claimed,
            TaskCompletion(
                processed_through=claimed.new_events[0].event_id,
                time=now,
                commands=(cmd.CompleteWorkflow(result=_result()),),
            ),
            now,
            worker_id="worker",
            keep=True,
        )
        assert store.settle_claim(claimed, now) is claimed
    store._conn.set_trace_callback(None)  # pyright: ignore[reportPrivateUsage]
    assert not outcome.lost
    assert inserts == []
    assert _task_rows(store) == []
    assert await client.get_workflow_handle("w").result() == "done"


async def test_not_recorded_the_task_is_inserted_claimed(client: Client) -> None:
    store, act, now = client.store, await _activity_claimed(client), client.clock.now_ms()
    with store.batch(now):
        claimed = _complete(store, act, now)
        assert claimed is not None
        settled = store.settle_claim(claimed, now)
    assert settled.task_id != DEFERRED_TASK_ID
    assert _task_rows(store) == [(settled.task_id, 0, "worker", 1)]
    # It is this worker's, as any claimed task: completing it works, another cannot claim it.
    assert store.claim_workflow_task("other", "q", ["Anything"], now) is None
    outcome = store.complete_workflow_task(
        settled,
        TaskCompletion(processed_through=settled.new_events[0].event_id, time=now, commands=()),
        now,
        worker_id="worker",
        keep=True,
    )
    assert not outcome.lost
    assert _task_rows(store) == []


async def test_a_deferred_task_left_at_commit_is_inserted(client: Client) -> None:
    """The commit inserts a deferred task nobody recorded or settled: a claimed task never
    vanishes (its lease expires and it is retried, as any claimed task)."""
    store, act, now = client.store, await _activity_claimed(client), client.clock.now_ms()
    with store.batch(now):
        claimed = _complete(store, act, now)
        assert claimed is not None and claimed.task_id == DEFERRED_TASK_ID
    ((_, kind, owner, lease),) = _task_rows(store)
    assert (kind, owner, lease) == (0, "worker", 1)


async def test_a_failed_completion_keeps_the_deferred_task(client: Client) -> None:
    """The completion's savepoint rolled back: the task is deferred again, then inserted."""
    store, act, now = client.store, await _activity_claimed(client), client.clock.now_ms()
    with store.batch(now):
        claimed = _complete(store, act, now)
        assert claimed is not None
        try:
            with store._write(now) as tx:  # pyright: ignore[reportPrivateUsage]
                tx.c.execute("DELETE FROM events")  # something the rollback must undo
                assert tx.drop_deferred(claimed.run_id)
                raise RuntimeError("the completion failed")
        except RuntimeError:
            pass
        settled = store.settle_claim(claimed, now)
    assert settled.task_id != DEFERRED_TASK_ID
    assert _task_rows(store) == [(settled.task_id, 0, "worker", 1)]
    history = store.read_history(claimed.run_id)
    assert type(history[-1]).__name__ == "ActivityTaskCompleted"


async def test_with_a_task_already_there_nothing_is_deferred(client: Client) -> None:
    store, act, now = client.store, await _activity_claimed(client), client.clock.now_ms()
    store.signal("w", None, "meanwhile", (), now)  # the run has a task (unclaimed) again
    with store.batch(now):
        claimed = _complete(store, act, now)
    # The existing task was claimed instead, with its own row.
    assert isinstance(claimed, WorkflowTask) and claimed.task_id != DEFERRED_TASK_ID
    assert _task_rows(store) == [(claimed.task_id, 0, "worker", 1)]


@activity.defn
async def step(n: int) -> int:
    return n + 1


@workflow.defn
class SignalsItself:
    """After an activity, signals itself: its own completion then needs the workflow task
    (deferred with the activity's result) to be kept for the signal."""

    def __init__(self) -> None:
        self.got: list[str] = []

    @workflow.signal
    def note(self, text: str) -> None:
        self.got.append(text)

    @workflow.run
    async def run(self, rounds: int) -> list[str]:
        value = 0
        for i in range(rounds):
            value = await workflow.execute_activity(
                step, value, start_to_close_timeout=timedelta(seconds=30)
            )
            me = workflow.get_external_workflow_handle(workflow.info().workflow_id)
            await me.signal(SignalsItself.note, f"after {value}")
            await workflow.wait_condition(lambda i=i: len(self.got) > i)
        return self.got


async def test_a_workflow_signalling_itself_after_each_activity(tmp_path: Path) -> None:
    client = await Client.connect(str(tmp_path / "store.db"))
    try:
        async with Worker(client, task_queue="q", workflows=[SignalsItself], activities=[step]):
            result = await client.execute_workflow(SignalsItself.run, 5, id="self", task_queue="q")
        assert result == [f"after {n}" for n in range(1, 6)]
    finally:
        await client.close()
    with sqlite3.connect(tmp_path / "store.db") as conn:
        assert conn.execute("SELECT count(*) FROM tasks").fetchone()[0] == 0
