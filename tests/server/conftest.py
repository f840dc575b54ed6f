"""A real server (uvicorn on 127.0.0.1, a free port) on a real SQLite file, with a worker
running the test app, and a small HTTP client."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from duragent import Client, Worker
from duragent.openai_agents import OpenAIAgentsPlugin
from duragent.server import ServerConfig, create_app
from duragent.server import bind as bind_socket
from duragent.testing.scripted_model import ScriptedModelProvider

from .ui_app import ACTIVITIES, SCRIPTS, TASK_QUEUE, WORKFLOWS

TOKEN = "test-token-0123456789"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    cookies: list[str] = field(default_factory=lambda: [])

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


@dataclass
class RunningServer:
    host: str
    port: int
    token: str
    db_url: str
    app: Any

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def request_sync(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        bearer: bool = True,
        raw_body: bytes | None = None,
    ) -> Reply:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        sent = dict(headers or {})
        if bearer:
            sent.setdefault("Authorization", f"Bearer {self.token}")
        data = raw_body
        if body is not None:
            data = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=sent)
        response = conn.getresponse()
        payload = response.read()
        cookies = [v for k, v in response.getheaders() if k.lower() == "set-cookie"]
        reply = Reply(
            response.status, {k.lower(): v for k, v in response.getheaders()}, payload, cookies
        )
        conn.close()
        return reply

    async def request(self, method: str, path: str, **kwargs: Any) -> Reply:
        return await asyncio.to_thread(self.request_sync, method, path, **kwargs)

    async def get(self, path: str, **kwargs: Any) -> Reply:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return await self.request("POST", path, body=body if body is not None else {}, **kwargs)


async def wait_until(
    check: Callable[[], Awaitable[Any]], *, timeout: float = 20.0, what: str = "the condition"
) -> Any:
    """Poll ``check`` (a test helper: the server itself never polls) until it is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@contextlib.contextmanager
def serving(
    db_url: str, *, token: str = TOKEN, read_only: bool = False, **options: Any
) -> Iterator[RunningServer]:
    """uvicorn in a thread (its own event loop) serving the app on 127.0.0.1:<free port>."""
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    config = ServerConfig(
        target=db_url,
        token=token,
        read_only=read_only,
        base_url=f"http://127.0.0.1:{port}",
        **options,
    )
    app = create_app(config)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.01)
    try:
        yield RunningServer("127.0.0.1", port, token, db_url, app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ui.db'}"


@pytest.fixture
async def client(db_url: str) -> AsyncIterator[Client]:
    c = await Client.connect(db_url)
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
def provider() -> ScriptedModelProvider:
    return ScriptedModelProvider(SCRIPTS)


@pytest.fixture
async def worker(client: Client, provider: ScriptedModelProvider) -> AsyncIterator[Worker]:
    async with Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=list(WORKFLOWS),
        activities=list(ACTIVITIES),
        plugins=[OpenAIAgentsPlugin(model_provider=provider)],
    ) as w:
        yield w


@pytest.fixture
def server(db_url: str, client: Client) -> Iterator[RunningServer]:
    """The server on the test's database (created by the client fixture first)."""
    with serving(db_url) as running:
        yield running
