"""Worker side of durable MCP: the servers a worker can reach, and the activities that
reach them.

``MCPServerProvider("weather", factory)`` is declared on the plugin. The factory runs only in
the worker process, inside the MCP activities, so commands, URLs, headers and secrets in it
never enter history: workflow code and history know the server by its name alone.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ... import activity
from ...errors import ApplicationError, ConfigurationError, SerializationError
from .._names import (
    MCP_CALL_TOOL,
    MCP_GET_PROMPT,
    MCP_IDEMPOTENCY_META,
    MCP_LIST_PROMPTS,
    MCP_LIST_TOOLS,
)
from .._tools import ToolOptions
from . import _shapes
from ._pool import Connection, SessionPool

_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
UNREACHABLE = "MCPServerUnreachable"
"""Error type of an attempt that could not reach the server (retried under the policy)."""
REJECTED = "MCPRequestRejected"
"""Error type of a request the server refused at the protocol level (not retried)."""
_RETRYABLE_CODES = frozenset({-32000, -32001})
"""JSON-RPC error codes of a closed connection and a request timeout: worth another try."""


class MCPServerProvider:
    """An MCP server that workers reach on behalf of durable agents.

    Declare it on the plugin; agents refer to it by name with
    ``durable_mcp_server("weather")``::

        OpenAIAgentsPlugin(mcp_servers=[
            MCPServerProvider(
                "weather",
                lambda: MCPServerStdio(params={"command": "weather-mcp",
                                               "env": {"API_KEY": os.environ["API_KEY"]}}),
                per_tool={"send_payment": ToolOptions(at_most_once=True)},
            )
        ])

    Args:
        name: How workflow code and history refer to the server (letters, digits, ``_``
            and ``-``).
        factory: Returns a new, unconnected SDK ``MCPServer`` (``MCPServerStdio``,
            ``MCPServerSse``, ``MCPServerStreamableHttp``, ...). Called on the worker only.
        tool_options: Timeouts, retries and at-most-once behaviour of this server's tool
            calls (default: the plugin's ``tool_options``); its timeout and retries also
            govern listing tools and prompts.
        per_tool: Options for single tools by their MCP name, replacing ``tool_options``.
        stateful: Give each workflow run one session of its own, held open on one worker
            for the run's lifetime (for servers that keep state between calls). If that
            worker dies, or the connection breaks, the session's state is gone: the run's
            next MCP call raises ``MCPSessionLost`` (never a silent reconnect).
        session_timeout: How long a stateful session may stay open.
        max_idle_connections: Connected servers kept per worker process for reuse
            (stateless servers).
        idle_timeout: A pooled connection unused this long is closed instead of reused.
    """

    def __init__(
        self,
        name: str,
        factory: Callable[[], Any],
        *,
        tool_options: ToolOptions | None = None,
        per_tool: Mapping[str, ToolOptions] | None = None,
        stateful: bool = False,
        session_timeout: timedelta = timedelta(days=1),
        max_idle_connections: int = 4,
        idle_timeout: timedelta = timedelta(minutes=5),
    ) -> None:
        if not _NAME.match(name or ""):
            raise ConfigurationError(
                f"MCP server name {name!r} must be letters, digits, '_' or '-' (it is shown "
                "as <server>.<tool> in timelines)"
            )
        if not callable(factory):
            raise ConfigurationError(
                f"MCPServerProvider({name!r}, factory): the factory must be a function that "
                "returns a new MCP server (e.g. lambda: MCPServerStdio(...)), not "
                f"{type(factory).__name__}"
            )
        if max_idle_connections < 0:
            raise ConfigurationError("max_idle_connections must be >= 0")
        for tool, options in (per_tool or {}).items():
            if not isinstance(options, ToolOptions):
                raise ConfigurationError(
                    f"per_tool[{tool!r}] of MCP server {name!r} must be a ToolOptions"
                )
        self.name = name
        self.factory = factory
        self.tool_options = tool_options
        self.per_tool: dict[str, ToolOptions] = dict(per_tool or {})
        self.stateful = stateful
        self.session_timeout = session_timeout
        self.max_idle_connections = max_idle_connections
        self.idle_timeout = idle_timeout
        self._pools: dict[int, tuple[asyncio.AbstractEventLoop, SessionPool]] = {}

    def __repr__(self) -> str:
        return f"MCPServerProvider({self.name!r})"

    def options_for(self, tool: str | None, defaults: ToolOptions) -> ToolOptions:
        """The options of one tool's calls (``None``: of listing tools and prompts)."""
        if tool is not None and tool in self.per_tool:
            return self.per_tool[tool]
        return self.tool_options or defaults

    def pool(self) -> SessionPool:
        """This process's pool for the running event loop."""
        loop = asyncio.get_running_loop()
        for key, (old, _) in list(self._pools.items()):
            if old.is_closed():
                del self._pools[key]
        found = self._pools.get(id(loop))
        if found is None or found[0] is not loop:
            pool = SessionPool(
                self.factory, self.max_idle_connections, self.idle_timeout.total_seconds()
            )
            self._pools[id(loop)] = (loop, pool)
            return pool
        return found[1]


@dataclass
class MCPServerRequest:
    """Listing a server's tools or prompts (an activity's input, recorded in history)."""

    server: str
    v: int = _shapes.FORMAT


@dataclass
class MCPCallRequest:
    """One MCP tool call, as recorded in history (no connection details: only names)."""

    server: str
    tool: str
    arguments: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None
    v: int = _shapes.FORMAT


@dataclass
class MCPPromptRequest:
    """Getting one prompt, as recorded in history."""

    server: str
    name: str
    arguments: dict[str, Any] | None = None
    v: int = _shapes.FORMAT


def _error_code(err: BaseException) -> int | None:
    """The JSON-RPC error code of an ``mcp`` protocol error (any ``mcp`` version)."""
    code = getattr(getattr(err, "error", None), "code", None)
    return code if isinstance(code, int) else None


def _http_status(err: BaseException) -> int | None:
    for e in (err, err.__cause__, err.__context__):
        status = getattr(getattr(e, "response", None), "status_code", None)
        if isinstance(status, int):
            return status
    match = re.search(r"HTTP error (\d{3})", str(err))
    return int(match.group(1)) if match else None


def _failure(
    server: str, what: str, err: BaseException, conn: Connection | None
) -> ApplicationError:
    """What a failed MCP request means for retrying it.

    A protocol-level refusal (unknown tool, invalid arguments) would be refused again: not
    retried. Authentication and authorization failures neither. Anything else (the server
    process died, the connection dropped or timed out, the server is not up) is a transport
    failure: retried under the policy, on a fresh connection.
    """
    code = _error_code(err)
    message = str(getattr(getattr(err, "error", None), "message", "") or err) or type(err).__name__
    if code is not None and code not in _RETRYABLE_CODES:
        return ApplicationError(
            f"MCP server {server!r} refused to {what}: {message}", type=REJECTED, non_retryable=True
        )
    if conn is not None:
        conn.broken = True
    status = _http_status(err)
    if status in (401, 403):
        return ApplicationError(
            f"MCP server {server!r} refused to {what}: HTTP {status} (check the credentials "
            "its factory uses)",
            type=REJECTED,
            non_retryable=True,
        )
    return ApplicationError(
        f"MCP server {server!r} could not be reached to {what}: {type(err).__name__}: {message}",
        type=UNREACHABLE,
    )


class MCPActivities:
    """The MCP activities of one plugin: they find servers by name among its providers."""

    def __init__(self, providers: Mapping[str, MCPServerProvider]) -> None:
        self.providers = dict(providers)

    def provider(self, request: Any) -> MCPServerProvider:
        """The provider a request names (any MCP activity input: ``server`` and ``v``)."""
        try:
            _shapes.check_version(request.v, f"an MCP request ({type(request).__name__})")
        except SerializationError as err:
            raise ApplicationError(str(err), non_retryable=True) from None
        name = request.server
        found = self.providers.get(name)
        if found is None:
            known = ", ".join(sorted(self.providers)) or "none"
            raise ApplicationError(
                f"MCP server {name!r} is not declared on this worker (declared: {known}); "
                "add MCPServerProvider(name, factory) to OpenAIAgentsPlugin(mcp_servers=[...])",
                non_retryable=True,
            )
        return found

    async def _run(
        self,
        request: MCPServerRequest | MCPCallRequest | MCPPromptRequest,
        op: str,
        name: str | None = None,
    ) -> Any:
        arguments = getattr(request, "arguments", None)
        meta = getattr(request, "meta", None)
        what = describe(op, name)
        pool = self.provider(request).pool()
        try:
            async with pool.connection() as conn:
                try:
                    return await perform(conn.server, op, name, arguments, meta)
                except asyncio.CancelledError:
                    raise
                except Exception as err:
                    raise _failure(request.server, what, err, conn) from None
        except (ApplicationError, asyncio.CancelledError):
            raise
        except Exception as err:  # connecting failed
            raise _failure(request.server, what, err, None) from None

    def functions(self) -> list[Callable[..., Any]]:
        """The four activities, bound to this plugin's providers."""

        @activity.defn(name=MCP_LIST_TOOLS)
        async def mcp_list_tools(request: MCPServerRequest) -> dict[str, Any]:
            return await self._run(request, "list_tools")

        @activity.defn(name=MCP_CALL_TOOL)
        async def mcp_call_tool(request: MCPCallRequest) -> dict[str, Any]:
            return await self._run(request, "call_tool", request.tool)

        @activity.defn(name=MCP_LIST_PROMPTS)
        async def mcp_list_prompts(request: MCPServerRequest) -> dict[str, Any]:
            return await self._run(request, "list_prompts")

        @activity.defn(name=MCP_GET_PROMPT)
        async def mcp_get_prompt(request: MCPPromptRequest) -> dict[str, Any]:
            return await self._run(request, "get_prompt", request.name)

        return [mcp_list_tools, mcp_call_tool, mcp_list_prompts, mcp_get_prompt]


def describe(op: str, name: str | None) -> str:
    """What an operation does, for error messages (``could not be reached to ...``)."""
    return {
        "list_tools": "list its tools",
        "call_tool": f"call {name!r}",
        "list_prompts": "list its prompts",
        "get_prompt": f"get prompt {name!r}",
    }[op]


async def perform(
    server: Any,
    op: str,
    name: str | None,
    arguments: dict[str, Any] | None,
    meta: dict[str, Any] | None,
) -> dict[str, Any]:
    """One operation on a connected SDK server, its result in Duragent's recorded shape."""
    if op == "list_tools":
        return _shapes.tools_from_mcp(list(await server.list_tools()))
    if op == "call_tool":
        # The key is the same in every retry of this call: a server that deduplicates can
        # make a retried call take effect once.
        meta = {**(meta or {}), MCP_IDEMPOTENCY_META: activity.info().idempotency_key}
        return _shapes.result_from_mcp(await server.call_tool(name, arguments, meta=meta))
    if op == "list_prompts":
        return _shapes.prompts_from_mcp(await server.list_prompts())
    if op == "get_prompt":
        return _shapes.prompt_from_mcp(await server.get_prompt(name, arguments))
    raise ApplicationError(f"unknown MCP operation {op!r}", non_retryable=True)
