"""The model activity: performs one model call with a real model provider.

The engine owns retries. The OpenAI client's own retries must be off (the default provider
is built with ``max_retries=0``), and provider errors are mapped to retryable or terminal
failures: 408, 409, 429 and 5xx are retried with backoff that honours ``retry-after-ms`` /
``retry-after``; other 4xx fail at once with the provider's message. The moment a provider
answers, the call's usage is reported to the worker's usage ledger
(``ActivityContext.report_usage``), so a response whose completion is later lost to a crash
still shows up as paid.
"""

from __future__ import annotations

import email.utils
import importlib
import logging
import math
import os
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Final

from agents import ModelProvider, ModelResponse

from .. import activity
from .._json_parts import (
    EncodedList,
    EncodedObject,
    Member,
    PartsPayload,
    encode_item,
    object_payload,
)
from ..errors import ApplicationError, ConfigurationError, SerializationError
from ..serde import Payload
from ..store.base import UsageEntry
from ._names import MODEL_ACTIVITY
from ._request import (
    ModelCallRequest,
    RecordedOutputSchema,
    rebuild_handoff,
    rebuild_tools,
    response_to_json,
    settings_from_json,
    tracing_from_int,
)
from ._request_decoder import RequestDecoder
from ._sdk import SDK_VERSION
from ._streaming import stream_call
from ._wire import AGENT_FORMAT_VERSION

_RETRYABLE_STATUSES: Final = frozenset({408, 409, 429})

log = logging.getLogger("duragent.openai_agents")


def default_model_provider() -> ModelProvider:
    """The provider used when none is configured: any OpenAI-compatible endpoint from the
    environment (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``), else the offline local model.
    Logs which one serves the worker's model calls, and why."""
    base_url = os.environ.get("OPENAI_BASE_URL")
    if os.environ.get("OPENAI_API_KEY") or base_url:
        log.info(
            "model calls go to the OpenAI-compatible endpoint %s (from %s)",
            base_url or "https://api.openai.com/v1",
            "OPENAI_BASE_URL" if base_url else "OPENAI_API_KEY",
        )
        return openai_provider()
    try:
        # Optional: the offline model needs llama-cpp-python and the SmolLM2 weights.
        local = importlib.import_module("duragent.models.local")
        provider: ModelProvider = local.LocalModelProvider()
    except ImportError as err:
        raise ConfigurationError(
            "no model is configured: set OPENAI_API_KEY (and OPENAI_BASE_URL for another "
            "OpenAI-compatible endpoint), pass OpenAIAgentsPlugin(model_provider=...), or "
            f"install the offline local model ({err})"
        ) from err
    log.warning(
        "model calls go to the offline local model (SmolLM2-135M on llama.cpp): neither "
        "OPENAI_API_KEY nor OPENAI_BASE_URL is set, and OpenAIAgentsPlugin was given no "
        "model_provider"
    )
    return provider


def openai_provider(
    *, api_key: str | None = None, base_url: str | None = None, use_responses: bool | None = None
) -> ModelProvider:
    """An OpenAI(-compatible) provider whose client never retries on its own."""
    from agents import OpenAIProvider
    from openai import AsyncOpenAI

    base_url = base_url or os.environ.get("OPENAI_BASE_URL")
    client = AsyncOpenAI(
        api_key=api_key or os.environ.get("OPENAI_API_KEY") or "not-needed",
        base_url=base_url,
        max_retries=0,
    )
    if use_responses is None:
        # Other OpenAI-compatible servers (vLLM, llama.cpp, Ollama) speak chat completions.
        use_responses = base_url is None
    return OpenAIProvider(openai_client=client, use_responses=use_responses)


def _retry_after(headers: Any) -> timedelta | None:
    """The provider's requested delay, or None when it sent none we can read: a malformed
    header must not hide the error it came with."""
    if headers is None:
        return None
    seconds = _seconds(headers.get("retry-after-ms"), scale=0.001)
    if seconds is None:
        seconds = _seconds(headers.get("retry-after"), scale=1.0)
    if seconds is None:
        value = headers.get("retry-after")
        try:
            parsed = email.utils.parsedate_to_datetime(value) if value else None
        except (TypeError, ValueError):
            parsed = None
        if parsed is None:
            return None
        seconds = parsed.timestamp() - time.time()
    return timedelta(seconds=min(max(0.0, seconds), _MAX_RETRY_AFTER_S))


# A longer wait than this is not a retry hint we honour (and would overflow timedelta).
_MAX_RETRY_AFTER_S = 24 * 3600.0


def _seconds(value: Any, *, scale: float) -> float | None:
    try:
        seconds = float(value) * scale
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) else None


def provider_error(err: BaseException) -> ApplicationError | None:
    """Map an OpenAI client error to a retryable or terminal ``ApplicationError``."""
    try:
        import openai
    except ImportError:  # pragma: no cover - openai ships with openai-agents
        return None
    if isinstance(err, openai.APIStatusError):
        status = err.status_code
        headers = err.response.headers
        should = (headers.get("x-should-retry") or "").lower()
        retryable = status in _RETRYABLE_STATUSES or status >= 500
        if should in ("true", "false"):
            retryable = should == "true"
        return ApplicationError(
            f"model provider returned HTTP {status}: {err.message}",
            {"status": status, "request_id": err.request_id},
            type=f"HTTP{status}",
            non_retryable=not retryable,
            retry_after=_retry_after(headers),
        )
    if isinstance(err, openai.APIConnectionError):  # includes APITimeoutError
        return ApplicationError(f"cannot reach the model provider: {err}", type=type(err).__name__)
    return None


def make_model_activity(get_provider: Callable[[], ModelProvider]) -> Callable[..., Any]:
    """The model activity, bound to a lazily created provider."""
    decoder = RequestDecoder()

    @activity.defn(name=MODEL_ACTIVITY)
    async def invoke_model(payload: Payload) -> Payload:
        """Perform one model call (``payload``: a ``ModelCallRequest``) and return its
        response with usage and latency: the ready-made payload of a ``ModelCallResult``
        (see :func:`result_payload`)."""
        try:
            request = decoder.decode(payload)
        except SerializationError as err:
            raise ApplicationError(str(err), type="SerializationError", non_retryable=True) from err
        provider = get_provider()
        config = request.config
        model = provider.get_model(config.model)
        output_schema = RecordedOutputSchema(config.output_schema) if config.output_schema else None
        started = time.monotonic()
        call: dict[str, Any] = {
            "system_instructions": config.system_instructions,
            "input": request.input,
            "model_settings": settings_from_json(config.model_settings),
            "tools": rebuild_tools(config.tools),
            "output_schema": output_schema,
            "handoffs": [rebuild_handoff(h) for h in config.handoffs],
            "tracing": tracing_from_int(config.tracing),
            "previous_response_id": request.previous_response_id,
            "conversation_id": request.conversation_id,
            "prompt": config.prompt,
        }
        sink = activity.context().stream if request.stream else None
        try:
            if sink is not None:
                response = await stream_call(model, sink, call)
            else:
                # A worker with nowhere to stream (none configured) still answers, whole.
                response: ModelResponse = await model.get_response(**call)
        except Exception as err:
            mapped = provider_error(err)
            if mapped is not None:
                raise mapped from err
            raise
        latency_ms = int((time.monotonic() - started) * 1000)
        name = config.model or getattr(model, "model", None) or type(model).__name__
        _record_usage(request, response, str(name), latency_ms)
        return result_payload(response_to_json(response), str(name), latency_ms)

    return invoke_model


_VERSION: Final = str(AGENT_FORMAT_VERSION).encode()
_SDK: Final = encode_item(SDK_VERSION)


def result_payload(response: dict[str, Any], model: str, latency_ms: int) -> PartsPayload:
    """The JSON of ``ModelCallResult(v=AGENT_FORMAT_VERSION, response, model, latency_ms,
    sdk=SDK_VERSION)``, built from parts: the response's output items, encoded one by one,
    are stored as chunks without being parsed again, ready to be shared with the next
    call's input, which repeats them."""
    described: list[tuple[str, Member]] = [
        (key, EncodedList().extend(0, [encode_item(i) for i in value]))  # pyright: ignore[reportUnknownVariableType]
        if key == "output" and isinstance(value, list)
        else (key, encode_item(value))
        for key, value in response.items()
    ]
    return object_payload(
        [
            ("v", _VERSION),
            ("response", EncodedObject(described)),
            ("model", encode_item(model)),
            ("latency_ms", encode_item(latency_ms)),
            ("sdk", _SDK),
        ]
    )


def _record_usage(
    request: ModelCallRequest, response: ModelResponse, model: str, latency_ms: int
) -> None:
    ctx = activity.context()
    info = ctx.info
    usage = response.usage
    ctx.report_usage(
        UsageEntry(
            run_id=info.workflow_run_id,
            seq=int(info.activity_id),
            attempt=info.attempt,
            kind="model",
            name=model,
            agent=request.config.agent,
            requests=usage.requests or 1,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cached_tokens=usage.input_tokens_details.cached_tokens
            if usage.input_tokens_details
            else 0,
            latency_ms=latency_ms,
            time=int(time.time() * 1000),
            worker=ctx.worker_id,
        )
    )
