"""Agent helpers for workflow code, under the names of
``temporalio.contrib.openai_agents.workflow``: agent code moved from Temporal changes only
the package name (``from duragent.openai_agents import workflow``).

What Temporal's module has and this one does not yet: ``nexus_operation_as_tool``
(Duragent has no Nexus) and the MCP server helpers.
"""

from __future__ import annotations

from agents import AgentsException

from ..errors import ApplicationError
from ._tools import activity_as_tool

__all__ = ["AgentsWorkflowError", "ToolSerializationError", "activity_as_tool"]

AgentsWorkflowError = AgentsException
"""What an Agents SDK error that ends the run is (temporalio wraps those in its own
``AgentsWorkflowError``; Duragent lets the SDK's ``AgentsException`` fail the workflow
itself, so ``except AgentsWorkflowError`` catches the same errors)."""


class ToolSerializationError(ApplicationError):
    """A tool's output could not be turned into what the model is told.

    For compatibility with temporalio's name: Duragent records tool outputs as JSON
    values (anything else as its ``str()``), so it does not raise this itself.
    """
