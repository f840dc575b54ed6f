"""``Runner.run`` inside a workflow, made durable.

The plugin installs :class:`DurableAgentRunner` as the SDK's default runner. Outside
workflow code it behaves exactly like the SDK's runner. Inside, before delegating, it:

* routes every model call through :class:`DurableModelProvider` (each call an activity),
* routes every function tool of every reachable agent through the tool activity,
* turns tracing off for the run (trace ids and exporter threads are not deterministic),
* refuses what cannot be made durable, with a clear message (a ``Model`` object instead of
  a model name, MCP server objects other than ``durable_mcp_server``, sessions other than
  ``WorkflowSession``, ``run_sync``).

``Runner.run_streamed`` works too: the model activities stream to the run's durable stream,
and ``stream_events()`` in workflow code yields each recorded response's events.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from agents import Agent, FunctionTool, Handoff, Model, RunConfig, RunResult, RunResultStreaming
from agents.run import AgentRunner
from agents.run_state import RunState

from .. import workflow
from .._runtime import in_workflow
from ..errors import ConfigurationError
from ._model_stub import DurableModelProvider, DurableModelStub, RunScope, ScopedHooks
from ._sdk import agent_of_tool, handoff_agent, run_state_agent
from ._settings import current_settings
from ._tool_context import snapshot
from ._tools import make_durable, takes_context
from .mcp._server import check_mcp_servers
from .session import WorkflowSession


class DurableAgentRunner(AgentRunner):
    """The SDK runner, made durable inside workflows."""

    async def run(self, starting_agent: Agent[Any], input: Any, **kwargs: Any) -> RunResult:
        if not in_workflow():
            return await super().run(starting_agent, input, **kwargs)
        kwargs = self._prepare(starting_agent, input, kwargs)
        return await super().run(starting_agent, input, **kwargs)

    def run_sync(self, starting_agent: Agent[Any], input: Any, **kwargs: Any) -> RunResult:
        if in_workflow():
            raise ConfigurationError(
                "Runner.run_sync cannot run inside a workflow; await Runner.run instead"
            )
        return super().run_sync(starting_agent, input, **kwargs)

    def run_streamed(
        self, starting_agent: Agent[Any], input: Any, **kwargs: Any
    ) -> RunResultStreaming:
        if not in_workflow():
            return super().run_streamed(starting_agent, input, **kwargs)
        # Each model call's activity streams the provider's deltas to the run's durable
        # stream; workflow code sees each recorded response as one sequence of events.
        kwargs = self._prepare(starting_agent, input, kwargs)
        return super().run_streamed(starting_agent, input, **kwargs)

    def _prepare(self, agent: Agent[Any], input: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        session = kwargs.get("session")
        if session is not None and not isinstance(session, WorkflowSession):
            raise ConfigurationError(
                f"a {type(session).__name__} does I/O and cannot be used inside a workflow; "
                "use duragent.openai_agents.WorkflowSession, which keeps the conversation in "
                "workflow state"
            )
        config = kwargs.get("run_config")
        if config is None:
            config = RunConfig()
        elif isinstance(config, dict):
            config = RunConfig(**config)  # pyright: ignore[reportUnknownArgumentType]
        if isinstance(config.model, Model) and not isinstance(config.model, DurableModelStub):
            raise ConfigurationError(
                "RunConfig.model is a Model object; inside a workflow name the model "
                "(RunConfig(model='gpt-4o')) and configure the provider with "
                "OpenAIAgentsPlugin(model_provider=...)"
            )
        settings = current_settings()
        scope = RunScope()
        kwargs["run_config"] = dataclasses.replace(
            config,
            model_provider=DurableModelProvider(scope, settings.model_params),
            tracing_disabled=True,
            group_id=config.group_id or workflow.info().workflow_id,
        )
        kwargs["hooks"] = ScopedHooks(scope, kwargs.get("hooks"))
        seen: set[int] = set()
        context_tools: list[str] = []
        self._make_agent_durable(agent, seen, context_tools)
        if isinstance(input, RunState):
            current = run_state_agent(input)  # pyright: ignore[reportUnknownArgumentType]
            if current is not None:
                self._make_agent_durable(current, seen, context_tools)
        context = kwargs.get("context")
        if context is not None and context_tools:
            # Fail before the first model call, not at the first tool call (where the SDK
            # would hide the reason from everyone behind a generic tool error).
            snapshot(context, f"tool {context_tools[0]!r} takes the run context")
        return kwargs

    def _make_agent_durable(
        self, agent: Agent[Any], seen: set[int], context_tools: list[str] | None = None
    ) -> None:
        """Make ``agent`` and every agent it reaches durable; the names of tools that take
        the run context are added to ``context_tools``."""
        if id(agent) in seen:
            return
        seen.add(id(agent))
        if isinstance(agent.model, Model):
            raise ConfigurationError(
                f"agent {agent.name!r} has a Model object; inside a workflow give it a model "
                "name (Agent(model='gpt-4o') or none for the default) and configure the "
                "provider with OpenAIAgentsPlugin(model_provider=...)"
            )
        check_mcp_servers(agent)
        for tool in agent.tools:
            if not isinstance(tool, FunctionTool):
                continue
            nested = agent_of_tool(tool)
            if nested is not None:
                self._make_agent_durable(nested, seen, context_tools)
            else:
                make_durable(tool)
                if context_tools is not None and takes_context(tool):
                    context_tools.append(tool.name)
        for handoff in agent.handoffs:
            if isinstance(handoff, Agent):
                self._make_agent_durable(handoff, seen, context_tools)  # pyright: ignore[reportUnknownArgumentType]
            else:
                self._wrap_handoff(handoff, seen, context_tools)  # pyright: ignore[reportUnknownArgumentType]

    def _wrap_handoff(
        self, handoff: Handoff[Any, Any], seen: set[int], context_tools: list[str] | None
    ) -> None:
        agent = handoff_agent(handoff)
        if agent is not None:
            self._make_agent_durable(agent, seen, context_tools)
            return
        invoke = handoff.on_invoke_handoff
        if getattr(invoke, "_duragent_wrapped", False):
            return

        async def on_invoke(ctx: Any, input_json: str) -> Any:
            new_agent = await invoke(ctx, input_json)
            if in_workflow() and isinstance(new_agent, Agent):
                self._make_agent_durable(new_agent, set())  # pyright: ignore[reportUnknownArgumentType]
            return new_agent

        on_invoke._duragent_wrapped = True  # type: ignore[attr-defined]
        handoff.on_invoke_handoff = on_invoke
