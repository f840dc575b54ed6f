"""The JSON API at the HTTP level: a real server on 127.0.0.1, a real SQLite file, a worker
with the scripted model. Every endpoint, filter and error."""

from __future__ import annotations

import asyncio
import copy
import subprocess
import sys
from urllib.parse import quote

import pytest

from duragent import Client, Worker
from duragent._engine import events as ev
from duragent.openai_agents import MODEL_ACTIVITY, TOOL_ACTIVITY
from duragent.serde import Payload
from duragent.server.source import RunSource
from duragent.views import conversation, summary

from .conftest import RunningServer, wait_until
from .ui_app import LOOPER_CALLS, TASK_QUEUE, AskAgent, Broken, Pipeline


async def _agent(client: Client, name: str, workflow_id: str) -> None:
    await client.start_workflow(
        AskAgent.run, args=[name, f"question for {name}"], id=workflow_id, task_queue=TASK_QUEUE
    )


async def _waiting_for_approval(server: RunningServer, workflow_id: str) -> str:
    async def pending() -> list[dict[str, object]]:
        reply = await server.get(f"/api/v1/runs/{workflow_id}")
        return reply.json()["summary"]["pending_approvals"] if reply.status == 200 else []

    await wait_until(pending, what=f"an approval request in {workflow_id}")
    return str((await pending())[0]["call_id"])


async def test_list_describe_conversation_history_usage(
    server: RunningServer, client: Client, worker: Worker
) -> None:
    await _agent(client, "researcher", "research-1")
    await client.get_workflow_handle("research-1").result(timeout=20)
    await client.start_workflow(Pipeline.run, "o-1", id="order-1", task_queue=TASK_QUEUE)

    runs = (await server.get("/api/v1/runs")).json()
    by_id = {r["workflow_id"]: r for r in runs["runs"]}
    assert set(by_id) == {"research-1", "order-1"}
    research = by_id["research-1"]
    assert research["status"] == "completed"
    assert research["summary"]["agent"] == "Researcher"
    assert research["summary"]["model_calls"] == 2
    assert research["summary"]["total_tokens"] > 0
    assert runs["next_cursor"] is None

    one = (await server.get("/api/v1/runs/research-1")).json()
    assert one["workflow_id"] == "research-1" and one["summary"]["tool_calls"] == 1

    conversation = (await server.get("/api/v1/runs/research-1/conversation")).json()
    kinds = [i["kind"] for i in conversation["items"]]
    assert kinds == ["message", "model", "tool", "model", "outcome"]
    tool = conversation["items"][2]
    assert tool["name"] == "lookup" and tool["result"] == "facts about durable agents"
    assert conversation["items"][-1]["text"] == "Durable agents survive crashes."

    history = (await server.get("/api/v1/runs/research-1/history?limit=3")).json()
    assert [e["event_id"] for e in history["events"]] == [1, 2, 3]
    assert history["next_after"] == 3
    rest = (await server.get("/api/v1/runs/research-1/history?after=3")).json()
    assert rest["events"][0]["event_id"] == 4 and rest["next_after"] is None

    steps = (await server.get("/api/v1/runs/research-1/timeline")).json()["steps"]
    assert steps[0]["title"] == "workflow started"
    # Model calls are numbered 1, 2, ... everywhere (their activities are #1 and #3).
    assert [s["title"] for s in steps if s["title"].startswith("model")] == [
        "model call 1: Researcher",
        "model call 2: Researcher",
    ]
    assert [i["number"] for i in conversation["items"] if i["kind"] == "model"] == [1, 2]

    usage = (await server.get("/api/v1/runs/research-1/usage")).json()
    assert usage["model_calls"] == 2 and usage["repaid_tokens"] == 0
    assert [(c["number"], c["seq"]) for c in usage["calls"]] == [(1, 1), (2, 3)]
    assert (await server.get("/api/v1/runs/order-1/usage")).json() is None


async def test_export_is_byte_for_byte_duragent_export(
    server: RunningServer, client: Client, worker: Worker
) -> None:
    await _agent(client, "researcher", "exported")
    await client.get_workflow_handle("exported").result(timeout=20)
    reply = await server.get("/api/v1/runs/exported/export")
    assert reply.status == 200
    assert "attachment" in reply.headers["content-disposition"]
    cli = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "duragent", "--db", server.db_url, "export", "exported"],
        capture_output=True,
        check=True,
    )
    assert reply.body == cli.stdout


async def test_filters_and_keyset_pagination(
    server: RunningServer, client: Client, worker: Worker
) -> None:
    for i in range(5):
        await client.start_workflow(Pipeline.run, f"o-{i}", id=f"order-{i}", task_queue=TASK_QUEUE)
    await _agent(client, "researcher", "research-1")
    await _agent(client, "refunder", "refund-1")
    await client.start_workflow(Broken.run, id="broken-1", task_queue=TASK_QUEUE)
    await client.get_workflow_handle("research-1").result(timeout=20)
    await _waiting_for_approval(server, "refund-1")

    async def ids(query: str) -> list[str]:
        reply = await server.get(f"/api/v1/runs?{query}")
        assert reply.status == 200, reply.text
        return [r["workflow_id"] for r in reply.json()["runs"]]

    await wait_until(lambda: _failing(server), what="a failing task")
    assert await ids("status=completed") == ["research-1"]
    assert sorted(await ids("type=Pipeline")) == [f"order-{i}" for i in range(5)]
    assert await ids("agent=Refund%20Desk") == ["refund-1"]
    assert sorted(await ids("prefix=order-")) == [f"order-{i}" for i in range(5)]
    assert await ids("waiting=1") == ["refund-1"]
    assert await ids("failing=1") == ["broken-1"]
    assert await ids("status=failed") == []

    # Keyset pagination: pages of 3 cover every run once, newest first.
    everything = await ids("limit=100")
    seen: list[str] = []
    cursor = ""
    while True:
        page = (await server.get(f"/api/v1/runs?limit=3{cursor}")).json()
        seen += [r["workflow_id"] for r in page["runs"]]
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert seen == everything and len(everything) == 8


async def _failing(server: RunningServer) -> bool:
    reply = await server.get("/api/v1/runs?failing=1")
    return bool(reply.json()["runs"])


async def test_approve_reject_and_approvals_inbox(
    server: RunningServer, client: Client, worker: Worker
) -> None:
    await _agent(client, "refunder", "refund-1")
    await _agent(client, "refunder", "refund-2")
    call_1 = await _waiting_for_approval(server, "refund-1")
    call_2 = await _waiting_for_approval(server, "refund-2")
    inbox = (await server.get("/api/v1/approvals")).json()["approvals"]
    assert {(a["workflow_id"], a["tool"]) for a in inbox} == {
        ("refund-1", "send_refund"),
        ("refund-2", "send_refund"),
    }

    approved = await server.post(f"/api/v1/runs/refund-1/approvals/{call_1}", {"approve": True})
    assert approved.status == 200, approved.text
    assert await client.get_workflow_handle("refund-1").result(timeout=20) == (
        "The refund of 25 on A-17 is done."
    )
    rejected = await server.post(
        f"/api/v1/runs/refund-2/approvals/{call_2}",
        {"approve": False, "message": "Not without a receipt."},
    )
    assert rejected.status == 200, rejected.text
    await client.get_workflow_handle("refund-2").result(timeout=20)
    conversation = (await server.get("/api/v1/runs/refund-2/conversation")).json()
    card = next(i for i in conversation["items"] if i["kind"] == "tool")
    assert card["approval"]["state"] == "rejected"
    assert card["approval"]["message"] == "Not without a receipt."
    assert card["seq"] is None  # the tool never ran
    assert (await server.get("/api/v1/approvals")).json()["approvals"] == []

    # Deciding again, or an unknown call: 409, nothing recorded.
    before = (await client.get_workflow_handle("refund-1").fetch_history()).events
    again = await server.post(f"/api/v1/runs/refund-1/approvals/{call_1}", {"approve": True})
    assert again.status == 409 and "not running" in again.json()["error"]
    after = (await client.get_workflow_handle("refund-1").fetch_history()).events
    assert len(after) == len(before)


async def test_signal_update_cancel_terminate(
    server: RunningServer, client: Client, worker: Worker
) -> None:
    await client.start_workflow(Pipeline.run, "o-1", id="order-1", task_queue=TASK_QUEUE)
    sent = await server.post("/api/v1/runs/order-1/signal", {"name": "ship"})
    assert sent.status == 200, sent.text
    assert await client.get_workflow_handle("order-1").result(timeout=20) == "charged o-1, shipped"

    await client.start_workflow(Pipeline.run, "o-2", id="order-2", task_queue=TASK_QUEUE)
    cancelled = await server.post("/api/v1/runs/order-2/cancel", {"reason": "customer left"})
    assert cancelled.status == 200
    await wait_until(lambda: _status(client, "order-2", "canceled"), what="cancellation")

    await client.start_workflow(Pipeline.run, "o-3", id="order-3", task_queue=TASK_QUEUE)
    terminated = await server.post("/api/v1/runs/order-3/terminate", {"reason": "test"})
    assert terminated.status == 200
    assert (await client.get_workflow_handle("order-3").describe()).status == "terminated"

    unknown_update = await server.post("/api/v1/runs/order-1/update", {"name": "nope"})
    assert unknown_update.status == 409  # closed


async def _status(client: Client, workflow_id: str, status: str) -> bool:
    return (await client.get_workflow_handle(workflow_id).describe()).status == status


async def test_bad_input_gets_a_4xx_json_error_and_changes_nothing(
    server: RunningServer, client: Client
) -> None:
    await client.start_workflow(Pipeline.run, "o-1", id="order-1", task_queue=TASK_QUEUE)
    history = (await client.get_workflow_handle("order-1").fetch_history()).events
    cases = [
        ("GET", "/api/v1/runs?status=exploded", None, 400, "unknown status"),
        ("GET", "/api/v1/runs?limit=0", None, 400, "limit"),
        ("GET", "/api/v1/runs?limit=abc", None, 400, "integer"),
        ("GET", "/api/v1/runs?cursor=%%%", None, 400, "cursor"),
        ("GET", "/api/v1/runs?waiting=maybe", None, 400, "waiting"),
        ("GET", "/api/v1/runs?colour=red", None, 400, "unknown parameter"),
        ("GET", "/api/v1/runs/nope", None, 404, "not found"),
        ("GET", "/api/v1/runs/nope/conversation", None, 404, "not found"),
        ("GET", "/api/v1/runs/order-1/history?after=-1", None, 400, "after"),
        ("GET", "/api/v1/nothing-here", None, 404, "no API endpoint"),
        ("POST", "/api/v1/runs/order-1/signal", {}, 400, "missing field 'name'"),
        ("POST", "/api/v1/runs/order-1/signal", {"name": 5}, 400, "name must be a string"),
        ("POST", "/api/v1/runs/order-1/signal", {"name": "ship", "args": 1}, 400, "args"),
        ("POST", "/api/v1/runs/order-1/approvals/c1", {}, 400, "approve"),
        ("POST", "/api/v1/runs/order-1/approvals/c1", {"approve": "yes"}, 400, "true or false"),
        ("POST", "/api/v1/runs/order-1/approvals/c1", {"approve": True}, 409, "no tool call"),
        ("POST", "/api/v1/runs/nope/cancel", {}, 404, "not found"),
        ("POST", "/api/v1/agents/start", {"input": "hi"}, 400, "agent"),
        ("POST", "/api/v1/agents/start", {"agent": "noColon", "input": "x"}, 400, "module:"),
        ("POST", "/api/v1/agents/start", {"agent": "m:a", "input": 3}, 400, "input"),
    ]
    for method, path, body, status, text in cases:
        reply = await server.request(method, path, body=body)
        assert reply.status == status, (path, reply.status, reply.text)
        assert reply.headers["content-type"].startswith("application/json")
        assert text in reply.json()["error"], (path, reply.json())
    not_json = await server.request(
        "POST",
        "/api/v1/runs/order-1/signal",
        raw_body=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert not_json.status == 400 and "not valid JSON" in not_json.json()["error"]
    assert (await client.get_workflow_handle("order-1").fetch_history()).events == history


async def test_start_agent(server: RunningServer, client: Client) -> None:
    reply = await server.post(
        "/api/v1/agents/start",
        {"agent": "tests.server.ui_app:researcher", "input": "hi", "id": "started-1"},
    )
    assert reply.status == 201, reply.text
    described = await client.get_workflow_handle("started-1").describe()
    assert described.workflow_type == "duragent.Agent" and described.task_queue == "agents"
    duplicate = await server.post(
        "/api/v1/agents/start",
        {"agent": "tests.server.ui_app:researcher", "input": "hi", "id": "started-1"},
    )
    assert duplicate.status == 400 and "started-1" in duplicate.json()["error"]


async def test_openapi_describes_every_route(server: RunningServer) -> None:
    spec = (await server.get("/api/v1/openapi.json")).json()
    described = {(p, m.upper()) for p, ops in spec["paths"].items() for m in ops}
    app = server.app.app
    routes = {
        (r.path.replace("{workflow_id:path}", "{workflow_id}"), m)
        for r in app.routes
        if getattr(r, "path", "").startswith(("/api/v1/", "/metrics")) and "openapi" not in r.path
        for m in set(r.methods or ()) - {"HEAD"}
    }
    assert routes <= described, routes - described
    page = await server.get("/api")
    assert page.status == 200 and "/api/v1/runs/{workflow_id}/approvals/{call_id}" in page.text


async def test_metrics(server: RunningServer, client: Client, worker: Worker) -> None:
    await _agent(client, "researcher", "research-1")
    await client.get_workflow_handle("research-1").result(timeout=20)
    await _agent(client, "refunder", "refund-1")
    await client.start_workflow(Broken.run, id="broken-1", task_queue=TASK_QUEUE)
    await _waiting_for_approval(server, "refund-1")
    await wait_until(lambda: _failing(server), what="a failing task")
    reply = await server.get("/metrics")
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = set(reply.text.splitlines())
    assert 'duragent_runs{status="completed"} 1' in lines
    assert 'duragent_runs{status="running"} 2' in lines
    assert "duragent_workflow_tasks_failing 1" in lines
    assert "duragent_approvals_pending 1" in lines
    assert 'duragent_model_calls{model="researcher"} 2' in lines
    assert any(
        line.startswith('duragent_model_tokens{model="researcher",kind="input"} ') for line in lines
    )
    assert "# TYPE duragent_runs gauge" in lines
    unauthorized = await server.get("/metrics", bearer=False)
    assert unauthorized.status == 401


async def test_ids_with_slashes_and_spaces(server: RunningServer, client: Client) -> None:
    await client.start_workflow(Pipeline.run, "x", id="team a/order 7", task_queue=TASK_QUEUE)
    quoted = quote("team a/order 7", safe="")
    reply = await server.get(f"/api/v1/runs/{quoted}")
    assert reply.status == 200 and reply.json()["workflow_id"] == "team a/order 7"
    page = await server.get(f"/runs/{quoted}")
    assert page.status == 200 and "team a/order 7" in page.text
    await asyncio.sleep(0)


async def test_a_long_conversation_is_paged_by_model_call(
    server: RunningServer, client: Client, worker: Worker
) -> None:
    await _agent(client, "looper", "loop-1")
    await client.get_workflow_handle("loop-1").result(timeout=60)
    first = await server.get("/runs/loop-1")
    assert first.status == 200
    assert f"model calls 1\u201325 of {LOOPER_CALLS}" in first.text
    assert first.text.count('<li class="turn ') == 25
    assert "question for looper" in first.text  # the user's message opens the first page
    assert "facts about fact 1" in first.text and "Collected 29 facts." not in first.text
    assert "from=26" in first.text  # the "later" link
    rest = await server.get("/runs/loop-1?from=26")
    assert f"model calls 26\u2013{LOOPER_CALLS} of {LOOPER_CALLS}" in rest.text
    assert rest.text.count('<li class="turn ') == LOOPER_CALLS - 25
    assert "model call 26" in rest.text and "Collected 29 facts." in rest.text
    assert "question for looper" not in rest.text and "facts about fact 25" not in rest.text
    assert "facts about fact 26" in rest.text
    fragment = await server.get("/fragments/runs/loop-1?from=26")
    assert fragment.text.count('<li class="turn ') == LOOPER_CALLS - 25
    assert (await server.get("/runs/loop-1?from=x")).status == 400
    await _pages_decode_their_own_calls(client)
    # The API gives the whole conversation, numbered.
    items = (await server.get("/api/v1/runs/loop-1/conversation")).json()["items"]
    numbers = [i["number"] for i in items if i["kind"] == "model"]
    assert numbers == list(range(1, LOOPER_CALLS + 1))


async def test_a_run_page_folds_the_runs_summary_once(client: Client, worker: Worker) -> None:
    """The summary on a run's page (tokens of every model call) comes from the fold the
    server keeps per run: a second page of the same history decodes no model response for
    it, and says the same."""
    await _agent(client, "looper", "loop-2")
    await client.get_workflow_handle("loop-2").result(timeout=60)
    source = RunSource(client)
    first = await source.detail("loop-2", None, page_calls=25, whole_timeline=False)
    first_usage = await source.usage("loop-2", {first.execution.run_id: first.events})
    decoded: list[object] = []
    real_json = summary._json  # pyright: ignore[reportPrivateUsage]
    real_value = Payload.to_json_value

    def counting(payload: object) -> object:
        decoded.append(payload)
        return real_json(payload)

    def decoding(payload: Payload) -> object:
        decoded.append(payload)
        return real_value(payload)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(summary, "_json", counting)
        patch.setattr(Payload, "to_json_value", decoding)
        second = await source.detail(
            "loop-2", None, page_calls=25, first_call=26, whole_timeline=False
        )
        second_usage = await source.usage("loop-2", {second.execution.run_id: second.events})
    # Only the responses of the page's own calls (26 on) were decoded, for their timeline
    # steps: the first page's conversation remembered what every call said.
    model_seqs = {
        e.seq
        for e in second.events
        if isinstance(e, ev.ActivityTaskScheduled) and e.activity_type == MODEL_ACTIVITY
    }
    responses = [
        e.result
        for e in second.events
        if isinstance(e, ev.ActivityTaskCompleted) and e.seq in model_seqs
    ]
    assert {id(p) for p in decoded} & {id(p) for p in responses} == {id(p) for p in responses[25:]}
    assert second_usage == first_usage and second_usage is not None
    assert second.summary == first.summary
    assert second.summary.model_calls == LOOPER_CALLS and second.summary.input_tokens > 0
    assert second.summary == (await source.summary_of(await client.backend.describe("loop-2")))


async def test_a_running_runs_page_reads_only_the_events_added_since(
    client: Client, worker: Worker
) -> None:
    """The server keeps the events of runs whose pages it read lately: the next read of a
    running run adds only the newer events, and the page says what a fresh read says."""
    handle = await client.start_workflow(Pipeline.run, "o-9", id="order-9", task_queue=TASK_QUEUE)
    source = RunSource(client)

    async def waiting() -> bool:
        events = (await handle.fetch_history()).events
        return any(isinstance(e, ev.TimerFired) for e in events)

    await wait_until(waiting, what="the pipeline waiting for its signal")
    before = await source.detail("order-9", None)
    await handle.signal(Pipeline.ship)
    assert await handle.result(timeout=20) == "charged o-9, shipped"
    reads: list[int] = []
    real_read = client.backend.read_history

    async def reading(workflow_id: str, run_id: str, *, after_event_id: int = 0) -> object:
        reads.append(after_event_id)
        return await real_read(workflow_id, run_id, after_event_id=after_event_id)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(source.backend, "read_history", reading)
        after = await source.detail("order-9", None)
    assert reads == [before.events[-1].event_id]  # only what was added
    fresh = await RunSource(client).detail("order-9", None)
    assert [e.event_id for e in after.events] == [e.event_id for e in fresh.events]
    assert len(after.events) > len(before.events)
    assert after.summary == fresh.summary and after.execution.status == "completed"
    assert isinstance(after.events[-1], ev.WorkflowExecutionCompleted)


async def _pages_decode_their_own_calls(client: Client) -> None:
    """Each page shows what the whole conversation shows for its calls, but decodes the
    tool calls of its own calls only, and with a memo (kept by the server per run) each
    payload only once."""
    events = (await client.get_workflow_handle("loop-1").fetch_history()).events
    whole = conversation.build_conversation(events, now_ms=0)
    model_seqs = {
        e.seq
        for e in events
        if isinstance(e, ev.ActivityTaskScheduled) and e.activity_type == MODEL_ACTIVITY
    }
    completions = [  # the model calls' completion events, in call order
        e for e in events if isinstance(e, ev.ActivityTaskCompleted) and e.seq in model_seqs
    ]
    model_results = {id(e.result) for e in completions}
    tool_requests = {
        e.event_id: e.input[0]
        for e in events
        if isinstance(e, ev.ActivityTaskScheduled) and e.activity_type == TOOL_ACTIVITY
    }
    tool_seqs = {
        e.seq: e.event_id
        for e in events
        if isinstance(e, ev.ActivityTaskScheduled) and e.activity_type == TOOL_ACTIVITY
    }
    tool_results = {
        tool_seqs[e.seq]: e
        for e in events
        if isinstance(e, ev.ActivityTaskCompleted) and e.seq in tool_seqs
    }
    tool_payloads = {id(p) for p in tool_requests.values()}
    tool_payloads |= {id(e.result) for e in tool_results.values()}
    memo = conversation.ConversationMemo()
    windows = [(1, 25), (26, LOOPER_CALLS), (10, 12), (1, 25)]
    visited: set[tuple[int, int]] = set()
    for window in windows:
        for kept in (None, memo):
            known = conversation.ConversationMemo() if kept is None else copy.deepcopy(kept)
            decoded: list[int] = []
            real_value = conversation._value  # pyright: ignore[reportPrivateUsage]

            def counting(
                payload: object, real: object = real_value, seen: list[int] = decoded
            ) -> object:
                seen.append(id(payload[0] if isinstance(payload, tuple) and payload else payload))
                return real(payload)  # type: ignore[operator]

            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(conversation, "_value", counting)
                paged = conversation.build_conversation(events, now_ms=0, window=window, memo=kept)
            assert paged.tool_calls == whole.tool_calls
            assert paged.items_for(*window) == whole.items_for(*window)
            cards = [i for i in paged.items_for(*window) if isinstance(i, conversation.ToolCard)]
            assert cards and all(c.result for c in cards)
            # The requests and results of its own tool calls, those not remembered.
            scheduled = [c.scheduled_event_id for c in cards]
            unknown_tools = sum(e not in known.tool_requests for e in scheduled) + sum(
                tool_results[e].event_id not in known.texts for e in scheduled if e
            )
            assert len(tool_payloads.intersection(decoded)) == unknown_tools
            # Every response (off the page for its tool calls), those not remembered.
            responses = len(model_results.intersection(decoded))
            assert responses == sum(e.event_id not in known.results for e in completions)
            if kept is not None and window in visited:
                assert responses == unknown_tools == 0  # a page seen before: nothing
        visited.add(window)
    assert len(memo.results) == LOOPER_CALLS
