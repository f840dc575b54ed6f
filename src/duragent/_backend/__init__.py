"""The backend seam: the interfaces between Duragent's front ends and wherever workflows live.

Two protocols, each the exact set of calls its users make (pyright checks the
implementations against them):

* :class:`ClientBackend` (``client_backend.py``) is the **client side**: start (with the id
  conflict policy, signal-with-start and update-with-start), describe, list and count runs
  (filters, keyset pagination), signal, cancel, terminate, query, send an update and wait
  for it, wait for a run to close, read history, the run tree, the usage ledger, activity
  attempts and pending activities, and change watches for live views. Every method is async
  and must never block the event loop. Its users: :class:`~duragent.Client` and its
  handles (which hold one as ``client.backend`` and add payload conversion, typing and
  following continue-as-new), the CLI, ``usage_report``, ``pending_approvals`` and the
  HTTP server. Implementations:

  - :class:`EmbeddedBackend` (``embedded.py``) on the SQLite store. A write that would
    wait for another process's lock runs on a thread of the backend, and reads use a
    second connection, so a locked database never stalls the loop (see that module); in
    memory everything runs inline.
  - ``duragent.temporal``'s backend on a Temporal cluster, opened by
    ``duragent.temporal.connect_backend(target, **options)`` (async) for
    ``temporal://host:port/namespace`` addresses (``address.py``).

* :class:`WorkerStore` (``worker_store.py``) is the **embedded worker side**: the
  synchronous short transactions the embedded worker batches on its own loop (claim,
  complete, fail, heartbeat, housekeeping, wake-ups) plus ``record_usage``, which
  :meth:`~duragent.activity.ActivityContext.report_usage` reaches on the embedded worker.
  :class:`~duragent.store.sqlite.SqliteStore` implements it. A Temporal worker does not use
  it (temporalio's worker talks to its server) and reports usage through heartbeats.

Activities never see either: they report facts through their
:class:`~duragent.activity.ActivityContext`, which each worker wires to its backend.

The records that cross the seam are plain dataclasses: the store's
(:class:`RunRecord`, :class:`StartRequest`, :class:`UpdateOutcome`, :class:`UsageEntry`,
...) and the seam's own (:class:`RunFilter`, :class:`RunPage`, :class:`ActivityAttempt`,
:class:`PendingActivity`), all re-exported here.
"""

from __future__ import annotations

from ..store.base import (
    IdConflictPolicy,
    RunRecord,
    RunStatus,
    StartRequest,
    StartResult,
    UpdateOutcome,
    UpdateSpec,
    UsageEntry,
)
from .address import (
    TEMPORAL_EXTRA_HINT,
    connect_temporal,
    connection_options,
    is_temporal,
    open_store,
    sqlite_path,
)
from .client_backend import ChangeWatch, ClientBackend
from .embedded import EmbeddedBackend
from .records import (
    ActivityAttempt,
    ActivityRef,
    PendingActivity,
    RunFilter,
    RunPage,
    RunRef,
    UpdateStage,
)
from .worker_store import WorkerStore

__all__ = [
    "TEMPORAL_EXTRA_HINT",
    "ActivityAttempt",
    "ActivityRef",
    "ChangeWatch",
    "ClientBackend",
    "EmbeddedBackend",
    "IdConflictPolicy",
    "PendingActivity",
    "RunFilter",
    "RunPage",
    "RunRecord",
    "RunRef",
    "RunStatus",
    "StartRequest",
    "StartResult",
    "UpdateOutcome",
    "UpdateSpec",
    "UpdateStage",
    "UsageEntry",
    "WorkerStore",
    "connect_temporal",
    "connection_options",
    "is_temporal",
    "open_store",
    "sqlite_path",
]
