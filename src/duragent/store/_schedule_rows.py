"""Schedules in the store: create, describe, list, pause, trigger, update and delete them,
and take their due actions.

A schedule's due actions are taken by whichever worker's housekeeping finds it due
(``wake_at <= now``): in one write transaction it reads the schedule, starts, skips or
buffers every action time up to now, and moves ``processed_to`` and ``wake_at`` on. SQLite
has one writer at a time and the next worker re-reads the row, so with any number of
workers and processes each action time is handled exactly once, and a crash before the
commit leaves nothing half done. Started workflows are named ``{workflow_id}-{time}`` (as
Temporal names them), so a time can never start two runs either.

What to do at each time (catch-up window, overlap policy) is decided by
:mod:`duragent._engine.schedules`; this module only reads and writes rows.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import timedelta
from typing import Any, Final

from .._engine.schedules import (
    CompiledSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    check_policy,
    compile_spec,
    decide_overlap,
    from_ms,
    iso_minute,
    next_times,
    to_ms,
)
from ..errors import ConfigurationError, ScheduleAlreadyRunningError, ScheduleNotFoundError
from ._connection import SqliteConnection
from ._messages import payloads_from_json, payloads_json
from ._runs import create_run, new_run_id, request_cancel_run, terminate_run
from ._tx import RunRow, Tx, dumps
from .base import (
    RunStatus,
    ScheduleActionRecord,
    ScheduleDefinition,
    ScheduleRecord,
    ScheduleWorkflowAction,
)

log = logging.getLogger("duragent.schedules")

DEFINITION_VERSION: Final = 1
"""Version of the ``schedules.definition`` JSON."""
RECENT_ACTIONS: Final = 10
"""How many of a schedule's latest actions describe() shows."""
TIMES_PER_ROUND: Final = 1000
"""At most this many action times are handled per schedule per transaction (a long
downtime is caught up over several short transactions, not one long one)."""
NEXT_TIMES_SHOWN: Final = 10

_COLUMNS: Final = (
    "schedule_id, definition, paused, note, remaining, processed_to, wake_at, buffer, "
    "num_actions, num_missed, num_skipped, recent, created_at, updated_at"
)


# -- the definition as JSON ----------------------------------------------------------------


def encode_definition(definition: ScheduleDefinition) -> str:
    """The ``definition`` column: action, spec and policy (the state has columns)."""
    action, spec, policy = definition.action, definition.spec, definition.policy
    return dumps(
        {
            "v": DEFINITION_VERSION,
            "action": {
                "workflow_type": action.workflow_type,
                "workflow_id": action.workflow_id,
                "task_queue": action.task_queue,
                "input": json.loads(payloads_json(action.input)),
                "memo": action.memo,
            },
            "spec": {
                "cron": list(spec.cron_expressions),
                "intervals": [
                    [_ms(i.every), _ms(i.offset) if i.offset else 0] for i in spec.intervals
                ],
                "start_at": to_ms(spec.start_at) if spec.start_at else None,
                "end_at": to_ms(spec.end_at) if spec.end_at else None,
            },
            "policy": {
                "overlap": int(policy.overlap),
                "catchup_window_ms": _ms(policy.catchup_window),
                "pause_on_failure": policy.pause_on_failure,
            },
        }
    )


def decode_definition(text: str, state: ScheduleState) -> ScheduleDefinition:
    data: dict[str, Any] = json.loads(text)
    if data.get("v") != DEFINITION_VERSION:
        raise ConfigurationError(
            f"a schedule was written by a newer Duragent (definition version {data.get('v')})"
        )
    action, spec, policy = data["action"], data["spec"], data["policy"]
    return ScheduleDefinition(
        action=ScheduleWorkflowAction(
            workflow_type=str(action["workflow_type"]),
            workflow_id=str(action["workflow_id"]),
            task_queue=str(action["task_queue"]),
            input=payloads_from_json(json.dumps(action["input"])),
            memo=dict(action["memo"]),
        ),
        spec=ScheduleSpec(
            cron_expressions=tuple(str(c) for c in spec["cron"]),
            intervals=tuple(
                ScheduleIntervalSpec(
                    every=timedelta(milliseconds=every),
                    offset=timedelta(milliseconds=offset) if offset else None,
                )
                for every, offset in spec["intervals"]
            ),
            start_at=from_ms(spec["start_at"]) if spec["start_at"] is not None else None,
            end_at=from_ms(spec["end_at"]) if spec["end_at"] is not None else None,
        ),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy(policy["overlap"]),
            catchup_window=timedelta(milliseconds=policy["catchup_window_ms"]),
            pause_on_failure=bool(policy["pause_on_failure"]),
        ),
        state=state,
    )


def _ms(delta: timedelta) -> int:
    return int(delta.total_seconds() * 1000)


# -- one schedule's row, read and written inside a transaction ------------------------------


class _Row:
    """A schedule's row while a transaction works on it."""

    def __init__(self, values: Any) -> None:
        (
            self.schedule_id,
            self.definition_text,
            paused,
            self.note,
            self.remaining,
            self.processed_to,
            self.wake_at,
            buffer,
            self.num_actions,
            self.num_missed,
            self.num_skipped,
            recent,
            self.created_at,
            self.updated_at,
        ) = values
        self.paused = bool(paused)
        self.buffer: list[list[int]] = json.loads(buffer)  # [[time, overlap], ...]
        self.recent: list[list[Any]] = json.loads(recent)
        self.definition = decode_definition(self.definition_text, self.state())

    def state(self) -> ScheduleState:
        return ScheduleState(
            note=self.note or None,
            paused=self.paused,
            limited_actions=self.remaining is not None,
            remaining_actions=int(self.remaining or 0),
        )

    def save(self, tx: Tx) -> None:
        tx.c.execute(
            "UPDATE schedules SET definition = ?, paused = ?, note = ?, remaining = ?, "
            "processed_to = ?, wake_at = ?, buffer = ?, num_actions = ?, num_missed = ?, "
            "num_skipped = ?, recent = ?, updated_at = ? WHERE schedule_id = ?",
            (
                self.definition_text,
                int(self.paused),
                self.note,
                self.remaining,
                self.processed_to,
                self.wake_at,
                dumps(self.buffer),
                self.num_actions,
                self.num_missed,
                self.num_skipped,
                dumps(self.recent[-RECENT_ACTIONS:]),
                self.updated_at,
                self.schedule_id,
            ),
        )
        tx.topics.add("timer")  # a worker's housekeeping recomputes when to wake


def _load(tx: Tx, schedule_id: str) -> _Row:
    row = tx.c.execute(
        f"SELECT {_COLUMNS} FROM schedules WHERE schedule_id = ?", (schedule_id,)
    ).fetchone()
    if row is None:
        raise ScheduleNotFoundError(f"schedule {schedule_id!r} not found")
    return _Row(row)


def _running(tx: Tx, schedule_id: str) -> list[RunRow]:
    """The schedule's open workflows (their current runs); rows of closed ones go."""
    out: list[RunRow] = []
    for workflow_id in [
        str(r[0])
        for r in tx.c.execute(
            "SELECT workflow_id FROM schedule_runs WHERE schedule_id = ? ORDER BY started_at",
            (schedule_id,),
        )
    ]:
        run = tx.open_run(workflow_id)
        if run is None:
            tx.c.execute("DELETE FROM schedule_runs WHERE workflow_id = ?", (workflow_id,))
        else:
            out.append(run)
    return out


def _start(tx: Tx, row: _Row, scheduled_at: int) -> bool:
    """Start the action for ``scheduled_at``; False when a run with its workflow id is
    already open (it is then counted as skipped)."""
    action = row.definition.action
    workflow_id = f"{action.workflow_id}-{iso_minute(scheduled_at)}"
    if tx.open_run(workflow_id) is not None:
        row.num_skipped += 1
        return False
    run = create_run(
        tx,
        run_id=new_run_id(),
        workflow_id=workflow_id,
        workflow_type=action.workflow_type,
        task_queue=action.task_queue,
        input=action.input,
        memo=action.memo,
    )
    tx.c.execute(
        "INSERT OR REPLACE INTO schedule_runs (workflow_id, schedule_id, run_id, scheduled_at, "
        "started_at) VALUES (?, ?, ?, ?, ?)",
        (workflow_id, row.schedule_id, run.run_id, scheduled_at, tx.now),
    )
    row.num_actions += 1
    if row.remaining is not None:
        row.remaining = max(0, row.remaining - 1)
    row.recent.append([scheduled_at, tx.now, workflow_id, run.run_id])
    return True


def _act(tx: Tx, row: _Row, scheduled_at: int, overlap: ScheduleOverlapPolicy) -> None:
    """Handle one due action under ``overlap``."""
    running = _running(tx, row.schedule_id)
    decision = decide_overlap(overlap, len(running), len(row.buffer))
    if decision.terminate_running:
        for run in running:
            terminate_run(
                tx, run, f"terminated by schedule {row.schedule_id!r} (overlap TERMINATE_OTHER)"
            )
    if decision.cancel_running:
        for run in running:
            request_cancel_run(
                tx, run, f"cancelled by schedule {row.schedule_id!r} (overlap CANCEL_OTHER)"
            )
        row.buffer = []  # only the latest waits for the cancelled one
    if decision.outcome == "start":
        _start(tx, row, scheduled_at)
    elif decision.outcome == "buffer":
        row.buffer.append([scheduled_at, int(overlap)])
    else:
        row.num_skipped += 1


def _start_buffered(tx: Tx, row: _Row) -> None:
    """Start the first buffered action once none of the schedule's workflows runs."""
    while row.buffer and not _running(tx, row.schedule_id):
        scheduled_at, _ = row.buffer.pop(0)
        if row.remaining == 0:
            row.buffer.clear()
            return
        if _start(tx, row, scheduled_at):
            return


def _exhausted(row: _Row) -> bool:
    return row.remaining is not None and row.remaining <= 0


def _process(tx: Tx, row: _Row, now: int) -> None:
    """Take every action due up to ``now`` and set when to look again."""
    row.updated_at = max(row.updated_at, now)
    if row.paused:
        row.processed_to = max(row.processed_to, now)
        row.wake_at = None
        row.save(tx)
        return
    _start_buffered(tx, row)
    spec = compile_spec(row.definition.spec)
    policy = row.definition.policy
    window = _ms(policy.catchup_window)
    more = False
    for handled, due in enumerate(spec.times(row.processed_to)):
        if due > now:
            break
        if handled >= TIMES_PER_ROUND:
            more = True
            break
        row.processed_to = due
        if now - due > window:
            row.num_missed += 1
        elif not _exhausted(row):
            _act(tx, row, due, policy.overlap)
    if not more:
        row.processed_to = max(row.processed_to, now)
    if more:
        row.wake_at = now
    elif _exhausted(row) and not row.buffer:
        row.wake_at = None
    else:
        row.wake_at = spec.next_after(row.processed_to)
    row.save(tx)


def schedule_run_closed(tx: Tx, run: RunRow, status: str) -> None:
    """A run closed: if a schedule started its workflow, it no longer blocks the
    schedule's overlap policy (a buffered action may start now), and a failure pauses a
    schedule with ``pause_on_failure``."""
    if status == RunStatus.CONTINUED_AS_NEW:
        return  # the workflow goes on in a new run
    found = tx.c.execute(
        "DELETE FROM schedule_runs WHERE workflow_id = ? AND run_id = ? RETURNING schedule_id",
        (run.workflow_id, run.first_run_id),
    ).fetchone()
    if found is None:
        return
    schedule_id = str(found[0])
    row = tx.c.execute(
        f"SELECT {_COLUMNS} FROM schedules WHERE schedule_id = ?", (schedule_id,)
    ).fetchone()
    if row is None:
        return  # deleted meanwhile
    schedule = _Row(row)
    if status == RunStatus.FAILED and schedule.definition.policy.pause_on_failure:
        schedule.paused = True
        schedule.note = f"paused because workflow {run.workflow_id!r} failed"
        schedule.wake_at = None
        schedule.updated_at = tx.now
        schedule.save(tx)
    elif schedule.buffer and not schedule.paused:
        schedule.wake_at = tx.now
        schedule.save(tx)


# -- the operations -------------------------------------------------------------------------


class ScheduleOps(SqliteConnection):
    """Schedules: what clients call, and what workers' housekeeping runs."""

    def create_schedule(
        self, schedule_id: str, definition: ScheduleDefinition, now: int, *, trigger: bool
    ) -> None:
        """Create a schedule (and take an action at once with ``trigger``).

        Raises:
            ScheduleAlreadyRunningError: A schedule with this id exists.
            ConfigurationError: A bad spec or policy.
        """
        spec = _checked(definition)
        state = definition.state
        with self._write(now) as tx:
            if tx.c.execute(
                "SELECT 1 FROM schedules WHERE schedule_id = ?", (schedule_id,)
            ).fetchone():
                raise ScheduleAlreadyRunningError(f"schedule {schedule_id!r} already exists")
            tx.c.execute(
                "INSERT INTO schedules (schedule_id, definition, paused, note, remaining, "
                "processed_to, wake_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    schedule_id,
                    encode_definition(definition),
                    int(state.paused),
                    state.note or "",
                    state.remaining_actions if state.limited_actions else None,
                    now,
                    None if state.paused else spec.next_after(now),
                    now,
                    now,
                ),
            )
            tx.topics.add("timer")
            if trigger:
                row = _load(tx, schedule_id)
                _act(tx, row, now, row.definition.policy.overlap)
                row.save(tx)

    def describe_schedule(self, schedule_id: str, now: int) -> ScheduleRecord:
        """Raises ScheduleNotFoundError."""
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM schedules WHERE schedule_id = ?", (schedule_id,)
            ).fetchone()
            if row is None:
                raise ScheduleNotFoundError(f"schedule {schedule_id!r} not found")
            running = conn.execute(
                "SELECT s.scheduled_at, s.started_at, s.workflow_id, s.run_id "
                "FROM schedule_runs s JOIN runs r ON r.workflow_id = s.workflow_id "
                "AND r.status = 'running' WHERE s.schedule_id = ? ORDER BY s.started_at",
                (schedule_id,),
            ).fetchall()
        return _record(_Row(row), running, now)

    def list_schedules(self, now: int) -> list[ScheduleRecord]:
        """Every schedule, by id."""
        with self._read() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM schedules ORDER BY schedule_id").fetchall()
            running: dict[str, list[Any]] = {}
            for r in conn.execute(
                "SELECT s.schedule_id, s.scheduled_at, s.started_at, s.workflow_id, s.run_id "
                "FROM schedule_runs s JOIN runs r ON r.workflow_id = s.workflow_id "
                "AND r.status = 'running' ORDER BY s.started_at"
            ):
                running.setdefault(str(r[0]), []).append(tuple(r[1:]))
        return [_record(_Row(r), running.get(str(r[0]), []), now) for r in rows]

    def pause_schedule(self, schedule_id: str, paused: bool, note: str | None, now: int) -> None:
        """Pause or unpause (times that passed while paused are not caught up).

        Raises ScheduleNotFoundError."""
        with self._write(now) as tx:
            row = _load(tx, schedule_id)
            if note is not None:
                row.note = note
            if row.paused != paused:
                row.paused = paused
                row.processed_to = max(row.processed_to, now)
            row.updated_at = now
            _process(tx, row, now)

    def trigger_schedule(
        self, schedule_id: str, overlap: ScheduleOverlapPolicy | None, now: int
    ) -> None:
        """Take an action now (also when paused), under ``overlap`` (default: the
        schedule's policy). Raises ScheduleNotFoundError."""
        with self._write(now) as tx:
            row = _load(tx, schedule_id)
            _act(tx, row, now, overlap or row.definition.policy.overlap)
            row.updated_at = now
            row.save(tx)

    def update_schedule(self, schedule_id: str, definition: ScheduleDefinition, now: int) -> None:
        """Replace a schedule's action, spec, policy and state (counts and recent actions
        stay). Raises ScheduleNotFoundError, ConfigurationError."""
        _checked(definition)
        state = definition.state
        with self._write(now) as tx:
            row = _load(tx, schedule_id)
            row.definition_text = encode_definition(definition)
            row.definition = replace(definition, state=state)
            if state.paused != row.paused:
                row.processed_to = max(row.processed_to, now)
            row.paused = state.paused
            row.note = state.note or ""
            row.remaining = state.remaining_actions if state.limited_actions else None
            row.updated_at = now
            _process(tx, row, now)

    def delete_schedule(self, schedule_id: str, now: int) -> None:
        """Delete a schedule; the workflows it started run on. Raises
        ScheduleNotFoundError."""
        with self._write(now) as tx:
            _load(tx, schedule_id)
            tx.c.execute("DELETE FROM schedules WHERE schedule_id = ?", (schedule_id,))
            tx.c.execute("DELETE FROM schedule_runs WHERE schedule_id = ?", (schedule_id,))

    def fire_schedules(self, now: int) -> int:
        """Take the due actions of every schedule due at ``now`` (a worker's housekeeping
        calls this). Returns how many schedules were processed."""
        with self._read() as conn:
            due = conn.execute(
                "SELECT 1 FROM schedules WHERE wake_at <= ? LIMIT 1", (now,)
            ).fetchone()
        if due is None:
            return 0
        with self._write(now) as tx:
            ids = [
                str(r[0])
                for r in tx.c.execute(
                    "SELECT schedule_id FROM schedules WHERE wake_at <= ? ORDER BY wake_at "
                    "LIMIT 100",
                    (now,),
                )
            ]
            for schedule_id in ids:
                try:
                    row = _load(tx, schedule_id)
                except (ConfigurationError, ValueError, KeyError, TypeError) as err:
                    # A definition this code cannot read (written by a newer Duragent, or
                    # damaged): it must not be retried in a tight loop. It stays, unchanged,
                    # for a Duragent that can read it; describe() reports the error.
                    log.error("schedule %r cannot be processed: %s", schedule_id, err)
                    tx.c.execute(
                        "UPDATE schedules SET wake_at = NULL WHERE schedule_id = ?", (schedule_id,)
                    )
                    continue
                _process(tx, row, now)
            return len(ids)


def _checked(definition: ScheduleDefinition) -> CompiledSpec:
    try:
        spec = compile_spec(definition.spec)
        check_policy(definition.policy)
    except ValueError as err:
        raise ConfigurationError(str(err)) from err
    action = definition.action
    if not action.workflow_id or not action.task_queue:
        raise ConfigurationError("a schedule's action needs a workflow id and a task queue")
    return spec


def _record(row: _Row, running: list[Any], now: int) -> ScheduleRecord:
    spec = compile_spec(row.definition.spec)
    after = max(row.processed_to, now)
    upcoming: list[int] = []
    if not row.paused and not _exhausted(row):
        upcoming = next_times(spec, after, NEXT_TIMES_SHOWN)
    return ScheduleRecord(
        schedule_id=str(row.schedule_id),
        definition=row.definition,
        num_actions=int(row.num_actions),
        num_actions_missed_catchup_window=int(row.num_missed),
        num_actions_skipped_overlap=int(row.num_skipped),
        running=[ScheduleActionRecord(int(a), int(b), str(c), str(d)) for a, b, c, d in running],
        recent=[ScheduleActionRecord(int(a), int(b), str(c), str(d)) for a, b, c, d in row.recent],
        next_action_times=upcoming,
        buffered=len(row.buffer),
        created_at=int(row.created_at),
        updated_at=int(row.updated_at),
    )
