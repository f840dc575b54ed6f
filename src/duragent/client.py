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
from typing import Any

from ._clock import Clock, SystemClock
from ._definitions import workflow_definition_of
from ._handles import (
    MISSING,
    WorkflowExecution,
    WorkflowHandle,
    WorkflowStatus,
    WorkflowUpdateHandle,
    args_of,
    handler_ref,
    signal_name,
)
from .errors import ConfigurationError
from .serde import DEFAULT_MAX_PAYLOAD_BYTES, DataConverter
from .store.base import IdConflictPolicy, StartRequest, UpdateSpec
from .store.memory import MemoryStore
from .store.sqlite import SqliteStore

__all__ = [
    "Client",
    "WorkflowExecution",
    "WorkflowHandle",
    "WorkflowStatus",
    "WorkflowUpdateHandle",
]


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
        arg: Any = MISSING,
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
        if arg is not MISSING:
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
            signal_name=(signal_name(start_signal) if start_signal is not None else None),
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
        arg: Any = MISSING,
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
        arg: Any = MISSING,
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
            start_signal=signal_name(signal),
            start_signal_args=signal_args,
            **kwargs,
        )

    async def start_update_with_start_workflow(
        self,
        workflow: Any,
        arg: Any = MISSING,
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
        name, hint = handler_ref(update, "update")
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
            input=self.converter.encode_all(args_of(arg, args), what="workflow argument"),
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
        self, workflow: Any, arg: Any = MISSING, **kwargs: Any
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


def new_workflow_id(prefix: str = "wf") -> str:
    """A random workflow id (for callers that do not care to choose one)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"
