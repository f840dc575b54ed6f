"""The client: start workflows, get handles, signal, query, update, cancel, terminate,
await results, list runs and export histories.

``Client.connect("sqlite:///path.db")`` opens the embedded store (creating the file if
needed); ``Client.connect("temporal://host:7233/default")`` a Temporal cluster. The same
calls work whichever process runs the workers, through the client's backend
(:mod:`duragent._backend`).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar, Unpack, overload

from ._activity_handle import AsyncActivityHandle
from ._backend import (
    ActivityRef,
    ClientBackend,
    EmbeddedBackend,
    RunFilter,
    RunPage,
    connect_temporal,
    connection_options,
    is_temporal,
    open_store,
    sqlite_path,
)
from ._clock import Clock, SystemClock
from ._definitions import workflow_definition_of
from ._engine.cron import CronExpression, CronSyntaxError
from ._enum_input import enum_value
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
from ._list_filter import STATUS_NAMES, status_name
from ._listing import (
    WorkflowExecutionAsyncIterator,
    WorkflowExecutionCount,
    WorkflowExecutionCountAggregationGroup,
    split_group_by,
)
from ._search_attributes import check_filters, split_search_attributes
from .errors import ConfigurationError
from .schedule import (
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionResult,
    ScheduleActionStartWorkflow,
    ScheduleAsyncIterator,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleInfo,
    ScheduleIntervalSpec,
    ScheduleListActionStartWorkflow,
    ScheduleListDescription,
    ScheduleListInfo,
    ScheduleListSchedule,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
    definition_of,
    list_description,
    schedule_backend,
)
from .search_attributes import SearchAttributeKey, TypedSearchAttributes
from .serde import DEFAULT_MAX_PAYLOAD_BYTES, DataConverter
from .store.base import IdConflictPolicy, StartRequest, UpdateSpec
from .store.sqlite import SqliteStore

if TYPE_CHECKING:
    from temporalio.service import TLSConfig

    from .views.diff import RunDiff

__all__ = [
    "AsyncActivityHandle",
    "Client",
    # Schedules, as temporalio.client exports them (defined in duragent.schedule).
    "Schedule",
    "ScheduleActionExecutionStartWorkflow",
    "ScheduleActionResult",
    "ScheduleActionStartWorkflow",
    "ScheduleDescription",
    "ScheduleHandle",
    "ScheduleInfo",
    "ScheduleIntervalSpec",
    "ScheduleListActionStartWorkflow",
    "ScheduleListDescription",
    "ScheduleListInfo",
    "ScheduleListSchedule",
    "ScheduleOverlapPolicy",
    "SchedulePolicy",
    "ScheduleSpec",
    "ScheduleState",
    "ScheduleUpdate",
    "ScheduleUpdateInput",
    "WorkflowExecution",
    "WorkflowExecutionAsyncIterator",
    "WorkflowExecutionCount",
    "WorkflowExecutionCountAggregationGroup",
    "WorkflowHandle",
    "WorkflowStatus",
    "WorkflowUpdateHandle",
]


_S = TypeVar("_S")
_A = TypeVar("_A")
_R = TypeVar("_R")


class _StartOptions(TypedDict, total=False):
    """The keyword options of :meth:`Client.start_workflow` besides id, queue and types,
    spelled once for its typed overloads."""

    id_conflict_policy: str
    memo: dict[str, Any] | None
    search_attributes: Mapping[str, Any] | TypedSearchAttributes | None
    start_signal: str | None
    start_signal_args: Sequence[Any]
    cron_schedule: str


class Client:
    """Connection to wherever workflows live: the embedded store (default) or a Temporal
    cluster.

    Prefer :meth:`connect`. A client is cheap; share one per process. Every call goes
    through :attr:`backend` and never blocks the event loop, even when another process
    holds the database's write lock.

    Args:
        store: An embedded store to use (``Client(SqliteStore(path))``); or pass
            ``backend=`` instead.
        backend: The backend to use (see :mod:`duragent._backend`).
        converter: Payload conversion (and its size limit).
        clock: Time source of the embedded store (the test environment skips time).
        identity: Recorded as the sender of signals and updates.
        plugins: Plugins that extend the client (e.g. the OpenAI Agents plugin).

    Attributes:
        backend: Where calls go.
        converter: Payload conversion (and its size limit).
        clock: Time source (the test environment substitutes a skipping clock).
        identity: Recorded as the sender of signals and updates.
    """

    def __init__(
        self,
        store: SqliteStore | None = None,
        *,
        backend: ClientBackend | None = None,
        converter: DataConverter | None = None,
        clock: Clock | None = None,
        identity: str | None = None,
        plugins: Sequence[Any] = (),
    ) -> None:
        if (store is None) == (backend is None):
            raise ConfigurationError(
                "a Client needs exactly one of a store or backend=...; "
                "use `await Client.connect(address)`"
            )
        self.clock: Clock = clock or SystemClock()
        if store is not None:
            backend = EmbeddedBackend(store, clock=self.clock)
        assert backend is not None
        self.backend: ClientBackend = backend
        self.converter = converter or DataConverter()
        self.identity = identity or default_identity()
        self.plugins: tuple[Any, ...] = tuple(plugins)
        for plugin in self.plugins:
            configure = getattr(plugin, "configure_client", None)
            if configure is not None:
                configure(self)

    @property
    def store(self) -> SqliteStore:
        """The embedded store (what the embedded :class:`~duragent.Worker` and the test
        environment work on).

        Raises:
            ConfigurationError: This client is not on the embedded store.
        """
        backend = self.backend
        if isinstance(backend, EmbeddedBackend):
            return backend.store
        raise ConfigurationError(
            f"this client is connected to {backend.address}, which has no embedded store; "
            "client.store exists only for sqlite:// and memory:// addresses"
        )

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
        backend_options: Mapping[str, Any] | None = None,
        namespace: str | None = None,
        tls: bool | TLSConfig | None = None,
        api_key: str | None = None,
    ) -> Client:
        """Connect to ``target``, creating an embedded store if needed.

        Args:
            target: ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``, a plain
                file path, ``memory://`` (a private in-memory store), or
                ``temporal://host:port/namespace`` (a Temporal cluster; needs
                ``pip install 'duragent[temporal]'``).
            max_payload_bytes: Largest encoded argument/result accepted.
            synchronous: ``"NORMAL"`` (survives process crashes) or ``"FULL"`` (also power
                loss). Embedded store only.
            busy_timeout_ms: How long a write waits for another process's write lock
                before raising ``StoreLockedError`` (it waits off the event loop).
                Embedded store only.
            identity: Who is acting, recorded with signals and updates.
            plugins: Plugins that extend the client (e.g. the OpenAI Agents plugin).
            backend_options: Passed to the Temporal backend's ``connect_backend`` (more
                ``temporalio.client.Client.connect`` arguments: ``rpc_metadata``,
                ``connect_timeout``, ...).
            namespace: Temporal only: the namespace, as in temporalio (the address may name
                it instead: ``temporal://host:port/namespace``; naming two is an error).
            tls: Temporal only: ``True`` or a ``temporalio.service.TLSConfig`` (client
                certificate, server CA) for a server that serves TLS; None leaves
                temporalio's default (TLS on when ``api_key`` is given).
            api_key: Temporal only: the API key of Temporal Cloud or a secured server, sent
                with every call.

        The embedded store (``sqlite://``, a file path, ``memory://``) needs no namespace,
        TLS or API key: giving one of them for it raises ``ConfigurationError`` saying so,
        rather than being ignored (code written for Temporal may be pointed at a file by
        mistake).

        Raises:
            ConfigurationError: A malformed address, ``temporal://`` without the
                ``duragent[temporal]`` extra, a Temporal option for the embedded store, a
                namespace that differs from the address's, or a cluster that cannot be
                reached (or has no such namespace).
            StoreCorruptError: The file is not a Duragent database.
            StoreVersionError: The database was written by a newer Duragent.
        """
        converter = DataConverter(max_payload_bytes)
        options = connection_options(
            target,
            dict(backend_options or {}),
            {"namespace": namespace, "tls": tls, "api_key": api_key},
        )
        if is_temporal(target):
            identity = identity or default_identity()
            backend = await connect_temporal(target, identity=identity, **options)
            # A backend with a smaller payload limit (Temporal: 2 MiB) refuses bigger
            # payloads anyway: refuse them here, with the same error as embedded.
            limit = getattr(backend, "max_payload_bytes", max_payload_bytes)
            converter = DataConverter(min(max_payload_bytes, limit))
            return cls(backend=backend, converter=converter, identity=identity, plugins=plugins)
        store = await open_store(
            sqlite_path(target), synchronous=synchronous, busy_timeout_ms=busy_timeout_ms
        )
        # Workers in other processes then react to starts and signals at once, and
        # result() wakes as soon as they finish, instead of at the next poll.
        store.notifier.attach_loop(asyncio.get_running_loop())
        return cls(store, converter=converter, identity=identity, plugins=plugins)

    async def close(self) -> None:
        """Close the connection (queued calls finish first)."""
        await self.backend.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- starting ------------------------------------------------------------------------------

    def _workflow_ref(self, workflow: Any) -> tuple[str, Any, Sequence[Any]]:
        if isinstance(workflow, str):
            return workflow, None, ()
        defn = workflow_definition_of(workflow)
        arg_hints, result_hint = defn.hints
        return defn.name, result_hint, arg_hints

    @overload
    async def start_workflow(
        self,
        workflow: Callable[[_S], Awaitable[_R]],
        *,
        id: str,
        task_queue: str,
        **options: Unpack[_StartOptions],
    ) -> WorkflowHandle[_R]: ...
    @overload
    async def start_workflow(
        self,
        workflow: Callable[[_S, _A], Awaitable[_R]],
        arg: _A,
        *,
        id: str,
        task_queue: str,
        **options: Unpack[_StartOptions],
    ) -> WorkflowHandle[_R]: ...
    @overload
    async def start_workflow(
        self,
        workflow: str | type,
        arg: Any = ...,
        *,
        id: str,
        task_queue: str,
        args: Sequence[Any] = (),
        result_type: type[_R],
        **options: Unpack[_StartOptions],
    ) -> WorkflowHandle[_R]: ...
    @overload
    async def start_workflow(
        self,
        workflow: str | type,
        arg: Any = ...,
        *,
        id: str,
        task_queue: str,
        args: Sequence[Any] = (),
        result_type: Any = None,
        **options: Unpack[_StartOptions],
    ) -> WorkflowHandle[Any]: ...
    @overload
    async def start_workflow(
        self,
        workflow: Callable[..., Awaitable[Any]],
        *,
        id: str,
        task_queue: str,
        args: Sequence[Any],
        result_type: Any = None,
        **options: Unpack[_StartOptions],
    ) -> WorkflowHandle[Any]: ...
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
        search_attributes: Mapping[str, Any] | TypedSearchAttributes | None = None,
        start_signal: str | None = None,
        start_signal_args: Sequence[Any] = (),
        result_type: Any = None,
        cron_schedule: str = "",
    ) -> WorkflowHandle[Any]:
        """Start a workflow run.

        Args:
            workflow: The workflow's ``run`` method (``MyWorkflow.run``), class, or type name.
            arg: The single argument (or ``args=[...]`` for several).
            id: Workflow id, unique among running workflows.
            task_queue: Queue whose workers run it.
            id_conflict_policy: What to do when a run with this id is running: an
                :class:`IdConflictPolicy` or its value, ``"fail"`` (default),
                ``"use_existing"`` or ``"terminate_existing"``.
            memo: JSON-able facts stored with the run (shown by ``describe``).
            search_attributes: Indexed values to find the run by
                (``list_workflows(search_attributes=...)``): a mapping of name to str,
                int, float, bool, timezone-aware datetime or list of str, or a
                :class:`~duragent.search_attributes.TypedSearchAttributes` (see
                :func:`duragent.workflow.upsert_search_attributes`).
            start_signal: Signal-with-start: a signal delivered before the run's first line.
            start_signal_args: Arguments of ``start_signal``.
            result_type: Type to decode the result into (defaults to the run method's
                return annotation).
            cron_schedule: A five-field cron expression in UTC (Temporal's cron
                workflows, for code that still uses them; prefer
                :meth:`create_schedule`): the run starts now but its code first runs at
                the next matching time, and each time a run completes or fails the next
                run of this workflow id starts, with the same arguments, at the next
                matching time. Cancelling or terminating the current run ends it.
                ``handle.result()`` follows the runs (it returns when the chain ends).

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
        policy = enum_value(IdConflictPolicy, id_conflict_policy, "id_conflict_policy")
        attributes, attribute_types = split_search_attributes(
            search_attributes or {}, removals=False
        )
        if cron_schedule:
            try:
                CronExpression.parse(cron_schedule)
            except CronSyntaxError as err:
                raise ConfigurationError(f"cron_schedule: {err}") from None
        request = StartRequest(
            cron_schedule=cron_schedule,
            workflow_id=id,
            workflow_type=name,
            task_queue=task_queue,
            input=self.converter.encode_all(tuple(args), what="workflow argument"),
            memo=dict(memo or {}),
            search_attributes=attributes,
            search_attribute_types=attribute_types,
            id_conflict_policy=policy,
            signal_name=(signal_name(start_signal) if start_signal is not None else None),
            signal_input=self.converter.encode_all(
                tuple(start_signal_args), what="signal argument"
            ),
            identity=self.identity,
        )
        result = await self.backend.start_workflow(request)
        return WorkflowHandle(
            self,
            id,
            run_id=result.run_id,
            result_type=result_type if result_type is not None else result_hint,
        )

    @overload
    async def execute_workflow(
        self,
        workflow: Callable[[_S], Awaitable[_R]],
        *,
        id: str,
        task_queue: str,
        **options: Unpack[_StartOptions],
    ) -> _R: ...
    @overload
    async def execute_workflow(
        self,
        workflow: Callable[[_S, _A], Awaitable[_R]],
        arg: _A,
        *,
        id: str,
        task_queue: str,
        **options: Unpack[_StartOptions],
    ) -> _R: ...
    @overload
    async def execute_workflow(
        self,
        workflow: str | type,
        arg: Any = ...,
        *,
        id: str,
        task_queue: str,
        args: Sequence[Any] = (),
        result_type: type[_R],
        **options: Unpack[_StartOptions],
    ) -> _R: ...
    @overload
    async def execute_workflow(
        self,
        workflow: str | type,
        arg: Any = ...,
        *,
        id: str,
        task_queue: str,
        args: Sequence[Any] = (),
        result_type: Any = None,
        **options: Unpack[_StartOptions],
    ) -> Any: ...
    @overload
    async def execute_workflow(
        self,
        workflow: Callable[..., Awaitable[Any]],
        *,
        id: str,
        task_queue: str,
        args: Sequence[Any],
        result_type: Any = None,
        **options: Unpack[_StartOptions],
    ) -> Any: ...
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
        policy = enum_value(IdConflictPolicy, id_conflict_policy, "id_conflict_policy")
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
            id_conflict_policy=policy,
            update=spec,
            identity=self.identity,
        )
        started = await self.backend.start_workflow(request)
        handle: WorkflowUpdateHandle[Any] = WorkflowUpdateHandle(
            self,
            id,
            started.run_id,
            spec.update_id,
            result_type if result_type is not None else hint,
        )
        outcome = await handle._wait("accepted", None)  # pyright: ignore[reportPrivateUsage]
        handle._raise_if_rejected(outcome)  # pyright: ignore[reportPrivateUsage]
        return handle

    async def execute_update_with_start_workflow(
        self, workflow: Any, arg: Any = MISSING, **kwargs: Any
    ) -> Any:
        """Like :meth:`start_update_with_start_workflow`, returning the update's result."""
        handle = await self.start_update_with_start_workflow(workflow, arg, **kwargs)
        return await handle.result()

    async def fork(
        self,
        source_id: str,
        at_model_call: int,
        *,
        model: str | None = None,
        instructions: str | None = None,
        model_settings: Any = None,
        agent: str | None = None,
        tools: str = "live",
        models: str = "live",
        unmatched_tools: str = "live",
        allow_side_effects: bool = False,
        id: str | None = None,
        run_id: str | None = None,
        result_type: Any = None,
    ) -> WorkflowHandle[Any]:
        """Fork an agent run at model call ``at_model_call``: a new run that takes the
        source's first k-1 model calls and the tool calls between them from its history
        (no provider call, no token, no tool run again) and goes on live from call k with
        the overrides. The source is not changed. On Temporal the fork runs in cassette
        mode (see :mod:`duragent.temporal.fork`).

        Args:
            source_id: Workflow id of the run to fork (its latest run, or ``run_id``).
            at_model_call: k, counted from 1 as ``duragent show`` numbers model calls.
            model: Model name for calls from k on.
            instructions: System instructions for calls from k on.
            model_settings: Model settings (``agents.ModelSettings`` or a dict) merged
                over the recorded ones from k on.
            agent: Apply the overrides only to this agent's model calls.
            tools: ``"live"`` runs tool calls after the fork point; ``"recorded"`` serves
                those whose tool and arguments match a call the source recorded.
            models: ``"recorded"`` serves a model request identical to one the source
                recorded; ``"live"`` makes every call from k on.
            unmatched_tools: With recorded tools, what a call with no recording does:
                ``"live"`` (runs it), ``"dry_run"`` (the model is told the tool is
                unavailable) or ``"fail"`` (the run fails at its next model call).
            allow_side_effects: Let at-most-once tools run live in the fork (by default
                they are served from the recording or not run).
            id: Workflow id of the fork (default: ``<source>-fork-<random>``).
            run_id: Fork this run of ``source_id`` instead of its latest.
            result_type: Type to decode the fork's result into.

        Raises:
            ForkError: The source has no such model call, or cannot be cut there.
            ConfigurationError: A bad option, or a backend that cannot fork.
            WorkflowNotFoundError: No such workflow or run.
            WorkflowAlreadyStartedError: A run with ``id`` is running.
        """
        from ._fork.client_ops import ForkingBackend, fork_options

        options = fork_options(
            at_model_call,
            model=model,
            instructions=instructions,
            model_settings=model_settings,
            agent=agent,
            tools=tools,
            models=models,
            unmatched_tools=unmatched_tools,
            allow_side_effects=allow_side_effects,
        )
        new_id = id or f"{source_id}-fork-{uuid.uuid4().hex[:8]}"
        backend = self.backend
        if not isinstance(backend, ForkingBackend):
            raise ConfigurationError(f"the backend of {backend.address} cannot fork runs")
        started = await backend.fork_run(source_id, run_id, options, workflow_id=new_id)
        return WorkflowHandle(self, new_id, run_id=started.run_id, result_type=result_type)

    async def diff(
        self, a: str, b: str, *, run_a: str | None = None, run_b: str | None = None
    ) -> RunDiff:
        """Compare two agent runs (typically a run and its fork): their conversations
        aligned, the identical prefix collapsed, the first divergence, per-item
        differences, final outputs and usage. See :class:`duragent.views.diff.RunDiff`.

        Args:
            a: Workflow id of the first run (its latest run, or ``run_a``).
            b: Workflow id of the second run (its latest run, or ``run_b``).
        """
        from .views.diff import diff_histories

        backend = self.backend
        record_a = await backend.describe(a, run_a)
        record_b = await backend.describe(b, run_b)
        return diff_histories(
            (a, record_a.run_id, await backend.read_history(a, record_a.run_id)),
            (b, record_b.run_id, await backend.read_history(b, record_b.run_id)),
        )

    # -- schedules ------------------------------------------------------------------------------

    async def create_schedule(
        self, id: str, schedule: Schedule, *, trigger_immediately: bool = False
    ) -> ScheduleHandle:
        """Create a schedule that starts a workflow on a cron or interval spec (see
        :mod:`duragent.schedule`). On the embedded engine a running worker takes its
        actions.

        Args:
            id: The schedule id (unique).
            schedule: What to start, when, and how.
            trigger_immediately: Also take one action now.

        Raises:
            ScheduleAlreadyRunningError: A schedule with this id exists.
            ConfigurationError: A bad spec (cron syntax, interval) or policy.
            SerializationError: An argument of the action cannot be serialized.
        """
        if not id:
            raise ConfigurationError("a schedule id is required")
        definition = definition_of(self, schedule)
        await schedule_backend(self).create_schedule(
            id, definition, trigger_immediately=trigger_immediately
        )
        return ScheduleHandle(self, id)

    def get_schedule_handle(self, id: str) -> ScheduleHandle:
        """A handle to an existing schedule (nothing is checked until it is used)."""
        return ScheduleHandle(self, id)

    async def list_schedules(self) -> ScheduleAsyncIterator:
        """Every schedule, by id: ``async for s in await client.list_schedules(): ...``
        (as in temporalio). On Temporal the list is eventually consistent."""
        records = await schedule_backend(self).list_schedules()
        return ScheduleAsyncIterator([list_description(r) for r in records])

    # -- handles --------------------------------------------------------------------------------

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

    def get_async_activity_handle(
        self,
        *,
        task_token: bytes | None = None,
        workflow_id: str | None = None,
        run_id: str | None = None,
        activity_id: str | None = None,
    ) -> AsyncActivityHandle:
        """A handle to complete, fail, heartbeat or report cancelled an activity whose
        function called ``activity.raise_complete_async()``.

        Address it by ``task_token`` (``activity.info().task_token``: that attempt), or by
        ``workflow_id`` and ``activity_id`` (``activity.info().activity_id``: the
        activity's current attempt, in ``run_id`` or the workflow's latest run).

        Raises:
            ConfigurationError: Neither or both ways of addressing were given.
        """
        by_id = workflow_id is not None or activity_id is not None or run_id is not None
        if (task_token is None) == (not by_id) or (
            by_id and (workflow_id is None or activity_id is None)
        ):
            raise ConfigurationError(
                "get_async_activity_handle needs either task_token=..., or workflow_id=... "
                "and activity_id=... (with an optional run_id), not both"
            )
        return AsyncActivityHandle(
            self,
            ActivityRef(
                task_token=task_token,
                workflow_id=workflow_id,
                run_id=run_id,
                activity_id=activity_id,
            ),
        )

    def list_workflows(
        self,
        query: str | None = None,
        *,
        status: str | None = None,
        workflow_type: str | None = None,
        workflow_id_prefix: str | None = None,
        limit: int | None = None,
        page_size: int = 1000,
        task_failing: bool = False,
        waiting_for_approval: bool = False,
        search_attributes: Mapping[str, Any]
        | Sequence[tuple[str | SearchAttributeKey[Any], Any]]
        | TypedSearchAttributes
        | None = None,
    ) -> WorkflowExecutionAsyncIterator:
        """Runs, newest first, optionally filtered (conditions combine with AND).

        ``await`` the result for a list of at most ``limit`` runs (100 when no limit is
        given), or iterate it with ``async for`` (as with temporalio) for every run it
        selects, up to ``limit``.

        Args:
            query: A Temporal list filter, such as ``"WorkflowType = 'Order' AND
                ExecutionStatus = 'Running' AND StartTime > '2026-01-01T00:00:00Z'"``:
                ``= != > >= < <=``, ``IN``, ``BETWEEN``, ``STARTS_WITH``, ``IS [NOT] NULL``,
                ``AND``, ``OR`` and parentheses, on ``WorkflowId``, ``RunId``,
                ``WorkflowType``, ``TaskQueue``, ``ExecutionStatus``, ``StartTime``,
                ``ExecutionTime``, ``CloseTime``, ``HistoryLength``, ``HistorySizeBytes``,
                ``ParentWorkflowId``, ``ParentRunId`` and custom search attributes. On
                Temporal the server reads it; the embedded engine reads the same language.
            status: Only runs with this :class:`WorkflowStatus` (or its value).
            workflow_type: Only runs of this workflow type.
            workflow_id_prefix: Only workflow ids starting with this.
            limit: At most this many runs.
            page_size: Runs read per page while iterating.
            task_failing: Only running runs whose workflow task keeps failing.
            waiting_for_approval: Only running runs with a tool call waiting for a human
                decision.
            search_attributes: Only runs whose search attributes equal these values (a
                list-valued attribute matches when it contains the value); ``(name,
                value)`` pairs may repeat a name (``[("Tags", "eu"), ("Tags", "vip")]``)
                and name a typed key instead (its value is checked against its type).

        Raises:
            ConfigurationError: A bad filter: a list filter that does not parse (the
                message says where), a bad search attribute name or value, a limit or
                page size below 1 (raised when the runs are read).
        """
        if split_group_by(query)[1]:
            raise ConfigurationError(
                f"list filter {query!r}: GROUP BY is not supported in a list (count_workflows "
                "counts GROUP BY ExecutionStatus)"
            )
        run_filter = RunFilter(
            status=None if status is None else enum_value(WorkflowStatus, status, "status"),
            workflow_type=workflow_type,
            workflow_id_prefix=workflow_id_prefix,
            task_failing=task_failing,
            waiting_for_approval=waiting_for_approval,
            search_attributes=check_filters(search_attributes or ()),
            query=query,
        )
        if limit is not None and limit < 1:
            raise ConfigurationError(f"limit must be positive (or None), got {limit}")
        if page_size < 1:
            raise ConfigurationError(f"page_size must be positive, got {page_size}")

        def read(size: int, token: str | None) -> Awaitable[RunPage]:
            return self.backend.list_runs(run_filter, page_size=size, page_token=token)

        return WorkflowExecutionAsyncIterator(read, limit=limit, page_size=page_size)

    async def count_workflows(self, query: str | None = None) -> WorkflowExecutionCount:
        """How many runs the list filter ``query`` selects (every run when None); see
        :meth:`list_workflows` for the language. A query that ends with ``GROUP BY
        ExecutionStatus`` also counts each status (``groups``: one per status that has
        runs, its ``group_values`` the status's name, such as ``["Running"]``).

        Raises:
            ConfigurationError: A list filter that does not parse, or another ``GROUP BY``.
        """
        where, grouped = split_group_by(query)
        if not grouped:
            return WorkflowExecutionCount(await self.backend.count_runs(RunFilter(query=where)))
        counts = await self.backend.count_runs_by_status(RunFilter(query=where))
        order = list(STATUS_NAMES)
        groups = tuple(
            WorkflowExecutionCountAggregationGroup(n, [status_name(status)])
            for status, n in sorted(
                counts.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99
            )
            if n
        )
        return WorkflowExecutionCount(sum(counts.values()), groups)


def default_identity() -> str:
    """``pid@host``: who a client is when it is not told."""
    return f"{os.getpid()}@{os.uname().nodename}"


def new_workflow_id(prefix: str = "wf") -> str:
    """A random workflow id (for callers that do not care to choose one)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"
