"""The fork document (a persisted format) and the pure fork planning: events in, plans out."""

from __future__ import annotations

from pathlib import Path

import pytest

from duragent import ForkError, WorkflowHistory
from duragent._engine import events as ev
from duragent._engine.fork import plan_cut
from duragent._fork.spec import (
    SERVED_MARKER,
    ForkSpec,
    canonical_arguments,
    request_digest,
    request_key,
)
from duragent.errors import SerializationError
from duragent.serde import DataConverter, Payload

GOLDEN = Path(__file__).parents[1] / "durable_agents" / "golden" / "v2" / "fork.json"
P = Payload(b"json/1\n1")


def test_the_frozen_fork_history_keeps_its_format() -> None:
    events = WorkflowHistory.from_json(GOLDEN.read_text()).events
    start = events[0]
    assert isinstance(start, ev.WorkflowExecutionStarted) and start.fork is not None
    own = ForkSpec.from_payload(start.fork).own
    assert (own.at_model_call, own.tools, own.models) == (2, "recorded", "recorded")
    assert own.source_workflow_id == "golden-fork-source"
    served = [e for e in events if isinstance(e, ev.MarkerRecorded) and e.name == SERVED_MARKER]
    assert {d.details["kind"] for d in served} == {"model", "tool"}
    assert all(0 <= d.details["r"] < len(start.fork_results) for d in served)


def test_a_newer_fork_document_is_refused_by_name() -> None:
    newer = DataConverter().encode({"v": 2, "layers": []})
    with pytest.raises(SerializationError, match=r"version 2.*newer Duragent"):
        ForkSpec.from_payload(newer)


def test_tool_arguments_match_whatever_their_spelling() -> None:
    assert canonical_arguments('{"b": 1, "a": [2]}') == canonical_arguments('{"a":[2],"b":1}')
    assert canonical_arguments("not json ") == "not json"


def test_a_request_read_back_from_the_store_has_the_digest_it_was_recorded_with(
    tmp_path: Path,
) -> None:
    from duragent.store.base import StartRequest
    from duragent.store.sqlite import SqliteStore

    big = DataConverter().encode({"input": [{"role": "user", "content": "x" * 40}] * 50})
    store = SqliteStore(str(tmp_path / "d.db"))
    run = store.start_workflow(StartRequest("w", "W", "q", input=(big,)), 1).run_id
    (start,) = store.read_history(run)
    assert isinstance(start, ev.WorkflowExecutionStarted)
    assert request_digest(start.input[0]) == request_digest(big)
    store.close()


def test_requests_of_every_agent_wire_version_match_when_they_mean_the_same() -> None:
    encode = DataConverter().encode
    body = {"config": {"model": "v1", "agent": "a"}, "input": "hi"}
    v1, v2 = encode(body), encode({"v": 2, **body})
    v3 = encode({"v": 3, **body, "stream": False})
    assert request_key(v1) == request_key(v2) == request_key(v3)
    assert request_digest(v2) != request_digest(v3)  # what the fork document stores
    assert request_key(encode({"v": 3, **body, "stream": True})) != request_key(v3)
    assert request_key(encode({"v": 3, **body, "input": "ho"})) != request_key(v3)


def _history() -> list[ev.Event]:
    """Task 1 starts an at-most-once activity (1), an activity (2) and a timer (3); task 2
    (cut here) ran while activity 2's result arrived (event 9)."""
    e: list[ev.Event] = [
        ev.WorkflowExecutionStarted(
            event_id=1, time=0, workflow_type="w", workflow_id="w", task_queue="q"
        ),
        ev.WorkflowTaskCompleted(event_id=2, time=10, processed_through=1),
        ev.ActivityTaskScheduled(
            event_id=3, time=10, seq=1, activity_type="pay", task_queue="q", at_most_once=True
        ),
        ev.ActivityTaskScheduled(event_id=4, time=10, seq=2, activity_type="get", task_queue="q"),
        ev.TimerStarted(event_id=5, time=10, seq=3, duration_ms=1000, fire_at=1010),
        ev.ActivityTaskScheduled(event_id=6, time=10, seq=4, activity_type="m", task_queue="q"),
        ev.ActivityTaskCompleted(event_id=7, time=20, seq=4, result=P, attempt=1, started_time=11),
        ev.WorkflowTaskCompleted(event_id=8, time=30, processed_through=7),
        ev.ActivityTaskCompleted(event_id=9, time=31, seq=2, result=P, attempt=1, started_time=11),
        ev.ActivityTaskScheduled(event_id=10, time=30, seq=5, activity_type="m", task_queue="q"),
    ]
    return e


def test_work_in_flight_at_the_cut_takes_the_source_outcome_or_counts_as_started() -> None:
    cut = plan_cut(_history(), 8)
    assert cut.copied == (2, 3, 4, 5, 6, 7)  # event 9 arrived while the cut task ran
    assert cut.resolved == (9,)  # activity 2's result, from the source
    assert [a.seq for a in cut.interrupted] == [1]  # at-most-once, never finished
    assert cut.rerun == ()
    assert [(t.seq, t.remaining_ms) for t in cut.timers] == [(3, 980)]
    assert cut.prefix_events == 7 and cut.processed_through == 1


def test_a_cut_must_be_a_workflow_task() -> None:
    with pytest.raises(ForkError, match="event 7 is not a workflow task"):
        plan_cut(_history(), 7)
    with pytest.raises(ForkError, match="no event 99"):
        plan_cut(_history(), 99)
