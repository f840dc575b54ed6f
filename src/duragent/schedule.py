"""Schedules: start a workflow on a cron or interval spec, with an overlap policy and
catch-up after downtime, as ``temporalio.client``'s schedules do (same names, same
meanings)::

    from datetime import timedelta
    from duragent import Client
    from duragent.schedule import (
        Schedule, ScheduleActionStartWorkflow, ScheduleIntervalSpec, ScheduleSpec,
    )

    handle = await client.create_schedule(
        "nightly-report",
        Schedule(
            action=ScheduleActionStartWorkflow(
                Report.run, "all", id="report", task_queue="reports"
            ),
            spec=ScheduleSpec(cron_expressions=["0 2 * * *"]),
        ),
    )
    await handle.pause(note="holiday")
    print((await handle.describe()).info.next_action_times)

Each action starts a workflow with id ``{id}-{action time}`` (``report-2026-01-02T02:00:00Z``,
as Temporal names them). On the embedded engine a running :class:`~duragent.Worker` (any
task queue, any process) takes the due actions; with several, each action time is taken
exactly once. On Temporal the cluster's scheduler does. The CLI has ``duragent schedule``.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ._backend.schedules import ScheduleBackend
from ._engine.schedules import (
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    from_ms,
)
from ._handles import MISSING, args_of
from .errors import ConfigurationError
from .store.base import (
    ScheduleActionRecord,
    ScheduleDefinition,
    ScheduleRecord,
    ScheduleWorkflowAction,
)

if TYPE_CHECKING:
    from .client import Client

__all__ = [
    "Schedule",
    "ScheduleActionExecutionStartWorkflow",
    "ScheduleActionResult",
    "ScheduleActionStartWorkflow",
    "ScheduleDescription",
    "ScheduleHandle",
    "ScheduleInfo",
    "ScheduleIntervalSpec",
    "ScheduleListActionStartWorkflow",
    "ScheduleListDescription",
    "ScheduleListInfo",
    "ScheduleListSchedule",
    "ScheduleOverlapPolicy",
    "SchedulePolicy",
    "ScheduleSpec",
    "ScheduleState",
    "ScheduleUpdate",
    "ScheduleUpdateInput",
]


class ScheduleActionStartWorkflow:
    """A schedule's action: start this workflow.

    Args:
        workflow: The workflow's run method (``MyWorkflow.run``), class, or type name.
        arg: Its single argument (or ``args=[...]``).
        args: Several arguments.
        id: Workflow id prefix: each started workflow is ``{id}-{action time}``.
        task_queue: Queue whose workers run it.
        memo: JSON-able facts stored with each started run.

    Attributes:
        workflow: The workflow type name.
        args: The arguments (as given; when read back by describe, as decoded JSON).
        id: Workflow id prefix.
        task_queue: The task queue.
        memo: The memo.
    """

    def __init__(
        self,
        workflow: Any,
        arg: Any = MISSING,
        *,
        args: Sequence[Any] = (),
        id: str,
        task_queue: str,
        memo: Mapping[str, Any] | None = None,
    ) -> None:
        if isinstance(workflow, str):
            self.workflow = workflow
        else:
            from ._definitions import workflow_definition_of

            self.workflow = workflow_definition_of(workflow).name
        self.args: Sequence[Any] = list(args_of(arg, args))
        self.id = id
        self.task_queue = task_queue
        self.memo: dict[str, Any] = dict(memo or {})

    def __repr__(self) -> str:
        return (
            f"ScheduleActionStartWorkflow({self.workflow!r}, args={list(self.args)!r}, "
            f"id={self.id!r}, task_queue={self.task_queue!r})"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ScheduleActionStartWorkflow) and (
            self.workflow,
            list(self.args),
            self.id,
            self.task_queue,
            self.memo,
        ) == (other.workflow, list(other.args), other.id, other.task_queue, other.memo)

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value


@dataclass
class Schedule:
    """A schedule: what to start, when, and how.

    Attributes:
        action: The workflow to start.
        spec: When (cron expressions and intervals).
        policy: Overlap policy, catch-up window, pause on failure.
        state: Paused or not, a note, a limit on the number of actions.
    """

    action: ScheduleActionStartWorkflow
    spec: ScheduleSpec
    policy: SchedulePolicy = field(default_factory=SchedulePolicy)
    state: ScheduleState = field(default_factory=ScheduleState)


@dataclass(frozen=True)
class ScheduleActionExecutionStartWorkflow:
    """A workflow a schedule started."""

    workflow_id: str
    first_execution_run_id: str


@dataclass(frozen=True)
class ScheduleActionResult:
    """One action a schedule took.

    Attributes:
        scheduled_at: The action time (the trigger time for a manual trigger).
        started_at: When the workflow was started.
        action: The workflow started.
    """

    scheduled_at: datetime
    started_at: datetime
    action: ScheduleActionExecutionStartWorkflow


@dataclass(frozen=True)
class ScheduleInfo:
    """What a schedule has done and will do.

    Attributes:
        num_actions: Actions taken (workflows started).
        num_actions_missed_catchup_window: Action times skipped because they were older
            than the catch-up window when a worker (or the cluster) got to them.
        num_actions_skipped_overlap: Action times skipped by the overlap policy.
        running_actions: The workflows it started that are still running.
        recent_actions: The latest actions, oldest first (at most 10).
        next_action_times: The next action times (none while paused).
        created_at: When the schedule was created.
        last_updated_at: When it last changed.
        buffered_actions: Actions waiting for a running workflow to close.
    """

    num_actions: int
    num_actions_missed_catchup_window: int
    num_actions_skipped_overlap: int
    running_actions: Sequence[ScheduleActionExecutionStartWorkflow]
    recent_actions: Sequence[ScheduleActionResult]
    next_action_times: Sequence[datetime]
    created_at: datetime
    last_updated_at: datetime | None
    buffered_actions: int = 0


@dataclass(frozen=True)
class ScheduleDescription:
    """A schedule and its info (:meth:`ScheduleHandle.describe`)."""

    id: str
    schedule: Schedule
    info: ScheduleInfo


@dataclass(frozen=True)
class ScheduleListActionStartWorkflow:
    """The listed schedule's action: the workflow type it starts."""

    workflow: str


@dataclass(frozen=True)
class ScheduleListSchedule:
    """A listed schedule: action, spec and state."""

    action: ScheduleListActionStartWorkflow
    spec: ScheduleSpec
    state: ScheduleState


@dataclass(frozen=True)
class ScheduleListInfo:
    """A listed schedule's recent and next actions."""

    recent_actions: Sequence[ScheduleActionResult]
    next_action_times: Sequence[datetime]


@dataclass(frozen=True)
class ScheduleListDescription:
    """One schedule of :meth:`~duragent.Client.list_schedules`."""

    id: str
    schedule: ScheduleListSchedule
    info: ScheduleListInfo


@dataclass(frozen=True)
class ScheduleUpdateInput:
    """What :meth:`ScheduleHandle.update`'s updater receives."""

    description: ScheduleDescription


@dataclass(frozen=True)
class ScheduleUpdate:
    """What :meth:`ScheduleHandle.update`'s updater returns: the new schedule."""

    schedule: Schedule


class ScheduleHandle:
    """A handle to a schedule (:meth:`~duragent.Client.create_schedule`,
    :meth:`~duragent.Client.get_schedule_handle`). Methods raise
    :class:`~duragent.errors.ScheduleNotFoundError` for a schedule that does not exist.

    Attributes:
        id: The schedule id.
    """

    def __init__(self, client: Client, id: str) -> None:
        self._client = client
        self.id = id

    def __repr__(self) -> str:
        return f"ScheduleHandle({self.id!r})"

    async def describe(self) -> ScheduleDescription:
        """The schedule, its counts, running and recent actions and next action times."""
        record = await schedule_backend(self._client).describe_schedule(self.id)
        return ScheduleDescription(
            id=record.schedule_id,
            schedule=_schedule_of(self._client, record.definition),
            info=ScheduleInfo(
                num_actions=record.num_actions,
                num_actions_missed_catchup_window=record.num_actions_missed_catchup_window,
                num_actions_skipped_overlap=record.num_actions_skipped_overlap,
                running_actions=[
                    ScheduleActionExecutionStartWorkflow(a.workflow_id, a.run_id)
                    for a in record.running
                ],
                recent_actions=[_result(a) for a in record.recent],
                next_action_times=[from_ms(t) for t in record.next_action_times],
                created_at=from_ms(record.created_at),
                last_updated_at=from_ms(record.updated_at),
                buffered_actions=record.buffered,
            ),
        )

    async def pause(self, *, note: str | None = None) -> None:
        """Pause: no action is taken until :meth:`unpause` (times passing meanwhile are
        not caught up)."""
        await schedule_backend(self._client).pause_schedule(
            self.id, paused=True, note=note if note is not None else "Paused via Duragent"
        )

    async def unpause(self, *, note: str | None = None) -> None:
        """Unpause: actions resume from the next action time."""
        await schedule_backend(self._client).pause_schedule(
            self.id, paused=False, note=note if note is not None else "Unpaused via Duragent"
        )

    async def trigger(self, *, overlap: ScheduleOverlapPolicy | None = None) -> None:
        """Take an action now (also when paused), under ``overlap`` (default: the
        schedule's policy)."""
        await schedule_backend(self._client).trigger_schedule(self.id, overlap=overlap)

    async def update(
        self,
        updater: Callable[
            [ScheduleUpdateInput], ScheduleUpdate | Awaitable[ScheduleUpdate | None] | None
        ],
    ) -> None:
        """Change the schedule: ``updater`` receives the current description and returns
        a :class:`ScheduleUpdate` with the new schedule (or None to leave it). Counts and
        recent actions are kept. Not atomic with a concurrent update (last one wins)."""
        description = await self.describe()
        update = updater(ScheduleUpdateInput(description))
        if inspect.isawaitable(update):
            update = await update
        if update is None:
            return
        definition = definition_of(self._client, update.schedule)
        await schedule_backend(self._client).update_schedule(self.id, definition)

    async def delete(self) -> None:
        """Delete the schedule; the workflows it started run on."""
        await schedule_backend(self._client).delete_schedule(self.id)


class ScheduleAsyncIterator:
    """The schedules :meth:`~duragent.Client.list_schedules` found (``async for``)."""

    def __init__(self, items: list[ScheduleListDescription]) -> None:
        self._items = items

    def __aiter__(self) -> AsyncIterator[ScheduleListDescription]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ScheduleListDescription]:
        for item in self._items:
            yield item


# -- conversions between the public types and the seam's records ----------------------------


def schedule_backend(client: Client) -> ScheduleBackend:
    """The client's backend, which must keep schedules."""
    backend = client.backend
    if not isinstance(backend, ScheduleBackend):
        raise ConfigurationError(f"the backend of {backend.address} has no schedules")
    return backend


def definition_of(client: Client, schedule: Schedule) -> ScheduleDefinition:
    """The seam's definition of ``schedule`` (its arguments encoded)."""
    action = schedule.action
    if not isinstance(action, ScheduleActionStartWorkflow):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ConfigurationError("a schedule's action must be a ScheduleActionStartWorkflow")
    if not action.id:
        raise ConfigurationError("a schedule's action needs a workflow id (id=...)")
    if not action.task_queue:
        raise ConfigurationError("a schedule's action needs a task queue (task_queue=...)")
    return ScheduleDefinition(
        action=ScheduleWorkflowAction(
            workflow_type=action.workflow,
            workflow_id=action.id,
            task_queue=action.task_queue,
            input=client.converter.encode_all(tuple(action.args), what="schedule argument"),
            memo=dict(action.memo),
        ),
        spec=schedule.spec,
        policy=schedule.policy,
        state=schedule.state,
    )


def _schedule_of(client: Client, definition: ScheduleDefinition) -> Schedule:
    action = definition.action
    return Schedule(
        action=ScheduleActionStartWorkflow(
            action.workflow_type,
            args=[client.converter.decode(p, what="schedule argument") for p in action.input],
            id=action.workflow_id,
            task_queue=action.task_queue,
            memo=action.memo,
        ),
        spec=definition.spec,
        policy=definition.policy,
        state=definition.state,
    )


def _result(action: ScheduleActionRecord) -> ScheduleActionResult:
    return ScheduleActionResult(
        scheduled_at=from_ms(action.scheduled_at),
        started_at=from_ms(action.started_at),
        action=ScheduleActionExecutionStartWorkflow(action.workflow_id, action.run_id),
    )


def list_description(record: ScheduleRecord) -> ScheduleListDescription:
    """The listing's view of a schedule record."""
    definition = record.definition
    return ScheduleListDescription(
        id=record.schedule_id,
        schedule=ScheduleListSchedule(
            action=ScheduleListActionStartWorkflow(definition.action.workflow_type),
            spec=definition.spec,
            state=definition.state,
        ),
        info=ScheduleListInfo(
            recent_actions=[_result(a) for a in record.recent],
            next_action_times=[from_ms(t) for t in record.next_action_times],
        ),
    )
