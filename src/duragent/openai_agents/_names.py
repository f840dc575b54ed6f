"""Names recorded in history by the agents integration (activity types, markers, handler
names). Kept free of SDK imports so history readers (usage, approvals) load fast."""

from __future__ import annotations

from typing import Final

MODEL_ACTIVITY: Final = "duragent.openai_agents.invoke_model"
TOOL_ACTIVITY: Final = "duragent.openai_agents.invoke_tool"
APPROVAL_MARKER: Final = "duragent.approval_requested"
DECIDE_UPDATE: Final = "duragent_decide_approval"
PENDING_QUERY: Final = "duragent_pending_approvals"
