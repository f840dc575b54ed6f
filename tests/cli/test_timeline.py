"""The timeline of ``duragent show``, built from hand-written histories (no store needed)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from rich.console import Console

from duragent._backend.records import ActivityAttempt, PendingActivity
from duragent._engine import events as ev
from duragent._engine.failure import Failure
from duragent.cli.show_cmd import _timeline  # pyright: ignore[reportPrivateUsage]
from duragent.serde import Payload
from duragent.views.timeline import State, Step, build_timeline, workflow_tasks

T0 = 1_700_000_000_000


def _p(json_text: str) -> Payload:
    return Payload(b"json/1\n" + json_text.encode())


def _started(**kw: object) -> ev.WorkflowExecutionStarted:
    return ev.WorkflowExecutionStarted(
        event_id=1,
        time=T0,
        workflow_type="Agent",
        workflow_id="a-1",
        task_queue="q",
        input=(_p('"plan a trip"'),),
        **kw,  # type: ignore[arg-type]
    )


def _by_title(steps: list[Step]) -> dict[str, Step]:
    return {s.title: s for s in steps}


def test_activities_with_attempts_and_pending_work() -> None:
    events: list[ev.Event] = [
        _started(),
        ev.WorkflowTaskCompleted(event_id=2, time=T0 + 5, processed_through=1),
        ev.ActivityTaskScheduled(
            event_id=3,
            time=T0 + 5,
            seq=1,
            activity_type="search",
            task_queue="q",
            input=(_p('"flights"'),),
        ),
        ev.ActivityTaskScheduled(
            event_id=4, time=T0 + 5, seq=2, activity_type="book", task_queue="q", summary="hotel"
        ),
        ev.ActivityTaskScheduled(
            event_id=5, time=T0 + 5, seq=3, activity_type="pay", task_queue="q"
        ),
        ev.ActivityTaskScheduled(
            event_id=6, time=T0 + 5, seq=4, activity_type="mail", task_queue="q"
        ),
        ev.ActivityTaskCompleted(
            event_id=7,
            time=T0 + 905,
            seq=1,
            result=_p('["LH 123"]'),
            attempt=3,
            started_time=T0 + 800,
        ),
        ev.ActivityTaskFailed(
            event_id=8,
            time=T0 + 1005,
            seq=2,
            failure=Failure(message="no rooms", type="SoldOut", non_retryable=True),
            attempt=1,
        ),
    ]
    attempts = [
        ActivityAttempt(
            **{
                "seq": 1,
                "attempt": a,
                "started_at": T0 + 10 * a,
                "ended_at": T0 + 10 * a + 7,
                "worker": "w-1",
                "outcome": outcome,
                "failure": Failure(message=f"boom {a}", type="HTTPError"),
            }
        )
        for a, outcome in ((1, "failed"), (2, "timed_out"))
    ]
    pending = [
        PendingActivity(
            **{
                "seq": 3,
                "activity_type": "pay",
                "attempt": 2,
                "owner": "w-2",
                "visible_at": T0,
                "started_at": T0 + 2000,
                "last_failure": Failure(message="card declined"),
            }
        ),
        PendingActivity(
            **{
                "seq": 4,
                "activity_type": "mail",
                "attempt": 1,
                "owner": None,
                "visible_at": T0 + 3_600_000,
                "started_at": None,
                "last_failure": Failure(message="smtp down"),
            }
        ),
    ]
    steps = build_timeline(events, attempts, pending, now_ms=T0 + 3000)
    assert [s.title for s in steps] == [
        "workflow started",
        "activity search #1",
        "activity book #2 (hotel)",
        "activity pay #3",
        "activity mail #4",
    ]
    started, search, book, pay, mail = steps
    assert started.detail == '"plan a trip"'

    assert search.state == State.OK
    assert search.detail == '["LH 123"]'
    assert search.attempts == 3
    assert search.duration_ms == 900
    assert [n.text for n in search.notes] == [
        "attempt 1 failed after 7ms on w-1: HTTPError: boom 1",
        "attempt 2 timed out after 7ms on w-1: HTTPError: boom 2",
        "attempt 3 completed in 105ms",
    ]

    assert book.state == State.FAILED
    assert book.detail == "SoldOut: no rooms"

    assert pay.state == State.RUNNING
    assert pay.attempts == 2
    assert pay.notes[0].text == (
        "attempt 2 running on w-2 for 1.00s; last failure: application: card declined"
    )

    assert mail.state == State.WAITING
    assert mail.notes[0].text.startswith("attempt 2 due at ")
    assert mail.notes[0].text.endswith("last failure: application: smtp down")
    assert workflow_tasks(events) == 1


def test_timers_signals_updates_children_and_close() -> None:
    child_failure = Failure(message="child failed", kind="child_workflow")
    events: list[ev.Event] = [
        _started(parent_workflow_id="boss", continued_from_run_id="r0"),
        ev.TimerStarted(event_id=2, time=T0, seq=1, duration_ms=60_000, fire_at=T0 + 60_000),
        ev.TimerStarted(event_id=3, time=T0, seq=2, duration_ms=5_000, fire_at=T0 + 5_000),
        ev.TimerStarted(event_id=4, time=T0, seq=3, duration_ms=1_000, fire_at=T0 + 1_000),
        ev.TimerFired(event_id=5, time=T0 + 1_002, seq=3),
        ev.TimerCanceled(event_id=6, time=T0 + 2_000, seq=2),
        ev.WorkflowExecutionSignaled(
            event_id=7, time=T0 + 2_100, signal_name="approve", input=(_p("true"),), identity="ann"
        ),
        ev.WorkflowExecutionUpdateAccepted(
            event_id=8, time=T0 + 2_200, update_id="u1", update_name="ask", input=(_p('"?"'),)
        ),
        ev.WorkflowExecutionUpdateCompleted(
            event_id=9, time=T0 + 2_300, update_id="u1", result=_p('"!"')
        ),
        ev.StartChildWorkflowExecutionInitiated(
            event_id=10,
            time=T0 + 2_400,
            seq=4,
            workflow_type="Sub",
            workflow_id="sub-1",
            task_queue="q",
        ),
        ev.ChildWorkflowExecutionStarted(
            event_id=11, time=T0 + 2_500, seq=4, workflow_id="sub-1", run_id="cr"
        ),
        ev.ChildWorkflowExecutionFailed(event_id=12, time=T0 + 3_400, seq=4, failure=child_failure),
        ev.StartChildWorkflowExecutionInitiated(
            event_id=13,
            time=T0 + 3_500,
            seq=5,
            workflow_type="Sub",
            workflow_id="sub-2",
            task_queue="q",
        ),
        ev.StartChildWorkflowExecutionFailed(
            event_id=14, time=T0 + 3_600, seq=5, workflow_id="sub-2", cause="already_started"
        ),
        ev.SignalExternalWorkflowExecutionInitiated(
            event_id=15, time=T0 + 3_700, seq=6, workflow_id="peer", signal_name="ping"
        ),
        ev.ExternalWorkflowExecutionSignaled(event_id=16, time=T0 + 3_800, seq=6),
        ev.RequestCancelExternalWorkflowExecutionInitiated(
            event_id=17, time=T0 + 3_900, seq=7, workflow_id="gone"
        ),
        ev.ExternalWorkflowRequestFailed(
            event_id=18,
            time=T0 + 4_000,
            seq=7,
            failure=Failure(message="workflow 'gone' not found"),
        ),
        ev.MarkerRecorded(event_id=19, time=T0 + 4_100, name="patch", details={"id": "v2"}),
        ev.WorkflowExecutionCancelRequested(
            event_id=20, time=T0 + 4_200, reason="user quit", identity="cli"
        ),
        ev.WorkflowExecutionCanceled(event_id=21, time=T0 + 4_300),
    ]
    steps = build_timeline(events, now_ms=T0 + 5_000)
    by = _by_title(steps)
    assert [n.text for n in by["workflow started"].notes] == [
        "child of workflow boss",
        "continued from run r0",
    ]
    assert by["timer 1m00s #1"].state == State.WAITING
    assert by["timer 5.00s #2"].state == State.CANCELLED
    assert by["timer 1.00s #3"].state == State.OK
    assert by["timer 1.00s #3"].duration_ms == 1_002
    assert by["signal approve"].detail == "true"
    assert by["signal approve"].notes[0].text == "sent by ann"
    assert by["update ask"].state == State.OK
    assert by["update ask"].detail == '"!"'
    assert by["child Sub sub-1"].state == State.FAILED
    assert "child failed" in by["child Sub sub-1"].detail
    assert by["child Sub sub-1"].notes[0].text.startswith("run cr started at")
    assert by["child Sub sub-2"].detail == "could not start: already started"
    assert by["signal ping → peer"].state == State.OK
    assert by["cancel → gone"].state == State.FAILED
    assert by["marker patch"].detail == '{"id": "v2"}'
    assert by["cancel requested"].detail == "user quit"
    assert steps[-1].title == "workflow cancelled"


def test_close_events() -> None:
    failure = Failure(
        message="activity failed", kind="activity", cause=Failure(message="quota", type="RateLimit")
    )
    cases: list[tuple[ev.Event, str, str]] = [
        (
            ev.WorkflowExecutionCompleted(event_id=2, time=T0, result=_p('{"ok": 1}')),
            "workflow completed",
            '{"ok": 1}',
        ),
        (
            ev.WorkflowExecutionFailed(event_id=2, time=T0, failure=failure),
            "workflow failed",
            "activity: activity failed (cause: RateLimit: quota)",
        ),
        (
            ev.WorkflowExecutionTerminated(event_id=2, time=T0, reason="stuck"),
            "workflow terminated",
            "stuck",
        ),
        (
            ev.WorkflowExecutionContinuedAsNew(
                event_id=2,
                time=T0,
                new_run_id="r2",
                workflow_type="Agent",
                task_queue="q",
                input=(_p("7"),),
            ),
            "continued as new",
            "new run r2: 7",
        ),
    ]
    for close, title, detail in cases:
        steps = build_timeline([_started(), close], now_ms=T0)
        assert (steps[-1].title, steps[-1].detail) == (title, detail)


def test_rendered_timeline_truncates_long_results() -> None:
    long_result = '"' + "x" * 500 + '"'
    events: list[ev.Event] = [
        _started(),
        ev.ActivityTaskScheduled(event_id=2, time=T0, seq=1, activity_type="llm", task_queue="q"),
        ev.ActivityTaskCompleted(
            event_id=3, time=T0 + 1500, seq=1, result=_p(long_result), attempt=1, started_time=T0
        ),
    ]
    steps = build_timeline(events, now_ms=T0 + 2000)
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, color_system=None)
    console.print(_timeline(steps, datetime.fromtimestamp(T0 / 1000, tz=UTC)))
    text = buffer.getvalue()
    assert "activity llm #1" in text
    assert "1.50s" in text
    assert "x" * 78 + "…" in text
    assert "x" * 100 not in text


def test_local_activities_are_steps_with_their_outcome() -> None:
    def local(event_id: int, seq: int, **kw: object) -> ev.LocalActivityRecorded:
        return ev.LocalActivityRecorded(
            event_id=event_id,
            time=T0,
            seq=seq,
            activity_type="lookup",
            **kw,  # type: ignore[arg-type]
        )

    steps = build_timeline(
        [
            _started(),
            local(2, 1, attempt=2, result=_p('"cached"'), summary="cache"),
            local(3, 2, attempt=1, failure=Failure(message="busy"), backoff_ms=90_000),
            local(4, 2, attempt=2, failure=Failure(message="gone", type="NotFound")),
        ],
        now_ms=T0,
    )
    shown = [(s.title, s.state, s.detail, s.attempts) for s in steps[1:]]
    assert shown == [
        ("local activity lookup #1 (cache)", State.OK, '"cached"', 2),
        ("local activity lookup #2", State.WAITING, "application: busy; retried in 1m30s", 1),
        ("local activity lookup #2", State.FAILED, "NotFound: gone", 2),
    ]


class _Unreadable(Payload):
    """A result that must not be decoded (it raises if it is)."""

    def __init__(self) -> None:
        super().__init__(load=self._fail)

    @staticmethod
    def _fail() -> bytes:
        raise AssertionError("a result outside the detailed range was decoded")


def test_only_the_detailed_range_decodes_activity_results() -> None:
    events: list[ev.Event] = [_started()]
    for seq in (1, 2, 3):
        first = 2 * seq
        events.append(
            ev.ActivityTaskScheduled(
                event_id=first, time=T0, seq=seq, activity_type="fetch", task_queue="q"
            )
        )
        result = _p(f'"page {seq}"') if seq == 2 else _Unreadable()
        events.append(
            ev.ActivityTaskCompleted(
                event_id=first + 1,
                time=T0 + 9,
                seq=seq,
                result=result,
                attempt=1,
                started_time=T0,
            )
        )
    steps = _by_title(build_timeline(events, now_ms=T0 + 10, detailed=(4, 5)))
    assert steps["activity fetch #2"].detail == '"page 2"'
    for outside in ("activity fetch #1", "activity fetch #3"):
        # Outside the range: the step is there, ended, timed; only its detail is left out.
        assert steps[outside].detail == ""
        assert steps[outside].state == State.OK
        assert steps[outside].duration_ms == 9
