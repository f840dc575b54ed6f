"""Events survive both encodings: by name (history exports) and by position (the store)."""

from __future__ import annotations

from typing import Any

import pytest

from duragent import RetryPolicy, StoreVersionError
from duragent._engine import events as ev
from duragent._engine.failure import Failure
from duragent.serde import Payload

from .history_builder import payload


def _out(p: Payload) -> Any:
    return p.data.decode()


def _in(value: Any) -> Payload:
    return Payload(str(value).encode())


SAMPLES: list[ev.Event] = [
    ev.WorkflowExecutionStarted(
        event_id=1,
        time=5,
        workflow_type="W",
        workflow_id="w",
        task_queue="q",
        input=(payload(1), payload("two")),
    ),
    ev.WorkflowTaskCompleted(event_id=2, time=6, processed_through=1, worker="w-1"),
    ev.ActivityTaskScheduled(
        event_id=3,
        time=6,
        seq=1,
        activity_type="a",
        task_queue="q",
        input=(payload({"k": [1, 2]}),),
        start_to_close_timeout_ms=1000,
        retry_policy=RetryPolicy(maximum_attempts=3),
        summary="s",
    ),
    # Defaults in the middle and at the end: at_most_once=True after several defaults.
    ev.ActivityTaskScheduled(
        event_id=4, time=6, seq=2, activity_type="b", task_queue="q", at_most_once=True
    ),
    ev.ActivityTaskCompleted(
        event_id=5, time=7, seq=1, result=payload(None), attempt=2, started_time=6
    ),
    ev.WorkflowExecutionFailed(
        event_id=6, time=8, failure=Failure(message="boom", kind="application", type="E")
    ),
    # One field: plain, an encoded one set, and an encoded one left at its default.
    ev.TimerFired(event_id=7, time=9, seq=3),
    ev.WorkflowExecutionCanceled(event_id=8, time=9, details=(payload("why"),)),
    ev.WorkflowExecutionCanceled(event_id=9, time=9),
]


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: f"{e.TYPE}-{e.event_id}")
def test_both_encodings_round_trip(event: ev.Event) -> None:
    named = ev.encode_event_attributes(event, _out)
    positional = ev.encode_event_fields(event, _out)
    assert isinstance(positional, list)
    for attrs in (named, positional):
        again = ev.decode_event(event.TYPE, event.event_id, event.time, attrs, _in)
        assert again == event


def test_positional_form_leaves_trailing_defaults_out() -> None:
    plain = ev.ActivityTaskScheduled(event_id=1, time=1, seq=7, activity_type="a", task_queue="q")
    assert ev.encode_event_fields(plain, _out) == [7, "a", "q"]
    marked = ev.ActivityTaskScheduled(
        event_id=1, time=1, seq=7, activity_type="a", task_queue="q", at_most_once=True
    )
    assert ev.encode_event_fields(marked, _out) == [7, "a", "q", [], None, None, None, None, True]


def test_positional_form_of_one_field_events() -> None:
    assert ev.encode_event_fields(ev.TimerFired(event_id=1, time=1, seq=3), _out) == [3]
    assert ev.encode_event_fields(ev.WorkflowExecutionCanceled(event_id=1, time=1), _out) == []


def test_an_event_with_more_fields_than_known_is_refused_clearly() -> None:
    attrs = [1, "w-1", "a field from a newer Duragent"]
    with pytest.raises(StoreVersionError, match="more than this Duragent knows"):
        ev.decode_event("WorkflowTaskCompleted", 9, 1, attrs, _in)
