"""The Agents SDK internals the integration relies on, in one place.

The SDK has no public API for a few things a durable runner needs: which tool is an agent
used as a tool (its nested run must stay durable instead of becoming one tool activity),
the agent behind a handoff or a paused ``RunState``, a tool's namespace, and the function
inside an ``@function_tool`` (its import path, and the implementation the tool activity
replaces while the SDK's error handling stays). Every such access goes through this module,
and :func:`check_sdk` probes them all on real SDK objects before a worker or replayer runs:
an SDK release that renames one stops the worker at start with a message naming it, instead
of letting agents quietly run differently. ``tests/durable_agents/test_sdk_canary.py`` runs
the same probes, one test per attribute.
"""

from __future__ import annotations

import importlib.metadata
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Final

import agents
from agents import Agent, FunctionTool, Handoff, Model, Usage, function_tool, handoff
from agents import usage as sdk_usage
from agents.run import AgentRunner, get_default_agent_runner, set_default_agent_runner
from agents.run_state import RunState
from openai.types.responses import ResponseUsage

from ..errors import ConfigurationError

SDK_VERSION: Final = importlib.metadata.version("openai-agents")
"""The installed Agents SDK's version (recorded with every model response)."""

IS_AGENT_TOOL: Final = "_is_agent_tool"
AGENT_INSTANCE: Final = "_agent_instance"
TOOL_NAMESPACE: Final = "_tool_namespace"
TOOL_NAMESPACE_DESCRIPTION: Final = "_tool_namespace_description"
INVOKE_TOOL_IMPL: Final = "_invoke_tool_impl"
HANDOFF_AGENT_REF: Final = "_agent_ref"
RUN_STATE_AGENT: Final = "_current_agent"
MCP_FAILURE_FUNCTION: Final = "_get_failure_error_function"

MODEL_CALL_PARAMETERS: Final = frozenset(
    {
        "self",
        "system_instructions",
        "input",
        "model_settings",
        "tools",
        "output_schema",
        "handoffs",
        "tracing",
        "previous_response_id",
        "conversation_id",
        "prompt",
    }
)
"""What ``Model.get_response`` takes and the model activity records and passes on: a new
parameter would be silently dropped by durable model calls."""

RUNNER_OPTIONS: Final = ("context", "max_turns", "hooks", "run_config", "session")
"""The ``Runner.run`` options the durable runner reads or replaces."""

USAGE_OF_STREAM: Final = "agents.usage._response_usage_to_usage"
"""How the SDK's run loop turns a streamed response's usage into its ``Usage``."""


@dataclass(frozen=True)
class Reliance:
    """One SDK internal the integration uses, and what breaks without it."""

    name: str
    needed_for: str


RELIANCES: Final = (
    Reliance(
        f"FunctionTool.{IS_AGENT_TOOL}",
        "an agent used as a tool keeps its nested run durable (else it would run whole "
        "inside one tool activity)",
    ),
    Reliance(
        f"FunctionTool.{AGENT_INSTANCE}",
        "the agent behind an agent-as-tool is made durable",
    ),
    Reliance(
        f"FunctionTool.{TOOL_NAMESPACE}",
        "a namespaced tool keeps its namespace in durable model calls",
    ),
    Reliance(
        f"FunctionTool.{TOOL_NAMESPACE_DESCRIPTION}",
        "a namespaced tool keeps its namespace description in durable model calls",
    ),
    Reliance(
        "FunctionTool.__wrapped__",
        "an @function_tool is found by its function's import path in any worker process, "
        "and its run-context parameter is seen",
    ),
    Reliance(
        f"FunctionTool.on_invoke_tool.{INVOKE_TOOL_IMPL}",
        "a durable tool replaces only the implementation, keeping the SDK's error handling",
    ),
    Reliance(
        f"Handoff.{HANDOFF_AGENT_REF}",
        "the agent a handoff leads to is made durable before the handoff happens",
    ),
    Reliance(
        f"RunState.{RUN_STATE_AGENT}",
        "a run resumed from a RunState (after an approval) makes its current agent durable",
    ),
    Reliance(
        "agents.run.set_default_agent_runner",
        "Runner.run inside a workflow goes through the durable runner",
    ),
    Reliance(
        "Model.get_response parameters",
        "every argument of a model call (streamed or not) is recorded and passed on by the "
        "model activity",
    ),
    Reliance(
        USAGE_OF_STREAM,
        "a streamed model call records the usage the SDK computes, and replays it unchanged",
    ),
    Reliance(
        f"MCPServer.{MCP_FAILURE_FUNCTION}",
        "an MCP call that must stop the run (an interrupted at-most-once call with "
        "on_interrupted='fail') fails it instead of reaching the model as a tool error",
    ),
)


def _missing(name: str, detail: str = "") -> ConfigurationError:
    needed = next((r.needed_for for r in RELIANCES if r.name == name), "")
    return ConfigurationError(
        f"openai-agents {SDK_VERSION} is not compatible with this Duragent: {name} "
        f"{detail or 'is missing'}; Duragent needs it so that {needed}. Install the "
        "openai-agents version Duragent pins (pip install 'duragent[agents]')"
    )


# -- accessors (each one strict: a missing attribute raises, never defaults) ----------------


def _read(obj: object, attr: str, owner: str) -> Any:
    try:
        return getattr(obj, attr)
    except AttributeError:
        raise _missing(f"{owner}.{attr}") from None


def agent_of_tool(tool: FunctionTool) -> Agent[Any] | None:
    """The agent behind an agent-as-tool (``Agent.as_tool``), None for other tools."""
    if not _read(tool, IS_AGENT_TOOL, "FunctionTool"):
        return None
    agent = _read(tool, AGENT_INSTANCE, "FunctionTool")
    if not isinstance(agent, Agent):
        raise _missing(f"FunctionTool.{AGENT_INSTANCE}", f"holds a {type(agent).__name__}")
    return agent  # pyright: ignore[reportUnknownVariableType]


def tool_namespace(tool: FunctionTool) -> tuple[str | None, str | None]:
    """A function tool's namespace and its description (None when it has none)."""
    return (
        _read(tool, TOOL_NAMESPACE, "FunctionTool"),
        _read(tool, TOOL_NAMESPACE_DESCRIPTION, "FunctionTool"),
    )


def set_tool_namespace(tool: FunctionTool, namespace: str, description: str | None) -> None:
    _read(tool, TOOL_NAMESPACE, "FunctionTool")  # fail loudly rather than set a dead field
    setattr(tool, TOOL_NAMESPACE, namespace)
    setattr(tool, TOOL_NAMESPACE_DESCRIPTION, description)


def wrapped_function(tool: FunctionTool) -> Any:
    """The function an ``@function_tool`` wraps (None for a tool built by hand)."""
    try:
        fn = tool.__wrapped__
    except AttributeError:  # the SDK's own answer for tools not made by function_tool
        return None
    return fn if callable(fn) else None


def tool_implementation(invoker: Any) -> Any:
    """The implementation inside an ``@function_tool``'s error handling, or None when
    ``invoker`` is not the SDK's error-handling wrapper (a tool built by hand)."""
    if not isinstance(invoker, _FAILURE_HANDLING_INVOKER):
        return None
    return _read(invoker, INVOKE_TOOL_IMPL, "FunctionTool.on_invoke_tool")


def set_tool_implementation(invoker: Any, impl: Callable[..., Any]) -> None:
    _read(invoker, INVOKE_TOOL_IMPL, "FunctionTool.on_invoke_tool")
    setattr(invoker, INVOKE_TOOL_IMPL, impl)


def handoff_agent(item: Handoff[Any, Any]) -> Agent[Any] | None:
    """The agent a handoff leads to, when the SDK knows it (None for a custom handoff)."""
    ref = _read(item, HANDOFF_AGENT_REF, "Handoff")
    agent = ref() if ref is not None else None
    return agent if isinstance(agent, Agent) else None  # pyright: ignore[reportUnknownVariableType]


def run_state_agent(state: RunState[Any]) -> Agent[Any] | None:
    """The agent a paused run resumes with."""
    agent = _read(state, RUN_STATE_AGENT, "RunState")
    return agent if isinstance(agent, Agent) else None  # pyright: ignore[reportUnknownVariableType]


def usage_of_response(response: Any) -> Usage:
    """The usage of a streamed response, computed as the SDK's run loop does."""
    convert = _read(sdk_usage, "_response_usage_to_usage", "agents.usage")
    if response.usage:
        return convert(response.usage)  # type: ignore[no-any-return]
    count = _read(sdk_usage, "_requests_for_response_without_usage", "agents.usage")
    return Usage(requests=count(response))


def response_usage(usage: Usage) -> ResponseUsage:
    """A Responses API usage that the SDK's run loop turns back into exactly ``usage``."""
    attach = _read(sdk_usage, "_attach_normalized_usage", "agents.usage")
    carrier = ResponseUsage.model_construct(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        total_tokens=usage.total_tokens,
        input_tokens_details=usage.input_tokens_details,
        output_tokens_details=usage.output_tokens_details,
    )
    attach(carrier, usage)
    return carrier


def _failure_handling_invoker() -> type:
    """The class of the SDK's error-handling wrapper around an ``@function_tool``."""
    return type(function_tool(_probe_tool).on_invoke_tool)


def _probe_tool(city: str) -> str:
    """A tool used to probe the SDK (never called)."""
    return city


_FAILURE_HANDLING_INVOKER: Final[type] = _failure_handling_invoker()


# -- the probe ------------------------------------------------------------------------------


def problems() -> list[ConfigurationError]:
    """Every SDK internal the integration relies on that the installed SDK lacks."""
    found: list[ConfigurationError] = []
    for probe in PROBES.values():
        try:
            probe()
        except ConfigurationError as err:
            found.append(err)
    return found


_checked = False


def check_sdk() -> None:
    """Raise a ``ConfigurationError`` naming every SDK internal that is missing (once per
    process; workers and replayers call it before running agents)."""
    global _checked
    if _checked:
        return
    found = problems()
    if found:
        raise ConfigurationError("\n".join(str(e) for e in found))
    _checked = True


def _probe_agent_tool() -> None:
    inner = Agent(name="probe")
    tool = inner.as_tool(tool_name="probe", tool_description="probe")
    if agent_of_tool(tool) is not inner:
        raise _missing(f"FunctionTool.{IS_AGENT_TOOL}", "does not mark Agent.as_tool tools")


def _probe_agent_instance() -> None:
    inner = Agent(name="probe")
    tool = inner.as_tool(tool_name="probe", tool_description="probe")
    if _read(tool, AGENT_INSTANCE, "FunctionTool") is not inner:
        raise _missing(f"FunctionTool.{AGENT_INSTANCE}", "does not hold the agent")


def _probe_namespace() -> None:
    tool = function_tool(_probe_tool)
    set_tool_namespace(tool, "probe_ns", "a probe")
    if tool_namespace(tool) != ("probe_ns", "a probe"):
        raise _missing(f"FunctionTool.{TOOL_NAMESPACE}", "does not keep the namespace")


def _probe_namespace_description() -> None:
    _read(function_tool(_probe_tool), TOOL_NAMESPACE_DESCRIPTION, "FunctionTool")


def _probe_wrapped() -> None:
    tool = function_tool(_probe_tool)
    if wrapped_function(tool) is not _probe_tool:
        raise _missing("FunctionTool.__wrapped__", "does not return the decorated function")


def _probe_invoke_impl() -> None:
    tool = function_tool(_probe_tool)
    if not callable(tool_implementation(tool.on_invoke_tool)):
        raise _missing(f"FunctionTool.on_invoke_tool.{INVOKE_TOOL_IMPL}")


def _probe_handoff() -> None:
    target = Agent(name="probe")
    if handoff_agent(handoff(target)) is not target:
        raise _missing(f"Handoff.{HANDOFF_AGENT_REF}", "does not lead to the agent")


def _probe_run_state() -> None:
    agent = Agent(name="probe")
    state: RunState[Any] = RunState(
        context=agents.RunContextWrapper(context=None),
        original_input="probe",
        starting_agent=agent,
    )
    if run_state_agent(state) is not agent:
        raise _missing(f"RunState.{RUN_STATE_AGENT}", "does not hold the current agent")


def _probe_default_runner() -> None:
    previous = get_default_agent_runner()
    runner = AgentRunner()
    try:
        set_default_agent_runner(runner)
        if get_default_agent_runner() is not runner:
            raise _missing("agents.run.set_default_agent_runner", "does not take effect")
    finally:
        set_default_agent_runner(previous)
    params = inspect.signature(agents.Runner.run).parameters
    absent = [name for name in RUNNER_OPTIONS if name not in params]
    if absent:
        raise _missing("agents.run.set_default_agent_runner", f"Runner.run lacks {absent}")


def _probe_model_parameters() -> None:
    for method in (Model.get_response, Model.stream_response):
        params = set(inspect.signature(method).parameters)
        if params != MODEL_CALL_PARAMETERS:
            new = sorted(params - MODEL_CALL_PARAMETERS)
            gone = sorted(MODEL_CALL_PARAMETERS - params)
            raise _missing(
                "Model.get_response parameters",
                f"changed in {method.__name__} (new: {new}, removed: {gone})",
            )


def _probe_usage_of_stream() -> None:
    usage = Usage(requests=2, input_tokens=7, output_tokens=3, total_tokens=10)
    response = SimpleNamespace(usage=response_usage(usage))
    if usage_of_response(response) != usage:
        raise _missing(USAGE_OF_STREAM, "does not give back the usage it was given")


def _probe_mcp_failure_function() -> None:
    from agents.mcp import MCPServer, MCPUtil
    from mcp.types import Tool

    consulted: list[bool] = []

    class Probe(MCPServer):
        name = "probe"  # pyright: ignore[reportAssignmentType, reportIncompatibleMethodOverride]

        async def connect(self) -> None: ...
        async def cleanup(self) -> None: ...
        async def list_tools(self, run_context: Any = None, agent: Any = None) -> Any: ...
        async def call_tool(self, tool_name: str, arguments: Any, meta: Any = None) -> Any: ...
        async def list_prompts(self) -> Any: ...
        async def get_prompt(self, name: str, arguments: Any = None) -> Any: ...

    def consult(agent_function: Any) -> Any:
        consulted.append(True)
        return agent_function

    server = Probe()
    if not callable(getattr(server, MCP_FAILURE_FUNCTION, None)):
        raise _missing(f"MCPServer.{MCP_FAILURE_FUNCTION}")
    setattr(server, MCP_FAILURE_FUNCTION, consult)
    tool = Tool.model_validate({"name": "probe", "inputSchema": {"type": "object"}})
    MCPUtil.to_function_tool(tool, server, False)
    if not consulted:
        raise _missing(f"MCPServer.{MCP_FAILURE_FUNCTION}", "is not consulted for MCP tools")


PROBES: Final[dict[str, Callable[[], None]]] = {
    f"FunctionTool.{IS_AGENT_TOOL}": _probe_agent_tool,
    f"FunctionTool.{AGENT_INSTANCE}": _probe_agent_instance,
    f"FunctionTool.{TOOL_NAMESPACE}": _probe_namespace,
    f"FunctionTool.{TOOL_NAMESPACE_DESCRIPTION}": _probe_namespace_description,
    "FunctionTool.__wrapped__": _probe_wrapped,
    f"FunctionTool.on_invoke_tool.{INVOKE_TOOL_IMPL}": _probe_invoke_impl,
    f"Handoff.{HANDOFF_AGENT_REF}": _probe_handoff,
    f"RunState.{RUN_STATE_AGENT}": _probe_run_state,
    "agents.run.set_default_agent_runner": _probe_default_runner,
    "Model.get_response parameters": _probe_model_parameters,
    f"MCPServer.{MCP_FAILURE_FUNCTION}": _probe_mcp_failure_function,
    USAGE_OF_STREAM: _probe_usage_of_stream,
}
"""One probe per reliance (keys are :attr:`Reliance.name`)."""
