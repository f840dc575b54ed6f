"""The security model at the HTTP level: token, session cookie, CSRF, same-origin, headers,
read-only, the bind rule, and the one line `duragent server` prints."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from duragent import Client
from duragent.errors import ConfigurationError
from duragent.server import check_bind, is_loopback

from .conftest import RunningServer, serving
from .ui_app import TASK_QUEUE, Pipeline


def _cookie_of(server: RunningServer) -> tuple[str, str]:
    """Log in as a browser would: (cookie header, CSRF token of the page)."""
    login = server.request_sync("GET", f"/?token={server.token}", bearer=False)
    assert login.status == 303
    assert login.headers["location"] == "/"  # the token leaves the URL
    cookie = login.cookies[0]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    pair = cookie.split(";")[0]
    page = server.request_sync("GET", "/", bearer=False, headers={"Cookie": pair})
    assert page.status == 200
    marker = 'name="csrf-token" content="'
    start = page.text.index(marker) + len(marker)
    return pair, page.text[start : page.text.index('"', start)]


async def test_token_cookie_and_bearer(server: RunningServer) -> None:
    assert (await server.get("/", bearer=False)).status == 401
    assert (await server.get("/api/v1/runs", bearer=False)).status == 401
    wrong = await server.get("/api/v1/runs", bearer=False, headers={"Authorization": "Bearer x"})
    assert wrong.status == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert (await server.get("/?token=wrong", bearer=False)).status == 401
    assert (await server.get("/api/v1/runs")).status == 200
    cookie, csrf = await asyncio.to_thread(_cookie_of, server)
    assert csrf
    ok = await server.get("/api/v1/runs", bearer=False, headers={"Cookie": cookie})
    assert ok.status == 200
    forged = await server.get(
        "/api/v1/runs", bearer=False, headers={"Cookie": "duragent_session=forged"}
    )
    assert forged.status == 401
    # Static files need no token and reveal nothing about runs.
    assert (await server.get("/static/app.js", bearer=False)).status == 200


async def test_security_headers_on_every_response(server: RunningServer) -> None:
    for path, bearer in (
        ("/", True),
        ("/api/v1/runs", True),
        ("/static/app.css", False),
        ("/", False),
    ):
        reply = await server.get(path, bearer=bearer)
        csp = reply.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp
        assert "style-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert reply.headers["x-content-type-options"] == "nosniff"
        assert reply.headers["referrer-policy"] == "no-referrer"


async def test_csrf_and_same_origin_for_cookie_sessions(
    server: RunningServer, client: Client
) -> None:
    await client.start_workflow(Pipeline.run, "o", id="order-1", task_queue=TASK_QUEUE)
    events = len((await client.get_workflow_handle("order-1").fetch_history()).events)
    cookie, csrf = await asyncio.to_thread(_cookie_of, server)
    origin = server.url
    path = "/api/v1/runs/order-1/signal"
    refused = [
        {"Cookie": cookie, "Origin": origin},  # no CSRF token
        {"Cookie": cookie, "Origin": origin, "X-CSRF-Token": "wrong"},
        {"Cookie": cookie, "Origin": "http://evil.example", "X-CSRF-Token": csrf},
        {"Cookie": cookie, "Sec-Fetch-Site": "cross-site", "X-CSRF-Token": csrf},
        {"Cookie": cookie, "X-CSRF-Token": csrf},  # neither Origin nor Sec-Fetch-Site
    ]
    for headers in refused:
        reply = await server.post(path, {"name": "ship"}, bearer=False, headers=headers)
        assert reply.status == 403, (headers, reply.text)
        assert "error" in reply.json()
    history = (await client.get_workflow_handle("order-1").fetch_history()).events
    assert len(history) == events  # nothing was signalled
    ok = await server.post(
        path,
        {"name": "ship"},
        bearer=False,
        headers={"Cookie": cookie, "Origin": origin, "X-CSRF-Token": csrf},
    )
    assert ok.status == 200, ok.text
    # GET never changes state: the action routes do not answer GET.
    assert (await server.get("/api/v1/runs/order-1/cancel")).status in (404, 405)


async def test_read_only_refuses_every_action(db_url: str, client: Client) -> None:
    await client.start_workflow(Pipeline.run, "o", id="order-1", task_queue=TASK_QUEUE)
    with serving(db_url, read_only=True) as server:
        for action, body in (
            ("signal", {"name": "ship"}),
            ("update", {"name": "x"}),
            ("cancel", {}),
            ("terminate", {}),
            ("approvals/c1", {"approve": True}),
        ):
            reply = await server.post(f"/api/v1/runs/order-1/{action}", body)
            assert reply.status == 403 and "read-only" in reply.json()["error"], action
        start = await server.post("/api/v1/agents/start", {"agent": "m:a", "input": "x"})
        assert start.status == 403
        page = await server.get("/runs/order-1")
        assert "Terminate run" not in page.text and "read-only" in page.text
    assert (await client.get_workflow_handle("order-1").describe()).status == "running"


def test_bind_rule() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.1")
    check_bind("127.0.0.1", token_given=False)
    check_bind("0.0.0.0", token_given=True)
    with pytest.raises(ConfigurationError, match="--token"):
        check_bind("0.0.0.0", token_given=False)


def test_cli_prints_one_line_and_refuses_open_bind(tmp_path: pytest.TempPathFactory) -> None:
    db = f"sqlite:///{tmp_path}/cli.db"  # type: ignore[str-bytes-safe]
    asyncio.run(_create(db))
    env = {k: v for k, v in os.environ.items() if k != "DURAGENT_TOKEN"}
    refused = subprocess.run(
        [sys.executable, "-m", "duragent", "--db", db, "server", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert refused.returncode == 1 and "--token" in refused.stderr
    process = subprocess.Popen(
        [sys.executable, "-m", "duragent", "--db", db, "server", "--token", "t0k"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("Duragent UI: http://127.0.0.1:") and line.endswith("/?token=t0k")
        port = int(line.split(":")[3].split("/")[0])
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/api/v1/runs", headers={"Authorization": "Bearer t0k"})
        assert conn.getresponse().status == 200
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=20)
    assert out.strip() == ""  # exactly one line


async def _create(db: str) -> None:
    c = await Client.connect(db)
    await c.close()
