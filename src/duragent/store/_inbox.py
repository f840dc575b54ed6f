"""The store's inboxes and ledger: update requests, queries, and the usage ledger of
billable calls, plus the history-side lookups that report on them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .._engine.failure import Failure
from ..serde import Payload
from . import _messages as messages
from ._connection import SqliteConnection
from .base import (
    QueryTask,
    UpdateOutcome,
    UpdateSpec,
    UsageEntry,
)


class InboxOps(SqliteConnection):
    """Updates, queries and the usage ledger."""

    # -- updates and queries ------------------------------------------------------------------

    def request_update(
        self, workflow_id: str, run_id: str | None, spec: UpdateSpec, now: int
    ) -> str:
        """Queue an update for the run; returns the run id it was sent to.

        Raises:
            WorkflowNotFoundError: No such workflow.
            WorkflowNotRunningError: The workflow has closed.
        """
        with self._write(now) as tx:
            run = self._open_run(tx, workflow_id, run_id)
            messages.request_update(tx, run, spec)
            return run.run_id

    def update_outcome(self, run_id: str, update_id: str) -> UpdateOutcome | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT status, result, failure FROM updates WHERE run_id = ? AND update_id = ?",
                (run_id, update_id),
            ).fetchone()
        return messages.update_outcome(row) if row is not None else None

    def request_query(
        self,
        workflow_id: str,
        run_id: str | None,
        name: str,
        input: tuple[Payload, ...],
        now: int,
    ) -> int:
        """Queue a query (closed runs can be queried too); returns its id."""
        with self._read() as conn:
            found_run_id = str(self._find_run(conn, workflow_id, run_id)[0])
        with self._write(now) as tx:
            run = tx.run(found_run_id)
            assert run is not None
            return messages.request_query(tx, run, name, input)

    def claim_query(
        self, worker_id: str, task_queue: str, types: list[str], now: int
    ) -> QueryTask | None:
        with self._write(now) as tx:
            return messages.claim_query(tx, worker_id, task_queue, types)

    def answer_query(
        self, query_id: int, result: Payload | None, error: str | None, now: int
    ) -> None:
        with self._write(now) as tx:
            messages.answer_query(tx, query_id, result, error)

    def take_query_answer(self, query_id: int) -> tuple[str, Payload | None, str | None]:
        """(status, result, error) of a query; the row is deleted once answered."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT status, result, error FROM queries WHERE query_id = ?", (query_id,)
            ).fetchone()
            if row is None:
                return "failed", None, "the query was lost"
            status, result, error = row
            if status in ("answered", "failed"):
                conn.execute("DELETE FROM queries WHERE query_id = ?", (query_id,))
        return str(status), Payload(result.encode()) if result is not None else None, error

    def cancel_query(self, query_id: int) -> None:
        """Drop a query nobody answered in time."""
        with self._read() as conn:
            conn.execute("DELETE FROM queries WHERE query_id = ?", (query_id,))

    # -- usage ledger --------------------------------------------------------------------------

    def record_usage(self, entry: UsageEntry) -> None:
        """Append a billable call to the ledger (its own short transaction)."""
        with self._read() as conn:
            conn.execute(
                "INSERT INTO usage_ledger (run_id, seq, attempt, kind, name, agent, requests, "
                "input_tokens, output_tokens, cached_tokens, latency_ms, time, worker) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.run_id,
                    entry.seq,
                    entry.attempt,
                    entry.kind,
                    entry.name,
                    entry.agent,
                    entry.requests,
                    entry.input_tokens,
                    entry.output_tokens,
                    entry.cached_tokens,
                    entry.latency_ms,
                    entry.time,
                    entry.worker,
                ),
            )

    def usage_entries(self, run_ids: Sequence[str]) -> list[UsageEntry]:
        """Ledger entries of the given runs, in order."""
        if not run_ids:
            return []
        with self._read() as conn:
            rows = conn.execute(
                "SELECT run_id, seq, attempt, kind, name, agent, requests, input_tokens, "
                "output_tokens, cached_tokens, latency_ms, time, worker FROM usage_ledger "
                f"WHERE run_id IN ({','.join('?' * len(run_ids))}) ORDER BY entry_id",
                list(run_ids),
            ).fetchall()
        return [UsageEntry(*row) for row in rows]

    def runs_of_workflow(self, workflow_id: str) -> list[str]:
        """Run ids of a workflow id, oldest first (continue-as-new chains)."""
        with self._read() as conn:
            return [
                str(r[0])
                for r in conn.execute(
                    "SELECT run_id FROM runs WHERE workflow_id = ? ORDER BY start_time, rowid",
                    (workflow_id,),
                ).fetchall()
            ]

    def child_runs(self, run_id: str) -> list[str]:
        """Run ids whose parent run is ``run_id``."""
        with self._read() as conn:
            return [
                str(r[0])
                for r in conn.execute(
                    "SELECT run_id FROM runs WHERE parent_run_id = ? ORDER BY start_time",
                    (run_id,),
                ).fetchall()
            ]

    def attempts(self, run_id: str) -> list[dict[str, Any]]:
        """Failed, timed-out and interrupted activity attempts of a run (for timelines)."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT seq, attempt, started_at, ended_at, worker, outcome, failure "
                "FROM attempts WHERE run_id = ? ORDER BY seq, attempt",
                (run_id,),
            ).fetchall()
        return [
            {
                "seq": s,
                "attempt": a,
                "started_at": st,
                "ended_at": en,
                "worker": w,
                "outcome": o,
                "failure": Failure.from_dict(json.loads(f)) if f else None,
            }
            for s, a, st, en, w, o, f in rows
        ]

    def pending_activities(self, run_id: str) -> list[dict[str, Any]]:
        """Activity tasks of a run that have not finished (for timelines)."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT seq, type_name, attempt, owner, visible_at, started_at, last_failure "
                "FROM tasks WHERE run_id = ? AND kind = 1 ORDER BY seq",
                (run_id,),
            ).fetchall()
        return [
            {
                "seq": s,
                "activity_type": t,
                "attempt": a,
                "owner": o,
                "visible_at": v,
                "started_at": st,
                "last_failure": Failure.from_dict(json.loads(f)) if f else None,
            }
            for s, t, a, o, v, st, f in rows
        ]
