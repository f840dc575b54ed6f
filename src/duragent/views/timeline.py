"""A workflow run's history as a timeline: one step per thing that happened.

Pure data: :func:`build_timeline` folds the events of one run (plus the backend's record of
failed activity attempts and still-pending activities) into :class:`Step` rows in the order
they began; the CLI (``duragent show``) and the web UI render them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .._backend.records import ActivityAttempt, PendingActivity
from .._engine import events as ev
from .._engine.failure import Failure
from .._fork.spec import SERVED_MARKER
from ..serde import Payload
from .agent_rows import MODEL_ACTIVITY, agent_title, request_detail, result_detail
from .fork_rows import ForkFacts, fork_facts, reused_note, served_step
from .format import fmt_duration, fmt_time, payload_text, payloads_text, to_json, truncate


class State:
    """How a step ended (or that it has not yet)."""

    OK = "ok"
    FAILED = "failed"
    TIMED_OUT = "timed out"
    CANCELLED = "cancelled"
    RUNNING = "running"
    WAITING = "waiting"
    INFO = "info"


@dataclass
class Note:
    """A line under a step: an earlier attempt, a pending attempt, who sent a signal."""

    text: str
    state: str = State.INFO
    order: int = 1 << 30
    """Sort key among a step's notes: the attempt number for attempt lines."""


@dataclass
class Step:
    """One row of the timeline.

    Attributes:
        event_id: The event where the step began.
        time: When it began (epoch milliseconds).
        title: What it is, e.g. ``activity flaky #1``.
        state: A :class:`State` value.
        detail: Input, result or error, cut to one line.
        duration_ms: How long it took (None while running or for instant steps).
        attempts: Activity attempts made (0 for other steps).
        notes: Lines shown under the step.
    """

    event_id: int
    time: int
    title: str
    state: str = State.INFO
    detail: str = ""
    duration_ms: int | None = None
    attempts: int = 0
    notes: list[Note] = field(default_factory=lambda: [])


def describe_failure(failure: Failure | None) -> str:
    """One line for a recorded failure (type, message, root cause)."""
    return "" if failure is None else failure.describe()


_OUTCOME_STATE = {
    "failed": State.FAILED,
    "timed_out": State.TIMED_OUT,
    "interrupted": State.FAILED,
    "cancelled": State.CANCELLED,
}


def _attempt_note(a: ActivityAttempt) -> Note:
    outcome = a.outcome or "failed"
    started, ended = a.started_at, a.ended_at
    took = f" after {fmt_duration(ended - started)}" if started and ended else ""
    worker = f" on {a.worker}" if a.worker else ""
    reason = describe_failure(a.failure)
    text = f"attempt {a.attempt} {outcome.replace('_', ' ')}{took}{worker}"
    state = _OUTCOME_STATE.get(outcome, State.FAILED)
    return Note(f"{text}: {truncate(reason, 160)}" if reason else text, state, a.attempt)


def _pending_note(p: PendingActivity, now_ms: int) -> Note:
    attempt = p.attempt or 0
    last = describe_failure(p.last_failure)
    if p.owner:
        since = p.started_at
        running = f" for {fmt_duration(now_ms - since)}" if since else ""
        text = f"attempt {attempt} running on {p.owner}{running}"
        state = State.RUNNING
        order = attempt
    elif attempt == 0:
        text = "waiting for a worker to pick up attempt 1"
        state = State.WAITING
        order = 1
    else:
        visible = p.visible_at
        when = f" at {fmt_time(visible)}" if visible and visible > now_ms else " now"
        text = f"attempt {attempt + 1} due{when}"
        state = State.WAITING
        order = attempt + 1
    if last:
        text += f"; last failure: {truncate(last, 120)}"
    return Note(text, state, order)


class _Builder:
    def __init__(
        self, now_ms: int, detailed: tuple[int, int] | None, memo: dict[int, str] | None
    ) -> None:
        self.now_ms = now_ms
        self.detailed = detailed
        self.memo = memo
        """Details decoded before, by the id of the event whose payload they show (events
        never change: a caller keeps one per run): results, and open activities' inputs."""
        self.results: list[tuple[Step, int, str, Payload]] = []
        """Completed activities whose results are decoded at the end, if shown: (step,
        completion event id, activity type, result)."""
        self.steps: list[Step] = []
        self.activities: dict[int, Step] = {}
        self.activity_types: dict[int, str] = {}
        self.timers: dict[int, Step] = {}
        self.children: dict[int, Step] = {}
        self.externals: dict[int, Step] = {}
        self.updates: dict[str, Step] = {}
        self.fork: ForkFacts | None = None
        self.model_calls = 0
        """Model calls scheduled so far (their numbers: 1, 2, 3, ...)."""
        self.requests: dict[int, ev.ActivityTaskScheduled] = {}
        self.closed: set[int] = set()
        """Event ids of the steps that ended."""

    def open_request_details(self) -> None:
        """Show what went into each activity that has not ended."""
        for seq, e in self.requests.items():
            step = self.activities[seq]
            if step.event_id not in self.closed:
                found = self.memo.get(e.event_id) if self.memo is not None else None
                if found is None:  # a model call's input is the whole conversation so far
                    detail = request_detail(e.activity_type, e.input)
                    found = payloads_text(e.input) if detail is None else detail
                    if self.memo is not None:
                        self.memo[e.event_id] = found
                step.detail = found

    def wants_detail(self, step: Step) -> bool:
        """Whether to decode what ``step`` returned (see ``build_timeline(detailed=)``)."""
        if self.detailed is None:
            return True
        first, last = self.detailed
        return first <= step.event_id <= last

    def text_of(
        self,
        event_id: int,
        payload: Payload | tuple[Payload, ...] | None,
        activity_type: str | None = None,
    ) -> str:
        """What the payload(s) of event ``event_id`` show (for an activity's result, as
        ``activity_type``'s): from the memo, or decoded and remembered."""
        found = self.memo.get(event_id) if self.memo is not None else None
        if found is None:
            if isinstance(payload, tuple):
                found = payloads_text(payload)
            else:
                shown = None if activity_type is None else result_detail(activity_type, payload)
                found = payload_text(payload) if shown is None else shown
            if self.memo is not None:
                self.memo[event_id] = found
        return found

    def result_details(self) -> None:
        """Show what each completed activity on the page returned (decoding every result
        was most of the work of a long run's timeline)."""
        for step, event_id, activity_type, result in self.results:
            if self.wants_detail(step):
                step.detail = self.text_of(event_id, result, activity_type)

    def add(self, e: ev.Event, title: str, state: str = State.INFO, detail: str = "") -> Step:
        step = Step(event_id=e.event_id, time=e.time, title=title, state=state, detail=detail)
        self.steps.append(step)
        return step

    def close(self, step: Step | None, e: ev.Event, state: str, detail: str) -> None:
        if step is None:
            return
        self.closed.add(step.event_id)
        step.state = state
        step.detail = detail
        step.duration_ms = e.time - step.time

    def event(self, e: ev.Event) -> None:
        match e:
            case ev.WorkflowExecutionStarted():
                s = self.add(e, "workflow started", State.INFO, self.text_of(e.event_id, e.input))
                if e.parent_workflow_id:
                    s.notes.append(Note(f"child of workflow {e.parent_workflow_id}"))
                if e.continued_from_run_id:
                    s.notes.append(Note(f"continued from run {e.continued_from_run_id}"))
                facts = self.fork = fork_facts([e])
                if facts is not None:
                    s.notes.append(Note(facts.summary()))
            case ev.ActivityTaskScheduled():
                if e.activity_type == MODEL_ACTIVITY:
                    self.model_calls += 1
                title = agent_title(e.activity_type, e.summary, e.seq, self.model_calls)
                if title is None:
                    title = f"activity {e.activity_type} #{e.seq}"
                    if e.summary:
                        title += f" ({e.summary})"
                s = self.add(e, title, State.WAITING)
                self.activities[e.seq] = s
                self.activity_types[e.seq] = e.activity_type
                # What went in shows only while the activity is open (its outcome replaces
                # it): decoded at the end, for the open ones. A model call's input is the
                # whole conversation so far; decoding every one is quadratic.
                self.requests[e.seq] = e
            case ev.ActivityTaskCompleted():
                s = self.activities.get(e.seq)
                self.close(s, e, State.OK, "")
                if s is not None:
                    activity_type = self.activity_types.get(e.seq, "")
                    self.results.append((s, e.event_id, activity_type, e.result))
                    s.attempts = e.attempt
                    if e.attempt > 1:  # under the failed attempts listed before it
                        ran = (
                            f" in {fmt_duration(e.time - e.started_time)}" if e.started_time else ""
                        )
                        note = f"attempt {e.attempt} completed{ran}"
                        s.notes.append(Note(note, State.OK, e.attempt))
            case ev.ActivityTaskFailed():
                s = self.activities.get(e.seq)
                self.close(s, e, State.FAILED, describe_failure(e.failure))
                if s is not None:
                    s.attempts = e.attempt
            case ev.ActivityTaskTimedOut():
                s = self.activities.get(e.seq)
                self.close(s, e, State.TIMED_OUT, describe_failure(e.failure))
                if s is not None:
                    s.attempts = e.attempt
            case ev.ActivityTaskCanceled():
                s = self.activities.get(e.seq)
                self.close(s, e, State.CANCELLED, self.text_of(e.event_id, e.details))
                if s is not None:
                    s.attempts = e.attempt
            case ev.ActivityTaskCancelRequested():
                s = self.activities.get(e.seq)
                if s is not None:
                    s.notes.append(Note(f"cancellation requested at {fmt_time(e.time)}"))
            case ev.TimerStarted():
                s = self.add(e, f"timer {fmt_duration(e.duration_ms)} #{e.seq}", State.WAITING)
                s.detail = f"fires at {fmt_time(e.fire_at)}"
                self.timers[e.seq] = s
            case ev.TimerFired():
                self.close(self.timers.get(e.seq), e, State.OK, f"fired at {fmt_time(e.time)}")
            case ev.TimerCanceled():
                self.close(self.timers.get(e.seq), e, State.CANCELLED, "cancelled")
            case ev.WorkflowExecutionSignaled():
                s = self.add(
                    e, f"signal {e.signal_name}", State.OK, self.text_of(e.event_id, e.input)
                )
                if e.identity:
                    s.notes.append(Note(f"sent by {e.identity}"))
            case ev.WorkflowExecutionCancelRequested():
                s = self.add(e, "cancel requested", State.CANCELLED, e.reason)
                if e.identity:
                    s.notes.append(Note(f"requested by {e.identity}"))
            case ev.WorkflowExecutionUpdateAccepted():
                s = self.add(
                    e, f"update {e.update_name}", State.RUNNING, self.text_of(e.event_id, e.input)
                )
                s.notes.append(Note(f"update id {e.update_id}"))
                self.updates[e.update_id] = s
            case ev.WorkflowExecutionUpdateCompleted():
                s = self.updates.get(e.update_id)
                if e.failure is not None:
                    self.close(s, e, State.FAILED, describe_failure(e.failure))
                else:
                    self.close(s, e, State.OK, self.text_of(e.event_id, e.result))
            case ev.StartChildWorkflowExecutionInitiated():
                title = f"child {e.workflow_type} {e.workflow_id}"
                s = self.add(e, title, State.WAITING, self.text_of(e.event_id, e.input))
                self.children[e.seq] = s
            case ev.ChildWorkflowExecutionStarted():
                s = self.children.get(e.seq)
                if s is not None:
                    s.state = State.RUNNING
                    s.notes.append(Note(f"run {e.run_id} started at {fmt_time(e.time)}"))
            case ev.StartChildWorkflowExecutionFailed():
                detail = f"could not start: {e.cause.replace('_', ' ')}"
                self.close(self.children.get(e.seq), e, State.FAILED, detail)
            case ev.ChildWorkflowExecutionCompleted():
                self.close(
                    self.children.get(e.seq), e, State.OK, self.text_of(e.event_id, e.result)
                )
            case ev.ChildWorkflowExecutionFailed():
                detail = describe_failure(e.failure)
                self.close(self.children.get(e.seq), e, State.FAILED, detail)
            case ev.SignalExternalWorkflowExecutionInitiated():
                title = f"signal {e.signal_name} → {e.workflow_id}"
                s = self.add(e, title, State.WAITING, self.text_of(e.event_id, e.input))
                self.externals[e.seq] = s
            case ev.RequestCancelExternalWorkflowExecutionInitiated():
                s = self.add(e, f"cancel → {e.workflow_id}", State.WAITING)
                self.externals[e.seq] = s
            case ev.ExternalWorkflowExecutionSignaled():
                self.close(self.externals.get(e.seq), e, State.OK, "delivered")
            case ev.ExternalWorkflowExecutionCancelRequested():
                self.close(self.externals.get(e.seq), e, State.OK, "delivered")
            case ev.ExternalWorkflowRequestFailed():
                detail = describe_failure(e.failure)
                self.close(self.externals.get(e.seq), e, State.FAILED, detail)
            case ev.MarkerRecorded() if e.name == SERVED_MARKER:
                if e.details.get("kind") == "model":
                    self.model_calls += 1  # a fork's model call served, not made
                title, detail, served = served_step(e.details)
                r = e.details.get("r")
                results = self.fork.results if self.fork is not None else ()
                if isinstance(r, int) and 0 <= r < len(results):
                    if e.details.get("kind") == "model":
                        shown = result_detail(MODEL_ACTIVITY, results[r])
                    else:
                        shown = payload_text(results[r])
                    detail = f"{detail}: {shown}" if shown else detail
                self.add(e, title, State.OK if served else State.CANCELLED, detail)
            case ev.LocalActivityRecorded():
                title = f"local activity {e.activity_type} #{e.seq}"
                if e.summary:
                    title += f" ({e.summary})"
                if e.failure is None:
                    s = self.add(e, title, State.OK, self.text_of(e.event_id, e.result))
                elif e.backoff_ms is not None:
                    detail = (
                        f"{describe_failure(e.failure)}; retried in {fmt_duration(e.backoff_ms)}"
                    )
                    s = self.add(e, title, State.WAITING, detail)
                else:
                    s = self.add(e, title, State.FAILED, describe_failure(e.failure))
                s.attempts = e.attempt
            case ev.MarkerRecorded():
                self.add(e, f"marker {e.name}", State.INFO, to_json(e.details) if e.details else "")
            case ev.WorkflowExecutionCompleted():
                self.add(e, "workflow completed", State.OK, self.text_of(e.event_id, e.result))
            case ev.WorkflowExecutionFailed():
                self.add(e, "workflow failed", State.FAILED, describe_failure(e.failure))
            case ev.WorkflowExecutionCanceled():
                self.add(
                    e, "workflow cancelled", State.CANCELLED, self.text_of(e.event_id, e.details)
                )
            case ev.WorkflowExecutionTerminated():
                s = self.add(e, "workflow terminated", State.FAILED, e.reason)
                if e.identity:
                    s.notes.append(Note(f"terminated by {e.identity}"))
            case ev.WorkflowExecutionContinuedAsNew():
                detail = f"new run {e.new_run_id}: {self.text_of(e.event_id, e.input)}"
                self.add(e, "continued as new", State.OK, detail)
            case _:
                pass  # workflow task markers are bookkeeping, not steps


def build_timeline(
    events: Sequence[ev.Event],
    attempts: Sequence[ActivityAttempt] = (),
    pending: Sequence[PendingActivity] = (),
    *,
    now_ms: int,
    detailed: tuple[int, int] | None = None,
    details_memo: dict[int, str] | None = None,
) -> list[Step]:
    """Fold a run's events into timeline steps, in the order they began.

    Args:
        events: The run's history.
        attempts: Failed, timed-out and interrupted activity attempts
            (``ClientBackend.activity_attempts``), listed under their activity.
        pending: Activities not finished yet (``ClientBackend.pending_activities``).
        now_ms: The current time, for "running for ..." notes.
        detailed: Event ids ``(first, last)`` (inclusive) of the steps whose activity
            results are decoded into their detail; the others get an empty detail. For a
            page showing part of a long run (None: all steps).
        details_memo: What activity and local activity results showed, by the event id
            they came with, filled here and reused by the next call on the same run (a
            server keeps one per run): a run's results are decoded once, not per request.
    """
    b = _Builder(now_ms, detailed, details_memo)
    for e in events:
        b.event(e)
    b.result_details()
    b.open_request_details()
    for a in attempts:
        step = b.activities.get(a.seq)
        if step is not None:
            step.notes.append(_attempt_note(a))
            step.attempts = max(step.attempts, a.attempt)
    for p in pending:
        step = b.activities.get(p.seq)
        if step is None:
            continue
        note = _pending_note(p, now_ms)
        step.notes.append(note)
        step.state = State.RUNNING if note.state == State.RUNNING else State.WAITING
        step.attempts = max(step.attempts, p.attempt or 0)
        step.duration_ms = now_ms - step.time
    for step in b.activities.values():
        step.notes.sort(key=lambda n: n.order)  # attempts in order, other notes after
    facts = fork_facts(events)
    if facts is not None:
        note = reused_note(facts)
        for step in b.steps[1:]:
            if step.event_id <= facts.own.prefix_events:
                step.notes.append(Note(note))
    return b.steps


def workflow_tasks(events: Sequence[ev.Event]) -> int:
    """How many workflow tasks the run has completed."""
    return sum(1 for e in events if isinstance(e, ev.WorkflowTaskCompleted))
