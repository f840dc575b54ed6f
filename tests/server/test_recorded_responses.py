"""The conversation and timeline endpoints' bodies on recorded runs (tests/server/recorded):
built with the memos a server keeps per run, read whole or cut mid-run and then grown, they
are byte for byte what the server answered before it had memos (b731e89), and a grown run
decodes only its new events' payloads."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from duragent._engine import events as ev
from duragent.history import WorkflowHistory
from duragent.openai_agents import MODEL_ACTIVITY, TOOL_ACTIVITY
from duragent.serde import DataConverter, Payload
from duragent.server.api import conversation_body, timeline_body
from duragent.views.agent_rows import MCP_CALL
from duragent.views.conversation import ConversationMemo, ToolCard, build_conversation
from duragent.views.timeline import build_timeline

from .recorded.make_recorded import cuts
from .ui_app import LOOPER_CALLS

RECORDED = Path(__file__).parent / "recorded"
NAMES = ("looper", "refunder", "refunder-rejected", "pipeline")


class _Memo:
    """What a server keeps of one run (``source._RunMemo``'s view memos)."""

    def __init__(self) -> None:
        self.conversation = ConversationMemo()
        self.details: dict[int, str] = {}


def _text(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, default=str)  # as api.json_response writes


def _bodies(history: WorkflowHistory, events: list[ev.Event], memo: _Memo | None) -> dict[str, str]:
    """The two bodies as the endpoints build them (whole run, no attempts or pending)."""
    steps = build_timeline(events, now_ms=0, details_memo=memo.details if memo else None)
    conv = build_conversation(
        events, now_ms=0, steps=steps, memo=memo.conversation if memo else None
    )
    return {
        "conversation": _text(conversation_body(history.workflow_id, history.run_id, conv, None)),
        "timeline": _text(timeline_body(steps)),
    }


def _payloads(e: ev.Event) -> Iterator[Payload]:
    for value in (getattr(e, f.name) for f in dataclasses.fields(e)):
        if isinstance(value, Payload):
            yield value
        elif isinstance(value, tuple):
            yield from (p for p in value if isinstance(p, Payload))  # pyright: ignore[reportUnknownVariableType]


@pytest.mark.parametrize("name", NAMES)
def test_grown_runs_answer_the_recorded_bodies_decoding_only_new_events(name: str) -> None:
    history = WorkflowHistory.from_json((RECORDED / f"{name}.history.json").read_text())
    recorded: dict[str, dict[str, str]] = json.loads(
        (RECORDED / f"{name}.responses.json").read_text()
    )
    events = list(history.events)
    ends = [*cuts(len(events)), len(events)]
    assert sorted(recorded, key=int) == [str(events[end - 1].event_id) for end in ends]
    memo = _Memo()
    decoded: Counter[int] = Counter()
    real = Payload.to_json_value

    def counting(payload: Payload) -> Any:
        decoded[id(payload)] += 1
        return real(payload)

    before = 0
    for end in ends:
        want = recorded[str(events[end - 1].event_id)]
        assert _bodies(history, events[:end], None) == want  # no memo: as recorded
        decoded.clear()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(Payload, "to_json_value", counting)
            assert _bodies(history, events[:end], memo) == want
            new = {id(p) for e in events[before:end] for p in _payloads(e)}
            # Only the payloads of the events read since, each at most once per view.
            assert set(decoded) <= new, f"decoded again after event {before}"
            assert max(decoded.values(), default=0) <= 2
            decoded.clear()
            assert _bodies(history, events[:end], memo) == want
            where = [
                (e.event_id, type(e).__name__)
                for e in events[:end]
                for p in _payloads(e)
                if id(p) in decoded
            ]
            assert not where  # the same history again: nothing
        before = end


def test_pages_of_a_recorded_run_are_slices_of_its_whole_conversation() -> None:
    history = WorkflowHistory.from_json((RECORDED / "looper.history.json").read_text())
    events = list(history.events)
    whole = json.loads(_bodies(history, events, None)["conversation"])
    memo = ConversationMemo()
    items: list[Any] = []
    first: int | None = 1
    pages = 0
    while first is not None:
        steps = build_timeline(events, now_ms=0)
        conv = build_conversation(
            events, now_ms=0, steps=steps, window=(first, first + 6), memo=memo
        )
        page = conversation_body(history.workflow_id, history.run_id, conv, (first, first + 6))
        assert page["from"] == first and page["model_calls"] == 30
        assert page["pending_approvals"] == whole["pending_approvals"] == []
        items.extend(json.loads(_text(page["items"])))
        first = page["next_from"]
        pages += 1
    assert pages == 5 and items == whole["items"]
    assert page["to"] == 30  # pyright: ignore[reportPossiblyUnboundVariable]
    steps = json.loads(_bodies(history, events, None)["timeline"])["steps"]
    built = build_timeline(events, now_ms=0)
    after, shown = 0, []
    while after is not None:
        page = json.loads(_text(timeline_body(built, after, 50)))
        shown.extend(page["steps"])
        after = page["next_after"]
    assert shown == steps


def test_a_page_read_again_reads_every_request_once() -> None:
    """A page further on reads only the requests it needs on its first build; built again
    (a run requested twice), it reads every request once, in order, and then none."""
    history = WorkflowHistory.from_json((RECORDED / "looper.history.json").read_text())
    events = list(history.events)
    whole = build_conversation(events, now_ms=0)
    requests = {
        id(e.input[0]): e.event_id
        for e in events
        if isinstance(e, ev.ActivityTaskScheduled) and e.activity_type == MODEL_ACTIVITY
    }
    memo = ConversationMemo()
    real = Payload.to_json_value
    read: list[set[int]] = []
    for _ in range(3):
        decoded: set[int] = set()

        def counting(payload: Payload, seen: set[int] = decoded) -> Any:
            seen.add(id(payload))
            return real(payload)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(Payload, "to_json_value", counting)
            page = build_conversation(events, now_ms=0, window=(22, 28), memo=memo)
        assert page.items_for(22, 28) == whole.items_for(22, 28)
        read.append({requests[p] for p in decoded if p in requests})
    numbers = {event_id: n for n, event_id in enumerate(sorted(requests.values()), 1)}
    assert sorted(numbers[e] for e in read[0]) == list(range(21, 30))  # the page's, and one on
    # Read out of order, those were not remembered: the second build reads all, in order.
    assert len(read[1]) == 30 and read[2] == set()
    assert len(memo.inputs) == 30


def test_mcp_requests_are_read_once() -> None:
    """An MCP activity's request (which tool it calls) is decoded once per run too: the
    recorded run with its tool activities turned into MCP calls of the same tool."""
    history = WorkflowHistory.from_json((RECORDED / "looper.history.json").read_text())
    converter = DataConverter()
    events = [
        dataclasses.replace(
            e,
            activity_type=MCP_CALL,
            summary="facts.lookup",
            input=(converter.encode({"tool": "lookup", "arguments": {}}),),
        )
        if isinstance(e, ev.ActivityTaskScheduled) and e.activity_type == TOOL_ACTIVITY
        else e
        for e in history.events
    ]
    mcp = {
        id(e.input[0])
        for e in events
        if isinstance(e, ev.ActivityTaskScheduled) and e.activity_type == MCP_CALL
    }
    whole = build_conversation(events, now_ms=0)
    names = {i.name for i in whole.items if isinstance(i, ToolCard)}
    assert names == {"facts.lookup"} and whole.tool_calls == LOOPER_CALLS - 1
    memo = ConversationMemo()
    real = Payload.to_json_value
    for again in (False, True):
        decoded: list[int] = []

        def counting(payload: Payload, seen: list[int] = decoded) -> Any:
            seen.append(id(payload))
            return real(payload)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(Payload, "to_json_value", counting)
            assert build_conversation(events, now_ms=0, memo=memo).items == whole.items
        assert len(mcp.intersection(decoded)) == (0 if again else LOOPER_CALLS - 1)
