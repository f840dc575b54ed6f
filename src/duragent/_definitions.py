"""What the ``@workflow.defn`` and ``@activity.defn`` decorators record.

Definitions are plain data read by workers, the engine core and the client; type hints are
resolved lazily (on first use), so a dataclass declared below the function that uses it
still works.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .errors import ConfigurationError

ACTIVITY_ATTR = "__duragent_activity__"
WORKFLOW_ATTR = "__duragent_workflow__"
HANDLER_ATTR = "__duragent_handler__"


def _hints(fn: Callable[..., Any], *, skip_self: bool) -> tuple[tuple[Any, ...], Any]:
    """Positional parameter hints and the return hint of ``fn`` (None where missing)."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception as err:
        raise ConfigurationError(
            f"cannot resolve the type hints of {fn.__qualname__}: {err}"
        ) from err
    params = list(inspect.signature(fn).parameters.values())
    if skip_self and params:
        params = params[1:]
    args = tuple(
        hints.get(p.name)
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    )
    return args, hints.get("return")


@functools.lru_cache(maxsize=4096)
def _param_count(fn: Callable[..., Any], *, skip_self: bool) -> tuple[int, int, bool]:
    """(required, maximum, has *args) positional parameter counts of ``fn``."""
    params = list(inspect.signature(fn).parameters.values())
    if skip_self and params:
        params = params[1:]
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = sum(1 for p in positional if p.default is p.empty)
    varargs = any(p.kind == p.VAR_POSITIONAL for p in params)
    return required, len(positional), varargs


def check_arg_count(fn: Callable[..., Any], count: int, *, skip_self: bool, what: str) -> None:
    """Raise a clear error when ``count`` positional arguments cannot be passed to ``fn``."""
    required, maximum, varargs = _param_count(fn, skip_self=skip_self)
    if count < required or (count > maximum and not varargs):
        expected = f"{required}" if required == maximum else f"{required} to {maximum}"
        raise ConfigurationError(f"{what} takes {expected} argument(s), got {count}")


@dataclass(eq=False)
class ActivityDefinition:
    """An activity function as registered with a worker."""

    name: str
    fn: Callable[..., Any]
    is_async: bool
    dynamic: bool = False
    at_most_once: bool = False

    @cached_property
    def hints(self) -> tuple[tuple[Any, ...], Any]:
        """(argument hints, return hint); dynamic activities take raw JSON values."""
        if self.dynamic:
            return (), None
        return _hints(self.fn, skip_self=False)


def get_activity_definition(fn: object) -> ActivityDefinition | None:
    """The definition attached to an ``@activity.defn`` function, if any."""
    defn = getattr(fn, ACTIVITY_ATTR, None)
    return defn if isinstance(defn, ActivityDefinition) else None


@dataclass(eq=False)
class HandlerDefinition:
    """A signal, query or update handler method."""

    kind: str  # "signal" | "query" | "update"
    name: str | None  # None for the dynamic (catch-all) handler
    method_name: str
    fn: Callable[..., Any]
    is_async: bool
    validator: Callable[..., Any] | None = None
    unfinished_policy: str = "warn_and_abandon"

    @cached_property
    def hints(self) -> tuple[tuple[Any, ...], Any]:
        if self.name is None:
            return (), None
        return _hints(self.fn, skip_self=True)


@dataclass(eq=False)
class WorkflowDefinition:
    """A ``@workflow.defn`` class."""

    name: str
    cls: type
    run_fn: Callable[..., Any]
    init_takes_args: bool = False
    signals: dict[str, HandlerDefinition] = field(default_factory=lambda: {})
    queries: dict[str, HandlerDefinition] = field(default_factory=lambda: {})
    updates: dict[str, HandlerDefinition] = field(default_factory=lambda: {})
    dynamic_signal: HandlerDefinition | None = None
    dynamic_query: HandlerDefinition | None = None
    dynamic_update: HandlerDefinition | None = None
    failure_exception_types: Sequence[type[BaseException]] = ()

    @cached_property
    def hints(self) -> tuple[tuple[Any, ...], Any]:
        """(run argument hints, run return hint)."""
        return _hints(self.run_fn, skip_self=True)


def get_workflow_definition(cls: object) -> WorkflowDefinition | None:
    """The definition attached to a ``@workflow.defn`` class, if any."""
    defn = getattr(cls, WORKFLOW_ATTR, None)
    if isinstance(defn, WorkflowDefinition) and defn.cls is cls:
        return defn
    return None


def workflow_definition_of(ref: object) -> WorkflowDefinition:
    """Definition for a workflow class or its ``@workflow.run`` method."""
    defn = get_workflow_definition(ref)
    if defn is None:
        # @workflow.defn marks the run function with its definition.
        defn = getattr(ref, WORKFLOW_ATTR, None)
    if not isinstance(defn, WorkflowDefinition):
        raise ConfigurationError(
            f"{ref!r} is not a @workflow.defn class or its @workflow.run method"
        )
    return defn


def collect_workflows(
    classes: Sequence[type], failure_exception_types: Sequence[type[BaseException]] = ()
) -> dict[str, WorkflowDefinition]:
    """Definitions by type name, each also failing its run on ``failure_exception_types``
    (the worker's or replayer's own, added to the class's)."""
    out: dict[str, WorkflowDefinition] = {}
    for cls in classes:
        defn = get_workflow_definition(cls)
        if defn is None:
            raise ConfigurationError(f"{cls!r} is not a @workflow.defn class")
        if defn.name in out and out[defn.name] is not defn:
            raise ConfigurationError(f"two workflows are named {defn.name!r}")
        out[defn.name] = defn
    if not failure_exception_types:
        return out
    extra = tuple(failure_exception_types)
    return {
        name: dataclasses.replace(
            defn, failure_exception_types=(*defn.failure_exception_types, *extra)
        )
        for name, defn in out.items()
    }
