"""A local stand-in for the weather APIs, so the examples run offline.

It serves, on 127.0.0.1, responses in the formats the real services return:

- ``GET /alerts/active/area/{STATE}``: a National Weather Service alerts GeoJSON
  FeatureCollection (a Red Flag Warning and a Heat Advisory for CA; none elsewhere);
- ``GET /json/{ip}``: an ip-api.com record (every address is in Sacramento, CA);
- ``GET /?format=json``: an ipify record (``{"ip": "203.0.113.50"}``).

It counts the requests it serves (:meth:`FakeWeatherServer.count`), which is how the demos
check that a tool call completed before a crash was not made again.

Run it on its own with ``python -m examples.fake_weather_server [PORT]``; it prints the
environment variables that point the tools at it.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import urlsplit

PUBLIC_IP: Final = "203.0.113.50"
"""The address the fake ipify reports (a documentation address, never routed)."""

_ALERTS: Final[list[dict[str, Any]]] = [
    {
        "id": "urn:oid:2.49.0.1.840.0.4b1c0e3e1a5f6d2c9b8a7f6e5d4c3b2a1f0e9d8c.001.1",
        "event": "Red Flag Warning",
        "severity": "Severe",
        "certainty": "Likely",
        "urgency": "Expected",
        "areaDesc": "Northern Sacramento Valley; Southern Sacramento Valley",
        "sent": "2025-08-14T13:05:00-07:00",
        "effective": "2025-08-14T13:05:00-07:00",
        "onset": "2025-08-15T11:00:00-07:00",
        "expires": "2025-08-15T04:15:00-07:00",
        "ends": "2025-08-15T20:00:00-07:00",
        "senderName": "NWS Sacramento CA",
        "headline": "Red Flag Warning issued August 14 at 1:05PM PDT until August 15 at "
        "8:00PM PDT by NWS Sacramento CA",
        "description": "* WIND...North winds 15 to 25 mph with gusts up to 40 mph.\n\n"
        "* HUMIDITY...Minimum relative humidity 8 to 15 percent.\n\n"
        "* IMPACTS...Any fires that develop will likely spread rapidly.",
        "instruction": "A Red Flag Warning means that critical fire weather conditions are "
        "either occurring now or will shortly.",
        "response": "Prepare",
        "NWSheadline": "RED FLAG WARNING FROM 11 AM TO 8 PM PDT FRIDAY FOR GUSTY NORTH WINDS "
        "AND LOW HUMIDITY",
    },
    {
        "id": "urn:oid:2.49.0.1.840.0.9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c.001.1",
        "event": "Heat Advisory",
        "severity": "Moderate",
        "certainty": "Likely",
        "urgency": "Expected",
        "areaDesc": "Sacramento Valley; Northern San Joaquin Valley",
        "sent": "2025-08-14T12:52:00-07:00",
        "effective": "2025-08-14T12:52:00-07:00",
        "onset": "2025-08-15T10:00:00-07:00",
        "expires": "2025-08-15T04:00:00-07:00",
        "ends": "2025-08-15T21:00:00-07:00",
        "senderName": "NWS Sacramento CA",
        "headline": "Heat Advisory issued August 14 at 12:52PM PDT until August 15 at 9:00PM "
        "PDT by NWS Sacramento CA",
        "description": "* WHAT...Hot conditions with temperatures up to 108 expected.\n\n"
        "* WHERE...Sacramento Valley and Northern San Joaquin Valley.\n\n"
        "* IMPACTS...Hot temperatures may cause heat illnesses.",
        "instruction": "Drink plenty of fluids, stay in an air-conditioned room, stay out of "
        "the sun, and check up on relatives and neighbors.",
        "response": "Execute",
        "NWSheadline": "HEAT ADVISORY IN EFFECT FROM 10 AM TO 9 PM PDT FRIDAY",
    },
]

_STATE_NAMES: Final = {"CA": "California"}


def alerts_collection(state: str) -> dict[str, Any]:
    """The NWS ``/alerts/active/area/{state}`` response for ``state``."""
    alerts = _ALERTS if state == "CA" else []
    features = [
        {
            "id": f"https://api.weather.gov/alerts/{a['id']}",
            "type": "Feature",
            "geometry": None,
            "properties": {
                "@id": f"https://api.weather.gov/alerts/{a['id']}",
                "@type": "wx:Alert",
                "id": a["id"],
                "areaDesc": a["areaDesc"],
                "geocode": {"SAME": ["006067", "006101"], "UGC": ["CAZ015", "CAZ016"]},
                "affectedZones": [
                    "https://api.weather.gov/zones/forecast/CAZ015",
                    "https://api.weather.gov/zones/forecast/CAZ016",
                ],
                "references": [],
                "sent": a["sent"],
                "effective": a["effective"],
                "onset": a["onset"],
                "expires": a["expires"],
                "ends": a["ends"],
                "status": "Actual",
                "messageType": "Alert",
                "category": "Met",
                "severity": a["severity"],
                "certainty": a["certainty"],
                "urgency": a["urgency"],
                "event": a["event"],
                "sender": "w-nws.webmaster@noaa.gov",
                "senderName": a["senderName"],
                "headline": a["headline"],
                "description": a["description"],
                "instruction": a["instruction"],
                "response": a["response"],
                "parameters": {
                    "AWIPSidentifier": ["RFWSTO"],
                    "NWSheadline": [a["NWSheadline"]],
                    "BLOCKCHANNEL": ["EAS", "NWEM", "CMAS"],
                },
            },
        }
        for a in alerts
    ]
    return {
        "@context": [
            "https://geojson.org/geojson-ld/geojson-context.jsonld",
            {"@version": "1.1", "wx": "https://api.weather.gov/ontology#", "@vocab": "wx:"},
        ],
        "type": "FeatureCollection",
        "features": features,
        "title": f"Current watches, warnings, and advisories for {_STATE_NAMES.get(state, state)}",
        "updated": "2025-08-14T20:10:00+00:00",
    }


def location_record(ip: str) -> dict[str, Any]:
    """The ip-api.com ``/json/{ip}`` response for ``ip``."""
    if not re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", ip):
        return {"status": "fail", "message": "invalid query", "query": ip}
    return {
        "status": "success",
        "country": "United States",
        "countryCode": "US",
        "region": "CA",
        "regionName": "California",
        "city": "Sacramento",
        "zip": "95814",
        "lat": 38.5816,
        "lon": -121.4944,
        "timezone": "America/Los_Angeles",
        "isp": "Example Broadband",
        "org": "Example Broadband Sacramento",
        "as": "AS64500 Example Broadband",
        "query": ip,
    }


class FakeWeatherServer(ThreadingHTTPServer):
    """The HTTP server, with a count of the requests served per kind."""

    daemon_threads = True

    def __init__(self, port: int = 0, *, delay: float = 0.0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.delay = delay
        """Seconds to wait before answering (to make tool calls visible in a timeline)."""
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def record(self, kind: str) -> None:
        with self._lock:
            self._counts[kind] += 1

    def count(self, kind: str | None = None) -> int:
        """Requests served of one kind (``alerts``, ``location``, ``ip``), or of all kinds."""
        with self._lock:
            return self._counts[kind] if kind else sum(self._counts.values())

    def counts(self) -> dict[str, int]:
        """Requests served, per kind."""
        with self._lock:
            return dict(self._counts)


class _Handler(BaseHTTPRequestHandler):
    server: FakeWeatherServer  # pyright: ignore[reportIncompatibleVariableOverride]

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the demos print their own story

    def _send(self, status: int, body: Mapping[str, Any], content_type: str) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.server.delay:
            time.sleep(self.server.delay)
        path = urlsplit(self.path).path
        if match := re.fullmatch(r"/alerts/active/area/([A-Za-z]+)", path):
            state = match.group(1)
            if not re.fullmatch(r"[A-Z]{2}", state):
                self._send(
                    400,
                    {
                        "title": "Bad Request",
                        "type": "https://api.weather.gov/problems/BadRequest",
                        "status": 400,
                        "detail": f"Parameter 'area' has an invalid value: {state}",
                    },
                    "application/problem+json",
                )
                return
            self.server.record("alerts")
            self._send(200, alerts_collection(state), "application/geo+json")
        elif match := re.fullmatch(r"/json/([^/]+)", path):
            self.server.record("location")
            self._send(200, location_record(match.group(1)), "application/json; charset=utf-8")
        elif path == "/":
            self.server.record("ip")
            self._send(200, {"ip": PUBLIC_IP}, "application/json")
        else:
            self._send(404, {"status": 404, "detail": f"no route for {path}"}, "application/json")


def start(port: int = 0, *, delay: float = 0.0) -> tuple[FakeWeatherServer, str]:
    """Start the server in a daemon thread; returns it and its base URL.

    ``port=0`` picks a free port. Stop it with ``server.shutdown(); server.server_close()``.
    """
    server = FakeWeatherServer(port, delay=delay)
    threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},  # so that shutdown() returns quickly
        name="fake-weather-server",
        daemon=True,
    ).start()
    return server, server.base_url


def environment(base_url: str) -> dict[str, str]:
    """The environment variables that point the weather tools at ``base_url``."""
    return {
        "DURAGENT_NWS_URL": base_url,
        "DURAGENT_GEO_URL": base_url,
        "DURAGENT_IP_URL": base_url,
    }


@contextmanager
def serving(*, delay: float = 0.0) -> Iterator[FakeWeatherServer]:
    """Run the server for the duration of a ``with`` block."""
    server, _ = start(delay=delay)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def main(argv: list[str]) -> None:
    port = int(argv[0]) if argv else 8787
    server, url = start(port)
    print(f"fake weather APIs on {url}  (Ctrl+C stops)", flush=True)
    for name, value in environment(url).items():
        print(f"export {name}={value}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main(sys.argv[1:])
