"""What crosses the workflow/activity boundary for one model call.

The workflow side turns the SDK's arguments to ``Model.get_response`` (tools, handoffs,
output schema, settings) into plain JSON-able data; the activity side rebuilds stand-ins
that the SDK's model classes accept. Tool *implementations* never cross: the model only
needs names, descriptions and JSON schemas, and tools run in their own activities.

These payloads are the agent wire format, versioned in :mod:`._wire` (its table says what
each version holds).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pydantic
from agents import (
    AgentOutputSchemaBase,
    FunctionTool,
    Handoff,
    ModelResponse,
    ModelSettings,
    Tool,
)
from agents.models.interface import ModelTracing

from ..errors import ConfigurationError, SerializationError
from ._sdk import SDK_VERSION, set_tool_namespace, tool_namespace
from ._wire import UNVERSIONED, Versioned

_settings_adapter: pydantic.TypeAdapter[ModelSettings] = pydantic.TypeAdapter(ModelSettings)
_response_adapter: pydantic.TypeAdapter[ModelResponse] = pydantic.TypeAdapter(ModelResponse)


@dataclass
class ModelCallConfig:
    """What an agent's model calls share from one turn to the next (stored once: every
    call's history refers to the same recorded copy)."""

    model: str | None
    agent: str
    system_instructions: str | None
    model_settings: dict[str, Any]
    tools: list[dict[str, Any]] = field(default_factory=lambda: [])
    handoffs: list[dict[str, Any]] = field(default_factory=lambda: [])
    output_schema: dict[str, Any] | None = None
    tracing: int = 0
    prompt: dict[str, Any] | None = None


@dataclass
class ModelCallRequest(Versioned):
    """One model call, as recorded in history (the activity's input)."""

    v: int = field(default=UNVERSIONED, kw_only=True)
    """Agent wire format version (see :mod:`._wire`); absent, hence 1, before it had one."""
    config: ModelCallConfig
    input: str | list[dict[str, Any]]
    previous_response_id: str | None = None
    conversation_id: str | None = None
    stream: bool = False
    """Stream the call: the activity publishes the provider's deltas to the run's durable
    stream (format 3; history still records only the final response)."""

    WIRE_NAME: ClassVar[str] = "a model call request"


@dataclass
class ModelCallResult(Versioned):
    """What the model activity returns: the SDK response plus ledger facts."""

    v: int = field(default=UNVERSIONED, kw_only=True)
    """Agent wire format version (see :mod:`._wire`)."""
    response: dict[str, Any]
    model: str
    latency_ms: int
    sdk: str | None = None
    """Version of the Agents SDK that produced ``response`` (None before format 2)."""

    WIRE_NAME: ClassVar[str] = "a model call result"


# -------------------------------------------------------------------------- workflow side


def describe_tool(tool: Tool) -> dict[str, Any]:
    """The part of a tool the model needs (name, description, schema)."""
    if isinstance(tool, FunctionTool):
        out: dict[str, Any] = {
            "kind": "function",
            "name": tool.name,
            "description": tool.description,
            "params_json_schema": tool.params_json_schema,
            "strict_json_schema": tool.strict_json_schema,
        }
        if tool.defer_loading:
            out["defer_loading"] = True
        namespace, namespace_description = tool_namespace(tool)
        if namespace:
            out["namespace"] = namespace
            out["namespace_description"] = namespace_description
        return out
    if dataclasses.is_dataclass(tool):
        # Hosted tools (web search, file search, ...) are plain configuration dataclasses.
        try:
            data = pydantic.TypeAdapter(type(tool)).dump_python(tool, mode="json")
        except Exception as err:
            raise ConfigurationError(
                f"tool {type(tool).__name__} cannot be used in a durable workflow: {err}"
            ) from err
        return {"kind": "hosted", "class": type(tool).__name__, "data": data}
    raise ConfigurationError(
        f"tool {type(tool).__name__} is not supported in durable workflows; use a "
        "@function_tool or activity_as_tool(...)"
    )


def describe_handoff(handoff: Handoff[Any, Any]) -> dict[str, Any]:
    return {
        "tool_name": handoff.tool_name,
        "tool_description": handoff.tool_description,
        "input_json_schema": handoff.input_json_schema,
        "agent_name": handoff.agent_name,
        "strict_json_schema": handoff.strict_json_schema,
    }


def describe_output_schema(schema: AgentOutputSchemaBase | None) -> dict[str, Any] | None:
    if schema is None:
        return None
    plain = schema.is_plain_text()
    return {
        "plain_text": plain,
        "name": schema.name(),
        "json_schema": None if plain else schema.json_schema(),
        "strict": schema.is_strict_json_schema(),
    }


def settings_to_json(settings: ModelSettings) -> dict[str, Any]:
    return _settings_adapter.dump_python(settings, mode="json", exclude_none=True)


def response_from_json(data: dict[str, Any], sdk: str | None = None) -> ModelResponse:
    """The SDK response recorded in a ``ModelCallResult`` (``sdk``: the SDK version that
    recorded it, named in the error when this SDK cannot read it)."""
    if "response_id" not in data:  # left out when None (see response_to_json)
        data = {**data, "response_id": None}
    try:
        return _response_adapter.validate_python(data)
    except pydantic.ValidationError as err:
        recorded = f"openai-agents {sdk}" if sdk else "an unrecorded openai-agents version"
        raise SerializationError(
            f"a model response recorded by {recorded} cannot be read by the installed "
            f"openai-agents {SDK_VERSION}: {err}"
        ) from err


def response_to_json(response: ModelResponse) -> dict[str, Any]:
    """The response as recorded in history: compact, since every turn records one."""
    # exclude_unset: a round trip must not add explicit nulls the API would reject later
    data = _response_adapter.dump_python(response, mode="json", exclude_unset=True)
    for key in ("response_id", "request_id", "raw_usage"):
        if data.get(key) is None:
            data.pop(key, None)
    usage = data.get("usage")
    if isinstance(usage, dict):
        # Zero counts and empty breakdowns are the SDK's defaults: leaving them out saves
        # a fifth of what an agent turn with short tool results stores.
        data["usage"] = {k: v for k, v in usage.items() if not _is_zero(v)}  # pyright: ignore[reportUnknownVariableType]
    return data


def _is_zero(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_is_zero(v) for v in value.values())  # pyright: ignore[reportUnknownVariableType]
    return value in (0, None, [])


# -------------------------------------------------------------------------- activity side


class RecordedOutputSchema(AgentOutputSchemaBase):
    """The output schema as the model classes need it (validation stays in the workflow)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def is_plain_text(self) -> bool:
        return bool(self._data["plain_text"])

    def name(self) -> str:
        return str(self._data["name"])

    def json_schema(self) -> dict[str, Any]:
        schema = self._data["json_schema"]
        if schema is None:
            raise ConfigurationError("plain-text output has no JSON schema")
        return dict(schema)

    def is_strict_json_schema(self) -> bool:
        return bool(self._data["strict"])

    def validate_json(self, json_str: str) -> Any:  # pragma: no cover - never called here
        raise NotImplementedError("output is validated in the workflow")


async def _not_invoked(*_args: Any) -> Any:  # pragma: no cover - model classes never call it
    raise RuntimeError("tools are not invoked inside the model activity")


def rebuild_tool(data: dict[str, Any]) -> Tool:
    if data["kind"] == "function":
        tool = FunctionTool(
            name=data["name"],
            description=data["description"],
            params_json_schema=data["params_json_schema"],
            on_invoke_tool=_not_invoked,
            strict_json_schema=data["strict_json_schema"],
            defer_loading=bool(data.get("defer_loading", False)),
        )
        if data.get("namespace"):
            set_tool_namespace(tool, data["namespace"], data.get("namespace_description"))
        return tool
    import agents

    cls = getattr(agents, str(data["class"]), None)
    if cls is None:
        raise ConfigurationError(f"unknown hosted tool {data['class']!r}")
    return pydantic.TypeAdapter(cls).validate_python(data["data"])  # type: ignore[no-any-return]


def rebuild_handoff(data: dict[str, Any]) -> Handoff[Any, Any]:
    return Handoff(
        tool_name=data["tool_name"],
        tool_description=data["tool_description"],
        input_json_schema=data["input_json_schema"],
        on_invoke_handoff=_not_invoked,
        agent_name=data["agent_name"],
        strict_json_schema=data["strict_json_schema"],
    )


def settings_from_json(data: dict[str, Any]) -> ModelSettings:
    return _settings_adapter.validate_python(data)


def tracing_from_int(value: int) -> ModelTracing:
    return ModelTracing(value)
