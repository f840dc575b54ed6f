"""Child workflows and requests to other workflows (signal, cancel) from workflow code.

A mixin of :class:`~duragent._engine.instance.WorkflowInstance`: the commands that start
children and address external workflows, and the events that resolve them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .._definitions import workflow_definition_of
from .._runtime import ChildWorkflowOptions
from ..errors import ChildWorkflowError, WorkflowAlreadyStartedError
from ..serde import DataConverter
from ..workflow import ChildWorkflowHandle, ExternalWorkflowHandle, WorkflowInfo
from . import commands as cmd
from . import events as ev
from .failure import exception_from_failure
from .loop import WorkflowEventLoop


@dataclass(slots=True)
class PendingChild:
    handle: ChildWorkflowHandle[Any]
    started: asyncio.Future[None]
    workflow_type: str
    result_type: Any


class ChildWorkflows:
    """Child and external workflow handling for a workflow instance."""

    # State owned by WorkflowInstance.
    _converter: DataConverter
    _loop: WorkflowEventLoop
    _commands: list[cmd.Command]
    _children: dict[int, PendingChild]
    _externals: dict[int, asyncio.Future[None]]
    _disposed: bool

    def info(self) -> WorkflowInfo:
        raise NotImplementedError

    def _take_seq(self) -> int:
        raise NotImplementedError

    def _check_writable(self, action: str) -> None:
        raise NotImplementedError

    def _on_child_started(self, event: ev.Event) -> None:
        assert isinstance(event, ev.ChildWorkflowExecutionStarted)
        child = self._children.get(event.seq)
        if child is not None:
            child.handle.first_execution_run_id = event.run_id
            if not child.started.done():
                child.started.set_result(None)

    def _on_child_start_failed(self, event: ev.Event) -> None:
        assert isinstance(event, ev.StartChildWorkflowExecutionFailed)
        child = self._children.pop(event.seq, None)
        if child is not None and not child.started.done():
            child.started.set_exception(
                WorkflowAlreadyStartedError(event.workflow_id, "", child.workflow_type)
            )

    def _on_child_closed(self, event: ev.Event) -> None:
        assert isinstance(
            event, ev.ChildWorkflowExecutionCompleted | ev.ChildWorkflowExecutionFailed
        )
        child = self._children.pop(event.seq, None)
        if child is None or child.handle.done():
            return
        if isinstance(event, ev.ChildWorkflowExecutionCompleted):
            try:
                value = self._converter.decode(
                    event.result,
                    child.result_type,
                    what=f"result of child workflow {child.handle.id!r}",
                )
            except Exception as exc:
                child.handle.set_exception(exc)
            else:
                child.handle.set_result(value)
            return
        cause = exception_from_failure(event.failure, self._converter)
        child.handle.set_exception(
            ChildWorkflowError(
                f"child workflow {child.handle.id!r} did not complete: {cause}",
                workflow_id=child.handle.id,
                workflow_type=child.workflow_type,
                run_id=child.handle.first_execution_run_id,
                cause=cause,
            )
        )

    def _on_external_resolved(self, event: ev.Event) -> None:
        assert isinstance(
            event,
            ev.ExternalWorkflowExecutionSignaled
            | ev.ExternalWorkflowExecutionCancelRequested
            | ev.ExternalWorkflowRequestFailed,
        )
        fut = self._externals.pop(event.seq, None)
        if fut is None or fut.done():
            return
        if isinstance(event, ev.ExternalWorkflowRequestFailed):
            fut.set_exception(exception_from_failure(event.failure, self._converter))
        else:
            fut.set_result(None)

    async def _start_child(
        self,
        workflow: Any,
        args: Sequence[Any],
        options: ChildWorkflowOptions,
        result_type: Any,
    ) -> ChildWorkflowHandle[Any]:
        if isinstance(workflow, str):
            workflow_type = workflow
        else:
            defn = workflow_definition_of(workflow)
            workflow_type = defn.name
            if result_type is None:
                result_type = defn.hints[1]
        info = self.info()
        seq = self._take_seq()
        workflow_id = options.id or f"{info.workflow_id}/child-{seq}"
        handle: ChildWorkflowHandle[Any] = ChildWorkflowHandle(loop=self._loop)
        handle._stable_hash = self._loop.next_hash()  # pyright: ignore[reportPrivateUsage]
        handle.id = workflow_id
        started: asyncio.Future[None] = self._loop.create_future()
        self._children[seq] = PendingChild(handle, started, workflow_type, result_type)
        self._commands.append(
            cmd.StartChildWorkflow(
                seq=seq,
                workflow_type=workflow_type,
                workflow_id=workflow_id,
                task_queue=options.task_queue or info.task_queue,
                input=self._converter.encode_all(args, what=f"argument of child {workflow_type!r}"),
                parent_close_policy=options.parent_close_policy,
                memo=dict(options.memo or {}),
            )
        )

        def on_cancel() -> None:
            if self._disposed:
                return  # torn down on eviction: nothing to tell the child
            if seq in self._children:
                self._children.pop(seq)
                self._request_external(
                    lambda s: cmd.RequestCancelExternal(seq=s, workflow_id=workflow_id, child=True)
                )

        async def signal(name: str, sargs: Sequence[Any]) -> None:
            await self._request_external(
                lambda s: cmd.SignalExternal(
                    seq=s,
                    workflow_id=workflow_id,
                    signal_name=name,
                    child=True,
                    input=self._converter.encode_all(sargs, what=f"signal {name!r}"),
                )
            )

        handle._on_cancel = on_cancel  # pyright: ignore[reportPrivateUsage]
        handle._signal = signal  # pyright: ignore[reportPrivateUsage]
        try:
            await started
        except asyncio.CancelledError:
            # Cancelled before the child started: cancel the child too.
            handle.cancel()
            raise
        return handle

    def start_child_workflow(
        self,
        workflow: Any,
        args: Sequence[Any],
        options: ChildWorkflowOptions,
        result_type: Any,
    ) -> Awaitable[ChildWorkflowHandle[Any]]:
        self._check_writable("start a child workflow")
        return self._start_child(workflow, args, options, result_type)

    def _request_external(self, make: Callable[[int], cmd.Command]) -> asyncio.Future[None]:
        self._check_writable("signal or cancel another workflow")
        seq = self._take_seq()
        future: asyncio.Future[None] = self._loop.create_future()
        self._externals[seq] = future
        self._commands.append(make(seq))
        return future

    def external_workflow(self, workflow_id: str, run_id: str | None) -> ExternalWorkflowHandle:
        async def signal(name: str, args: Sequence[Any]) -> None:
            await self._request_external(
                lambda s: cmd.SignalExternal(
                    seq=s,
                    workflow_id=workflow_id,
                    run_id=run_id or "",
                    signal_name=name,
                    input=self._converter.encode_all(args, what=f"signal {name!r}"),
                )
            )

        async def cancel() -> None:
            await self._request_external(
                lambda s: cmd.RequestCancelExternal(
                    seq=s, workflow_id=workflow_id, run_id=run_id or ""
                )
            )

        return ExternalWorkflowHandle(workflow_id, run_id, signal, cancel)
