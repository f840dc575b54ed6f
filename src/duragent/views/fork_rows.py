"""Forks in words: where a forked run came from, which of its steps it reused from its
source, and what it served instead of calling (``duragent.served`` markers). Pure; shared
by the timeline (``duragent show``, the web UI) and the conversation view."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .._engine import events as ev
from .._fork.spec import ForkLayer, ForkSpec
from ..errors import SerializationError
from .format import to_json, truncate

_HOW = {
    "prefix": "served from the source (before the fork point)",
    "recorded": "served from the source's recording",
    "dry_run": "not run: unavailable in a dry run (no recording matched)",
    "failed": "not run: no recording matched; the run fails",
    "side_effects_refused": "not run: at-most-once, side effects not allowed in this fork",
    "interrupted": "not run: in flight at the fork point, outcome unknown (at-most-once)",
}


@dataclass(frozen=True)
class ForkFacts:
    """What a forked run's start event says about it."""

    spec: ForkSpec
    results: tuple[Any, ...]

    @property
    def own(self) -> ForkLayer:
        return self.spec.own

    @property
    def source(self) -> str:
        own = self.own
        return f"{own.source_workflow_id} (run {own.source_run_id[:12]})"

    def summary(self) -> str:
        """``fork of src (run …) at model call 3; model v2; tools recorded …``."""
        own = self.own
        parts = [f"fork of {self.source} at model call {own.at_model_call}"]
        o = own.overrides
        if o.model is not None:
            parts.append(f"model {o.model}")
        if o.instructions is not None:
            parts.append(f"instructions {truncate(o.instructions, 40)!r}")
        if o.model_settings:
            parts.append(f"settings {to_json(o.model_settings)}")
        if o.agent is not None:
            parts.append(f"for agent {o.agent}")
        parts.append(f"tools {own.tools}")
        if own.tools == "recorded":
            parts.append(f"unmatched tools {own.unmatched_tools}")
        parts.append(f"models {own.models}")
        if own.allow_side_effects:
            parts.append("side effects allowed")
        return "; ".join(parts)


def fork_facts(events: Sequence[ev.Event]) -> ForkFacts | None:
    """The fork facts of a run (None when it is no fork, or its document is unreadable)."""
    start = events[0] if events else None
    if not isinstance(start, ev.WorkflowExecutionStarted) or start.fork is None:
        return None
    try:
        return ForkFacts(ForkSpec.from_payload(start.fork), start.fork_results)
    except (SerializationError, ValueError):
        return None


def served_step(details: dict[str, Any]) -> tuple[str, str, bool]:
    """Title, detail and whether it was served, for a ``duragent.served`` marker."""
    how = str(details.get("how", ""))
    served = how in ("prefix", "recorded")
    if details.get("kind") == "model":
        title = f"model call {details.get('n')}: {details.get('agent') or '(unnamed agent)'}"
    else:
        title = f"tool {details.get('name', '?')}"
    text = _HOW.get(how, how)
    if details.get("error"):
        text += f"; it had failed: {details['error']}"
    return title, text, served


def reused_note(facts: ForkFacts) -> str:
    return f"reused from {facts.source}: not run again"
