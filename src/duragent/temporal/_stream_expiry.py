"""Token streams of runs on Temporal expire from their stream store, as on the embedded
engine: a run's rows go once it has been closed for the worker's ``stream_retention``.

The embedded engine knows when its runs close; a stream store does not. It lists each run
that wrote there (``stream_runs``: namespace, workflow id, last write), and the worker asks
Temporal, through its visibility store, about the runs whose last write is older than the
retention (a run closes after its last write, so no other can be due). A run Temporal lists
as closed long enough ago loses its rows; one still open, or closed too recently, is asked
about again after :data:`RECHECK_MS`. A run Temporal does not list at all (its namespace's
retention removed it) loses its rows too, once its last write is older than
:data:`UNKNOWN_AFTER_MS` as well (visibility may lag behind a start by a moment, never by an
hour). Rows listed before the namespace was recorded are only removed for a run Temporal
lists as closed: a file shared by the workers of two namespaces loses nothing of the other's.

Subscribers are not hurt: a closed run without rows is rebuilt from its history
(``duragent._stream.subscribe``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any, Final

from ..store._streams import EXPIRE_STEP, StreamRunRef
from ..store.sqlite import SqliteStore

ASKED_AT_ONCE: Final = 100
"""Runs one visibility query asks about."""
RECHECK_MS: Final = 10 * 60 * 1000
"""A run found open is asked about again after this (or after the retention, if shorter,
but not within a second)."""
UNKNOWN_AFTER_MS: Final = 60 * 60 * 1000
_RUN_ID: Final = re.compile(r"^[A-Za-z0-9_.:-]+$")
"""Run ids put in a visibility query (Temporal's are UUIDs; anything else is never asked
about, so never removed)."""


def check_period_s(retention_ms: int) -> float:
    """How often a worker looks for expired streams: once a minute, or twice per retention
    when that is shorter."""
    return min(60.0, max(0.1, retention_ms / 2000))


async def expire_step(
    store: SqliteStore, client: Any, namespace: str, retention_ms: int, now: int
) -> bool:
    """Ask Temporal about one batch of runs that may be due, and drop the rows of those
    closed at least ``retention_ms`` ago. ``client``: a ``temporalio.client.Client``.

    Returns:
        True when the batch was full (more may be due at once).
    """
    cutoff = now - retention_ms
    recheck = min(RECHECK_MS, max(1000, retention_ms))
    # The store's work runs in a thread: a run streams thousands of rows, and deleting
    # them must not hold the worker's loop (the store takes its own lock).
    due = await asyncio.to_thread(
        store.stream_runs_due, namespace, cutoff, now - recheck, ASKED_AT_ONCE
    )
    asked = [r for r in due if _RUN_ID.match(r.run_id)]
    closed, listed = await _closed_runs(client, [r.run_id for r in asked])
    expired = [r.run_id for r in asked if _expired(r, closed, listed, namespace, now, cutoff)]
    for start in range(0, len(expired), EXPIRE_STEP):
        await asyncio.to_thread(store.drop_stream_runs, expired[start : start + EXPIRE_STEP], now)
    gone = set(expired)
    await asyncio.to_thread(
        store.stream_runs_checked, [r.run_id for r in due if r.run_id not in gone], now
    )
    return len(due) == ASKED_AT_ONCE


def _expired(
    run: StreamRunRef,
    closed: dict[str, int],
    listed: set[str],
    namespace: str,
    now: int,
    cutoff: int,
) -> bool:
    if run.run_id in closed:
        return closed[run.run_id] <= cutoff
    if run.run_id in listed or run.namespace != namespace:
        return False  # open; or unknown to this namespace, and maybe another's
    return run.last_time < min(cutoff, now - UNKNOWN_AFTER_MS)


async def _closed_runs(client: Any, run_ids: Sequence[str]) -> tuple[dict[str, int], set[str]]:
    """Of these runs, those Temporal lists: their close times (ms) when closed, and all
    their ids."""
    closed: dict[str, int] = {}
    listed: set[str] = set()
    if not run_ids:
        return closed, listed
    query = "RunId IN (" + ", ".join(f"'{run_id}'" for run_id in run_ids) + ")"
    async for execution in client.list_workflows(query, page_size=len(run_ids)):
        listed.add(execution.run_id)
        if execution.close_time is not None:
            closed[execution.run_id] = int(execution.close_time.timestamp() * 1000)
    return closed, listed
