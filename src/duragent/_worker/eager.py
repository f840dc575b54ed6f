"""The eager hand-off between a worker's activity runner and its workflow task processor.

Two shortcuts save a worker a claim (and a commit) per activity round trip:

- completing a workflow task claims, in the same transaction, the activity tasks it
  schedules on this worker's queue, as many as the worker has free slots for; they start
  once the transaction has committed;
- recording an activity's result claims, in the same transaction, the workflow task the
  result triggers (and, when the run is cached, records that task too).

:class:`EagerHandoff` owns both directions: the processor asks it how many activities it
may claim and hands it what it claimed; the activity runner hands it results. Neither
runner holds the other or a callback into it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..serde import Payload
from ..store._stream_rows import StreamRow
from ..store.base import ActivityTask
from .watchdog import Watchdog

if TYPE_CHECKING:
    from .activities import ActivityRunner
    from .workflow_tasks import WorkflowTaskProcessor


class EagerHandoff:
    """Where a worker's activity runner and workflow task processor meet.

    Args:
        queue: The worker's task queue (only its activities are claimed eagerly).
        claim_workflow_for: ``(worker id, queue, workflow types)`` under which an activity
            result claims the workflow task it triggers; None: the worker runs no workflows.
        watchdog: Reports a result whose recording (workflow code included) blocks the loop.
    """

    def __init__(
        self,
        queue: str,
        claim_workflow_for: tuple[str, str, Sequence[str]] | None,
        watchdog: Watchdog,
    ) -> None:
        self.queue = queue
        self._claim_workflow_for = claim_workflow_for
        self._watchdog = watchdog
        self._activities: ActivityRunner | None = None
        self._workflows: WorkflowTaskProcessor | None = None
        self._types: Sequence[str] | None = None
        self._reserved = 0
        """Activities claimed by completions written in the open transaction, not started."""

    def connect(self, workflows: WorkflowTaskProcessor, activities: ActivityRunner | None) -> None:
        """Wire the two sides (``activities`` None: the worker runs no activities, so
        workflow tasks claim none)."""
        self._workflows = workflows
        self._activities = activities
        self._types = activities.types if activities is not None else None

    # -- workflow task completions claim activities ------------------------------------------

    @property
    def activity_types(self) -> Sequence[str] | None:
        """The activity types a completion may claim (None: every type)."""
        return self._types

    def slots(self) -> int:
        """How many activities the next completion may claim: the runner's free slots,
        less those claimed by completions not started yet."""
        if self._activities is None:
            return 0
        return max(0, self._activities.free_slots() - self._reserved)

    def reserve(self, tasks: Sequence[ActivityTask]) -> None:
        """A completion claimed ``tasks`` (its transaction is not committed yet)."""
        self._reserved += len(tasks)

    def unreserve(self, tasks: Sequence[ActivityTask]) -> None:
        """The transaction that claimed ``tasks`` was not committed: they stay unclaimed."""
        self._reserved = max(0, self._reserved - len(tasks))

    def start(self, tasks: Sequence[ActivityTask]) -> None:
        """The transaction that claimed ``tasks`` committed: run them."""
        self.unreserve(tasks)
        if tasks and self._activities is not None:
            self._activities.start(tasks)

    # -- activity results claim their workflow task ------------------------------------------

    def record_result(
        self, task: ActivityTask, result: Payload, now: int, tail: Sequence[StreamRow] | None
    ) -> None:
        """Commit an activity's result (with the tail of its stream, if it streamed) and
        the workflow task it triggers (see WorkflowTaskProcessor.record_activity_result)."""
        assert self._workflows is not None, "connect() first"
        with self._watchdog.watch(task):
            self._workflows.record_activity_result(
                task, result, now, self._claim_workflow_for, tail
            )
