"""Activities on Temporal: one dynamic temporalio activity runs every Duragent activity of a
worker, so arguments are decoded by Duragent's converter with the function's own parameter
hints, one position at a time, and Duragent's activity context (``activity.info()`` with its
idempotency key, ``heartbeat()``, ``is_cancelled()``) is set for the call.

At-most-once calls get a heartbeat timeout by default (crash detection on Temporal is by
timeout) and this runner heartbeats for them; an attempt cancelled because its worker shuts
down is failed as ``ActivityAttemptInterrupted`` rather than handed to another worker.

``ActivityContext.report_usage`` (the model activity's ledger entries) is sent at once by a
heartbeat that is awaited before the attempt completes, carried by every later heartbeat
and attempt, and recorded with the completed result (``_usage.py``). The crash point
``activity_returned`` (``duragent._worker.faults``) works here as on the embedded worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from datetime import timedelta
from typing import Any

import temporalio.activity as ta
import temporalio.client
import temporalio.exceptions as tx
from temporalio.api.common.v1 import Payloads
from temporalio.api.workflowservice.v1 import RecordActivityTaskHeartbeatRequest
from temporalio.common import RawValue

from .._definitions import ActivityDefinition, check_arg_count
from .._worker.faults import crash_point
from .._worker.intercepted import is_async, run_intercepted
from ..activity import ActivityContext, CompleteAsyncError, Info, current_context
from ..errors import (
    ApplicationError,
    CancelledError,
    ConfigurationError,
    SerializationError,
    StoreError,
)
from ..interceptor import ExecuteActivityInput, Interceptor
from ..retry import RetryPolicy
from ..store.base import UsageEntry
from ._failures import INTERRUPTED, retry_delay, to_temporal
from ._payloads import PayloadBridge
from ._runtime import AUTO_HEARTBEAT, TIMEOUT_HEARTBEAT
from ._usage import heartbeat_detail, split_heartbeat, tag_payload
from .streams import AttemptStreams

__all__ = ["ActivityDispatcher"]

log = logging.getLogger("duragent.activity")


def _non_retryable(err: BaseException) -> tx.ApplicationError:
    return tx.ApplicationError(str(err), type=type(err).__name__, non_retryable=True)


class _Heartbeats:
    """Sends Duragent heartbeats to temporalio from any thread, keeps an auto-heartbeat
    going for at-most-once calls, and carries the attempt's usage ledger (``_usage.py``):
    every heartbeat ends with the entries of this call so far."""

    def __init__(
        self,
        bridge: PayloadBridge,
        loop: asyncio.AbstractEventLoop,
        *,
        client: temporalio.client.Client,
        worker_id: str,
        carried: list[UsageEntry],
    ) -> None:
        self.bridge = bridge
        self.loop = loop
        self.loop_thread = threading.get_ident()
        # temporalio's activity context lives in this context; callbacks run inside it.
        self.context = contextvars.copy_context()
        self.client = client
        self.worker_id = worker_id
        self.details: tuple[Any, ...] = ()
        self.usage: list[UsageEntry] = list(carried)
        self.flushes: list[asyncio.Task[None]] = []

    def _raws(self) -> list[RawValue]:
        values = (*self.details, heartbeat_detail(self.usage)) if self.usage else self.details
        return self.bridge.to_raws(values, what="heartbeat detail")

    def _on_loop(self, fn: Callable[[], None]) -> None:
        if threading.get_ident() == self.loop_thread:
            fn()
        else:
            self.loop.call_soon_threadsafe(fn)

    def send(self, details: tuple[Any, ...]) -> None:
        self.bridge.to_raws(details, what="heartbeat detail")  # refuse bad details here
        self._on_loop(lambda: self._send(details))

    def _send(self, details: tuple[Any, ...] | None = None) -> None:
        if details is not None:
            self.details = details
        raws = self._raws()
        with contextlib.suppress(RuntimeError):  # the attempt already finished
            self.context.run(ta.heartbeat, *raws)

    def report_usage(self, entry: UsageEntry) -> None:
        self._on_loop(lambda: self._report(entry))

    def _report(self, entry: UsageEntry) -> None:
        self.usage.append(entry)
        # temporalio throttles heartbeats (only the first goes out at once): this one must
        # reach the server before the attempt's result can be lost, so it is also sent
        # directly, and awaited before the attempt completes (see ``flush``).
        self._send()
        info = self.context.run(ta.info)
        request = RecordActivityTaskHeartbeatRequest(
            task_token=info.task_token,
            details=Payloads(payloads=[r.payload for r in self._raws()]),
            identity=self.worker_id,
            namespace=self.client.namespace,
        )
        self.flushes.append(
            self.loop.create_task(self._record(request), name="duragent-usage-heartbeat")
        )

    async def _record(self, request: RecordActivityTaskHeartbeatRequest) -> None:
        try:
            await self.client.workflow_service.record_activity_task_heartbeat(
                request, retry=True, timeout=timedelta(seconds=10)
            )
        except Exception as err:  # the entry still goes out with the result
            log.warning("could not record a usage entry at once: %s", err)

    async def flush(self) -> None:
        """Wait until every usage entry reported so far is on the server."""
        while self.flushes:
            await asyncio.gather(*self.flushes.copy(), return_exceptions=True)
            self.flushes = [t for t in self.flushes if not t.done()]

    async def keep_alive(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self._send()


class ActivityDispatcher:
    """Runs the Duragent activities of one worker as a dynamic temporalio activity."""

    def __init__(
        self,
        *,
        bridge: PayloadBridge,
        activities: dict[str, ActivityDefinition],
        dynamic: ActivityDefinition | None,
        executor: Executor,
        worker_id: str,
        client: temporalio.client.Client,
        streams: AttemptStreams | None = None,
        interceptors: Sequence[Interceptor] = (),
    ) -> None:
        self.client = client
        self.interceptors = tuple(interceptors)
        self.streams = streams
        """Where streamed model calls publish their deltas (None: nowhere, they answer
        whole)."""
        self.bridge = bridge
        self.activities = activities
        self.dynamic = dynamic
        self.executor = executor
        self.worker_id = worker_id

        @ta.defn(dynamic=True)
        async def duragent_activity(args: Sequence[RawValue]) -> RawValue:
            return await self.run(args)

        self.temporal_activity: Callable[..., Any] = duragent_activity

    def _args(self, defn: ActivityDefinition, raws: Sequence[RawValue]) -> list[Any]:
        if defn.dynamic:
            return [self.bridge.decode_all(raws, (), what="argument")]
        check_arg_count(defn.param_counts, len(raws), what=f"activity {defn.name!r}")
        return self.bridge.decode_all(
            raws, defn.hints[0], what=f"argument of activity {defn.name!r}"
        )

    def _info(self, t: ta.Info, details: tuple[Any, ...]) -> Info:
        run_id = t.workflow_run_id or ""
        return Info(
            activity_id=t.activity_id,
            activity_type=t.activity_type,
            attempt=t.attempt,
            workflow_id=t.workflow_id or "",
            workflow_run_id=run_id,
            workflow_type=t.workflow_type or "",
            task_queue=t.task_queue,
            idempotency_key=f"{run_id}:{t.activity_id}",
            scheduled_time=t.scheduled_time,
            started_time=t.started_time,
            heartbeat_details=details,
            heartbeat_timeout_seconds=(
                t.heartbeat_timeout.total_seconds() if t.heartbeat_timeout else None
            ),
            is_local=t.is_local,
            task_token=b"" if t.is_local else t.task_token,
        )

    async def run(self, raws: Sequence[RawValue]) -> RawValue:
        t = ta.info()
        defn = self.activities.get(t.activity_type) or self.dynamic
        if defn is None:
            known = ", ".join(sorted(self.activities)) or "none"
            raise tx.ApplicationError(
                f"activity type {t.activity_type!r} is not registered on the worker of task "
                f"queue {t.task_queue!r} (known: {known})",
                type="ActivityNotRegistered",
            )
        try:
            args = self._args(defn, raws)
        except (SerializationError, ConfigurationError) as err:
            raise _non_retryable(err) from None
        non_retryable = tuple(
            (t.retry_policy.non_retryable_error_types or ()) if t.retry_policy else ()
        )
        at_most_once = TIMEOUT_HEARTBEAT in non_retryable
        loop = asyncio.get_running_loop()
        details, carried = split_heartbeat(tuple(t.heartbeat_details))
        beats = _Heartbeats(
            self.bridge, loop, client=self.client, worker_id=self.worker_id, carried=carried
        )
        beats.details = details
        run_id = t.workflow_run_id or ""
        call = int(t.activity_id) if t.activity_id.isdigit() else 0
        stream = (
            self.streams.open(run_id, call, t.attempt, t.activity_type, t.workflow_id or "")
            if self.streams is not None and run_id and call
            else None
        )
        context = ActivityContext(
            self._info(t, details),
            beats.send,
            usage_sink=beats.report_usage,
            worker_id=self.worker_id,
            stream=stream,
        )
        keep_alive: asyncio.Task[None] | None = None
        if AUTO_HEARTBEAT in non_retryable and t.heartbeat_timeout:
            # The first heartbeat goes out at once; then well inside the timeout.
            beats._send()  # pyright: ignore[reportPrivateUsage]
            interval = max(0.05, t.heartbeat_timeout.total_seconds() / 3)
            keep_alive = loop.create_task(beats.keep_alive(interval))
        ok = False
        crash_point("activity_start", defn.name)
        try:
            result = await self._call(defn, args, context, at_most_once)
            try:
                raw = self.bridge.to_raw(result, what=f"result of activity {defn.name!r}")
            except SerializationError as err:
                raise _non_retryable(err) from None
            ok = True
        finally:
            if keep_alive is not None:
                keep_alive.cancel()
            if stream is not None and self.streams is not None:
                # Not atomic with the result Temporal records (see duragent.temporal.streams).
                with contextlib.suppress(StoreError):
                    self.streams.finish(
                        stream, run_id, call, t.attempt, ok=ok, workflow_id=t.workflow_id or ""
                    )
            await beats.flush()
        if beats.usage:
            # What this call paid for, attempts lost to crashes included, goes to history
            # with the result (as payload metadata: the value is unchanged).
            tag_payload(raw.payload, beats.usage)
        crash_point("activity_returned", defn.name)
        return raw

    async def _call(
        self,
        defn: ActivityDefinition,
        args: list[Any],
        context: ActivityContext,
        at_most_once: bool,
    ) -> Any:
        token = current_context.set(context)
        future: asyncio.Future[Any] | None = None

        async def call(input: ExecuteActivityInput) -> Any:
            nonlocal future
            if is_async(input.fn, defn.fn, defn.is_async):
                return await input.fn(*input.args)
            ctx = contextvars.copy_context()
            future = asyncio.get_running_loop().run_in_executor(
                input.executor or self.executor, functools.partial(ctx.run, input.fn, *input.args)
            )
            return await asyncio.shield(future)

        try:
            input = ExecuteActivityInput(
                fn=defn.fn, args=args, executor=None if defn.is_async else self.executor
            )
            if self.interceptors:
                return await run_intercepted(self.interceptors, context, input, call)
            return await call(input)
        except asyncio.CancelledError:
            context.cancel_requested = True
            details = ta.cancellation_details()
            if at_most_once and details is not None and details.worker_shutdown:
                raise tx.ApplicationError(
                    f"at-most-once activity {defn.name!r} was stopped by its worker's "
                    "shutdown and was not run again: it may or may not have taken effect",
                    type=INTERRUPTED,
                    non_retryable=True,
                ) from None
            if future is not None and not future.done():
                # A thread cannot be interrupted: its next heartbeat() raises CancelledError.
                with contextlib.suppress(BaseException):
                    await future
            raise
        except CompleteAsyncError:
            ta.raise_complete_async()  # temporalio's own: the server keeps the attempt open
        except CancelledError as err:
            if context.cancel_requested:
                raise tx.CancelledError(err.message) from None
            raise to_temporal(err, self.bridge)  # noqa: B904 (keeps the translated cause)
        except ApplicationError as err:
            failure = to_temporal(err, self.bridge)
            assert isinstance(failure, tx.ApplicationError)
            if err.retry_after is not None and err.next_retry_delay is None:
                policy = RetryPolicy()
                info = ta.info()
                if info.retry_policy is not None:
                    policy = RetryPolicy(
                        initial_interval=info.retry_policy.initial_interval,
                        backoff_coefficient=info.retry_policy.backoff_coefficient,
                        maximum_interval=info.retry_policy.maximum_interval,
                    )
                failure = tx.ApplicationError(
                    failure.message,
                    *failure.details,
                    type=failure.type,
                    non_retryable=failure.non_retryable,
                    next_retry_delay=retry_delay(err.retry_after, policy.backoff_ms(info.attempt)),
                )
                failure.__cause__ = to_temporal(err, self.bridge).__cause__
            raise failure  # noqa: B904 (keeps the translated cause)
        finally:
            current_context.reset(token)
