"""The conversation and timeline endpoints over HTTP: whole (the body they always gave, now
built with the server's per-run memos) and paged (``from``/``limit``, ``after``/``limit``)."""

from __future__ import annotations

import json
from typing import Any

from duragent import Client, Worker
from duragent._engine import events as ev
from duragent.server.api import conversation_body, timeline_body
from duragent.views.conversation import build_conversation
from duragent.views.timeline import build_timeline

from .conftest import RunningServer, wait_until
from .ui_app import LOOPER_CALLS, TASK_QUEUE, AskAgent, Pipeline


def _text(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, default=str).encode()


async def _fresh(client: Client, workflow_id: str) -> tuple[bytes, bytes]:
    """The two bodies built from a fresh read of the run, with no memo."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    record = await client.backend.describe(workflow_id)
    attempts = await client.backend.activity_attempts(workflow_id, record.run_id)
    pending = await client.backend.pending_activities(workflow_id, record.run_id)
    steps = build_timeline(history.events, attempts, pending, now_ms=0)
    conv = build_conversation(history.events, attempts, pending, now_ms=0, steps=steps)
    body = conversation_body(workflow_id, record.run_id, conv, None)
    return _text(body), _text(timeline_body(steps))


async def _looper(client: Client, workflow_id: str) -> None:
    """The looper's run of LOOPER_CALLS model calls, to its end."""
    await client.start_workflow(
        AskAgent.run, args=["looper", "question for looper"], id=workflow_id, task_queue=TASK_QUEUE
    )
    await client.get_workflow_handle(workflow_id).result(timeout=60)


async def test_paged_conversation_and_timeline(
    server: RunningServer, client: Client, worker: Worker
) -> None:
    await _looper(client, "loop-p")
    base = "/api/v1/runs/loop-p"
    conversation, timeline = await _fresh(client, "loop-p")
    for _ in range(2):  # the second answer comes from what the first remembered
        assert (await server.get(f"{base}/conversation")).body == conversation
        assert (await server.get(f"{base}/timeline")).body == timeline
    whole = json.loads(conversation)
    items: list[Any] = []
    first: int | None = 1
    pages: list[dict[str, Any]] = []
    while first is not None:
        page = (await server.get(f"{base}/conversation?from={first}&limit=7")).json()
        pages.append(page)
        items.extend(page["items"])
        first = page["next_from"]
    assert items == whole["items"]
    assert [(p["from"], p["to"]) for p in pages] == [(1, 7), (8, 14), (15, 21), (22, 28), (29, 30)]
    assert {p["model_calls"] for p in pages} == {LOOPER_CALLS}
    assert {p["workflow_id"] for p in pages} == {"loop-p"}
    last = (await server.get(f"{base}/conversation?from=29")).json()
    assert last["items"] == pages[-1]["items"] and last["next_from"] is None
    first_page = (await server.get(f"{base}/conversation?limit=1")).json()
    assert [i["kind"] for i in first_page["items"]][:2] == ["message", "model"]
    steps: list[Any] = []
    after: int | None = 0
    while after is not None:
        page = (await server.get(f"{base}/timeline?after={after}&limit=40")).json()
        steps.extend(page["steps"])
        after = page["next_after"]
    assert steps == json.loads(timeline)["steps"] and len(steps) > 40
    for bad, message in (
        ("conversation?from=0", "from must be between 1"),
        ("conversation?limit=0", "limit must be between 1 and 500"),
        ("conversation?from=x", "from must be an integer"),
        ("timeline?limit=501", "limit must be between 1 and 500"),
        ("timeline?after=-1", "after must be between 0"),
    ):
        reply = await server.get(f"{base}/{bad}")
        assert reply.status == 400 and message in reply.json()["error"], bad
    assert (await server.get("/api/v1/runs/nope/conversation?from=1")).status == 404


async def test_a_growing_run_answers_what_a_fresh_read_answers(
    server: RunningServer, client: Client, worker: Worker
) -> None:
    handle = await client.start_workflow(Pipeline.run, "o-3", id="order-3", task_queue=TASK_QUEUE)

    async def waiting() -> bool:
        events = (await handle.fetch_history()).events
        return any(isinstance(e, ev.TimerFired) for e in events)

    await wait_until(waiting, what="the pipeline waiting for its signal")
    conversation, timeline = await _fresh(client, "order-3")
    assert (await server.get("/api/v1/runs/order-3/conversation")).body == conversation
    assert (await server.get("/api/v1/runs/order-3/timeline")).body == timeline
    await handle.signal(Pipeline.ship)
    await handle.result(timeout=20)
    conversation, timeline = await _fresh(client, "order-3")
    assert (await server.get("/api/v1/runs/order-3/conversation")).body == conversation
    assert (await server.get("/api/v1/runs/order-3/timeline")).body == timeline
    assert b"shipped" in conversation


async def test_the_timeline_tab_of_a_long_run_is_paged_by_model_call(
    server: RunningServer, client: Client, worker: Worker
) -> None:
    await _looper(client, "loop-t")
    steps = (await server.get("/api/v1/runs/loop-t/timeline")).json()["steps"]
    first = await server.get("/runs/loop-t?tab=timeline")
    assert f"model calls 1\u201325 of {LOOPER_CALLS}" in first.text
    # The start, then each of the 25 model calls and the tool call it asked for.
    assert first.text.count('<tr class="is-') == 1 + 25 + 25
    assert "model call 25: Looper" in first.text and "model call 26:" not in first.text
    assert "tab=timeline&amp;from=26" in first.text  # the "later" link stays on the tab
    rest = await server.get("/runs/loop-t?tab=timeline&from=26")
    shown = [s for s in steps if s["title"].startswith("model call 26:")]
    later = steps[steps.index(shown[0]) :]
    assert rest.text.count('<tr class="is-') == len(later) == 5 + 4 + 1
    assert "workflow completed" in rest.text and "model call 25:" not in rest.text
    for step in later:  # with the detail of what each returned
        assert step["detail"] and step["detail"][:40] in rest.text.replace("&#34;", '"')
    fragment = await server.get("/fragments/runs/loop-t?tab=timeline&from=26")
    assert fragment.text.count('<tr class="is-') == len(later)
