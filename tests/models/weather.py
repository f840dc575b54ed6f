"""The three weather tools of the README, in Agents SDK and chat-completions form."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field

STATE = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
IP = Annotated[str, Field(pattern=r"^[0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,3}$")]

CHAT_TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather_alerts",
            "description": "Get active weather alerts for a US state.",
            "parameters": {
                "type": "object",
                "properties": {
                    "state": {
                        "type": "string",
                        "description": "Two-letter US state code, e.g. CA",
                        "pattern": "^[A-Z]{2}$",
                    }
                },
                "required": ["state"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_location_info",
            "description": "Get the city and state for an IP address.",
            "parameters": {
                "type": "object",
                "properties": {"ip": {"type": "string", "description": "IPv4 address"}},
                "required": ["ip"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_ip_address",
            "description": "Get the user's current public IP address.",
            "parameters": {"type": "object", "properties": {}},
        },
    },
]


def alerts_for(state: str) -> str:
    return json.dumps({"alerts": ["Red Flag Warning"] if state == "CA" else []})
