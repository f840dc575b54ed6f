"""The schedules part of the client-side seam: what ``Client.create_schedule`` and its
:class:`~duragent.schedule.ScheduleHandle` ask of a backend.

Kept apart from :class:`~duragent._backend.ClientBackend` (as forking is): both backends
implement it (the embedded store in ``embedded.py``, Temporal's schedules in
``duragent.temporal._schedules``), and the client checks for it at run time. Records are
the store's (:class:`~duragent.store.base.ScheduleDefinition`,
:class:`~duragent.store.base.ScheduleRecord`); the action's arguments cross already
encoded, and times are epoch milliseconds.

Errors: :class:`~duragent.errors.ScheduleNotFoundError` for an unknown id,
:class:`~duragent.errors.ScheduleAlreadyRunningError` when creating an id that exists,
:class:`~duragent.errors.ConfigurationError` for a bad spec or policy.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from .._engine.schedules import ScheduleOverlapPolicy
from ..store.base import ScheduleDefinition, ScheduleRecord


@runtime_checkable
class ScheduleBackend(Protocol):
    """A backend that keeps schedules."""

    async def create_schedule(
        self, schedule_id: str, definition: ScheduleDefinition, *, trigger_immediately: bool
    ) -> None:
        """Create a schedule (and take one action at once with ``trigger_immediately``)."""
        ...

    async def describe_schedule(self, schedule_id: str) -> ScheduleRecord:
        """The schedule, its counts, running and recent actions and next action times."""
        ...

    async def list_schedules(self) -> list[ScheduleRecord]:
        """Every schedule (on Temporal: as its eventually consistent visibility lists
        them)."""
        ...

    async def pause_schedule(self, schedule_id: str, *, paused: bool, note: str | None) -> None:
        """Pause or unpause, with a note saying why."""
        ...

    async def trigger_schedule(
        self, schedule_id: str, *, overlap: ScheduleOverlapPolicy | None
    ) -> None:
        """Take an action now, under ``overlap`` (default: the schedule's)."""
        ...

    async def update_schedule(self, schedule_id: str, definition: ScheduleDefinition) -> None:
        """Replace action, spec, policy and state."""
        ...

    async def delete_schedule(self, schedule_id: str) -> None:
        """Delete the schedule; workflows it started run on."""
        ...
