"""Worker interceptors: code that wraps every activity attempt a worker runs, as
temporalio's worker interceptors do (the same class, method and field names).

Pass them as ``Worker(client, ..., interceptors=[MyInterceptor()])``, on either backend. For
each attempt (activities and local activities alike) the worker asks each interceptor, in
order, to wrap the next one (``intercept_activity``); the first in the list is the
outermost. The innermost calls the activity function: an ``async def`` on the worker's event
loop, a plain function on the worker's executor. Within the attempt, ``activity.info()``
and ``activity.heartbeat()`` go through the outbound interceptors the inbound ones set up
in ``init``::

    class Timing(Interceptor):
        def intercept_activity(self, next):
            return TimingInbound(next)

    class TimingInbound(ActivityInboundInterceptor):
        async def execute_activity(self, input):
            started = time.monotonic()
            try:
                return await super().execute_activity(input)
            finally:
                log.info("%s took %.3f s", activity.info().activity_type,
                         time.monotonic() - started)

What is not there yet: workflow interceptors (``workflow_interceptor_class`` is refused when
an interceptor defines it), client interceptors, and headers (``input.headers`` is always
empty: nothing carries them from a workflow to its activities). Sync activities on a
``ProcessPoolExecutor`` are wrapped in the worker's process, where ``input.fn`` cannot be
swapped; inside the pool process, ``info()`` and ``heartbeat()`` skip the outbound
interceptors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from .activity import Info

__all__ = [
    "ActivityInboundInterceptor",
    "ActivityOutboundInterceptor",
    "ExecuteActivityInput",
    "Interceptor",
]


@dataclass
class ExecuteActivityInput:
    """What :meth:`ActivityInboundInterceptor.execute_activity` runs: an interceptor may
    change the arguments (or, except on a process pool, the function) before passing it on."""

    fn: Callable[..., Any]
    """The activity function."""
    args: Sequence[Any]
    """Its arguments, decoded."""
    executor: Executor | None
    """Where a plain (not ``async``) function runs; None for an ``async def``."""
    headers: Mapping[str, Any] = field(default_factory=lambda: {})
    """Always empty for now (see the module's notes)."""


class ActivityOutboundInterceptor:
    """Wraps the calls an activity makes: ``activity.info()`` and ``activity.heartbeat()``.
    Subclass it and override what you need; call the same method on ``self.next`` to go on."""

    def __init__(self, next: ActivityOutboundInterceptor) -> None:
        self.next = next

    def info(self) -> Info:
        """Called for every ``activity.info()``."""
        return self.next.info()

    def heartbeat(self, *details: Any) -> None:
        """Called for every ``activity.heartbeat(*details)`` (after its cancellation check)."""
        self.next.heartbeat(*details)


class ActivityInboundInterceptor:
    """Wraps one activity attempt. Subclass it and override what you need; call the same
    method on ``self.next`` (or ``super()``) to go on."""

    def __init__(self, next: ActivityInboundInterceptor) -> None:
        self.next = next

    def init(self, outbound: ActivityOutboundInterceptor) -> None:
        """Called once per attempt before :meth:`execute_activity`, with the outbound
        chain so far: wrap it (``super().init(MyOutbound(outbound))``) to intercept
        ``info()`` and ``heartbeat()``."""
        self.next.init(outbound)

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        """Run the attempt; returns the activity's result (raising fails the attempt,
        which is then retried by its retry policy, as if the function had raised)."""
        return await self.next.execute_activity(input)


class Interceptor:
    """A worker interceptor: return a wrapper of ``next`` from :meth:`intercept_activity`
    (or ``next`` itself to leave activities alone)."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        """Called for every activity attempt."""
        return next
