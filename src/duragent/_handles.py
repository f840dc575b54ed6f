"""What a client holds about one workflow: its handle (result, describe, signal, query,
update, cancel, terminate, history), the handle of one update, and the description of a run.
Re-exported by :mod:`duragent.client`."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, overload

from ._backend.records import UpdateStage
from ._definitions import HANDLER_ATTR, HandlerDefinition
from ._engine import events as ev
from ._engine.failure import Failure, exception_from_failure
from ._workflow_decorators import handler_name
from .errors import (
    CancelledError,
    ConfigurationError,
    TerminatedError,
    UpdateFailedError,
    UpdateRejectedError,
    WorkflowFailureError,
    WorkflowNotFoundError,
)
from .history import WorkflowHistory
from .search_attributes import TypedSearchAttributes, inferred
from .store.base import RunRecord, UpdateOutcome, UpdateSpec, WorkflowStatus
from .streaming import StreamEvent

if TYPE_CHECKING:
    from .client import Client

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
_A = TypeVar("_A")
_R = TypeVar("_R")
_S = TypeVar("_S")
MISSING: Any = object()
"""Stands for "no positional argument given" (None is a valid argument)."""


def _dt(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


@dataclass(frozen=True)
class WorkflowExecution:
    """What ``describe()`` and ``list_workflows()`` report about a run."""

    id: str
    run_id: str
    workflow_type: str
    task_queue: str
    status: WorkflowStatus
    start_time: datetime
    close_time: datetime | None
    history_length: int
    history_size_bytes: int
    first_run_id: str
    parent_id: str | None
    parent_run_id: str | None
    pending_activities: int
    task_failure: str | None
    """Why the last workflow task failed, while the run is stuck retrying it (e.g. a
    ``NondeterminismError`` or a bug in workflow code); None when healthy."""
    task_attempts: int
    memo: dict[str, Any] = field(default_factory=lambda: {})
    search_attributes: dict[str, Any] = field(default_factory=lambda: {})
    """Values set at start or by ``workflow.upsert_search_attributes`` (datetimes as
    ISO-8601 strings)."""

    @property
    def typed_search_attributes(self) -> TypedSearchAttributes:
        """:attr:`search_attributes` as typed pairs (as temporalio's ``describe()``): each
        type follows the value, and a lookup by a key of another type reads the value as
        that type where it can (``for_datetime`` parses the ISO-8601 string)."""
        return inferred(self.search_attributes)

    @classmethod
    def _from_record(cls, r: RunRecord) -> WorkflowExecution:
        start = _dt(r.start_time)
        assert start is not None
        return cls(
            id=r.workflow_id,
            run_id=r.run_id,
            workflow_type=r.workflow_type,
            task_queue=r.task_queue,
            status=WorkflowStatus(r.status),
            start_time=start,
            close_time=_dt(r.close_time),
            history_length=r.history_length,
            history_size_bytes=r.history_bytes,
            first_run_id=r.first_run_id,
            parent_id=r.parent_workflow_id,
            parent_run_id=r.parent_run_id,
            pending_activities=r.pending_activities,
            task_failure=r.task_failure.describe() if r.task_failure else None,
            task_attempts=r.task_attempts,
            memo=r.memo,
            search_attributes=r.search_attributes,
        )


def signal_name(ref: Callable[..., Any] | str) -> str:
    return handler_name(ref, "signal")


def handler_ref(ref: Callable[..., Any] | str, kind: str) -> tuple[str, Any]:
    """(handler name, return hint) of a ``@workflow.query``/``update`` method or name."""
    name = handler_name(ref, kind)
    handler = getattr(ref, HANDLER_ATTR, None)
    hint = handler.hints[1] if isinstance(handler, HandlerDefinition) else None
    return name, hint


def args_of(arg: Any, args: Sequence[Any]) -> tuple[Any, ...]:
    if arg is not MISSING:
        if args:
            raise ConfigurationError("pass either one positional argument or args=[...]")
        return (arg,)
    return tuple(args)


class WorkflowUpdateHandle(Generic[T]):
    """An update that was accepted by the workflow (or is waiting to be validated)."""

    def __init__(
        self,
        client: Client,
        workflow_id: str,
        run_id: str | None,
        update_id: str,
        result_type: Any,
    ) -> None:
        self.client = client
        self.workflow_id = workflow_id
        self.run_id = run_id
        """The run the update was sent to (None: the workflow's latest run)."""
        self.id = update_id
        self.result_type = result_type

    async def _wait(self, stage: UpdateStage, timeout: float | None) -> UpdateOutcome:
        return await self.client.backend.wait_update(
            self.workflow_id, self.run_id, self.id, stage=stage, timeout=timeout
        )

    def _raise_if_rejected(self, outcome: UpdateOutcome) -> None:
        if outcome.status == "rejected":
            cause = (
                exception_from_failure(outcome.failure, self.client.converter)
                if outcome.failure
                else None
            )
            raise UpdateRejectedError(f"update {self.id!r} was rejected: {cause}", cause=cause)

    async def result(self, *, timeout: float | None = None) -> T:
        """Wait for the update's handler to finish and return its result.

        Raises:
            UpdateRejectedError: The validator rejected it (nothing was recorded).
            UpdateFailedError: The handler raised, or the workflow closed first.
        """
        outcome = await self._wait("completed", timeout)
        self._raise_if_rejected(outcome)
        if outcome.failure is not None:
            cause = exception_from_failure(outcome.failure, self.client.converter)
            raise UpdateFailedError(f"update {self.id!r} failed: {cause}", cause=cause)
        assert outcome.result is not None
        return self.client.converter.decode(
            outcome.result,
            self.result_type,  # type: ignore[no-any-return]
            what=f"result of update {self.id!r}",
        )


class WorkflowHandle(Generic[T_co]):
    """A reference to a workflow (by id, optionally pinned to one run)."""

    def __init__(
        self,
        client: Client,
        id: str,
        *,
        run_id: str | None = None,
        result_type: Any = None,
        pinned: bool = False,
    ) -> None:
        self.client = client
        self.id = id
        self.run_id = run_id
        """The run this handle was created for (None: the latest run)."""
        self.result_type = result_type
        self._pinned = pinned

    def __repr__(self) -> str:
        return f"WorkflowHandle(id={self.id!r}, run_id={self.run_id!r})"

    def _target_run(self) -> str | None:
        return self.run_id if self._pinned else None

    async def describe(self) -> WorkflowExecution:
        """Status and facts of the run.

        Raises:
            WorkflowNotFoundError: No such workflow (or run).
        """
        return WorkflowExecution._from_record(
            await self.client.backend.describe(self.id, self._target_run())
        )

    async def result(self, *, follow_runs: bool = True, timeout: float | None = None) -> T_co:
        """Wait for the run to close and return its result.

        Follows continue-as-new to the final run unless ``follow_runs=False``, and, for a
        workflow started with ``cron_schedule``, each next run (as temporalio does: such a
        result comes only when a run is cancelled or terminated, or with
        ``follow_runs=False``).

        Raises:
            WorkflowFailureError: The run failed, was cancelled or terminated; ``cause``
                holds the reason.
            asyncio.TimeoutError: ``timeout`` seconds passed first.
        """
        backend = self.client.backend
        run_id = self.run_id or (await backend.describe(self.id)).run_id
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - loop.time())
            close = await backend.wait_closed(self.id, run_id, timeout=remaining)
            if isinstance(close, ev.WorkflowExecutionContinuedAsNew) and follow_runs:
                run_id = close.new_run_id
                continue
            if follow_runs and isinstance(
                close, ev.WorkflowExecutionCompleted | ev.WorkflowExecutionFailed
            ):
                # A cron workflow's next run (start_workflow(..., cron_schedule=...)),
                # followed as temporalio follows a close event's new execution run id.
                next_run = getattr(backend, "next_run", None)
                following = await next_run(self.id, run_id) if next_run is not None else None
                if following:
                    run_id = following
                    continue
            return self._outcome(close)

    def stream(self, *, after: int = 0) -> AsyncIterator[StreamEvent]:
        """The run's durable stream, live: typed events (text deltas, resets, tool calls
        and results, approval requests, the close), each with its ``offset``.

        Iterate with ``async for``; it ends after :class:`~duragent.streaming.RunClosed`.
        To resume after a disconnect, pass the offset of the last event received as
        ``after``: every delta of each model call's committed attempt is delivered exactly
        once across the resumption (see :mod:`duragent.streaming`). Streams the run this
        handle names (the latest run of the workflow if none), not its continuations.
        """
        return self._stream(after)

    async def _stream(self, after: int) -> AsyncIterator[StreamEvent]:
        from ._stream.subscribe import subscribe

        backend = self.client.backend
        run_id = self.run_id or (await backend.describe(self.id)).run_id
        async for event in subscribe(backend, self.id, run_id, after=after):
            yield event

    def _outcome(self, close: ev.Event | None) -> T_co:
        conv = self.client.converter
        if isinstance(close, ev.WorkflowExecutionCompleted):
            return conv.decode(close.result, self.result_type, what="workflow result")  # type: ignore[no-any-return]
        if isinstance(close, ev.WorkflowExecutionFailed):
            cause: BaseException = exception_from_failure(close.failure, conv)
            raise WorkflowFailureError(f"workflow {self.id!r} failed: {cause}", cause=cause)
        if isinstance(close, ev.WorkflowExecutionCanceled):
            raise WorkflowFailureError(
                f"workflow {self.id!r} was cancelled", cause=CancelledError("workflow cancelled")
            )
        if isinstance(close, ev.WorkflowExecutionTerminated):
            raise WorkflowFailureError(
                f"workflow {self.id!r} was terminated: {close.reason}",
                cause=TerminatedError(close.reason or "terminated"),
            )
        if isinstance(close, ev.WorkflowExecutionContinuedAsNew):
            raise WorkflowFailureError(
                f"workflow {self.id!r} continued as new (run {close.new_run_id})",
                cause=CancelledError("continued as new"),
            )
        raise WorkflowNotFoundError(f"workflow {self.id!r} has no close event")

    async def signal(
        self, signal: Callable[..., Any] | str, arg: Any = MISSING, *, args: Sequence[Any] = ()
    ) -> None:
        """Send a signal (recorded in history, delivered exactly once, in order).

        Raises:
            WorkflowNotRunningError: The workflow has closed.
        """
        if arg is not MISSING:
            args = (arg,)
        name = signal_name(signal)
        input = self.client.converter.encode_all(tuple(args), what=f"argument of signal {name!r}")
        await self.client.backend.signal(
            self.id, self._target_run(), name, input, identity=self.client.identity
        )

    async def cancel(self, reason: str = "") -> None:
        """Request cancellation: workflow code gets ``asyncio.CancelledError`` at its current
        ``await`` and may clean up before it finishes as cancelled.

        Raises:
            WorkflowNotRunningError: The workflow has closed.
        """
        await self.client.backend.cancel(
            self.id, self._target_run(), reason, identity=self.client.identity
        )

    async def terminate(self, reason: str = "") -> None:
        """Stop the run at once; no workflow code runs after this.

        Raises:
            WorkflowNotRunningError: The workflow has closed.
        """
        await self.client.backend.terminate(
            self.id, self._target_run(), reason, identity=self.client.identity
        )

    @overload
    async def query(self, query: Callable[[_S], Awaitable[_R]], *, timeout: float = ...) -> _R: ...
    @overload
    async def query(
        self, query: Callable[[_S, _A], Awaitable[_R]], arg: _A, *, timeout: float = ...
    ) -> _R: ...
    @overload
    async def query(self, query: Callable[[_S], _R], *, timeout: float = ...) -> _R: ...
    @overload
    async def query(
        self, query: Callable[[_S, _A], _R], arg: _A, *, timeout: float = ...
    ) -> _R: ...
    @overload
    async def query(
        self,
        query: str,
        arg: Any = ...,
        *,
        args: Sequence[Any] = (),
        result_type: type[_R],
        timeout: float = ...,
    ) -> _R: ...
    @overload
    async def query(
        self,
        query: str,
        arg: Any = ...,
        *,
        args: Sequence[Any] = (),
        result_type: Any = None,
        timeout: float = ...,
    ) -> Any: ...
    @overload
    async def query(
        self,
        query: Callable[..., Any],
        *,
        args: Sequence[Any],
        result_type: Any = None,
        timeout: float = ...,
    ) -> Any: ...
    async def query(
        self,
        query: Callable[..., Any] | str,
        arg: Any = MISSING,
        *,
        args: Sequence[Any] = (),
        result_type: Any = None,
        timeout: float = 10.0,
    ) -> Any:
        """Ask a ``@workflow.query`` handler (read-only; nothing is recorded). Closed
        workflows can be queried too.

        Raises:
            QueryError: No such handler, the handler failed or tried to change state, or no
                worker for the workflow's task queue answered within ``timeout`` seconds.
        """
        name, hint = handler_ref(query, "query")
        input = self.client.converter.encode_all(args_of(arg, args), what=f"query {name!r}")
        result = await self.client.backend.query(
            self.id, self._target_run(), name, input, timeout=timeout
        )
        return self.client.converter.decode(
            result,
            result_type if result_type is not None else hint,
            what=f"result of query {name!r}",
        )

    @overload
    async def start_update(
        self,
        update: Callable[[_S], Awaitable[_R]],
        *,
        id: str | None = ...,
        timeout: float | None = ...,
    ) -> WorkflowUpdateHandle[_R]: ...
    @overload
    async def start_update(
        self,
        update: Callable[[_S, _A], Awaitable[_R]],
        arg: _A,
        *,
        id: str | None = ...,
        timeout: float | None = ...,
    ) -> WorkflowUpdateHandle[_R]: ...
    @overload
    async def start_update(
        self, update: Callable[[_S], _R], *, id: str | None = ..., timeout: float | None = ...
    ) -> WorkflowUpdateHandle[_R]: ...
    @overload
    async def start_update(
        self,
        update: Callable[[_S, _A], _R],
        arg: _A,
        *,
        id: str | None = ...,
        timeout: float | None = ...,
    ) -> WorkflowUpdateHandle[_R]: ...
    @overload
    async def start_update(
        self,
        update: str,
        arg: Any = ...,
        *,
        args: Sequence[Any] = (),
        result_type: type[_R],
        id: str | None = ...,
        timeout: float | None = ...,
    ) -> WorkflowUpdateHandle[_R]: ...
    @overload
    async def start_update(
        self,
        update: str,
        arg: Any = ...,
        *,
        args: Sequence[Any] = (),
        result_type: Any = None,
        id: str | None = ...,
        timeout: float | None = ...,
    ) -> WorkflowUpdateHandle[Any]: ...
    @overload
    async def start_update(
        self,
        update: Callable[..., Any],
        *,
        args: Sequence[Any],
        result_type: Any = None,
        id: str | None = ...,
        timeout: float | None = ...,
    ) -> WorkflowUpdateHandle[Any]: ...
    async def start_update(
        self,
        update: Callable[..., Any] | str,
        arg: Any = MISSING,
        *,
        args: Sequence[Any] = (),
        id: str | None = None,
        result_type: Any = None,
        timeout: float | None = None,
    ) -> WorkflowUpdateHandle[Any]:
        """Send an update and wait until the workflow accepts it (its validator passed and
        the update is recorded in history); its handler may still be running.

        Raises:
            UpdateRejectedError: The validator rejected it; nothing was recorded.
            WorkflowNotRunningError: The workflow has closed.
        """
        name, hint = handler_ref(update, "update")
        input = self.client.converter.encode_all(args_of(arg, args), what=f"update {name!r}")
        update_id = id or uuid.uuid4().hex
        run_id = await self.client.backend.send_update(
            self.id,
            self._target_run(),
            UpdateSpec(update_id=update_id, name=name, input=input, identity=self.client.identity),
        )
        handle: WorkflowUpdateHandle[Any] = WorkflowUpdateHandle(
            self.client,
            self.id,
            run_id,
            update_id,
            result_type if result_type is not None else hint,
        )
        outcome = await handle._wait("accepted", timeout)  # pyright: ignore[reportPrivateUsage]
        handle._raise_if_rejected(outcome)  # pyright: ignore[reportPrivateUsage]
        return handle

    @overload
    async def execute_update(
        self,
        update: Callable[[_S], Awaitable[_R]],
        *,
        id: str | None = ...,
        timeout: float | None = ...,
    ) -> _R: ...
    @overload
    async def execute_update(
        self,
        update: Callable[[_S, _A], Awaitable[_R]],
        arg: _A,
        *,
        id: str | None = ...,
        timeout: float | None = ...,
    ) -> _R: ...
    @overload
    async def execute_update(
        self, update: Callable[[_S], _R], *, id: str | None = ..., timeout: float | None = ...
    ) -> _R: ...
    @overload
    async def execute_update(
        self,
        update: Callable[[_S, _A], _R],
        arg: _A,
        *,
        id: str | None = ...,
        timeout: float | None = ...,
    ) -> _R: ...
    @overload
    async def execute_update(
        self,
        update: str,
        arg: Any = ...,
        *,
        args: Sequence[Any] = (),
        result_type: type[_R],
        id: str | None = ...,
        timeout: float | None = ...,
    ) -> _R: ...
    @overload
    async def execute_update(
        self,
        update: str,
        arg: Any = ...,
        *,
        args: Sequence[Any] = (),
        result_type: Any = None,
        id: str | None = ...,
        timeout: float | None = ...,
    ) -> Any: ...
    @overload
    async def execute_update(
        self,
        update: Callable[..., Any],
        *,
        args: Sequence[Any],
        result_type: Any = None,
        id: str | None = ...,
        timeout: float | None = ...,
    ) -> Any: ...
    async def execute_update(
        self,
        update: Callable[..., Any] | str,
        arg: Any = MISSING,
        *,
        args: Sequence[Any] = (),
        id: str | None = None,
        result_type: Any = None,
        timeout: float | None = None,
    ) -> Any:
        """Send an update and return its handler's result (see :meth:`start_update`).

        Raises:
            UpdateRejectedError: The validator rejected it; nothing was recorded.
            UpdateFailedError: The handler raised.
        """
        # The overloads type what users call; forward the already-checked arguments.
        start = cast(Callable[..., Awaitable[WorkflowUpdateHandle[Any]]], self.start_update)
        handle = await start(
            update, arg, args=args, id=id, result_type=result_type, timeout=timeout
        )
        return await handle.result(timeout=timeout)

    def get_update_handle(
        self, update_id: str, *, result_type: Any = None, run_id: str | None = None
    ) -> WorkflowUpdateHandle[Any]:
        """A handle to an update sent earlier (by id), on ``run_id`` or this handle's run
        (the workflow's latest run, looked up when the handle is first waited on, if the
        handle is not pinned to one)."""
        target = run_id or self._target_run()
        return WorkflowUpdateHandle(self.client, self.id, target, update_id, result_type)

    async def fetch_history(self) -> WorkflowHistory:
        """The run's complete event history.

        Raises:
            WorkflowNotFoundError: No such workflow (or run).
        """
        backend = self.client.backend
        run_id = self._target_run() or (await backend.describe(self.id)).run_id
        return WorkflowHistory(self.id, run_id, await backend.read_history(self.id, run_id))

    def _failure(self, data: Failure) -> BaseException:
        return exception_from_failure(data, self.client.converter)
