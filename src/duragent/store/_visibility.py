"""Finding runs: filtered listing with keyset pagination and counting (the runs list of the
CLI and the web UI)."""

from __future__ import annotations

import dataclasses
import sqlite3
from dataclasses import dataclass
from typing import Any

from .._engine import events as ev
from .._list_filter import CLOSED_SQL, prefix_range
from .._search_attributes import check_name
from ._connection import SqliteConnection
from .base import RunRecord, RunStatus

# An event's attributes are stored as a JSON array in field order (schema v3) or, in rows
# written earlier, as an object by name; these read one attribute in either form.
_MARKER_NAME = "coalesce(json_extract(e.attrs, '$[0]'), json_extract(e.attrs, '$.name'))"
_UPDATE_NAME = "coalesce(json_extract(e.attrs, '$[1]'), json_extract(e.attrs, '$.update_name'))"
_RUNNING = f"status = '{RunStatus.RUNNING.value}'"
"""As the partial index ``runs_open_workflow_id`` states it (a bound parameter would not
let SQLite use that index)."""


@dataclass(frozen=True, slots=True)
class RunQuery:
    """Conditions on runs (combined with AND; the defaults match every run)."""

    status: str | None = None
    workflow_type: str | None = None
    workflow_id_prefix: str | None = None
    task_failing: bool = False
    """Only running runs whose workflow task keeps failing."""
    search_attributes: tuple[tuple[str, Any], ...] = ()
    """``(name, value)`` pairs a run's search attributes must match (a list-valued
    attribute matches when it contains the value)."""
    waiting_on: tuple[str, str] | None = None
    """``(marker name, update name)``: only running runs that recorded more markers of that
    name than they accepted updates of that name, i.e. requests still waiting for a
    decision (approvals: one marker per request, one accepted update per decision)."""
    condition: tuple[str, tuple[Any, ...]] | None = None
    """A further SQL condition on ``runs`` and its parameters (a list filter, compiled by
    ``duragent._list_filter``)."""

    @property
    def running_only(self) -> bool:
        """Whether only running runs can match."""
        return self.status == RunStatus.RUNNING or self.task_failing or self.waiting_on is not None

    def source(self) -> str:
        """The table to read, with the index to read it by, so that finding the runs costs
        in proportion to the runs that can match, not to every closed run the file keeps
        (SQLite, knowing nothing of how many match, would walk every run by start time
        instead: 25 ms for a page of the 5 running among 100,000 kept):

        - running runs: the index that holds only them (``runs_open_workflow_id``; the
          condition names the status as a literal, which the index's own condition must
          match), by workflow id range too when a prefix is given;
        - a workflow id prefix: the runs in that range of workflow ids, sorted after;
        - one closed status alone (the UI's "failed" tab): the closed runs of that status
          (``runs_closed_by_status``), already newest first. With a workflow type too,
          SQLite picks between that index and the type's.
        """
        if self.running_only:
            return "runs INDEXED BY runs_open_workflow_id"
        if self._prefix_range() is not None:
            return "runs INDEXED BY runs_by_workflow_id"
        if self._closed_status() and not self.workflow_type:
            return "runs INDEXED BY runs_closed_by_status"
        return "runs"

    def _closed_status(self) -> bool:
        """Whether a status other than running is asked for."""
        return bool(self.status) and self.status != RunStatus.RUNNING

    def _prefix_range(self) -> tuple[str, str] | None:
        """The range of workflow ids that start with the prefix (see
        :func:`~duragent._list_filter.prefix_range`)."""
        return prefix_range(self.workflow_id_prefix or "")

    def where(self) -> tuple[str, list[Any]]:
        """The SQL condition on ``runs`` and its parameters."""
        where: list[str] = []
        params: list[Any] = []
        if self.running_only:
            where.append(_RUNNING)
        if self._closed_status():
            where.append(CLOSED_SQL)  # implied by the next, but only a literal tells SQLite
            where.append("status = ?")
            params.append(self.status)
        if self.workflow_type:
            where.append("workflow_type = ?")
            params.append(self.workflow_type)
        id_range = self._prefix_range()
        if id_range is not None:
            where.append("workflow_id >= ? AND workflow_id < ?")
            params.extend(id_range)
        elif self.workflow_id_prefix:
            where.append("substr(workflow_id, 1, ?) = ?")
            params.extend([len(self.workflow_id_prefix), self.workflow_id_prefix])
        if self.task_failing:
            where.append("task_failure IS NOT NULL")
        for name, value in self.search_attributes:
            check_name(name)
            # Names are checked (letters, digits, underscores), so quoting them is safe.
            where.append(
                f"EXISTS (SELECT 1 FROM json_each(runs.search_attributes, '$.\"{name}\"') "
                "WHERE json_each.value = ?)"
            )
            params.append(value)
        if self.waiting_on is not None:
            marker, update = self.waiting_on
            where.append(
                "(SELECT count(*) FROM events e WHERE e.run_id = runs.run_id "
                f"AND e.type = ? AND {_MARKER_NAME} = ?) > (SELECT count(*) FROM events e "
                f"WHERE e.run_id = runs.run_id AND e.type = ? AND {_UPDATE_NAME} = ?)"
            )
            params.extend(
                [
                    ev.MarkerRecorded.TYPE,
                    marker,
                    ev.WorkflowExecutionUpdateAccepted.TYPE,
                    update,
                ]
            )
        if self.condition is not None:
            where.append(self.condition[0])
            params.extend(self.condition[1])
        return " AND ".join(where) or "1", params


def run_count_drift(conn: sqlite3.Connection) -> dict[str, tuple[int, int]]:
    """Statuses whose kept count (``run_counts``) is not the number of runs that have it:
    ``status -> (kept, counted)``; empty when they agree (checked by tests and the soak)."""
    kept = {str(s): int(n) for s, n in conn.execute("SELECT status, runs FROM run_counts")}
    counted = {
        str(s): int(n) for s, n in conn.execute("SELECT status, count(*) FROM runs GROUP BY status")
    }
    return {
        status: (kept.get(status, 0), counted.get(status, 0))
        for status in kept.keys() | counted.keys()
        if kept.get(status, 0) != counted.get(status, 0)
    }


class VisibilityOps(SqliteConnection):
    """Listing and counting runs."""

    def list_runs_page(
        self, query: RunQuery, *, limit: int = 100, before: tuple[int, int] | None = None
    ) -> tuple[list[RunRecord], tuple[int, int] | None]:
        """Runs matching ``query``, newest first (by start time, then insertion order).

        Args:
            query: The conditions.
            limit: Page size.
            before: The cursor returned with the previous page.

        Returns:
            The page, and the cursor of its last run when more runs may follow (None on
            the last page).
        """
        where, params = query.where()
        if before is not None:
            where += " AND (start_time < ? OR (start_time = ? AND rowid < ?))"
            params.extend([before[0], before[0], before[1]])
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT rowid, * FROM {query.source()} WHERE {where} "
                "ORDER BY start_time DESC, rowid DESC LIMIT ?",
                [*params, limit + 1],
            ).fetchall()
            records = self._records(conn, [row[1:] for row in rows[:limit]])
        if len(rows) <= limit:
            return records, None
        return records, (records[-1].start_time, int(rows[limit - 1][0]))

    def count_matching_runs_by_status(self, query: RunQuery) -> dict[str, int]:
        """How many runs match ``query``, by status (those with none left out); without
        conditions, from the counts the store keeps."""
        if query == RunQuery():
            sql, params = "SELECT status, runs FROM run_counts WHERE runs > 0", []
        else:
            where, params = query.where()
            sql = f"SELECT status, count(*) FROM {query.source()} WHERE {where} GROUP BY status"
        with self._read() as conn:
            return {str(status): int(n) for status, n in conn.execute(sql, params)}

    def count_matching_runs(self, query: RunQuery) -> int:
        """How many runs match ``query``. By status alone (the UI's tabs, ``/metrics``),
        from the counts the store keeps (``run_counts``) instead of counting every run."""
        params: list[Any]
        if dataclasses.replace(query, status=None) == RunQuery():
            sql, params = "SELECT coalesce(sum(runs), 0) FROM run_counts", []
            if query.status:
                sql += " WHERE status = ?"
                params.append(query.status)
        else:
            where, params = query.where()
            sql = f"SELECT count(*) FROM {query.source()} WHERE {where}"
        with self._read() as conn:
            return int(conn.execute(sql, params).fetchone()[0])
