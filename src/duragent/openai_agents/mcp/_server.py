"""Workflow side of durable MCP: ``durable_mcp_server("weather")`` on an agent.

It is an SDK ``MCPServer`` that never connects to anything. Inside a workflow:

* ``list_tools`` runs the list activity once per workflow run; the recorded list serves every
  later turn, every replay and every agent of the run (refresh it with
  :meth:`DurableMCPServer.invalidate_tools_cache`). The SDK's tool filter and approval policy
  apply to the recorded list, in workflow code, so a callable filter must be deterministic.
* ``call_tool`` runs the call activity under the server's (or the tool's) ``ToolOptions``.
  A result the server flagged ``isError`` is an ordinary result: the model reads it, and
  it is not retried. A call that failed for good (unreachable server after the retries, a
  refused request, an at-most-once call a crash interrupted) gives the model an error result
  that says what happened.
* ``list_prompts`` and ``get_prompt`` run activities too (recorded, not cached).

Results cross as Duragent's own recorded shapes (``_shapes``) and are rebuilt here as the
installed ``mcp`` package's models, which is what the SDK expects.
"""

from __future__ import annotations

import asyncio
import inspect
from asyncio import FIRST_COMPLETED
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from agents import UserError
from agents.mcp import MCPServer
from mcp.types import CallToolResult, GetPromptResult, ListPromptsResult
from mcp.types import Tool as MCPTool

from ... import workflow
from ..._runtime import in_workflow, runtime
from ...errors import ActivityError, ApplicationError, ConfigurationError
from ...retry import RetryPolicy
from .._names import (
    MCP_CALL_TOOL,
    MCP_GET_PROMPT,
    MCP_LIST_PROMPTS,
    MCP_LIST_TOOLS,
    MCP_SESSION,
    MCP_SESSION_CALL,
)
from .._settings import current_settings
from .._tools import INTERRUPTED, ToolOptions, interrupted_message
from . import _shapes
from ._activities import (
    REJECTED,
    UNREACHABLE,
    MCPCallRequest,
    MCPPromptRequest,
    MCPServerProvider,
    MCPServerRequest,
    describe,
)
from ._sessions import SESSION_LOST, MCPSessionCall, MCPSessionRequest, lost, session_queue

if TYPE_CHECKING:
    from agents import AgentBase, RunContextWrapper

MCP_SETTINGS_KEY: Final = "duragent.openai_agents.mcp"
"""Run-state key of the worker's MCP servers (an :class:`MCPSettings`)."""
_TOOLS_KEY: Final = "duragent.openai_agents.mcp.tools"
"""Run-state key of the tool lists recorded in this run: server name -> pending list."""
_SESSIONS_KEY: Final = "duragent.openai_agents.mcp.sessions"
"""Run-state key of the run's stateful sessions: server name -> :class:`_Session`."""
_ACTIVITIES: Final = {
    "list_tools": MCP_LIST_TOOLS,
    "call_tool": MCP_CALL_TOOL,
    "list_prompts": MCP_LIST_PROMPTS,
    "get_prompt": MCP_GET_PROMPT,
}


class MCPSessionLost(ApplicationError, UserError):
    """Raised in workflow code when a stateful MCP session (``MCPServerProvider(...,
    stateful=True)``) ended while its run still needed it: its worker died, its connection
    broke, or it timed out. Its state is gone; it is never reopened silently. Not retried."""

    def __init__(self, message: str) -> None:
        # Also the SDK's UserError, which its MCP tool code re-raises as it is (instead of
        # wrapping it in a generic error), so workflow code can catch this type.
        ApplicationError.__init__(self, message, type=SESSION_LOST, non_retryable=True)


@dataclass
class _Session:
    """A run's stateful session: the activity holding it, and its calls' queue."""

    holder: Any
    session: str
    used: bool = False
    """Whether a call completed in it (then its end loses state)."""


@dataclass(frozen=True)
class MCPSettings:
    """The MCP servers declared on the plugin of the worker running a workflow."""

    providers: dict[str, MCPServerProvider]

    @classmethod
    def of(cls, providers: Sequence[MCPServerProvider]) -> MCPSettings:
        """Settings of ``providers``; a clear error for duplicates and other objects."""
        by_name: dict[str, MCPServerProvider] = {}
        for p in providers:
            if not isinstance(p, MCPServerProvider):  # pyright: ignore[reportUnnecessaryIsInstance]
                raise ConfigurationError(
                    f"mcp_servers takes MCPServerProvider(name, factory) entries, not "
                    f"{type(p).__name__}: the server is created on the worker by the factory"
                )
            if p.name in by_name:
                raise ConfigurationError(f"two MCP servers are named {p.name!r}")
            by_name[p.name] = p
        return cls(by_name)


def _settings() -> MCPSettings | None:
    found = runtime().run_state().get(MCP_SETTINGS_KEY)
    return found if isinstance(found, MCPSettings) else None


class DurableMCPServer(MCPServer):
    """An MCP server declared on the worker, used from workflow code by name.

    Create it with :func:`durable_mcp_server`. Outside a workflow it refuses to work: there is
    no connection to use (the connection details live on the workers).
    """

    def __init__(self, name: str, tool_filter: Any = None, **sdk_options: Any) -> None:
        super().__init__(**sdk_options)
        self._name = name
        self.tool_filter = tool_filter

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"durable_mcp_server({self._name!r})"

    async def connect(self) -> None:
        """Nothing to do: workers connect, in the MCP activities."""

    async def cleanup(self) -> None:
        """Nothing to do: workers own the connections."""

    # -- configuration ------------------------------------------------------------------------

    def _provider(self, what: str) -> MCPServerProvider:
        if not in_workflow():
            raise ConfigurationError(
                f"durable_mcp_server({self._name!r}) can {what} only inside a workflow (run "
                "by a worker whose OpenAIAgentsPlugin declares the server); outside one, use "
                "the SDK's MCP server classes directly"
            )
        settings = _settings()
        provider = settings.providers.get(self._name) if settings is not None else None
        if provider is None:
            known = ", ".join(sorted(settings.providers)) if settings is not None else ""
            raise ConfigurationError(
                f"MCP server {self._name!r} is not declared on this worker's plugin "
                f"(declared: {known or 'none'}); add it with OpenAIAgentsPlugin("
                f"mcp_servers=[MCPServerProvider({self._name!r}, factory)])"
            )
        return provider

    def _options(self, tool: str | None, what: str) -> ToolOptions:
        return self._provider(what).options_for(tool, current_settings().tool_options)

    async def _request(
        self,
        op: str,
        options: ToolOptions,
        summary: str,
        name: str | None = None,
        arguments: dict[str, Any] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Any:
        """Run one MCP operation as an activity (in the run's session for a stateful
        server) and return its recorded result."""
        provider = self._provider(describe(op, name))
        once = options.at_most_once and op == "call_tool"
        if provider.stateful:
            return await self._in_session(provider, op, options, summary, name, arguments, meta)
        request: Any
        if op == "call_tool":
            request = MCPCallRequest(self._name, str(name), arguments, meta)
        elif op == "get_prompt":
            request = MCPPromptRequest(self._name, str(name), arguments)
        else:
            request = MCPServerRequest(self._name)
        return await workflow.execute_activity(
            _ACTIVITIES[op],
            request,
            start_to_close_timeout=options.start_to_close_timeout,
            retry_policy=options.retry_policy,
            at_most_once=once,
            task_queue=options.task_queue,
            summary=summary,
        )

    # -- stateful sessions ---------------------------------------------------------------------

    def _session(self, provider: MCPServerProvider, options: ToolOptions) -> _Session:
        sessions: dict[str, _Session] = runtime().run_state().setdefault(_SESSIONS_KEY, {})
        found = sessions.get(self._name)
        if found is None:
            session = f"{workflow.info().run_id}/{self._name}"
            holder = workflow.start_activity(
                MCP_SESSION,
                MCPSessionRequest(self._name, session),
                start_to_close_timeout=provider.session_timeout,
                retry_policy=RetryPolicy(maximum_attempts=1),
                at_most_once=True,  # a session is never re-opened behind the run's back
                task_queue=options.task_queue,
                summary=f"{self._name} session",
            )
            found = sessions[self._name] = _Session(holder, session)
        return found

    async def _in_session(
        self,
        provider: MCPServerProvider,
        op: str,
        options: ToolOptions,
        summary: str,
        name: str | None,
        arguments: dict[str, Any] | None,
        meta: dict[str, Any] | None,
    ) -> Any:
        session = self._session(provider, options)
        if not session.holder.done():
            call = workflow.start_activity(
                MCP_SESSION_CALL,
                MCPSessionCall(self._name, session.session, op, name, arguments, meta),
                task_queue=session_queue(session.session),
                start_to_close_timeout=options.start_to_close_timeout,
                retry_policy=options.retry_policy,
                at_most_once=options.at_most_once and op == "call_tool",
                summary=summary,
            )
            done, _ = await asyncio.wait({call, session.holder}, return_when=FIRST_COMPLETED)
            if call in done:
                try:
                    result = call.result()
                except ActivityError as err:
                    if _error_type(err) == SESSION_LOST:
                        raise MCPSessionLost(str(err.cause)) from None
                    raise
                session.used = True
                return result
            call.cancel()  # queued for a session that is gone: nobody would ever take it
        raise self._session_ended(session)

    def _session_ended(self, session: _Session) -> BaseException:
        err = session.holder.exception()
        kind = _error_type(err)
        if not session.used and kind in (UNREACHABLE, REJECTED):
            # It never opened, so no state was lost: the model is told, and the next call
            # tries to open a session again.
            runtime().run_state().get(_SESSIONS_KEY, {}).pop(self._name, None)
            return err or MCPSessionLost(f"the MCP session with {self._name!r} did not open")
        if kind == SESSION_LOST and isinstance(err, ActivityError):
            return MCPSessionLost(str(err.cause))
        why = (
            "the worker holding it died"
            if kind == INTERRUPTED
            else f"it ended: {err.cause if isinstance(err, ActivityError) else 'closed'}"
        )
        return MCPSessionLost(str(lost(self._name, why)))

    # -- tools ---------------------------------------------------------------------------------

    async def _recorded_tools(self) -> Any:
        options = self._options(None, "list tools")
        cache: dict[str, asyncio.Future[Any]] = runtime().run_state().setdefault(_TOOLS_KEY, {})
        pending = cache.get(self._name)
        if pending is None:
            # One list per run, shared by every agent and turn that asks (even at once).
            pending = asyncio.ensure_future(self._request("list_tools", options, self._name))
            cache[self._name] = pending
        try:
            return await asyncio.shield(pending)
        except ActivityError:
            if cache.get(self._name) is pending:
                del cache[self._name]  # the next turn tries again
            raise

    async def list_tools(
        self,
        run_context: RunContextWrapper[Any] | None = None,
        agent: AgentBase | None = None,
    ) -> list[MCPTool]:
        """The server's tools as recorded in this run, through the tool filter."""
        recorded = await self._recorded_tools()
        tools = [MCPTool.model_validate(w) for w in _shapes.tools_to_wire(recorded)]
        return await self._filter(tools, run_context, agent)

    @property
    def cached_tools(self) -> list[MCPTool] | None:
        """The tools recorded in the current run, if listed yet."""
        if not in_workflow():
            return None
        pending = runtime().run_state().get(_TOOLS_KEY, {}).get(self._name)
        if pending is None or not pending.done() or pending.exception() is not None:
            return None
        return [MCPTool.model_validate(w) for w in _shapes.tools_to_wire(pending.result())]

    def invalidate_tools_cache(self) -> None:
        """List the tools again (a recorded activity) the next time an agent asks in this
        run. Call it in workflow code when the server's tools changed."""
        if in_workflow():
            runtime().run_state().get(_TOOLS_KEY, {}).pop(self._name, None)

    async def _filter(
        self,
        tools: list[MCPTool],
        run_context: RunContextWrapper[Any] | None,
        agent: AgentBase | None,
    ) -> list[MCPTool]:
        flt = self.tool_filter
        if flt is None:
            return tools
        if isinstance(flt, dict):
            allowed = flt.get("allowed_tool_names")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
            blocked = flt.get("blocked_tool_names") or []  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
            return [
                t for t in tools if (allowed is None or t.name in allowed) and t.name not in blocked
            ]
        if run_context is None or agent is None:
            raise UserError("run_context and agent are required for dynamic tool filtering")
        from agents.mcp import ToolFilterContext

        context = ToolFilterContext(run_context=run_context, agent=agent, server_name=self._name)
        kept: list[MCPTool] = []
        for tool in tools:
            try:
                verdict = flt(context, tool.model_copy(deep=True))
                if inspect.isawaitable(verdict):
                    verdict = await verdict
            except Exception:
                continue  # as in the SDK: a filter that fails excludes the tool
            if verdict:
                kept.append(tool)
        return kept

    async def call_tool(
        self,
        tool_name: str,
        arguments: dict[str, Any] | None,
        meta: dict[str, Any] | None = None,
    ) -> CallToolResult:
        """Call a tool through the call activity (see the module docstring for errors)."""
        options = self._options(tool_name, f"call {tool_name!r}")
        label = f"{self._name}.{tool_name}"
        try:
            recorded = await self._request("call_tool", options, label, tool_name, arguments, meta)
        except ActivityError as err:
            cause = err.cause
            interrupted = isinstance(cause, ApplicationError) and cause.type == INTERRUPTED
            if interrupted and options.on_interrupted == "fail":
                raise
            text = (
                interrupted_message(label)
                if interrupted
                else f"The call to {label} failed: {cause}"
            )
            recorded = _shapes.error_result(text)
        return CallToolResult.model_validate(_shapes.result_to_wire(recorded))

    def _get_failure_error_function(self, agent_failure_error_function: Any) -> Any:
        inner = super()._get_failure_error_function(agent_failure_error_function)
        if inner is None:
            return None

        def failure(ctx: Any, error: Exception) -> Any:
            # A durable failure the run must stop on (an interrupted at-most-once call with
            # on_interrupted="fail", a lost stateful session) is not the model's to read.
            if _stops_run(error):
                return None
            return inner(ctx, error)

        return failure

    # -- prompts -------------------------------------------------------------------------------

    async def list_prompts(self) -> ListPromptsResult:
        """The server's prompts (a recorded activity on every call)."""
        options = self._options(None, "list prompts")
        recorded = await self._request("list_prompts", options, self._name)
        return ListPromptsResult.model_validate(_shapes.prompts_to_wire(recorded))

    async def get_prompt(
        self, name: str, arguments: dict[str, Any] | None = None
    ) -> GetPromptResult:
        """One prompt, filled in with ``arguments`` (a recorded activity)."""
        options = self._options(None, f"get prompt {name!r}")
        recorded = await self._request(
            "get_prompt", options, f"{self._name}.prompt:{name}", name, arguments
        )
        return GetPromptResult.model_validate(_shapes.prompt_to_wire(recorded))


def _error_type(err: BaseException | None) -> str | None:
    cause = err.cause if isinstance(err, ActivityError) else None
    return cause.type if isinstance(cause, ApplicationError) else None


def _stops_run(error: BaseException) -> bool:
    for e in (error, error.__cause__):
        if isinstance(e, MCPSessionLost) or (
            isinstance(e, ActivityError) and _error_type(e) == INTERRUPTED
        ):
            return True
    return False


def check_mcp_servers(agent: Any) -> None:
    """Refuse an agent's MCP servers that would do I/O in workflow code."""
    for server in agent.mcp_servers:
        if not isinstance(server, DurableMCPServer):
            raise ConfigurationError(
                f"agent {agent.name!r} uses the MCP server {server.name!r} "
                f"({type(server).__name__}), which would connect from workflow code; declare "
                "it on the worker with OpenAIAgentsPlugin(mcp_servers=[MCPServerProvider("
                "'name', lambda: <the server>)]) and give the agent "
                "durable_mcp_server('name') instead"
            )


def durable_mcp_server(
    name: str,
    *,
    tool_filter: Any = None,
    require_approval: Any = None,
    use_structured_content: bool = False,
    tool_meta_resolver: Callable[..., Any] | None = None,
    failure_error_function: Any = ...,
    **sdk_options: Any,
) -> DurableMCPServer:
    """An MCP server declared on the worker, for ``Agent(mcp_servers=[...])`` in workflows.

    Declare the server on the plugin with ``MCPServerProvider(name, factory)``; this
    reference carries only the name, so nothing about the connection enters history::

        agent = Agent(name="weather", mcp_servers=[durable_mcp_server("weather")])

    Args:
        name: The provider's name.
        tool_filter: The SDK's tool filter (``create_static_tool_filter(...)`` or a function
            of ``(ToolFilterContext, Tool)``), applied in workflow code to the recorded tool
            list; a function must be deterministic.
        require_approval: The SDK's approval policy (``"always"``, ``{"tool": "always"}``,
            ...): those calls pause the run durably until a human decides (run the agent
            with ``ApprovalsMixin.run_agent`` or the built-in agent workflow).
        use_structured_content: Give the model the structured result instead of its
            content blocks, when the server sends one.
        tool_meta_resolver: The SDK's per-call ``_meta`` resolver (runs in workflow code).
            The idempotency key is added to ``_meta`` as ``duragent/idempotency-key``.
        failure_error_function: The SDK's formatter of tool failures for the model.
        **sdk_options: Other ``MCPServer`` options (guardrails, ``custom_data_extractor``).
    """
    if failure_error_function is not ...:
        sdk_options["failure_error_function"] = failure_error_function
    return DurableMCPServer(
        name,
        tool_filter=tool_filter,
        require_approval=require_approval,
        use_structured_content=use_structured_content,
        tool_meta_resolver=tool_meta_resolver,
        **sdk_options,
    )
