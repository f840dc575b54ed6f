"""Temporal histories read as Duragent events: the histories were recorded from real runs on
the dev server (``record_histories.py``), and must give what the embedded engine's history
of the same code gives to timelines, the usage report, approvals and exports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload as TemporalPayload
from temporalio.client import WorkflowHistory as TemporalHistory

from duragent._engine import events as ev
from duragent._engine.failure import FailureKind
from duragent.history import WorkflowHistory
from duragent.temporal.history import (
    HistoryTranslator,
    payload_from_temporal,
    translate_history,
)
from duragent.views.timeline import State, build_timeline

HISTORIES = Path(__file__).parent.parent / "fixtures" / "temporal_histories"


def load(name: str) -> tuple[TemporalHistory, list[ev.Event]]:
    history = TemporalHistory.from_json(f"{name}-1", (HISTORIES / f"{name}.json").read_text())
    return history, translate_history(history.events, f"{name}-1")


def of(events: list[ev.Event], cls: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, cls)]


def rows(events: list[ev.Event]) -> list[tuple[str, str]]:
    return [(s.title, s.state) for s in build_timeline(events, now_ms=0)]


def value(payload: Any) -> Any:
    return payload.to_json_value()


def test_activities_keep_their_ids_attempts_and_workers() -> None:
    history, events = load("Activities")
    started = events[0]
    assert isinstance(started, ev.WorkflowExecutionStarted)
    assert (started.workflow_type, started.workflow_id, started.task_queue) == (
        "Activities",
        "Activities-1",
        "app",
    )
    assert [value(p) for p in started.input] == [{"item": "tea", "quantity": 2, "tags": []}]
    scheduled = of(events, ev.ActivityTaskScheduled)
    assert [(s.seq, s.activity_type) for s in scheduled] == [
        (1, "describe"),
        (2, "multiply"),
        (3, "multiply"),
        (4, "lookup"),
    ]
    assert scheduled[0].start_to_close_timeout_ms == 10_000
    assert scheduled[0].heartbeat_timeout_ms is None
    completed = of(events, ev.ActivityTaskCompleted)
    assert [c.seq for c in completed] == [1, 2, 3, 4]
    assert all(c.attempt == 1 and c.worker and c.started_time > 0 for c in completed)
    run_id = history.events[0].workflow_execution_started_event_attributes.original_execution_run_id
    assert value(completed[0].result) == f"teax2|describe|{run_id}:1"
    # Event ids are Temporal's (the Temporal UI names the same event), in order.
    ids = [e.event_id for e in events]
    assert ids == sorted(ids) and set(ids) <= {e.event_id for e in history.events}
    tasks = of(events, ev.WorkflowTaskCompleted)
    assert tasks and all(t.worker == completed[0].worker for t in tasks)
    assert all(t.processed_through == t.event_id - 1 for t in tasks)
    assert rows(events) == [
        ("workflow started", State.INFO),
        ("activity describe #1", State.OK),
        ("activity multiply #2", State.OK),
        ("activity multiply #3", State.OK),
        ("activity lookup #4", State.OK),
        ("workflow completed", State.OK),
    ]


def test_retries_failures_and_retry_policies() -> None:
    _, events = load("Retries")
    flaky = of(events, ev.ActivityTaskScheduled)[0]
    assert flaky.retry_policy is not None
    assert flaky.retry_policy.maximum_attempts == 3
    assert flaky.retry_policy.initial_interval.total_seconds() == 0.01
    assert not flaky.at_most_once
    assert of(events, ev.ActivityTaskCompleted)[0].attempt == 3
    failed = of(events, ev.ActivityTaskFailed)
    declined, by_type, exhausted = (f.failure for f in failed)
    assert (declined.type, declined.non_retryable, declined.message) == (
        "Declined",
        True,
        "card declined",
    )
    assert [value(d) for d in declined.details] == [{"code": 51}]
    assert (by_type.type, by_type.non_retryable) == ("ValueError", False)
    assert [f.attempt for f in failed] == [1, 1, 3]
    assert exhausted.kind == FailureKind.APPLICATION
    assert of(events, ev.ActivityTaskScheduled)[2].retry_policy.non_retryable_error_types == (
        "ValueError",
    )


def test_timeouts_keep_their_type() -> None:
    _, events = load("Timeouts")
    timed_out = of(events, ev.ActivityTaskTimedOut)
    assert [(t.failure.kind, t.failure.type) for t in timed_out] == [
        (FailureKind.TIMEOUT, "START_TO_CLOSE"),
        (FailureKind.TIMEOUT, "SCHEDULE_TO_CLOSE"),
        (FailureKind.TIMEOUT, "HEARTBEAT"),
    ]
    assert [s for _, s in rows(events)[1:4]] == [State.TIMED_OUT] * 3


def test_an_interrupted_at_most_once_attempt_reads_as_on_the_embedded_engine() -> None:
    _, events = load("AtMostOnce")
    scheduled = of(events, ev.ActivityTaskScheduled)
    assert [s.at_most_once for s in scheduled] == [True, True]
    # The timeout types Duragent adds for at-most-once calls are not the user's policy.
    for s in scheduled:
        assert s.retry_policy is None or not s.retry_policy.non_retryable_error_types
    (failed,) = of(events, ev.ActivityTaskFailed)
    assert failed.failure.type == "ActivityAttemptInterrupted"
    assert failed.failure.non_retryable
    assert failed.failure.cause is not None and failed.failure.cause.type == "START_TO_CLOSE"
    assert not of(events, ev.ActivityTaskTimedOut)
    assert value(of(events, ev.ActivityTaskCompleted)[0].result) == "paid"


def test_heartbeats_cancellations_and_timers() -> None:
    _, events = load("Heartbeats")
    assert of(events, ev.ActivityTaskCompleted)[0].attempt == 2
    assert [c.seq for c in of(events, ev.ActivityTaskCancelRequested)] == [2, 3]
    assert [c.seq for c in of(events, ev.ActivityTaskCanceled)] == [2, 3]
    timers = of(events, ev.TimerStarted)
    assert [(t.seq, t.duration_ms) for t in timers] == [(1, 500), (2, 500), (3, 1000)]
    assert all(t.fire_at == t.time + t.duration_ms for t in timers)
    assert [f.seq for f in of(events, ev.TimerFired)] == [1, 2, 3]
    assert ("activity wait_for_cancel_async #2", State.CANCELLED) in rows(events)


def test_signals_updates_and_patches() -> None:
    _, events = load("Messages")
    signals = of(events, ev.WorkflowExecutionSignaled)
    assert [(s.signal_name, [value(p) for p in s.input]) for s in signals] == [
        ("add", ["a"]),
        ("late", ["x"]),
        ("finish", []),
    ]
    assert all(s.identity for s in signals)
    (accepted,) = of(events, ev.WorkflowExecutionUpdateAccepted)
    (completed,) = of(events, ev.WorkflowExecutionUpdateCompleted)
    assert accepted.update_name == "add_checked"
    assert [value(p) for p in accepted.input] == [{"item": "u", "quantity": 1}]
    assert completed.update_id == accepted.update_id
    assert completed.failure is None and value(completed.result) == 3
    _, timers = load("Timers")
    (patch,) = of(timers, ev.MarkerRecorded)
    assert (patch.name, patch.details) == ("patch", {"id": "v2", "deprecated": False})


def test_children_external_signals_and_continue_as_new() -> None:
    _, events = load("Parent")
    initiated = of(events, ev.StartChildWorkflowExecutionInitiated)
    assert [(c.seq, c.workflow_type, c.workflow_id) for c in initiated] == [
        (1, "Child", "Parent-1/child-1"),
        (2, "Child", "Parent-1/bad"),
    ]
    assert all(c.parent_close_policy == "terminate" for c in initiated)
    assert [s.seq for s in of(events, ev.ChildWorkflowExecutionStarted)] == [1, 2]
    (done,) = of(events, ev.ChildWorkflowExecutionCompleted)
    assert value(done.result) == "Parent-1/child-1|Parent-1|6"
    (failed,) = of(events, ev.ChildWorkflowExecutionFailed)
    assert (failed.seq, failed.failure.type, failed.failure.message) == (2, "Negative", "negative")

    _, sender = load("Sender")
    (sent,) = of(sender, ev.SignalExternalWorkflowExecutionInitiated)
    assert (sent.workflow_id, sent.signal_name, sent.seq) == ("Receiver-1", "deliver", 1)
    assert [s.seq for s in of(sender, ev.ExternalWorkflowExecutionSignaled)] == [1]
    _, receiver = load("Receiver")
    assert [s.signal_name for s in of(receiver, ev.WorkflowExecutionSignaled)] == ["deliver"]

    _, counter = load("CounterFirstRun")
    close = counter[-1]
    assert isinstance(close, ev.WorkflowExecutionContinuedAsNew)
    assert close.new_run_id and [value(p) for p in close.input] == [1, 1]


def test_failed_cancelled_and_terminated_runs() -> None:
    _, events = load("Failing")
    close = events[-1]
    assert isinstance(close, ev.WorkflowExecutionFailed)
    assert (close.failure.type, close.failure.non_retryable) == ("NoLuck", True)
    assert [value(d) for d in close.failure.details] == ["detail"]
    _, bug = load("FailingBug")
    assert isinstance(bug[-2], ev.WorkflowExecutionCancelRequested)
    terminated = bug[-1]
    assert isinstance(terminated, ev.WorkflowExecutionTerminated)
    assert terminated.reason == "enough" and terminated.identity


def test_agent_runs_show_model_and_tool_rows_with_usage() -> None:
    _, events = load("AgentWeather")
    assert [t for t, _ in rows(events)] == [
        "workflow started",
        "model call 1: weather",
        "tool get_weather #2",
        "model call 2: weather",
        "tool convert #4",
        "model call 3: weather",
        "workflow completed",
    ]
    models = [
        s for s in of(events, ev.ActivityTaskScheduled) if s.activity_type.endswith("invoke_model")
    ]
    assert [m.summary for m in models] == ["weather"] * 3
    results = {c.seq: value(c.result) for c in of(events, ev.ActivityTaskCompleted)}
    usage = results[1]["response"]["usage"]
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    steps = build_timeline(events, now_ms=0)
    assert "in / " in steps[1].detail and "get_weather" in steps[1].detail


def test_approval_requests_come_back_as_markers() -> None:
    _, pending = load("AgentBankPending")
    (marker,) = of(pending, ev.MarkerRecorded)
    assert marker.name == "duragent.approval_requested"
    assert marker.details["tool"] == "send_money"
    _, decided = load("AgentBank")
    (update,) = of(decided, ev.WorkflowExecutionUpdateAccepted)
    assert update.update_name == "duragent_decide_approval"
    assert value(update.input[0])["call_id"] == marker.details["call_id"]


@pytest.mark.parametrize("name", sorted(p.stem for p in HISTORIES.glob("*.json")))
def test_every_translated_history_exports_and_reads_back(name: str) -> None:
    history, events = load(name)
    exported = WorkflowHistory(f"{name}-1", "run", events).to_json()
    again = WorkflowHistory.from_json(exported)
    assert list(again.events) == events
    # Fed page by page, the translator gives the same events.
    translator = HistoryTranslator(f"{name}-1")
    paged: list[ev.Event] = []
    for i in range(0, len(history.events), 7):
        paged += translator.translate(history.events[i : i + 7])
    assert paged == events
    assert translator.last_event_id == history.events[-1].event_id


def test_payloads_duragent_cannot_read_are_described_not_fatal() -> None:
    binary = TemporalPayload(metadata={"encoding": b"binary/plain"}, data=b"\x00\x01")
    assert value(payload_from_temporal(binary)) == (
        "<binary/plain payload of 2 bytes, not readable by Duragent>"
    )
    broken = TemporalPayload(metadata={"encoding": b"json/plain"}, data=b"{not json")
    assert "json/plain payload of 9 bytes" in value(payload_from_temporal(broken))
    null = TemporalPayload(metadata={"encoding": b"binary/null"})
    assert value(payload_from_temporal(null)) is None
    proto = TemporalPayload(metadata={"encoding": b"json/protobuf"}, data=b'{"a": 1}')
    assert value(payload_from_temporal(proto)) == {"a": 1}
