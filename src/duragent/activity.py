"""The activity-side API: the ``@activity.defn`` decorator and what activity code can ask
about its own execution (:func:`info`, :func:`heartbeat`, :func:`is_cancelled`).

Activities are ordinary functions, sync or async, that may fail or have side effects. The
engine runs them on workers and retries failed attempts under the caller's retry policy, so
an activity may run more than once: pass :attr:`Info.idempotency_key` to downstream APIs
that deduplicate, or declare the activity ``at_most_once``.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, TypeVar, overload

from ._definitions import ACTIVITY_ATTR, ActivityDefinition
from .errors import ConfigurationError

if TYPE_CHECKING:
    from .interceptor import ActivityOutboundInterceptor
    from .store.base import UsageEntry

__all__ = [
    "Info",
    "defn",
    "heartbeat",
    "in_activity",
    "info",
    "is_cancelled",
    "logger",
    "raise_complete_async",
]

F = TypeVar("F", bound=Callable[..., Any])


class StreamSink(Protocol):
    """Where an activity attempt publishes deltas for the run's subscribers (internal: the
    model activity streams through it). Rows are keyed by (run, activity, attempt, seq)
    and fenced by the attempt: a superseded attempt cannot add any."""

    @property
    def superseded(self) -> bool:
        """Whether a newer attempt took over (nothing more is accepted)."""
        ...

    def open(self) -> None:
        """Announce the attempt (subscribers retract what earlier attempts showed)."""
        ...

    def publish(self, kind: str, data: str) -> None:
        """Add a delta; raises once the attempt is superseded."""
        ...

    def publish_at_commit(self, kind: str, data: str) -> None:
        """Add a row that subscribers see only if this attempt's result is recorded (it
        is written in the same transaction)."""
        ...


@dataclass(frozen=True)
class Info:
    """Facts about the running activity attempt."""

    activity_id: str
    """The activity's sequence number within its workflow run."""
    activity_type: str
    attempt: int
    """1 for the first attempt, 2 for the first retry, ..."""
    workflow_id: str
    workflow_run_id: str
    workflow_type: str
    task_queue: str
    idempotency_key: str
    """Stable across the retries of this activity and unique to it: pass it to APIs that
    deduplicate requests (payments, emails, tickets)."""
    scheduled_time: datetime
    started_time: datetime
    heartbeat_details: Sequence[Any] = field(default_factory=tuple)
    """Details of the last heartbeat of a previous attempt (to resume progress)."""
    heartbeat_timeout_seconds: float | None = None
    is_local: bool = False
    """Whether this is a local activity (run by the workflow's worker, no task)."""
    task_token: bytes = b""
    """Names this attempt for ``client.get_async_activity_handle(task_token=...)``, so that
    another process can complete it after :func:`raise_complete_async` (opaque; empty for
    a local activity)."""


class ActivityContext:
    """The worker-side state behind :func:`info` and :func:`heartbeat` (internal).

    Args:
        info: Facts about the attempt, or what builds them on first use (most attempts
            never ask: a tool call's, say).
        heartbeat: Records a heartbeat's details.
        usage_sink: Where :meth:`report_usage` sends entries; each worker wires it to its
            backend (the embedded worker: the store's usage ledger). None: not recorded.
        worker_id: The worker running the attempt.
    """

    def __init__(
        self,
        info: Info | Callable[[], Info],
        heartbeat: Callable[[tuple[Any, ...]], None],
        *,
        usage_sink: Callable[[UsageEntry], None] | None = None,
        worker_id: str = "",
        stream: StreamSink | None = None,
    ) -> None:
        self._info = info
        self._heartbeat = heartbeat
        self._usage_sink = usage_sink
        self._cancel_requested = False
        self.on_cancel: Callable[[], None] | None = None
        """Called when cancellation is requested (a process-pool attempt passes it on to
        its process)."""
        self.worker_id = worker_id
        self.stream = stream
        """The attempt's durable stream (None where the worker has no stream store)."""
        self.outbound: ActivityOutboundInterceptor | None = None
        """The worker's outbound interceptors for this attempt (None: it has none)."""

    @property
    def info(self) -> Info:
        """Facts about the attempt (built on first use)."""
        info = self._info
        if not isinstance(info, Info):
            info = self._info = info()
        return info

    @property
    def cancel_requested(self) -> bool:
        """Whether cancellation of the attempt was requested."""
        return self._cancel_requested

    @cancel_requested.setter
    def cancel_requested(self, value: bool) -> None:
        self._cancel_requested = value
        if value and self.on_cancel is not None:
            self.on_cancel()

    def heartbeat(self, details: tuple[Any, ...]) -> None:
        self._heartbeat(details)

    def report_usage(self, entry: UsageEntry) -> bool:
        """Record a billable call this attempt made (a model response), at once and
        durably, before the attempt's result is committed: if the attempt's result is
        then lost (a crash), the ledger still shows what was paid.

        Returns:
            Whether the worker records usage (False: this entry was dropped).
        """
        if self._usage_sink is None:
            return False
        self._usage_sink(entry)
        return True


current_context: ContextVar[ActivityContext | None] = ContextVar(
    "duragent_activity_context", default=None
)


def context() -> ActivityContext:
    """The running attempt's internal context (for integrations, not application code)."""
    return _context()


def _context() -> ActivityContext:
    ctx = current_context.get()
    if ctx is None:
        raise ConfigurationError(
            "not in an activity: activity.info() and "
            "activity.heartbeat() work only inside a running activity"
        )
    return ctx


@overload
def defn(fn: F) -> F: ...
@overload
def defn(
    *, name: str | None = None, dynamic: bool = False, at_most_once: bool = False
) -> Callable[[F], F]: ...
def defn(
    fn: F | None = None,
    *,
    name: str | None = None,
    dynamic: bool = False,
    at_most_once: bool = False,
) -> F | Callable[[F], F]:
    """Mark a function (sync or async) as an activity.

    Methods work too: decorate the method, and register it bound to an instance that holds
    what it needs (``Worker(activities=[service.fetch])``, called from workflows with
    ``workflow.execute_activity_method(Service.fetch, ...)``). So do callable classes:
    decorate the class (or its ``__call__``), register an instance, and call it with
    ``workflow.execute_activity_class(MyActivity, ...)``.

    Args:
        name: Activity type name; defaults to the function name.
        dynamic: Make this the worker's catch-all activity: it receives every activity
            type that has no handler of its own, called with one argument, the list of
            the call's arguments as plain JSON values; ``info().activity_type`` names the
            type that was requested.
        at_most_once: Never re-run an attempt that may have started: if a worker dies
            mid-attempt, the activity fails (``ActivityAttemptInterrupted``) instead of
            being retried. Callers can override it per call.
    """

    def decorate(f: F) -> F:
        if not callable(f):
            raise ConfigurationError(f"@activity.defn must decorate a function, not {f!r}")
        if dynamic and name:
            raise ConfigurationError("a dynamic activity has no name")
        target: Any = f
        call = target.__call__ if isinstance(target, type) else type(target).__call__
        is_async = inspect.iscoroutinefunction(f) or inspect.iscoroutinefunction(call)
        default_name = getattr(f, "__name__", None) or type(f).__name__
        setattr(
            f,
            ACTIVITY_ATTR,
            ActivityDefinition(
                name="" if dynamic else (name or default_name),
                fn=f,
                is_async=is_async,
                dynamic=dynamic,
                at_most_once=at_most_once,
            ),
        )
        return f

    return decorate(fn) if fn is not None else decorate


def info() -> Info:
    """Facts about the running activity attempt."""
    ctx = _context()
    if ctx.outbound is not None:
        return ctx.outbound.info()
    return ctx.info


def in_activity() -> bool:
    """Whether the caller runs inside an activity."""
    return current_context.get() is not None


def heartbeat(*details: Any) -> None:
    """Report progress; keeps a ``heartbeat_timeout`` from expiring.

    ``details`` (JSON-able) are saved and handed to the next attempt as
    ``info().heartbeat_details`` if this one fails. Heartbeats are how cancellation reaches
    a running activity: after a cancellation request, an async activity is cancelled at its
    next ``await``, and in a sync activity the next ``heartbeat()`` raises
    :class:`~duragent.errors.CancelledError`.
    """
    ctx = _context()
    if ctx.cancel_requested and not _in_event_loop():
        # A sync activity (in a thread) cannot be interrupted from outside: raise here.
        from .errors import CancelledError

        raise CancelledError("activity cancellation was requested")
    if ctx.outbound is not None:
        ctx.outbound.heartbeat(*details)
    else:
        ctx.heartbeat(details)


class CompleteAsyncError(BaseException):
    """Raised by :func:`raise_complete_async`; the worker catches it (a BaseException, like
    temporalio's, so that ``except Exception`` in activity code does not swallow it)."""


def raise_complete_async() -> NoReturn:
    """End this activity function without completing the activity: something else will
    complete it later through ``client.get_async_activity_handle(...)`` (``complete``,
    ``fail``, ``heartbeat``, ``report_cancellation``), e.g. a person, a webhook or another
    service given :attr:`Info.task_token`.

    The worker frees its slot at once; the attempt stays open on the backend, still bound
    by its start-to-close, schedule-to-close and heartbeat timeouts (heartbeat through the
    handle), and a worker that dies or shuts down does not interrupt it. Not available in
    local activities.
    """
    ctx = _context()
    if ctx.info.is_local:
        raise ConfigurationError(
            "a local activity cannot complete asynchronously: use workflow.execute_activity"
        )
    raise CompleteAsyncError()


def is_cancelled() -> bool:
    """Whether cancellation of this activity was requested."""
    return _context().cancel_requested


def _in_event_loop() -> bool:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def logger_details(info: Info) -> dict[str, Any]:
    """The facts about an attempt that its log records carry."""
    return {
        "activity_id": info.activity_id,
        "activity_type": info.activity_type,
        "attempt": info.attempt,
        "workflow_id": info.workflow_id,
        "workflow_run_id": info.workflow_run_id,
        "workflow_type": info.workflow_type,
        "task_queue": info.task_queue,
    }


class _ActivityLogger(logging.LoggerAdapter[logging.Logger]):
    """Tags records with the running activity: the message names it, and
    ``record.duragent_activity`` holds its details (for structured log handlers)."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        ctx = current_context.get()
        if ctx is not None:
            info = ctx.info
            msg = (
                f"{msg} [{info.activity_type} attempt {info.attempt}, "
                f"{info.workflow_type} {info.workflow_id}]"
            )
            extra = kwargs.get("extra")
            kwargs["extra"] = {
                **(extra or {}),
                "duragent_activity": logger_details(info),
            }
        return msg, kwargs


logger = _ActivityLogger(logging.getLogger("duragent.activity"), {})
"""A logger for activity code: each record names the activity, its attempt and its
workflow (also in ``record.duragent_activity``). Configure it as ``duragent.activity``
with the standard ``logging`` module; the worker logs failed attempts there too."""
