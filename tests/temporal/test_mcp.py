"""Durable MCP on Temporal: the same ``MCPServerProvider`` on the plugin, the same
activities, run by Temporal (the test MCP server is the stdio one of the embedded tests,
keeping its own call log)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from duragent import ConfigurationError
from tests.durable_agents.mcp_helpers import SECRET, ServerLog, server_log
from tests.fixtures.mcp_app import WORKFLOWS, plugin

__all__ = ["server_log"]

pytestmark = pytest.mark.timeout(120)


async def test_an_agent_calls_an_mcp_tool_on_temporal(
    temporal_worker: Callable[..., AbstractAsyncContextManager[Any]],
    tclient: Any,
    task_queue: str,
    server_log: ServerLog,
    max_cached: int,
) -> None:
    from temporalio.api.enums.v1 import EventType

    async with temporal_worker(
        workflows=WORKFLOWS, plugins=[plugin(stateful=False)], max_cached_workflows=max_cached
    ):
        handle = await tclient.start_workflow(
            "RunMCPAgent",
            args=["forecaster", "CA?"],
            id=f"mcp-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )
        assert await handle.result() == "Flood watch for CA until 6 PM."
        history = await handle.fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert [s for s in scheduled if s.startswith("duragent.mcp.")] == [
        "duragent.mcp.list_tools",  # once, even when every task replays
        "duragent.mcp.call_tool",
    ]
    calls = server_log.calls("get_alerts")
    assert [c["args"] for c in calls] == [{"state": "CA"}]
    assert calls[0]["key"]
    assert SECRET not in json.dumps(history.to_json_dict())


def test_stateful_servers_are_refused_on_temporal_clearly(
    temporal_worker: Callable[..., AbstractAsyncContextManager[Any]], server_log: ServerLog
) -> None:
    with pytest.raises(ConfigurationError, match=r"stateful MCP servers \(places\) need"):
        temporal_worker(workflows=WORKFLOWS, plugins=[plugin()])
