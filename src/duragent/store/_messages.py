"""Updates and queries inside a transaction: the inbox rows a client writes and a worker
answers.

An update request waits in ``updates`` until a workflow task validates it; only an accepted
update reaches history (``WorkflowExecutionUpdateAccepted``), so a rejected one leaves no
trace there. A query never touches history: a worker answers it from the cached instance or
by replaying, and the client deletes the row once it has read the answer.
"""

from __future__ import annotations

import json
from typing import Any

from .._engine.failure import Failure
from ..serde import Payload
from ._tx import RunRow, Tx, dumps
from .base import QueryTask, UpdateOutcome, UpdateSpec


def payloads_json(payloads: tuple[Payload, ...]) -> str:
    return dumps([p.data.decode() for p in payloads])


def payloads_from_json(text: str) -> tuple[Payload, ...]:
    items: list[str] = json.loads(text)
    return tuple(Payload(p.encode()) for p in items)


def request_update(tx: Tx, run: RunRow, spec: UpdateSpec) -> None:
    """Queue an update for validation by the run's next workflow task (idempotent per
    update id)."""
    cur = tx.c.execute(
        "INSERT INTO updates (update_id, run_id, name, input, status, identity, created_at) "
        "VALUES (?, ?, ?, ?, 'requested', ?, ?) ON CONFLICT (run_id, update_id) DO NOTHING",
        (spec.update_id, run.run_id, spec.name, payloads_json(spec.input), spec.identity, tx.now),
    )
    if cur.rowcount == 1:
        run.pending_updates += 1
        tx.c.execute(
            "UPDATE runs SET pending_updates = pending_updates + 1 WHERE run_id = ?",
            (run.run_id,),
        )
    tx.ensure_workflow_task(run)


def update_outcome(row: Any) -> UpdateOutcome:
    status, result, failure = row
    return UpdateOutcome(
        status=str(status),
        result=Payload(result.encode()) if result is not None else None,
        failure=Failure.from_dict(json.loads(failure)) if failure else None,
    )


def request_query(tx: Tx, run: RunRow, name: str, input: tuple[Payload, ...]) -> int:
    cur = tx.c.execute(
        "INSERT INTO queries (run_id, task_queue, workflow_type, name, input, status, "
        "created_at) VALUES (?, ?, ?, ?, ?, 'requested', ?)",
        (run.run_id, run.task_queue, run.workflow_type, name, payloads_json(input), tx.now),
    )
    run.pending_queries += 1
    tx.c.execute(
        "UPDATE runs SET pending_queries = pending_queries + 1 WHERE run_id = ?", (run.run_id,)
    )
    tx.topics.add(f"q:{run.task_queue}")
    assert cur.lastrowid is not None
    return cur.lastrowid


def claim_query(tx: Tx, owner: str, task_queue: str, types: list[str]) -> QueryTask | None:
    if not types:
        return None
    # A query waits while its run has a workflow task to do (a signal or update that came
    # before it), so it sees every change its caller made first; a task that keeps failing
    # (attempt > 0) does not hold queries back: they answer from the last good state.
    rows = tx.c.execute(
        "UPDATE queries SET status = 'claimed', owner = ? WHERE query_id = ("
        " SELECT query_id FROM queries q WHERE q.task_queue = ? AND q.status = 'requested'"
        f" AND q.workflow_type IN ({','.join('?' * len(types))})"
        " AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.run_id = q.run_id AND t.kind = 0"
        " AND t.seq = 0 AND t.attempt = 0)"
        " ORDER BY q.query_id LIMIT 1) "
        "RETURNING query_id, run_id, workflow_type, name, input",
        [owner, task_queue, *types],
    ).fetchall()
    if not rows:
        return None
    query_id, run_id, workflow_type, name, input = rows[0]
    tx.c.execute(
        "UPDATE runs SET pending_queries = max(0, pending_queries - 1) WHERE run_id = ?",
        (run_id,),
    )
    workflow_id = tx.c.execute(
        "SELECT workflow_id FROM runs WHERE run_id = ?", (run_id,)
    ).fetchone()[0]
    return QueryTask(query_id, run_id, workflow_id, workflow_type, name, payloads_from_json(input))


def answer_query(tx: Tx, query_id: int, result: Payload | None, error: str | None) -> None:
    tx.c.execute(
        "UPDATE queries SET status = ?, result = ?, error = ? WHERE query_id = ?",
        (
            "answered" if error is None else "failed",
            result.data.decode() if result is not None else None,
            error,
            query_id,
        ),
    )
    tx.topics.add(f"query:{query_id}")
