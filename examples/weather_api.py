"""Weather tools over real public HTTP APIs, each an ``@activity.defn``.

- :func:`get_weather_alerts`: active alerts from the US National Weather Service
  (``GET {NWS}/alerts/active/area/{state}``);
- :func:`get_location_info`: where an IP address is (ip-api.com style, ``GET {GEO}/json/{ip}``);
- :func:`get_ip_address`: this machine's public IP address (ipify style, ``GET {IP}/?format=json``).

Each is a plain async function marked as an activity, so a workflow can call it with
``workflow.execute_activity``, an agent can use it through ``activity_as_tool``, and a dynamic
activity can dispatch to it by name. The docstrings are the tools' descriptions: the models see
them, so they say what each tool is for and what each argument means.

The base URLs come from ``DURAGENT_NWS_URL``, ``DURAGENT_GEO_URL`` and ``DURAGENT_IP_URL``
(read at call time), with the real public services as defaults; the examples point them at
:mod:`examples.fake_weather_server` so that everything runs offline. Set
``DURAGENT_TOOL_LOG`` to a file to have every execution appended to it (the crash demo uses it
to show that a completed tool call is never executed again).

HTTP goes through the standard library (``urllib`` in a thread), so the tools need no extra
package.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from duragent import activity
from duragent.errors import ApplicationError

NWS_URL: Final = "https://api.weather.gov"
GEO_URL: Final = "http://ip-api.com"
IP_URL: Final = "https://api.ipify.org"
USER_AGENT: Final = "duragent-examples/0.1 (https://github.com/duragent/duragent)"
"""The NWS API asks every client to identify itself with a User-Agent."""
HTTP_TIMEOUT_SECONDS: Final = 10.0

STATES: Final[Mapping[str, str]] = {
    "ALABAMA": "AL", "ALASKA": "AK", "ARIZONA": "AZ", "ARKANSAS": "AR", "CALIFORNIA": "CA",
    "COLORADO": "CO", "CONNECTICUT": "CT", "DELAWARE": "DE", "DISTRICT OF COLUMBIA": "DC",
    "FLORIDA": "FL", "GEORGIA": "GA", "HAWAII": "HI", "IDAHO": "ID", "ILLINOIS": "IL",
    "INDIANA": "IN", "IOWA": "IA", "KANSAS": "KS", "KENTUCKY": "KY", "LOUISIANA": "LA",
    "MAINE": "ME", "MARYLAND": "MD", "MASSACHUSETTS": "MA", "MICHIGAN": "MI", "MINNESOTA": "MN",
    "MISSISSIPPI": "MS", "MISSOURI": "MO", "MONTANA": "MT", "NEBRASKA": "NE", "NEVADA": "NV",
    "NEW HAMPSHIRE": "NH", "NEW JERSEY": "NJ", "NEW MEXICO": "NM", "NEW YORK": "NY",
    "NORTH CAROLINA": "NC", "NORTH DAKOTA": "ND", "OHIO": "OH", "OKLAHOMA": "OK", "OREGON": "OR",
    "PENNSYLVANIA": "PA", "RHODE ISLAND": "RI", "SOUTH CAROLINA": "SC", "SOUTH DAKOTA": "SD",
    "TENNESSEE": "TN", "TEXAS": "TX", "UTAH": "UT", "VERMONT": "VT", "VIRGINIA": "VA",
    "WASHINGTON": "WA", "WEST VIRGINIA": "WV", "WISCONSIN": "WI", "WYOMING": "WY",
    "PUERTO RICO": "PR",
}  # fmt: skip
"""State names to the two-letter codes the NWS API takes (models often write the name)."""


def base_url(variable: str, default: str) -> str:
    """The base URL from the environment variable ``variable``, else ``default``."""
    return (os.environ.get(variable) or default).rstrip("/")


def log_execution(tool: str, arguments: Mapping[str, Any]) -> None:
    """Append ``tool {arguments as JSON} pid`` to ``$DURAGENT_TOOL_LOG`` (if set), durably."""
    path = os.environ.get("DURAGENT_TOOL_LOG")
    if not path:
        return
    line = f"{tool} {json.dumps(dict(arguments), sort_keys=True)} {os.getpid()}\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def _get_json_blocking(url: str, accept: str) -> Any:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as err:
        status = err.code
        detail = err.read().decode("utf-8", "replace")[:300]
        retryable = status in (408, 429) or status >= 500
        raise ApplicationError(
            f"GET {url} returned HTTP {status}: {detail}",
            type=f"HTTP{status}",
            non_retryable=not retryable,
        ) from err
    except urllib.error.URLError as err:
        # Connection refused, DNS failure, timeout: worth retrying.
        raise ApplicationError(f"cannot reach {url}: {err.reason}", type="ConnectionError") from err


async def get_json(url: str, accept: str = "application/json") -> Any:
    """GET ``url`` and decode its JSON body (blocking I/O in a thread).

    Raises:
        ApplicationError: The request failed; 408, 429, 5xx and connection errors are
            retryable, other statuses are not.
    """
    return await asyncio.to_thread(_get_json_blocking, url, accept)


def state_code(state: str) -> str | None:
    """``"CA"``, ``"ca"`` or ``"California"`` to ``"CA"``; ``None`` if not a US state."""
    text = " ".join(state.replace(".", " ").split()).upper()
    if text in STATES.values():
        return text
    return STATES.get(text)


def summarize_alerts(state: str, collection: Mapping[str, Any]) -> str:
    """A readable summary of an NWS alerts FeatureCollection."""
    features: list[Any] = list(collection.get("features") or [])
    if not features:
        return f"No active alerts for {state}."
    lines = [f"{len(features)} active alert{'s' if len(features) != 1 else ''} for {state}:"]
    for feature in features:
        props: Mapping[str, Any] = feature.get("properties") or {}
        event = str(props.get("event") or "Alert")
        headline = str(props.get("headline") or "").strip()
        lines.append(f"- {event}: {headline}" if headline else f"- {event}")
    return "\n".join(lines)


@activity.defn
async def get_weather_alerts(state: str) -> str:
    """Get the active weather alerts (warnings, watches, advisories) for a US state.

    Args:
        state: Two-letter US state code, e.g. CA.
    """
    log_execution("get_weather_alerts", {"state": state})
    code = state_code(state)
    if code is None:
        # Told to the model (a tool result), which can try again with a valid state.
        return f"{state!r} is not a US state: use a two-letter code such as CA or NY."
    url = f"{base_url('DURAGENT_NWS_URL', NWS_URL)}/alerts/active/area/{code}"
    collection = await get_json(url, accept="application/geo+json")
    return summarize_alerts(code, collection)


@activity.defn
async def get_location_info(ip: str) -> str:
    """Get the city, state and country of an IP address.

    Args:
        ip: IPv4 address.
    """
    log_execution("get_location_info", {"ip": ip})
    quoted = urllib.parse.quote(ip.strip(), safe="")
    data = await get_json(f"{base_url('DURAGENT_GEO_URL', GEO_URL)}/json/{quoted}")
    if data.get("status") == "fail":
        return f"Could not locate {ip}: {data.get('message', 'unknown error')}."
    city = data.get("city") or "an unknown city"
    region = data.get("regionName") or data.get("region") or "an unknown region"
    code = data.get("region") or "?"
    country = data.get("country") or "an unknown country"
    return f"{ip} is in {city}, {region} ({code}), {country}."


@activity.defn
async def get_ip_address() -> str:
    """Get the user's current public IP address."""
    log_execution("get_ip_address", {})
    data = await get_json(f"{base_url('DURAGENT_IP_URL', IP_URL)}/?format=json")
    return f"Your public IP address is {data['ip']}."


TOOLS: Final[dict[str, Callable[..., Any]]] = {
    "get_weather_alerts": get_weather_alerts,
    "get_location_info": get_location_info,
    "get_ip_address": get_ip_address,
}
"""The weather tools by name."""

TOOL_TIMEOUT: Final = timedelta(seconds=30)
"""Start-to-close timeout of one tool call."""


@dataclass(frozen=True)
class Execution:
    """One logged tool execution."""

    tool: str
    arguments: dict[str, Any]
    pid: int


def read_tool_log(path: str | os.PathLike[str]) -> list[Execution]:
    """The executions logged in ``path`` (see :func:`log_execution`)."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    out: list[Execution] = []
    for line in lines:
        tool, rest = line.split(" ", 1)
        arguments, pid = rest.rsplit(" ", 1)
        out.append(Execution(tool, json.loads(arguments), int(pid)))
    return out
