"""LocalModel with the real SmolLM2 model, in-process and over llama.cpp's HTTP server.

The assertions check what constrained decoding guarantees (a valid call of an offered tool
with schema-valid arguments, an answer of the requested shape) and determinism, not which
tool a 135M model picks: its choice is not reliable enough to pin in a test.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("agents")

import jsonschema
from agents import (
    Agent,
    AgentOutputSchema,
    FunctionTool,
    ModelResponse,
    ModelSettings,
    ModelTracing,
    RunConfig,
    Runner,
    ToolCallItem,
    ToolCallOutputItem,
    Usage,
    function_tool,
)
from agents.items import TResponseInputItem
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage
from pydantic import BaseModel

from duragent.models.local import WEATHER_EXAMPLES, LocalModel, LocalModelProvider
from tests.models.conftest import requires_local_model
from tests.models.weather import IP, STATE, alerts_for

pytestmark = [pytest.mark.local_model, requires_local_model]

TOOL_CALLS: list[tuple[str, dict[str, Any]]] = []


@function_tool
async def get_weather_alerts(state: STATE) -> str:
    """Get active weather alerts for a US state.

    Args:
        state: Two-letter US state code, e.g. CA
    """
    TOOL_CALLS.append(("get_weather_alerts", {"state": state}))
    return alerts_for(state)


@function_tool
async def get_location_info(ip: IP) -> str:
    """Get the city and state for an IP address.

    Args:
        ip: IPv4 address
    """
    TOOL_CALLS.append(("get_location_info", {"ip": ip}))
    return json.dumps({"city": "Mountain View", "state": "CA"})


@function_tool
async def get_ip_address() -> str:
    """Get the user's current public IP address."""
    TOOL_CALLS.append(("get_ip_address", {}))
    return json.dumps({"ip": "8.8.8.8"})


WEATHER_TOOLS: list[FunctionTool] = [get_weather_alerts, get_location_info, get_ip_address]


class Forecast(BaseModel):
    city: str
    temperature_c: int
    sunny: bool


@pytest.fixture(params=["inprocess", "http"], scope="module")
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def model(backend: str, request: pytest.FixtureRequest) -> LocalModel:
    if backend == "http":
        return LocalModel(base_url=request.getfixturevalue("server_url"), examples=WEATHER_EXAMPLES)
    return LocalModel(examples=WEATHER_EXAMPLES)


async def ask(
    model: LocalModel,
    input: str | list[TResponseInputItem],
    tools: list[FunctionTool] | None = None,
    *,
    output_schema: AgentOutputSchema | None = None,
    settings: ModelSettings | None = None,
    instructions: str | None = None,
) -> ModelResponse:
    return await model.get_response(
        instructions,
        input,
        settings or ModelSettings(),
        list(tools or []),
        output_schema,
        [],
        ModelTracing.DISABLED,
        previous_response_id=None,
        conversation_id=None,
        prompt=None,
    )


def only_item(response: ModelResponse) -> Any:
    assert len(response.output) == 1
    return response.output[0]


def text_of(response: ModelResponse) -> str:
    message = only_item(response)
    assert isinstance(message, ResponseOutputMessage)
    return "".join(getattr(part, "text", "") for part in message.content)


def assert_valid_call(call: Any, tools: list[FunctionTool]) -> ResponseFunctionToolCall:
    assert isinstance(call, ResponseFunctionToolCall)
    by_name = {t.name: t for t in tools}
    assert call.name in by_name
    assert call.call_id.startswith("call_")
    assert len(call.call_id) > len("call_")
    jsonschema.validate(json.loads(call.arguments), by_name[call.name].params_json_schema)
    return call


async def test_plain_question_gets_an_answer(model: LocalModel) -> None:
    response = await ask(model, "What is the capital of France?")
    assert text_of(response).strip()
    usage = response.usage
    assert usage.requests == 1
    assert usage.input_tokens > 0
    assert usage.output_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert response.response_id is None


async def test_weather_question_gets_a_valid_tool_call(model: LocalModel) -> None:
    response = await ask(model, "Any weather alerts in CA?", WEATHER_TOOLS)
    assert_valid_call(only_item(response), WEATHER_TOOLS)


async def test_answers_after_a_tool_result(model: LocalModel) -> None:
    # Once get_weather_alerts has been called this turn it is not offered again, so with it
    # as the only tool the reply must be an answer; the test checks that it is a real one.
    input: list[TResponseInputItem] = [
        {"role": "user", "content": "Any weather alerts in CA?"},
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "get_weather_alerts",
            "arguments": '{"state": "CA"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": alerts_for("CA")},
    ]
    response = await ask(model, input, [get_weather_alerts])
    assert text_of(response).strip()


async def test_structured_output_matches_the_schema(model: LocalModel) -> None:
    schema = AgentOutputSchema(Forecast)
    response = await ask(
        model,
        "Paris today: 21 degrees and sunny.",
        output_schema=schema,
        instructions="Extract the forecast.",
    )
    forecast = schema.validate_json(text_of(response))
    assert isinstance(forecast, Forecast)


@pytest.mark.slow
async def test_same_input_gives_the_same_output(model: LocalModel, backend: str) -> None:
    question = "Any weather alerts in CA?"
    if backend == "http":
        # The server's reply can depend on what it evaluated just before (see HttpBackend);
        # once it has seen the request, repeats are identical.
        await ask(model, question, WEATHER_TOOLS)
    first = await ask(model, question, WEATHER_TOOLS)
    if backend == "inprocess":
        # In-process, the reply does not depend on what the model evaluated before.
        assert text_of(await ask(model, "What is the capital of France?")).strip()
    second = await ask(model, question, WEATHER_TOOLS)
    assert [o.model_dump() for o in first.output] == [o.model_dump() for o in second.output]


async def test_tool_choice_required_and_named() -> None:
    model = LocalModel(examples=WEATHER_EXAMPLES)
    required = await ask(
        model, "Hello!", WEATHER_TOOLS, settings=ModelSettings(tool_choice="required")
    )
    assert_valid_call(only_item(required), WEATHER_TOOLS)
    named = await ask(
        model, "Hello!", WEATHER_TOOLS, settings=ModelSettings(tool_choice="get_ip_address")
    )
    assert assert_valid_call(only_item(named), WEATHER_TOOLS).name == "get_ip_address"


@pytest.mark.slow
async def test_runner_completes_a_tool_loop() -> None:
    TOOL_CALLS.clear()
    agent = Agent(name="weather", tools=[get_weather_alerts, get_location_info, get_ip_address])
    result = await Runner.run(
        agent,
        "Any weather alerts in CA?",
        run_config=RunConfig(
            model_provider=LocalModelProvider(examples=WEATHER_EXAMPLES), tracing_disabled=True
        ),
        max_turns=6,
    )
    assert isinstance(result.final_output, str)
    assert result.final_output.strip()
    assert TOOL_CALLS, "no tool ran"
    kinds = [type(item) for item in result.new_items]
    assert ToolCallItem in kinds
    assert ToolCallOutputItem in kinds
    usage = result.context_wrapper.usage
    assert usage.requests == len(TOOL_CALLS) + 1
    assert usage.input_tokens_details.cached_tokens > 0


async def _stream(
    model: LocalModel,
    input: str,
    tools: list[FunctionTool] | None = None,
    output_schema: AgentOutputSchema | None = None,
) -> list[Any]:
    events = model.stream_response(
        None,
        input,
        ModelSettings(),
        list(tools or []),
        output_schema,
        [],
        ModelTracing.DISABLED,
        previous_response_id=None,
        conversation_id=None,
        prompt=None,
    )
    return [e async for e in events]


@pytest.mark.parametrize(
    ("question", "tools"),
    [("What is the capital of France?", []), ("Any weather alerts in CA?", WEATHER_TOOLS)],
    ids=["text", "tools"],
)
async def test_streaming_gives_the_same_reply_token_by_token(
    model: LocalModel, question: str, tools: list[FunctionTool]
) -> None:
    """Streamed or not, the same request gets the same reply (same grammar, same
    decoding); an answer's text arrives in many deltas that join to exactly its text, a
    tool call arrives whole."""
    whole = only_item(await ask(model, question, tools))
    events = await _stream(model, question, tools)
    assert events[0].type == "response.created"
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.output == [whole]
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    if isinstance(whole, ResponseOutputMessage):
        assert len(deltas) > 1
        assert "".join(deltas) == text_of(
            ModelResponse(output=[whole], usage=Usage(), response_id=None)
        )
    else:
        assert deltas == []
        assert_valid_call(whole, tools)
    assert completed.response.usage.output_tokens > 0


async def test_a_streamed_structured_answer_arrives_whole(model: LocalModel) -> None:
    schema = AgentOutputSchema(Forecast)
    events = await _stream(model, "Forecast for Oslo?", output_schema=schema)
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    (message,) = events[-1].response.output
    text = message.content[0].text
    assert deltas == [text]
    schema.validate_json(text)


def test_provider_maps_every_name_to_the_local_model() -> None:
    provider = LocalModelProvider()
    assert provider.get_model(None) is provider.get_model("gpt-4o")
    assert isinstance(provider.get_model(None), LocalModel)
