"""A Duragent worker on Temporal: a ``temporalio`` worker built from Duragent's workflow and
activity definitions.

How the definitions reach temporalio:

- Workflows: temporalio runs one *dynamic* workflow class, :class:`DuragentWorkflow`, for
  every workflow type; a per-worker interceptor finds the Duragent definition of the run's
  type, builds the user's object and forwards the run method, signals, queries, updates and
  update validators to it (``_instance.py``), with the :class:`~duragent._runtime.
  WorkflowRuntime` context set (``_runtime.py``). The user's classes are never modified.
- Activities: one dynamic temporalio activity runs them all (``_activities.py``).
- Workflows run **unsandboxed**: temporalio's sandbox re-imports each workflow module for
  every run and only knows classes carrying temporalio's own decorator. The embedded engine
  does not sandbox either, so the determinism rules a user follows are the same on both
  backends (use ``workflow.now()``, ``random()``, ``uuid4()``, activities for I/O).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any, Self

import temporalio.client
import temporalio.converter
import temporalio.worker
import temporalio.workflow as tw
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.common import RawValue

from .._definitions import collect_workflows
from .._engine.instance import DEFAULT_CONTINUE_AS_NEW_THRESHOLD
from .._worker.intercepted import check_interceptors
from .._worker.process_pool import is_process_pool
from ..client import Client
from ..errors import ConfigurationError
from ..interceptor import Interceptor
from ..serde import DataConverter
from ..store.sqlite import SqliteStore
from ..worker import DEFAULT_STREAM_RETENTION, Worker, retention_ms
from ._activities import ActivityDispatcher
from ._instance import TemporalWorkflowInstance
from ._payloads import (
    DEFAULT_TEMPORAL_MAX_PAYLOAD_BYTES,
    PayloadBridge,
    TemporalJSONPayloadConverter,
)
from ._runtime import WorkerSettings
from ._stream_expiry import check_period_s, expire_step
from .backend import TemporalBackend
from .streams import AttemptStreams, now_ms

__all__ = ["DuragentWorkflow", "TemporalWorker", "temporal_data_converter"]

log = logging.getLogger("duragent.worker")


def temporal_data_converter(
    payload_codec: temporalio.converter.PayloadCodec | None = None,
) -> temporalio.converter.DataConverter:
    """temporalio's data converter for Duragent: JSON (``json/plain``) by pydantic-core,
    with ``payload_codec`` (e.g. :class:`~duragent.temporal.codec.ChunkTreeCodec`) if given."""
    return temporalio.converter.DataConverter(
        payload_converter_class=TemporalJSONPayloadConverter, payload_codec=payload_codec
    )


@tw.defn(dynamic=True, sandboxed=False)
class DuragentWorkflow:
    """The one temporalio workflow class behind every Duragent workflow type (its handlers
    only exist so that temporalio delivers every message; the worker's interceptor answers
    them)."""

    @tw.init
    def __init__(self, args: Sequence[RawValue]) -> None:
        self.args = args

    @tw.run
    async def run(self, args: Sequence[RawValue]) -> RawValue:
        raise RuntimeError("DuragentWorkflow runs only on a Duragent worker")

    @tw.signal(dynamic=True, unfinished_policy=tw.HandlerUnfinishedPolicy.ABANDON)
    async def signal(self, name: str, args: Sequence[RawValue]) -> None:
        raise RuntimeError("DuragentWorkflow runs only on a Duragent worker")

    @tw.query(dynamic=True)
    def query(self, name: str, args: Sequence[RawValue]) -> RawValue:
        raise RuntimeError("DuragentWorkflow runs only on a Duragent worker")

    @tw.update(dynamic=True, unfinished_policy=tw.HandlerUnfinishedPolicy.ABANDON)
    async def update(self, name: str, args: Sequence[RawValue]) -> RawValue:
        raise RuntimeError("DuragentWorkflow runs only on a Duragent worker")

    @update.validator
    def validate(self, name: str, args: Sequence[RawValue]) -> None:
        raise RuntimeError("DuragentWorkflow runs only on a Duragent worker")


class WorkflowInterceptor(temporalio.worker.Interceptor):
    """Forwards every workflow of a worker (or replayer) to its Duragent definition."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings

    def workflow_interceptor_class(
        self, input: temporalio.worker.WorkflowInterceptorClassInput
    ) -> type[temporalio.worker.WorkflowInboundInterceptor]:
        settings = self.settings

        class Inbound(temporalio.worker.WorkflowInboundInterceptor):
            instance: TemporalWorkflowInstance | None = None

            def _get(self) -> TemporalWorkflowInstance:
                if self.instance is None:
                    info = tw.info()
                    definition = settings.definitions.get(info.workflow_type)
                    if definition is None:
                        known = ", ".join(sorted(settings.definitions)) or "none"
                        # Not a failure of the workflow: its task is retried, so a worker
                        # that knows the type can run it.
                        raise RuntimeError(
                            f"workflow type {info.workflow_type!r} is not registered on this "
                            f"worker of task queue {info.task_queue!r} (known: {known})"
                        )
                    shim = tw.instance()
                    assert isinstance(shim, DuragentWorkflow)
                    self.instance = TemporalWorkflowInstance(settings, definition, shim.args)
                return self.instance

            async def execute_workflow(self, input: temporalio.worker.ExecuteWorkflowInput) -> Any:
                return await self._get().run()

            async def handle_signal(self, input: temporalio.worker.HandleSignalInput) -> None:
                await self._get().handle_signal(input.signal, input.args[1])

            async def handle_query(self, input: temporalio.worker.HandleQueryInput) -> Any:
                return self._get().handle_query(input.query, input.args[1], input.id)

            def handle_update_validator(self, input: temporalio.worker.HandleUpdateInput) -> None:
                self._get().validate_update(input.update, input.args[1], input.id)

            async def handle_update_handler(
                self, input: temporalio.worker.HandleUpdateInput
            ) -> Any:
                return await self._get().handle_update(input.update, input.args[1], input.id)

        return Inbound


class TemporalWorker(Worker):
    """Runs Duragent workflows and activities of one task queue on a Temporal cluster.

    ``duragent.Worker(client, ...)`` builds one of these when ``client`` is connected to
    ``temporal://...``; it takes the same arguments, plus:

    Args:
        client: A Duragent client on Temporal (or a ``temporalio`` client: its data
            converter is replaced by Duragent's).
        at_most_once_heartbeat_timeout: Heartbeat timeout given to at-most-once calls that
            set none: how long a crashed worker's at-most-once attempt takes to be reported
            as interrupted. The worker heartbeats for them meanwhile.
        activity_heartbeat_timeout: Heartbeat timeout given to every other activity call
            (model calls and tools included) that sets none, the worker heartbeating for
            them: an attempt whose worker died is retried after this instead of after its
            start-to-close timeout. Off by default (it costs a heartbeat per attempt).
        temporal_options: More ``temporalio.worker.Worker`` arguments (for example
            ``sticky_queue_schedule_to_start_timeout``).
        stream_store: Where streamed model calls (``Runner.run_streamed``) publish their
            tokens: a Duragent SQLite file (path or ``sqlite:///`` URL) outside Temporal's
            history (:mod:`duragent.temporal.streams`). Default: the client's
            (``temporal://...?stream_store=PATH``). Without one, streamed calls answer
            whole (nothing is published).
        stream_retention: How long a closed run keeps its token stream in the stream
            store (default 7 days, as on the embedded engine; None: for ever). The worker
            lists the runs whose streams may be due and asks Temporal which closed that
            long ago (once a minute, :mod:`duragent.temporal._stream_expiry`).
        run_retention: Accepted for the same code on both backends; closed runs are
            removed by the namespace's retention period instead (a warning says so when
            it is given).

    Not on Temporal: a ``ProcessPoolExecutor`` for activities (``shared_state_manager``),
    and crash detection by dead process (Temporal detects a dead worker by timeouts).
    """

    def __new__(cls, client: Client | temporalio.client.Client, *args: Any, **kwargs: Any) -> Self:
        return object.__new__(cls)

    def __init__(
        self,
        client: Client | temporalio.client.Client,
        *,
        task_queue: str,
        workflows: Sequence[type] = (),
        activities: Sequence[Callable[..., Any]] = (),
        max_concurrent_activities: int = 100,
        max_cached_workflows: int = 1000,
        activity_executor: Executor | None = None,
        shared_state_manager: Any = None,
        graceful_shutdown_timeout: timedelta = timedelta(0),
        identity: str | None = None,
        plugins: Sequence[Any] = (),
        continue_as_new_threshold: int = DEFAULT_CONTINUE_AS_NEW_THRESHOLD,
        workflow_failure_exception_types: Sequence[type[BaseException]] = (),
        at_most_once_heartbeat_timeout: timedelta = timedelta(seconds=30),
        activity_heartbeat_timeout: timedelta | None = None,
        temporal_options: dict[str, Any] | None = None,
        stream_store: str | Path | SqliteStore | None = None,
        stream_retention: timedelta | None = DEFAULT_STREAM_RETENTION,
        run_retention: timedelta | None = None,
        interceptors: Sequence[Interceptor] = (),
    ) -> None:
        if not task_queue:
            raise ConfigurationError("a task queue is required")
        if retention_ms(run_retention) is not None:
            log.warning(
                "run_retention is not applied on Temporal: the namespace's retention period "
                "removes closed runs (temporal operator namespace update --retention)"
            )
        self._stream_retention_ms = retention_ms(stream_retention, "stream_retention", zero_ok=True)
        if max_concurrent_activities < 1:
            raise ConfigurationError("max_concurrent_activities must be >= 1")
        if shared_state_manager is not None:
            raise ConfigurationError(
                "shared_state_manager is for a ProcessPoolExecutor, which a worker on "
                "Temporal does not support yet"
            )
        if isinstance(client, temporalio.client.Client):
            client = Client(backend=TemporalBackend(client))
        backend = client.backend
        if not isinstance(backend, TemporalBackend):
            raise ConfigurationError(
                f"a TemporalWorker needs a client connected to Temporal, not {backend.address}"
            )
        self.client = client
        if stream_store is None:
            stream_store = backend.streams.configured
        self.task_queue = task_queue
        self.workflows: list[type] = list(workflows)
        self.activities: list[Callable[..., Any]] = list(activities)
        self.plugins = tuple(plugins)
        self.interceptors: list[Interceptor] = list(interceptors)
        self.workflow_failure_exception_types: list[type[BaseException]] = list(
            workflow_failure_exception_types
        )
        self.run_state_defaults: dict[str, Any] = {}
        for plugin in (*client.plugins, *self.plugins):
            configure = getattr(plugin, "configure_worker", None)
            if configure is not None:
                configure(self)
        self.worker_id = identity or f"{os.uname().nodename}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        definitions = collect_workflows(self.workflows, self.workflow_failure_exception_types)
        # The embedded worker's rules (one dynamic activity, unique names, bound methods).
        activity_defs, dynamic = self._collect_activities(self.activities)
        if not definitions and not activity_defs and dynamic is None:
            raise ConfigurationError("a worker needs at least one workflow or activity")
        interceptors_checked = check_interceptors(self.interceptors)
        self.converter = DataConverter(
            min(client.converter.max_payload_bytes, DEFAULT_TEMPORAL_MAX_PAYLOAD_BYTES)
        )
        bridge = PayloadBridge(self.converter)
        self.settings = WorkerSettings(
            bridge=bridge,
            definitions=definitions,
            run_state_defaults=self.run_state_defaults,
            continue_as_new_threshold=continue_as_new_threshold,
            at_most_once_heartbeat=at_most_once_heartbeat_timeout,
            activity_heartbeat=activity_heartbeat_timeout,
            interceptors=interceptors_checked,
        )
        if activity_executor is not None and is_process_pool(activity_executor):
            raise ConfigurationError(
                "a ProcessPoolExecutor for activities is not supported on Temporal yet; use "
                "the default thread pool or async activities"
            )
        self._own_executor = activity_executor is None
        self._executor = activity_executor or ThreadPoolExecutor(
            max_workers=max_concurrent_activities, thread_name_prefix="duragent-activity"
        )
        config = backend.client.config()
        # Duragent's converter, with the client's codec (every worker must use the same).
        config["data_converter"] = temporal_data_converter(
            backend.client.data_converter.payload_codec
        )
        self.temporal_client = temporalio.client.Client(**config)
        self._dispatcher = (
            ActivityDispatcher(
                bridge=bridge,
                activities=activity_defs,
                dynamic=dynamic,
                executor=self._executor,
                worker_id=self.worker_id,
                client=self.temporal_client,
                interceptors=interceptors_checked,
                streams=(
                    AttemptStreams(stream_store, self.temporal_client.namespace)
                    if stream_store is not None
                    else None
                ),
            )
            if activity_defs or dynamic is not None
            else None
        )
        self._options: dict[str, Any] = {
            "max_concurrent_activities": max_concurrent_activities,
            "max_cached_workflows": max_cached_workflows,
            "graceful_shutdown_timeout": graceful_shutdown_timeout,
            "identity": self.worker_id,
            **(temporal_options or {}),
        }
        self._worker: temporalio.worker.Worker | None = None
        self._task: asyncio.Task[None] | None = None
        self._expiry: asyncio.Task[None] | None = None

    async def _has_search_attribute(self, name: str) -> bool:
        try:
            listed = await self.temporal_client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=self.temporal_client.namespace)
            )
        except Exception as err:  # e.g. no permission on a hosted namespace
            log.info("cannot list search attributes (%s): %s is not kept", err, name)
            return False
        return name in listed.custom_attributes

    async def start(self) -> None:
        """Build the temporalio worker and start polling."""
        if self._worker is not None:
            raise ConfigurationError("the worker is already running")
        if self.settings.definitions:
            self.settings.pending_approvals_attribute = await self._has_search_attribute(
                "DuragentPendingApprovals"
            )
        self._worker = temporalio.worker.Worker(
            self.temporal_client,
            task_queue=self.task_queue,
            workflows=[DuragentWorkflow] if self.settings.definitions else [],
            activities=[self._dispatcher.temporal_activity] if self._dispatcher else [],
            interceptors=[WorkflowInterceptor(self.settings)],
            workflow_runner=temporalio.worker.UnsandboxedWorkflowRunner(),
            **self._options,
        )
        if self._dispatcher is not None and self._dispatcher.streams is not None:
            self._dispatcher.streams.start()
            if self._stream_retention_ms is not None:
                self._expiry = asyncio.get_running_loop().create_task(
                    self._expire_streams(self._dispatcher.streams, self._stream_retention_ms),
                    name=f"duragent-stream-expiry-{self.task_queue}",
                )
        self._task = asyncio.get_running_loop().create_task(
            self._worker.run(), name=f"duragent-temporal-worker-{self.task_queue}"
        )
        await asyncio.sleep(0)

    async def run(self) -> None:
        """Start (if needed) and run until :meth:`shutdown` or cancellation."""
        if self._task is None:
            await self.start()
        assert self._task is not None
        try:
            await asyncio.shield(self._task)
        finally:
            await self.shutdown()

    async def _expire_streams(self, streams: AttemptStreams, retention: int) -> None:
        """Drop the stream-store rows of runs closed longer than ``retention`` ms ago, a
        batch at a time, until the worker stops (trouble is logged and tried again)."""
        period = check_period_s(retention)
        while True:
            more = False
            try:
                more = await expire_step(
                    streams.store, self.temporal_client, streams.namespace, retention, now_ms()
                )
            except asyncio.CancelledError:
                raise
            except Exception as err:  # the store, or Temporal, unavailable for a while
                log.warning("could not expire token streams: %s", err)
            await asyncio.sleep(0.05 if more else period)

    async def shutdown(self) -> None:
        """Stop polling and let running activities finish (up to the graceful timeout)."""
        expiry, self._expiry = self._expiry, None
        if expiry is not None:
            expiry.cancel()
            with contextlib.suppress(BaseException):
                await expiry
        worker, self._worker = self._worker, None
        task, self._task = self._task, None
        if worker is not None:
            with contextlib.suppress(Exception):
                await worker.shutdown()
        if task is not None:
            with contextlib.suppress(BaseException):
                await task
        if self._own_executor and isinstance(self._executor, ThreadPoolExecutor):
            self._executor.shutdown(wait=False, cancel_futures=True)
        if self._dispatcher is not None and self._dispatcher.streams is not None:
            self._dispatcher.streams.stop()

    async def __aenter__(self) -> TemporalWorker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()
