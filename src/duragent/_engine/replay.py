"""Replay: a workflow instance bound to its history, with nondeterminism detection.

:class:`WorkflowRun` consumes history events in order. Each ``WorkflowTaskCompleted`` marks
an activation that already happened: the run re-applies the same batch of input events to
its instance (``replaying=True``) and checks that the code asks for exactly the commands
recorded after the marker. Input events after the last marker are *pending*; a live
activation (:meth:`WorkflowRun.activate`) processes them and returns new commands to record.

A cached run is fed only the events appended since it last looked, so catching up after
another worker's task and replaying from scratch are the same code path.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from ..errors import NondeterminismError
from . import commands as cmd
from . import events as ev
from .completion import TaskCompletion, UpdateRequest
from .instance import PATCH_MARKER, Activation, WorkflowInstance

__all__ = [
    "ActivationFailedError",
    "StaleRunError",
    "TaskCompletion",
    "UpdateRequest",
    "WorkflowRun",
]


class StaleRunError(Exception):
    """The history moved on in a way this cached run did not produce (another worker
    completed a different task); rebuild the run from the full history."""


class ActivationFailedError(Exception):
    """Workflow code raised an unexpected error while replaying recorded history."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"workflow code raised while replaying: {cause!r}")
        self.cause = cause


@dataclass(slots=True)
class _Unconfirmed:
    processed_through: int
    commands: Sequence[cmd.Command]
    update_ids: tuple[str, ...] = field(default_factory=tuple)
    time: int = 0


def _is_patch_marker(event: ev.Event) -> bool:
    return isinstance(event, ev.MarkerRecorded) and event.name == PATCH_MARKER


class WorkflowRun:
    """A workflow instance and its position in the run's history."""

    def __init__(self, instance: WorkflowInstance) -> None:
        self.instance = instance
        self.last_event_id = 0
        self.last_task_time = 0
        self.closed = False
        self.replayed_activations = 0
        self._pending: list[ev.Event] = []
        self._expected: deque[cmd.Command] = deque()
        self._unconfirmed: _Unconfirmed | None = None
        # Replaying a task's window: local activities the code asked for whose outcome
        # is not matched yet, and the task's activation facts.
        self._confirming = False
        self._local_asked: dict[int, str] = {}
        self._window: tuple[int, int, frozenset[str]] = (0, 0, frozenset())

    @property
    def has_pending_input(self) -> bool:
        """Whether input events are waiting for a live activation."""
        return bool(self._pending) and not self.closed and not self.instance.closed

    def feed(self, events: Sequence[ev.Event]) -> None:
        """Consume events appended since the last call, replaying recorded activations.

        Raises:
            NondeterminismError: The code asks for different commands than recorded.
            ActivationFailedError: The code raised an unexpected error during replay.
            StaleRunError: The history diverged from this run's unconfirmed activation.
        """
        n = len(events)
        i = 0
        while i < n:
            event = events[i]
            if event.event_id != self.last_event_id + 1:
                raise StaleRunError(
                    f"expected event {self.last_event_id + 1}, got {event.event_id}"
                )
            self.last_event_id = event.event_id
            if isinstance(event, ev.WorkflowTaskCompleted):
                self._end_command_window(event.event_id)
                self._begin_task(event, events, i)
            elif event.IS_COMMAND:
                self._match(event)
                if isinstance(event, ev.CLOSE_EVENT_TYPES):
                    self.closed = True
            else:
                self._end_command_window(event.event_id)
                if isinstance(event, ev.WorkflowExecutionTerminated):
                    self.closed = True
                else:
                    self._pending.append(event)
            i += 1
        self._end_command_window(self.last_event_id + 1)

    def _begin_task(
        self, wtc: ev.WorkflowTaskCompleted, events: Sequence[ev.Event], i: int
    ) -> None:
        pt = wtc.processed_through
        batch = [
            e
            for e in self._pending
            if e.event_id <= pt or isinstance(e, ev.WorkflowExecutionUpdateAccepted)
        ]
        self._pending = [
            e
            for e in self._pending
            if e.event_id > pt and not isinstance(e, ev.WorkflowExecutionUpdateAccepted)
        ]
        self.last_task_time = max(self.last_task_time, wtc.time)
        unconfirmed, self._unconfirmed = self._unconfirmed, None
        if unconfirmed is not None:
            update_ids = tuple(
                e.update_id for e in batch if isinstance(e, ev.WorkflowExecutionUpdateAccepted)
            )
            if pt != unconfirmed.processed_through or update_ids != unconfirmed.update_ids:
                raise StaleRunError(
                    f"task at event {wtc.event_id} processed through {pt}, this run through "
                    f"{unconfirmed.processed_through}"
                )
            self._expected = deque(unconfirmed.commands)
            self._confirming = True
            return
        self._confirming = False
        # Patch ids this task recorded, so workflow.patched() answers as it did then.
        patches: set[str] = set()
        j = i + 1
        while (
            j < len(events)
            and events[j].IS_COMMAND
            and not isinstance(events[j], ev.WorkflowTaskCompleted)
        ):
            marker = events[j]
            if isinstance(marker, ev.MarkerRecorded) and marker.name == PATCH_MARKER:
                patches.add(str(marker.details.get("id")))
            j += 1
        self._window = (wtc.time, pt, frozenset(patches))
        self._local_asked = {}
        self._expected = deque()
        self._replay_activation(batch)

    def _replay_activation(self, batch: Sequence[ev.Event]) -> None:
        time, pt, patches = self._window
        result = self.instance.activate(
            Activation(events=batch, time=time, replaying=True, history_length=pt, patches=patches)
        )
        self.replayed_activations += 1
        if result.failure is not None:
            raise ActivationFailedError(result.failure)
        self._expected.extend(result.commands)
        for asked in result.local_activities:
            self._local_asked[asked.seq] = asked.activity_type
        for seq in result.cancelled_local:
            self._local_asked.pop(seq, None)

    def _take_local_outcome(self, event: ev.LocalActivityRecorded) -> None:
        """A recorded local activity outcome, while replaying: the code must have asked
        for that activity and for nothing since. Outcomes are delivered one per
        activation, in the recorded order, as they were live."""
        if self._expected:
            self._raise_mismatch(
                event.event_id,
                history=cmd.describe_event(event),
                code=self._expected[0].describe(),
            )
        if self._local_asked.pop(event.seq, None) != event.activity_type:
            self._raise_mismatch(
                event.event_id,
                history=cmd.describe_event(event),
                code="no such local activity",
            )
        self._replay_activation([event])

    def _waiting_for(self) -> str:
        """What the code asked for that history lacks, when no command is left: a local
        activity whose outcome is not recorded, or nothing."""
        for seq, activity_type in self._local_asked.items():
            return f"ScheduleLocalActivity(seq={seq}, type={activity_type!r})"
        return "nothing"

    def _match(self, event: ev.Event) -> None:
        if not self._confirming and isinstance(event, ev.LocalActivityRecorded):
            self._take_local_outcome(event)
            return
        expected = self._expected
        if _is_patch_marker(event):
            assert isinstance(event, ev.MarkerRecorded)
            front = expected[0] if expected else None
            if (
                isinstance(front, cmd.RecordMarker)
                and front.name == PATCH_MARKER
                and front.details.get("id") == event.details.get("id")
            ):
                expected.popleft()
            # Otherwise the patch call was removed (deprecated patch): skip the marker.
            return
        actual = expected.popleft() if expected else None
        if actual is None or not cmd.matches(actual, event):
            self._raise_mismatch(
                event.event_id,
                history=cmd.describe_event(event),
                code=actual.describe() if actual is not None else self._waiting_for(),
            )

    def _end_command_window(self, next_event_id: int) -> None:
        """The recorded commands of the current task ended; the code must be done too."""
        if self._local_asked and not self.instance.closed:
            code = self._waiting_for()
            self._local_asked = {}
            self._raise_mismatch(next_event_id, history="nothing more", code=code)
        self._local_asked = {}
        expected = self._expected
        while (
            expected
            and isinstance(expected[0], cmd.RecordMarker)
            and (expected[0].name == PATCH_MARKER and expected[0].details.get("deprecated"))
        ):
            expected.popleft()
        if expected:
            self._raise_mismatch(next_event_id, history="nothing more", code=expected[0].describe())

    def _raise_mismatch(self, event_id: int, *, history: str, code: str) -> None:
        info = self.instance.info() if self.instance._info is not None else None  # pyright: ignore[reportPrivateUsage]
        who = (
            f"workflow {info.workflow_type!r} (id {info.workflow_id!r}, run {info.run_id})"
            if info
            else f"workflow {self.instance.definition.name!r}"
        )
        raise NondeterminismError(
            f"{who} is not deterministic: at history event {event_id} the history has "
            f"{history} but the code asked for {code}. Code that changes a running workflow "
            "must branch with workflow.patched().",
            event_id=event_id,
            expected=history,
            actual=code,
        )

    def construct_pending(self) -> None:
        """Create the workflow object now if its start event is still pending, so update
        validators can run before the first activation."""
        for event in self._pending:
            if isinstance(event, ev.WorkflowExecutionStarted):
                self.instance.construct(event)
                return

    def activate(self, now_ms: int, updates: Sequence[UpdateRequest] = ()) -> TaskCompletion | None:
        """Run a live activation of the pending input events (and accepted updates).

        Returns None when there is nothing to do. The result's commands must be recorded
        (with ``processed_through``) before the next :meth:`feed` shows them back.
        """
        if self._unconfirmed is not None:
            raise StaleRunError("the previous activation was never confirmed by history")
        if self.closed or self.instance.closed or not (self._pending or updates):
            return None
        pt = self.last_event_id
        batch: list[ev.Event] = list(self._pending)
        self._pending = []
        time = max(now_ms, self.last_task_time)
        self.last_task_time = time
        batch.extend(
            ev.WorkflowExecutionUpdateAccepted(
                event_id=0,
                time=time,
                update_id=u.update_id,
                update_name=u.name,
                input=u.input,
                identity=u.identity,
            )
            for u in updates
        )
        result = self.instance.activate(
            Activation(events=batch, time=time, replaying=False, history_length=pt)
        )
        if updates:
            result = replace(result, updates=tuple(updates))
        if result.failure is not None:
            return result
        self._unconfirmed = _Unconfirmed(
            pt, result.commands, tuple(u.update_id for u in updates), time
        )
        return result

    def resolve_local(self, outcome: ev.LocalActivityRecorded) -> TaskCompletion:
        """Deliver a local activity outcome to the code, within the task of the last live
        activation (whose commands are not recorded yet). Returns the task's commands so
        far (the outcome recorded, then what the code asked for next) and the new local
        activities to run; on failure, the task failed and nothing may be recorded.

        One outcome per call: replay delivers each recorded outcome in an activation of
        its own, so two outcomes ready at once are delivered one after the other."""
        unconfirmed = self._unconfirmed
        if unconfirmed is None:
            raise StaleRunError("no live activation is waiting for local activities")
        result = self.instance.activate(
            Activation(
                events=[outcome],
                time=unconfirmed.time,
                replaying=False,
                history_length=unconfirmed.processed_through,
            )
        )
        if result.failure is not None:
            self._unconfirmed = None
            return result
        unconfirmed.commands = [
            *unconfirmed.commands,
            cmd.RecordLocalActivity.of(outcome),
            *result.commands,
        ]
        return replace(result, commands=unconfirmed.commands)
