"""Connected MCP servers kept for reuse, per worker process and server name.

Connecting costs (a stdio server is a new process: about 0.7 s), so the MCP activities take a
connected server from a pool and give it back after the call. Servers are *stateless* by
contract: any pooled connection may serve any call, so a server that keeps per-session state
must not be declared stateless (see ``MCPServerProvider(stateful=...)``).

The SDK's server objects connect and clean up inside anyio task groups, which must be left by
the task that entered them; activities are separate tasks. So each connection is owned by a
holder task of its own that connects, waits to be told to close, and cleans up, while the
activities only send requests through the connected session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

log = logging.getLogger("duragent.mcp")

_PING_AFTER_IDLE_S = 2.0
"""A connection idle longer than this is pinged before reuse (a stdio server may have died
meanwhile; finding out costs a millisecond, and saves an attempt)."""


class Connection:
    """One connected server object and the task that holds its connection open."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.broken = False
        self.idle_since = time.monotonic()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Connect (in the holder task); raises what connecting raised."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        self._task = loop.create_task(self._hold(ready), name="duragent-mcp-connection")
        try:
            await asyncio.shield(ready)
        except asyncio.CancelledError:
            await self.close()
            raise

    async def _hold(self, ready: asyncio.Future[None]) -> None:
        try:
            await self.server.connect()
        except asyncio.CancelledError:
            if not ready.done():
                ready.cancel()
            raise
        except BaseException as err:
            if not ready.done():
                ready.set_exception(err)
            return
        if not ready.done():
            ready.set_result(None)
        try:
            await self._stop.wait()
        finally:
            try:
                await self.server.cleanup()
            except Exception:  # the server is going away either way
                log.debug("cleaning up an MCP server failed", exc_info=True)

    async def ping(self) -> bool:
        session = getattr(self.server, "session", None)
        if session is None or not hasattr(session, "send_ping"):
            return True
        try:
            await asyncio.wait_for(session.send_ping(), 5.0)
        except Exception:
            return False
        return True

    async def close(self) -> None:
        self._stop.set()
        task = self._task
        if task is None or task.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), 10.0)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
        except Exception:
            log.debug("closing an MCP server failed", exc_info=True)


class SessionPool:
    """Idle connections of one server, in one event loop."""

    def __init__(self, factory: Callable[[], Any], max_idle: int, idle_timeout_s: float) -> None:
        self._factory = factory
        self._max_idle = max_idle
        self._idle_timeout_s = idle_timeout_s
        self._idle: list[Connection] = []
        self.connects = 0
        """How many connections this pool opened (for tests and logs)."""

    async def _take(self) -> Connection:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            idle_for = now - conn.idle_since
            if idle_for > self._idle_timeout_s:
                await conn.close()
                continue
            if idle_for > _PING_AFTER_IDLE_S and not await conn.ping():
                await conn.close()
                continue
            return conn
        conn = Connection(self._factory())
        self.connects += 1
        await conn.open()
        return conn

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A connected server for one call; it goes back to the pool unless the caller
        marked it ``broken`` (a transport failure) or was cancelled mid-call."""
        conn = await self._take()
        try:
            yield conn
        except asyncio.CancelledError:
            conn.broken = True
            raise
        finally:
            if not conn.broken and len(self._idle) < self._max_idle:
                conn.idle_since = time.monotonic()
                self._idle.append(conn)
            else:
                await conn.close()

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()
