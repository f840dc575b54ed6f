"""Fork and diff in the web UI at the HTTP level: the run page's "Fork from here" forms, the
fork action (CSRF, read-only, bad input), the fork's page, and the diff page and API."""

from __future__ import annotations

import asyncio
import re

from duragent import Client, Worker

from .conftest import RunningServer, serving
from .test_security import _cookie_of  # pyright: ignore[reportPrivateUsage]
from .ui_app import TASK_QUEUE, AskAgent


async def _finished(client: Client, name: str, workflow_id: str) -> None:
    handle = await client.start_workflow(
        AskAgent.run, args=[name, f"question for {name}"], id=workflow_id, task_queue=TASK_QUEUE
    )
    await handle.result(timeout=20)


async def test_fork_from_the_run_page_and_compare(
    server: RunningServer, client: Client, worker: Worker
) -> None:
    await _finished(client, "researcher", "research-1")
    page = (await server.get("/runs/research-1")).text
    forms = re.findall(r'name="at_model_call" value="(\d+)"', page)
    assert forms == ["1", "2"]
    assert 'data-action="/api/v1/runs/research-1/fork?run_id=' in page

    cookie, csrf = await asyncio.to_thread(_cookie_of, server)
    origin = {"Cookie": cookie, "Origin": server.url}
    form = {"at_model_call": "2", "model": "", "tools": "recorded", "models": "recorded"}
    refused = await server.post("/api/v1/runs/research-1/fork", form, bearer=False, headers=origin)
    assert refused.status == 403  # no CSRF token
    made = await server.post(
        "/api/v1/runs/research-1/fork",
        {**form, "id": "research-1-fork"},
        bearer=False,
        headers={**origin, "X-CSRF-Token": csrf},
    )
    assert made.status == 201, made.text
    assert made.json()["url"] == "/runs/research-1-fork"
    fork = client.get_workflow_handle("research-1-fork")
    assert await fork.result(timeout=20) == "Durable agents survive crashes."

    fork_page = (await server.get("/runs/research-1-fork")).text
    assert "fork of" in fork_page and "compare with the source" in fork_page
    assert "reused from source" in fork_page and "served from recording" in fork_page

    diff = (await server.get("/api/v1/diff?a=research-1&b=research-1-fork")).json()
    assert diff["identical"] and diff["b"]["usage"]["reused_calls"] == 2
    diff_page = await server.get("/diff?a=research-1&b=research-1-fork")
    assert diff_page.status == 200 and "Identical" in diff_page.text


async def test_the_diff_page_escapes_what_models_and_tools_said(
    server: RunningServer, client: Client, worker: Worker
) -> None:
    await _finished(client, "hostile", "hostile-1")
    await _finished(client, "researcher", "research-2")
    page = await server.get("/diff?a=hostile-1&b=research-2")
    assert page.status == 200
    assert "<script>alert(2)" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page.text
    assert "first divergence" in page.text.lower()


async def test_fork_refuses_bad_input_and_changes_nothing(
    server: RunningServer, client: Client, worker: Worker, db_url: str
) -> None:
    await _finished(client, "researcher", "research-3")
    for body, status, message in (
        ({}, 400, "missing field 'at_model_call'"),
        ({"at_model_call": 0}, 400, "positive integer"),
        ({"at_model_call": 9}, 400, "made 2 model calls"),
        ({"at_model_call": 1, "tools": "maybe"}, 400, "not a fork mode"),
    ):
        reply = await server.post("/api/v1/runs/research-3/fork", body)
        assert reply.status == status and message in reply.json()["error"], reply.text
    assert (await server.post("/api/v1/runs/nope/fork", {"at_model_call": 1})).status == 404
    assert (await server.get("/api/v1/diff?a=research-3")).status == 400
    assert [r["workflow_id"] for r in (await server.get("/api/v1/runs")).json()["runs"]] == [
        "research-3"
    ]
    with serving(db_url, read_only=True) as read_only:
        reply = await read_only.post("/api/v1/runs/research-3/fork", {"at_model_call": 1})
        assert reply.status == 403
        assert "Fork from here" not in (await read_only.get("/runs/research-3")).text
