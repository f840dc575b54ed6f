"""``OpenAIAgentsPlugin``: makes the OpenAI Agents SDK durable on a Duragent worker."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from agents import AgentsException, FunctionTool, ModelProvider
from agents.run import set_default_agent_runner

from ..errors import ConfigurationError
from ._budget import Budget
from ._model_activity import default_model_provider, make_model_activity
from ._runner import DurableAgentRunner
from ._sdk import check_sdk
from ._settings import SETTINGS_KEY, AgentSettings, ModelActivityParameters
from ._tools import ToolOptions, invoke_tool, register_tools
from .mcp._activities import MCPActivities, MCPServerProvider
from .mcp._server import MCP_SETTINGS_KEY, MCPSettings
from .mcp._sessions import MCPSessions

NOOP_NEVER_AWAITED = "coroutine 'noop_coroutine' was never awaited"
"""The warning :func:`quiet_evicted_noop_coroutines` silences."""


def quiet_evicted_noop_coroutines() -> None:
    """Silence one warning that says nothing wrong happened.

    The SDK runs its hooks as ``gather_with_cancel(hook(...), noop_coroutine())``, also on
    its cancellation paths. When temporalio evicts a run from its cache it cancels the
    run's tasks and refuses new ones; the SDK's cancellation path then fails to wrap the
    placeholder coroutine, which is dropped unstarted, and Python warns about it at garbage
    collection: in a worker's log, on evictions, a warning about a function that does
    nothing. Only that message is silenced (process-wide, as warning filters are); any other
    coroutine never awaited is still reported.
    """
    warnings.filterwarnings("ignore", message=NOOP_NEVER_AWAITED, category=RuntimeWarning)


class OpenAIAgentsPlugin:
    """Pass to ``Worker(..., plugins=[OpenAIAgentsPlugin()])``.

    Inside workflows run by that worker, ``Runner.run(agent, input)`` becomes durable: each
    model call and each tool call is an activity, recorded in history and never repeated
    after a crash. The worker also gets the built-in agent and chat workflows.

    Args:
        model_provider: Where model calls go (an SDK ``ModelProvider``, or a function
            returning one, called once per worker process on first use). Default: any
            OpenAI-compatible endpoint from ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL``, else the
            offline local model. Agents name their model as usual (``Agent(model="...")``).
        model_params: Timeouts and retry policy of model calls.
        tool_options: Default timeouts, retries and at-most-once behaviour of tool calls
            (per tool: ``durable_tool(...)``).
        budget: Default spending limit of every workflow run.
        tools: Tools to register up front (needed only for tools not importable by module
            path, e.g. created inside a function).
        builtin_workflows: Register the built-in agent and chat workflows.
        mcp_servers: MCP servers this worker reaches for durable agents, by name
            (``MCPServerProvider``); agents use them with ``durable_mcp_server(name)``.
    """

    def __init__(
        self,
        *,
        model_provider: ModelProvider | Callable[[], ModelProvider] | None = None,
        model_params: ModelActivityParameters | None = None,
        tool_options: ToolOptions | None = None,
        budget: Budget | None = None,
        tools: Sequence[FunctionTool] = (),
        builtin_workflows: bool = True,
        mcp_servers: Sequence[MCPServerProvider] = (),
    ) -> None:
        self.model_params = model_params or ModelActivityParameters()
        self.tool_options = tool_options or ToolOptions()
        self.budget = budget
        self._provider_source = model_provider
        self._provider: ModelProvider | None = None
        self._provider_lock = threading.Lock()
        self._tools = list(tools)
        self._builtin_workflows = builtin_workflows
        self.model_activity = make_model_activity(self._get_provider)
        self.mcp = MCPSettings.of(mcp_servers)
        self._mcp = MCPActivities(self.mcp.providers)
        self._mcp_activities = self._mcp.functions() if mcp_servers else []

    def _get_provider(self) -> ModelProvider:
        with self._provider_lock:
            if self._provider is None:
                source = self._provider_source
                if source is None:
                    self._provider = default_model_provider()
                elif isinstance(source, ModelProvider):
                    self._provider = source
                else:
                    self._provider = source()
            return self._provider

    def configure_worker(self, worker: Any) -> None:
        """Add the model and tool activities, the built-in workflows and this plugin's
        settings to ``worker``, and install the durable runner."""
        names = {getattr(a, "__name__", None) for a in worker.activities}
        sessions = self._mcp_session_activities(worker)
        for fn in (self.model_activity, invoke_tool, *self._mcp_activities, *sessions):
            if fn not in worker.activities and fn.__name__ not in names:
                worker.activities.append(fn)
        self.configure_replayer(worker)

    def _mcp_session_activities(self, worker: Any) -> list[Callable[..., Any]]:
        """The stateful-session activity, when a server is stateful: it runs a companion
        worker on the worker's own client, which only the embedded engine has."""
        stateful = [p.name for p in self.mcp.providers.values() if p.stateful]
        if not stateful:
            return []
        from .._backend import EmbeddedBackend

        # A TemporalWorker is a Worker too: what matters is where its client works.
        if not isinstance(getattr(worker.client, "backend", None), EmbeddedBackend):
            raise ConfigurationError(
                f"stateful MCP servers ({', '.join(stateful)}) need the embedded engine's "
                f"worker, not {type(worker).__name__}: declare them stateless on this worker"
            )
        return MCPSessions(self._mcp, worker.client).functions()

    def configure_replayer(self, replayer: Any) -> None:
        """What replaying needs of :meth:`configure_worker`: the workflows, failure types
        and settings (activities never run in a replay)."""
        if self._builtin_workflows:
            from .workflows import AgentWorkflow, ChatWorkflow

            for cls in (AgentWorkflow, ChatWorkflow):
                if cls not in replayer.workflows:
                    replayer.workflows.append(cls)
        # Errors the SDK raises from Runner.run (max turns, guardrail tripwires, bad model
        # output) fail the workflow instead of retrying its task forever.
        if AgentsException not in replayer.workflow_failure_exception_types:
            replayer.workflow_failure_exception_types.append(AgentsException)
        check_sdk()  # an incompatible SDK stops here, naming what it lacks
        replayer.run_state_defaults[SETTINGS_KEY] = AgentSettings(
            self.model_params, self.tool_options, self.budget
        )
        replayer.run_state_defaults[MCP_SETTINGS_KEY] = self.mcp
        register_tools(self._tools)
        # The SDK's default runner is process-wide; it reads the settings from each run.
        set_default_agent_runner(DurableAgentRunner())
        quiet_evicted_noop_coroutines()

    def configure_client(self, client: Any) -> None:
        """Nothing to configure on the client side today."""
