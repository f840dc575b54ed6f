"""The run page in a real browser while a model call streams: its text appears word by
word, and when the call's attempt breaks and is retried, the text is cleared and the retry's
text replaces it (never appended to it)."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from typing import Any

import pytest

from duragent import Client, RetryPolicy, Worker
from duragent.openai_agents import (
    AgentWorkflow,
    ModelActivityParameters,
    OpenAIAgentsPlugin,
    start_agent,
)

from .browser import browser_session, require_browser, screenshot
from .conftest import serving
from .stream_models import ANSWER, RetriedStreamProvider
from .ui_app import TASK_QUEUE

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

AGENT = "tests.server.ui_app:researcher"

_LIVE_TEXT = "() => document.querySelector('#stream-slot .live-text')?.textContent ?? ''"
_RESETS = "() => document.getElementById('stream-slot')?.dataset.resets ?? ''"
_BUBBLES = "() => document.querySelectorAll('#stream-slot .live-call').length"


def _wait(page: Any, script: str, check: Any, timeout: float = 30.0) -> Any:
    """Poll ``script`` in the page until ``check(value)`` (the page's strict CSP forbids
    the string evaluation Playwright's wait_for_function uses)."""
    value: Any = None
    for _ in range(int(timeout / 0.025)):
        value = page.evaluate(script)
        if check(value):
            return value
        page.wait_for_timeout(25)
    raise AssertionError(f"{script} never satisfied the check; last value {value!r}")


async def test_live_text_appears_and_a_retry_clears_it(db_url: str, client: Client) -> None:
    require_browser()
    gate = threading.Event()
    plugin = OpenAIAgentsPlugin(
        model_provider=RetriedStreamProvider(gate, delay=0.12),
        model_params=ModelActivityParameters(
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=400))
        ),
    )
    async with Worker(client, task_queue=TASK_QUEUE, workflows=[AgentWorkflow], plugins=[plugin]):
        handle = await start_agent(
            client,
            "tests.server.ui_app:researcher",
            "?",
            id="live-1",
            task_queue=TASK_QUEUE,
            stream=True,
        )
        with serving(db_url) as server:

            def watch() -> dict[str, Any]:
                with browser_session(server.url, server.token) as s:
                    page = s.page
                    page.goto(f"{server.url}/runs/live-1")
                    page.wait_for_selector(
                        "#stream-slot[data-stream-src^='/api/']", state="attached"
                    )
                    gate.set()  # the model starts writing now
                    draft = _wait(page, _LIVE_TEXT, lambda t: t.startswith("Draft words that"))
                    attempt_before = page.get_attribute("#stream-slot .live-call", "data-attempt")
                    _wait(page, _RESETS, lambda r: r == "1")
                    after_reset = page.evaluate(_LIVE_TEXT)
                    _wait(page, _LIVE_TEXT, lambda t: t.startswith("The answer, streamed"))
                    retry_chip = page.locator("#stream-slot .live-call .chip").inner_text()
                    screenshot(page, "run-page-streaming.png")
                    page.wait_for_selector("li.outcome", timeout=30_000)
                    _wait(page, _BUBBLES, lambda n: n == 0)
                    return {
                        "draft": draft,
                        "attempt_before": attempt_before,
                        "after_reset": after_reset,
                        "retry_chip": retry_chip,
                        "final": page.locator("li.outcome .text").inner_text(),
                        "foreign": s.foreign,
                        "errors": s.console_errors,
                    }

            seen = await asyncio.to_thread(watch)
        outcome = await handle.result(timeout=30)
    assert seen["attempt_before"] == "1"
    assert "Draft" not in seen["after_reset"]  # the reset cleared the broken attempt's text
    assert seen["retry_chip"] == "attempt 2"
    assert outcome.final_output == ANSWER and ANSWER in seen["final"]
    assert seen["foreign"] == [] and seen["errors"] == []
