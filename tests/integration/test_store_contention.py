"""The write lock under contention (issue 17): it is held only for database work, never
while workflow code runs or a large payload is split into chunks, so many clients and
several workers share one file without anybody waiting out a busy timeout."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from duragent import Client, Worker, activity, workflow
from duragent._engine import commands as cmd
from duragent._engine.completion import TaskCompletion
from duragent.serde import DataConverter
from duragent.store import chunks

from .crash_harness import ROOT, harness

T = timedelta(seconds=30)


class LockProbe:
    """From another thread and its own connection, checks that the write lock is free
    (``BEGIN IMMEDIATE`` with no busy timeout at all) at chosen moments."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.results: list[tuple[str, str]] = []

    def probe(self, moment: str) -> None:
        outcome: list[str] = []

        def attempt() -> None:
            conn = sqlite3.connect(self.db, isolation_level=None, timeout=0)
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("ROLLBACK")
                outcome.append("free")
            except sqlite3.OperationalError as err:
                outcome.append(f"held ({err})")
            finally:
                conn.close()

        # Another thread, as another process would: this one is the worker's, stopped here.
        thread = threading.Thread(target=attempt)
        thread.start()
        thread.join(10)
        self.results.append((moment, outcome[0] if outcome else "no answer"))


probe: LockProbe | None = None


@activity.defn
async def produce(size: int) -> str:
    return "x" * size


@activity.defn
async def document(items: int) -> list[dict[str, Any]]:
    """A large structured result: stored as a chunk tree."""
    return [{"n": i, "text": f"paragraph {i} " * 20} for i in range(items)]


@workflow.defn
class Probed:
    """Checks the lock from inside its own code: on its first task (reached by polling)
    and after an activity's result (reached by the result's commit, cached)."""

    @workflow.run
    async def run(self) -> int:
        if probe is not None and not workflow.is_replaying():
            probe.probe("first task")
        await workflow.execute_activity(produce, 10, start_to_close_timeout=T)
        if probe is not None and not workflow.is_replaying():
            probe.probe("after an activity result")
        doc = await workflow.execute_activity(document, 200, start_to_close_timeout=T)
        return len(doc)


def _probing_split(original: Callable[..., Any]) -> Callable[..., Any]:
    def split(*args: Any, **kwargs: Any) -> Any:
        assert probe is not None
        probe.probe("splitting a payload")
        return original(*args, **kwargs)

    return split


async def test_the_write_lock_is_free_while_workflow_code_runs_and_payloads_are_split(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    global probe
    probe = LockProbe(db_path)
    monkeypatch.setattr(chunks, "split", _probing_split(chunks.split))
    try:
        client = await Client.connect(f"sqlite:///{db_path}")
        async with Worker(
            client, task_queue="q", workflows=[Probed], activities=[produce, document]
        ):
            assert await client.execute_workflow(Probed.run, id="p", task_queue="q") == 200
        await client.close()
        moments = {m for m, _ in probe.results}
        assert {"first task", "after an activity result", "splitting a payload"} <= moments
        held = [(m, r) for m, r in probe.results if r != "free"]
        assert not held, held
    finally:
        probe = None


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_many_clients_and_two_workers_never_see_a_locked_store(tmp_path: Path) -> None:
    clients, workflows, items = 6, 4, 3
    with harness(tmp_path) as h:
        workers = [h.spawn(), h.spawn()]
        env = {**os.environ, "DURAGENT_TEST_LOG": str(h.log)}
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.integration.store_procs",
                    "client",
                    str(h.db),
                    f"c{i}",
                    str(workflows),
                    str(items),
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(clients)
        ]
        outcomes: list[dict[str, Any]] = []
        for proc in procs:
            out, err = proc.communicate(timeout=150)
            lines = [line for line in out.splitlines() if line.startswith("{")]
            assert proc.returncode == 0 and lines, err
            outcomes.append(json.loads(lines[-1]))
        assert all(w.poll() is None for w in workers), "a worker died"
    errors = [e for o in outcomes for e in o["errors"]]
    assert not errors, "\n".join(errors)
    assert sum(o["done"] for o in outcomes) == clients * workflows
    # Each acknowledged item ran exactly once (no worker crashed, so no retry either).
    starts = h.starts()
    assert len(starts) == clients * workflows * items and set(starts.values()) == {1}


async def test_input_that_arrives_while_workflow_code_runs_stays_to_be_processed(
    client: Client,
) -> None:
    """The code of a task runs outside the write transaction, so a signal can be appended
    between the history it read and its commit: the task must stay (to process it), not
    count it as processed."""
    store = client.store
    await client.start_workflow("Anything", id="w", task_queue="q")
    now = client.clock.now_ms()
    task = store.claim_workflow_task("worker", "q", ["Anything"], now)
    assert task is not None
    store.signal("w", None, "late", (), now)  # after the history the task's code read
    outcome = store.complete_workflow_task(
        task,
        TaskCompletion(processed_through=1, time=now, commands=()),
        now,
        worker_id="worker",
        keep=True,
    )
    assert outcome.continue_task is not None, "the signal would never be delivered"
    assert [type(e).__name__ for e in store.read_history(task.run_id)] == [
        "WorkflowExecutionStarted",
        "WorkflowExecutionSignaled",
        "WorkflowTaskCompleted",
    ]


@pytest.mark.parametrize(
    "close",
    [
        cmd.ContinueAsNew(workflow_type="Anything", task_queue="q"),
        cmd.CompleteWorkflow(result=DataConverter().encode(None)),
    ],
    ids=["continue-as-new", "complete"],
)
async def test_a_close_decided_before_input_arrived_is_not_recorded(
    client: Client, close: cmd.Command
) -> None:
    """A signal appended while the code of a task ran, which then decided to close the run
    (continue as new, complete): recording the close would drop the signal unseen. Nothing
    of the completion is recorded, and the task is offered again at once (as Temporal
    rejects such a completion), so the code runs again and sees the signal."""
    store = client.store
    await client.start_workflow("Anything", id="w", task_queue="q")
    now = client.clock.now_ms()
    task = store.claim_workflow_task("worker", "q", ["Anything"], now)
    assert task is not None
    store.signal("w", None, "late", (), now)
    outcome = store.complete_workflow_task(
        task,
        TaskCompletion(processed_through=1, time=now, commands=(close,)),
        now,
        worker_id="worker",
        keep=True,
    )
    assert outcome.lost
    assert [type(e).__name__ for e in store.read_history(task.run_id)] == [
        "WorkflowExecutionStarted",
        "WorkflowExecutionSignaled",
    ]
    assert (await client.get_workflow_handle("w").describe()).status == "running"
    again = store.claim_workflow_task("other-worker", "q", ["Anything"], now)
    assert again is not None and again.task_id == task.task_id, "offered again at once"
