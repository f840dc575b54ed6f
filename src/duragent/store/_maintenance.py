"""Worker registration and the store's upkeep: timers coming due, attempts timing out,
dead workers' tasks recovered, and the cross-process wake-up registry."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import time as _time
from typing import Final

from .._engine import events as ev
from . import _activity_rows as activities
from . import _workflow_task_rows as workflow_tasks
from ._async_activities import ASYNC_OWNER
from ._connection import SqliteConnection
from ._tx import dumps
from .base import (
    RunStatus,
    WorkerRegistration,
)
from .liveness import is_alive, process_start_marker, this_host

_PEERS_REFRESH_S: Final = 1.0
CLOCK_STEP_MS: Final = 1000
"""Smaller differences between wall and monotonic clock are drift, not a step."""
_SHIFT_DUE_TIMES: Final = (
    "UPDATE timers SET fire_at = fire_at + ?1",
    "UPDATE tasks SET visible_at = visible_at + ?1, lease_expires_at = lease_expires_at + ?1, "
    "schedule_deadline = schedule_deadline + ?1, started_at = started_at + ?1, "
    "heartbeat_at = heartbeat_at + ?1",
    "UPDATE workers SET heartbeat_at = heartbeat_at + ?1",
    "UPDATE updates SET created_at = created_at + ?1 WHERE status = 'requested'",
)
"""Every stored time that a later "now" is compared with (history keeps its times)."""


class MaintenanceOps(SqliteConnection):
    """Workers, housekeeping and wake-ups."""

    def close(self) -> None:
        """Stop taking part in wake-ups, then close the connection."""
        self.notifier.remove_peer_source(self._peer_addresses)
        super().close()

    # -- workers ---------------------------------------------------------------------------

    def register_worker(self, registration: WorkerRegistration, now: int) -> None:
        with self._write(now) as tx:
            tx.c.execute(
                "INSERT OR REPLACE INTO workers (worker_id, host, pid, pid_started, task_queue, "
                "workflow_types, activity_types, started_at, heartbeat_at, payload_epochs) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                (
                    registration.worker_id,
                    registration.host,
                    registration.pid,
                    registration.pid_started,
                    registration.task_queue,
                    dumps(list(registration.workflow_types)),
                    dumps(list(registration.activity_types))
                    if registration.activity_types is not None
                    else None,
                    now,
                    now,
                ),
            )
            # A new worker (often: a fixed deploy) retries failing workflow tasks now.
            tx.c.execute(
                "UPDATE tasks SET visible_at = ? WHERE kind = 0 AND owner IS NULL AND attempt > 0 "
                "AND task_queue = ?",
                (now, registration.task_queue),
            )
            tx.topics.add(f"wf:{registration.task_queue}")

    def heartbeat_worker(self, worker_id: str, now: int) -> None:
        with self._read() as conn:
            conn.execute(
                "UPDATE workers SET heartbeat_at = ? WHERE worker_id = ?", (now, worker_id)
            )

    def deregister_worker(self, worker_id: str) -> None:
        with self._read() as conn:
            conn.execute("DELETE FROM workers WHERE worker_id = ?", (worker_id,))

    def count_workers(self, task_queue: str | None = None) -> int:
        """Registered workers (of ``task_queue``, if given)."""
        with self._read() as conn:
            if task_queue is None:
                return int(conn.execute("SELECT count(*) FROM workers").fetchone()[0])
            return int(
                conn.execute(
                    "SELECT count(*) FROM workers WHERE task_queue = ?", (task_queue,)
                ).fetchone()[0]
            )

    def known_types(self, task_queue: str) -> tuple[set[str], set[str] | None]:
        """Workflow and activity types the live workers of ``task_queue`` handle
        (activity types None: some worker takes every type)."""
        workflows: set[str] = set()
        activity_types: set[str] | None = set()
        with self._read() as conn:
            for wf, act in conn.execute(
                "SELECT workflow_types, activity_types FROM workers WHERE task_queue = ?",
                (task_queue,),
            ):
                workflows.update(json.loads(wf))
                if act is None:
                    activity_types = None
                elif activity_types is not None:
                    activity_types.update(json.loads(act))
        return workflows, activity_types

    # -- housekeeping ------------------------------------------------------------------------

    def next_due(self, now: int) -> int | None:
        """Earliest time after ``now`` when something becomes due: a timer, a lease expiry,
        a deadline, or the end of a retry backoff."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT min(t) FROM ("
                " SELECT min(fire_at) AS t FROM timers"
                " UNION ALL SELECT min(lease_expires_at) FROM tasks WHERE owner IS NOT NULL"
                " UNION ALL SELECT min(schedule_deadline) FROM tasks"
                " WHERE schedule_deadline IS NOT NULL"
                " UNION ALL SELECT min(visible_at) FROM tasks WHERE owner IS NULL"
                " AND visible_at > ?"
                " UNION ALL SELECT min(wake_at) FROM schedules)",
                (now,),
            ).fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def is_idle(self, now: int) -> bool:
        """Whether nothing can run now: no task is claimed or claimable, no timer is due,
        and no query or update is waiting. The time-skipping test environment advances
        its clock only then."""
        with self._read() as conn:
            busy = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM tasks WHERE owner IS NOT NULL OR visible_at <= ?1)"
                " OR EXISTS (SELECT 1 FROM timers WHERE fire_at <= ?1)"
                " OR EXISTS (SELECT 1 FROM schedules WHERE wake_at <= ?1)"
                " OR EXISTS (SELECT 1 FROM updates WHERE status = 'requested')"
                " OR EXISTS (SELECT 1 FROM queries WHERE status IN ('requested', 'claimed'))",
                (now,),
            ).fetchone()[0]
        return not busy

    def became_visible(self, since: int, now: int) -> bool:
        """Whether an unclaimed task's backoff ended in ``(since, now]``."""
        with self._read() as conn:
            return (
                conn.execute(
                    "SELECT 1 FROM tasks WHERE owner IS NULL AND visible_at > ? "
                    "AND visible_at <= ? LIMIT 1",
                    (since, now),
                ).fetchone()
                is not None
            )

    def follow_clock_step(self, boot_id: str, offset_ms: int, now: int) -> int:
        """Keep every pending due time's remaining duration across a step of the wall
        clock; returns the step applied (ms, 0 for none).

        ``offset_ms`` is the wall clock minus the machine's monotonic clock, as the caller
        sees it now (see ``duragent._clock.ClockEpoch``); the database keeps the last one
        seen. When they differ by more than ``CLOCK_STEP_MS``, the wall clock was stepped
        by the difference: timers, retry backoffs, leases, deadlines and heartbeats are
        moved by it, in one transaction, exactly once however many processes notice.
        After a reboot there is nothing to compare with: the offset is only recorded.
        """
        stored = self._clock_epoch_row()
        if stored == (boot_id, offset_ms) or (
            stored is not None
            and stored[0] == boot_id
            and abs(stored[1] - offset_ms) < CLOCK_STEP_MS
        ):
            return 0
        with self._write(now) as tx:
            stored = self._clock_epoch_row()  # another process may have done it meanwhile
            step = 0
            if stored is not None and stored[0] == boot_id:
                step = offset_ms - stored[1]
                if abs(step) < CLOCK_STEP_MS:
                    return 0
                for statement in _SHIFT_DUE_TIMES:
                    tx.c.execute(statement, (step,))
                tx.topics.update(("timer", "clock"))
            tx.c.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('clock_epoch', ?)",
                (f"{boot_id} {offset_ms}",),
            )
            return step

    def _clock_epoch_row(self) -> tuple[str, int] | None:
        with self._read() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'clock_epoch'").fetchone()
        if row is None:
            return None
        boot, _, offset = str(row[0]).partition(" ")
        try:
            return boot, int(offset)
        except ValueError:
            return None  # damaged: recorded anew

    def housekeeping(self, now: int, worker_id: str = "") -> int | None:
        """Fire due timers, time out overdue activity attempts and release expired
        workflow task leases. Returns the next due time (ms) or None."""
        with self._read() as conn:
            due = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM timers WHERE fire_at <= ?1)"
                " OR EXISTS (SELECT 1 FROM tasks WHERE owner IS NOT NULL"
                "            AND lease_expires_at <= ?1)"
                " OR EXISTS (SELECT 1 FROM tasks WHERE schedule_deadline <= ?1)",
                (now,),
            ).fetchone()[0]
        if due:
            with self._write(now) as tx:
                for run_id, seq in tx.c.execute(
                    "SELECT run_id, seq FROM timers WHERE fire_at <= ? ORDER BY fire_at LIMIT 1000",
                    (now,),
                ).fetchall():
                    tx.c.execute("DELETE FROM timers WHERE run_id = ? AND seq = ?", (run_id, seq))
                    run = tx.run(run_id)
                    if run is not None and run.status == RunStatus.RUNNING:
                        tx.append_input(
                            run,
                            lambda event_id, time, s=seq: ev.TimerFired(
                                event_id=event_id, time=time, seq=s
                            ),
                        )
                activities.expire(tx)
                for task_id, queue in tx.c.execute(
                    "SELECT task_id, task_queue FROM tasks WHERE kind = 0 AND owner IS NOT NULL "
                    "AND lease_expires_at <= ?",
                    (now,),
                ).fetchall():
                    tx.c.execute(
                        "UPDATE tasks SET owner = NULL, lease_expires_at = NULL, visible_at = ? "
                        "WHERE task_id = ?",
                        (now, task_id),
                    )
                    tx.topics.add(f"wf:{queue}")
        return self.next_due(now)

    def reclaim_dead_workers(self, now: int) -> int:
        """Release the tasks of worker processes that are gone. Returns how many workers
        were found dead."""
        with self._read() as conn:
            workers = conn.execute(
                "SELECT worker_id, host, pid, pid_started, heartbeat_at FROM workers"
            ).fetchall()
            owners = {
                str(r[0])
                for r in conn.execute(
                    # An attempt completed asynchronously has no worker to die.
                    "SELECT DISTINCT owner FROM tasks WHERE owner IS NOT NULL AND owner != ?",
                    (ASYNC_OWNER,),
                ).fetchall()
            }
        alive = {w[0] for w in workers if is_alive(w[1], w[2], w[3], w[4], now)}
        dead = [w[0] for w in workers if w[0] not in alive]
        # Tasks held by a worker with no registration at all are orphans too.
        dead.extend(o for o in owners if o not in alive and o not in dead)
        if not dead:
            return 0
        with self._write(now) as tx:
            for worker_id in dead:
                for task_id, queue in workflow_tasks.owned_by(tx, worker_id):
                    tx.c.execute(
                        "UPDATE tasks SET owner = NULL, lease_expires_at = NULL, visible_at = ? "
                        "WHERE task_id = ?",
                        (now, task_id),
                    )
                    tx.topics.add(f"wf:{queue}")
                activities.interrupted(tx, worker_id)
                for (queue,) in tx.c.execute(
                    "UPDATE queries SET status = 'requested', owner = NULL "
                    "WHERE owner = ? AND status = 'claimed' RETURNING task_queue",
                    (worker_id,),
                ).fetchall():
                    tx.topics.add(f"q:{queue}")
                tx.c.execute("DELETE FROM workers WHERE worker_id = ?", (worker_id,))
        return len(dead)

    # -- cross-process wake-ups ------------------------------------------------------------

    def enable_remote_wakeups(self) -> None:
        """Exchange wake-ups with other processes using this database (Linux): must be
        called from the event loop that waits."""
        if self.path == ":memory:":
            return
        address = self.notifier.enable_remote(
            hashlib.blake2b(os.path.realpath(self.path).encode(), digest_size=6).hexdigest(),
            self._peer_addresses,
        )
        if address is None:
            return
        with self._read() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO listeners (address, host, pid, pid_started) "
                "VALUES (?, ?, ?, ?)",
                (address, this_host(), os.getpid(), process_start_marker(os.getpid())),
            )

    def _peer_addresses(self) -> list[str]:
        t = _time.monotonic()
        if t - self._peers_at > _PEERS_REFRESH_S:
            self._peers_at = t
            with self._read() as conn:
                rows = conn.execute(
                    "SELECT address, host, pid, pid_started FROM listeners"
                ).fetchall()
                now = int(_time.time() * 1000)
                dead = [a for a, h, p, s in rows if not is_alive(h, p, s, now, now)]
                if dead:
                    # Tidying only: a full disk must not cost the wake-up itself.
                    with contextlib.suppress(sqlite3.Error):
                        conn.executemany(
                            "DELETE FROM listeners WHERE address = ?", [(a,) for a in dead]
                        )
                self._peers = [a for a, *_ in rows if a not in dead]
        return self._peers
