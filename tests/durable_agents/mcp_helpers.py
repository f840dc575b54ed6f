"""Fixtures and helpers of the durable MCP tests: the server's environment (its secret and
its call log) and what history recorded."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from duragent import Client, Worker
from duragent.openai_agents import OpenAIAgentsPlugin
from tests.fixtures.mcp_app import TASK_QUEUE, WORKFLOWS, plugin

SECRET = "sk-weather-SECRET-7f3a91"
"""The API key the factory hands the server; it must never reach history."""


@dataclass
class ServerLog:
    path: Path

    def lines(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]

    def calls(self, tool: str | None = None, event: str = "call") -> list[dict[str, Any]]:
        return [
            c for c in self.lines() if c["event"] == event and (tool is None or c["tool"] == tool)
        ]


@pytest.fixture
def server_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ServerLog:
    """The test server's environment: its secret, its call log and its state directory."""
    log = tmp_path / "mcp-calls.log"
    state = tmp_path / "mcp-state"
    state.mkdir()
    monkeypatch.setenv("WEATHER_API_KEY", SECRET)
    monkeypatch.setenv("MCP_CALL_LOG", str(log))
    monkeypatch.setenv("MCP_STATE_DIR", str(state))
    monkeypatch.delenv("MCP_BLOCK_FILE", raising=False)
    return ServerLog(log)


async def mcp_worker(
    client: Client, agents_plugin: OpenAIAgentsPlugin | None = None, **kwargs: Any
) -> Worker:
    return Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=list(WORKFLOWS),
        plugins=[agents_plugin or plugin()],
        **kwargs,
    )


@pytest.fixture
async def worker(client: Client, server_log: ServerLog) -> AsyncIterator[Worker]:
    async with await mcp_worker(client) as w:
        yield w


async def activities(client: Client, workflow_id: str) -> list[tuple[str, str]]:
    """``(activity type, summary)`` of every activity the run scheduled, in order."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return [
        (e.activity_type, e.summary)  # type: ignore[attr-defined]
        for e in history.events
        if e.TYPE == "ActivityTaskScheduled"
    ]


async def completions(client: Client, workflow_id: str) -> list[Any]:
    """The results of the run's MCP activities, as recorded."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    mcp_seqs = {
        e.seq  # type: ignore[attr-defined]
        for e in history.events
        if e.TYPE == "ActivityTaskScheduled" and e.activity_type.startswith("duragent.mcp.")  # type: ignore[attr-defined]
    }
    return [
        e.result.to_json_value()  # type: ignore[attr-defined]
        for e in history.events
        if e.TYPE == "ActivityTaskCompleted" and e.seq in mcp_seqs  # type: ignore[attr-defined]
    ]
