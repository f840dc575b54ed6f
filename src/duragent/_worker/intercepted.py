"""Activity attempts through the worker's interceptors (``duragent.interceptor``), on either
backend: the chain is built per attempt, its innermost link calls the function the way the
worker would without interceptors, and ``activity.info()`` / ``heartbeat()`` reach the
outbound chain through the attempt's context."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ..activity import ActivityContext, Info
from ..errors import ConfigurationError
from ..interceptor import (
    ActivityInboundInterceptor,
    ActivityOutboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

Call = Callable[[ExecuteActivityInput], Awaitable[Any]]
"""Runs the (possibly changed) input: the innermost link of the chain."""


def check_interceptors(interceptors: Sequence[Any]) -> tuple[Interceptor, ...]:
    """The worker's interceptors, refused with a clear message when one is not a
    ``duragent.interceptor.Interceptor``."""
    for found in interceptors:
        if not isinstance(found, Interceptor):
            kind = type(found)
            hint = (
                " (temporalio's interceptors would see Duragent's own workflow and activity, "
                "not yours: subclass duragent.interceptor.Interceptor, which has the same "
                "methods)"
                if any(c.__module__.startswith("temporalio") for c in kind.__mro__)
                else ""
            )
            raise ConfigurationError(
                f"interceptors must be duragent.interceptor.Interceptor instances, not "
                f"{kind.__module__}.{kind.__qualname__}{hint}"
            )
    return tuple(interceptors)


class _Innermost(ActivityInboundInterceptor):
    """The end of the inbound chain: hands the outbound chain to the attempt's context
    and runs the function."""

    def __init__(self, context: ActivityContext, call: Call) -> None:
        self.context = context
        self.call = call

    def init(self, outbound: ActivityOutboundInterceptor) -> None:
        self.context.outbound = outbound

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        return await self.call(input)


class _ContextOutbound(ActivityOutboundInterceptor):
    """The end of the outbound chain: the attempt's own info and heartbeat."""

    def __init__(self, context: ActivityContext) -> None:
        self.context = context

    def info(self) -> Info:
        return self.context.info

    def heartbeat(self, *details: Any) -> None:
        self.context.heartbeat(details)


async def run_intercepted(
    interceptors: Sequence[Interceptor],
    context: ActivityContext,
    input: ExecuteActivityInput,
    call: Call,
) -> Any:
    """Run one attempt through ``interceptors`` (the first is the outermost)."""
    inbound: ActivityInboundInterceptor = _Innermost(context, call)
    for interceptor in reversed(interceptors):
        inbound = interceptor.intercept_activity(inbound)
    inbound.init(_ContextOutbound(context))
    return await inbound.execute_activity(input)


def is_async(fn: Callable[..., Any], defined: Callable[..., Any], defined_is_async: bool) -> bool:
    """Whether ``fn`` is awaited (else it runs on the executor): as the definition of
    ``defined`` says, unless an interceptor swapped in another function."""
    if fn is defined:
        return defined_is_async
    return inspect.iscoroutinefunction(fn)
