"""The plugin's settings for one worker, as seen by the workflow runs it executes.

The SDK's default runner is process-wide, but two workers in one process may carry
different plugins (model timeouts, tool defaults, budgets). So the runner holds no settings:
each worker puts its plugin's :class:`AgentSettings` into the initial run state of every
workflow run it executes, and the runner, model stub and tools read them from the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Final

from .._runtime import runtime
from ..errors import ConfigurationError
from ..retry import RetryPolicy

if TYPE_CHECKING:
    from ._budget import Budget
    from ._tools import ToolOptions

SETTINGS_KEY: Final = "duragent.openai_agents.settings"


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
class AgentSettings:
    """What ``OpenAIAgentsPlugin`` was configured with."""

    model_params: ModelActivityParameters
    tool_options: ToolOptions
    budget: Budget | None


def current_settings() -> AgentSettings:
    """The settings of the worker running the current workflow run."""
    found = runtime().run_state().get(SETTINGS_KEY)
    if not isinstance(found, AgentSettings):
        raise ConfigurationError(
            "Runner.run inside a workflow needs a worker configured with "
            "OpenAIAgentsPlugin (Worker(..., plugins=[OpenAIAgentsPlugin()]))"
        )
    return found
