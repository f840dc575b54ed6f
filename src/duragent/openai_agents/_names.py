"""Names recorded in history by the agents integration (activity types, markers, handler
names). Kept free of SDK imports so history readers (usage, approvals) load fast."""

from __future__ import annotations

from typing import Final

MODEL_ACTIVITY: Final = "duragent.openai_agents.invoke_model"
TOOL_ACTIVITY: Final = "duragent.openai_agents.invoke_tool"
APPROVAL_MARKER: Final = "duragent.approval_requested"
DECIDE_UPDATE: Final = "duragent_decide_approval"
PENDING_QUERY: Final = "duragent_pending_approvals"
MCP_LIST_TOOLS: Final = "duragent.mcp.list_tools"
MCP_CALL_TOOL: Final = "duragent.mcp.call_tool"
MCP_LIST_PROMPTS: Final = "duragent.mcp.list_prompts"
MCP_GET_PROMPT: Final = "duragent.mcp.get_prompt"
MCP_IDEMPOTENCY_META: Final = "duragent/idempotency-key"
"""The ``_meta`` key under which an MCP tool call carries its idempotency key (stable across
the call's retries), for servers that deduplicate."""
MCP_SESSION: Final = "duragent.mcp.session"
MCP_SESSION_CALL: Final = "duragent.mcp.session_call"
