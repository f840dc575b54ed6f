"""Stateful MCP sessions: one connection per workflow run, pinned to one worker process.

Some servers keep state between calls (``set_location`` then ``get_weather``), so every
call of a run must reach the same connection. A session is held by a long-running activity,
``duragent.mcp.session``: it connects, then runs a small in-process worker that polls a queue
of the session's own, ``duragent.mcp.session:<run id>/<server>``, on which the run schedules
its calls (``duragent.mcp.session_call``). Only that process polls the queue, so every call
reaches the one connection.

The state cannot be made durable: it lives in the server process (or behind its
connection). So a session is never silently replaced. The holder is ``at_most_once``: if its
worker dies, the engine fails it (``ActivityAttemptInterrupted``) instead of starting it
again elsewhere, and the run learns the session is lost (``MCPSessionLost``). A broken
connection, a worker shutting down and the session timeout end it the same way. When the
run closes, the holder's next heartbeat finds that out and the session ends quietly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from ... import activity
from ...errors import ApplicationError
from .._names import MCP_SESSION, MCP_SESSION_CALL
from . import _shapes
from ._activities import MCPActivities, _failure, describe, perform
from ._pool import Connection

SESSION_LOST: Final = "MCPSessionLost"
"""Error type of a stateful session that ended while its run still needed it."""
_HEARTBEAT_S: Final = 1.0

_open: dict[str, Connection] = {}
"""The sessions this process holds: session id -> its connection."""


def session_queue(session: str) -> str:
    """The task queue of one session's calls (polled only where the session lives)."""
    return f"{MCP_SESSION}:{session}"


@dataclass
class MCPSessionRequest:
    """Opening a stateful session (the holder activity's input)."""

    server: str
    session: str
    v: int = _shapes.FORMAT


@dataclass
class MCPSessionCall:
    """One operation in a stateful session (``op``: list_tools, call_tool, list_prompts or
    get_prompt; ``name``: the tool or prompt)."""

    server: str
    session: str
    op: str
    name: str | None = None
    arguments: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None
    v: int = _shapes.FORMAT


def lost(server: str, why: str) -> ApplicationError:
    return ApplicationError(
        f"the stateful MCP session with server {server!r} was lost ({why}); the state it "
        "held is gone and it is not reconnected silently: handle MCPSessionLost in the "
        "workflow (for example, start the conversation over)",
        type=SESSION_LOST,
        non_retryable=True,
    )


class MCPSessions:
    """The session activities of one worker (its companion workers share its client)."""

    def __init__(self, activities: MCPActivities, client: Any) -> None:
        self.activities = activities
        self.client = client

    async def _hold(self, request: MCPSessionRequest) -> None:
        from ...worker import Worker

        provider = self.activities.provider(request)
        conn = Connection(provider.factory())
        try:
            await conn.open()
        except Exception as err:
            failure = _failure(request.server, "open a session", err, None)
            raise ApplicationError(str(failure), type=failure.type, non_retryable=True) from None
        _open[request.session] = conn
        why = "its connection broke"
        try:
            companion = Worker(
                self.client,
                task_queue=session_queue(request.session),
                activities=[self.call_activity()],
                identity=f"{activity.context().worker_id}/mcp-session",
            )
            async with companion:
                while not conn.broken:
                    activity.heartbeat()  # a closed run cancels this attempt here
                    await asyncio.sleep(_HEARTBEAT_S)
        except asyncio.CancelledError:
            why = "its worker stopped holding it"
        finally:
            _open.pop(request.session, None)
            await conn.close()
        raise lost(request.server, why)

    def call_activity(self) -> Callable[..., Any]:
        @activity.defn(name=MCP_SESSION_CALL)
        async def mcp_session_call(call: MCPSessionCall) -> dict[str, Any]:
            conn = _open.get(call.session)
            if conn is None or conn.broken:
                raise lost(call.server, "it is no longer open on this worker")
            try:
                return await perform(conn.server, call.op, call.name, call.arguments, call.meta)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                failure = _failure(call.server, describe(call.op, call.name), err, conn)
                if conn.broken:  # a transport failure: the state went with the connection
                    raise lost(call.server, str(failure)) from None
                raise failure from None

        return mcp_session_call

    def functions(self) -> list[Callable[..., Any]]:
        @activity.defn(name=MCP_SESSION)
        async def mcp_session(request: MCPSessionRequest) -> None:
            await self._hold(request)

        return [mcp_session]
