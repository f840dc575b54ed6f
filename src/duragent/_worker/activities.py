"""Running activity attempts: decode arguments, call the function (async on the event loop,
sync on a thread pool), relay heartbeats and cancellation, record the outcome."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from .._backend.worker_store import WorkerStore
from .._clock import Clock
from .._definitions import ActivityDefinition
from .._engine.failure import Failure, FailureKind
from ..activity import ActivityContext, Info
from ..errors import SerializationError, StoreError, TimeoutType
from ..serde import DataConverter
from ..store._activity_rows import INTERRUPTED_TYPE, at_most_once_timeout
from ..store._async_activities import task_token
from ..store.base import ActivityTask
from .attempt_log import log_failed_attempt
from .eager import EagerHandoff
from .faults import crash_point
from .invoke import FunctionRunner
from .stream_publisher import AttemptStream, lease_fenced

log = logging.getLogger("duragent.worker")

_HEARTBEAT_THROTTLE_MAX_S = 1.0
_RECORD_RETRY_FIRST_S = 0.05
_RECORD_RETRY_MAX_S = 2.0


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


class _Attempt:
    """One running attempt and its heartbeat state."""

    def __init__(self, task: ActivityTask, context: ActivityContext) -> None:
        self.task = task
        self.context = context
        self.asyncio_task: asyncio.Task[None] | None = None
        self.pending_details: tuple[Any, ...] | None = None
        self.flush_scheduled = False
        self.last_flush = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.timed_out = False
        self.error: BaseException | None = None
        """What the attempt raised, for the log."""


class ActivityRunner:
    """Runs claimed activity tasks; tracks what is in flight."""

    def __init__(
        self,
        *,
        store: WorkerStore,
        converter: DataConverter,
        clock: Clock,
        worker_id: str,
        activities: dict[str, ActivityDefinition],
        dynamic: ActivityDefinition | None,
        functions: FunctionRunner,
        max_concurrent: int,
        handoff: EagerHandoff,
    ) -> None:
        self.store = store
        self.converter = converter
        self.clock = clock
        self.worker_id = worker_id
        self.activities = activities
        self.dynamic = dynamic
        self.functions = functions
        self.max_concurrent = max_concurrent
        self.handoff = handoff
        """Commits a result and the workflow task it triggers (see eager.py)."""
        self.in_flight: dict[tuple[int, int], _Attempt] = {}
        self.slot_freed = asyncio.Event()
        self.shutting_down = False
        self.completed = 0

    @property
    def types(self) -> list[str] | None:
        """Activity types this worker claims (None: every type, it has a dynamic one)."""
        return None if self.dynamic is not None else list(self.activities)

    def free_slots(self) -> int:
        return max(0, self.max_concurrent - len(self.in_flight))

    def start(self, tasks: Sequence[ActivityTask]) -> None:
        loop = asyncio.get_running_loop()
        for task in tasks:
            context = ActivityContext(
                functools.partial(self._info, task),
                lambda d, t=(task.task_id, task.lease): self._heartbeat(t, d),
                usage_sink=self.store.record_usage,
                worker_id=self.worker_id,
                stream=AttemptStream(
                    lease_fenced(self.store, task, self.clock), task.attempt, task.activity_type
                ),
            )
            attempt = _Attempt(task, context)
            self.in_flight[(task.task_id, task.lease)] = attempt
            attempt.asyncio_task = loop.create_task(
                self._run(attempt), name=f"activity-{task.activity_type}"
            )
            deadline = self._deadline_ms(task)
            if deadline is not None:
                # Past its timeout the attempt is abandoned here too, not only in the store:
                # a late result must not be computed in vain or hold a slot.
                delay = max(0.0, (deadline - self.clock.now_ms()) / 1000)
                attempt.timer = loop.call_later(delay, self._time_out, attempt)

    def _info(self, task: ActivityTask) -> Info:
        details: tuple[Any, ...] = ()
        if task.heartbeat_details:
            try:
                details = tuple(self.converter.decode(p) for p in task.heartbeat_details)
            except SerializationError:
                details = ()
        return Info(
            activity_id=str(task.seq),
            activity_type=task.activity_type,
            attempt=task.attempt,
            workflow_id=task.workflow_id,
            workflow_run_id=task.run_id,
            workflow_type=task.workflow_type,
            task_queue=task.task_queue,
            idempotency_key=task.idempotency_key,
            scheduled_time=_dt(task.scheduled_time),
            started_time=_dt(task.started_time),
            heartbeat_details=details,
            heartbeat_timeout_seconds=(
                task.heartbeat_timeout_ms / 1000 if task.heartbeat_timeout_ms else None
            ),
            task_token=task_token(task.run_id, task.seq, task.attempt),
        )

    @staticmethod
    def _deadline_ms(task: ActivityTask) -> int | None:
        deadlines = [
            d
            for d in (
                task.started_time + task.start_to_close_timeout_ms
                if task.start_to_close_timeout_ms is not None
                else None,
                task.schedule_to_close_deadline,
            )
            if d is not None
        ]
        return min(deadlines) if deadlines else None

    def _time_out(self, attempt: _Attempt) -> None:
        task = attempt.asyncio_task
        if task is not None and not task.done():
            attempt.timed_out = True
            task.cancel()

    async def _run(self, attempt: _Attempt) -> None:
        task = attempt.task
        try:
            outcome = await self._call(attempt)
        finally:
            self.in_flight.pop((task.task_id, task.lease), None)
            if attempt.timer is not None:
                attempt.timer.cancel()
            self.slot_freed.set()
        stream = attempt.context.stream
        tail = stream.tail() if isinstance(stream, AttemptStream) else None
        if outcome is None:
            return
        kind, value = outcome
        if kind == "ok":
            crash_point("activity_returned", task.activity_type)
        # A full disk, an I/O error or a long-held lock: keep the outcome and retry (the
        # attempt is not run again), until it is recorded or the attempt is no longer ours.
        delay = _RECORD_RETRY_FIRST_S
        while True:
            now = self.clock.now_ms()
            try:
                if kind == "ok":
                    self.handoff.record_result(task, value, now, tail)
                    self.completed += 1
                elif kind == "async":
                    # A handle completes it; its timeouts keep running on the store.
                    self.store.detach_activity_task(task, now)
                elif kind == "cancelled":
                    self.store.fail_activity_task(
                        task, value, now, worker=self.worker_id, cancelled=True
                    )
                else:
                    decision = self.store.fail_activity_task(
                        task, value, now, worker=self.worker_id
                    )
                    if decision is not None:
                        log_failed_attempt(
                            attempt.context.info, value, attempt.error, decision, now
                        )
                if delay > _RECORD_RETRY_FIRST_S:
                    log.info("recorded the outcome of activity %s at last", task.activity_type)
                return
            except StoreError as err:
                if not err.retryable or self.shutting_down:
                    log.error(
                        "could not record the outcome of activity %s (run %s): %s; the "
                        "attempt is retried once its lease expires",
                        task.activity_type,
                        task.run_id,
                        err,
                    )
                    return
                if delay == _RECORD_RETRY_FIRST_S:
                    log.warning(
                        "could not record the outcome of activity %s (run %s), retrying "
                        "until it can be: %s",
                        task.activity_type,
                        task.run_id,
                        err,
                    )
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RECORD_RETRY_MAX_S)

    async def _call(self, attempt: _Attempt) -> tuple[str, Any] | None:
        """Run the function. Returns ("ok", payload), ("failed", failure),
        ("cancelled", failure), ("async", None) when it will be completed asynchronously,
        or None when the attempt was released (shutdown)."""
        task = attempt.task
        defn = self.activities.get(task.activity_type) or self.dynamic
        if defn is None:  # claims filter by type, so only a changed registration gets here
            self._release(task)
            return None
        in_flight_key = (task.task_id, task.lease)
        try:
            outcome = await self.functions.run(
                defn,
                task.input,
                attempt.context,
                pool_key=f"{self.worker_id}:{task.task_id}:{task.lease}",
                on_heartbeat=lambda details: self._heartbeat(in_flight_key, details),
                before_call=lambda: crash_point("activity_start", task.activity_type),
            )
        except asyncio.CancelledError:
            if self.shutting_down:
                if task.at_most_once:
                    # Stopped mid-call, it may have taken effect: not handed to another
                    # worker to run again (as on Temporal).
                    return "failed", Failure(
                        message=(
                            f"at-most-once activity {task.activity_type!r} was stopped by its "
                            "worker's shutdown and was not run again: it may or may not have "
                            "taken effect"
                        ),
                        kind=FailureKind.APPLICATION,
                        type=INTERRUPTED_TYPE,
                        non_retryable=True,
                    )
                self._release(task)
                return None
            if attempt.timed_out:
                kind = (
                    TimeoutType.SCHEDULE_TO_CLOSE
                    if task.schedule_to_close_deadline is not None
                    and self.clock.now_ms() >= task.schedule_to_close_deadline
                    else TimeoutType.START_TO_CLOSE
                )
                timeout = Failure(
                    message=f"activity attempt {task.attempt} exceeded its {kind} timeout",
                    kind=FailureKind.TIMEOUT,
                    type=kind,
                )
                if task.at_most_once and kind == TimeoutType.START_TO_CLOSE:
                    # Stopped mid-call, it may have taken effect: not re-run (as on
                    # Temporal, and as after a crash).
                    return "failed", at_most_once_timeout(task.attempt, task.activity_type, timeout)
                return "failed", timeout
            return "cancelled", Failure(
                message="activity cancelled", kind=FailureKind.CANCELLED, type="CancelledError"
            )
        attempt.error = outcome.error
        if outcome.kind == "ok":
            return "ok", outcome.payload
        if outcome.kind == "async":
            return "async", None
        return outcome.kind, outcome.failure

    def _release(self, task: ActivityTask) -> None:
        try:
            self.store.release_activity_task(task, self.clock.now_ms(), worker=self.worker_id)
        except StoreError:
            log.exception("could not release activity task %s", task.task_id)

    # -- heartbeats ----------------------------------------------------------------------------

    def _heartbeat(self, task_id: tuple[int, int], details: tuple[Any, ...]) -> None:
        loop = self._loop
        if threading.get_ident() != self._loop_thread:
            loop.call_soon_threadsafe(self._on_heartbeat, task_id, details)
        else:
            self._on_heartbeat(task_id, details)

    def bind_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()

    def _on_heartbeat(self, task_id: tuple[int, int], details: tuple[Any, ...]) -> None:
        attempt = self.in_flight.get(task_id)
        if attempt is None:
            return
        attempt.pending_details = details
        if attempt.flush_scheduled:
            return
        attempt.flush_scheduled = True
        hb = attempt.task.heartbeat_timeout_ms
        throttle = (
            min(hb / 1000 * 0.8, _HEARTBEAT_THROTTLE_MAX_S) if hb else (_HEARTBEAT_THROTTLE_MAX_S)
        )
        delay = max(0.0, attempt.last_flush + throttle - self._loop.time())
        self._loop.call_later(delay, self._flush, task_id)

    def _flush(self, task_id: tuple[int, int]) -> None:
        attempt = self.in_flight.get(task_id)
        if attempt is None:
            return
        attempt.flush_scheduled = False
        attempt.last_flush = self._loop.time()
        details = attempt.pending_details or ()
        try:
            payloads = self.converter.encode_all(details, what="heartbeat detail")
            cancel = self.store.heartbeat_activity_task(attempt.task, payloads, self.clock.now_ms())
        except Exception:
            log.exception("heartbeat of activity %s failed", attempt.task.activity_type)
            return
        if cancel and not attempt.context.cancel_requested:
            attempt.context.cancel_requested = True
            defn = self.activities.get(attempt.task.activity_type) or self.dynamic
            if defn is not None and defn.is_async and attempt.asyncio_task is not None:
                attempt.asyncio_task.cancel()

    async def shutdown(self, grace: float) -> None:
        """Let in-flight attempts finish for ``grace`` seconds, then release the rest."""
        if self.in_flight and grace > 0:
            tasks = [a.asyncio_task for a in self.in_flight.values() if a.asyncio_task]
            await asyncio.wait(tasks, timeout=grace)
        self.shutting_down = True
        remaining = [a.asyncio_task for a in self.in_flight.values() if a.asyncio_task]
        for t in remaining:
            t.cancel()
        if remaining:
            await asyncio.wait(remaining, timeout=5)
