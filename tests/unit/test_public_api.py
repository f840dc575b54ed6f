"""The public API is pinned: adding or removing a name is a deliberate change made here."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import duragent
import duragent.client
import duragent.interceptor
import duragent.models.local
import duragent.openai_agents
import duragent.openai_agents.mcp
import duragent.openai_agents.workflow
import duragent.schedule
import duragent.search_attributes
import duragent.store
import duragent.streaming
import duragent.testing
from duragent import Client, Worker, activity, workflow
from duragent._engine.failure import FailureKind
from duragent.store.base import CLOSED_STATUSES, RunStatus

PUBLIC = {
    "duragent": [
        "ActivityError",
        "ApplicationError",
        "CancelledError",
        "ChildWorkflowError",
        "Client",
        "ConfigurationError",
        "DuragentError",
        "FailureError",
        "ForkError",
        "IdConflictPolicy",
        "NondeterminismError",
        "PayloadTooLargeError",
        "QueryError",
        "RetryPolicy",
        "ScheduleAlreadyRunningError",
        "ScheduleNotFoundError",
        "SerializationError",
        "StoreCorruptError",
        "StoreError",
        "StoreFileChangedError",
        "StoreFullError",
        "StoreIOError",
        "StoreLockedError",
        "StoreVersionError",
        "TerminatedError",
        "TimeoutError",
        "UpdateFailedError",
        "UpdateRejectedError",
        "Worker",
        "WorkflowAlreadyStartedError",
        "WorkflowExecution",
        "WorkflowFailureError",
        "WorkflowHandle",
        "WorkflowHistory",
        "WorkflowNotFoundError",
        "WorkflowNotRunningError",
        "WorkflowStatus",
        "WorkflowUpdateHandle",
        "__version__",
        "activity",
        "workflow",
    ],
    "duragent.client": [
        "AsyncActivityHandle",
        "Client",
        "Schedule",
        "ScheduleActionExecutionStartWorkflow",
        "ScheduleActionResult",
        "ScheduleActionStartWorkflow",
        "ScheduleDescription",
        "ScheduleHandle",
        "ScheduleInfo",
        "ScheduleIntervalSpec",
        "ScheduleListActionStartWorkflow",
        "ScheduleListDescription",
        "ScheduleListInfo",
        "ScheduleListSchedule",
        "ScheduleOverlapPolicy",
        "SchedulePolicy",
        "ScheduleSpec",
        "ScheduleState",
        "ScheduleUpdate",
        "ScheduleUpdateInput",
        "WorkflowExecution",
        "WorkflowExecutionAsyncIterator",
        "WorkflowExecutionCount",
        "WorkflowExecutionCountAggregationGroup",
        "WorkflowHandle",
        "WorkflowStatus",
        "WorkflowUpdateHandle",
    ],
    "duragent.workflow": [
        "ActivityHandle",
        "ChildWorkflowHandle",
        "ContinueAsNewError",
        "ExternalWorkflowHandle",
        "ParentClosePolicy",
        "UpdateMethod",
        "WorkflowInfo",
        "all_handlers_finished",
        "as_completed",
        "continue_as_new",
        "defn",
        "deprecate_patch",
        "execute_activity",
        "execute_activity_class",
        "execute_activity_method",
        "execute_child_workflow",
        "execute_local_activity",
        "execute_local_activity_class",
        "execute_local_activity_method",
        "get_external_workflow_handle",
        "in_workflow",
        "info",
        "init",
        "is_replaying",
        "logger",
        "now",
        "patched",
        "query",
        "random",
        "run",
        "set_dynamic_signal_handler",
        "set_signal_handler",
        "signal",
        "sleep",
        "start_activity",
        "start_activity_class",
        "start_activity_method",
        "start_child_workflow",
        "start_local_activity",
        "start_local_activity_class",
        "start_local_activity_method",
        "update",
        "upsert_memo",
        "upsert_search_attributes",
        "uuid4",
        "wait",
        "wait_condition",
    ],
    "duragent.activity": [
        "Info",
        "defn",
        "heartbeat",
        "in_activity",
        "info",
        "is_cancelled",
        "logger",
        "raise_complete_async",
    ],
    "duragent.interceptor": [
        "ActivityInboundInterceptor",
        "ActivityOutboundInterceptor",
        "ContinueAsNewInput",
        "ExecuteActivityInput",
        "ExecuteWorkflowInput",
        "HandleQueryInput",
        "HandleSignalInput",
        "HandleUpdateInput",
        "Interceptor",
        "SignalChildWorkflowInput",
        "SignalExternalWorkflowInput",
        "StartActivityInput",
        "StartChildWorkflowInput",
        "StartLocalActivityInput",
        "WorkflowInboundInterceptor",
        "WorkflowInterceptorClassInput",
        "WorkflowOutboundInterceptor",
    ],
    "duragent.testing": [
        "ReplayResult",
        "ReplayResults",
        "Replayer",
        "ScriptedModelProvider",
        "WorkflowEnvironment",
        "message",
        "tool_call",
    ],
    "duragent.openai_agents": [
        "AgentOutcome",
        "AgentRequest",
        "AgentTotals",
        "AgentWorkflow",
        "ApprovalDecision",
        "ApprovalRequest",
        "ApprovalsMixin",
        "Budget",
        "BudgetExceededError",
        "ChatRequest",
        "ChatSummary",
        "ChatWorkflow",
        "MCPServerProvider",
        "MODEL_ACTIVITY",
        "ModelActivityParameters",
        "ModelCall",
        "ModelCallRequest",
        "ModelCallResult",
        "OpenAIAgentsPlugin",
        "TOOL_ACTIVITY",
        "ToolOptions",
        "UsageReport",
        "UsageSummary",
        "UsageTally",
        "WorkflowSession",
        "activity_as_tool",
        "agent_reference",
        "decide",
        "durable_mcp_server",
        "durable_tool",
        "load_agent",
        "openai_provider",
        "pending_approvals",
        "provider_error",
        "run_agent",
        "send_message",
        "start_agent",
        "start_chat",
        "stream_agent",
        "tally",
        "usage_report",
    ],
    "duragent.openai_agents.mcp": [
        "DurableMCPServer",
        "MCPServerProvider",
        "MCPSessionLost",
        "durable_mcp_server",
    ],
    "duragent.streaming": [
        "ApprovalRequested",
        "CallCommitted",
        "ReasoningDelta",
        "Reset",
        "RunClosed",
        "StreamEvent",
        "TextDelta",
        "ToolCall",
        "ToolResult",
    ],
    "duragent.schedule": [
        "Schedule",
        "ScheduleActionExecutionStartWorkflow",
        "ScheduleActionResult",
        "ScheduleActionStartWorkflow",
        "ScheduleDescription",
        "ScheduleHandle",
        "ScheduleInfo",
        "ScheduleIntervalSpec",
        "ScheduleListActionStartWorkflow",
        "ScheduleListDescription",
        "ScheduleListInfo",
        "ScheduleListSchedule",
        "ScheduleOverlapPolicy",
        "SchedulePolicy",
        "ScheduleSpec",
        "ScheduleState",
        "ScheduleUpdate",
        "ScheduleUpdateInput",
    ],
    "duragent.openai_agents.workflow": [
        "AgentsWorkflowError",
        "ToolSerializationError",
        "activity_as_tool",
        "stateful_mcp_server",
        "stateless_mcp_server",
    ],
    "duragent.search_attributes": [
        "SearchAttributeIndexedValueType",
        "SearchAttributeKey",
        "SearchAttributePair",
        "SearchAttributeUpdate",
        "TypedSearchAttributes",
    ],
    "duragent.models.local": [
        "DEFAULT_EXAMPLES",
        "WEATHER_EXAMPLES",
        "Backend",
        "Completion",
        "CompletionRequest",
        "Example",
        "ExampleStep",
        "HttpBackend",
        "InProcessBackend",
        "LocalModel",
        "LocalModelProvider",
        "LocalModelUnavailableError",
        "chat",
        "is_available",
        "start_server",
        "weights_path",
    ],
    # Internal (see its docstring): what users need from it is exported by duragent.
    "duragent.store": [],
}

MODULES = {
    "duragent": duragent,
    "duragent.workflow": workflow,
    "duragent.activity": activity,
    "duragent.client": duragent.client,
    "duragent.interceptor": duragent.interceptor,
    "duragent.testing": duragent.testing,
    "duragent.openai_agents": duragent.openai_agents,
    "duragent.openai_agents.mcp": duragent.openai_agents.mcp,
    "duragent.streaming": duragent.streaming,
    "duragent.openai_agents.workflow": duragent.openai_agents.workflow,
    "duragent.search_attributes": duragent.search_attributes,
    "duragent.schedule": duragent.schedule,
    "duragent.models.local": duragent.models.local,
    "duragent.store": duragent.store,
}


def test_exports_are_pinned() -> None:
    for name, module in MODULES.items():
        assert sorted(module.__all__) == sorted(PUBLIC[name]), name


def test_every_export_resolves_and_public_callables_are_documented() -> None:
    for name, module in MODULES.items():
        for attr in module.__all__:
            value = getattr(module, attr)
            if callable(value) and not attr.startswith("_") and attr != "logger":
                assert (getattr(value, "__doc__", None) or "").strip(), f"{name}.{attr}"


def test_every_error_says_whether_it_is_retryable() -> None:
    for attr in duragent.__all__:
        value = getattr(duragent, attr)
        if isinstance(value, type) and issubclass(value, duragent.DuragentError):
            assert isinstance(getattr(value, "retryable", None), bool | property), attr


def test_missing_agents_sdk_is_reported_as_the_extra() -> None:
    """Only an ImportError for the SDK itself names the extra; others surface as they are."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['agents'] = None\n"
        "try:\n"
        "    from duragent.openai_agents import Budget\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'duragent[agents]'" in out.stdout
    bug = (
        "import sys, types\n"
        "import duragent.openai_agents as oa\n"
        "oa._EXPORTS['Broken'] = '_does_not_exist'\n"
        "try:\n"
        "    oa.Broken\n"
        "except ImportError as e:\n"
        "    print(type(e).__name__, e.name)\n"
    )
    out = subprocess.run([sys.executable, "-c", bug], capture_output=True, text=True, check=True)
    assert "duragent.openai_agents._does_not_exist" in out.stdout
    assert "duragent[agents]" not in out.stdout


def test_status_and_policy_values_are_str_enums_of_their_wire_values() -> None:
    """The values are what stores, histories and the HTTP API hold: pinned, never renamed."""
    wire = {
        duragent.WorkflowStatus: [
            "running",
            "completed",
            "failed",
            "canceled",
            "terminated",
            "continued_as_new",
        ],
        duragent.IdConflictPolicy: ["fail", "use_existing", "terminate_existing"],
        workflow.ParentClosePolicy: ["terminate", "request_cancel", "abandon"],
        FailureKind: [
            "application",
            "cancelled",
            "terminated",
            "timeout",
            "activity",
            "child_workflow",
        ],
    }
    for enum, values in wire.items():
        assert [m.value for m in enum] == values, enum
        for member in enum:
            # Equal to, hashed like and serialized as its string (rows and JSON hold strings).
            assert member == member.value and {member.value: 1}[member] == 1
            assert json.dumps(member) == json.dumps(member.value) and f"{member}" == member.value
    assert RunStatus is duragent.WorkflowStatus
    assert set(CLOSED_STATUSES) == set(RunStatus) - {RunStatus.RUNNING}


_seen: dict[str, Any] = {}


@activity.defn
async def look_at_context() -> str:
    ctx = activity.context()
    _seen["public"] = {n for n in dir(ctx) if not n.startswith("_")}
    _seen["values"] = [getattr(ctx, n) for n in _seen["public"]]
    _seen["stream"] = [getattr(ctx.stream, n) for n in dir(ctx.stream) if not n.startswith("_")]
    return "ok"


@workflow.defn
class LookAtContext:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(
            look_at_context, start_to_close_timeout=timedelta(seconds=10)
        )


async def test_the_activity_context_is_internal_and_hands_out_no_store(client: Client) -> None:
    """``activity.context()`` is for Duragent's integrations (streams, usage, MCP sessions),
    not in ``__all__``; what it exposes is pinned, and none of it is the store (usage and
    stream rows go through callables that keep the store private)."""
    assert "context" not in activity.__all__
    async with Worker(
        client, task_queue="q", workflows=[LookAtContext], activities=[look_at_context]
    ):
        assert await client.execute_workflow(LookAtContext.run, id="ctx", task_queue="q") == "ok"
    assert _seen["public"] == {
        "cancel_requested",
        "heartbeat",
        "info",
        "on_cancel",
        "outbound",
        "report_usage",
        "stream",
        "worker_id",
    }
    for value in [*_seen["values"], *_seen["stream"]]:
        owner = getattr(value, "__self__", value)  # a bound method: the object it is bound to
        assert not type(owner).__module__.startswith("duragent.store"), value
