"""The worker: polls a task queue and runs workflow tasks and activity tasks.

Start as many workers (in as many processes) as you like against one store; each task runs
on one worker at a time. A worker that dies is noticed at once by the others on the same
machine (its process is gone), and its work is picked up immediately.

Example::

    async with Worker(client, task_queue="agents", workflows=[Weather],
                      activities=[get_weather_alerts]):
        ...  # workflows on "agents" make progress while the block runs
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from datetime import timedelta
from typing import Any, Final

from ._backend.worker_store import WorkerStore
from ._clock import ClockEpoch, clock_epoch
from ._definitions import (
    ActivityDefinition,
    collect_workflows,
    describe_callable,
    get_activity_definition,
)
from ._engine.instance import DEFAULT_CONTINUE_AS_NEW_THRESHOLD
from ._worker.activities import ActivityRunner
from ._worker.cache import RunCache
from ._worker.eager import EagerHandoff
from ._worker.intercepted import check_interceptors
from ._worker.invoke import FunctionRunner
from ._worker.local_activities import LocalActivities
from ._worker.process_pool import (
    SharedStateManager,
    check_picklable,
    is_process_pool,
)
from ._worker.watchdog import Watchdog
from ._worker.workflow_tasks import WorkflowTaskProcessor
from .client import Client
from .errors import ConfigurationError, StoreError, StoreFileChangedError
from .interceptor import Interceptor
from .store._maintenance import CLOCK_STEP_MS
from .store._retention import PRUNE_STEP
from .store._streams import EXPIRE_STEP
from .store.base import ActivityTask, WorkerRegistration, WorkflowTask
from .store.liveness import process_start_marker, this_host
from .store.notify import Listener

__all__ = ["SharedStateManager", "Worker"]

log = logging.getLogger("duragent.worker")

_IDLE_POLL_S: Final = 1.0
_HOUSEKEEPING_MAX_SLEEP_S: Final = 0.5
_WORKER_HEARTBEAT_S: Final = 10.0
_BATCH_MAX_TASKS: Final = 32
_BATCH_MAX_S: Final = 0.005
DEFAULT_STREAM_RETENTION: Final = timedelta(days=7)
_RETENTION_PERIOD_S: Final = 60.0
"""How often a worker with ``run_retention`` looks for closed runs to remove."""
_PAYLOAD_COLLECT_PERIOD_S: Final = 3600.0
"""At most how often a worker with ``run_retention`` reclaims payloads, after it removed
runs (the collection reads every event, in a child process)."""
_RETENTION_BACKLOG_S: Final = 0.05
"""How soon it takes the next step when the last one removed a full step's worth (a
backlog, e.g. retention turned on for a file that kept everything): the write lock and the
worker's loop are free between steps."""
_RETRY_FIRST_S: Final = 0.1
_RETRY_MAX_S: Final = 2.0


class Worker:
    """Runs the workflows and activities of one task queue.

    On a client connected to Temporal (``temporal://...``) this builds a
    :class:`~duragent.temporal.worker.TemporalWorker` (a subclass taking the same
    arguments): the same code runs on the cluster.

    Args:
        client: The client whose store to work on.
        task_queue: The queue to poll.
        workflows: ``@workflow.defn`` classes this worker runs.
        activities: ``@activity.defn`` functions this worker runs (at most one dynamic).
        max_concurrent_activities: Activity attempts running at once.
        max_cached_workflows: Workflow instances kept in memory; others are evicted and
            rebuilt by replay when they have work, so waiting workflows cost no memory.
        activity_executor: Runs sync activities; defaults to a thread pool of
            ``max_concurrent_activities`` threads. A ``ProcessPoolExecutor`` works too
            (for CPU-bound activities): each sync activity must then be picklable
            (checked here), and heartbeats and cancellation cross the process boundary
            through ``shared_state_manager``.
        shared_state_manager: For a process-pool executor: the
            :class:`SharedStateManager` that relays heartbeats and cancellation
            (default: one on a ``multiprocessing.Manager()`` this worker starts and stops).
        graceful_shutdown_timeout: How long shutdown lets running activities finish before
            cancelling them and handing their tasks back (retried at once elsewhere).
        identity: Worker id recorded in history; defaults to host, pid and a random suffix.
        plugins: Plugins that add workflows/activities or adjust the worker
            (``plugin.configure_worker(worker)`` is called before validation).
        continue_as_new_threshold: History length at which
            ``workflow.info().is_continue_as_new_suggested()`` turns true.
        workflow_failure_exception_types: Exception types that fail a workflow (rather
            than its task) when raised from any workflow this worker runs.
        stream_retention: How long a closed run keeps its durable token stream (what
            ``handle.stream()`` and ``duragent watch`` replay); afterwards subscribers get
            its recorded responses whole. Workers drop expired streams as they go.
            None keeps every stream.
        run_retention: How long a closed run is kept (default: for ever). Runs closed
            longer ago are removed with their history, attempts, updates, usage entries
            and stream, as ``duragent prune --older-than`` removes them: checked every
            minute, at most 200 runs per transaction (a backlog drains a step every 50
            ms). Running runs are never removed. Payloads stay (see ``duragent prune``).
            On Temporal the namespace's retention period applies instead.
        interceptors: :class:`~duragent.interceptor.Interceptor` instances that wrap
            every activity attempt (and local activity), the first outermost; see
            :mod:`duragent.interceptor`.
    """

    def __new__(cls, client: Client, *args: Any, **kwargs: Any) -> Worker:
        # A backend whose workers are not Duragent's (Temporal) names the class to build:
        # ``Worker(client, ...)`` then returns one of those (a Worker subclass).
        worker_class = getattr(getattr(client, "backend", None), "worker_class", None)
        if cls is Worker and worker_class is not None:
            return super().__new__(worker_class())
        return super().__new__(cls)

    def __init__(
        self,
        client: Client,
        *,
        task_queue: str,
        workflows: Sequence[type] = (),
        activities: Sequence[Callable[..., Any]] = (),
        max_concurrent_activities: int = 100,
        max_cached_workflows: int = 1000,
        activity_executor: Executor | None = None,
        shared_state_manager: SharedStateManager | None = None,
        graceful_shutdown_timeout: timedelta = timedelta(0),
        identity: str | None = None,
        plugins: Sequence[Any] = (),
        continue_as_new_threshold: int = DEFAULT_CONTINUE_AS_NEW_THRESHOLD,
        workflow_failure_exception_types: Sequence[type[BaseException]] = (),
        stream_retention: timedelta | None = DEFAULT_STREAM_RETENTION,
        run_retention: timedelta | None = None,
        interceptors: Sequence[Interceptor] = (),
    ) -> None:
        if not task_queue:
            raise ConfigurationError("a task queue is required")
        if max_concurrent_activities < 1:
            raise ConfigurationError("max_concurrent_activities must be >= 1")
        self._run_retention_ms = retention_ms(run_retention)
        self._pruned_runs = False
        """Runs were removed since the last payload collection."""
        self._collected_at = -_PAYLOAD_COLLECT_PERIOD_S
        """When the last payload collection started (loop time)."""
        self._collecting: asyncio.Task[None] | None = None
        self._collect_stop = asyncio.Event()
        self.client = client
        self.task_queue = task_queue
        self.workflows: list[type] = list(workflows)
        self.activities: list[Callable[..., Any]] = list(activities)
        self.plugins = tuple(plugins)
        self.interceptors: list[Interceptor] = list(interceptors)
        """Wrap every activity attempt (``duragent.interceptor``); plugins may add theirs."""
        self.workflow_failure_exception_types: list[type[BaseException]] = list(
            workflow_failure_exception_types
        )
        self.run_state_defaults: dict[str, Any] = {}
        """What every workflow run this worker executes starts with in its run state:
        plugins keep their per-worker settings here (see ``WorkflowRuntime.run_state``)."""
        for plugin in (*client.plugins, *self.plugins):
            configure = getattr(plugin, "configure_worker", None)
            if configure is not None:
                configure(self)
        self.worker_id = identity or f"{this_host()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._workflow_defs = collect_workflows(
            self.workflows, self.workflow_failure_exception_types
        )
        self._activity_defs, self._dynamic = self._collect_activities(self.activities)
        if not self._workflow_defs and not self._activity_defs and self._dynamic is None:
            raise ConfigurationError("a worker needs at least one workflow or activity")
        self._grace = graceful_shutdown_timeout.total_seconds()
        self._stream_retention_ms = retention_ms(stream_retention, "stream_retention", zero_ok=True)
        self._own_executor = activity_executor is None
        self._executor = activity_executor or ThreadPoolExecutor(
            max_workers=max_concurrent_activities, thread_name_prefix="duragent-activity"
        )
        self._process_pool = is_process_pool(self._executor)
        if self._process_pool:
            for defn in (*self._activity_defs.values(), self._dynamic):
                if defn is not None and not defn.is_async:
                    check_picklable(defn)
        self._shared_state = shared_state_manager
        self._functions = FunctionRunner(
            client.converter, self._executor, check_interceptors(self.interceptors)
        )
        self.cache = RunCache(max_cached_workflows)
        self._watchdog = Watchdog(_describe_task)
        store: WorkerStore = client.store
        claim_workflow_for = (
            (self.worker_id, task_queue, list(self._workflow_defs)) if self._workflow_defs else None
        )
        handoff = EagerHandoff(task_queue, claim_workflow_for, self._watchdog)
        self._activities = ActivityRunner(
            store=store,
            converter=client.converter,
            clock=client.clock,
            worker_id=self.worker_id,
            activities=self._activity_defs,
            dynamic=self._dynamic,
            functions=self._functions,
            max_concurrent=max_concurrent_activities,
            handoff=handoff,
        )
        self._workflow_tasks = WorkflowTaskProcessor(
            store=store,
            converter=client.converter,
            clock=client.clock,
            worker_id=self.worker_id,
            definitions=self._workflow_defs,
            cache=self.cache,
            handoff=handoff,
            continue_as_new_threshold=continue_as_new_threshold,
            run_state_defaults=self.run_state_defaults,
            interceptors=self._functions.interceptors,
        )
        has_activities = bool(self._activity_defs) or self._dynamic is not None
        handoff.connect(self._workflow_tasks, self._activities if has_activities else None)
        self._workflow_tasks.local = LocalActivities(
            store=store,
            clock=client.clock,
            worker_id=self.worker_id,
            functions=self._functions,
            activities=self._activity_defs,
            dynamic=self._dynamic,
            finish=self._workflow_tasks.finish_local,
            fail=self._workflow_tasks.fail_local,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._task_cost = 0.0
        """Seconds a workflow task takes to process, smoothed (sizes the batches)."""
        self._unrecorded: list[WorkflowTask] = []
        self._retry_at = 0.0
        self._retry_delay = 0.0
        self._trouble: str | None = None
        self._failure: StoreFileChangedError | None = None
        """Why the worker stopped by itself (see run())."""
        self._clock_epoch: ClockEpoch | None = None
        self._started = False
        self._stop: asyncio.Event | None = None

    # -- registration ----------------------------------------------------------------------

    @staticmethod
    def _collect_activities(
        activities: Sequence[Callable[..., Any]],
    ) -> tuple[dict[str, ActivityDefinition], ActivityDefinition | None]:
        out: dict[str, ActivityDefinition] = {}
        dynamic: ActivityDefinition | None = None
        for fn in activities:
            defn = get_activity_definition(fn)
            if defn is None:
                raise ConfigurationError(
                    f"{describe_callable(fn)!r} is not an @activity.defn function"
                )
            if defn.unbound_method or isinstance(fn, type):
                what = "method" if defn.unbound_method else "class"
                raise ConfigurationError(
                    f"activity {describe_callable(fn)!r} is a {what}: register it bound to an "
                    "instance that holds what it needs, e.g. "
                    "Worker(activities=[MyActivities(db).fetch]) or [MyCallable(db)]"
                )
            if defn.dynamic:
                if dynamic is not None and dynamic.fn != defn.fn:
                    raise ConfigurationError("a worker can have only one dynamic activity")
                dynamic = defn
                continue
            if defn.name in out and out[defn.name].fn != defn.fn:
                raise ConfigurationError(f"two activities are named {defn.name!r}")
            out[defn.name] = defn
        return out, dynamic

    # -- lifecycle ----------------------------------------------------------------------------

    async def __aenter__(self) -> Worker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    async def start(self) -> None:
        """Register the worker, recover the work of dead workers, and start polling."""
        if self._started:
            raise ConfigurationError("the worker is already running")
        self._started = True
        self._stop = asyncio.Event()
        store: WorkerStore = self.client.store
        now = self.client.clock.now_ms()
        store.register_worker(
            WorkerRegistration(
                worker_id=self.worker_id,
                host=this_host(),
                pid=os.getpid(),
                pid_started=process_start_marker(os.getpid()),
                task_queue=self.task_queue,
                workflow_types=tuple(self._workflow_defs),
                activity_types=(None if self._dynamic is not None else tuple(self._activity_defs)),
            ),
            now,
        )
        store.enable_remote_wakeups()
        store.notifier.attach_loop(asyncio.get_running_loop())
        self._activities.bind_loop()
        if self._process_pool and self._functions.shared is None:
            if self._shared_state is None:
                self._shared_state = await asyncio.to_thread(SharedStateManager.create_owned)
            self._functions.shared = self._shared_state
        self._follow_clock(force=True)
        store.reclaim_dead_workers(now)
        store.housekeeping(now, self.worker_id)
        store.fire_schedules(now)
        store.start_checkpointer()
        loop = asyncio.get_running_loop()
        if self._workflow_defs:
            self._tasks.append(loop.create_task(self._poll_workflows(), name="duragent-wf-poll"))
            self._tasks.append(loop.create_task(self._poll_queries(), name="duragent-query-poll"))
        if self._activity_defs or self._dynamic is not None:
            self._tasks.append(loop.create_task(self._poll_activities(), name="duragent-act-poll"))
        self._tasks.append(loop.create_task(self._housekeeping(), name="duragent-housekeeping"))

    async def run(self) -> None:
        """Start (if needed) and run until :meth:`shutdown` is called or the task is
        cancelled.

        Raises:
            StoreFileChangedError: The database file was moved, deleted or replaced while
                the worker ran (it stops at once rather than work on a file nobody sees).
        """
        if not self._started:
            await self.start()
        assert self._stop is not None
        try:
            await self._stop.wait()
        finally:
            await self.shutdown()
        if self._failure is not None:
            raise self._failure

    async def shutdown(self) -> None:
        """Stop polling, let in-flight activities finish (up to the graceful timeout),
        hand back the rest, and deregister."""
        if not self._started:
            return
        self._started = False
        if self._stop is not None:
            self._stop.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._collecting is not None:
            # Its process stops at its next step (within 2,000 rows read or one sweep
            # transaction); the next collection finds what it left.
            self._collect_stop.set()
            with contextlib.suppress(asyncio.CancelledError, StoreError):
                await self._collecting
        if self._workflow_tasks.local is not None:
            await self._workflow_tasks.local.shutdown()
        await self._activities.shutdown(self._grace)
        if self._process_pool and self._shared_state is not None:
            await asyncio.to_thread(self._shared_state.close)
            if self._shared_state.owned:
                self._shared_state = None
                self._functions.shared = None
        self._watchdog.stop()
        self.cache.clear()
        store: WorkerStore = self.client.store
        with contextlib.suppress(StoreError):
            store.deregister_worker(self.worker_id)
        # Waits for a checkpoint that may be running: not on the loop.
        await asyncio.to_thread(store.stop_checkpointer)
        if self._own_executor and isinstance(self._executor, ThreadPoolExecutor):
            self._executor.shutdown(wait=False, cancel_futures=True)

    # -- loops ----------------------------------------------------------------------------

    def _guarded(self, fn: Callable[[Any], Any], task: Any) -> Any:
        """A bug in processing one task must not stop the worker: log it and go on (the
        task's lease expires and it is retried). Returns None then."""
        try:
            with self._watchdog.watch(task):
                return fn(task)
        except (KeyboardInterrupt, SystemExit, asyncio.CancelledError):
            raise
        except BaseException:
            log.exception("internal error while processing %r", task)
            return None

    async def _poll_workflows(self) -> None:
        store: WorkerStore = self.client.store
        clock = self.client.clock
        loop = asyncio.get_running_loop()
        types = list(self._workflow_defs)
        topics = [f"wf:{self.task_queue}"]
        checked: Listener | None = None
        """Listening since before a claim that found nothing (the last round's)."""
        while True:
            listener = checked or store.notifier.listen(topics)
            tasks: list[WorkflowTask] = []
            if self._unrecorded and loop.time() >= self._retry_at:
                tasks, self._unrecorded = self._unrecorded, []
            elif checked is None:
                try:
                    self._follow_clock()
                    tasks = store.claim_workflow_tasks(
                        self.worker_id, self.task_queue, types, clock.now_ms()
                    )
                except StoreError as err:
                    self._store_trouble("claiming a workflow task", err)
            checked = None
            if not tasks:
                wait = _IDLE_POLL_S
                if self._unrecorded:
                    wait = max(0.0, min(wait, self._retry_at - loop.time()))
                await listener.wait(wait)
                continue
            listener.close()
            while tasks:
                # Listening before the round's own claim: when that finds nothing, a task
                # that comes after it wakes this listener, so no second claim is needed
                # to wait safely (one write less per round on the busiest path).
                listener = store.notifier.listen(topics)
                tasks, claimed_none = self._process_round(tasks, types)
                if tasks or not claimed_none:
                    listener.close()
                else:
                    checked = listener
                await asyncio.sleep(0)  # let activities and other loops run between rounds

    def _process_round(
        self, tasks: list[WorkflowTask], types: list[str]
    ) -> tuple[list[WorkflowTask], bool]:
        """Run the workflow code of ``tasks`` (no transaction open), then record all their
        outcomes in one transaction, which also claims the next tasks to process: under
        load one commit serves many workflow tasks, and the write lock is held only for
        database work. Returns the tasks claimed (or handed back) for the next round, and
        whether that claim was committed and found nothing."""
        store: WorkerStore = self.client.store
        clock = self.client.clock
        processor = self._workflow_tasks
        started = time.monotonic()
        prepared = [p for p in (self._guarded(processor.prepare, t) for t in tasks) if p]
        # Claim as many as fit in the batch time, judging by what these tasks cost.
        per_task = (time.monotonic() - started) / max(1, len(tasks))
        self._task_cost = 0.8 * self._task_cost + 0.2 * per_task
        claim = int(_BATCH_MAX_S / max(self._task_cost, 1e-6))
        claim = max(1, min(_BATCH_MAX_TASKS, claim))
        claimed: list[WorkflowTask] = []
        try:
            with store.batch(clock.now_ms()):
                for p in prepared:
                    processor.record(p)
                claimed = store.claim_workflow_tasks(
                    self.worker_id, self.task_queue, types, clock.now_ms(), claim
                )
        except StoreError as err:
            self._store_trouble("committing a batch of workflow tasks", err)
            for p in prepared:
                processor.abandon(p)
            self._retry_later([p.task for p in prepared if not p.held])
            return [], False
        follow = [self._guarded(processor.finish, p) for p in prepared]
        self._retry_later([p.task for p in prepared if not p.recorded])
        self._store_ok()
        return [t for t in follow if t is not None] + claimed, not claimed

    def _retry_later(self, tasks: list[WorkflowTask]) -> None:
        """Tasks still claimed by this worker whose outcome could not be written (a full
        disk, an I/O error): processed again, from history, after a pause."""
        if not tasks:
            return
        self._unrecorded.extend(tasks)
        loop = asyncio.get_running_loop()
        self._retry_delay = min(max(self._retry_delay * 2, _RETRY_FIRST_S), _RETRY_MAX_S)
        self._retry_at = loop.time() + self._retry_delay

    def _store_trouble(self, doing: str, err: StoreError) -> None:
        """Log a store failure once per kind of failure, not on every poll; stop the
        worker when the database file is gone (nothing it could do would be seen)."""
        if isinstance(err, StoreFileChangedError):
            if self._failure is None:
                self._failure = err
                log.error("worker %s stops: %s", self.worker_id, err)
                for task in self._tasks:
                    if task is not asyncio.current_task():
                        task.cancel()
                if self._stop is not None:
                    self._stop.set()
            # End the calling loop too (every caller runs in one of the worker's tasks).
            raise asyncio.CancelledError
        what = f"{type(err).__name__}: {err}"
        if what != self._trouble:
            self._trouble = what
            log.error("%s failed: %s (retrying until the store works again)", doing, what)

    def _store_ok(self) -> None:
        if self._trouble is not None:
            log.warning("the store works again (after: %s)", self._trouble)
            self._trouble = None
        self._retry_delay = 0.0

    async def _poll_queries(self) -> None:
        store: WorkerStore = self.client.store
        clock = self.client.clock
        types = list(self._workflow_defs)
        topics = [f"q:{self.task_queue}"]
        while True:
            listener = store.notifier.listen(topics)
            try:
                query = store.claim_query(self.worker_id, self.task_queue, types, clock.now_ms())
            except StoreError as err:
                self._store_trouble("claiming a query", err)
                query = None
            if query is None:
                await listener.wait(_IDLE_POLL_S)
                continue
            listener.close()
            self._guarded(self._workflow_tasks.answer_query, query)
            await asyncio.sleep(0)

    async def _poll_activities(self) -> None:
        store: WorkerStore = self.client.store
        clock = self.client.clock
        runner = self._activities
        topics = [f"act:{self.task_queue}"]
        while not self._functions.broken:
            if runner.free_slots() <= 0:
                runner.slot_freed.clear()
                await runner.slot_freed.wait()
                continue
            listener = store.notifier.listen(topics)
            try:
                self._follow_clock()
                task = store.claim_activity_task(
                    self.worker_id, self.task_queue, runner.types, clock.now_ms()
                )
            except StoreError as err:
                self._store_trouble("claiming an activity task", err)
                task = None
            if task is None:
                await listener.wait(_IDLE_POLL_S)
                continue
            listener.close()
            runner.start([task])
            await asyncio.sleep(0)

    def _follow_clock(self, *, force: bool = False) -> None:
        """Move the store's due times with a step of the system clock (see _clock.py).

        Every housekeeping round asks the store (``force``: another process may have seen
        the step first, or this one started after it); before a claim only this process's
        own last reading is compared, which costs two clock reads.
        """
        epoch = clock_epoch(self.client.clock)
        if epoch is None:
            return
        seen = self._clock_epoch
        if (
            not force
            and seen is not None
            and seen.boot_id == epoch.boot_id
            and abs(seen.offset_ms - epoch.offset_ms) < CLOCK_STEP_MS
        ):
            return
        store: WorkerStore = self.client.store
        step = store.follow_clock_step(epoch.boot_id, epoch.offset_ms, self.client.clock.now_ms())
        self._clock_epoch = epoch
        if step:
            log.warning(
                "the system clock was stepped by %+.3f s: pending timers, timeouts, "
                "retry backoffs and leases were moved with it (they keep their remaining "
                "durations)",
                step / 1000,
            )

    async def _housekeeping(self) -> None:
        store: WorkerStore = self.client.store
        clock = self.client.clock
        loop = asyncio.get_running_loop()
        last_heartbeat = loop.time()
        topics = [f"wf:{self.task_queue}", f"act:{self.task_queue}"]
        last_now = clock.now_ms()
        retention_due = loop.time() if self._run_retention_ms is not None else float("inf")
        streams_due = loop.time() if self._stream_retention_ms is not None else float("inf")
        while True:
            listener = store.notifier.listen(["timer"])
            try:
                store.check_file()
                # Before anything due is acted on: a step of the clock moves due times.
                self._follow_clock(force=True)
                now = clock.now_ms()
                store.reclaim_dead_workers(now)
                store.fire_schedules(now)
                next_due = store.housekeeping(now, self.worker_id)
                if store.became_visible(last_now, now):
                    # A retry backoff ended: wake the pollers (no commit announced it).
                    store.notifier.notify(topics, remote=False)
                if loop.time() - last_heartbeat > _WORKER_HEARTBEAT_S:
                    store.heartbeat_worker(self.worker_id, now)
                    last_heartbeat = loop.time()
                if self._stream_retention_ms is not None and loop.time() >= streams_due:
                    streams_due = loop.time() + _WORKER_HEARTBEAT_S  # if the step fails
                    expired = store.expire_streams(now, self._stream_retention_ms)
                    if expired >= EXPIRE_STEP:  # a backlog: the next step soon
                        streams_due = loop.time() + _RETENTION_BACKLOG_S
                if self._run_retention_ms is not None and loop.time() >= retention_due:
                    retention_due = loop.time() + _RETENTION_PERIOD_S  # if the step fails
                    retention_due = loop.time() + self._retention_step(now)
            except StoreError as err:
                self._store_trouble("worker housekeeping", err)
                next_due = None
                now = clock.now_ms()
            last_now = now
            sleep = min(
                _HOUSEKEEPING_MAX_SLEEP_S,
                max(0.0, min(retention_due, streams_due) - loop.time()),
            )
            if next_due is not None:
                sleep = min(sleep, max(0.001, (next_due - clock.now_ms()) / 1000))
            await listener.wait(sleep)

    def _retention_step(self, now: int) -> float:
        """Remove one step of the runs closed before the retention period; seconds until
        the next step."""
        assert self._run_retention_ms is not None
        store: WorkerStore = self.client.store
        removed = store.prune_step(now - self._run_retention_ms, now)
        if removed.runs:
            log.debug("run retention removed %d closed runs", removed.runs)
            self._pruned_runs = True
        if removed.runs >= PRUNE_STEP:
            return _RETENTION_BACKLOG_S
        loop = asyncio.get_running_loop()
        if (
            self._pruned_runs
            and self._collecting is None
            and loop.time() - self._collected_at >= _PAYLOAD_COLLECT_PERIOD_S
        ):
            self._pruned_runs = False
            self._collected_at = loop.time()
            self._collecting = loop.create_task(
                self._collect_payloads(now), name="duragent-payload-collection"
            )
        return _RETENTION_PERIOD_S

    async def _collect_payloads(self, now: int) -> None:
        """Reclaim the payloads the removed runs alone used (see ``store._payload_gc``)."""
        try:
            store: WorkerStore = self.client.store
            report = await store.collect_payloads_apart(now, stop=self._collect_stop)
            log.info(
                "payload collection: %d removed (%d bytes), %d in use%s",
                report.removed,
                report.removed_bytes,
                report.kept,
                f" ({report.skipped})" if report.skipped else "",
            )
        except StoreError as err:
            self._store_trouble("payload collection", err)
            self._pruned_runs = True  # tried again after the period
        finally:
            self._collecting = None


def retention_ms(
    retention: timedelta | None, what: str = "run_retention", *, zero_ok: bool = False
) -> int | None:
    """A retention (``run_retention``, or ``what``) in milliseconds (None: keep
    everything), refused unless positive (or, with ``zero_ok``, at least 0: a stream
    retention of 0 drops a closed run's stream at the next look)."""
    if retention is None:
        return None
    least = timedelta(0) if zero_ok else timedelta(microseconds=1)
    if not isinstance(retention, timedelta) or retention < least:
        kind = "non-negative" if zero_ok else "positive"
        raise ConfigurationError(
            f"{what} must be a {kind} timedelta (or None to keep everything), not {retention!r}"
        )
    return max(0 if zero_ok else 1, int(retention.total_seconds() * 1000))


def _describe_task(task: Any) -> str:
    if isinstance(task, WorkflowTask):
        kind = "workflow task"
    elif isinstance(task, ActivityTask):
        kind = f"workflow task after activity {task.activity_type!r}"
    else:
        kind = f"query {task.name!r}"
    return f"the {kind} of workflow {task.workflow_id!r} ({task.workflow_type})"
