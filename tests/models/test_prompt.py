"""Prompt building and conversation conversion (no model needed)."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest

from duragent.models.local import (
    DEFAULT_EXAMPLES,
    WEATHER_EXAMPLES,
    Example,
    ExampleStep,
    weights_path,
)
from duragent.models.local.convert import tools_from_chat, turns_from_chat, turns_from_items
from duragent.models.local.engine import _offered_tools
from duragent.models.local.prompt import (
    AssistantText,
    ToolCallTurn,
    ToolResult,
    UserText,
    build_messages,
    tools_called_this_turn,
)
from duragent.models.local.schema import ToolSpec
from tests.models.conftest import requires_local_model
from tests.models.weather import CHAT_TOOLS

TOOLS = tools_from_chat(CHAT_TOOLS)


def test_responses_items_become_turns() -> None:
    system, turns = turns_from_items(
        [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "input_text", "text": "Alerts in CA?"}]},
            {"type": "reasoning", "id": "r1", "summary": []},
            {
                "type": "function_call",
                "call_id": "c1",
                "name": "get_weather_alerts",
                "arguments": '{"state":"CA"}',
            },
            {"type": "function_call_output", "call_id": "c1", "output": '{"alerts": []}'},
            {
                "type": "message",
                "id": "m1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "None.", "annotations": []}],
            },
            {"role": "system", "content": "Now in French."},
        ]
    )
    assert system == ["Be brief."]
    assert turns == [
        UserText("Alerts in CA?"),
        ToolCallTurn("get_weather_alerts", '{"state":"CA"}', "c1"),
        ToolResult("c1", '{"alerts": []}'),
        AssistantText("None."),
        UserText("Now in French.", role="system"),
    ]
    assert turns_from_items("hello") == ([], [UserText("hello")])


def test_chat_messages_become_turns() -> None:
    system, turns = turns_from_chat(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Alerts in CA?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get_weather_alerts", "arguments": '{"state":"CA"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": '{"alerts": []}'},
        ]
    )
    assert system == ["Be brief."]
    assert turns == [
        UserText("Alerts in CA?"),
        ToolCallTurn("get_weather_alerts", '{"state":"CA"}', "c1"),
        ToolResult("c1", '{"alerts": []}'),
    ]
    with pytest.raises(ValueError, match="role"):
        turns_from_chat([{"role": "robot", "content": "?"}])


def test_messages_list_tools_show_matching_examples_and_render_turns() -> None:
    turns = [
        UserText("Alerts in CA?"),
        ToolCallTurn("get_weather_alerts", '{"state":"CA"}', "c1"),
        ToolResult("c1", '{"alerts": []}'),
    ]
    messages, static = build_messages(
        instructions="Be brief.",
        turns=turns,
        tools=TOOLS,
        final_schema=None,
        examples=WEATHER_EXAMPLES,
        json_mode=True,
    )
    system = messages[0]["content"]
    assert system.startswith("Be brief.\n")
    assert "- get_weather_alerts(state: Two-letter US state code, e.g. CA): Get active" in system
    assert "- get_ip_address(): Get the user's current public IP address." in system
    assert messages[1] == {"role": "user", "content": "Any weather alerts in Texas?"}
    # Everything up to the real conversation is the static part.
    assert static == len(messages) - 3
    assert messages[static:] == [
        {"role": "user", "content": "Alerts in CA?"},
        {
            "role": "assistant",
            "content": '{"tool": "get_weather_alerts", "arguments": {"state": "CA"}}',
        },
        {"role": "tool", "content": '{"alerts": []}', "tool_call_id": "c1"},
    ]
    assert all(isinstance(m["content"], str) for m in messages)


def test_examples_need_their_tools_unless_marked_always() -> None:
    needs_ip = Example(
        "My IP?", "It is 1.2.3.4.", [ExampleStep("get_ip_address", {}, {"ip": "1.2.3.4"})]
    )
    other = Example("Order?", "Shipped.", [ExampleStep("get_order", {}, "shipped")])
    generic = Example("Order?", "Shipped.", [ExampleStep("get_order", {}, "shipped")], always=True)
    messages, _ = build_messages(
        instructions=None,
        turns=[UserText("hi")],
        tools=TOOLS,
        final_schema=None,
        examples=[needs_ip, other, generic],
        json_mode=True,
    )
    questions = [m["content"] for m in messages if m["role"] == "user"]
    assert questions == ["My IP?", "Order?", "hi"]
    assert any(e.always for e in DEFAULT_EXAMPLES)


def test_plain_mode_has_no_json_instructions() -> None:
    messages, _ = build_messages(
        instructions=None,
        turns=[UserText("hi"), AssistantText("hello"), UserText("bye")],
        tools=[],
        final_schema=None,
        examples=DEFAULT_EXAMPLES,
        json_mode=False,
    )
    assert messages == [
        {"role": "system", "content": "You are a helpful assistant. Answer briefly."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "bye"},
    ]


def test_structured_answers_are_described() -> None:
    messages, _ = build_messages(
        instructions=None,
        turns=[UserText("x")],
        tools=[],
        final_schema={"type": "object", "properties": {"n": {"type": "integer"}}},
        examples=(),
        json_mode=True,
    )
    assert messages[0]["content"] == 'Reply with JSON only: {"final_answer": {"n": integer}}.'


def test_no_repeat_and_tool_choice() -> None:
    turns = [
        UserText("earlier"),
        ToolCallTurn("get_ip_address", "{}", "c0"),
        UserText("Alerts here?"),
        ToolCallTurn("get_weather_alerts", json.dumps({"state": "CA"}), "c1"),
        ToolResult("c1", "{}"),
    ]
    assert tools_called_this_turn(turns) == {"get_weather_alerts"}

    def names(tools: list[ToolSpec]) -> list[str]:
        return [t.name for t in tools]

    offered, final = _offered_tools(TOOLS, turns, None, no_repeat=True)
    assert (names(offered), final) == (["get_location_info", "get_ip_address"], True)
    offered, final = _offered_tools(TOOLS, turns, "auto", no_repeat=False)
    assert (len(offered), final) == (3, True)
    offered, final = _offered_tools(TOOLS, turns, "none", no_repeat=True)
    assert (offered, final) == ([], True)
    offered, final = _offered_tools(TOOLS, turns, "required", no_repeat=True)
    assert (len(offered), final) == (2, False)
    offered, final = _offered_tools(TOOLS, turns, "get_weather_alerts", no_repeat=True)
    assert (names(offered), final) == (["get_weather_alerts"], False)
    with pytest.raises(ValueError, match="tool_choice"):
        _offered_tools(TOOLS, turns, "nope", no_repeat=True)


@pytest.mark.local_model
@requires_local_model
def test_in_process_rendering_matches_the_models_chat_template() -> None:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    from duragent.models.local import InProcessBackend
    from duragent.models.local.backends import _loaded, render_chatml

    backend = InProcessBackend()
    backend.load()
    llama = _loaded(weights_path(), 2048, 2).llama
    template = llama.metadata["tokenizer.chat_template"]
    messages, _ = build_messages(
        instructions="Be brief.",
        turns=[UserText("Alerts in CA?"), ToolCallTurn("get_ip_address", "{}", "c1")],
        tools=TOOLS,
        final_schema=None,
        examples=WEATHER_EXAMPLES,
        json_mode=True,
    )
    formatter = Jinja2ChatFormatter(template, eos_token="<|im_end|>", bos_token="<|im_start|>")
    expected = formatter(messages=cast(Any, messages)).prompt
    assert "".join(render_chatml(m) for m in messages) + "<|im_start|>assistant\n" == expected
