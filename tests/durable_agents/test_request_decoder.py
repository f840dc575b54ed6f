"""The model activity decodes a request built from parts in proportion to what is new, and
gets exactly the request a whole decode gives, whatever its model does to its input."""

from __future__ import annotations

import json
from typing import Any

import pytest

from duragent._json_parts import PartsPayload
from duragent.errors import SerializationError
from duragent.openai_agents._request import ModelCallRequest
from duragent.openai_agents._request_decoder import RequestDecoder
from duragent.openai_agents._request_payload import RequestEncoder
from duragent.serde import DataConverter, Payload
from tests.durable_agents.test_agent_payloads import CONFIG

converter = DataConverter()


def call(i: int) -> dict[str, Any]:
    return {"type": "function_call", "call_id": f"c{i}", "name": "lookup", "arguments": "{}"}


def output(i: int) -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": f"c{i}", "output": f"result {i} é"}


def message(text: str) -> dict[str, Any]:
    """An item with a nested value (not copied by ``dict()`` alone)."""
    return {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text}],
    }


def whole(payload: Payload) -> ModelCallRequest:
    """What the plain path decodes (a payload read back from the store has no parts)."""
    return converter.decode(Payload(payload.data), ModelCallRequest)


def test_a_growing_conversation_is_parsed_only_where_it_is_new() -> None:
    encoder, decoder = RequestEncoder(), RequestDecoder()
    conversation: list[dict[str, Any]] = [{"role": "user", "content": "hi"}, message("ok")]
    for i in range(10):
        payload = encoder.payload(CONFIG, [dict(x) for x in conversation], None, None)
        before = decoder.parsed
        request = decoder.decode(payload)
        assert request == whole(payload)
        assert request.input == conversation
        assert decoder.parsed - before == (len(conversation) if i == 0 else 2)
        conversation += [call(i), output(i)] if i % 3 else [message(f"step {i}"), output(i)]


def test_a_model_that_changes_its_input_in_place_changes_no_later_request() -> None:
    encoder, decoder = RequestEncoder(), RequestDecoder()
    conversation: list[dict[str, Any]] = [{"role": "user", "content": "hi"}, message("ok")]
    for i in range(6):
        payload = encoder.payload(CONFIG, [dict(x) for x in conversation], None, None)
        request = decoder.decode(payload)
        assert request == whole(payload)
        handed = request.input
        assert isinstance(handed, list)
        for item in handed:  # a careless model rewrites what it was given
            item["role"] = "changed"
            item.pop("call_id", None)
            for part in item.get("content", []) if isinstance(item.get("content"), list) else []:
                part["text"] = "changed"
        handed.append({"type": "injected"})
        conversation += [call(i), output(i)]


def test_conversations_that_diverge_interleave_or_shrink_decode_alike() -> None:
    encoder, decoder = RequestEncoder(), RequestDecoder()
    base = [{"role": "user", "content": "hi"}] + [output(i) for i in range(9)]
    left = [*base, call(100), output(100)]
    right = [*base[:5], message("another path"), output(200)]
    requests = [base, left, right, [*left, output(101)], [*right, output(201)], base[:3], left]
    for items in requests:
        payload = encoder.payload(CONFIG, [dict(x) for x in items], None, None)
        request = decoder.decode(payload)
        assert request == whole(payload)
        assert request.input == items


def test_a_request_without_parts_is_decoded_whole() -> None:
    decoder = RequestDecoder()
    items = [{"role": "user", "content": "hi"}, output(1)]
    payload = RequestEncoder().payload(CONFIG, items, "resp-1", None, stream=True)
    request = decoder.decode(Payload(payload.data))
    assert request == whole(payload)
    assert (request.previous_response_id, request.stream) == ("resp-1", True)
    assert decoder.parsed == 0
    text = RequestEncoder().payload(CONFIG, "just a string", None, None)
    assert decoder.decode(text).input == "just a string"


def test_a_malformed_or_newer_request_is_refused_as_the_whole_decode_refuses_it() -> None:
    decoder = RequestDecoder()
    good = RequestEncoder().payload(CONFIG, [output(1)], None, None)
    newer = PartsPayload(good.data, (("v", b"99"), *good.members[1:]))
    with pytest.raises(SerializationError, match="newer Duragent"):
        decoder.decode(newer)
    broken = PartsPayload(good.data, tuple(m for m in good.members if m[0] != "config"))
    with pytest.raises(SerializationError, match="config"):
        decoder.decode(broken)
    with pytest.raises(SerializationError):
        decoder.decode(Payload(b"json/1\n" + json.dumps({"v": 3}).encode()))
