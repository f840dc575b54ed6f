"""Human in the loop: tools that need approval pause the run durably.

When a tool with ``needs_approval`` is called, ``Runner.run`` returns with interruptions
instead of running it. :meth:`ApprovalsMixin.run_agent` turns that into a durable pause:
each request is recorded in history, the workflow waits (evictable, using no memory) until a
decision arrives as an update, days later if need be, then resumes the run where it
stopped. Decide through :func:`decide`, the CLI (``duragent approve|reject``) or any client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import workflow
from .._runtime import runtime
from ..client import WorkflowHandle
from ..errors import ApplicationError
from ._names import APPROVAL_MARKER, DECIDE_UPDATE, PENDING_QUERY

if TYPE_CHECKING:
    from agents import Agent, RunResult, RunResultStreaming
    from agents.items import ToolApprovalItem


@dataclass
class ApprovalRequest:
    """A tool call waiting for a human decision."""

    call_id: str
    tool: str
    arguments: str
    agent: str


@dataclass
class ApprovalDecision:
    """A decision on a pending tool call."""

    call_id: str
    approve: bool
    message: str | None = None
    """For a rejection: what the model is told instead of the tool's output."""


def _call_id(item: ToolApprovalItem) -> str:
    raw: Any = item.raw_item
    call_id = getattr(raw, "call_id", None)
    if call_id is None and isinstance(raw, dict):
        call_id = raw.get("call_id")  # pyright: ignore[reportUnknownMemberType]
    return str(call_id or getattr(raw, "id", ""))


class ApprovalsMixin:
    """Mix into a ``@workflow.defn`` class to run agents whose tools need approval.

    Provides the query ``duragent_pending_approvals`` and the update
    ``duragent_decide_approval``, which clients, the CLI and the UI use.
    """

    def _approvals(self) -> tuple[dict[str, ApprovalRequest], dict[str, ApprovalDecision]]:
        state = self.__dict__.setdefault("_duragent_approvals", ({}, {}))
        return state  # type: ignore[no-any-return]

    @workflow.query(name=PENDING_QUERY)
    def duragent_pending_approvals(self) -> list[ApprovalRequest]:
        # Read without creating the state: a query must not change the workflow (one that
        # came before the first approval request would otherwise be refused).
        pending, decided = self.__dict__.get("_duragent_approvals", ({}, {}))
        return [r for cid, r in pending.items() if cid not in decided]

    @workflow.update(name=DECIDE_UPDATE)
    def duragent_decide_approval(self, decision: ApprovalDecision) -> str:
        self._approvals()[1][decision.call_id] = decision
        return "approved" if decision.approve else "rejected"

    @duragent_decide_approval.validator
    def _validate_decision(self, decision: ApprovalDecision) -> None:
        pending, decided = self._approvals()
        if decision.call_id not in pending:
            known = ", ".join(sorted(pending)) or "none"
            raise ApplicationError(
                f"no tool call {decision.call_id!r} is waiting for approval (pending: {known})"
            )
        if decision.call_id in decided:
            raise ApplicationError(f"tool call {decision.call_id!r} was already decided")

    async def run_agent(
        self, agent: Agent[Any], input: Any, *, stream: bool = False, **kwargs: Any
    ) -> RunResult | RunResultStreaming:
        """``Runner.run`` that waits durably for approvals until the run finishes; with
        ``stream=True`` its model calls stream to the run's durable stream
        (``Runner.run_streamed``)."""
        result = await _run(agent, input, stream, kwargs)
        pending, decided = self._approvals()
        while result.interruptions:
            state = result.to_state()
            waiting: list[tuple[str, ToolApprovalItem]] = []
            for item in result.interruptions:
                call_id = _call_id(item)
                request = ApprovalRequest(
                    call_id=call_id,
                    tool=str(item.tool_name or ""),
                    arguments=str(getattr(item, "arguments", "") or ""),
                    agent=item.agent.name,
                )
                if call_id not in pending:
                    pending[call_id] = request
                    runtime().record_marker(
                        APPROVAL_MARKER,
                        {
                            "call_id": call_id,
                            "tool": request.tool,
                            "arguments": request.arguments,
                            "agent": request.agent,
                        },
                    )
                waiting.append((call_id, item))
            await workflow.wait_condition(
                lambda waiting=waiting: all(cid in decided for cid, _ in waiting)
            )
            for call_id, item in waiting:
                decision = decided[call_id]
                if decision.approve:
                    state.approve(item)
                else:
                    state.reject(item, rejection_message=decision.message)
            result = await _run(agent, state, stream, kwargs)
        return result


async def _run(
    agent: Agent[Any], input: Any, stream: bool, kwargs: dict[str, Any]
) -> RunResult | RunResultStreaming:
    from agents import Runner

    if not stream:
        return await Runner.run(agent, input, **kwargs)
    result = Runner.run_streamed(agent, input, **kwargs)
    async for _ in result.stream_events():
        pass  # subscribers read the run's durable stream; workflow code only waits
    return result


async def decide(
    handle: WorkflowHandle[Any], call_id: str, *, approve: bool, message: str | None = None
) -> str:
    """Approve or reject a pending tool call of the workflow behind ``handle``."""
    result: str = await handle.execute_update(
        DECIDE_UPDATE, ApprovalDecision(call_id=call_id, approve=approve, message=message)
    )
    return result


async def pending_approvals(handle: WorkflowHandle[Any]) -> list[ApprovalRequest]:
    """Tool calls of the workflow waiting for a decision, read from its history (no worker
    needs to be running)."""
    history = await handle.fetch_history()
    requested: dict[str, ApprovalRequest] = {}
    decided: set[str] = set()
    for event in history.events:
        if event.TYPE == "MarkerRecorded" and getattr(event, "name", "") == APPROVAL_MARKER:
            d: dict[str, Any] = event.details  # type: ignore[attr-defined]
            requested[str(d["call_id"])] = ApprovalRequest(
                call_id=str(d["call_id"]),
                tool=str(d.get("tool", "")),
                arguments=str(d.get("arguments", "")),
                agent=str(d.get("agent", "")),
            )
        elif (
            event.TYPE == "WorkflowExecutionUpdateAccepted"
            and getattr(event, "update_name", "") == DECIDE_UPDATE
        ):
            payloads = event.input  # type: ignore[attr-defined]
            if payloads:
                value = payloads[0].to_json_value()
                if isinstance(value, dict) and "call_id" in value:
                    decided.add(str(value["call_id"]))  # pyright: ignore[reportUnknownArgumentType]
    if history.events and history.events[-1].TYPE in (
        "WorkflowExecutionCompleted",
        "WorkflowExecutionFailed",
        "WorkflowExecutionCanceled",
        "WorkflowExecutionTerminated",
        "WorkflowExecutionContinuedAsNew",
    ):
        return []
    return [r for cid, r in requested.items() if cid not in decided]
