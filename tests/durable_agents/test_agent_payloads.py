"""The agent payloads' fast paths give exactly what the plain ones gave.

Model-call requests are built from the encodings of earlier calls (only new items are
encoded), model results from parts, requests and results are decoded without pydantic's
field-by-field validation, and recorded responses are validated item by item against their
own class. Each must produce the same JSON, the same objects and the same errors as before.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pydantic
import pytest
from agents import ModelResponse

from duragent.errors import SerializationError
from duragent.openai_agents._model_activity import result_payload
from duragent.openai_agents._request import (
    ModelCallConfig,
    ModelCallRequest,
    ModelCallResult,
    rebuild_tools,
    response_from_json,
)
from duragent.openai_agents._request_payload import RequestEncoder
from duragent.openai_agents._wire import AGENT_FORMAT_VERSION
from duragent.serde import DataConverter, Payload

GOLDEN = Path(__file__).parent / "golden"
converter = DataConverter()
CONFIG = ModelCallConfig(
    model="m",
    agent="a",
    system_instructions="Be brief.",
    model_settings={"temperature": 0.5},
    tools=[
        {
            "kind": "function",
            "name": "lookup",
            "description": "Look it up.",
            "params_json_schema": {
                "type": "object",
                "properties": {"i": {"type": "integer"}},
                "required": ["i"],
                "additionalProperties": False,
            },
            "strict_json_schema": True,
        }
    ],
)


def item(i: int) -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": f"c{i}", "output": f"result {i} é"}


def plain(config: ModelCallConfig, items: Any, *, stream: bool = False) -> Any:
    """What the request payload held before it was built from parts."""
    request = ModelCallRequest(v=AGENT_FORMAT_VERSION, config=config, input=items, stream=stream)
    return json.loads(converter.encode(request).body)


def test_requests_built_from_earlier_encodings_hold_the_same_json() -> None:
    encoder = RequestEncoder()
    conversation: list[dict[str, Any]] = [{"role": "user", "content": "hi"}]
    for i in range(12):
        # The SDK hands a fresh list of fresh dicts on every call.
        fresh = [dict(x) for x in conversation]
        payload = encoder.payload(CONFIG, fresh, None, None)
        assert json.loads(payload.body) == plain(CONFIG, conversation)
        assert converter.decode(payload, ModelCallRequest) == ModelCallRequest(
            v=AGENT_FORMAT_VERSION, config=CONFIG, input=conversation
        )
        conversation.append(item(i))
    # One entry per conversation: comparing against each earlier version would cost a
    # pass over the whole conversation per version, at every turn.
    assert len(encoder._inputs) == 1  # pyright: ignore[reportPrivateUsage]
    assert json.loads(encoder.payload(CONFIG, "just text", "r1", None).body) == {
        **plain(CONFIG, "just text"),
        "previous_response_id": "r1",
    }
    streamed = encoder.payload(CONFIG, conversation, None, None, stream=True)
    assert json.loads(streamed.body) == plain(CONFIG, conversation, stream=True)
    assert converter.decode(streamed, ModelCallRequest).stream is True


def test_an_item_changed_in_place_is_encoded_again() -> None:
    encoder = RequestEncoder()
    items = [item(0), item(1), item(2)]
    encoder.payload(CONFIG, items, None, None)
    items[1]["output"] = "changed"  # the same dict object, new content
    payload = encoder.payload(CONFIG, items, None, None)
    assert json.loads(payload.body)["input"][1]["output"] == "changed"


def test_an_item_changed_inside_a_nested_value_is_encoded_again() -> None:
    # Items with lists or objects inside are compared against a decoded copy, items of
    # plain values against a shallow copy: a change through either path is seen.
    encoder = RequestEncoder()
    message = {"role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    items: list[dict[str, Any]] = [message, item(0)]
    encoder.payload(CONFIG, items, None, None)
    message["content"][0]["text"] = "changed"  # inside the same nested objects
    items[1]["output"] = "also changed"
    items.append(item(1))
    body = json.loads(encoder.payload(CONFIG, items, None, None).body)
    assert body["input"][0]["content"][0]["text"] == "changed"
    assert body["input"][1]["output"] == "also changed"
    assert body["input"] == items


def test_conversations_that_diverge_or_interleave_keep_their_own_encodings() -> None:
    encoder = RequestEncoder()
    first = [item(i) for i in range(6)]
    second = [{"role": "user", "content": "other"}, item(9)]
    for round in range(3):
        for conversation in (first, second):
            payload = encoder.payload(CONFIG, conversation, None, None)
            assert json.loads(payload.body)["input"] == conversation
            conversation.append(item(100 + round))
    rewritten = [*first[:2], item(55), *first[3:]]  # an input filter rewrote the middle
    assert json.loads(encoder.payload(CONFIG, rewritten, None, None).body)["input"] == rewritten
    other_config = ModelCallConfig(
        model="m", agent="b", system_instructions=None, model_settings={}
    )
    body = json.loads(encoder.payload(other_config, first, None, None).body)
    assert body["config"]["agent"] == "b" and body["input"] == first


def _responses() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sorted(GOLDEN.glob("v*/*.json")):
        for event in json.loads(path.read_text())["events"]:
            result = (
                event["attrs"].get("result") if event["type"] == "ActivityTaskCompleted" else None
            )
            if isinstance(result, str) and '"response"' in result:
                found.append(Payload(result.encode()).to_json_value())
    return found


def test_recorded_responses_read_item_by_item_equal_the_whole_validation() -> None:
    adapter: pydantic.TypeAdapter[ModelResponse] = pydantic.TypeAdapter(ModelResponse)
    results = _responses()
    assert len(results) > 20
    for recorded in results:
        result = converter.decode(
            Payload(b"json/1\n" + json.dumps(recorded).encode()), ModelCallResult
        )
        data = {"response_id": None, **result.response}
        assert response_from_json(result.response, result.sdk) == adapter.validate_python(data)


def test_a_result_built_from_parts_is_the_json_of_a_model_call_result() -> None:
    for recorded in _responses():
        response = recorded["response"]
        payload = result_payload(response, "gpt", 12)
        expected = ModelCallResult(
            v=AGENT_FORMAT_VERSION, response=response, model="gpt", latency_ms=12, sdk=None
        )
        decoded = converter.decode(payload, ModelCallResult)
        assert decoded.response == expected.response
        assert (decoded.v, decoded.model, decoded.latency_ms) == (AGENT_FORMAT_VERSION, "gpt", 12)
        assert decoded.sdk


def test_a_malformed_request_is_refused_naming_the_field() -> None:
    good = plain(CONFIG, [item(0)])
    for broken, field in (
        ({**good, "input": 5}, "input"),
        ({**good, "config": {**good["config"], "agent": None}}, "config.agent"),
        ({k: v for k, v in good.items() if k != "config"}, "config"),
    ):
        with pytest.raises(SerializationError, match=field):
            converter.decode(converter.encode(broken), ModelCallRequest)


def test_a_response_this_sdk_cannot_read_names_both_versions() -> None:
    with pytest.raises(SerializationError, match=r"recorded by openai-agents 9\.9.*installed"):
        response_from_json({"output": [{"type": "message", "bogus": 1}], "usage": {}}, "9.9")


def test_equal_tool_descriptions_share_one_rebuilt_tool() -> None:
    first = rebuild_tools([dict(CONFIG.tools[0])])
    again = rebuild_tools([json.loads(json.dumps(CONFIG.tools[0]))])
    assert first[0] is again[0]
    other = rebuild_tools([{**CONFIG.tools[0], "description": "Other."}])
    assert other[0] is not first[0]
