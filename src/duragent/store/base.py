"""The records the store reads and writes: run descriptions, start and update requests,
claimed tasks and the outcome of completing them, ledger entries. What a workflow task
produced is the engine's own record (:class:`~duragent._engine.completion.TaskCompletion`),
recorded as it is.

What workers and clients call on the store is defined by the seam's protocols in
:mod:`duragent._backend` (``WorkerStore`` and ``ClientBackend``). Every store operation is
a short, synchronous transaction that takes the current time as an argument (stores have
no clock of their own, which is what lets the test environment skip time). Task ownership
is fenced: a claim returns a lease token, and completing a task with a token that is no
longer current changes nothing and reports ``lost``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from .._engine.completion import UpdateRequest
from .._engine.events import Event
from .._engine.failure import Failure
from .._engine.schedules import SchedulePolicy, ScheduleSpec, ScheduleState
from ..retry import RetryPolicy
from ..serde import Payload


class WorkflowStatus(StrEnum):
    """Status of a workflow run. The values are the strings stored and shown (a member
    equals its string: ``WorkflowStatus.RUNNING == "running"``)."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    TERMINATED = "terminated"
    CONTINUED_AS_NEW = "continued_as_new"


RunStatus = WorkflowStatus
"""The store's name for :class:`WorkflowStatus` (the same enum)."""

CLOSED_STATUSES: Final = frozenset(s for s in WorkflowStatus if s is not WorkflowStatus.RUNNING)
"""The statuses of a run that has closed."""


class IdConflictPolicy(StrEnum):
    """What ``start_workflow`` does when a run with the same workflow id is running."""

    FAIL = "fail"
    USE_EXISTING = "use_existing"
    TERMINATE_EXISTING = "terminate_existing"


@dataclass(frozen=True, slots=True)
class StartRequest:
    """Everything needed to start a workflow run."""

    workflow_id: str
    workflow_type: str
    task_queue: str
    input: tuple[Payload, ...] = ()
    memo: dict[str, Any] = field(default_factory=lambda: {})
    search_attributes: dict[str, Any] = field(default_factory=lambda: {})
    """Checked (see ``duragent._search_attributes``); datetimes stay datetimes here."""
    search_attribute_types: dict[str, str] = field(default_factory=lambda: {})
    """Temporal's type names of the attributes given with typed keys (the others' types
    follow their values). Not stored: the embedded store has no registry of types."""
    id_conflict_policy: str = IdConflictPolicy.FAIL
    signal_name: str | None = None
    """Signal-with-start: deliver this signal in the run's first task."""
    signal_input: tuple[Payload, ...] = ()
    update: UpdateSpec | None = None
    """Update-with-start: deliver this update in the run's first task."""
    identity: str = ""
    cron_schedule: str = ""
    """Temporal's cron workflows: the first run starts at the next matching time, and each
    time a run completes or fails the next one starts at the next matching time."""


@dataclass(frozen=True, slots=True)
class UpdateSpec:
    """An update to deliver to a run (update-with-start, or a plain update request)."""

    update_id: str
    name: str
    input: tuple[Payload, ...] = ()
    identity: str = ""


@dataclass(frozen=True, slots=True)
class QueryTask:
    """A claimed query: answered from the cached instance or by replaying history."""

    query_id: int
    run_id: str
    workflow_id: str
    workflow_type: str
    name: str
    input: tuple[Payload, ...]


@dataclass(frozen=True, slots=True)
class UpdateOutcome:
    """Where an update stands: requested, accepted, rejected, completed or failed."""

    status: str
    result: Payload | None = None
    failure: Failure | None = None


@dataclass(frozen=True, slots=True)
class StartResult:
    run_id: str
    started: bool
    """False when ``use_existing`` returned the running run."""


@dataclass(frozen=True, slots=True)
class RunRecord:
    """Visibility record of one run."""

    run_id: str
    workflow_id: str
    workflow_type: str
    task_queue: str
    status: str
    start_time: int
    close_time: int | None
    history_length: int
    history_bytes: int
    first_run_id: str
    parent_workflow_id: str | None = None
    parent_run_id: str | None = None
    task_failure: Failure | None = None
    task_attempts: int = 0
    pending_activities: int = 0
    memo: dict[str, Any] = field(default_factory=lambda: {})
    search_attributes: dict[str, Any] = field(default_factory=lambda: {})


@dataclass(frozen=True, slots=True)
class WorkflowTask:
    """A claimed workflow task."""

    task_id: int
    lease: int
    run_id: str
    workflow_id: str
    workflow_type: str
    task_queue: str
    attempt: int
    updates: tuple[UpdateRequest, ...] = ()
    """Update requests waiting for validation by this task."""
    new_events: tuple[Event, ...] = ()
    """Events appended by the transaction that claimed this task (the activity completion
    that triggered it), so a cached run can take them without reading them back."""


@dataclass(frozen=True, slots=True)
class ActivityTask:
    """A claimed activity attempt."""

    task_id: int
    lease: int
    run_id: str
    workflow_id: str
    workflow_type: str
    seq: int
    activity_type: str
    task_queue: str
    input: tuple[Payload, ...]
    attempt: int
    scheduled_time: int
    started_time: int
    start_to_close_timeout_ms: int | None
    schedule_to_close_deadline: int | None
    heartbeat_timeout_ms: int | None
    heartbeat_details: tuple[Payload, ...]
    retry_policy: RetryPolicy | None
    at_most_once: bool

    @property
    def idempotency_key(self) -> str:
        """Stable across attempts of this activity; unique per scheduled activity."""
        return f"{self.run_id}:{self.seq}"


@dataclass(frozen=True, slots=True)
class CompletionOutcome:
    """What happened when a workflow task was completed."""

    lost: bool = False
    """The lease was no longer ours: nothing was recorded."""
    continue_task: WorkflowTask | None = None
    """More input arrived meanwhile; the task stays claimed by the caller."""
    eager_activities: tuple[ActivityTask, ...] = ()
    """Activity tasks scheduled by this completion and claimed for the caller."""
    recorded: tuple[Event, ...] = ()
    """The events this completion appended (accepted updates, the task marker, its
    command events), so a cached run can take them without reading them back."""


@dataclass(frozen=True, slots=True)
class UsageEntry:
    """One billable call (e.g. a model request) as it happened, recorded by the activity
    attempt that made it, before the attempt's result is committed. Entries of attempts
    whose result was lost (a crash) are what was paid twice."""

    run_id: str
    seq: int
    attempt: int
    kind: str
    name: str
    agent: str = ""
    requests: int = 1
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    latency_ms: int = 0
    time: int = 0
    worker: str = ""


@dataclass(frozen=True, slots=True)
class StreamRecord:
    """A row of a run's durable stream as subscribers read it (the keys are described in
    :mod:`duragent.store._stream_rows`)."""

    offset: int
    call: int
    attempt: int
    seq: int
    kind: str
    data: str


@dataclass(frozen=True, slots=True)
class StreamPage:
    """Rows after an offset, with what a subscriber needs to judge them."""

    rows: list[StreamRecord]
    markers: list[StreamRecord]
    """The start, commit and failed markers of the calls the rows belong to (any
    offset): an attempt with a ``failed`` marker or a later attempt is superseded."""
    state: int
    """``runs.stream``: 0 no stream, 1 streaming, 2 rows expired."""
    status: str
    """The run's status when the page was read."""


@dataclass(frozen=True, slots=True)
class WorkerRegistration:
    worker_id: str
    host: str
    pid: int
    pid_started: str
    task_queue: str
    workflow_types: tuple[str, ...]
    activity_types: tuple[str, ...] | None
    """None when the worker has a dynamic activity (it takes every type)."""


@dataclass(frozen=True, slots=True)
class ScheduleWorkflowAction:
    """What a schedule starts: a workflow run, its arguments already encoded. Each run's
    workflow id is ``{workflow_id}-{action time}`` (as Temporal names them)."""

    workflow_type: str
    workflow_id: str
    task_queue: str
    input: tuple[Payload, ...] = ()
    memo: dict[str, Any] = field(default_factory=lambda: {})


@dataclass(frozen=True, slots=True)
class ScheduleDefinition:
    """A schedule as created or updated: its action, when it acts, how, and its state."""

    action: ScheduleWorkflowAction
    spec: ScheduleSpec
    policy: SchedulePolicy
    state: ScheduleState


@dataclass(frozen=True, slots=True)
class ScheduleActionRecord:
    """One workflow a schedule started (times in epoch ms)."""

    scheduled_at: int
    """The action time it was started for (the trigger time for a manual trigger)."""
    started_at: int
    workflow_id: str
    run_id: str
    """The first run of the started workflow."""


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    """A schedule and what it has done (times in epoch ms)."""

    schedule_id: str
    definition: ScheduleDefinition
    num_actions: int
    num_actions_missed_catchup_window: int
    num_actions_skipped_overlap: int
    running: list[ScheduleActionRecord]
    recent: list[ScheduleActionRecord]
    """The latest actions taken, oldest first (at most 10)."""
    next_action_times: list[int]
    buffered: int
    """Actions waiting for a running workflow to close (``BUFFER_ONE``/``BUFFER_ALL``/
    ``CANCEL_OTHER``)."""
    created_at: int
    updated_at: int
