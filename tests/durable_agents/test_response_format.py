"""How a model response is recorded: compact (defaults left out), and read back whole, both in
this form and in the fuller form earlier versions recorded."""

from __future__ import annotations

from agents import ModelResponse, Usage
from openai.types.responses import ResponseFunctionToolCall
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

from duragent.openai_agents._request import response_from_json, response_to_json


def _response(cached: int) -> ModelResponse:
    call = ResponseFunctionToolCall(
        arguments='{"i": 0}', call_id="c0", name="lookup", type="function_call", id="x0"
    )
    usage = Usage(
        requests=1,
        input_tokens=120,
        input_tokens_details=InputTokensDetails(cached_tokens=cached, cache_write_tokens=0),
        output_tokens=7,
        output_tokens_details=OutputTokensDetails(reasoning_tokens=0),
        total_tokens=127,
    )
    return ModelResponse(output=[call], usage=usage, response_id=None)


def test_defaults_are_left_out_and_restored() -> None:
    data = response_to_json(_response(cached=0))
    assert data["usage"] == {
        "requests": 1,
        "input_tokens": 120,
        "output_tokens": 7,
        "total_tokens": 127,
    }
    assert "response_id" not in data and "raw_usage" not in data
    back = response_from_json(data)
    assert back.response_id is None
    assert back.usage.input_tokens == 120 and back.usage.total_tokens == 127
    assert back.usage.input_tokens_details.cached_tokens == 0
    assert back.output[0].call_id == "c0"  # type: ignore[union-attr]


def test_non_zero_details_are_kept() -> None:
    data = response_to_json(_response(cached=64))
    assert data["usage"]["input_tokens_details"]["cached_tokens"] == 64
    assert response_from_json(data).usage.input_tokens_details.cached_tokens == 64


def test_the_fuller_earlier_form_still_reads() -> None:
    earlier = {
        "output": [],
        "usage": {
            "requests": 1,
            "input_tokens": 5,
            "input_tokens_details": {"cache_write_tokens": 0, "cached_tokens": 0},
            "output_tokens": 2,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 7,
            "request_usage_entries": [],
        },
        "response_id": None,
        "request_id": None,
        "raw_usage": None,
    }
    back = response_from_json(earlier)
    assert back.usage.total_tokens == 7 and back.response_id is None
