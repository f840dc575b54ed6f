"""Signals, timers, updates, children, cancellation and continue-as-new across SIGKILLs of
real worker processes on a real SQLite file.

Each test drives ``python -m duragent worker tests.fixtures.kill_app`` subprocesses, kills
them (from outside, or with a ``DURAGENT_CRASH_AT`` crash point at an exact moment) and
checks the outcome from history: every message is processed exactly once, in order, and
the workflow ends as if no worker had died.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from duragent import CancelledError, Client, UpdateRejectedError, WorkflowFailureError
from duragent._engine import events as ev

from ..fixtures.kill_app import (
    CHILD_QUEUE,
    TASK_QUEUE,
    CleansUpOnCancel,
    Ledger,
    Napper,
    ParentOfChild,
    SignalLog,
    Tally,
)
from .crash_harness import Harness, harness

pytestmark = pytest.mark.slow

RESULT_TIMEOUT_S = 30.0


# -- helpers ---------------------------------------------------------------------------------


def history(client: Client, workflow_id: str) -> list[ev.Event]:
    """Events of every run of ``workflow_id``, oldest run first."""
    return [
        e
        for run_id in client.store.runs_of_workflow(workflow_id)
        for e in client.store.read_history(run_id)
    ]


def types_of(client: Client, workflow_id: str) -> list[str]:
    return [e.TYPE for e in history(client, workflow_id)]


def signal_args(client: Client, workflow_id: str, name: str) -> list[object]:
    """First argument of each ``name`` signal recorded, over all runs, in order."""
    return [
        e.input[0].to_json_value()
        for e in history(client, workflow_id)
        if isinstance(e, ev.WorkflowExecutionSignaled) and e.signal_name == name
    ]


def processed_signals(client: Client, workflow_id: str) -> int:
    """Signals that a recorded workflow task has processed, over all runs."""
    total = 0
    for run_id in client.store.runs_of_workflow(workflow_id):
        events = client.store.read_history(run_id)
        through = max(
            (e.processed_through for e in events if isinstance(e, ev.WorkflowTaskCompleted)),
            default=0,
        )
        total += sum(
            1
            for e in events
            if isinstance(e, ev.WorkflowExecutionSignaled) and e.event_id <= through
        )
    return total


async def wait_until(
    predicate: Callable[[], bool],
    what: str,
    *,
    timeout: float = 20.0,
    unless_dead: subprocess.Popen[bytes] | None = None,
) -> bool:
    """Poll ``predicate``; True once it holds, False if ``unless_dead`` exited first."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if unless_dead is not None and unless_dead.poll() is not None:
            return False
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)
    return True


async def wait_for_worker(client: Client, queue: str = TASK_QUEUE) -> None:
    """Until a worker process has registered for ``queue`` (it polls from then on)."""
    await wait_until(lambda: client.store.count_workers(queue) >= 1, f"a worker on {queue!r}")


def last_task_settled(client: Client, workflow_id: str) -> bool:
    """The latest run's last event is a recorded workflow task (its commands, if any,
    follow it) and all its input has been processed."""
    run_id = client.store.runs_of_workflow(workflow_id)[-1]
    events = client.store.read_history(run_id)
    tasks = [e for e in events if isinstance(e, ev.WorkflowTaskCompleted)]
    inputs = [e for e in events if not e.IS_COMMAND]
    return bool(tasks) and tasks[-1].processed_through >= inputs[-1].event_id


async def connect(h: Harness) -> Client:
    return await Client.connect(f"sqlite:///{h.db}")


# -- signals ---------------------------------------------------------------------------------


async def test_signals_sent_while_no_worker_runs_and_a_crash_before_processing(
    tmp_path: Path,
) -> None:
    """Signals arrive while the worker is dead; the next worker dies while recording the
    task that processes them; the one after processes each exactly once, in order."""
    with harness(tmp_path) as h:
        client = await connect(h)
        handle = await client.start_workflow(SignalLog.run, id="sig", task_queue=TASK_QUEUE)
        first = h.spawn()
        await handle.signal(SignalLog.add, "a")
        await wait_until(
            lambda: (
                types_of(client, "sig").count("ActivityTaskCompleted") == 1
                and last_task_settled(client, "sig")
            ),
            "a to be acknowledged",
        )
        h.kill(first)

        await handle.signal(SignalLog.add, "b")  # no worker runs
        await handle.signal(SignalLog.add, "c")
        # Dies after computing the commands for b and c, before recording them.
        h.expect_crash(h.spawn("workflow_task_complete"))
        assert h.starts() == {"a": 1}
        assert processed_signals(client, "sig") == 1

        await handle.signal(SignalLog.add, "d")  # still no worker
        h.spawn()
        await handle.signal(SignalLog.add, "e")
        await handle.signal(SignalLog.finish)
        assert await handle.result(timeout=RESULT_TIMEOUT_S) == ["A", "B", "C", "D", "E"]

        assert signal_args(client, "sig", "add") == ["a", "b", "c", "d", "e"]
        assert h.starts() == {"a": 1, "b": 1, "c": 1, "d": 1, "e": 1}
        await client.close()


async def test_signals_stay_in_order_across_repeated_crashes(tmp_path: Path) -> None:
    """Signals are sent one by one while workers keep dying at the moment they record the
    task that processes one; nothing is lost, doubled or reordered."""
    with harness(tmp_path) as h:
        client = await connect(h)
        handle = await client.start_workflow(SignalLog.run, id="sig", task_queue=TASK_QUEUE)
        sent: list[str] = []
        for crash_at in ("workflow_task_complete@3", "workflow_task_complete@2", None):
            proc = h.spawn(crash_at)
            for _ in range(4):
                item = f"s{len(sent)}"
                await handle.signal(SignalLog.add, item)
                sent.append(item)
                alive = await wait_until(
                    lambda: processed_signals(client, "sig") == len(sent),
                    f"signal {item} to be processed",
                    unless_dead=proc if crash_at else None,
                )
                if not alive:
                    break
            if crash_at:
                h.expect_crash(proc)
        await handle.signal(SignalLog.finish)
        assert await handle.result(timeout=RESULT_TIMEOUT_S) == [s.upper() for s in sent]
        assert signal_args(client, "sig", "add") == sent
        # A crash can lose the completion of an activity that ran (it is recorded with
        # the task it triggers): at most one extra start per crash (at-least-once). The
        # signals themselves are never lost or doubled: the result holds each once.
        starts = h.starts()
        assert set(starts) == set(sent)
        assert sum(starts.values()) - len(sent) <= 2, starts
        await client.close()


# -- timers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("crash_on_fire", [False, True], ids=["restart", "crash-on-fire"])
async def test_timer_that_comes_due_while_no_worker_runs(
    tmp_path: Path, crash_on_fire: bool
) -> None:
    with harness(tmp_path) as h:
        client = await connect(h)
        handle = await client.start_workflow(Napper.run, 1.0, id="nap", task_queue=TASK_QUEUE)
        first = h.spawn()
        await wait_until(lambda: "TimerStarted" in types_of(client, "nap"), "the timer to start")
        h.kill(first)
        started = next(e for e in history(client, "nap") if isinstance(e, ev.TimerStarted))
        # Wait past the due time with no worker alive.
        await asyncio.sleep(max(0.0, started.fire_at / 1000 - time.time()) + 0.3)
        assert "TimerFired" not in types_of(client, "nap")
        if crash_on_fire:
            # Fires the timer, then dies recording the task that reacts to it.
            h.expect_crash(h.spawn("workflow_task_complete"))
            assert types_of(client, "nap").count("TimerFired") == 1
        h.spawn()
        assert await handle.result(timeout=RESULT_TIMEOUT_S) == "AFTER-NAP"
        fired = [e for e in history(client, "nap") if isinstance(e, ev.TimerFired)]
        assert len(fired) == 1
        assert fired[0].time >= started.fire_at
        assert h.starts() == {"after-nap": 1}
        await client.close()


# -- updates ---------------------------------------------------------------------------------


async def test_update_accepted_then_worker_killed_mid_handler(tmp_path: Path) -> None:
    marker = tmp_path / "release-x"
    with harness(tmp_path) as h:
        client = await connect(h)
        handle = await client.start_workflow(Ledger.run, id="ledger", task_queue=TASK_QUEUE)
        first = h.spawn()
        update = await handle.start_update(Ledger.post, args=["x", str(marker)], timeout=20)
        h.wait_for_line("start", "x")  # the handler is inside its activity
        h.kill(first)
        marker.touch()
        h.spawn()
        assert await update.result(timeout=RESULT_TIMEOUT_S) == "posted X"
        await handle.signal(Ledger.close)
        assert await handle.result(timeout=RESULT_TIMEOUT_S) == ["X"]
        types = types_of(client, "ledger")
        assert types.count("WorkflowExecutionUpdateAccepted") == 1
        assert types.count("WorkflowExecutionUpdateCompleted") == 1
        assert h.count("start", "x") == 2  # the interrupted attempt is retried
        await client.close()


async def test_update_sent_while_no_worker_runs_and_a_crash_before_acceptance(
    tmp_path: Path,
) -> None:
    """Sent while no worker runs; the next worker dies recording its acceptance; the
    update is accepted once by the worker after it."""
    marker = tmp_path / "release"
    marker.touch()
    with harness(tmp_path) as h:
        client = await connect(h)
        handle = await client.start_workflow(Ledger.run, id="ledger", task_queue=TASK_QUEUE)
        first = h.spawn()
        await wait_until(lambda: last_task_settled(client, "ledger"), "the first task")
        h.kill(first)
        sending = asyncio.create_task(
            handle.execute_update(Ledger.post, args=["y", str(marker)], timeout=30)
        )
        await asyncio.sleep(0)  # let it queue the update before this thread blocks
        h.expect_crash(h.spawn("workflow_task_complete"))
        assert "WorkflowExecutionUpdateAccepted" not in types_of(client, "ledger")
        h.spawn()
        assert await sending == "posted Y"
        await handle.signal(Ledger.close)
        assert await handle.result(timeout=RESULT_TIMEOUT_S) == ["Y"]
        assert types_of(client, "ledger").count("WorkflowExecutionUpdateAccepted") == 1
        assert h.count("start", "y") == 1
        await client.close()


async def test_rejected_update_leaves_no_history_even_across_a_crash(tmp_path: Path) -> None:
    marker = tmp_path / "release"
    marker.touch()
    with harness(tmp_path) as h:
        client = await connect(h)
        handle = await client.start_workflow(Ledger.run, id="ledger", task_queue=TASK_QUEUE)
        first = h.spawn()
        await wait_until(lambda: last_task_settled(client, "ledger"), "the first task")
        with pytest.raises(UpdateRejectedError, match="needs a name"):
            await handle.execute_update(Ledger.post, args=["", str(marker)], timeout=20)
        settled = types_of(client, "ledger")
        h.kill(first)

        # Rejected by a worker that dies before recording the rejection, then again.
        rejecting = asyncio.create_task(
            handle.execute_update(Ledger.post, args=["", str(marker)], timeout=30)
        )
        await asyncio.sleep(0)  # let it queue the update before this thread blocks
        h.expect_crash(h.spawn("workflow_task_complete"))
        h.spawn()
        with pytest.raises(UpdateRejectedError, match="needs a name"):
            await rejecting
        assert types_of(client, "ledger") == settled

        assert await handle.execute_update(Ledger.post, args=["z", str(marker)]) == "posted Z"
        await handle.signal(Ledger.close)
        assert await handle.result(timeout=RESULT_TIMEOUT_S) == ["Z"]
        assert types_of(client, "ledger").count("WorkflowExecutionUpdateAccepted") == 1
        await client.close()


# -- child workflows -------------------------------------------------------------------------


async def test_child_result_reaches_a_parent_whose_worker_was_killed(tmp_path: Path) -> None:
    marker = tmp_path / "release-child"
    with harness(tmp_path) as h:
        client = await connect(h)
        handle = await client.start_workflow(
            ParentOfChild.run, args=[str(marker), "kid"], id="parent", task_queue=TASK_QUEUE
        )
        parent_worker = h.spawn()
        h.spawn(extra=("--task-queue", CHILD_QUEUE))
        h.wait_for_line("start", "child")
        h.kill(parent_worker)
        marker.touch()
        # The child finishes on its own worker while the parent has none.
        assert await client.get_workflow_handle("kid").result(timeout=RESULT_TIMEOUT_S) == "CHILD"
        assert (await handle.describe()).status == "running"
        assert "ChildWorkflowExecutionCompleted" in types_of(client, "parent")
        h.spawn()
        assert await handle.result(timeout=RESULT_TIMEOUT_S) == "parent got CHILD"
        assert h.starts() == {"child": 1}
        await client.close()


async def test_parent_worker_dies_while_starting_the_child(tmp_path: Path) -> None:
    """The parent's worker dies before the command that starts the child is recorded:
    the child is started exactly once, by the next worker."""
    marker = tmp_path / "release-child"
    marker.touch()
    with harness(tmp_path) as h:
        client = await connect(h)
        handle = await client.start_workflow(
            ParentOfChild.run, args=[str(marker), "kid"], id="parent", task_queue=TASK_QUEUE
        )
        h.expect_crash(h.spawn("workflow_task_complete"))
        assert client.store.runs_of_workflow("kid") == []
        h.spawn()
        h.spawn(extra=("--task-queue", CHILD_QUEUE))
        assert await handle.result(timeout=RESULT_TIMEOUT_S) == "parent got CHILD"
        assert len(client.store.runs_of_workflow("kid")) == 1
        assert h.starts() == {"child": 1}
        await client.close()


# -- cancellation ----------------------------------------------------------------------------


@pytest.mark.parametrize("crash_on_cancel", [False, True], ids=["restart", "crash-on-cancel"])
async def test_cancel_requested_while_no_worker_runs(tmp_path: Path, crash_on_cancel: bool) -> None:
    with harness(tmp_path) as h:
        client = await connect(h)
        handle = await client.start_workflow(
            CleansUpOnCancel.run, id="cancel-me", task_queue=TASK_QUEUE
        )
        first = h.spawn()
        await wait_until(
            lambda: "TimerStarted" in types_of(client, "cancel-me"), "the workflow to sleep"
        )
        h.kill(first)
        await handle.cancel("no longer needed")
        if crash_on_cancel:
            h.expect_crash(h.spawn("workflow_task_complete"))
            assert h.starts() == {}
        h.spawn()
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result(timeout=RESULT_TIMEOUT_S)
        assert isinstance(info.value.cause, CancelledError)
        assert (await handle.describe()).status == "canceled"
        assert h.starts() == {"cleanup": 1}
        types = types_of(client, "cancel-me")
        assert types.count("WorkflowExecutionCancelRequested") == 1
        assert types[-1] == "WorkflowExecutionCanceled"
        await client.close()


# -- continue-as-new -------------------------------------------------------------------------


async def test_entity_continue_as_new_chain_across_kills(tmp_path: Path) -> None:
    """An entity workflow continues as new every 3 signals. Workers die while recording
    tasks (some of them the continue-as-new itself), signals also arrive while none runs,
    and a final burst arrives faster than tasks complete: the chain sees every signal
    exactly once, in order."""
    with harness(tmp_path) as h:
        client = await connect(h)
        handle = await client.start_workflow(
            Tally.run, args=[[], 3], id="tally", task_queue=TASK_QUEUE
        )
        sent: list[int] = []

        async def send() -> None:
            sent.append(len(sent) + 1)
            await handle.signal(Tally.add, sent[-1])

        for crash_at in ("workflow_task_complete@4", "workflow_task_complete@3"):
            proc = h.spawn(crash_at)
            await wait_for_worker(client)
            for _ in range(20):
                await send()
                alive = await wait_until(
                    lambda: processed_signals(client, "tally") == len(sent),
                    f"signal {sent[-1]} to be processed",
                    unless_dead=proc,
                )
                if not alive:
                    break
            h.expect_crash(proc, timeout=5)
            for _ in range(2):  # while no worker runs
                await send()
        h.spawn()
        await wait_until(lambda: processed_signals(client, "tally") == len(sent), "catching up")
        for _ in range(10):  # a burst: several signals per task, across continue-as-new
            await send()
        await wait_until(lambda: processed_signals(client, "tally") == len(sent), "the burst")
        await handle.signal(Tally.finish)
        assert await handle.result(timeout=RESULT_TIMEOUT_S) == sent
        assert signal_args(client, "tally", "add") == sent
        runs = client.store.runs_of_workflow("tally")
        assert len(runs) >= 4  # at least the two crash phases' and the catch-up's
        statuses = [client.store.describe_run(r).status for r in runs]
        assert statuses == ["continued_as_new"] * (len(runs) - 1) + ["completed"]
        await client.close()


# -- cache eviction --------------------------------------------------------------------------


@pytest.mark.parametrize("cache_size", [1, 0])
async def test_waiting_workflows_with_a_tiny_cache(tmp_path: Path, cache_size: int) -> None:
    """With one cached workflow (or none), every signal to the others is delivered to an
    instance rebuilt by replay; all of them finish with every signal, in order."""
    n = 8
    with harness(tmp_path) as h:
        client = await connect(h)
        handles = [
            await client.start_workflow(SignalLog.run, id=f"w{i}", task_queue=TASK_QUEUE)
            for i in range(n)
        ]
        h.spawn(extra=("--max-cached-workflows", str(cache_size)))
        for r in range(3):
            for i, handle in enumerate(handles):
                await handle.signal(SignalLog.add, f"w{i}r{r}")
        for i in range(n):
            await wait_until(lambda i=i: processed_signals(client, f"w{i}") == 3, f"w{i}")
        for i, handle in enumerate(handles):
            assert await handle.query(SignalLog.received_items) == [f"w{i}r{r}" for r in range(3)]
        for handle in handles:
            await handle.signal(SignalLog.finish)
        for i, handle in enumerate(handles):
            assert await handle.result(timeout=RESULT_TIMEOUT_S) == [f"W{i}R{r}" for r in range(3)]
        assert h.starts() == {f"w{i}r{r}": 1 for i in range(n) for r in range(3)}
        await client.close()
