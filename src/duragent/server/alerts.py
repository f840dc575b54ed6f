"""Alert webhooks: a JSON POST when a run fails, a workflow task keeps failing, or an
approval has waited longer than a threshold.

Each alert is sent once (per run, or per tool call), to every ``--alert-webhook`` URL, with
a few retries. The body carries ``text`` (so Slack-style incoming webhooks show it as is)
and the facts as fields::

    {"kind": "run_failed", "text": "...", "workflow_id": "...", "run_id": "...",
     "workflow_type": "...", "message": "...", "url": "http://host:port/runs/..."}

Runs that had already failed when the server started are not reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

from .._backend import RunStatus
from .source import RunFilter, RunSource

log = logging.getLogger("duragent.server.alerts")

CHECK_INTERVAL_S: Final = 2.0
TASK_FAILURE_ATTEMPTS: Final = 3
"""A workflow task that failed this many times in a row raises an alert."""
SEND_TIMEOUT_S: Final = 5.0
RETRIES: Final = 3


@dataclass(frozen=True)
class AlertConfig:
    """Where and when to alert."""

    webhooks: Sequence[str]
    approval_after_s: float = 3600.0
    """Alert when an approval has waited this long."""
    base_url: str = ""
    """The server's URL, for links to the run page."""
    task_failure_attempts: int = TASK_FAILURE_ATTEMPTS
    """Alert when a workflow task has failed this many times in a row."""


def _post(url: str, body: bytes) -> None:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=SEND_TIMEOUT_S) as response:
        response.read()


class Alerts:
    """Watches the runs and posts alerts."""

    def __init__(self, source: RunSource, config: AlertConfig) -> None:
        self.source = source
        self.config = config
        self.sent: set[tuple[str, str]] = set()
        self.sent_count = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.config.webhooks and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="duragent-alerts")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        failed = await self.source.list_runs(RunFilter(status=RunStatus.FAILED), limit=500)
        self.sent |= {("run_failed", r.execution.run_id) for r in failed.rows}
        while True:
            try:
                await self.check()
            except Exception:  # a failed read must not stop the alerts
                log.exception("alert check failed")
            await asyncio.sleep(CHECK_INTERVAL_S)

    async def check(self) -> None:
        """Look for new alert conditions and send them."""
        failed = await self.source.list_runs(RunFilter(status=RunStatus.FAILED), limit=100)
        for row in failed.rows:
            e = row.execution
            await self._alert(
                "run_failed",
                e.run_id,
                e,
                row.summary.last_error or "failed",
                f"Run {e.id} ({e.workflow_type}) failed: {row.summary.last_error or '?'}",
            )
        failing = await self.source.list_runs(RunFilter(failing=True), limit=100)
        for row in failing.rows:
            e = row.execution
            if e.task_failure and e.task_attempts >= self.config.task_failure_attempts:
                await self._alert(
                    "task_failing",
                    e.run_id,
                    e,
                    e.task_failure,
                    f"Run {e.id} ({e.workflow_type}): its workflow task failed "
                    f"{e.task_attempts} times: {e.task_failure}",
                )
        now = time.time() * 1000
        for e, p in await self.source.pending_approvals():
            waited = (now - p.requested_at) / 1000
            if waited >= self.config.approval_after_s:
                await self._alert(
                    "approval_waiting",
                    f"{e.run_id}/{p.call_id}",
                    e,
                    f"{p.tool}({p.arguments}) waits for approval",
                    f"Run {e.id}: {p.tool}({p.arguments}) has waited {waited:.0f}s for approval",
                    call_id=p.call_id,
                    waited_seconds=round(waited, 1),
                )

    async def _alert(
        self, kind: str, key: str, e: Any, message: str, text: str, **extra: Any
    ) -> None:
        if (kind, key) in self.sent:
            return
        self.sent.add((kind, key))
        url = f"{self.config.base_url}/runs/{quote(e.id, safe='')}?run_id={e.run_id}"
        body = json.dumps(
            {
                "kind": kind,
                "text": f"{text}\n{url}",
                "workflow_id": e.id,
                "run_id": e.run_id,
                "workflow_type": e.workflow_type,
                "message": message,
                "url": url,
                **extra,
            },
            ensure_ascii=False,
        ).encode()
        for hook in self.config.webhooks:
            for attempt in range(RETRIES):
                try:
                    await asyncio.to_thread(_post, hook, body)
                    self.sent_count += 1
                    break
                except (urllib.error.URLError, OSError) as err:
                    log.warning("alert webhook %s failed (attempt %d): %s", hook, attempt + 1, err)
                    await asyncio.sleep(0.5 * 2**attempt)
