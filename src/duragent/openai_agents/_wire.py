"""The agent wire format: what the agents integration records in history, and its versions.

A durable agent's model calls and tool calls are activities, so their inputs and results
are payloads in history, read back by replay (results) and by workers that run the
activities (inputs), possibly months later and under a newer Duragent or Agents SDK.
Every such payload carries the version of this format in its ``"v"`` field:

========  ==================================================================================
version   contents
========  ==================================================================================
1         Written before the format had a version (no ``"v"`` field; read as 1).
          ``ModelCallRequest`` (model activity input): ``config`` (``model``, ``agent``,
          ``system_instructions``, ``model_settings`` as the SDK's ``ModelSettings`` JSON
          without nulls, ``tools`` as ``{"kind": "function", name, description,
          params_json_schema, strict_json_schema[, defer_loading, namespace,
          namespace_description]}`` or ``{"kind": "hosted", class, data}``, ``handoffs``,
          ``output_schema`` as ``{plain_text, name, json_schema, strict}``, ``tracing``,
          ``prompt``), ``input`` (a string, or the SDK's input items as JSON),
          ``previous_response_id``, ``conversation_id``.
          ``ModelCallResult`` (model activity result): ``response`` (the SDK's
          ``ModelResponse`` as JSON; null ids and zero usage fields may be left out),
          ``model``, ``latency_ms``.
          ``ToolCallRequest`` (tool activity input, optionally followed by a
          ``ToolRunContext`` ``{type, value}``): ``tool`` (import path or ``local:NAME``),
          ``name``, ``call_id``, ``arguments`` (the model's JSON text), ``agent``.
          ``ToolCallOutcome`` (tool activity result when a context was sent): ``output``,
          ``context`` (the context as the tool left it, or null when unchanged). Without
          a context the result is the tool's own JSON value, which has no version.
2         Version 1 plus ``"v": 2`` in each of these four payloads, and ``sdk`` in
          ``ModelCallResult``: the Agents SDK version that produced the response (errors
          reading it later name both versions).
3         Version 2 plus ``stream`` in ``ModelCallRequest``: true when the workflow called
          ``Runner.run_streamed``, so the activity streams the provider's deltas to the
          run's durable stream (the result is the same final response as unstreamed).
========  ==================================================================================

A reader refuses a payload of a newer version than :data:`AGENT_FORMAT_VERSION` with a
:class:`~duragent.errors.SerializationError` saying so (in a workflow that fails the task,
which is retried, so the run waits for an upgraded worker instead of failing). Frozen
histories of every version live in ``tests/durable_agents/golden/v1``, ``.../v2`` and
``.../v3`` and must keep replaying. A change to any of these payloads, or to how the SDK
objects inside them are written, needs a new version, a new row here and a new frozen
directory.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

import pydantic
from pydantic_core import core_schema

from ..errors import SerializationError

AGENT_FORMAT_VERSION: Final = 3
"""The version this code writes, and the newest it reads."""

UNVERSIONED: Final = 1
"""The version of payloads written before the format had one."""


def check_version(version: int, what: str) -> None:
    """Refuse a payload of a format this code does not know."""
    if version < UNVERSIONED:
        raise SerializationError(f"{what} has an invalid agent wire format version {version}")
    if version > AGENT_FORMAT_VERSION:
        raise SerializationError(
            f"{what} is in agent wire format version {version}, but this Duragent reads "
            f"versions {UNVERSIONED} to {AGENT_FORMAT_VERSION}: it was recorded by a newer "
            "Duragent; upgrade this worker to run or replay it"
        )


class Versioned:
    """Base of the wire-format dataclasses: decoding checks the payload's version before
    reading any field, so a newer payload is refused for what it is, not reported as a
    missing or unexpected field.

    A class with a ``from_wire(value)`` classmethod is decoded by it from the plain JSON
    value instead of by pydantic's field-by-field validation: model requests carry the
    whole conversation, and building it as plain JSON takes half the time.
    """

    WIRE_NAME: ClassVar[str] = "an agent payload"

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: pydantic.GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        what = cls.WIRE_NAME

        def check(value: Any) -> Any:
            if isinstance(value, dict):
                version: Any = value.get("v", UNVERSIONED)  # pyright: ignore[reportUnknownMemberType]
                if not isinstance(version, int) or isinstance(version, bool):
                    raise SerializationError(f"{what} has an invalid version {version!r}")
                check_version(version, what)
            return value

        from_wire: Any = getattr(cls, "from_wire", None)
        if from_wire is None:
            return core_schema.no_info_before_validator_function(check, handler(source))

        def decode(value: Any) -> Any:
            if isinstance(value, cls):
                return value
            if not isinstance(value, dict):
                raise ValueError(f"{what} must be a JSON object, not {type(value).__name__}")
            check(value)
            try:
                return from_wire(value)
            except (KeyError, TypeError) as err:
                raise ValueError(f"{what} is malformed: {err!r}") from None

        return core_schema.no_info_plain_validator_function(decode)


def require(value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    """``value`` if it is of ``kind`` (for ``from_wire`` decoders), else a ValueError."""
    if not isinstance(value, kind):
        raise ValueError(f"{what} is a {type(value).__name__}, not {kind}")
    return value
