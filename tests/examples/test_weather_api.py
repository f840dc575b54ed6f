"""The weather tools against the fake weather APIs (a real local HTTP server)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from examples.agentic_loop import tool_schema

from duragent.errors import ApplicationError
from examples import fake_weather_server, weather_api

ROOT = Path(__file__).resolve().parents[2]


async def test_alerts_summarize_the_nws_feature_collection(
    weather_server: fake_weather_server.FakeWeatherServer, tool_log: Path
) -> None:
    summary = await weather_api.get_weather_alerts("CA")
    assert summary.splitlines() == [
        "2 active alerts for CA:",
        "- Red Flag Warning: Red Flag Warning issued August 14 at 1:05PM PDT until August 15 "
        "at 8:00PM PDT by NWS Sacramento CA",
        "- Heat Advisory: Heat Advisory issued August 14 at 12:52PM PDT until August 15 at "
        "9:00PM PDT by NWS Sacramento CA",
    ]
    assert await weather_api.get_weather_alerts("texas") == "No active alerts for TX."
    assert weather_server.counts() == {"alerts": 2}
    executions = weather_api.read_tool_log(tool_log)
    assert [(e.tool, e.arguments) for e in executions] == [
        ("get_weather_alerts", {"state": "CA"}),
        ("get_weather_alerts", {"state": "texas"}),
    ]


async def test_bad_state_is_explained_without_a_request(
    weather_server: fake_weather_server.FakeWeatherServer,
) -> None:
    assert "is not a US state" in await weather_api.get_weather_alerts("Narnia")
    assert weather_server.count() == 0


async def test_location_and_ip(weather_server: fake_weather_server.FakeWeatherServer) -> None:
    assert await weather_api.get_ip_address() == "Your public IP address is 203.0.113.50."
    assert (
        await weather_api.get_location_info("203.0.113.50")
        == "203.0.113.50 is in Sacramento, California (CA), United States."
    )
    assert "Could not locate" in await weather_api.get_location_info("not-an-ip")
    assert weather_server.counts() == {"ip": 1, "location": 2}


async def test_http_errors_map_to_retryable_or_not(
    weather_server: fake_weather_server.FakeWeatherServer,
) -> None:
    with pytest.raises(ApplicationError) as bad:
        await weather_api.get_json(f"{weather_server.base_url}/no/such/route")
    assert bad.value.non_retryable
    assert "HTTP 404" in str(bad.value)
    weather_server.shutdown()
    weather_server.server_close()
    with pytest.raises(ApplicationError) as down:
        await weather_api.get_json(f"{weather_server.base_url}/")
    assert not down.value.non_retryable  # connection refused: worth retrying


def test_nws_area_must_be_a_code(weather_server: fake_weather_server.FakeWeatherServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{weather_server.base_url}/alerts/active/area/Texas")
    assert err.value.code == 400


def test_tool_schema_from_signature_and_docstring() -> None:
    schema = tool_schema(weather_api.get_weather_alerts)
    assert schema == {
        "type": "function",
        "function": {
            "name": "get_weather_alerts",
            "description": "Get the active weather alerts (warnings, watches, advisories) for "
            "a US state.",
            "parameters": {
                "type": "object",
                "properties": {
                    "state": {"type": "string", "description": "Two-letter US state code, e.g. CA."}
                },
                "required": ["state"],
                "additionalProperties": False,
            },
        },
    }
    assert tool_schema(weather_api.get_ip_address)["function"]["parameters"]["properties"] == {}


def test_fake_server_runs_standalone() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "examples.fake_weather_server", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split()[4]
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{url}/alerts/active/area/CA") as response:
            body = json.loads(response.read())
        assert body["type"] == "FeatureCollection"
        assert [f["properties"]["event"] for f in body["features"]] == [
            "Red Flag Warning",
            "Heat Advisory",
        ]
    finally:
        process.terminate()
        process.wait(timeout=10)
