"""Tools for testing workflows: an environment with time skipping and a replayer.

* :class:`WorkflowEnvironment` — a client on a private store for tests; with
  :meth:`~WorkflowEnvironment.start_time_skipping`, time jumps ahead whenever nothing can
  run, so week-long timers and hour-long retry backoffs finish in milliseconds.
* :class:`Replayer` — replays recorded histories against current code and raises
  :class:`~duragent.NondeterminismError` where a change would break running workflows.
* :class:`ScriptedModelProvider` — deterministic scripted models for agent tests (needs
  the OpenAI Agents SDK; imported on first use).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .environment import WorkflowEnvironment
from .replayer import Replayer, ReplayResult, ReplayResults

if TYPE_CHECKING:
    from .scripted_model import ScriptedModelProvider, message, tool_call

_SCRIPTED = ("ScriptedModelProvider", "message", "tool_call")


def __getattr__(name: str) -> Any:
    if name in _SCRIPTED:
        from . import scripted_model

        return getattr(scripted_model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ReplayResult",
    "ReplayResults",
    "Replayer",
    "ScriptedModelProvider",
    "WorkflowEnvironment",
    "message",
    "tool_call",
]
