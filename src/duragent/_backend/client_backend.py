"""The client-side seam: everything a client, its handles, the CLI, the usage report, the
approvals helpers and the HTTP server ask of wherever workflows live.

Two implementations: :class:`~duragent._backend.embedded.EmbeddedBackend` (the SQLite
store) and ``duragent.temporal``'s backend (a Temporal cluster). Every method is a coroutine
that must never block the caller's event loop. Payloads cross the seam already encoded
(:class:`~duragent.serde.Payload`): converting values is the client's job, so every backend
sees and returns the same bytes.

Addressing: a run is named by ``(workflow_id, run_id)``. Where ``run_id`` may be None, it
means "the latest run of ``workflow_id``" (the running one, if any).

Errors (from :mod:`duragent.errors`) are the same on every backend:

* :class:`~duragent.errors.WorkflowNotFoundError`: no such workflow or run;
* :class:`~duragent.errors.WorkflowNotRunningError`: the run has closed and cannot take
  this message;
* :class:`~duragent.errors.WorkflowAlreadyStartedError`: a start with the ``fail`` id
  conflict policy found a running run;
* :class:`~duragent.errors.QueryError`: a query found no handler, its handler failed, or no
  worker answered in time;
* :class:`TimeoutError`: a wait with a timeout ran out;
* :class:`~duragent.errors.StoreError` (embedded) or a backend's connection error: the
  backend itself failed. A call cancelled by its caller may still take effect.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from .._engine.events import Event
from .._engine.failure import Failure
from ..serde import Payload
from ..store.base import (
    RunRecord,
    StartRequest,
    StartResult,
    StreamPage,
    UpdateOutcome,
    UpdateSpec,
    UsageEntry,
)
from .records import (
    ActivityAttempt,
    ActivityRef,
    PendingActivity,
    RunFilter,
    RunPage,
    RunRef,
    UpdateStage,
)


class ChangeWatch(Protocol):
    """An interest in changes, registered when the watch is created, so that a change made
    between creating it and reading the current state is never missed.

    Typical use (a live view)::

        watch = backend.watch_run(workflow_id, run_id)
        try:
            while True:
                events = await backend.read_history(workflow_id, run_id, after_event_id=seen)
                ...  # send them
                await watch.wait(15.0)  # False: nothing happened, send a keep-alive
        finally:
            watch.close()
    """

    async def wait(self, timeout: float) -> bool:
        """Wait until something may have changed since the watch was created or since the
        previous ``wait`` returned True, or until ``timeout`` seconds pass.

        Returns:
            True when something may have changed (re-read to find out: wake-ups may be
            spurious, and several changes may be reported as one); False on timeout.
        """
        ...

    def close(self) -> None:
        """Stop watching (idempotent)."""
        ...


class ClientBackend(Protocol):
    """Where workflows live, as seen by clients (see the module docstring for addressing
    and errors)."""

    @property
    def address(self) -> str:
        """The address this backend was opened with (for messages), e.g.
        ``sqlite:///agents.db`` or ``temporal://127.0.0.1:7233/default``."""
        ...

    async def close(self) -> None:
        """Release connections and threads. Calls after ``close`` fail."""
        ...

    # -- starting ------------------------------------------------------------------------------

    async def start_workflow(self, request: StartRequest) -> StartResult:
        """Start a run, honouring ``request.id_conflict_policy`` when a run with the same
        workflow id is running: ``fail`` raises, ``use_existing`` returns that run
        (``started=False``), ``terminate_existing`` terminates it and starts a new one.

        ``request.signal_name`` (signal-with-start) and ``request.update``
        (update-with-start) are delivered, atomically with the start, to whichever run is
        returned, before any other input. For an update this returns once it is
        *requested*; wait for a stage with :meth:`wait_update`.

        Raises:
            WorkflowAlreadyStartedError: A run is running and the policy is ``fail``.
        """
        ...

    # -- runs ----------------------------------------------------------------------------------

    async def describe(self, workflow_id: str, run_id: str | None = None) -> RunRecord:
        """The visibility record of a run (the latest run when ``run_id`` is None).

        Raises:
            WorkflowNotFoundError: No such workflow or run.
        """
        ...

    async def list_runs(
        self, filter: RunFilter, *, page_size: int = 100, page_token: str | None = None
    ) -> RunPage:
        """Runs matching ``filter``, newest first, one page at a time (keyset pagination:
        runs started while paging never shift or repeat the pages that follow).

        Backends may leave ``pending_activities`` at 0 in listed records when their
        visibility store does not keep it; :meth:`describe` is exact.

        Raises:
            ConfigurationError: ``page_token`` was not issued by this backend, or
                ``page_size`` is not positive.
        """
        ...

    async def count_runs(self, filter: RunFilter) -> int:
        """How many runs match ``filter``."""
        ...

    async def count_runs_by_status(self, filter: RunFilter) -> dict[str, int]:
        """How many runs match ``filter``, by status (a status value, or ``timed_out`` for
        Temporal's timed-out runs), for the statuses that have any."""
        ...

    async def runs_of_workflow(self, workflow_id: str) -> list[RunRecord]:
        """Every run of ``workflow_id``, oldest first (a continue-as-new chain, or runs
        started again after closing). Empty when there is none."""
        ...

    async def child_runs(self, workflow_id: str, run_id: str) -> list[RunRecord]:
        """The runs started as child workflows by this run, in start order."""
        ...

    # -- messages ------------------------------------------------------------------------------

    async def signal(
        self,
        workflow_id: str,
        run_id: str | None,
        name: str,
        input: tuple[Payload, ...],
        *,
        identity: str,
    ) -> None:
        """Record a signal in the run's history (delivered once, in order).

        Raises:
            WorkflowNotFoundError: No such workflow or run.
            WorkflowNotRunningError: The run has closed.
        """
        ...

    async def cancel(
        self, workflow_id: str, run_id: str | None, reason: str, *, identity: str
    ) -> None:
        """Request cancellation (the workflow sees it at its current ``await``; a second
        request is a no-op).

        Raises:
            WorkflowNotFoundError: No such workflow or run.
            WorkflowNotRunningError: The run has closed.
        """
        ...

    async def terminate(
        self, workflow_id: str, run_id: str | None, reason: str, *, identity: str
    ) -> None:
        """Close the run at once as terminated; no workflow code runs after this.

        Raises:
            WorkflowNotFoundError: No such workflow or run.
            WorkflowNotRunningError: The run has closed.
        """
        ...

    async def query(
        self,
        workflow_id: str,
        run_id: str | None,
        name: str,
        input: tuple[Payload, ...],
        *,
        timeout: float,
    ) -> Payload:
        """Ask a ``@workflow.query`` handler (closed runs can be queried too) and return
        its encoded answer.

        Raises:
            WorkflowNotFoundError: No such workflow or run.
            QueryError: No such handler, the handler failed or tried to change state, or
                no worker answered within ``timeout`` seconds (the message names the task
                queue).
        """
        ...

    async def send_update(self, workflow_id: str, run_id: str | None, spec: UpdateSpec) -> str:
        """Request an update; returns the id of the run it was sent to. Sending an update id
        the run already has does not deliver it twice.

        Raises:
            WorkflowNotFoundError: No such workflow or run.
            WorkflowNotRunningError: The run has closed.
        """
        ...

    async def wait_update(
        self,
        workflow_id: str,
        run_id: str | None,
        update_id: str,
        *,
        stage: UpdateStage,
        timeout: float | None,
    ) -> UpdateOutcome:
        """Wait until update ``update_id`` has reached ``stage`` or ended, and return where
        it stands: status ``accepted``, ``completed`` (``result`` or ``failure`` set: the
        handler returned or raised), ``rejected`` (by its validator; nothing was
        recorded) or ``failed`` (the run closed before the handler finished).

        Raises:
            TimeoutError: ``timeout`` seconds passed first.
            WorkflowNotFoundError: No such workflow or run.
        """
        ...

    # -- closing -------------------------------------------------------------------------------

    async def wait_closed(self, workflow_id: str, run_id: str, *, timeout: float | None) -> Event:
        """Wait for this run to close and return its close event (one of
        ``WorkflowExecutionCompleted``, ``...Failed``, ``...Canceled``, ``...Terminated``,
        ``...ContinuedAsNew``). It does not follow continue-as-new: the caller decides
        (the handle does, from ``WorkflowExecutionContinuedAsNew.new_run_id``).

        Raises:
            TimeoutError: ``timeout`` seconds passed first.
            WorkflowNotFoundError: No such run.
        """
        ...

    # -- history and what timelines show --------------------------------------------------------

    async def read_history(
        self, workflow_id: str, run_id: str, *, after_event_id: int = 0
    ) -> list[Event]:
        """The run's events with ids greater than ``after_event_id``, in order (the whole
        history by default). Payloads in the events may be read lazily on first access.
        Event ids are dense (1, 2, 3, ...), so reading on from the last id seen never
        skips or repeats an event.

        Raises:
            WorkflowNotFoundError: No such run (reported at least when ``after_event_id``
                is 0: an existing run always has a first event; later reads of a missing
                run may just be empty).
        """
        ...

    async def activity_attempts(self, workflow_id: str, run_id: str) -> list[ActivityAttempt]:
        """The run's activity attempts that did not succeed, by activity then attempt
        (backends that keep only the last failure of each activity return what they
        have)."""
        ...

    async def pending_activities(self, workflow_id: str, run_id: str) -> list[PendingActivity]:
        """The run's activities that have not finished, by sequence number."""
        ...

    async def usage_entries(self, runs: Sequence[RunRef]) -> list[UsageEntry]:
        """The usage ledger of these runs in the order the entries were recorded: every
        billable call (model response) the activities reported, including those whose
        attempt's result was later lost to a crash (what was paid twice)."""
        ...

    # -- durable streams ------------------------------------------------------------------------

    async def read_stream(
        self, workflow_id: str, run_id: str, *, after: int, limit: int = 500
    ) -> StreamPage:
        """Up to ``limit`` rows of the run's durable token stream after offset ``after``,
        with the attempt markers of their model calls, the stream's state and the run's
        status (:mod:`duragent._stream` turns them into what subscribers see).

        Raises:
            WorkflowNotFoundError: No such run.
        """
        ...

    async def stream_shown(
        self, workflow_id: str, run_id: str, *, upto: int, kinds: tuple[str, ...]
    ) -> dict[int, int]:
        """For a subscriber resuming after offset ``upto``: per model call, the attempt
        whose rows of ``kinds`` it was shown last and that no marker up to ``upto``
        retracted."""
        ...

    # -- asynchronous activity completion -------------------------------------------------------

    async def heartbeat_activity(
        self, ref: ActivityRef, details: Sequence[Payload], *, identity: str
    ) -> None:
        """Heartbeat an activity attempt completed asynchronously (extends its heartbeat
        timeout; ``details`` reach its next attempt if this one fails).

        Raises:
            ActivityNotFoundError: No such running attempt.
            AsyncActivityCancelledError: Cancellation of the activity was requested.
        """
        ...

    async def complete_activity(self, ref: ActivityRef, result: Payload, *, identity: str) -> None:
        """Complete the attempt with ``result``.

        Raises:
            ActivityNotFoundError: No such running attempt.
        """
        ...

    async def fail_activity(
        self,
        ref: ActivityRef,
        failure: Failure,
        last_heartbeat_details: Sequence[Payload],
        *,
        identity: str,
    ) -> None:
        """Fail the attempt (retried under the activity's retry policy).

        Raises:
            ActivityNotFoundError: No such running attempt.
        """
        ...

    async def report_activity_cancelled(
        self, ref: ActivityRef, details: Sequence[Payload], *, identity: str
    ) -> None:
        """Report the attempt cancelled: the workflow sees the activity cancelled.

        Raises:
            ActivityNotFoundError: No such running attempt.
        """
        ...

    # -- change notification -------------------------------------------------------------------

    def watch_stream(self, workflow_id: str, run_id: str) -> ChangeWatch:
        """Watch one run's durable stream: a new row (a token, a marker, a step) or the
        run's close wakes it. Call from the event loop that will wait."""
        ...

    def watch_run(self, workflow_id: str, run_id: str) -> ChangeWatch:
        """Watch one run: a new event, a failed attempt or a failing workflow task wakes
        it. Call from the event loop that will wait."""
        ...

    def watch_runs(self) -> ChangeWatch:
        """Watch every run: any start, close or new event wakes it (live run lists). Call
        from the event loop that will wait."""
        ...
