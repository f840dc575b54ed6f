"""The plugin's settings for one worker, as seen by the workflow runs it executes.

The SDK's default runner is process-wide, but two workers in one process may carry
different plugins (model timeouts, tool defaults, budgets). So the runner holds no settings:
each worker puts its plugin's :class:`AgentSettings` into the initial run state of every
workflow run it executes, and the runner, model stub and tools read them from the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from .._runtime import runtime
from ..errors import ConfigurationError

if TYPE_CHECKING:
    from ._model_stub import Budget, ModelActivityParameters
    from ._tools import ToolOptions

SETTINGS_KEY: Final = "duragent.openai_agents.settings"


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
