"""Built-in workflows, so a simple agent needs no workflow class.

* ``duragent.Agent`` runs one agent on one input to its final output (approvals included).
* ``duragent.Chat`` is a multi-turn conversation: one update per user message, the
  conversation kept in workflow state, continue-as-new when the history grows long.

Agents are named by reference, ``"package.module:attribute"``, where the attribute is an
``Agent`` or a function returning one: workers import it, so it must be importable there.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Final

import pydantic_core
from agents import Agent

from .. import workflow
from ..client import Client, WorkflowHandle
from ..errors import (
    ApplicationError,
    ConfigurationError,
    UpdateFailedError,
    WorkflowNotRunningError,
)
from ..streaming import StreamEvent
from ._budget import Budget, UsageTally, tally
from ._imports import import_path, path_of
from ._tool_context import ToolRunContext, snapshot
from ._tool_context import rebuild as rebuild_context
from .approvals import ApprovalsMixin

AGENT_WORKFLOW: Final = "duragent.Agent"
CHAT_WORKFLOW: Final = "duragent.Chat"
DEFAULT_TASK_QUEUE: Final = "agents"


@dataclass
class AgentRequest:
    """Input of the built-in agent workflow."""

    agent: str
    """``"module:attribute"`` of an Agent or of a function returning one."""
    input: str | list[dict[str, Any]]
    max_turns: int = 10
    budget: Budget | None = None
    context: ToolRunContext | None = None
    """The run context (``Runner.run(..., context=...)``), as a copy the workflow rebuilds."""
    stream: bool = False
    """Stream the model calls to the run's durable stream (``Runner.run_streamed``)."""


@dataclass
class UsageSummary:
    """What a run spent on model calls, and what recovery took from history instead."""

    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    served_from_history: int = 0
    tokens_served_from_history: int = 0

    @classmethod
    def of(cls, t: UsageTally) -> UsageSummary:
        return cls(
            t.model_calls,
            t.input_tokens,
            t.output_tokens,
            t.cached_tokens,
            t.served_from_history,
            t.tokens_served_from_history,
        )


@dataclass
class AgentOutcome:
    """Result of the built-in agent workflow."""

    final_output: Any
    last_agent: str
    usage: UsageSummary
    context: Any = None
    """The run context as the agent's tools left it (JSON), when one was given."""


def load_agent(reference: str) -> Agent[Any]:
    """Import an agent (or call an agent factory) by ``"module:attribute"``."""
    module_name, sep, attribute = reference.partition(":")
    if not sep or not module_name or not attribute:
        raise ApplicationError(
            f"agent reference {reference!r} must look like 'package.module:attribute'",
            non_retryable=True,
        )
    obj = import_path(reference, "agent")
    if not isinstance(obj, Agent) and callable(obj):
        obj = obj()
    if not isinstance(obj, Agent):
        raise ApplicationError(
            f"{reference!r} is not an Agent or a function returning one", non_retryable=True
        )
    return obj  # pyright: ignore[reportUnknownVariableType]


def agent_reference(agent: str | Agent[Any] | Callable[[], Agent[Any]]) -> str:
    """The ``"module:attribute"`` reference of an agent, an agent factory, or a reference."""
    if isinstance(agent, str):
        return agent
    if not isinstance(agent, Agent):
        path = path_of(agent)
        if path is not None:
            return path
    for name, module in list(sys.modules.items()):
        if module is None or name.startswith(("_", "agents", "openai", "pydantic")):
            continue
        for attribute, value in list(vars(module).items()):
            if value is agent and name != "__main__":
                return f"{name}:{attribute}"
    raise ConfigurationError(
        "cannot find an import path for this agent: define it (or a function returning it) "
        "at module level, or pass 'module:attribute'"
    )


def _start_budget(budget: Budget | None) -> None:
    if budget is not None:
        tally().budget = budget


@workflow.defn(name=AGENT_WORKFLOW)
class AgentWorkflow(ApprovalsMixin):
    """Runs one agent to its final output; tools that need approval pause it durably."""

    @workflow.run
    async def run(self, request: AgentRequest) -> AgentOutcome:
        _start_budget(request.budget)
        agent = load_agent(request.agent)
        context = rebuild_context(request.context) if request.context is not None else None
        result = await self.run_agent(
            agent,
            request.input,
            max_turns=request.max_turns,
            context=context,
            stream=request.stream,
        )
        return AgentOutcome(
            final_output=result.final_output,
            last_agent=result.last_agent.name,
            usage=UsageSummary.of(tally()),
            context=(
                pydantic_core.to_jsonable_python(result.context_wrapper.context)
                if context is not None
                else None
            ),
        )


@dataclass
class ChatRequest:
    """Input of the built-in chat workflow (also what it carries across continue-as-new)."""

    agent: str
    history: list[dict[str, Any]] = field(default_factory=lambda: [])
    max_turns: int = 10
    budget: Budget | None = None
    messages: int = 0
    """User messages handled by earlier runs of this conversation."""
    messages_per_run: int = 50
    """Continue as new after this many messages (or sooner, if history grows long)."""
    tokens_before: int = 0
    calls_before: int = 0


@dataclass
class ChatSummary:
    messages: int
    history_items: int


@workflow.defn(name=CHAT_WORKFLOW)
class ChatWorkflow(ApprovalsMixin):
    """A conversation with one agent: send each user message as the ``send`` update."""

    def __init__(self) -> None:
        self.request: ChatRequest | None = None
        self.history: list[dict[str, Any]] = []
        self.messages_this_run = 0
        self.ended = False
        self.lock = asyncio.Lock()

    def _should_continue(self) -> bool:
        request = self.request
        return request is not None and (
            self.messages_this_run >= request.messages_per_run
            or workflow.info().is_continue_as_new_suggested()
        )

    @workflow.run
    async def run(self, request: ChatRequest) -> ChatSummary:
        self.request = request
        self.history = list(request.history)
        _start_budget(request.budget)
        run_tally = tally()
        run_tally.spent_before = request.tokens_before
        run_tally.calls_before = request.calls_before
        await workflow.wait_condition(lambda: self.ended or self._should_continue())
        await workflow.wait_condition(workflow.all_handlers_finished)
        total = request.messages + self.messages_this_run
        if not self.ended:
            workflow.continue_as_new(
                ChatRequest(
                    agent=request.agent,
                    history=self.history,
                    max_turns=request.max_turns,
                    budget=request.budget,
                    messages=total,
                    messages_per_run=request.messages_per_run,
                    tokens_before=request.tokens_before + run_tally.total_tokens,
                    calls_before=request.calls_before + run_tally.model_calls,
                )
            )
        return ChatSummary(messages=total, history_items=len(self.history))

    @workflow.update
    async def send(self, message: str) -> str:
        """Add a user message and return the agent's reply."""
        # A message can arrive with the start, before run() has read its request.
        await workflow.wait_condition(lambda: self.request is not None)
        async with self.lock:
            assert self.request is not None
            agent = load_agent(self.request.agent)
            turn = [*self.history, {"role": "user", "content": message}]
            result = await self.run_agent(agent, turn, max_turns=self.request.max_turns)
            self.history = [dict(item) for item in result.to_input_list()]
            self.messages_this_run += 1
            output = result.final_output
            return output if isinstance(output, str) else str(output)

    @send.validator
    def _validate_send(self, message: str) -> None:
        if self.ended:
            raise ApplicationError("the conversation has ended")
        if not message.strip():
            raise ApplicationError("the message is empty")

    @workflow.signal
    def end(self) -> None:
        """End the conversation (after any reply in progress)."""
        self.ended = True

    @workflow.query
    def transcript(self) -> list[dict[str, Any]]:
        """The conversation so far, as model input items."""
        return self.history


# ------------------------------------------------------------------------- client helpers


async def start_agent(
    client: Client,
    agent: str | Agent[Any] | Callable[[], Agent[Any]],
    input: str | list[dict[str, Any]],
    *,
    id: str,
    task_queue: str = DEFAULT_TASK_QUEUE,
    max_turns: int = 10,
    budget: Budget | None = None,
    context: Any = None,
    stream: bool = False,
) -> WorkflowHandle[AgentOutcome]:
    """Start the built-in agent workflow; ``await handle.result()`` gives an AgentOutcome.

    ``context`` is the run context its tools see (a dataclass, a pydantic model or a dict
    of JSON values; its class importable by workers); the outcome carries it back as the
    tools left it. With ``stream=True`` the model calls stream their tokens to the run's
    durable stream (read it with ``handle.stream()``; see :func:`stream_agent`).
    """
    sent = (
        snapshot(context, "start_agent(context=...)", "the agent workflow")
        if context is not None
        else None
    )
    handle = await client.start_workflow(
        AgentWorkflow.run,
        AgentRequest(
            agent=agent_reference(agent),
            input=input,
            max_turns=max_turns,
            budget=budget,
            context=sent,
            stream=stream,
        ),
        id=id,
        task_queue=task_queue,
    )
    return handle


async def stream_agent(
    client: Client,
    agent: str | Agent[Any] | Callable[[], Agent[Any]],
    input: str | list[dict[str, Any]],
    *,
    id: str,
    task_queue: str = DEFAULT_TASK_QUEUE,
    max_turns: int = 10,
    budget: Budget | None = None,
    context: Any = None,
) -> AsyncIterator[StreamEvent]:
    """Run an agent durably and stream it: start the built-in agent workflow with its model
    calls streamed, and yield the run's stream live (text deltas as the model writes,
    resets when a call is retried, tool calls and results, approval requests), ending with
    :class:`~duragent.streaming.RunClosed`, whose ``result`` is the
    :class:`AgentOutcome` as JSON.

    The run starts when iteration begins. It does not depend on this iterator: it goes on
    if the iterator is dropped, and ``client.get_workflow_handle(id).stream(after=offset)``
    picks the stream up again from the last event's offset. Arguments are those of
    :func:`start_agent`.

    Example::

        async for event in stream_agent(client, "app:agent", "Weather in Paris?", id="r1"):
            if isinstance(event, TextDelta):
                print(event.text, end="", flush=True)
    """
    handle = await start_agent(
        client,
        agent,
        input,
        id=id,
        task_queue=task_queue,
        max_turns=max_turns,
        budget=budget,
        context=context,
        stream=True,
    )
    async for event in handle.stream():
        yield event


async def run_agent(
    client: Client,
    agent: str | Agent[Any] | Callable[[], Agent[Any]],
    input: str | list[dict[str, Any]],
    **kwargs: Any,
) -> AgentOutcome:
    """Run an agent durably to its final output (see :func:`start_agent`)."""
    handle = await start_agent(client, agent, input, **kwargs)
    return await handle.result()


async def start_chat(
    client: Client,
    agent: str | Agent[Any] | Callable[[], Agent[Any]],
    *,
    id: str,
    task_queue: str = DEFAULT_TASK_QUEUE,
    max_turns: int = 10,
    budget: Budget | None = None,
    messages_per_run: int = 50,
) -> WorkflowHandle[ChatSummary]:
    """Start (or join, if it is running) the chat workflow with this id."""
    return await client.start_workflow(
        ChatWorkflow.run,
        ChatRequest(
            agent=agent_reference(agent),
            max_turns=max_turns,
            budget=budget,
            messages_per_run=messages_per_run,
        ),
        id=id,
        task_queue=task_queue,
        id_conflict_policy="use_existing",
    )


async def send_message(client: Client, chat_id: str, message: str) -> str:
    """Send a user message to a running chat and return the reply (following the chat
    across continue-as-new)."""
    for _ in range(5):
        handle = client.get_workflow_handle(chat_id)
        try:
            reply: str = await handle.execute_update(ChatWorkflow.send, message)
            return reply
        except WorkflowNotRunningError:
            pass  # the run closed (continue-as-new) between lookup and delivery: retry
        except UpdateFailedError as err:
            cause = err.cause
            if not (
                isinstance(cause, ApplicationError) and cause.type == "WorkflowNotRunningError"
            ):
                raise
            # The run continued as new before handling it: send again to the new run.
        if (await handle.describe()).status != "running":
            await asyncio.sleep(0.05)
    raise WorkflowNotRunningError(f"chat {chat_id!r} is not running")
