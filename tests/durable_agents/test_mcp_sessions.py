"""Stateful MCP sessions: each run gets a connection of its own, pinned to the worker that
opened it; the state a call leaves is there for the next call of the same run."""

from __future__ import annotations

import asyncio
import os

from duragent import Client, Worker
from tests.fixtures.mcp_app import TASK_QUEUE, RunMCPAgent

from .mcp_helpers import ServerLog, activities, server_log, worker

__all__ = ["server_log", "worker"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_a_session_keeps_state_between_the_calls_of_a_run(
    worker: Worker, client: Client, server_log: ServerLog
) -> None:
    runs = await asyncio.gather(
        *(
            client.execute_workflow(
                RunMCPAgent.run, args=["locator", "go"], id=f"loc-{i}", task_queue=TASK_QUEUE
            )
            for i in range(2)
        )
    )
    assert runs == ["location set to Paris | Paris"] * 2
    acts = [a for a in await activities(client, "loc-0") if a[0].startswith("duragent.mcp")]
    assert acts == [
        ("duragent.mcp.session", "places session"),
        ("duragent.mcp.session_call", "places"),
        ("duragent.mcp.session_call", "places.set_location"),
        ("duragent.mcp.session_call", "places.get_location"),
    ]
    # Each run had a server process (a session) of its own, for all of its calls.
    by_pid: dict[int, list[str]] = {}
    for call in server_log.calls():
        by_pid.setdefault(call["pid"], []).append(call["tool"])
    assert sorted(by_pid.values()) == [["set_location", "get_location"]] * 2
    pids = set(by_pid)
    # A closed run's session ends: its server process goes away.
    for _ in range(200):
        if not any(_alive(p) for p in pids):
            break
        await asyncio.sleep(0.05)
    assert not any(_alive(p) for p in pids)
