"""Stateful MCP sessions: each run gets a connection of its own, pinned to the worker that
opened it; the state a call leaves is there for the next call of the same run."""

from __future__ import annotations

import asyncio
import os

import pytest

from duragent import ApplicationError, Client, UpdateFailedError, Worker
from tests.fixtures.mcp_app import TASK_QUEUE, MCPChat, RunMCPAgent

from .mcp_helpers import ServerLog, activities, mcp_worker, server_log, worker

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


async def test_a_session_ends_with_its_worker_and_the_next_call_says_so(
    client: Client, server_log: ServerLog
) -> None:
    async with await mcp_worker(client):
        handle = await client.start_workflow(
            MCPChat.run, "roamer", id="roam", task_queue=TASK_QUEUE
        )
        assert await handle.execute_update(MCPChat.ask, "Paris") == "location set to Paris"
    # That worker shut down, and the session (the server process and its state) with it. A
    # new worker does not reconnect behind the run's back: the next call says what happened.
    async with await mcp_worker(client):
        with pytest.raises(UpdateFailedError) as failed:
            await handle.execute_update(MCPChat.ask, "Where am I?")
        await handle.terminate()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "MCPSessionLost"
    assert "session with server 'places' was lost" in str(cause)
    assert [c["tool"] for c in server_log.calls()] == ["set_location"]
