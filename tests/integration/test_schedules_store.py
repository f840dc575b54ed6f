"""Schedules in the embedded store, driven at chosen times (no clock, no worker): catch-up
after downtime, each overlap policy, pause, trigger, limits, deletion, and several
connections taking the same due times."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from duragent._engine.schedules import (
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    to_ms,
)
from duragent.errors import ConfigurationError, ScheduleAlreadyRunningError, ScheduleNotFoundError
from duragent.serde import DataConverter
from duragent.store._visibility import RunQuery
from duragent.store.base import RunStatus, ScheduleDefinition, ScheduleWorkflowAction
from duragent.store.sqlite import SqliteStore

P = ScheduleOverlapPolicy
T0 = to_ms(datetime(2026, 1, 1, tzinfo=UTC))
S = 1000
M = 60 * S
FORMATS = Path(__file__).resolve().parents[1] / "fixtures" / "formats"


def definition(
    *,
    every: timedelta = timedelta(minutes=1),
    overlap: ScheduleOverlapPolicy = P.SKIP,
    window: timedelta = timedelta(days=365),
    state: ScheduleState | None = None,
    cron: tuple[str, ...] = (),
    workflow_id: str = "report",
) -> ScheduleDefinition:
    return ScheduleDefinition(
        action=ScheduleWorkflowAction(
            workflow_type="Report",
            workflow_id=workflow_id,
            task_queue="q",
            input=DataConverter().encode_all(("all",)),
        ),
        spec=ScheduleSpec(
            cron_expressions=cron, intervals=[] if cron else [ScheduleIntervalSpec(every=every)]
        ),
        policy=SchedulePolicy(overlap=overlap, catchup_window=window),
        state=state or ScheduleState(),
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(str(tmp_path / "s.db"))
    yield s
    s.close()


def running(store: SqliteStore) -> list[str]:
    return sorted(
        r.workflow_id for r in store.list_runs_page(_query(RunStatus.RUNNING), limit=1000)[0]
    )


def started(store: SqliteStore) -> list[str]:
    return sorted(r.workflow_id for r in store.list_runs_page(_query(None), limit=1000)[0])


def _query(status: str | None) -> RunQuery:
    return RunQuery(status=status)


def test_actions_start_workflows_named_by_their_time(store: SqliteStore) -> None:
    store.create_schedule("s", definition(), T0, trigger=False)
    assert store.fire_schedules(T0 + 59 * S) == 0
    assert store.fire_schedules(T0 + M) == 1
    assert started(store) == ["report-2026-01-01T00:01:00Z"]
    run = store.describe("report-2026-01-01T00:01:00Z")
    assert (run.workflow_type, run.task_queue) == ("Report", "q")
    d = store.describe_schedule("s", T0 + M)
    assert d.num_actions == 1 and [a.workflow_id for a in d.running] == [run.workflow_id]
    assert d.recent[0].scheduled_at == T0 + M and d.recent[0].run_id == run.run_id
    assert d.next_action_times[:2] == [T0 + 2 * M, T0 + 3 * M]
    # The same time again (another worker, late): nothing more.
    assert store.fire_schedules(T0 + M) == 0
    assert len(started(store)) == 1


def test_catch_up_after_downtime_within_the_window(store: SqliteStore) -> None:
    store.create_schedule("skip", definition(window=timedelta(minutes=10)), T0, trigger=False)
    store.create_schedule(
        "all",
        definition(window=timedelta(minutes=10), overlap=P.ALLOW_ALL, workflow_id="other"),
        T0,
        trigger=False,
    )
    # Nobody ran for 30 minutes and 1 second: minutes 1..20 are older than the window.
    now = T0 + 30 * M + S
    store.fire_schedules(now)
    skip = store.describe_schedule("skip", now)
    assert skip.num_actions_missed_catchup_window == 20
    assert skip.num_actions == 1  # minute 21; the 9 others overlap it
    assert skip.num_actions_skipped_overlap == 9
    everything = store.describe_schedule("all", now)
    assert everything.num_actions_missed_catchup_window == 20
    assert everything.num_actions == 10
    assert everything.next_action_times[0] == T0 + 31 * M


def test_a_long_downtime_is_caught_up_in_bounded_transactions(store: SqliteStore) -> None:
    store.create_schedule("s", definition(every=timedelta(seconds=1)), T0, trigger=False)
    now = T0 + 2500 * S
    rounds = 0
    while store.fire_schedules(now):
        rounds += 1
    assert rounds == 3  # 1000 + 1000 + 500 times
    d = store.describe_schedule("s", now)
    assert d.num_actions == 1 and d.num_actions_skipped_overlap == 2499


def test_overlap_skip_and_allow_all(store: SqliteStore) -> None:
    store.create_schedule("skip", definition(), T0, trigger=False)
    store.fire_schedules(T0 + M)
    store.fire_schedules(T0 + 2 * M)
    assert store.describe_schedule("skip", T0).num_actions_skipped_overlap == 1
    store.terminate("report-2026-01-01T00:01:00Z", None, "done", T0 + 2 * M)
    store.fire_schedules(T0 + 3 * M)
    assert running(store) == ["report-2026-01-01T00:03:00Z"]


def test_overlap_buffer_one_starts_when_the_running_one_closes(store: SqliteStore) -> None:
    store.create_schedule("s", definition(overlap=P.BUFFER_ONE), T0, trigger=False)
    store.fire_schedules(T0 + M)
    store.fire_schedules(T0 + 2 * M)  # buffered
    store.fire_schedules(T0 + 3 * M)  # the buffer holds one: skipped
    d = store.describe_schedule("s", T0 + 3 * M)
    assert (d.buffered, d.num_actions_skipped_overlap) == (1, 1)
    store.terminate("report-2026-01-01T00:01:00Z", None, "done", T0 + 3 * M + S)
    # The close woke the schedule: due now, not at the next action time.
    assert store.fire_schedules(T0 + 3 * M + S) == 1
    assert running(store) == ["report-2026-01-01T00:02:00Z"]
    assert store.describe_schedule("s", T0).buffered == 0


def test_overlap_buffer_all_runs_each_in_turn(store: SqliteStore) -> None:
    store.create_schedule("s", definition(overlap=P.BUFFER_ALL), T0, trigger=False)
    store.fire_schedules(T0 + 3 * M)  # 1 starts, 2 and 3 wait
    assert store.describe_schedule("s", T0).buffered == 2
    for minute in (1, 2):
        store.terminate(f"report-2026-01-01T00:0{minute}:00Z", None, "done", T0 + 3 * M)
        store.fire_schedules(T0 + 3 * M)
        assert running(store) == [f"report-2026-01-01T00:0{minute + 1}:00Z"]


def test_overlap_cancel_other_and_terminate_other(store: SqliteStore) -> None:
    store.create_schedule("c", definition(overlap=P.CANCEL_OTHER), T0, trigger=False)
    store.fire_schedules(T0 + M)
    store.fire_schedules(T0 + 2 * M)
    first = store.describe("report-2026-01-01T00:01:00Z")
    history = store.read_history(first.run_id)
    assert history[-1].TYPE == "WorkflowExecutionCancelRequested"
    assert running(store) == ["report-2026-01-01T00:01:00Z"]  # until it closes
    store.terminate(first.workflow_id, None, "cancelled", T0 + 2 * M + S)
    store.fire_schedules(T0 + 2 * M + S)
    assert running(store) == ["report-2026-01-01T00:02:00Z"]
    store.delete_schedule("c", T0)

    store.create_schedule(
        "t", definition(overlap=P.TERMINATE_OTHER, every=timedelta(minutes=5)), T0, trigger=False
    )
    store.fire_schedules(T0 + 5 * M)
    store.fire_schedules(T0 + 10 * M)
    assert store.describe("report-2026-01-01T00:05:00Z").status == RunStatus.TERMINATED
    assert "report-2026-01-01T00:10:00Z" in running(store)


def test_pause_trigger_unpause_and_limits(store: SqliteStore) -> None:
    store.create_schedule(
        "s",
        definition(
            overlap=P.ALLOW_ALL, state=ScheduleState(limited_actions=True, remaining_actions=3)
        ),
        T0,
        trigger=True,  # one action at creation
    )
    assert started(store) == ["report-2026-01-01T00:00:00Z"]
    store.pause_schedule("s", True, "maintenance", T0 + 30 * S)
    assert store.fire_schedules(T0 + 5 * M) == 0  # paused: not due at all
    d = store.describe_schedule("s", T0 + 5 * M)
    assert d.definition.state.paused and d.definition.state.note == "maintenance"
    assert d.next_action_times == []
    store.trigger_schedule("s", None, T0 + 5 * M)  # works while paused
    store.pause_schedule("s", False, None, T0 + 10 * M + S)
    store.fire_schedules(T0 + 12 * M)  # minutes 1..10 passed while paused: not caught up
    names = started(store)
    assert names == [
        "report-2026-01-01T00:00:00Z",
        "report-2026-01-01T00:05:00Z",
        "report-2026-01-01T00:11:00Z",
    ]
    d = store.describe_schedule("s", T0 + 12 * M)
    assert d.definition.state.remaining_actions == 0 and d.num_actions == 3
    assert d.next_action_times == []  # used up
    store.fire_schedules(T0 + 20 * M)
    assert len(started(store)) == 3


def test_create_update_delete_and_errors(store: SqliteStore) -> None:
    store.create_schedule("s", definition(), T0, trigger=False)
    with pytest.raises(ScheduleAlreadyRunningError, match="'s' already exists"):
        store.create_schedule("s", definition(), T0, trigger=False)
    with pytest.raises(ConfigurationError, match="outside 0-59"):
        store.create_schedule("bad", definition(cron=("75 * * * *",)), T0, trigger=False)
    store.update_schedule("s", definition(cron=("30 * * * *",)), T0 + S)
    assert store.describe_schedule("s", T0 + S).next_action_times[0] == T0 + 30 * M
    assert [r.schedule_id for r in store.list_schedules(T0)] == ["s"]
    store.fire_schedules(T0 + 30 * M)
    store.delete_schedule("s", T0 + 31 * M)
    assert store.list_schedules(T0) == []
    assert running(store) == ["report-2026-01-01T00:30:00Z"]  # runs on
    for call in (
        lambda: store.describe_schedule("s", T0),
        lambda: store.delete_schedule("s", T0),
        lambda: store.pause_schedule("s", True, None, T0),
        lambda: store.trigger_schedule("s", None, T0),
    ):
        with pytest.raises(ScheduleNotFoundError, match="'s' not found"):
            call()
    assert store.fire_schedules(T0 + 90 * M) == 0


def test_several_connections_take_each_time_once(tmp_path: Path) -> None:
    stores = [SqliteStore(str(tmp_path / "shared.db")) for _ in range(3)]
    try:
        stores[0].create_schedule(
            "s", definition(overlap=P.ALLOW_ALL, every=timedelta(seconds=1)), T0, trigger=False
        )
        for second in range(1, 61):
            for s in stores:  # every "worker" looks at every moment
                s.fire_schedules(T0 + second * S)
        names = started(stores[0])
        assert len(names) == len(set(names)) == 60
        assert stores[1].describe_schedule("s", T0).num_actions == 60
    finally:
        for s in stores:
            s.close()


def test_old_stores_migrate_and_take_schedules(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    shutil.copy(FORMATS / "store_v4.db", path)
    old = SqliteStore(str(path))
    try:
        assert old.list_schedules(T0) == []
        old.create_schedule("s", definition(), T0, trigger=False)
        old.fire_schedules(T0 + M)
        assert "report-2026-01-01T00:01:00Z" in started(old)
    finally:
        old.close()
