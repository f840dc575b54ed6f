"""A real browser (Playwright driving Debian's chromium-headless-shell) against a real
server: what a user sees, live updates, approvals, hostile content, CSRF, no other hosts.
Screenshots land in docs/screenshots (the README shows them)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from duragent import Client, Worker
from duragent.openai_agents import OpenAIAgentsPlugin
from duragent.testing.scripted_model import ScriptedModelProvider

from .browser import browser_session, require_browser, screenshot
from .conftest import RunningServer, serving, wait_until
from .ui_app import HOSTILE, TASK_QUEUE, AskAgent, Broken, Pipeline

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


@pytest.fixture(autouse=True)
def _browser() -> None:
    require_browser()


async def test_weather_agent_page_shows_the_tool_call_and_the_answer(
    db_url: str, client: Client
) -> None:
    from examples import demo_support, weather_agent
    from tests.examples.scripted_worker import SCRIPTS

    with demo_support.offline_apis():
        async with Worker(
            client,
            task_queue=weather_agent.TASK_QUEUE,
            workflows=weather_agent.WORKFLOWS,
            activities=weather_agent.ACTIVITIES,
            plugins=[OpenAIAgentsPlugin(model_provider=ScriptedModelProvider(SCRIPTS["alerts"]))],
        ):
            answer = await weather_agent.ask(
                client, "Are there any weather alerts in California?", workflow_id="weather-1"
            )
    assert "Red Flag" in answer
    with serving(db_url) as server:

        def look() -> tuple[str, str]:
            with browser_session(server.url, server.token) as s:
                s.page.goto(f"{server.url}/runs/weather-1")
                tool = s.page.locator("li.tool code.call").first.inner_text()
                final = s.page.locator("li.outcome .text").inner_text()
                assert s.foreign == [] and s.dialogs == []
                return tool, final

        tool, final = await asyncio.to_thread(look)
    assert tool == 'get_weather_alerts(state="CA")'
    assert final == answer


async def test_approve_in_the_browser_resumes_the_run_live(
    server: RunningServer, client: Client, worker: Worker
) -> None:
    await client.start_workflow(
        AskAgent.run,
        args=["researcher", "What are durable agents?"],
        id="research-1",
        task_queue=TASK_QUEUE,
    )
    await client.get_workflow_handle("research-1").result(timeout=20)
    await client.start_workflow(Pipeline.run, "o-1", id="order-1", task_queue=TASK_QUEUE)
    await client.start_workflow(Broken.run, id="broken-1", task_queue=TASK_QUEUE)
    handle = await client.start_workflow(
        AskAgent.run,
        args=["refunder", "Refund order A-17, it arrived broken"],
        id="refund-A-17",
        task_queue=TASK_QUEUE,
    )

    async def waiting() -> bool:
        reply = await server.get("/api/v1/approvals")
        return bool(reply.json()["approvals"])

    await wait_until(waiting, what="the approval request")
    await wait_until(
        lambda: _failing(client, "broken-1"), what="the broken workflow's task failure"
    )

    def browse() -> dict[str, Any]:
        with browser_session(server.url, server.token) as s:
            page = s.page
            assert "token=" not in page.url  # exchanged for the cookie
            page.wait_for_selector("table.runs")
            screenshot(page, "runs.png")
            page.goto(f"{server.url}/approvals")
            page.wait_for_selector(".approval-card")
            screenshot(page, "approvals.png")
            page.goto(f"{server.url}/runs/refund-A-17")
            page.wait_for_selector("#approvals-inline")
            screenshot(page, "run-waiting.png")
            page.locator("#approvals-inline button.approve").click()
            # No reload: the live stream brings the tool result and the final answer.
            page.wait_for_selector("li.outcome", timeout=20_000)
            final = page.locator("li.outcome .text").inner_text()
            approved = page.locator("li.tool .chip.approval-approved").count()
            screenshot(page, "run.png")
            return {
                "final": final,
                "approved": approved,
                "foreign": s.foreign,
                "dialogs": s.dialogs,
            }

    seen = await asyncio.to_thread(browse)
    assert seen["final"] == "The refund of 25 on A-17 is done."
    assert seen["approved"] == 1
    assert seen["foreign"] == [] and seen["dialogs"] == []
    assert await handle.result(timeout=10) == "The refund of 25 on A-17 is done."


async def _failing(client: Client, workflow_id: str) -> bool:
    return bool((await client.get_workflow_handle(workflow_id).describe()).task_failure)


async def test_hostile_tool_output_is_text_and_no_dialog_fires(
    server: RunningServer, client: Client, worker: Worker
) -> None:
    await client.start_workflow(
        AskAgent.run, args=["hostile", "look up xss"], id="hostile-1", task_queue=TASK_QUEUE
    )
    await client.get_workflow_handle("hostile-1").result(timeout=20)

    def look() -> dict[str, Any]:
        with browser_session(server.url, server.token) as s:
            response = s.page.goto(f"{server.url}/runs/hostile-1")
            assert response is not None
            s.page.wait_for_timeout(300)
            for tab in ("timeline", "history"):
                s.page.goto(f"{server.url}/runs/hostile-1?tab={tab}")
                s.page.wait_for_timeout(100)
            s.page.goto(f"{server.url}/runs/hostile-1")
            return {
                "result": s.page.locator("li.tool pre.payload").first.inner_text(),
                "final": s.page.locator("li.outcome .text").inner_text(),
                "images": s.page.locator("main img").count(),
                "scripts": s.page.locator("main script").count(),
                "csp": response.headers["content-security-policy"],
                "dialogs": s.dialogs,
                "foreign": s.foreign,
            }

    seen = await asyncio.to_thread(look)
    assert seen["result"] == HOSTILE
    assert seen["final"] == "<script>alert(2)</script> done"
    assert seen["images"] == 0 and seen["scripts"] == 0
    assert seen["dialogs"] == []
    assert "script-src 'self'" in seen["csp"]
    assert seen["foreign"] == []


async def test_fork_from_here_opens_the_fork_and_its_diff_with_the_source(
    server: RunningServer, client: Client, worker: Worker
) -> None:
    await client.start_workflow(
        AskAgent.run,
        args=["researcher", "What are durable agents?"],
        id="research-1",
        task_queue=TASK_QUEUE,
    )
    await client.get_workflow_handle("research-1").result(timeout=20)

    def fork() -> dict[str, Any]:
        with browser_session(server.url, server.token) as s:
            s.page.goto(f"{server.url}/runs/research-1")
            tools = s.page.locator("#fork-2 select[name=tools]")
            for _ in range(20):  # the page's first live refresh may land right after a click
                if not tools.is_visible():
                    s.page.locator("#fork-2 summary").click()
                s.page.wait_for_timeout(150)
                if tools.is_visible():
                    break
            tools.select_option("recorded")
            s.page.locator("#fork-2 select[name=models]").select_option("recorded")
            with s.page.expect_navigation():
                s.page.locator("#fork-2 button[data-submit]").click()
            url = s.page.url
            diff = s.page.locator("a", has_text="compare with the source").get_attribute("href")
            for _ in range(100):  # until the worker has run the fork
                s.page.goto(f"{server.url}{diff}")
                if "Identical" in s.page.locator("main").inner_text():
                    break
                s.page.wait_for_timeout(100)
            screenshot(s.page, "fork-diff.png")
            return {
                "url": url,
                "identical": s.page.locator("h2", has_text="Identical").count(),
                "dialogs": s.dialogs,
                "foreign": s.foreign,
                "errors": s.console_errors,
            }

    seen = await asyncio.to_thread(fork)
    assert seen["url"].startswith(f"{server.url}/runs/research-1-fork-")
    assert seen["identical"] == 1
    assert seen["dialogs"] == [] and seen["foreign"] == [] and seen["errors"] == []


async def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    server: RunningServer, client: Client
) -> None:
    await client.start_workflow(Pipeline.run, "o-1", id="order-1", task_queue=TASK_QUEUE)
    handle = client.get_workflow_handle("order-1")
    before = len((await handle.fetch_history()).events)

    def attack() -> list[int]:
        with browser_session(server.url, server.token) as s:
            s.page.goto(f"{server.url}/runs/order-1")
            script = """async (url) => {
                const plain = await fetch(url, {method: 'POST', credentials: 'same-origin',
                    headers: {'Content-Type': 'application/json'}, body: '{"reason": "x"}'});
                const form = await fetch(url, {method: 'POST', credentials: 'same-origin',
                    headers: {'Content-Type': 'text/plain'}, body: 'reason=x'});
                return [plain.status, form.status];
            }"""
            return s.page.evaluate(script, "/api/v1/runs/order-1/terminate")

    statuses = await asyncio.to_thread(attack)
    assert statuses == [403, 403]
    assert (await handle.describe()).status == "running"
    assert len((await handle.fetch_history()).events) == before


@pytest.mark.slow
async def test_after_the_sigkill_demo_the_page_shows_what_came_from_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    from examples import agent_crash_demo, demo_support

    monkeypatch.setattr(
        agent_crash_demo,
        "worker_command",
        lambda db_url: [sys.executable, "-m", "tests.examples.scripted_worker", db_url, "alerts"],
    )
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    db_url = f"sqlite:///{tmp_path / 'demo.db'}"
    with demo_support.offline_apis() as apis:
        assert await agent_crash_demo.run_demo(db_url, tmp_path, apis) == 0
    assert "killed worker 1" in capfd.readouterr().out
    with serving(db_url) as server:

        def look() -> dict[str, Any]:
            with browser_session(server.url, server.token) as s:
                s.page.goto(f"{server.url}/runs/{agent_crash_demo.WORKFLOW_ID}")
                screenshot(s.page, "run-after-crash.png")
                tile = s.page.locator(".tile.good .v").inner_text()
                served = s.page.locator("li .chip.good").all_inner_texts()
                api = s.page.evaluate(
                    "async (u) => (await fetch(u)).json()",
                    f"/api/v1/runs/{agent_crash_demo.WORKFLOW_ID}",
                )
                return {"tile": tile, "served": served, "summary": api["summary"]}

        seen = await asyncio.to_thread(look)
    assert seen["tile"] == "1 call"
    # The model call and the tool call worker 1 made were replayed by worker 2.
    assert seen["served"] == ["served from history", "served from history"]
    assert seen["summary"]["served_calls"] == 1 and seen["summary"]["served_tokens"] > 0
    json.dumps(seen)


async def test_a_list_filter_typed_in_the_runs_page_filters_the_list(
    db_url: str, client: Client
) -> None:
    for i, priority in enumerate((1, 5, 9)):
        await client.start_workflow(
            Pipeline.run,
            f"order-{i}",
            id=f"filtered-{i}",
            task_queue=TASK_QUEUE,
            search_attributes={"Priority": priority},
        )
    with serving(db_url) as server:

        def filter_in_the_page() -> tuple[list[str], str, list[str]]:
            with browser_session(server.url, server.token) as s:
                s.page.goto(f"{server.url}/")
                box = s.page.locator("form.filters input[name=query]")
                box.fill("Priority >= 5 AND WorkflowId STARTS_WITH 'filtered-'")
                box.press("Enter")
                s.page.wait_for_url("**query=*")
                ids = s.page.locator("table.runs td.id a").all_inner_texts()
                kept = s.page.locator("form.filters input[name=query]").input_value()
                box = s.page.locator("form.filters input[name=query]")
                box.fill("Priority >= ")
                box.press("Enter")
                s.page.wait_for_load_state()
                shown = s.page.locator("body").inner_text()
                assert s.foreign == [] and s.dialogs == []
                return ids, kept, [shown]

        ids, kept, (error_page,) = await asyncio.to_thread(filter_in_the_page)
    assert sorted(ids) == ["filtered-1", "filtered-2"]
    assert kept == "Priority >= 5 AND WorkflowId STARTS_WITH 'filtered-'"
    assert "list filter" in error_page and "expected a value" in error_page
