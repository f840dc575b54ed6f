"""The examples' model choice, and the raw chat call against an OpenAI-compatible endpoint
(a canned local HTTP server)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from duragent.errors import ApplicationError
from examples import llm

TOOL_CALL_RESPONSE: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "test-model",
    "choices": [
        {
            "index": 0,
            "finish_reason": "tool_calls",
            "message": {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "annotations": [],
                "tool_calls": [
                    {
                        "id": "call_abc",
                        "type": "function",
                        "function": {"name": "get_weather_alerts", "arguments": '{"state":"CA"}'},
                    }
                ],
            },
        }
    ],
    "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60},
}


class _Endpoint(ThreadingHTTPServer):
    status = 200
    requests: list[dict[str, Any]]


class _Handler(BaseHTTPRequestHandler):
    server: _Endpoint  # pyright: ignore[reportIncompatibleVariableOverride]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.server.requests.append(json.loads(self.rfile.read(length)))
        status = self.server.status
        body = TOOL_CALL_RESPONSE if status == 200 else {"error": {"message": f"status {status}"}}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Endpoint]:
    server = _Endpoint(("127.0.0.1", 0), _Handler)
    server.requests = []
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}).start()
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


async def test_chat_completion_returns_the_assistant_message(endpoint: _Endpoint) -> None:
    messages = [{"role": "user", "content": "Any alerts in CA?"}]
    reply = await llm.chat_completion(messages, [{"type": "function", "function": {"name": "x"}}])
    assert reply == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_abc",
                "type": "function",
                "function": {"name": "get_weather_alerts", "arguments": '{"state":"CA"}'},
            }
        ],
        "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60},
    }
    assert endpoint.requests[0]["model"] == (llm.MODEL or llm.CHAT_MODEL_DEFAULT)
    assert endpoint.requests[0]["messages"] == messages


@pytest.mark.parametrize(("status", "retryable"), [(429, True), (503, True), (400, False)])
async def test_chat_completion_errors_are_left_to_the_engine(
    endpoint: _Endpoint, status: int, retryable: bool
) -> None:
    endpoint.status = status
    with pytest.raises(ApplicationError) as err:
        await llm.chat_completion([{"role": "user", "content": "hi"}], [])
    assert err.value.non_retryable is not retryable
    assert "tools" not in endpoint.requests[0]  # an empty list is not sent
    assert len(endpoint.requests) == 1  # the client itself never retried


def test_model_choice_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not llm.use_openai()  # the autouse fixture removed any remote model
    assert "local model" in llm.describe()
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    assert llm.use_openai()
    assert type(llm.model_provider()).__name__ == "OpenAIProvider"
