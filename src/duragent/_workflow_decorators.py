"""The workflow decorators: ``@workflow.defn`` classes with their ``run`` method and
signal, query and update handlers. Re-exported by :mod:`duragent.workflow`."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, Concatenate, ParamSpec, Protocol, Self, TypeVar, cast, overload

from ._definitions import HANDLER_ATTR, WORKFLOW_ATTR, HandlerDefinition, WorkflowDefinition
from .errors import ConfigurationError

C = TypeVar("C", bound=type)
F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
R_co = TypeVar("R_co", covariant=True)
S_contra = TypeVar("S_contra", contravariant=True)

_RUN_ATTR = "__duragent_run__"
_INIT_ATTR = "__duragent_init__"


@overload
def defn(cls: C) -> C: ...
@overload
def defn(
    *,
    name: str | None = None,
    failure_exception_types: Sequence[type[BaseException]] = (),
) -> Callable[[C], C]: ...
def defn(
    cls: C | None = None,
    *,
    name: str | None = None,
    failure_exception_types: Sequence[type[BaseException]] = (),
) -> C | Callable[[C], C]:
    """Mark a class as a workflow.

    The class needs exactly one ``async`` method decorated with :func:`run`, and may have
    :func:`signal`, :func:`query` and :func:`update` handlers.

    Args:
        name: Workflow type name; defaults to the class name.
        failure_exception_types: Exception types that fail the workflow when raised from
            it. By default only :class:`duragent.errors.FailureError` subclasses (such as
            ``ApplicationError``) fail a workflow; any other exception is treated as a bug:
            the workflow task is retried, so a code fix lets the run continue.
    """

    def decorate(target: C) -> C:
        if not inspect.isclass(target):
            raise ConfigurationError(f"@workflow.defn must decorate a class, not {target!r}")
        run_fns: list[Callable[..., Any]] = []
        handlers: list[HandlerDefinition] = []
        init_takes_args = False
        for klass in reversed(target.__mro__):
            for attr, member in vars(klass).items():
                if getattr(member, _RUN_ATTR, False):
                    run_fns = [f for f in run_fns if f.__name__ != attr] + [member]
                handler = getattr(member, HANDLER_ATTR, None)
                if isinstance(handler, HandlerDefinition):
                    handlers = [h for h in handlers if h.method_name != attr] + [handler]
                if attr == "__init__" and getattr(member, _INIT_ATTR, False):
                    init_takes_args = True
        if len(run_fns) != 1:
            raise ConfigurationError(
                f"workflow {target.__qualname__} must have exactly one @workflow.run method, "
                f"found {len(run_fns)}"
            )
        run_fn = run_fns[0]
        if not inspect.iscoroutinefunction(run_fn):
            raise ConfigurationError(
                f"@workflow.run method {target.__qualname__}.{run_fn.__name__} must be async"
            )
        definition = WorkflowDefinition(
            name=name or target.__name__,
            cls=target,
            run_fn=run_fn,
            init_takes_args=init_takes_args,
            failure_exception_types=tuple(failure_exception_types),
        )
        for h in handlers:
            table = {
                "signal": definition.signals,
                "query": definition.queries,
                "update": definition.updates,
            }[h.kind]
            if h.name is None:
                setattr(definition, f"dynamic_{h.kind}", h)
            elif h.name in table:
                raise ConfigurationError(
                    f"workflow {target.__qualname__} has two {h.kind} handlers named {h.name!r}"
                )
            else:
                table[h.name] = h
        setattr(target, WORKFLOW_ATTR, definition)
        setattr(run_fn, WORKFLOW_ATTR, definition)
        return cast(C, target)

    return decorate(cls) if cls is not None else decorate


def run(fn: F) -> F:
    """Mark the ``async`` entry-point method of a workflow class."""
    setattr(fn, _RUN_ATTR, True)
    return fn


def init(fn: F) -> F:
    """Mark ``__init__`` as taking the same arguments as the run method, so handlers can
    use them before ``run`` starts."""
    if fn.__name__ != "__init__":
        raise ConfigurationError("@workflow.init can only decorate __init__")
    setattr(fn, _INIT_ATTR, True)
    return fn


def _handler_decorator(
    kind: str, fn: Any, name: str | None, dynamic: bool, unfinished_policy: str = ""
) -> Any:
    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        is_async = inspect.iscoroutinefunction(f)
        if kind == "query" and is_async:
            raise ConfigurationError(f"@workflow.query {f.__qualname__} must not be async")
        handler = HandlerDefinition(
            kind=kind,
            name=None if dynamic else (name or f.__name__),
            method_name=f.__name__,
            fn=f,
            is_async=is_async,
            unfinished_policy=unfinished_policy or "warn_and_abandon",
        )
        setattr(f, HANDLER_ATTR, handler)
        if kind == "update":

            def validator(v: Callable[..., Any]) -> Callable[..., Any]:
                if inspect.iscoroutinefunction(v):
                    raise ConfigurationError(f"update validator {v.__qualname__} must not be async")
                handler.validator = v
                return v

            setattr(f, "validator", validator)  # noqa: B010
        return f

    if fn is not None:
        return decorate(fn)
    return decorate


@overload
def signal(fn: F) -> F: ...
@overload
def signal(
    *, name: str | None = None, dynamic: bool = False, unfinished_policy: str = ""
) -> Callable[[F], F]: ...
def signal(
    fn: F | None = None,
    *,
    name: str | None = None,
    dynamic: bool = False,
    unfinished_policy: str = "",
) -> F | Callable[[F], F]:
    """Mark a method as a signal handler (sync or async). ``dynamic=True`` makes it the
    catch-all handler, called as ``handler(name, args)``."""
    return _handler_decorator("signal", fn, name, dynamic, unfinished_policy)  # type: ignore[no-any-return]


@overload
def query(fn: F) -> F: ...
@overload
def query(*, name: str | None = None, dynamic: bool = False) -> Callable[[F], F]: ...
def query(
    fn: F | None = None, *, name: str | None = None, dynamic: bool = False
) -> F | Callable[[F], F]:
    """Mark a (non-async) method as a read-only query handler."""
    return _handler_decorator("query", fn, name, dynamic)  # type: ignore[no-any-return]


class UpdateMethod(Protocol[S_contra, P, R_co]):
    """An ``@workflow.update`` method: callable as before (bound to an instance, or through
    the class with the instance first), plus ``.validator``."""

    def __call__(self, instance: S_contra, /, *args: P.args, **kwargs: P.kwargs) -> R_co: ...

    @overload
    def __get__(self, instance: None, owner: type[Any], /) -> Self: ...
    @overload
    def __get__(
        self, instance: S_contra, owner: type[Any] | None = None, /
    ) -> Callable[P, R_co]: ...

    def validator(self, fn: Callable[..., None]) -> Callable[..., None]:
        """Register a non-async validator taking the same arguments as the update;
        raising any exception rejects the update (nothing is recorded)."""
        ...


@overload
def update(fn: Callable[Concatenate[S_contra, P], R_co]) -> UpdateMethod[S_contra, P, R_co]: ...
@overload
def update(
    *, name: str | None = None, dynamic: bool = False, unfinished_policy: str = ""
) -> Callable[[Callable[Concatenate[S_contra, P], R_co]], UpdateMethod[S_contra, P, R_co]]: ...
def update(
    fn: Callable[Concatenate[S_contra, P], R_co] | None = None,
    *,
    name: str | None = None,
    dynamic: bool = False,
    unfinished_policy: str = "",
) -> (
    UpdateMethod[S_contra, P, R_co]
    | Callable[[Callable[Concatenate[S_contra, P], R_co]], UpdateMethod[S_contra, P, R_co]]
):
    """Mark a method as an update handler: like a signal that returns a result.

    Decorate a non-async method with ``@<handler>.validator`` to reject updates before
    they are recorded (raise any exception to reject).
    """
    return _handler_decorator("update", fn, name, dynamic, unfinished_policy)  # type: ignore[no-any-return]


def handler_name(ref: Callable[..., Any] | str, kind: str) -> str:
    if isinstance(ref, str):
        return ref
    handler = getattr(ref, HANDLER_ATTR, None)
    if not isinstance(handler, HandlerDefinition) or handler.kind != kind:
        raise ConfigurationError(f"{ref!r} is not a @workflow.{kind} method")
    if handler.name is None:
        raise ConfigurationError(f"{ref!r} is a dynamic {kind} handler; pass a name instead")
    return handler.name
