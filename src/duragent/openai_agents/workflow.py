"""Agent helpers for workflow code, under the names of
``temporalio.contrib.openai_agents.workflow``: agent code moved from Temporal changes only
the package name (``from duragent.openai_agents import workflow``).

What Temporal's module has and this one does not: ``nexus_operation_as_tool`` (Duragent
has no Nexus). The MCP helpers refer to servers declared on the worker with
``MCPServerProvider`` (see :mod:`duragent.openai_agents.mcp`), where their per-call
options and statefulness are set.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from agents import AgentsException

from ..errors import ApplicationError, ConfigurationError
from ._tools import activity_as_tool
from .mcp import DurableMCPServer, durable_mcp_server

__all__ = [
    "AgentsWorkflowError",
    "ToolSerializationError",
    "activity_as_tool",
    "stateful_mcp_server",
    "stateless_mcp_server",
]


def _no_activity_options(name: str, config: Any, factory_argument: Any) -> None:
    if config is not None or factory_argument is not None:
        raise ConfigurationError(
            f"MCP server {name!r}: Duragent sets the activity options and the factory of an "
            "MCP server where it is declared, on the worker: MCPServerProvider(name, factory, "
            "options=..., per_tool=...)"
        )


def stateless_mcp_server(
    name: str,
    config: Any = None,
    cache_tools_list: bool = False,
    factory_argument: Any = None,
) -> DurableMCPServer:
    """The MCP server declared on the worker as ``MCPServerProvider(name, ...)``, for
    ``Agent(mcp_servers=[...])`` (temporalio's name for :func:`durable_mcp_server`). Its
    tool list is recorded once per run whatever ``cache_tools_list`` says."""
    del cache_tools_list
    _no_activity_options(name, config, factory_argument)
    return durable_mcp_server(name)


@contextlib.asynccontextmanager
async def stateful_mcp_server(
    name: str,
    config: Any = None,
    server_session_config: Any = None,
    factory_argument: Any = None,
) -> AsyncIterator[DurableMCPServer]:
    """``async with stateful_mcp_server(name) as server:`` as in temporalio: the server
    declared on the worker as ``MCPServerProvider(name, ..., stateful=True)`` (its
    session's lifetime is set there too)."""
    _no_activity_options(
        name, config if config is not None else server_session_config, factory_argument
    )
    yield durable_mcp_server(name)


AgentsWorkflowError = AgentsException
"""What an Agents SDK error that ends the run is (temporalio wraps those in its own
``AgentsWorkflowError``; Duragent lets the SDK's ``AgentsException`` fail the workflow
itself, so ``except AgentsWorkflowError`` catches the same errors)."""


class ToolSerializationError(ApplicationError):
    """A tool's output could not be turned into what the model is told.

    For compatibility with temporalio's name: Duragent records tool outputs as JSON
    values (anything else as its ``str()``), so it does not raise this itself.
    """
