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

try:
    import agents as _agents  # noqa: F401
except ImportError as _err:  # pragma: no cover - depends on the environment
    raise ImportError(
        "duragent.openai_agents needs the OpenAI Agents SDK: pip install 'duragent[agents]'"
    ) from _err

from ._model_activity import MODEL_ACTIVITY, openai_provider, provider_error
from ._model_stub import (
    Budget,
    BudgetExceededError,
    ModelActivityParameters,
    UsageTally,
    tally,
)
from ._request import ModelCallRequest, ModelCallResult
from ._tools import TOOL_ACTIVITY, ToolOptions, activity_as_tool, durable_tool
from .approvals import (
    ApprovalDecision,
    ApprovalRequest,
    ApprovalsMixin,
    decide,
    pending_approvals,
)
from .plugin import OpenAIAgentsPlugin
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
)

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
    "ModelActivityParameters",
    "ModelCall",
    "ModelCallRequest",
    "ModelCallResult",
    "OpenAIAgentsPlugin",
    "ToolOptions",
    "UsageReport",
    "UsageSummary",
    "UsageTally",
    "activity_as_tool",
    "agent_reference",
    "decide",
    "durable_tool",
    "load_agent",
    "openai_provider",
    "pending_approvals",
    "provider_error",
    "run_agent",
    "send_message",
    "start_agent",
    "start_chat",
    "tally",
    "usage_report",
]
