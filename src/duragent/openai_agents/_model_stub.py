"""The workflow side of a model call: a ``Model`` whose ``get_response`` runs the model
activity (after checking the run's budget, see :mod:`._budget`), and the hooks that tell it
which agent is calling."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from agents import (
    Agent,
    AgentOutputSchemaBase,
    Handoff,
    Model,
    ModelProvider,
    ModelResponse,
    ModelSettings,
    RunContextWrapper,
    RunHooks,
    Tool,
)
from agents.items import TResponseInputItem, TResponseStreamEvent
from agents.models.interface import ModelTracing

from .. import workflow
from ._budget import tally
from ._fork import fork_model_call
from ._model_activity import MODEL_ACTIVITY
from ._request import (
    ModelCallConfig,
    ModelCallResult,
    describe_handoff,
    describe_output_schema,
    describe_tool,
    response_from_json,
    settings_to_json,
)
from ._request_payload import request_encoder
from ._settings import ModelActivityParameters
from ._streaming import replay_events


class RunScope:
    """State shared by the hooks and the model stub of one ``Runner.run``."""

    def __init__(self) -> None:
        self.agent = ""


class ScopedHooks(RunHooks[Any]):
    """Notes which agent is about to call the model, then defers to the user's hooks."""

    def __init__(self, scope: RunScope, inner: RunHooks[Any] | None) -> None:
        self._scope = scope
        self._inner = inner

    async def on_llm_start(
        self,
        context: RunContextWrapper[Any],
        agent: Agent[Any],
        system_prompt: str | None,
        input_items: list[TResponseInputItem],
    ) -> None:
        self._scope.agent = agent.name
        if self._inner is not None:
            await self._inner.on_llm_start(context, agent, system_prompt, input_items)


def _delegate(name: str) -> Any:
    async def delegated(self: ScopedHooks, *args: Any, **kwargs: Any) -> None:
        inner = self._inner  # pyright: ignore[reportPrivateUsage]
        if inner is not None:
            await getattr(inner, name)(*args, **kwargs)

    delegated.__name__ = name
    return delegated


for _name in (
    "on_llm_end",
    "on_agent_start",
    "on_agent_end",
    "on_handoff",
    "on_tool_start",
    "on_tool_end",
):
    setattr(ScopedHooks, _name, _delegate(_name))


class DurableModelProvider(ModelProvider):
    """Hands out :class:`DurableModelStub` models for one run."""

    def __init__(self, scope: RunScope, params: ModelActivityParameters) -> None:
        self._scope = scope
        self._params = params

    def get_model(self, model_name: str | None) -> Model:
        return DurableModelStub(model_name, self._scope, self._params)


class DurableModelStub(Model):
    """A model whose every call is a durable activity (recorded, retried, replayed)."""

    def __init__(self, name: str | None, scope: RunScope, params: ModelActivityParameters):
        self.model = name
        self._scope = scope
        self._params = params

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff[Any, Any]],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: Any = None,
    ) -> ModelResponse:
        return await self._call(
            system_instructions,
            input,
            model_settings,
            tools,
            output_schema,
            handoffs,
            tracing,
            previous_response_id=previous_response_id,
            conversation_id=conversation_id,
            prompt=prompt,
            stream=False,
        )

    async def _call(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff[Any, Any]],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: Any,
        stream: bool,
    ) -> ModelResponse:
        run_tally = tally()
        run_tally.check_budget()
        config = ModelCallConfig(
            model=self.model,
            agent=self._scope.agent,
            system_instructions=system_instructions,
            model_settings=settings_to_json(model_settings),
            tools=[describe_tool(t) for t in tools],
            handoffs=[describe_handoff(h) for h in handoffs],
            output_schema=describe_output_schema(output_schema),
            tracing=tracing.value,
            prompt=dict(prompt) if prompt else None,
        )
        fork = fork_model_call(config)  # a forked run: overrides, recorded results
        if fork is not None:
            config = fork.config
        # A ModelCallRequest's JSON, encoding only what earlier calls did not.
        request = request_encoder().payload(
            config, input, previous_response_id, conversation_id, stream=stream
        )
        params = self._params

        async def execute() -> ModelCallResult:
            return await workflow.execute_activity(
                MODEL_ACTIVITY,
                request,
                result_type=ModelCallResult,
                start_to_close_timeout=params.start_to_close_timeout,
                schedule_to_close_timeout=params.schedule_to_close_timeout,
                retry_policy=params.retry_policy,
                task_queue=params.task_queue,
                summary=self._scope.agent,
            )

        result = await (execute() if fork is None else fork.result(request, execute))
        response = response_from_json(result.response, result.sdk)
        served = fork is not None and fork.served
        run_tally.add(response.usage, replayed=served or workflow.is_replaying())
        if fork is not None:
            fork.answered(response.output)
        return response

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff[Any, Any]],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: Any = None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        """One streamed model call: the activity streams the provider's deltas to the run's
        durable stream (for subscribers), and workflow code gets the recorded response as
        one sequence of stream events, the same on every replay."""
        response = await self._call(
            system_instructions,
            input,
            model_settings,
            tools,
            output_schema,
            handoffs,
            tracing,
            previous_response_id=previous_response_id,
            conversation_id=conversation_id,
            prompt=prompt,
            stream=True,
        )
        for event in replay_events(response, self.model):
            yield event
