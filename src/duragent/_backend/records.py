"""What crosses the client-side seam besides the store's own records: run filters and pages,
references to runs, and the activity facts that timelines show.

The run, update and ledger records (:class:`~duragent.store.base.RunRecord`,
:class:`~duragent.store.base.UpdateOutcome`, :class:`~duragent.store.base.UsageEntry`, ...)
are plain dataclasses defined next to the embedded store, which writes them; every backend
returns the same types. :mod:`duragent._backend` re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal, NamedTuple

from .._engine.failure import Failure
from ..store.base import RunRecord

UpdateStage = Literal["accepted", "completed"]
"""How far an update must have got before :meth:`ClientBackend.wait_update` returns:
``"accepted"`` (validated and recorded; its handler may still run) or ``"completed"``."""

UPDATE_STATUSES_AT: Final[dict[str, tuple[str, ...]]] = {
    "accepted": ("accepted", "completed", "rejected", "failed"),
    "completed": ("completed", "rejected", "failed"),
}
"""The update statuses at or past each stage (a rejection or failure ends every wait)."""


class RunRef(NamedTuple):
    """One run of one workflow. Temporal needs both ids to address a run; the embedded
    store needs only the run id, but takes both so that callers are backend-neutral."""

    workflow_id: str
    run_id: str


@dataclass(frozen=True, slots=True)
class RunFilter:
    """Which runs :meth:`ClientBackend.list_runs` returns. Conditions combine with AND;
    the defaults match every run."""

    status: str | None = None
    """One :class:`~duragent.store.base.RunStatus` value."""
    workflow_type: str | None = None
    workflow_id_prefix: str | None = None
    task_failing: bool = False
    """Only running runs whose workflow task keeps failing (a bug in workflow code, or a
    ``NondeterminismError`` after a bad deploy)."""
    waiting_for_approval: bool = False
    """Only running runs with a tool call waiting for a human decision (see
    :mod:`duragent.openai_agents.approvals`)."""
    search_attributes: tuple[tuple[str, Any], ...] = ()
    """Only runs whose search attributes have these ``(name, value)`` pairs (checked and
    normalized values; a list-valued attribute matches when it contains the value)."""
    query: str | None = None
    """Only runs that Temporal's list filter ``query`` selects (``"WorkflowType = 'Order'
    AND StartTime > '2026-01-01T00:00:00Z'"``): on Temporal it goes to the server, on the
    embedded engine :mod:`duragent._list_filter` reads it."""


@dataclass(frozen=True, slots=True)
class RunPage:
    """One page of runs, newest first."""

    runs: list[RunRecord]
    next_page_token: str | None
    """Pass to the next :meth:`ClientBackend.list_runs` call for the following page; None
    on the last page. Opaque: only the backend that issued it understands it."""


@dataclass(frozen=True, slots=True)
class ActivityAttempt:
    """An activity attempt that did not succeed: it failed, timed out, was interrupted (its
    worker died) or was released (its worker shut down). Successful attempts are in
    history."""

    seq: int
    """The activity's sequence number in its run (``ActivityTaskScheduled.seq``)."""
    attempt: int
    started_at: int | None
    """Epoch ms; None when unknown."""
    ended_at: int
    worker: str | None
    outcome: str
    """``failed``, ``timed_out``, ``interrupted``, ``released`` or ``cancelled``."""
    failure: Failure | None = None


@dataclass(frozen=True, slots=True)
class PendingActivity:
    """An activity of a run that has not finished: waiting for a worker, running, or
    waiting out a retry backoff."""

    seq: int
    activity_type: str
    attempt: int
    """Attempts started so far (0: not started yet)."""
    owner: str | None
    """The worker running the current attempt (None: none is)."""
    visible_at: int | None
    """Epoch ms when the next attempt may start (the end of a retry backoff)."""
    started_at: int | None
    last_failure: Failure | None = None
    details: dict[str, object] = field(default_factory=lambda: {})
    """Backend-specific extras (shown as they are)."""


@dataclass(frozen=True, slots=True)
class ActivityRef:
    """An activity attempt to complete asynchronously: by ``task_token`` (that attempt,
    ``activity.info().task_token``), or by ``workflow_id`` and ``activity_id`` (the
    activity's current attempt; ``run_id`` None: the workflow's latest run)."""

    task_token: bytes | None = None
    workflow_id: str | None = None
    run_id: str | None = None
    activity_id: str | None = None
