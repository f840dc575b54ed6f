"""What a run may spend and what it has spent: :class:`Budget`, the error raised when it is
exhausted, and the per-run :class:`UsageTally` (kept in run state, so replay rebuilds it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from agents import Usage

from .._runtime import runtime
from ..errors import ApplicationError
from ._settings import SETTINGS_KEY, AgentSettings

_TALLY_KEY: Final = "duragent.openai_agents.tally"


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
