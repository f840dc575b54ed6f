"""Which model the examples use: a real OpenAI-compatible endpoint, or the offline local model.

- With ``OPENAI_API_KEY`` (or ``OPENAI_BASE_URL``, for vLLM, Ollama, a llama.cpp server...)
  set, model calls go to that endpoint; ``DURAGENT_MODEL`` names the model (default: the SDK's
  default for the Agents SDK examples, ``gpt-4o-mini`` for the raw chat loop).
- Otherwise they go to Duragent's offline local model (SmolLM2-135M on llama.cpp), with
  few-shot examples written for the examples' tools (:data:`FEW_SHOT`): a 135M model follows
  a request that names what it wants ("Any weather alerts in California?") when it has seen a
  similar exchange, and its tool choice is weak otherwise.

Nothing here is imported by workflow code at replay time except :data:`MODEL`, a constant.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from duragent.errors import ApplicationError

if TYPE_CHECKING:
    from agents import ModelProvider

    from duragent.models.local import Example

MODEL: Final[str | None] = os.environ.get("DURAGENT_MODEL") or None
"""The model name agents ask for (``None``: the provider's default)."""
CHAT_MODEL_DEFAULT: Final = "gpt-4o-mini"


def use_openai() -> bool:
    """Whether an OpenAI-compatible endpoint is configured in the environment."""
    return bool(os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"))


def describe() -> str:
    """A one-line description of the model the examples will use."""
    if use_openai():
        where = os.environ.get("OPENAI_BASE_URL") or "api.openai.com"
        return f"{MODEL or 'default model'} at {where} (OPENAI_API_KEY / OPENAI_BASE_URL)"
    return "the offline local model (SmolLM2-135M on llama.cpp; set OPENAI_API_KEY for a real one)"


def few_shot() -> tuple[Example, ...]:
    """Few-shot examples for the examples' tools (each is shown only to agents that have all
    of its tools)."""
    from duragent.models.local import Example, ExampleStep

    florida = (
        "2 active alerts for FL:\n"
        "- Hurricane Warning: Hurricane Warning issued September 27 at 5:00AM EDT by NWS Miami FL\n"
        "- Flood Watch: Flood Watch issued September 27 at 4:12AM EDT by NWS Miami FL"
    )
    to_weather = ExampleStep(
        "transfer_to_weather_assistant", {}, {"assistant": "Weather Assistant"}
    )
    to_local = ExampleStep(
        "transfer_to_local_info_assistant", {}, {"assistant": "Local Info Assistant"}
    )
    return (
        Example(
            "Any weather alerts in Texas?",
            "There are no active weather alerts in Texas.",
            [ExampleStep("get_weather_alerts", {"state": "TX"}, "No active alerts for TX.")],
        ),
        Example(
            "Are there weather alerts in Florida?",
            "Yes: Florida has a Hurricane Warning and a Flood Watch.",
            [ExampleStep("get_weather_alerts", {"state": "FL"}, florida)],
        ),
        Example(
            "What is my IP address?",
            "Your public IP address is 198.51.100.7.",
            [ExampleStep("get_ip_address", {}, "Your public IP address is 198.51.100.7.")],
        ),
        Example(
            "Where is the IP address 192.0.2.1?",
            "192.0.2.1 is in Denver, Colorado.",
            [
                ExampleStep(
                    "get_location_info",
                    {"ip": "192.0.2.1"},
                    "192.0.2.1 is in Denver, Colorado (CO), United States.",
                )
            ],
        ),
        Example(
            "Please refund order B-2002, it never arrived.",
            "Order B-2002 was refunded.",
            [
                ExampleStep(
                    "issue_refund",
                    {"order_id": "B-2002", "reason": "never arrived"},
                    "Refunded $25.00 for order B-2002 (reason: never arrived).",
                )
            ],
        ),
        # Triage (handoffs): local info, weather, local info. In this order the small model
        # routes all the demo's questions right; with two examples it follows the last one.
        Example("What is my IP address?", "Your public IP address is 198.51.100.7.", [to_local]),
        Example(
            "Any weather alerts in Texas?",
            "There are no active weather alerts in Texas.",
            [to_weather],
        ),
        Example(
            "Where is the IP address 192.0.2.1?", "192.0.2.1 is in Denver, Colorado.", [to_local]
        ),
        Example("Hi, who are you?", "I am a helpful assistant. I can look things up for you."),
    )


def model_provider() -> ModelProvider:
    """The Agents SDK model provider: the configured endpoint, else the local model.

    Pass the function itself to ``OpenAIAgentsPlugin(model_provider=model_provider)``: the
    plugin calls it on the first model call, so importing an example loads no model.
    """
    if use_openai():
        from duragent.openai_agents import openai_provider

        return openai_provider()
    from duragent.models.local import LocalModelProvider

    return LocalModelProvider(examples=few_shot())


async def chat_completion(
    messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """One chat-completions call: the assistant message (with ``tool_calls`` if any) plus
    ``usage``. Used by the agent loop written without the Agents SDK.

    Raises:
        ApplicationError: The endpoint failed; 408/409/429/5xx and connection errors are
            retryable (the engine retries them), other errors are not.
    """
    if not use_openai():
        from duragent.models.local import chat

        return await chat(messages, tools, examples=few_shot())
    import openai

    client = openai.AsyncOpenAI(
        api_key=os.environ.get("OPENAI_API_KEY") or "not-needed", max_retries=0
    )
    try:
        response = await client.chat.completions.create(
            model=MODEL or CHAT_MODEL_DEFAULT,
            messages=list(messages),  # type: ignore[arg-type]
            **({"tools": list(tools)} if tools else {}),  # type: ignore[arg-type]
        )
    except openai.APIStatusError as err:
        status = err.status_code
        raise ApplicationError(
            f"the model endpoint returned HTTP {status}: {err.message}",
            type=f"HTTP{status}",
            non_retryable=not (status in (408, 409, 429) or status >= 500),
        ) from err
    except openai.APIConnectionError as err:
        raise ApplicationError(f"cannot reach the model endpoint: {err}") from err
    finally:
        await client.close()
    choice = response.choices[0].message
    reply: dict[str, Any] = {"role": "assistant", "content": choice.content}
    calls = [c for c in choice.tool_calls or [] if c.type == "function"]
    if calls:
        reply["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.function.name, "arguments": c.function.arguments},
            }
            for c in calls
        ]
    if response.usage is not None:
        reply["usage"] = response.usage.model_dump(exclude_none=True)
    return reply
