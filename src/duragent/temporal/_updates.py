"""Updates on Temporal: sending one (and update-with-start) and waiting until it is
accepted, rejected or completed, with the embedded backend's outcomes.

Temporal's update request waits on the server until the run's worker has validated the
update; :meth:`UpdateCalls.send_update` returns at once and leaves that request running,
so ``start_update(..., timeout=...)`` applies its timeout while waiting for acceptance, as
on the embedded engine. A rejection is told apart from a handler's failure by its type
(``UpdateRejectedError``, what the worker's validator raises: Temporal records neither).
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from temporalio.api.enums.v1 import (
    UpdateWorkflowExecutionLifecycleStage,
    WorkflowExecutionStatus,
)
from temporalio.api.errordetails.v1 import (
    MultiOperationExecutionFailure,
    WorkflowExecutionAlreadyStartedFailure,
)
from temporalio.api.update.v1 import Input, Meta, Request, UpdateRef, WaitPolicy
from temporalio.api.workflowservice.v1 import (
    ExecuteMultiOperationRequest,
    PollWorkflowExecutionUpdateRequest,
    PollWorkflowExecutionUpdateResponse,
    StartWorkflowExecutionRequest,
    UpdateWorkflowExecutionRequest,
)
from temporalio.service import RPCError, RPCStatusCode

from .._backend.records import UpdateStage
from ..errors import WorkflowAlreadyStartedError, WorkflowNotRunningError
from ..serde import Payload
from ..store.base import StartRequest, StartResult, UpdateOutcome, UpdateSpec
from ._rpc import RunCalls, execution, to_payloads
from .history import failure_from_temporal, payload_from_temporal

__all__ = ["UpdateCalls"]

_Stage = UpdateWorkflowExecutionLifecycleStage
_STAGE: Final = {
    "accepted": _Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED,
    "completed": _Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED,
}
_REJECTED_TYPE: Final = "UpdateRejectedError"
"""The failure type of an update its validator rejected (``_instance.py`` raises it)."""
_CLOSED_BEFORE_UPDATE: Final = "AcceptedUpdateCompletedWorkflow"
"""Temporal's failure type for an accepted update whose run closed before it finished."""


async def _known(outcome: UpdateOutcome) -> UpdateOutcome:
    return outcome


class UpdateCalls(RunCalls):
    """The update half of the Temporal backend."""

    _updates: dict[tuple[str, str], asyncio.Task[UpdateOutcome]]

    async def _update_with_start(self, request: StartRequest, start: dict[str, Any]) -> StartResult:
        spec = request.update
        assert spec is not None
        update = self._update_request(request.workflow_id, None, spec)
        multi = ExecuteMultiOperationRequest(
            namespace=self.namespace,
            operations=[
                ExecuteMultiOperationRequest.Operation(
                    start_workflow=StartWorkflowExecutionRequest(**start)
                ),
                ExecuteMultiOperationRequest.Operation(update_workflow=update),
            ],
        )
        while True:  # until the update is accepted (or rejected): then it is durable
            try:
                resp = await self._service.execute_multi_operation(multi, retry=True)
            except RPCError as err:
                raise self._multi_operation_error(err, request) from None
            started = resp.responses[0].start_workflow
            updated = resp.responses[1].update_workflow
            if updated.HasField("outcome") or updated.stage >= _STAGE["accepted"]:
                await self._decode(updated)
                break
        key = (request.workflow_id, spec.update_id)
        self._updates[key] = asyncio.get_running_loop().create_task(_known(self._outcome(updated)))
        return StartResult(run_id=started.run_id, started=started.started)

    def _multi_operation_error(self, err: RPCError, request: StartRequest) -> BaseException:
        """The start's own error inside a failed update-with-start."""
        failure = MultiOperationExecutionFailure()
        if not (err.grpc_status.details and err.grpc_status.details[0].Unpack(failure)):
            return err
        for status in failure.statuses:
            if status.code == RPCStatusCode.ALREADY_EXISTS:
                details = WorkflowExecutionAlreadyStartedFailure()
                running = next((details.run_id for d in status.details if d.Unpack(details)), "")
                return WorkflowAlreadyStartedError(
                    request.workflow_id, running, request.workflow_type
                )
        return err

    async def send_update(self, workflow_id: str, run_id: str | None, spec: UpdateSpec) -> str:
        info = (await self._describe(workflow_id, run_id)).workflow_execution_info
        if info.status != WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING:
            raise WorkflowNotRunningError(
                f"workflow {workflow_id!r}{f' run {run_id}' if run_id else ''} is not "
                "running (it has closed)"
            )
        target = info.execution.run_id
        key = (workflow_id, spec.update_id)
        if key not in self._updates:
            # The request waits (on the server) until the run's worker has validated it:
            # it runs on, and wait_update picks up its answer.
            self._updates[key] = asyncio.get_running_loop().create_task(
                self._request_update(workflow_id, target, spec)
            )
        return target

    def _update_request(
        self, workflow_id: str, run_id: str | None, spec: UpdateSpec
    ) -> UpdateWorkflowExecutionRequest:
        return UpdateWorkflowExecutionRequest(
            namespace=self.namespace,
            workflow_execution=execution(workflow_id, run_id),
            wait_policy=WaitPolicy(lifecycle_stage=_STAGE["accepted"]),
            request=Request(
                meta=Meta(update_id=spec.update_id, identity=spec.identity or self.identity),
                input=Input(name=spec.name, args=to_payloads(spec.input)),
            ),
        )

    async def _request_update(
        self, workflow_id: str, run_id: str, spec: UpdateSpec
    ) -> UpdateOutcome:
        request = self._update_request(workflow_id, run_id, spec)
        while True:
            resp = await self._call(
                workflow_id,
                run_id,
                self._service.update_workflow_execution(request, retry=True),
            )
            if resp.HasField("outcome") or resp.stage >= _STAGE["accepted"]:
                await self._decode(resp)
                return self._outcome(resp)

    def _failed_update(self, failure: Any) -> UpdateOutcome:
        """What a failed update outcome means: rejected by the validator (nothing was
        recorded), ended by the run closing first, or a handler that raised."""
        converted = failure_from_temporal(failure) if failure is not None else None
        if converted is None:
            return UpdateOutcome(status="failed")
        if converted.type == _REJECTED_TYPE:
            return UpdateOutcome(status="rejected", failure=converted)
        if converted.type == _CLOSED_BEFORE_UPDATE:
            return UpdateOutcome(status="failed", failure=converted)
        return UpdateOutcome(status="completed", failure=converted)

    def _outcome(self, resp: PollWorkflowExecutionUpdateResponse | Any) -> UpdateOutcome:
        if resp.HasField("outcome"):
            outcome = resp.outcome
            if outcome.HasField("failure"):
                return self._failed_update(outcome.failure)
            values = outcome.success.payloads
            result = payload_from_temporal(values[0]) if values else Payload(b"json/1\nnull")
            return UpdateOutcome(status="completed", result=result)
        return UpdateOutcome(status="accepted")

    async def wait_update(
        self,
        workflow_id: str,
        run_id: str | None,
        update_id: str,
        *,
        stage: UpdateStage,
        timeout: float | None,
    ) -> UpdateOutcome:
        try:
            return await asyncio.wait_for(
                self._wait_update(workflow_id, run_id, update_id, stage), timeout
            )
        except TimeoutError:
            raise TimeoutError(f"update {update_id!r} did not finish within {timeout}s") from None

    async def _wait_update(
        self, workflow_id: str, run_id: str | None, update_id: str, stage: UpdateStage
    ) -> UpdateOutcome:
        sent = self._updates.get((workflow_id, update_id))
        if sent is not None:
            outcome = await asyncio.shield(sent)
            if stage == "accepted" or outcome.status != "accepted":
                return outcome
        request = PollWorkflowExecutionUpdateRequest(
            namespace=self.namespace,
            update_ref=UpdateRef(
                workflow_execution=execution(workflow_id, run_id), update_id=update_id
            ),
            identity=self.identity,
            wait_policy=WaitPolicy(lifecycle_stage=_STAGE[stage]),
        )
        while True:
            resp = await self._call(
                workflow_id,
                run_id,
                self._service.poll_workflow_execution_update(request, retry=True),
            )
            if resp.HasField("outcome") or resp.stage >= _STAGE[stage]:
                await self._decode(resp)
                return self._outcome(resp)
