"""``chat()``: the local model with chat-completions messages, for loops without the SDK."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from duragent.errors import ApplicationError
from duragent.models.local import WEATHER_EXAMPLES, chat
from tests.models.conftest import requires_local_model
from tests.models.weather import CHAT_TOOLS, alerts_for

pytestmark = [pytest.mark.local_model, requires_local_model]


def run_tool(name: str, arguments: dict[str, Any]) -> str:
    if name == "get_weather_alerts":
        return alerts_for(arguments["state"])
    if name == "get_location_info":
        return json.dumps({"city": "Mountain View", "state": "CA"})
    return json.dumps({"ip": "8.8.8.8"})


@pytest.mark.slow
async def test_agentic_loop_without_the_sdk() -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Any weather alerts in CA?"}]
    parameters = {t["function"]["name"]: t["function"]["parameters"] for t in CHAT_TOOLS}
    reply: dict[str, Any] = {}
    for _ in range(len(CHAT_TOOLS) + 1):  # each tool at most once per turn, then an answer
        reply = await chat(messages, CHAT_TOOLS, examples=WEATHER_EXAMPLES)
        usage = reply["usage"]
        assert usage["prompt_tokens"] > 0
        assert usage["completion_tokens"] > 0
        messages.append({k: v for k, v in reply.items() if k != "usage"})
        if not reply.get("tool_calls"):
            break
        assert reply["content"] is None
        (call,) = reply["tool_calls"]
        assert call["type"] == "function"
        assert call["id"].startswith("call_")
        name = call["function"]["name"]
        arguments = json.loads(call["function"]["arguments"])
        jsonschema.validate(arguments, parameters[name])
        messages.append(
            {"role": "tool", "tool_call_id": call["id"], "content": run_tool(name, arguments)}
        )
    assert isinstance(reply["content"], str)
    assert reply["content"].strip()
    assert any(m["role"] == "tool" for m in messages), "the loop never called a tool"


async def test_structured_answer_over_http(server_url: str) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "sunny": {"type": "boolean"}},
        "required": ["city", "sunny"],
    }
    reply = await chat(
        [
            {
                "role": "user",
                "content": "Oslo is sunny today. Give the city and whether it is sunny.",
            }
        ],
        response_format={"type": "json_schema", "json_schema": {"name": "w", "schema": schema}},
        base_url=server_url,
    )
    jsonschema.validate(json.loads(reply["content"]), schema)
    assert reply["usage"]["prompt_tokens_details"]["cached_tokens"] == 0


async def test_reply_cut_off_by_max_tokens_is_a_non_retryable_error() -> None:
    with pytest.raises(ApplicationError, match="not complete JSON") as caught:
        await chat(
            [{"role": "user", "content": "Any weather alerts in CA?"}],
            CHAT_TOOLS,
            max_tokens=4,
            examples=WEATHER_EXAMPLES,
        )
    assert caught.value.non_retryable
    assert caught.value.type == "LocalModelOutputError"
