"""The weather tools as an MCP server (stdio), written with the ``mcp`` package.

    python -m examples.weather_mcp_server

serves ``get_weather_alerts``, ``get_location_info`` and ``get_ip_address`` over stdio; the
weather agent's MCP variant (``python -m examples.weather_agent --mcp``) declares it on the
worker with ``MCPServerProvider("weather", stdio_server)``. The tools call the same APIs as
:mod:`examples.weather_api` (their base URLs come from the environment the worker's factory
gives this process), and log their executions to ``DURAGENT_TOOL_LOG`` the same way.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Final

from examples import weather_api

ROOT: Final = Path(__file__).resolve().parents[1]
_PASSED_ON: Final = ("DURAGENT_NWS_URL", "DURAGENT_GEO_URL", "DURAGENT_IP_URL", "DURAGENT_TOOL_LOG")
"""What the worker hands this server from its own environment (an API key would go the
same way: into the server process, never into history)."""


def stdio_server() -> object:
    """A new, unconnected SDK ``MCPServerStdio`` that spawns this server (the factory
    ``MCPServerProvider`` calls on the worker)."""
    from agents.mcp import MCPServerStdio

    env = {k: os.environ[k] for k in _PASSED_ON if k in os.environ}
    return MCPServerStdio(
        params={
            "command": sys.executable,
            "args": ["-m", "examples.weather_mcp_server"],
            "cwd": str(ROOT),
            "env": env,
        },
        client_session_timeout_seconds=weather_api.TOOL_TIMEOUT.total_seconds(),
    )


def serve() -> None:
    """Serve the tools over stdio until the client hangs up."""
    from mcp.server.mcpserver import MCPServer

    logging.disable(logging.CRITICAL)  # stdout is the protocol; keep stderr quiet too
    app = MCPServer("weather", log_level="CRITICAL")
    for tool in (
        weather_api.get_weather_alerts,
        weather_api.get_location_info,
        weather_api.get_ip_address,
    ):
        app.add_tool(tool)
    app.run("stdio")


if __name__ == "__main__":
    serve()
