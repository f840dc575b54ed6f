"""What one workflow task produced: the single record that travels from the workflow
instance to the store.

:meth:`~duragent._engine.instance.WorkflowInstance.activate` creates it (the commands, or
the task failure, and the local activities to run), :class:`~duragent._engine.replay.WorkflowRun`
completes it (the updates it delivered; for local activities, the commands of the whole
task), the worker adds the updates whose validators rejected them, and the store records
it as it is. It is defined here, in the sans-I/O engine, so the engine never imports the
store: the store accepts the engine's record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..serde import Payload
from . import commands as cmd
from .failure import Failure


@dataclass(frozen=True, slots=True)
class UpdateRequest:
    """An update that passed validation and is delivered in the next live activation."""

    update_id: str
    name: str
    input: tuple[Payload, ...]
    identity: str = ""


@dataclass(frozen=True, slots=True)
class TaskCompletion:
    """The outcome of one workflow task: what to record, or the failure that prevents it.

    A completion with a ``failure`` records nothing (the task is failed instead).
    ``local_activities`` and ``cancelled_local`` are instructions to the worker, never
    recorded: local activities to run now (their outcomes are delivered with
    :meth:`~duragent._engine.replay.WorkflowRun.resolve_local` before the task is
    recorded), and running ones the code cancelled.
    """

    processed_through: int
    """The last history event the task had seen (0: the task processed no input)."""
    time: int
    """Workflow time of the task, ms since the epoch."""
    commands: Sequence[cmd.Command]
    updates: Sequence[UpdateRequest] = ()
    """Updates accepted and delivered by this task (recorded before its commands)."""
    rejected_updates: Sequence[tuple[str, Failure]] = ()
    """(update id, failure) of updates whose validator rejected them."""
    failure: BaseException | None = None
    local_activities: Sequence[cmd.ScheduleLocalActivity] = ()
    cancelled_local: Sequence[int] = ()
