"""The client: start workflows, get handles, signal, query, update, cancel, terminate,
await results, list runs and export histories.

``Client.connect("sqlite:///path.db")`` opens the embedded store (creating the file if
needed). The same calls work whichever process runs the workers: the store is the only
thing they share.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Generic, TypeVar

from ._clock import Clock, SystemClock
from ._definitions import HANDLER_ATTR, HandlerDefinition, workflow_definition_of
from ._engine import events as ev
from ._engine.failure import Failure, exception_from_failure
from .errors import (
    CancelledError,
    ConfigurationError,
    QueryError,
    TerminatedError,
    UpdateFailedError,
    UpdateRejectedError,
    WorkflowFailureError,
    WorkflowNotFoundError,
)
from .history import WorkflowHistory
from .serde import DEFAULT_MAX_PAYLOAD_BYTES, DataConverter
from .store.base import (
    IdConflictPolicy,
    RunRecord,
    RunStatus,
    StartRequest,
    UpdateOutcome,
    UpdateSpec,
)
from .store.memory import MemoryStore
from .store.sqlite import SqliteStore
from .workflow import _handler_name  # pyright: ignore[reportPrivateUsage]

__all__ = [
    "Client",
    "WorkflowExecution",
    "WorkflowHandle",
    "WorkflowStatus",
    "WorkflowUpdateHandle",
]

T = TypeVar("T")
_MISSING: Any = object()
# Wake-ups (in-process, and across processes on Linux) end waits at once; polling is only
# the safety net, so it can start slow.
_POLL_START_S: Final = 0.05
_POLL_MAX_S: Final = 0.5


class WorkflowStatus:
    """Status of a workflow run (string constants)."""

    RUNNING = RunStatus.RUNNING
    COMPLETED = RunStatus.COMPLETED
    FAILED = RunStatus.FAILED
    CANCELED = RunStatus.CANCELED
    TERMINATED = RunStatus.TERMINATED
    CONTINUED_AS_NEW = RunStatus.CONTINUED_AS_NEW


def _dt(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


@dataclass(frozen=True)
class WorkflowExecution:
    """What ``describe()`` and ``list_workflows()`` report about a run."""

    id: str
    run_id: str
    workflow_type: str
    task_queue: str
    status: str
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

    @classmethod
    def _from_record(cls, r: RunRecord) -> WorkflowExecution:
        start = _dt(r.start_time)
        assert start is not None
        return cls(
            id=r.workflow_id,
            run_id=r.run_id,
            workflow_type=r.workflow_type,
            task_queue=r.task_queue,
            status=r.status,
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
        )


def _parse_target(target: str) -> str:
    if target.startswith("temporal://"):
        raise ConfigurationError(
            "the Temporal runtime is not available in this version of Duragent; use "
            "sqlite:///path.db"
        )
    if target.startswith("sqlite://"):
        path = target[len("sqlite://") :]
        if not path.startswith("/"):
            raise ConfigurationError(
                f"bad store URL {target!r}: use sqlite:///relative.db or sqlite:////abs/path.db"
            )
        path = path[1:]
        if not path:
            raise ConfigurationError(f"bad store URL {target!r}: no file name")
        return path
    if target in {"memory://", ":memory:"}:
        return ":memory:"
    if "://" in target:
        raise ConfigurationError(f"unknown store URL scheme in {target!r}; use sqlite:///path.db")
    return target  # a plain file path


class Client:
    """Connection to a Duragent store.

    Prefer :meth:`connect`. A client is cheap; share one per process.

    Attributes:
        store: The underlying store.
        converter: Payload conversion (and its size limit).
        clock: Time source (the test environment substitutes a skipping clock).
        identity: Recorded as the sender of signals, cancellations and terminations.
    """

    def __init__(
        self,
        store: SqliteStore,
        *,
        converter: DataConverter | None = None,
        clock: Clock | None = None,
        identity: str | None = None,
        plugins: Sequence[Any] = (),
    ) -> None:
        self.store = store
        self.converter = converter or DataConverter()
        self.clock: Clock = clock or SystemClock()
        self.identity = identity or f"{os.getpid()}@{os.uname().nodename}"
        self.plugins: tuple[Any, ...] = tuple(plugins)
        for plugin in self.plugins:
            configure = getattr(plugin, "configure_client", None)
            if configure is not None:
                configure(self)

    @classmethod
    async def connect(
        cls,
        target: str = "sqlite:///duragent.db",
        *,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        synchronous: str = "NORMAL",
        busy_timeout_ms: int = 10_000,
        identity: str | None = None,
        plugins: Sequence[Any] = (),
    ) -> Client:
        """Open (creating if needed) the store at ``target``.

        Args:
            target: ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``, a plain
                file path, or ``memory://`` (a private in-memory store).
            max_payload_bytes: Largest encoded argument/result accepted.
            synchronous: ``"NORMAL"`` (survives process crashes) or ``"FULL"`` (also power
                loss).
            busy_timeout_ms: How long to wait for another process's write lock before
                raising ``StoreLockedError``.
            identity: Who is acting, recorded with signals and terminations.
            plugins: Plugins that extend the client (e.g. the OpenAI Agents plugin).

        Raises:
            StoreCorruptError: The file is not a Duragent database.
            StoreVersionError: The database was written by a newer Duragent.
        """
        path = _parse_target(target)
        store = (
            MemoryStore()
            if path == ":memory:"
            else SqliteStore(path, synchronous=synchronous, busy_timeout_ms=busy_timeout_ms)
        )
        # Workers in other processes then react to starts and signals at once, and
        # result() wakes as soon as they finish, instead of at the next poll.
        store.enable_remote_wakeups()
        store.notifier.attach_loop(asyncio.get_running_loop())
        return cls(
            store, converter=DataConverter(max_payload_bytes), identity=identity, plugins=plugins
        )

    async def close(self) -> None:
        """Close the store connection."""
        self.store.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _now(self) -> int:
        return self.clock.now_ms()

    # -- starting ------------------------------------------------------------------------------

    def _workflow_ref(self, workflow: Any) -> tuple[str, Any, Sequence[Any]]:
        if isinstance(workflow, str):
            return workflow, None, ()
        defn = workflow_definition_of(workflow)
        arg_hints, result_hint = defn.hints
        return defn.name, result_hint, arg_hints

    async def start_workflow(
        self,
        workflow: Any,
        arg: Any = _MISSING,
        *,
        id: str,
        task_queue: str,
        args: Sequence[Any] = (),
        id_conflict_policy: str = IdConflictPolicy.FAIL,
        memo: dict[str, Any] | None = None,
        start_signal: str | None = None,
        start_signal_args: Sequence[Any] = (),
        result_type: Any = None,
    ) -> WorkflowHandle[Any]:
        """Start a workflow run.

        Args:
            workflow: The workflow's ``run`` method (``MyWorkflow.run``), class, or type name.
            arg: The single argument (or ``args=[...]`` for several).
            id: Workflow id, unique among running workflows.
            task_queue: Queue whose workers run it.
            id_conflict_policy: ``"fail"`` (default), ``"use_existing"`` or
                ``"terminate_existing"`` when a run with this id is running.
            memo: JSON-able facts stored with the run (shown by ``describe``).
            start_signal: Signal-with-start: a signal delivered before the run's first line.
            start_signal_args: Arguments of ``start_signal``.
            result_type: Type to decode the result into (defaults to the run method's
                return annotation).

        Raises:
            WorkflowAlreadyStartedError: A run with this id is running (policy ``fail``).
            SerializationError: An argument cannot be serialized (nothing is stored).
        """
        if arg is not _MISSING:
            if args:
                raise ConfigurationError("pass either one positional argument or args=[...]")
            args = (arg,)
        name, result_hint, _ = self._workflow_ref(workflow)
        if not id:
            raise ConfigurationError("a workflow id is required")
        if not task_queue:
            raise ConfigurationError("a task queue is required")
        if id_conflict_policy not in (
            IdConflictPolicy.FAIL,
            IdConflictPolicy.USE_EXISTING,
            IdConflictPolicy.TERMINATE_EXISTING,
        ):
            raise ConfigurationError(f"unknown id_conflict_policy {id_conflict_policy!r}")
        request = StartRequest(
            workflow_id=id,
            workflow_type=name,
            task_queue=task_queue,
            input=self.converter.encode_all(tuple(args), what="workflow argument"),
            memo=dict(memo or {}),
            id_conflict_policy=id_conflict_policy,
            signal_name=(_signal_name(start_signal) if start_signal is not None else None),
            signal_input=self.converter.encode_all(
                tuple(start_signal_args), what="signal argument"
            ),
            identity=self.identity,
        )
        result = self.store.start_workflow(request, self._now())
        return WorkflowHandle(
            self,
            id,
            run_id=result.run_id,
            result_type=result_type if result_type is not None else result_hint,
        )

    async def execute_workflow(
        self,
        workflow: Any,
        arg: Any = _MISSING,
        *,
        id: str,
        task_queue: str,
        args: Sequence[Any] = (),
        **kwargs: Any,
    ) -> Any:
        """Start a workflow and wait for its result (see :meth:`start_workflow`)."""
        handle = await self.start_workflow(
            workflow, arg, id=id, task_queue=task_queue, args=args, **kwargs
        )
        return await handle.result()

    async def signal_with_start_workflow(
        self,
        workflow: Any,
        arg: Any = _MISSING,
        *,
        id: str,
        task_queue: str,
        signal: Callable[..., Any] | str,
        signal_args: Sequence[Any] = (),
        args: Sequence[Any] = (),
        **kwargs: Any,
    ) -> WorkflowHandle[Any]:
        """Signal the running workflow with this id, or start it and deliver the signal
        first — one atomic step, so stateless callers (HTTP handlers) need no lookup."""
        return await self.start_workflow(
            workflow,
            arg,
            id=id,
            task_queue=task_queue,
            args=args,
            id_conflict_policy=IdConflictPolicy.USE_EXISTING,
            start_signal=_signal_name(signal),
            start_signal_args=signal_args,
            **kwargs,
        )

    async def start_update_with_start_workflow(
        self,
        workflow: Any,
        arg: Any = _MISSING,
        *,
        id: str,
        task_queue: str,
        update: Callable[..., Any] | str,
        update_args: Sequence[Any] = (),
        update_id: str | None = None,
        args: Sequence[Any] = (),
        id_conflict_policy: str = IdConflictPolicy.USE_EXISTING,
        result_type: Any = None,
    ) -> WorkflowUpdateHandle[Any]:
        """Send an update to the running workflow with this id, or start it and deliver
        the update in its first task: one atomic step (the stateless-HTTP pattern).

        Returns once the update is accepted. Raises like :meth:`WorkflowHandle.start_update`.
        """
        name, hint = _handler_ref(update, "update")
        spec = UpdateSpec(
            update_id=update_id or uuid.uuid4().hex,
            name=name,
            input=self.converter.encode_all(tuple(update_args), what=f"update {name!r}"),
            identity=self.identity,
        )
        wf_name, _, _ = self._workflow_ref(workflow)
        request = StartRequest(
            workflow_id=id,
            workflow_type=wf_name,
            task_queue=task_queue,
            input=self.converter.encode_all(_args(arg, args), what="workflow argument"),
            id_conflict_policy=id_conflict_policy,
            update=spec,
            identity=self.identity,
        )
        started = self.store.start_workflow(request, self._now())
        handle: WorkflowUpdateHandle[Any] = WorkflowUpdateHandle(
            self,
            id,
            started.run_id,
            spec.update_id,
            result_type if result_type is not None else hint,
        )
        outcome = await handle._wait(  # pyright: ignore[reportPrivateUsage]
            ("accepted", "completed", "rejected", "failed"), None
        )
        handle._raise_if_rejected(outcome)  # pyright: ignore[reportPrivateUsage]
        return handle

    async def execute_update_with_start_workflow(
        self, workflow: Any, arg: Any = _MISSING, **kwargs: Any
    ) -> Any:
        """Like :meth:`start_update_with_start_workflow`, returning the update's result."""
        handle = await self.start_update_with_start_workflow(workflow, arg, **kwargs)
        return await handle.result()

    def get_workflow_handle(
        self, workflow_id: str, *, run_id: str | None = None, result_type: Any = None
    ) -> WorkflowHandle[Any]:
        """A handle to an existing workflow (its latest run unless ``run_id`` is given)."""
        return WorkflowHandle(
            self, workflow_id, run_id=run_id, result_type=result_type, pinned=run_id is not None
        )

    def get_workflow_handle_for(
        self, workflow: Callable[..., Any], workflow_id: str, *, run_id: str | None = None
    ) -> WorkflowHandle[Any]:
        """Like :meth:`get_workflow_handle`, typed by the workflow's run method."""
        _, result_hint, _ = self._workflow_ref(workflow)
        return self.get_workflow_handle(workflow_id, run_id=run_id, result_type=result_hint)

    async def list_workflows(
        self,
        *,
        status: str | None = None,
        workflow_type: str | None = None,
        workflow_id_prefix: str | None = None,
        limit: int = 100,
    ) -> list[WorkflowExecution]:
        """Runs, newest first, optionally filtered."""
        return [
            WorkflowExecution._from_record(r)
            for r in self.store.list_runs(
                status=status,
                workflow_type=workflow_type,
                workflow_id_prefix=workflow_id_prefix,
                limit=limit,
            )
        ]


def _signal_name(ref: Callable[..., Any] | str) -> str:
    return _handler_name(ref, "signal")


def _handler_ref(ref: Callable[..., Any] | str, kind: str) -> tuple[str, Any]:
    """(handler name, return hint) of a ``@workflow.query``/``update`` method or name."""
    name = _handler_name(ref, kind)
    handler = getattr(ref, HANDLER_ATTR, None)
    hint = handler.hints[1] if isinstance(handler, HandlerDefinition) else None
    return name, hint


def _args(arg: Any, args: Sequence[Any]) -> tuple[Any, ...]:
    if arg is not _MISSING:
        if args:
            raise ConfigurationError("pass either one positional argument or args=[...]")
        return (arg,)
    return tuple(args)


class WorkflowUpdateHandle(Generic[T]):
    """An update that was accepted by the workflow (or is waiting to be validated)."""

    def __init__(
        self, client: Client, workflow_id: str, run_id: str, update_id: str, result_type: Any
    ) -> None:
        self.client = client
        self.workflow_id = workflow_id
        self.run_id = run_id
        self.id = update_id
        self.result_type = result_type

    async def _wait(self, stages: tuple[str, ...], timeout: float | None) -> UpdateOutcome:
        store = self.client.store
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        poll = _POLL_START_S
        while True:
            listener = store.notifier.listen([f"run:{self.run_id}"])
            outcome = store.update_outcome(self.run_id, self.id)
            if outcome is not None and outcome.status in stages:
                listener.close()
                return outcome
            wait = poll if deadline is None else min(poll, max(0.0, deadline - loop.time()))
            if deadline is not None and wait <= 0:
                listener.close()
                raise TimeoutError(f"update {self.id!r} did not finish within {timeout}s")
            if not await listener.wait(wait):
                poll = min(poll * 2, _POLL_MAX_S)

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
        outcome = await self._wait(("completed", "rejected", "failed"), timeout)
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


class WorkflowHandle(Generic[T]):
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
        """Status and facts of the run."""
        return WorkflowExecution._from_record(
            self.client.store.describe(self.id, self._target_run())
        )

    async def result(self, *, follow_runs: bool = True, timeout: float | None = None) -> T:
        """Wait for the run to close and return its result.

        Follows continue-as-new to the final run unless ``follow_runs=False``.

        Raises:
            WorkflowFailureError: The run failed, was cancelled or terminated; ``cause``
                holds the reason.
            asyncio.TimeoutError: ``timeout`` seconds passed first.
        """
        store = self.client.store
        run_id = self.run_id or store.describe(self.id).run_id
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        poll = _POLL_START_S
        while True:
            listener = store.notifier.listen([f"run:{run_id}"])
            status, last_event_id = store.run_status(run_id)
            if status != RunStatus.RUNNING:
                listener.close()
                close = store.read_event(run_id, last_event_id)
                if isinstance(close, ev.WorkflowExecutionContinuedAsNew) and follow_runs:
                    run_id = close.new_run_id
                    continue
                return self._outcome(close)
            wait = poll if deadline is None else min(poll, max(0.0, deadline - loop.time()))
            if deadline is not None and wait <= 0:
                listener.close()
                raise TimeoutError(f"workflow {self.id!r} did not close within {timeout}s")
            if not await listener.wait(wait):
                poll = min(poll * 2, _POLL_MAX_S)

    def _outcome(self, close: ev.Event | None) -> T:
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
        self, signal: Callable[..., Any] | str, arg: Any = _MISSING, *, args: Sequence[Any] = ()
    ) -> None:
        """Send a signal (recorded in history, delivered exactly once, in order).

        Raises:
            WorkflowNotRunningError: The workflow has closed.
        """
        if arg is not _MISSING:
            args = (arg,)
        name = _signal_name(signal)
        input = self.client.converter.encode_all(tuple(args), what=f"argument of signal {name!r}")
        self.client.store.signal(
            self.id,
            self._target_run(),
            name,
            input,
            self.client._now(),  # pyright: ignore[reportPrivateUsage]
            identity=self.client.identity,
        )

    async def cancel(self, reason: str = "") -> None:
        """Request cancellation: workflow code gets ``asyncio.CancelledError`` at its current
        ``await`` and may clean up before it finishes as cancelled."""
        self.client.store.request_cancel(self.id, self._target_run(), reason, self.client._now())  # pyright: ignore[reportPrivateUsage]

    async def terminate(self, reason: str = "") -> None:
        """Stop the run at once; no workflow code runs after this."""
        self.client.store.terminate(self.id, self._target_run(), reason, self.client._now())  # pyright: ignore[reportPrivateUsage]

    async def query(
        self,
        query: Callable[..., Any] | str,
        arg: Any = _MISSING,
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
        name, hint = _handler_ref(query, "query")
        input = self.client.converter.encode_all(_args(arg, args), what=f"query {name!r}")
        store = self.client.store
        query_id = store.request_query(self.id, self._target_run(), name, input, self.client._now())  # pyright: ignore[reportPrivateUsage]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        poll = _POLL_START_S
        while True:
            listener = store.notifier.listen([f"query:{query_id}"])
            status, result, error = store.take_query_answer(query_id)
            if status == "answered":
                listener.close()
                assert result is not None
                return self.client.converter.decode(
                    result,
                    result_type if result_type is not None else hint,
                    what=f"result of query {name!r}",
                )
            if status == "failed":
                listener.close()
                raise QueryError(error or f"query {name!r} failed")
            remaining = deadline - loop.time()
            if remaining <= 0:
                listener.close()
                store.cancel_query(query_id)
                queue = (await self.describe()).task_queue
                raise QueryError(
                    f"no worker answered query {name!r} within {timeout}s; is a worker for "
                    f"task queue {queue!r} running?"
                )
            if not await listener.wait(min(poll, remaining)):
                poll = min(poll * 2, _POLL_MAX_S)

    async def start_update(
        self,
        update: Callable[..., Any] | str,
        arg: Any = _MISSING,
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
        name, hint = _handler_ref(update, "update")
        input = self.client.converter.encode_all(_args(arg, args), what=f"update {name!r}")
        update_id = id or uuid.uuid4().hex
        run_id = self.client.store.request_update(
            self.id,
            self._target_run(),
            UpdateSpec(update_id=update_id, name=name, input=input, identity=self.client.identity),
            self.client._now(),  # pyright: ignore[reportPrivateUsage]
        )
        handle: WorkflowUpdateHandle[Any] = WorkflowUpdateHandle(
            self.client,
            self.id,
            run_id,
            update_id,
            result_type if result_type is not None else hint,
        )
        outcome = await handle._wait(  # pyright: ignore[reportPrivateUsage]
            ("accepted", "completed", "rejected", "failed"), timeout
        )
        handle._raise_if_rejected(outcome)  # pyright: ignore[reportPrivateUsage]
        return handle

    async def execute_update(
        self,
        update: Callable[..., Any] | str,
        arg: Any = _MISSING,
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
        handle = await self.start_update(
            update, arg, args=args, id=id, result_type=result_type, timeout=timeout
        )
        return await handle.result(timeout=timeout)

    def get_update_handle(
        self, update_id: str, *, result_type: Any = None, run_id: str | None = None
    ) -> WorkflowUpdateHandle[Any]:
        """A handle to an update sent earlier (by id)."""
        target = run_id or self._target_run() or self.client.store.describe(self.id).run_id
        return WorkflowUpdateHandle(self.client, self.id, target, update_id, result_type)

    async def fetch_history(self) -> WorkflowHistory:
        """The run's complete event history."""
        run_id = self._target_run() or self.client.store.describe(self.id).run_id
        return WorkflowHistory(self.id, run_id, self.client.store.read_history(run_id))

    def _failure(self, data: Failure) -> BaseException:
        return exception_from_failure(data, self.client.converter)


def new_workflow_id(prefix: str = "wf") -> str:
    """A random workflow id (for callers that do not care to choose one)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"
