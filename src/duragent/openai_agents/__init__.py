"""The OpenAI Agents SDK, durable.

Pass ``OpenAIAgentsPlugin()`` to a worker and write agents as usual: inside workflow code
``Runner.run(agent, input)`` makes every model call and every tool call an activity,
recorded in history and never repeated after a crash::

    from agents import Agent, Runner, function_tool
    from duragent import Worker, workflow
    from duragent.openai_agents import OpenAIAgentsPlugin

    @function_tool
    async def get_weather(city: str) -> str:
        \"\"\"The weather in a city.\"\"\"
        ...

    agent = Agent(name="weather", instructions="Be brief.", tools=[get_weather])

    @workflow.defn
    class Ask:
        @workflow.run
        async def run(self, question: str) -> str:
            return (await Runner.run(agent, question)).final_output

    Worker(client, task_queue="agents", workflows=[Ask], plugins=[OpenAIAgentsPlugin()])

Requires the ``openai-agents`` package (``pip install duragent[agents]``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._names import MODEL_ACTIVITY, TOOL_ACTIVITY

if TYPE_CHECKING:
    from ._budget import Budget, BudgetExceededError, UsageTally, tally
    from ._model_activity import openai_provider, provider_error
    from ._request import ModelCallRequest, ModelCallResult
    from ._settings import ModelActivityParameters
    from ._tools import ToolOptions, activity_as_tool, durable_tool
    from .approvals import (
        ApprovalDecision,
        ApprovalRequest,
        ApprovalsMixin,
        decide,
        pending_approvals,
    )
    from .mcp import MCPServerProvider, durable_mcp_server
    from .plugin import OpenAIAgentsPlugin
    from .session import WorkflowSession
    from .usage import AgentTotals, ModelCall, UsageReport, usage_report
    from .workflows import (
        AgentOutcome,
        AgentRequest,
        AgentWorkflow,
        ChatRequest,
        ChatSummary,
        ChatWorkflow,
        UsageSummary,
        agent_reference,
        load_agent,
        run_agent,
        send_message,
        start_agent,
        start_chat,
        stream_agent,
    )

# Exports load on first use: reading usage or approvals from history must not pay for
# importing the whole Agents SDK (seconds, for a CLI command).
_EXPORTS: dict[str, str] = {
    "openai_provider": "_model_activity",
    "provider_error": "_model_activity",
    "Budget": "_budget",
    "BudgetExceededError": "_budget",
    "ModelActivityParameters": "_settings",
    "UsageTally": "_budget",
    "tally": "_budget",
    "ModelCallRequest": "_request",
    "ModelCallResult": "_request",
    "ToolOptions": "_tools",
    "activity_as_tool": "_tools",
    "durable_tool": "_tools",
    "ApprovalDecision": "approvals",
    "ApprovalRequest": "approvals",
    "ApprovalsMixin": "approvals",
    "decide": "approvals",
    "pending_approvals": "approvals",
    "OpenAIAgentsPlugin": "plugin",
    "MCPServerProvider": "mcp",
    "durable_mcp_server": "mcp",
    "WorkflowSession": "session",
    "AgentTotals": "usage",
    "ModelCall": "usage",
    "UsageReport": "usage",
    "usage_report": "usage",
    "AgentOutcome": "workflows",
    "AgentRequest": "workflows",
    "AgentWorkflow": "workflows",
    "ChatRequest": "workflows",
    "ChatSummary": "workflows",
    "ChatWorkflow": "workflows",
    "UsageSummary": "workflows",
    "agent_reference": "workflows",
    "load_agent": "workflows",
    "run_agent": "workflows",
    "send_message": "workflows",
    "start_agent": "workflows",
    "start_chat": "workflows",
    "stream_agent": "workflows",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    except ImportError as err:
        # Only a missing SDK is a missing extra; an ImportError raised inside Duragent's
        # own modules (a bug) must surface as itself.
        missing = (err.name or "").split(".")[0]
        if missing in ("agents", "openai"):
            raise ImportError(
                "duragent.openai_agents needs the OpenAI Agents SDK: pip install 'duragent[agents]'"
            ) from err
        raise
    globals()[name] = value
    return value


__all__ = [
    "MODEL_ACTIVITY",
    "TOOL_ACTIVITY",
    "AgentOutcome",
    "AgentRequest",
    "AgentTotals",
    "AgentWorkflow",
    "ApprovalDecision",
    "ApprovalRequest",
    "ApprovalsMixin",
    "Budget",
    "BudgetExceededError",
    "ChatRequest",
    "ChatSummary",
    "ChatWorkflow",
    "MCPServerProvider",
    "ModelActivityParameters",
    "ModelCall",
    "ModelCallRequest",
    "ModelCallResult",
    "OpenAIAgentsPlugin",
    "ToolOptions",
    "UsageReport",
    "UsageSummary",
    "UsageTally",
    "WorkflowSession",
    "activity_as_tool",
    "agent_reference",
    "decide",
    "durable_mcp_server",
    "durable_tool",
    "load_agent",
    "openai_provider",
    "pending_approvals",
    "provider_error",
    "run_agent",
    "send_message",
    "start_agent",
    "start_chat",
    "stream_agent",
    "tally",
    "usage_report",
]
