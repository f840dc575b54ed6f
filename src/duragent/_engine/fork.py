"""Forking a run: where a fork leaves its source, and what it inherits.

A fork is a new run that starts as a copy of a prefix of another run's history and goes on
live from there. The prefix ends just before one workflow task of the source (the *cut*
task): the fork's first task runs that task again with current code, so anything the fork
changes (another model, another prompt) takes effect from there on, and replay of the copied
prefix checks that the code still matches what the source recorded.

:func:`plan_cut` works out, from the source's history alone, what the fork's history holds
and what must happen to work that was in flight at the cut:

* events up to what the cut task had seen are copied as they are (same ids); updates the
  cut task accepted are copied after them (they are part of its batch);
* a command recorded before the cut whose outcome came after it (an activity still running,
  a child workflow, a signal to another workflow) is *started in the source*: the fork gets
  the outcome the source recorded, appended after the copy. An activity the source never
  finished is treated as one whose worker crashed: an at-most-once activity fails as
  interrupted (never silently re-run), any other runs again;
* a timer armed before the cut is armed again with the time it had left;
* a child workflow that was still running in the source cannot be shared: the fork is
  refused (:class:`~duragent.errors.ForkError`).

Pure: events in, a plan out. The store carries the plan out in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ..errors import ForkError
from ..serde import Payload
from . import events as ev

FORK_STATE_KEY: Final = "duragent.fork"
"""Run-state key under which a forked run's instance finds its :class:`ForkRecording`."""


@dataclass(frozen=True, slots=True)
class ForkRecording:
    """What a fork's start event carries for the code that serves recorded calls: the
    fork document (JSON) and the source's results it refers to by index."""

    spec: Payload
    results: tuple[Payload, ...]


@dataclass(frozen=True, slots=True)
class PendingTimer:
    """A timer the source armed before the cut and that had not fired by then."""

    seq: int
    remaining_ms: int


@dataclass(frozen=True, slots=True)
class ForkCut:
    """How a fork's history is built from its source's (see the module docstring).

    The fork's events are its own start event (id 1), then the source events ``copied``
    (ids 2.. in this order), then ``resolved`` (outcomes of work in flight at the cut).
    """

    task_event_id: int
    """The source's ``WorkflowTaskCompleted`` of the cut task (the fork runs it again)."""
    cut_time: int
    """Workflow time of the cut task in the source."""
    copied: tuple[int, ...]
    resolved: tuple[int, ...]
    rerun: tuple[ev.ActivityTaskScheduled, ...]
    """Activities in flight at the cut that the source never finished (not at-most-once):
    they run again, as after a worker crash."""
    interrupted: tuple[ev.ActivityTaskScheduled, ...]
    """At-most-once activities in flight at the cut that the source never finished: they
    fail as interrupted."""
    timers: tuple[PendingTimer, ...]
    processed_through: int
    """What the last copied workflow task had processed (0: none was copied)."""

    @property
    def prefix_events(self) -> int:
        """Events the fork takes from its source's prefix (its start event included); a
        task that had seen fewer events than this is a replay of the source's."""
        return 1 + len(self.copied)


_ACTIVITY_OUTCOMES: Final = (
    ev.ActivityTaskCompleted,
    ev.ActivityTaskFailed,
    ev.ActivityTaskTimedOut,
    ev.ActivityTaskCanceled,
)
_CHILD_EVENTS: Final = (
    ev.ChildWorkflowExecutionStarted,
    ev.StartChildWorkflowExecutionFailed,
    ev.ChildWorkflowExecutionCompleted,
    ev.ChildWorkflowExecutionFailed,
)
_CHILD_OUTCOMES: Final = (
    ev.StartChildWorkflowExecutionFailed,
    ev.ChildWorkflowExecutionCompleted,
    ev.ChildWorkflowExecutionFailed,
)
_EXTERNAL_OUTCOMES: Final = (
    ev.ExternalWorkflowExecutionCancelRequested,
    ev.ExternalWorkflowExecutionSignaled,
    ev.ExternalWorkflowRequestFailed,
)


def _seq(event: ev.Event) -> int | None:
    seq = getattr(event, "seq", None)
    return seq if isinstance(seq, int) else None


def plan_cut(events: Sequence[ev.Event], task_event_id: int) -> ForkCut:
    """Plan a fork of the run whose history is ``events`` that runs again the workflow task
    recorded by the ``WorkflowTaskCompleted`` at ``task_event_id``.

    Raises:
        ForkError: The event is not a workflow task of this history, or a child workflow
            started before the cut was still running in the source.
    """
    if not 1 < task_event_id <= len(events):
        raise ForkError(f"the history has no event {task_event_id} to fork at")
    task = events[task_event_id - 1]
    if not isinstance(task, ev.WorkflowTaskCompleted) or task.event_id != task_event_id:
        raise ForkError(f"event {task_event_id} is not a workflow task; a fork starts at one")
    seen = task.processed_through
    copied: list[int] = []
    for e in events[1 : task_event_id - 1]:
        # Input that arrived while the cut task ran belongs to a later task, except the
        # updates the cut task accepted (recorded just before its marker).
        if e.IS_COMMAND or e.event_id <= seen or isinstance(e, ev.WorkflowExecutionUpdateAccepted):
            copied.append(e.event_id)
    copied_set = set(copied)

    activities: dict[int, ev.ActivityTaskScheduled] = {}
    timers: dict[int, ev.TimerStarted] = {}
    children: dict[int, ev.StartChildWorkflowExecutionInitiated] = {}
    externals: set[int] = set()
    for event_id in copied:
        e = events[event_id - 1]
        seq = _seq(e)
        if isinstance(e, ev.ActivityTaskScheduled):
            activities[e.seq] = e
        elif isinstance(e, _ACTIVITY_OUTCOMES) and seq is not None:
            activities.pop(seq, None)
        elif isinstance(e, ev.TimerStarted):
            timers[e.seq] = e
        elif isinstance(e, ev.TimerFired | ev.TimerCanceled):
            timers.pop(e.seq, None)
        elif isinstance(e, ev.StartChildWorkflowExecutionInitiated):
            children[e.seq] = e
        elif isinstance(e, _CHILD_OUTCOMES) and seq is not None:
            children.pop(seq, None)
        elif isinstance(
            e,
            ev.RequestCancelExternalWorkflowExecutionInitiated
            | ev.SignalExternalWorkflowExecutionInitiated,
        ):
            externals.add(e.seq)
        elif isinstance(e, _EXTERNAL_OUTCOMES) and seq is not None:
            externals.discard(seq)

    # Work in flight at the cut was started in the source: take its recorded outcome (it
    # came later, or arrived while the cut task ran and so was not copied).
    resolved: list[int] = []
    started_children: set[int] = set()
    for e in events[1:]:
        seq = _seq(e)
        if seq is None or e.IS_COMMAND or e.event_id in copied_set:
            continue
        if isinstance(e, _ACTIVITY_OUTCOMES) and seq in activities:
            del activities[seq]
        elif isinstance(e, _CHILD_EVENTS) and seq in children:
            if isinstance(e, ev.ChildWorkflowExecutionStarted):
                if seq in started_children:
                    continue
                started_children.add(seq)
            else:
                del children[seq]
        elif isinstance(e, _EXTERNAL_OUTCOMES) and seq in externals:
            externals.discard(seq)
        else:
            continue
        resolved.append(e.event_id)

    if children:
        child = next(iter(children.values()))
        raise ForkError(
            f"child workflow {child.workflow_id!r} (started before the fork point, at "
            f"event {child.event_id}) had not finished in the source, and a fork cannot "
            "share a running child: fork before the child started or after it finished"
        )
    if externals:
        raise ForkError(
            f"a request to another workflow (seq {min(externals)}) made before the fork "
            "point has no recorded outcome in the source; fork at another point"
        )
    return ForkCut(
        task_event_id=task_event_id,
        cut_time=task.time,
        copied=tuple(copied),
        resolved=tuple(resolved),
        rerun=tuple(a for _, a in sorted(activities.items()) if not a.at_most_once),
        interrupted=tuple(a for _, a in sorted(activities.items()) if a.at_most_once),
        timers=tuple(
            PendingTimer(t.seq, max(0, t.fire_at - task.time)) for _, t in sorted(timers.items())
        ),
        processed_through=max(
            (
                e.processed_through
                for e in (events[i - 1] for i in copied)
                if isinstance(e, ev.WorkflowTaskCompleted)
            ),
            default=0,
        ),
    )
