"""The run context of a tool that runs as an activity.

``Runner.run(agent, input, context=...)`` hands tools a local context object
(``ctx.context``). A durable tool runs in an activity, possibly in another process, so the
object cannot be shared: the workflow sends a snapshot of it with the call (a dataclass, a
pydantic model or a dict of JSON values), the activity rebuilds it for the tool, and when
the tool changed it the new state comes back in the activity's result and is written into
the workflow's object in place. Both directions are recorded in history, so a replay
applies exactly the same changes.

Resources that cannot be serialized (clients, connections) belong to the worker, not to
the run context: a tool that takes a context gets a clear error when it cannot be sent.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

import pydantic
import pydantic_core

from ..errors import ApplicationError, SerializationError
from ._imports import import_path, path_of
from ._wire import UNVERSIONED, Versioned


@dataclass
class ToolRunContext:
    """A snapshot of the run context sent with a tool call (recorded in history).

    Attributes:
        type: ``module:qualname`` of the context's class, empty for a plain dict.
        value: The context as JSON.
    """

    type: str
    value: Any


@dataclass
class ToolCallOutcome(Versioned):
    """The tool activity's result when a context was sent.

    Attributes:
        v: Agent wire format version (see ``_wire``).
        output: What the tool returned.
        context: The context as the tool left it, or None when the tool did not change it.
    """

    v: int = field(default=UNVERSIONED, kw_only=True)
    output: Any
    context: Any = None

    WIRE_NAME: ClassVar[str] = "a tool call outcome"


def snapshot(
    context: object, where: str, destination: str = "the activity the tool runs in"
) -> ToolRunContext:
    """A copy of ``context`` to send to ``destination``; errors start with ``where`` (what
    needs the context) and say what to do instead."""
    cls = type(context)
    if isinstance(context, dict):
        path = ""
    elif dataclasses.is_dataclass(context) or isinstance(context, pydantic.BaseModel):
        path = path_of(cls)
        if path is None:
            raise SerializationError(
                f"{where}: its type {cls.__qualname__} is defined inside a function; define "
                "it at module level so that workers can rebuild it"
            )
    else:
        raise SerializationError(
            f"{where}: a {cls.__qualname__} cannot be sent to {destination}; use a "
            "dataclass, a pydantic model or a dict of JSON values, and keep clients and "
            "connections on the worker"
        )
    try:
        value = pydantic_core.to_jsonable_python(context)
    except (pydantic_core.PydanticSerializationError, TypeError, ValueError) as err:
        raise SerializationError(
            f"{where}: this {cls.__qualname__} cannot be serialized: {err}"
        ) from err
    return ToolRunContext(type=path, value=value)


def rebuild(sent: ToolRunContext) -> Any:
    """The context object rebuilt from a copy (for a tool in its activity, or for the
    built-in agent workflow)."""
    # A deep copy: the tool must not change the snapshot it is compared with afterwards.
    value = copy.deepcopy(sent.value)
    if not sent.type:
        return cast(dict[str, Any], value)
    cls = import_path(sent.type, "the run context type")
    try:
        return pydantic.TypeAdapter(cls).validate_python(value)
    except pydantic.ValidationError as err:
        raise ApplicationError(
            f"the run context cannot be rebuilt as {sent.type}: {err}", non_retryable=True
        ) from err


def changes(sent: ToolRunContext, context: Any) -> Any:
    """The context as the tool left it, or None when it is unchanged."""
    after = pydantic_core.to_jsonable_python(context)
    return None if after == sent.value else after


def apply(context: Any, new_value: Any) -> None:
    """Write a context the tool changed back into the workflow's object, in place (the
    run, its hooks and later tools hold that object)."""
    if isinstance(context, dict):
        mapping = cast(dict[str, Any], context)
        mapping.clear()
        mapping.update(cast(dict[str, Any], new_value))
        return
    new = pydantic.TypeAdapter(type(context)).validate_python(new_value)
    if dataclasses.is_dataclass(context):
        for f in dataclasses.fields(context):
            # object.__setattr__: frozen dataclasses can still hold mutated nested values.
            object.__setattr__(context, f.name, getattr(new, f.name))
    else:
        for name in type(cast(pydantic.BaseModel, context)).model_fields:
            object.__setattr__(context, name, getattr(new, name))
