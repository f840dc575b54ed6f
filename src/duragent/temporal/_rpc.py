"""Calls to Temporal's workflow service that address one run, with Duragent's errors: a run
that does not exist, one that has closed."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any, Final, TypeVar

import temporalio.client
import temporalio.common
from temporalio.api.common.v1 import Payloads, WorkflowExecution
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    DescribeWorkflowExecutionResponse,
)
from temporalio.service import RPCError, RPCStatusCode

from ..errors import WorkflowNotFoundError, WorkflowNotRunningError
from ..serde import Payload
from ._payloads import PayloadBridge
from .codec import decode_message_payloads

__all__ = ["RunCalls", "execution", "raw_value", "to_payloads"]

T = TypeVar("T")
_CLOSED_MESSAGE: Final = "workflow execution already completed"


def to_payloads(payloads: Sequence[Payload]) -> Payloads:
    """Duragent payloads as Temporal's (the same JSON bytes)."""
    return Payloads(payloads=[PayloadBridge.to_temporal(p) for p in payloads])


def raw_value(payload: Payload) -> temporalio.common.RawValue:
    """A Duragent payload that temporalio's converter passes through untouched."""
    return temporalio.common.RawValue(PayloadBridge.to_temporal(payload))


def execution(workflow_id: str, run_id: str | None) -> WorkflowExecution:
    """A run (the workflow's latest when ``run_id`` is None)."""
    return WorkflowExecution(workflow_id=workflow_id, run_id=run_id or "")


def not_found(workflow_id: str, run_id: str | None, err: RPCError) -> WorkflowNotFoundError:
    what = f"workflow {workflow_id!r}" + (f" run {run_id}" if run_id else "")
    return WorkflowNotFoundError(f"{what} not found ({err.message})")


class RunCalls:
    """The namespace, identity and service a backend calls."""

    def __init__(self, client: temporalio.client.Client) -> None:
        self.client = client
        self.namespace = client.namespace
        self.identity = client.identity
        self._service = client.workflow_service
        self.codec = client.data_converter.payload_codec
        """The client's payload codec (e.g. :class:`~duragent.temporal.codec.ChunkTreeCodec`):
        what Duragent reads from Temporal's API itself is decoded with it."""

    async def _decode(self, message: Any) -> None:
        """Decode, in place, the payloads the codec encoded inside a response."""
        await decode_message_payloads(message, self.codec)

    async def _call(self, workflow_id: str, run_id: str | None, call: Awaitable[T]) -> T:
        """Make a call that addresses one run, with Duragent's errors for a missing or
        closed run."""
        try:
            return await call
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND and _CLOSED_MESSAGE in err.message:
                raise WorkflowNotRunningError(
                    f"workflow {workflow_id!r}{f' run {run_id}' if run_id else ''} is not "
                    "running (it has closed)"
                ) from None
            if err.status == RPCStatusCode.NOT_FOUND:
                raise not_found(workflow_id, run_id, err) from None
            raise

    async def _describe(
        self, workflow_id: str, run_id: str | None
    ) -> DescribeWorkflowExecutionResponse:
        try:
            resp = await self._service.describe_workflow_execution(
                DescribeWorkflowExecutionRequest(
                    namespace=self.namespace, execution=execution(workflow_id, run_id)
                ),
                retry=True,
            )
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise not_found(workflow_id, run_id, err) from None
            raise
        await self._decode(resp)
        return resp
