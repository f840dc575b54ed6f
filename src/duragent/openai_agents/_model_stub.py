"""The workflow side of a model call: a ``Model`` whose ``get_response`` runs the model
activity, plus the per-run usage tally and budget it checks before every call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

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
    Usage,
)
from agents.items import TResponseInputItem, TResponseStreamEvent
from agents.models.interface import ModelTracing

from .. import workflow
from .._runtime import runtime
from ..errors import ApplicationError, ConfigurationError
from ..retry import RetryPolicy
from ._model_activity import MODEL_ACTIVITY
from ._request import (
    ModelCallConfig,
    ModelCallRequest,
    ModelCallResult,
    describe_handoff,
    describe_output_schema,
    describe_tool,
    response_from_json,
    settings_to_json,
)
from ._settings import SETTINGS_KEY, AgentSettings

_TALLY_KEY: Final = "duragent.openai_agents.tally"


@dataclass(frozen=True)
class ModelActivityParameters:
    """How model calls run as activities.

    Attributes:
        start_to_close_timeout: Limit on one attempt of one model call.
        schedule_to_close_timeout: Limit on a model call with all its retries.
        retry_policy: Retries of failed calls (rate limits and 5xx are retried; other 4xx
            fail at once regardless).
        task_queue: Run model calls on another queue (e.g. a worker near a GPU).
    """

    start_to_close_timeout: timedelta = timedelta(minutes=2)
    schedule_to_close_timeout: timedelta | None = None
    retry_policy: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(
            initial_interval=timedelta(seconds=1),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(seconds=60),
            maximum_attempts=8,
        )
    )
    task_queue: str | None = None


@dataclass(frozen=True)
class Budget:
    """Limits on what one workflow run (with its sub-agents) may spend.

    A run that reaches a limit is stopped before its next model call with a
    :class:`BudgetExceededError`.
    """

    max_tokens: int | None = None
    max_model_calls: int | None = None


class BudgetExceededError(ApplicationError):
    """The run reached its token or model-call budget; no further model call was made."""

    def __init__(self, message: str) -> None:
        super().__init__(message, type="BudgetExceeded", non_retryable=True)


@dataclass
class UsageTally:
    """Model usage of one workflow run, as this instance has seen it.

    Rebuilt by replay like all instance state: ``served_from_history`` counts the calls a
    recovering worker took from history instead of making them again.
    """

    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    served_from_history: int = 0
    tokens_served_from_history: int = 0
    budget: Budget | None = None
    spent_before: int = 0
    """Tokens spent by the runs this one continues (budgets span continue-as-new)."""
    calls_before: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def check_budget(self) -> None:
        budget = self.budget
        if budget is None:
            return
        calls = self.calls_before + self.model_calls
        tokens = self.spent_before + self.total_tokens
        if budget.max_model_calls is not None and calls >= budget.max_model_calls:
            raise BudgetExceededError(
                f"budget exhausted: {calls} model calls made, limit {budget.max_model_calls}"
            )
        if budget.max_tokens is not None and tokens >= budget.max_tokens:
            raise BudgetExceededError(
                f"budget exhausted: {tokens} tokens used, limit {budget.max_tokens}"
            )

    def add(self, usage: Usage, *, replayed: bool) -> None:
        self.model_calls += 1
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        details = usage.input_tokens_details
        self.cached_tokens += details.cached_tokens if details is not None else 0
        if replayed:
            self.served_from_history += 1
            self.tokens_served_from_history += usage.input_tokens + usage.output_tokens


def tally() -> UsageTally:
    """The usage tally of the running workflow run (its budget starts as the plugin's)."""
    state = runtime().run_state()
    found = state.get(_TALLY_KEY)
    if not isinstance(found, UsageTally):
        settings = state.get(SETTINGS_KEY)
        budget = settings.budget if isinstance(settings, AgentSettings) else None
        found = state[_TALLY_KEY] = UsageTally(budget=budget)
    return found


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
        run_tally = tally()
        run_tally.check_budget()
        request = ModelCallRequest(
            config=ModelCallConfig(
                model=self.model,
                agent=self._scope.agent,
                system_instructions=system_instructions,
                model_settings=settings_to_json(model_settings),
                tools=[describe_tool(t) for t in tools],
                handoffs=[describe_handoff(h) for h in handoffs],
                output_schema=describe_output_schema(output_schema),
                tracing=tracing.value,
                prompt=dict(prompt) if prompt else None,
            ),
            input=input if isinstance(input, str) else [dict(i) for i in input],  # type: ignore[arg-type]
            previous_response_id=previous_response_id,
            conversation_id=conversation_id,
        )
        params = self._params
        result: ModelCallResult = await workflow.execute_activity(
            MODEL_ACTIVITY,
            request,
            result_type=ModelCallResult,
            start_to_close_timeout=params.start_to_close_timeout,
            schedule_to_close_timeout=params.schedule_to_close_timeout,
            retry_policy=params.retry_policy,
            task_queue=params.task_queue,
            summary=self._scope.agent,
        )
        response = response_from_json(result.response)
        run_tally.add(response.usage, replayed=workflow.is_replaying())
        return response

    def stream_response(
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
        raise ConfigurationError(
            "streaming model calls are not supported inside durable workflows; use Runner.run"
        )
