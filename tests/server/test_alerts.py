"""Alert webhooks, posted to a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from duragent import Client, Worker

from .conftest import serving, wait_until
from .ui_app import TASK_QUEUE, AskAgent, Broken, Fails


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["content-length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/hook", received
    finally:
        httpd.shutdown()
        httpd.server_close()


async def test_alerts_for_a_failed_run_a_failing_task_and_a_waiting_approval(
    db_url: str, client: Client, worker: Worker, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = webhook
    with serving(
        db_url,
        alert_webhooks=[url],
        approval_alert_after_s=0.0,
        alert_task_failure_attempts=1,
    ):
        await client.start_workflow(Fails.run, id="fails-1", task_queue=TASK_QUEUE)
        await client.start_workflow(Broken.run, id="broken-1", task_queue=TASK_QUEUE)
        await client.start_workflow(
            AskAgent.run, args=["refunder", "refund"], id="refund-1", task_queue=TASK_QUEUE
        )

        async def all_three() -> bool:
            return {a["kind"] for a in received} >= {
                "run_failed",
                "task_failing",
                "approval_waiting",
            }

        await wait_until(all_three, timeout=30, what="three alerts")
    by_kind = {a["kind"]: a for a in received}
    failed = by_kind["run_failed"]
    assert failed["workflow_id"] == "fails-1"
    assert "the order does not exist" in failed["message"]
    assert failed["url"].startswith("http://127.0.0.1:") and "/runs/fails-1" in failed["url"]
    assert "fails-1" in failed["text"]
    assert by_kind["task_failing"]["workflow_id"] == "broken-1"
    assert "a bug in workflow code" in by_kind["task_failing"]["message"]
    waiting = by_kind["approval_waiting"]
    assert waiting["workflow_id"] == "refund-1" and "send_refund" in waiting["message"]
    # Each alert once.
    assert len(received) == 3
