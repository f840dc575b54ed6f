"""Client-side helpers of ``Client.fork``: turning its arguments into :class:`ForkOptions`,
and what a backend offers to fork a run."""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, runtime_checkable

import pydantic

from ..errors import ConfigurationError
from ..store.base import StartResult
from .plan import ForkOptions
from .spec import Overrides


@runtime_checkable
class ForkingBackend(Protocol):
    """A client backend that can fork runs: the embedded one copies the source's history
    prefix; Temporal's starts a cassette fork (``duragent.temporal.fork``)."""

    async def fork_run(
        self,
        source_workflow_id: str,
        source_run_id: str | None,
        options: ForkOptions,
        *,
        workflow_id: str,
    ) -> StartResult:
        """Fork a run of ``source_workflow_id`` (its latest when ``source_run_id`` is None)
        as the new workflow ``workflow_id``."""
        ...


def settings_json(settings: Any) -> dict[str, Any] | None:
    """Model settings as the JSON the model request records (None stays None)."""
    if settings is None:
        return None
    if isinstance(settings, dict):
        return dict(settings)  # pyright: ignore[reportUnknownArgumentType]
    if dataclasses.is_dataclass(settings) and not isinstance(settings, type):
        dumped: Any = pydantic.TypeAdapter(type(settings)).dump_python(
            settings, mode="json", exclude_none=True
        )
        return dict(dumped)
    raise ConfigurationError(
        f"model_settings must be agents.ModelSettings or a dict, not {type(settings).__name__}"
    )


def fork_options(
    at_model_call: int,
    *,
    model: str | None = None,
    instructions: str | None = None,
    model_settings: Any = None,
    agent: str | None = None,
    tools: str = "live",
    models: str = "live",
    unmatched_tools: str = "live",
    allow_side_effects: bool = False,
) -> ForkOptions:
    """Check and gather ``Client.fork``'s arguments."""
    if isinstance(at_model_call, bool) or not isinstance(at_model_call, int):
        raise ConfigurationError(f"at_model_call must be an int, not {at_model_call!r}")
    if at_model_call < 1:
        raise ConfigurationError(f"at_model_call counts from 1, not {at_model_call}")
    return ForkOptions(
        at_model_call=at_model_call,
        overrides=Overrides(
            model=model,
            instructions=instructions,
            model_settings=settings_json(model_settings),
            agent=agent,
        ),
        tools=tools,  # type: ignore[arg-type]
        unmatched_tools=unmatched_tools,  # type: ignore[arg-type]
        models=models,  # type: ignore[arg-type]
        allow_side_effects=allow_side_effects,
    )
