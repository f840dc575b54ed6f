"""A small OpenAI-compatible HTTP server on 127.0.0.1 for model-activity tests.

It speaks enough of the chat completions API for the Agents SDK's
``OpenAIChatCompletionsModel``: ``POST /v1/chat/completions`` answers with the next planned
reply (a message, a tool call, or an HTTP error with headers), and a final message once the
plan is used up. Every request is recorded with its arrival time.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One planned answer."""

    status: int = 200
    text: str | None = "done"
    tool: tuple[str, dict[str, Any]] | None = None
    headers: dict[str, str] = field(default_factory=lambda: {})
    error: str = ""

    @classmethod
    def message(cls, text: str) -> Reply:
        return cls(text=text)

    @classmethod
    def tool_call(cls, name: str, arguments: dict[str, Any]) -> Reply:
        return cls(text=None, tool=(name, arguments))

    @classmethod
    def failure(cls, status: int, error: str, headers: dict[str, str] | None = None) -> Reply:
        return cls(status=status, text=None, headers=headers or {}, error=error)


@dataclass(frozen=True)
class Request:
    path: str
    body: dict[str, Any]
    time: float
    """``time.monotonic()`` at arrival."""
    wall: float = 0.0
    """``time.time()`` at arrival (for checks against wall-clock dates such as
    ``retry-after: <HTTP date>``)."""


def completion(reply: Reply, model: str, n: int) -> dict[str, Any]:
    """A chat completion object for a successful reply."""
    msg: dict[str, Any] = {"role": "assistant", "content": reply.text}
    finish = "stop"
    if reply.tool is not None:
        name, arguments = reply.tool
        msg["tool_calls"] = [
            {
                "id": f"call_{n}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
        ]
        finish = "tool_calls"
    return {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": msg, "finish_reason": finish, "logprobs": None}],
        "usage": {"prompt_tokens": 20 + n, "completion_tokens": 5, "total_tokens": 25 + n},
    }


class FakeOpenAI:
    """The server; use as a context manager (it stops and closes its socket on exit)."""

    def __init__(self, plan: list[Reply] | None = None, *, port: int = 0) -> None:
        self.plan = list(plan or [])
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                status, headers, payload = fake.answer(self.path, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            self.requests.append(Request(path, body, time.monotonic(), time.time()))
            n = len(self.requests)
            reply = self.plan.pop(0) if self.plan else Reply.message("done")
        if path != "/v1/chat/completions":
            return 404, {}, {"error": {"message": f"no route {path}", "type": "not_found"}}
        if reply.status != 200:
            error = {"message": reply.error, "type": "invalid_request_error", "code": None}
            return reply.status, reply.headers, {"error": error}
        return 200, reply.headers, completion(reply, str(body.get("model", "")), n)

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def free_port() -> int:
    """A port nothing listens on (right now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
