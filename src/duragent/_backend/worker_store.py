"""The worker-side seam: exactly what the embedded worker (``worker.py``, ``_worker/*``) and
its activities' usage reports call on the store.

Unlike :class:`~duragent._backend.client_backend.ClientBackend` these calls are synchronous
short transactions made from the worker's own event loop thread: a worker's work *is* store
transactions, and batching many of them into one commit (``batch``) is what makes it fast.
:class:`~duragent.store.sqlite.SqliteStore` implements it; pyright checks that below. A
Temporal worker does not use it: temporalio's worker talks to the Temporal server itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

from .._engine.completion import TaskCompletion
from .._engine.events import Event
from .._engine.failure import Failure
from ..retry import RetryDecision
from ..serde import Payload
from ..store._payload_gc import PayloadReport
from ..store._retention import PRUNE_STEP, PruneReport
from ..store._stream_rows import StreamRow
from ..store._streams import EXPIRE_STEP
from ..store._tx import EncodedPayload
from ..store.base import (
    ActivityTask,
    CompletionOutcome,
    QueryTask,
    UsageEntry,
    WorkerRegistration,
    WorkflowTask,
)
from ..store.notify import Notifier


class WorkerStore(Protocol):
    """What a worker needs from its store. Every method is one short transaction at time
    ``now`` (the caller's clock, so that tests can skip time); task ownership is fenced by
    lease tokens, so a completion by a worker that lost its lease changes nothing."""

    notifier: Notifier
    """Wake-ups: pollers listen on ``wf:<queue>``, ``act:<queue>``, ``q:<queue>`` and
    ``timer`` instead of polling fast."""

    # -- registration and upkeep -----------------------------------------------------------

    def register_worker(self, registration: WorkerRegistration, now: int) -> None: ...
    def deregister_worker(self, worker_id: str) -> None: ...
    def heartbeat_worker(self, worker_id: str, now: int) -> None: ...
    def enable_remote_wakeups(self) -> None: ...
    def reclaim_dead_workers(self, now: int) -> int: ...
    def housekeeping(self, now: int, worker_id: str = "") -> int | None: ...
    def fire_schedules(self, now: int) -> int:
        """Take the due actions of schedules (see ``store._schedule_rows``)."""
        ...

    def became_visible(self, since: int, now: int) -> bool: ...
    def start_checkpointer(self) -> None:
        """Checkpoint the write-ahead log on a thread, not in commits (counted)."""
        ...

    def stop_checkpointer(self) -> None: ...
    def check_file(self) -> None:
        """Raise ``StoreFileChangedError`` if the database file was moved, deleted or
        replaced since it was opened (workers call it every housekeeping round)."""
        ...

    def follow_clock_step(self, boot_id: str, offset_ms: int, now: int) -> int:
        """Move pending due times by a step of the wall clock, once across processes;
        returns the step applied (ms, 0 for none)."""
        ...

    def batch(self, now: int) -> AbstractContextManager[None]: ...
    def encode_ahead(self, items: Iterable[Any]) -> dict[int, EncodedPayload]:
        """Encode (chunk) the large payloads of ``items`` before the write transaction
        that stores them, so that the write lock is not held for CPU work."""
        ...

    # -- workflow tasks and queries ----------------------------------------------------------

    def claim_workflow_tasks(
        self, worker_id: str, task_queue: str, types: Sequence[str], now: int, limit: int = 1
    ) -> list[WorkflowTask]: ...
    def read_history(self, run_id: str, after: int = 0) -> list[Event]: ...
    def complete_workflow_task(
        self,
        task: WorkflowTask,
        completion: TaskCompletion,
        now: int,
        *,
        worker_id: str = "",
        keep: bool = False,
        eager_activity_types: Sequence[str] | None = None,
        eager_queue: str = "",
        eager_slots: int = 0,
        ahead: dict[int, EncodedPayload] | None = None,
    ) -> CompletionOutcome: ...
    def fail_workflow_task(self, task: WorkflowTask, failure: Failure, now: int) -> None: ...
    def release_workflow_task(self, task: WorkflowTask, now: int) -> None: ...
    def extend_workflow_task(self, task: WorkflowTask, now: int) -> bool:
        """Renew the lease of a task held while its local activities run."""
        ...

    def claim_query(
        self, worker_id: str, task_queue: str, types: list[str], now: int
    ) -> QueryTask | None: ...
    def answer_query(
        self, query_id: int, result: Payload | None, error: str | None, now: int
    ) -> None: ...

    # -- activity tasks ------------------------------------------------------------------------

    def claim_activity_task(
        self, worker_id: str, task_queue: str, types: Sequence[str] | None, now: int
    ) -> ActivityTask | None: ...
    def complete_activity_task(
        self,
        task: ActivityTask,
        result: Payload,
        now: int,
        *,
        worker: str,
        claim_for: tuple[str, str, Sequence[str]] | None = None,
        stream_tail: Sequence[StreamRow] | None = None,
        ahead: dict[int, EncodedPayload] | None = None,
        defer_claim: bool = False,
    ) -> WorkflowTask | None: ...
    def settle_claim(self, task: WorkflowTask, now: int) -> WorkflowTask:
        """The workflow task claimed with ``complete_activity_task(defer_claim=True)``,
        its row inserted if the batch did not record it."""
        ...

    def fail_activity_task(
        self,
        task: ActivityTask,
        failure: Failure,
        now: int,
        *,
        worker: str,
        cancelled: bool = False,
    ) -> RetryDecision | None: ...
    def release_activity_task(self, task: ActivityTask, now: int, *, worker: str) -> None: ...
    def heartbeat_activity_task(
        self, task: ActivityTask, details: tuple[Payload, ...], now: int
    ) -> bool: ...
    def detach_activity_task(self, task: ActivityTask, now: int) -> bool:
        """The attempt called ``activity.raise_complete_async()``: it no longer needs this
        worker (a handle completes it; its timeouts still apply)."""
        ...

    def record_usage(self, entry: UsageEntry) -> None:
        """Append a billable call to the ledger (what ``ActivityContext.report_usage``
        does on the embedded worker)."""
        ...

    # -- durable streams -----------------------------------------------------------------------

    def publish_stream(
        self, task: ActivityTask, rows: list[StreamRow], now: int, *, start: bool = False
    ) -> bool:
        """Append an attempt's stream rows, fenced by its lease (False: superseded)."""
        ...

    def expire_streams(self, now: int, retention_ms: int, *, limit: int = EXPIRE_STEP) -> int:
        """Drop the stream rows of up to ``limit`` runs closed at least ``retention_ms``
        ago, in one transaction; how many runs' rows went."""
        ...

    # -- retention -----------------------------------------------------------------------------

    def prune_step(self, closed_before: int, now: int, *, limit: int = PRUNE_STEP) -> PruneReport:
        """Remove up to ``limit`` runs closed before ``closed_before``, in one transaction."""
        ...

    async def collect_payloads_apart(self, now: int, *, stop: asyncio.Event) -> PayloadReport:
        """Remove the payloads no event refers to any more, in a child process (a long
        read, then short writes); ``stop`` ends it at its next step."""
        ...


if TYPE_CHECKING:
    from ..store.sqlite import SqliteStore

    def _conforms(store: SqliteStore) -> WorkerStore:
        return store  # pyright checks that SqliteStore implements the protocol
