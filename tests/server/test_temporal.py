"""The server on Temporal: ``duragent --address temporal://... server`` against the session's
dev server, with a real worker (a TemporalWorker, built by ``Worker``) running the test app
with the scripted model. The HTTP API end to end, live updates, and one real browser."""

from __future__ import annotations

import asyncio
import http.client
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from duragent import Client, Worker
from duragent.openai_agents import OpenAIAgentsPlugin
from duragent.testing.scripted_model import ScriptedModelProvider

from ..temporal_server import TemporalServerInfo
from .browser import browser_session, require_browser
from .conftest import RunningServer, serving, wait_until
from .ui_app import ACTIVITIES, SCRIPTS, WORKFLOWS, AskAgent, Broken, Pipeline

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def queue() -> str:
    return f"ui-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def prefix() -> str:
    """Every workflow id of the test starts with it (the dev server is shared)."""
    return f"t{uuid.uuid4().hex[:8]}-"


@pytest.fixture
async def tclient(temporal_server: TemporalServerInfo) -> AsyncIterator[Client]:
    client = await Client.connect(temporal_server.url)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def tworker(tclient: Client, queue: str) -> AsyncIterator[Worker]:
    async with Worker(
        tclient,
        task_queue=queue,
        workflows=list(WORKFLOWS),
        activities=list(ACTIVITIES),
        plugins=[OpenAIAgentsPlugin(model_provider=ScriptedModelProvider(SCRIPTS))],
    ) as worker:
        yield worker


@pytest.fixture
def tserver(temporal_server: TemporalServerInfo) -> Iterator[RunningServer]:
    with serving(temporal_server.url) as running:
        yield running


def read_sse(server: RunningServer, path: str, *, until: str) -> list[tuple[str, str, Any]]:
    """(event, id, data) of each message of an SSE response, up to event ``until``."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
    conn.request("GET", path, headers={"Authorization": f"Bearer {server.token}"})
    response = conn.getresponse()
    assert response.status == 200, response.read()
    messages: list[tuple[str, str, Any]] = []
    event, id_, data = "message", "", ""
    try:
        while True:
            line = response.readline().decode()
            if not line:
                return messages
            line = line.rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("id: "):
                id_ = line[4:]
            elif line.startswith("data: "):
                data += line[6:]
            elif line == "" and data:
                messages.append((event, id_, json.loads(data)))
                if event == until:
                    return messages
                event, id_, data = "message", "", ""
    finally:
        conn.close()


async def _ids(server: RunningServer, query: str) -> list[str]:
    reply = await server.get(f"/api/v1/runs?{query}")
    assert reply.status == 200, reply.text
    return [r["workflow_id"] for r in reply.json()["runs"]]


async def test_the_http_api_on_temporal(
    tserver: RunningServer, tclient: Client, tworker: Worker, queue: str, prefix: str
) -> None:
    research, refund, order, broken = (f"{prefix}{n}" for n in ("research", "refund", "o", "b"))
    await tclient.start_workflow(
        AskAgent.run, args=["researcher", "durable?"], id=research, task_queue=queue
    )
    await tclient.get_workflow_handle(research).result(timeout=60)

    # Runs list and one run: the summary comes from the translated Temporal history.
    async def listed() -> list[dict[str, Any]]:
        reply = await tserver.get(f"/api/v1/runs?prefix={prefix}&status=completed")
        return reply.json()["runs"]

    rows = await wait_until(listed, what="the completed run in Temporal's visibility")
    assert [r["workflow_id"] for r in rows] == [research]
    assert rows[0]["summary"]["agent"] == "Researcher"
    assert rows[0]["summary"]["model_calls"] == 2 and rows[0]["summary"]["total_tokens"] > 0
    conversation = (await tserver.get(f"/api/v1/runs/{research}/conversation")).json()
    kinds = [i["kind"] for i in conversation["items"]]
    assert kinds == ["message", "model", "tool", "model", "outcome"]
    assert [i["number"] for i in conversation["items"] if i["kind"] == "model"] == [1, 2]
    assert conversation["items"][2]["result"] == "facts about durable agents"
    assert conversation["items"][-1]["text"] == "Durable agents survive crashes."
    usage = (await tserver.get(f"/api/v1/runs/{research}/usage")).json()
    assert usage["model_calls"] == 2
    history = (await tserver.get(f"/api/v1/runs/{research}/history?limit=2")).json()
    assert len(history["events"]) == 2 and history["next_after"] is not None
    page = await tserver.get(f"/runs/{research}")
    assert page.status == 200 and "Durable agents survive crashes." in page.text
    assert "Temporal" in page.text

    # The run's live history: everything, then closed (ids resume where a client left).
    streamed = await asyncio.to_thread(
        read_sse, tserver, f"/api/v1/runs/{research}/events", until="closed"
    )
    ids = [int(i) for e, i, _ in streamed if e == "history"]
    assert ids == sorted(ids) and streamed[-1][0] == "closed"
    resumed = await asyncio.to_thread(
        read_sse, tserver, f"/api/v1/runs/{research}/events?after={ids[2]}", until="closed"
    )
    assert [int(i) for e, i, _ in resumed if e == "history"] == ids[3:]

    # Approve from the inbox; the run resumes.
    await tclient.start_workflow(
        AskAgent.run, args=["refunder", "refund A-17"], id=refund, task_queue=queue
    )

    async def inbox() -> list[dict[str, Any]]:
        approvals = (await tserver.get("/api/v1/approvals")).json()["approvals"]
        return [a for a in approvals if a["workflow_id"] == refund]

    pending = await wait_until(inbox, what="the approval request in the inbox")
    assert pending[0]["tool"] == "send_refund"
    assert await _ids(tserver, f"prefix={prefix}&waiting=1") == [refund]
    approved = await tserver.post(
        f"/api/v1/runs/{refund}/approvals/{pending[0]['call_id']}", {"approve": True}
    )
    assert approved.status == 200, approved.text
    result = await tclient.get_workflow_handle(refund).result(timeout=60)
    assert result == "The refund of 25 on A-17 is done."

    # Signal, cancel, terminate.
    for n in (1, 2, 3):
        await tclient.start_workflow(Pipeline.run, "x", id=f"{order}{n}", task_queue=queue)
    assert (await tserver.post(f"/api/v1/runs/{order}1/signal", {"name": "ship"})).status == 200
    assert await tclient.get_workflow_handle(f"{order}1").result(timeout=60) == (
        "charged x, shipped"
    )
    assert (await tserver.post(f"/api/v1/runs/{order}2/cancel", {"reason": "r"})).status == 200
    terminated = await tserver.post(f"/api/v1/runs/{order}3/terminate", {"reason": "t"})
    assert terminated.status == 200
    assert (await tclient.get_workflow_handle(f"{order}3").describe()).status == "terminated"

    async def cancelled() -> bool:
        return (await tclient.get_workflow_handle(f"{order}2").describe()).status == "canceled"

    await wait_until(cancelled, what="the cancellation")

    # A workflow task that keeps failing: listed, and its page names the error.
    await tclient.start_workflow(Broken.run, id=broken, task_queue=queue)

    async def failing() -> list[str]:
        return await _ids(tserver, f"prefix={prefix}&failing=1")

    assert await wait_until(failing, what="the failing task") == [broken]
    page = await tserver.get(f"/runs/{broken}")
    assert "a bug in workflow code" in page.text

    # Keyset pages over the test's runs cover each once, newest first.
    everything = await _ids(tserver, f"prefix={prefix}&limit=100")
    assert len(everything) == 6
    seen: list[str] = []
    cursor = ""
    while True:
        reply = (await tserver.get(f"/api/v1/runs?prefix={prefix}&limit=4{cursor}")).json()
        seen += [r["workflow_id"] for r in reply["runs"]]
        if reply["next_cursor"] is None:
            break
        cursor = f"&cursor={reply['next_cursor']}"
    assert seen == everything

    started = await tserver.post(
        "/api/v1/agents/start",
        {"agent": "tests.server.ui_app:researcher", "input": "hi", "id": f"{prefix}agent"},
    )
    assert started.status == 201, started.text
    described = await tclient.get_workflow_handle(f"{prefix}agent").describe()
    assert described.workflow_type == "duragent.Agent"
    await tclient.get_workflow_handle(f"{prefix}agent").terminate("no worker for it here")


@pytest.mark.browser
async def test_approve_in_the_browser_on_temporal(
    tserver: RunningServer, tclient: Client, tworker: Worker, queue: str, prefix: str
) -> None:
    require_browser()
    refund = f"{prefix}refund"
    handle = await tclient.start_workflow(
        AskAgent.run, args=["refunder", "refund A-17"], id=refund, task_queue=queue
    )

    async def waiting() -> bool:
        approvals = (await tserver.get("/api/v1/approvals")).json()["approvals"]
        return any(a["workflow_id"] == refund for a in approvals)

    await wait_until(waiting, what="the approval request")

    def browse() -> dict[str, Any]:
        with browser_session(tserver.url, tserver.token) as s:
            page = s.page
            page.goto(f"{tserver.url}/?prefix={prefix}")
            page.wait_for_selector("table.runs")
            listed = page.locator("table.runs").inner_text()
            page.goto(f"{tserver.url}/runs/{refund}")
            page.wait_for_selector("#approvals-inline")
            page.locator("#approvals-inline button.approve").click()
            # No reload: the live stream (the backend's polling watch) brings the rest.
            page.wait_for_selector("li.outcome", timeout=30_000)
            return {
                "listed": listed,
                "final": page.locator("li.outcome .text").inner_text(),
                "foreign": s.foreign,
                "dialogs": s.dialogs,
            }

    seen = await asyncio.to_thread(browse)
    assert refund in seen["listed"]
    assert seen["final"] == "The refund of 25 on A-17 is done."
    assert seen["foreign"] == [] and seen["dialogs"] == []
    assert await handle.result(timeout=30) == "The refund of 25 on A-17 is done."
