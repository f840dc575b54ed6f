"""The reply schema: one branch per tool plus the answer, embedded user schemas, parsing."""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel

from duragent.models.local.schema import (
    FinalAnswer,
    ReplyError,
    ToolCall,
    ToolSpec,
    parse_reply,
    reply_schema,
)


class Address(BaseModel):
    city: str
    zip_code: str | None = None


class Person(BaseModel):
    name: str
    home: Address
    tags: list[str]


ALERTS = ToolSpec(
    "get_weather_alerts",
    "Get alerts.",
    {
        "type": "object",
        "properties": {"state": {"type": "string", "pattern": "^[A-Z]{2}$"}},
        "required": ["state"],
    },
)
IP = ToolSpec("get_ip_address", "Get the IP.", {"type": "object", "properties": {}})
SAVE = ToolSpec("save_person", "Save a person.", Person.model_json_schema())


def valid(schema: dict[str, Any], value: Any) -> bool:
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError:
        return False
    return True


def test_one_branch_per_tool_and_a_text_answer() -> None:
    schema = reply_schema([ALERTS, IP], None)
    assert valid(schema, {"tool": "get_weather_alerts", "arguments": {"state": "CA"}})
    assert valid(schema, {"tool": "get_ip_address", "arguments": {}})
    assert valid(schema, {"final_answer": "No alerts."})
    assert not valid(schema, {"tool": "get_weather_alerts", "arguments": {"state": "ca"}})
    assert not valid(schema, {"tool": "get_ip_address", "arguments": {"x": 1}})
    assert not valid(schema, {"tool": "unknown", "arguments": {}})
    assert not valid(schema, {"final_answer": ""})
    assert not valid(schema, {"final_answer": "x" * 201})


def test_required_tool_leaves_out_the_answer() -> None:
    schema = reply_schema([ALERTS], None, allow_final=False)
    assert not valid(schema, {"final_answer": "No alerts."})
    assert valid(schema, {"tool": "get_weather_alerts", "arguments": {"state": "TX"}})


def test_structured_answer_and_nested_models_keep_their_refs() -> None:
    schema = reply_schema([SAVE], Person.model_json_schema())
    person = {"name": "Ada", "home": {"city": "London", "zip_code": None}, "tags": ["x"]}
    assert valid(schema, {"tool": "save_person", "arguments": person})
    assert valid(schema, {"final_answer": person})
    assert not valid(schema, {"final_answer": "Ada"})
    # Each embedded schema's $defs moved to the root under its own prefix.
    assert set(schema["$defs"]) == {"t0_Address", "final_Address"}
    text = json.dumps(schema)
    assert '"#/$defs/t0_Address"' in text
    assert '"#/$defs/final_Address"' in text


def test_free_text_strings_get_a_length_limit() -> None:
    schema = reply_schema([SAVE], None, max_string=50)
    person = schema["oneOf"][0]["properties"]["arguments"]
    assert person["properties"]["name"]["maxLength"] == 50
    zip_code = schema["$defs"]["t0_Address"]["properties"]["zip_code"]
    assert {"type": "string", "maxLength": 50} in zip_code["anyOf"]
    assert schema["oneOf"][1]["properties"]["final_answer"]["maxLength"] == 50


def test_type_lists_become_any_of_and_patterns_are_anchored() -> None:
    tool = ToolSpec(
        "t",
        "",
        {
            "type": "object",
            "properties": {
                "a": {"type": ["string", "null"]},
                "b": {"type": "string", "pattern": "[0-9]+"},
            },
        },
    )
    arguments = reply_schema([tool], None)["oneOf"][0]["properties"]["arguments"]
    assert arguments["properties"]["a"] == {
        "anyOf": [{"type": "string", "maxLength": 200}, {"type": "null"}]
    }
    assert arguments["properties"]["b"]["pattern"] == "^([0-9]+)$"
    assert arguments["additionalProperties"] is False


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="needs llama-cpp-python")
def test_llama_cpp_compiles_the_schemas() -> None:
    from llama_cpp import LlamaGrammar

    for schema in (
        reply_schema([ALERTS, IP, SAVE], None),
        reply_schema([SAVE], Person.model_json_schema(), allow_final=True),
        reply_schema([], {"type": "object", "properties": {"n": {"type": ["integer", "null"]}}}),
    ):
        LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)


def test_parse_reply() -> None:
    assert parse_reply('{"tool": "t", "arguments": {"a": 1}}') == ToolCall("t", {"a": 1})
    assert parse_reply('{"final_answer": "hi"}') == FinalAnswer("hi")
    answer = parse_reply('{"final_answer": {"n": 1}}', structured=True)
    assert isinstance(answer, FinalAnswer)
    assert answer.text == '{"n": 1}'
    with pytest.raises(ReplyError, match="not complete JSON"):
        parse_reply('{"final_answer": "No, no, no')
    with pytest.raises(ReplyError, match="neither"):
        parse_reply('{"final_answer": {"n": 1}}')
