"""Completing an activity from outside its worker: ``AsyncActivityHandle``, what
``Client.get_async_activity_handle`` returns (the activity called
``activity.raise_complete_async()``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._backend import ActivityRef
from ._engine.failure import failure_from_exception

if TYPE_CHECKING:
    from .client import Client


class AsyncActivityHandle:
    """Heartbeats, completes, fails or reports cancelled an activity attempt that its
    function left open with ``activity.raise_complete_async()``, from any process with a
    client (a person's decision, a webhook, another service).

    Created by :meth:`duragent.Client.get_async_activity_handle`, with the attempt's
    ``activity.info().task_token``, or with the workflow id and ``activity_id`` (then it
    addresses the activity's current attempt). Every method raises
    :class:`~duragent.errors.ActivityNotFoundError` when the attempt is no longer running
    (it completed, failed, timed out, or the workflow closed).
    """

    def __init__(self, client: Client, ref: ActivityRef) -> None:
        self._client = client
        self._ref = ref

    def __repr__(self) -> str:
        ref = self._ref
        if ref.task_token is not None:
            return f"AsyncActivityHandle(task_token={ref.task_token!r})"
        return (
            f"AsyncActivityHandle(workflow_id={ref.workflow_id!r}, run_id={ref.run_id!r}, "
            f"activity_id={ref.activity_id!r})"
        )

    async def heartbeat(self, *details: Any) -> None:
        """Record progress: keeps the activity's heartbeat timeout from expiring, and
        ``details`` reach its next attempt (``info().heartbeat_details``) if this one fails.

        Raises:
            AsyncActivityCancelledError: Cancellation of the activity was requested; stop
                and call :meth:`report_cancellation`.
        """
        payloads = self._client.converter.encode_all(details, what="heartbeat detail")
        await self._client.backend.heartbeat_activity(
            self._ref, payloads, identity=self._client.identity
        )

    async def complete(self, result: Any = None) -> None:
        """Complete the activity: the workflow receives ``result``."""
        payload = self._client.converter.encode(result, what="activity result")
        await self._client.backend.complete_activity(
            self._ref, payload, identity=self._client.identity
        )

    async def fail(self, error: Exception, *, last_heartbeat_details: Sequence[Any] = ()) -> None:
        """Fail the attempt with ``error``. Like an error raised by the activity, it is
        retried under the activity's retry policy unless it is non-retryable (an
        ``ApplicationError(non_retryable=True)`` or a non-retryable type); the next attempt
        sees ``last_heartbeat_details`` as its heartbeat details."""
        failure = failure_from_exception(error, self._client.converter)
        details = self._client.converter.encode_all(
            tuple(last_heartbeat_details), what="heartbeat detail"
        )
        await self._client.backend.fail_activity(
            self._ref, failure, details, identity=self._client.identity
        )

    async def report_cancellation(self, *details: Any) -> None:
        """Report the activity cancelled (after cancellation was requested): the
        workflow's ``execute_activity`` raises ``ActivityError`` caused by
        ``CancelledError``."""
        payloads = self._client.converter.encode_all(details, what="cancellation detail")
        await self._client.backend.report_activity_cancelled(
            self._ref, payloads, identity=self._client.identity
        )
