"""A conversation memory for ``Runner.run(..., session=...)`` inside workflow code.

The SDK's sessions keep the conversation in a database or a remote service, which workflow
code must not touch. Inside a workflow the workflow's own state is already durable (rebuilt
by replay after a crash), so :class:`WorkflowSession` simply keeps the items in memory.
"""

from __future__ import annotations

import copy
from typing import Any

from agents.memory.session import SessionABC
from agents.memory.session_settings import SessionSettings


class WorkflowSession(SessionABC):
    """Session items kept in workflow state, for multi-turn agents in a workflow::

        @workflow.defn
        class Support:
            def __init__(self) -> None:
                self.session = WorkflowSession("support")

            @workflow.update
            async def ask(self, question: str) -> str:
                result = await Runner.run(agent, question, session=self.session)
                return str(result.final_output)

    It lives as long as the workflow run. To carry a conversation across continue-as-new,
    pass ``session.items`` to the next run and build ``WorkflowSession(id, items=...)``.

    Args:
        session_id: Names the conversation (the SDK reads it; nothing is stored under it).
        items: Items to start from (as returned by ``items``).
        session_settings: The SDK's session settings (e.g. a history limit).
    """

    def __init__(
        self,
        session_id: str = "workflow",
        *,
        items: list[Any] | None = None,
        session_settings: SessionSettings | None = None,
    ) -> None:
        self.session_id = session_id
        self.session_settings = session_settings
        self.items: list[Any] = copy.deepcopy(items) if items else []
        """The conversation so far (JSON-able input items, oldest first)."""

    async def get_items(self, limit: int | None = None) -> list[Any]:
        """The latest ``limit`` items (all by default), oldest first (copies)."""
        chosen = self.items if limit is None else self.items[-limit:] if limit > 0 else []
        return copy.deepcopy(chosen)

    async def add_items(self, items: list[Any]) -> None:
        """Append items."""
        self.items.extend(copy.deepcopy(items))

    async def pop_item(self) -> Any:
        """Remove and return the latest item (None when empty)."""
        return self.items.pop() if self.items else None

    async def clear_session(self) -> None:
        """Forget the conversation."""
        self.items.clear()
