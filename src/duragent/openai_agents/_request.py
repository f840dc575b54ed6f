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
from collections import OrderedDict
from dataclasses import dataclass, field
from types import NoneType
from typing import Annotated, Any, ClassVar, Final, get_args, get_origin

import pydantic
from agents import (
    AgentOutputSchemaBase,
    FunctionTool,
    Handoff,
    ModelResponse,
    ModelSettings,
    Tool,
)
from agents.items import TResponseOutputItem
from agents.models.interface import ModelTracing

from .._json_parts import compact_json
from ..errors import ConfigurationError, SerializationError
from ._sdk import SDK_VERSION, set_tool_namespace, tool_namespace
from ._wire import UNVERSIONED, Versioned, require

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

    @classmethod
    def from_wire(cls, value: dict[str, Any]) -> ModelCallRequest:
        config = require(value["config"], dict, "config")
        tools = require(config.get("tools", []), list, "config.tools")
        handoffs = require(config.get("handoffs", []), list, "config.handoffs")
        return cls(
            v=value.get("v", UNVERSIONED),
            config=ModelCallConfig(
                model=require(config["model"], (str, NoneType), "config.model"),
                agent=require(config["agent"], str, "config.agent"),
                system_instructions=require(
                    config["system_instructions"], (str, NoneType), "config.system_instructions"
                ),
                model_settings=require(config["model_settings"], dict, "config.model_settings"),
                tools=[require(t, dict, "a tool") for t in tools],
                handoffs=[require(h, dict, "a handoff") for h in handoffs],
                output_schema=require(
                    config.get("output_schema"), (dict, NoneType), "config.output_schema"
                ),
                tracing=require(config.get("tracing", 0), int, "config.tracing"),
                prompt=require(config.get("prompt"), (dict, NoneType), "config.prompt"),
            ),
            input=require(value["input"], (str, list), "input"),
            previous_response_id=require(
                value.get("previous_response_id"), (str, NoneType), "previous_response_id"
            ),
            conversation_id=require(
                value.get("conversation_id"), (str, NoneType), "conversation_id"
            ),
            stream=require(value.get("stream", False), bool, "stream"),
        )


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

    @classmethod
    def from_wire(cls, value: dict[str, Any]) -> ModelCallResult:
        return cls(
            v=value.get("v", UNVERSIONED),
            response=require(value["response"], dict, "response"),
            model=require(value["model"], str, "model"),
            latency_ms=require(value["latency_ms"], int, "latency_ms"),
            sdk=require(value.get("sdk"), (str, NoneType), "sdk"),
        )


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


def _output_item_classes() -> dict[str, type[pydantic.BaseModel]]:
    """The class of each output item type (``"function_call"``, ``"message"``, ...), read
    from the SDK's output item union: validating an item against its own class is a
    hundred times faster than trying the whole union. Types claimed by two classes are
    left out (they go through the union)."""
    union: Any = TResponseOutputItem
    if get_origin(union) is Annotated:
        union = get_args(union)[0]
    found: dict[str, list[type[pydantic.BaseModel]]] = {}
    for cls in get_args(union):
        if not (isinstance(cls, type) and issubclass(cls, pydantic.BaseModel)):
            continue
        type_field = cls.model_fields.get("type")
        for literal in get_args(type_field.annotation) if type_field is not None else ():
            if isinstance(literal, str):
                found.setdefault(literal, []).append(cls)
    return {name: classes[0] for name, classes in found.items() if len(classes) == 1}


OUTPUT_ITEM_CLASSES: Final = _output_item_classes()


def _output_item(item: Any) -> Any:
    kind: Any = item.get("type") if isinstance(item, dict) else None  # pyright: ignore[reportUnknownMemberType]
    cls = OUTPUT_ITEM_CLASSES.get(kind) if isinstance(kind, str) else None
    return cls.model_validate(item) if cls is not None else item


def response_from_json(data: dict[str, Any], sdk: str | None = None) -> ModelResponse:
    """The SDK response recorded in a ``ModelCallResult`` (``sdk``: the SDK version that
    recorded it, named in the error when this SDK cannot read it)."""
    try:
        output = data.get("output")
        if isinstance(output, list):
            # Each item validated against its own class; the response then takes them
            # as they are (an instance of a union member passes at once).
            data = {**data, "output": [_output_item(i) for i in output]}  # pyright: ignore[reportUnknownVariableType]
        if "response_id" not in data:  # left out when None (see response_to_json)
            data = {**data, "response_id": None}
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


_rebuilt: OrderedDict[str, Tool] = OrderedDict()
_REBUILT_MAX: Final = 512


def rebuild_tools(described: list[dict[str, Any]]) -> list[Tool]:
    """The tools of a recorded call. Rebuilt once per process and shared by the calls that
    describe them alike, as the SDK shares an agent's tool objects between its turns
    (rebuilding a function tool copies and checks its whole schema)."""
    out: list[Tool] = []
    for data in described:
        key = compact_json(data)
        tool = _rebuilt.get(key)
        if tool is None:
            tool = _rebuilt[key] = rebuild_tool(data)
            if len(_rebuilt) > _REBUILT_MAX:
                _rebuilt.popitem(last=False)
        out.append(tool)
    return out


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
