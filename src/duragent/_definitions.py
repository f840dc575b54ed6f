"""What the ``@workflow.defn`` and ``@activity.defn`` decorators record.

Definitions are plain data read by workers, the engine core and the client; type hints are
resolved lazily (on first use), so a dataclass declared below the function that uses it
still works.
"""

from __future__ import annotations

import dataclasses
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


def _call_target(fn: Callable[..., Any]) -> tuple[Callable[..., Any], bool]:
    """What to read a callable's signature from, and whether its first parameter is
    ``self``: a function or bound method as is, a class by its ``__call__``, a callable
    object by its bound ``__call__``."""
    if inspect.isfunction(fn) or inspect.ismethod(fn) or inspect.isbuiltin(fn):
        return fn, False
    if isinstance(fn, type):
        return fn.__call__, True
    call = getattr(fn, "__call__", None)  # noqa: B004 - the bound method itself is wanted
    return (call, False) if call is not None else (fn, False)


def _hints(fn: Callable[..., Any], *, skip_self: bool) -> tuple[tuple[Any, ...], Any]:
    """Positional parameter hints and the return hint of ``fn`` (None where missing)."""
    target, own_self = _call_target(fn)
    skip_self = skip_self or own_self
    try:
        hints = typing.get_type_hints(target)
    except Exception as err:
        raise ConfigurationError(
            f"cannot resolve the type hints of {describe_callable(fn)}: {err}"
        ) from err
    params = list(inspect.signature(target).parameters.values())
    if skip_self and params:
        params = params[1:]
    args = tuple(
        hints.get(p.name)
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    )
    return args, hints.get("return")


def _param_count(fn: Callable[..., Any], *, skip_self: bool) -> tuple[int, int, bool]:
    """(required, maximum, has *args) positional parameter counts of ``fn``."""
    target, own_self = _call_target(fn)
    params = list(inspect.signature(target).parameters.values())
    if (skip_self or own_self) and params:
        params = params[1:]
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = sum(1 for p in positional if p.default is p.empty)
    varargs = any(p.kind == p.VAR_POSITIONAL for p in params)
    return required, len(positional), varargs


def check_arg_count(counts: tuple[int, int, bool], count: int, *, what: str) -> None:
    """Raise a clear error when ``count`` positional arguments do not fit ``counts``
    (as returned by :func:`_param_count`)."""
    required, maximum, varargs = counts
    if count < required or (count > maximum and not varargs):
        expected = f"{required}" if required == maximum else f"{required} to {maximum}"
        raise ConfigurationError(f"{what} takes {expected} argument(s), got {count}")


def describe_callable(fn: object) -> str:
    """A readable name for a function, method, class or callable object."""
    name = getattr(fn, "__qualname__", None)
    if isinstance(name, str):
        return name
    return f"{type(fn).__qualname__} object"


@dataclass(eq=False)
class ActivityDefinition:
    """An activity function as registered with a worker."""

    name: str
    fn: Callable[..., Any]
    """What is called: the decorated function, or the bound method or callable object
    it was registered as (see :func:`get_activity_definition`)."""
    is_async: bool
    dynamic: bool = False
    at_most_once: bool = False

    @cached_property
    def hints(self) -> tuple[tuple[Any, ...], Any]:
        """(argument hints, return hint); dynamic activities take raw JSON values."""
        if self.dynamic:
            return (), None
        return _hints(self.fn, skip_self=False)

    @cached_property
    def param_counts(self) -> tuple[int, int, bool]:
        """(required, maximum, has *args) positional parameters of a call."""
        return _param_count(self.fn, skip_self=False)

    @property
    def unbound_method(self) -> bool:
        """Whether ``fn`` is a method taken from its class, not from an instance (its
        ``self`` would be missing at every call)."""
        fn = self.fn
        if not inspect.isfunction(fn) or "." not in fn.__qualname__.replace("<locals>.", ""):
            return False
        params = list(inspect.signature(fn).parameters)
        return bool(params) and params[0] == "self"


def get_activity_definition(fn: object) -> ActivityDefinition | None:
    """The definition of an ``@activity.defn`` function, method or class, bound to
    ``fn`` itself: registering ``service.fetch`` (a bound method) or an instance of a
    decorated callable class calls *that* object, so it keeps its ``self``."""
    defn = getattr(fn, ACTIVITY_ATTR, None)
    if not isinstance(defn, ActivityDefinition):
        # A class whose __call__ (rather than the class) was decorated, or an instance.
        owner = fn if isinstance(fn, type) else type(fn)
        defn = getattr(getattr(owner, "__call__", None), ACTIVITY_ATTR, None)  # noqa: B004
        if not isinstance(defn, ActivityDefinition):
            return None
    if defn.fn is fn:
        return defn
    return dataclasses.replace(defn, fn=fn)


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
