"""MCP servers as durable tools.

Declare each server on the worker, where its connection details and secrets stay::

    from agents.mcp import MCPServerStdio
    from duragent.openai_agents import OpenAIAgentsPlugin, ToolOptions
    from duragent.openai_agents.mcp import MCPServerProvider, durable_mcp_server

    plugin = OpenAIAgentsPlugin(mcp_servers=[
        MCPServerProvider(
            "weather",
            lambda: MCPServerStdio(params={"command": "weather-mcp"}),
            per_tool={"send_payment": ToolOptions(at_most_once=True)},
        )
    ])

and refer to it by name in agents that run in workflows::

    agent = Agent(name="forecaster", mcp_servers=[durable_mcp_server("weather")])

Listing the tools is an activity recorded once per workflow run; each tool call is an
activity under the usual tool options (timeouts, retries, at-most-once, approvals), and
its result is recorded in a Duragent-owned, versioned shape.
"""

from __future__ import annotations

from ._activities import MCPServerProvider
from ._server import DurableMCPServer, MCPSessionLost, durable_mcp_server

__all__ = ["DurableMCPServer", "MCPServerProvider", "MCPSessionLost", "durable_mcp_server"]
