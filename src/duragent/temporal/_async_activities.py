"""Asynchronous activity completion on Temporal: the client-side seam's ``heartbeat_activity``,
``complete_activity``, ``fail_activity`` and ``report_activity_cancelled`` through
temporalio's ``AsyncActivityHandle`` (by Temporal's task token, or by workflow id and
activity id), with Duragent's errors."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TypeVar

import temporalio.client
from temporalio.service import RPCError, RPCStatusCode

from .._backend.records import ActivityRef
from .._engine.failure import Failure, exception_from_failure
from ..errors import ActivityNotFoundError, AsyncActivityCancelledError, ConfigurationError
from ..serde import DataConverter, Payload
from ._failures import to_temporal
from ._payloads import PayloadBridge
from ._rpc import RunCalls, raw_value

T = TypeVar("T")


def _describe(ref: ActivityRef) -> str:
    if ref.task_token is not None:
        return "the activity attempt of this task token"
    run = f" (run {ref.run_id})" if ref.run_id else ""
    return f"activity {ref.activity_id!r} of workflow {ref.workflow_id!r}{run}"


class AsyncActivityCalls(RunCalls):
    """Completing activities that called ``activity.raise_complete_async()``."""

    _converter = DataConverter()

    def _handle(self, ref: ActivityRef) -> temporalio.client.AsyncActivityHandle:
        if ref.task_token is not None:
            return self.client.get_async_activity_handle(task_token=ref.task_token)
        assert ref.workflow_id is not None
        assert ref.activity_id is not None
        return self.client.get_async_activity_handle(
            workflow_id=ref.workflow_id, run_id=ref.run_id or None, activity_id=ref.activity_id
        )

    @staticmethod
    async def _activity_call(ref: ActivityRef, call: Awaitable[T]) -> T:
        try:
            return await call
        except temporalio.client.AsyncActivityCancelledError:
            raise AsyncActivityCancelledError(
                f"cancellation of {_describe(ref)} was requested: call report_cancellation()"
            ) from None
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise ActivityNotFoundError(
                    f"{_describe(ref)} is not running: it completed, failed, timed out or was "
                    f"retried since (a task token names one attempt), or its workflow closed "
                    f"({err.message})"
                ) from None
            if err.status == RPCStatusCode.INVALID_ARGUMENT and ref.task_token is not None:
                raise ConfigurationError(
                    f"{ref.task_token[:60]!r} is not a task token of this Temporal namespace "
                    f"(activity.info().task_token from an activity on it): {err.message}"
                ) from None
            raise

    async def heartbeat_activity(
        self, ref: ActivityRef, details: Sequence[Payload], *, identity: str
    ) -> None:
        raws = [raw_value(p) for p in details]
        await self._activity_call(ref, self._handle(ref).heartbeat(*raws))

    async def complete_activity(self, ref: ActivityRef, result: Payload, *, identity: str) -> None:
        await self._activity_call(ref, self._handle(ref).complete(raw_value(result)))

    async def fail_activity(
        self,
        ref: ActivityRef,
        failure: Failure,
        last_heartbeat_details: Sequence[Payload],
        *,
        identity: str,
    ) -> None:
        converter = self._converter
        error = to_temporal(exception_from_failure(failure, converter), PayloadBridge(converter))
        assert isinstance(error, Exception)
        raws = [raw_value(p) for p in last_heartbeat_details]
        await self._activity_call(ref, self._handle(ref).fail(error, last_heartbeat_details=raws))

    async def report_activity_cancelled(
        self, ref: ActivityRef, details: Sequence[Payload], *, identity: str
    ) -> None:
        raws = [raw_value(p) for p in details]
        await self._activity_call(ref, self._handle(ref).report_cancellation(*raws))
