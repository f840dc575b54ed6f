"""The fork document: what a forked run's start event records about where it came from, what
it overrides, and which of its source's calls it may serve instead of making them.

A persisted format (``WorkflowExecutionStarted.fork``), versioned by its ``"v"`` field:

========  ==================================================================================
version   contents
========  ==================================================================================
1         ``layers``: one per fork in the chain, oldest first (a fork of a fork keeps the
          layers that govern its copied prefix). Each layer: ``source`` (``workflow_id``,
          ``run_id``, ``event_id`` of the source's workflow task the fork re-runs),
          ``at_model_call`` (k), ``prefix_events`` (events copied from the source, 0 in
          cassette mode), ``overrides`` (``model``, ``instructions``, ``model_settings``,
          ``agent``: all optional), ``tools`` (``live``/``recorded``),
          ``unmatched_tools`` (``live``/``fail``/``dry_run``), ``models``
          (``live``/``recorded``), ``allow_side_effects``, ``model_calls`` (the source's
          model calls: ``n``, ``r`` = index of the result in the start event's
          ``fork_results``, ``q`` = index of its request there, ``digest`` of the request
          (:func:`request_digest`) when models are recorded, ``agent``, ``tokens``) and
          ``tool_calls`` (``call_id``, ``name``, ``args`` in canonical JSON, ``n`` = the
          model call that asked for it, ``r`` or ``error``).
========  ==================================================================================

A reader refuses a newer version with a clear error (a worker that meets one fails the task,
so the fork waits for an upgraded worker). Pure data: no SDK import.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from ..errors import ConfigurationError, SerializationError
from ..serde import DataConverter, Payload

FORK_FORMAT_VERSION: Final = 1
SERVED_MARKER: Final = "duragent.served"
"""Marker recorded for each call a fork served instead of making it."""

ToolsMode = Literal["live", "recorded"]
ModelsMode = Literal["live", "recorded"]
UnmatchedTools = Literal["live", "fail", "dry_run"]
TOOLS_MODES: Final = ("live", "recorded")
MODELS_MODES: Final = ("live", "recorded")
UNMATCHED_TOOLS: Final = ("live", "fail", "dry_run")

_converter: Final = DataConverter()


def canonical_arguments(arguments: str) -> str:
    """A tool call's JSON arguments in one canonical spelling (key order and spacing do not
    count), so the same call by another model matches; text that is not JSON stays as is."""
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return arguments.strip()
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_digest(request: Payload) -> str:
    """Digest of a model request (as recorded, or about to be): BLAKE2b-128 of its JSON in
    canonical form (sorted keys, no spaces), so the key order or spacing of an encoding does
    not count. Part of the fork document's format: replaying a fork recomputes it."""
    text = json.dumps(
        request.to_json_value(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def request_key(request: Payload) -> str:
    """What ``models="recorded"`` compares: the request's digest (as :func:`request_digest`)
    with the agent wire format's version marks taken out (the ``"v"`` field, and
    ``stream`` when false), so requests that versions 1 to 3 of that format spell
    differently but mean the same match: a fork made after a Duragent upgrade still serves
    calls recorded by the older one, and a fork recorded before the upgrade replays after
    it. Computed from both sides (the recorded request is in ``fork_results``), never
    stored, so it may change with the wire format."""
    value = request.to_json_value()
    if isinstance(value, dict):
        value = {
            k: v
            for k, v in value.items()  # pyright: ignore[reportUnknownVariableType]
            if k != "v" and not (k == "stream" and v is False)
        }
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class Overrides:
    """What a fork changes from its fork point on (None: keep the source's)."""

    model: str | None = None
    instructions: str | None = None
    model_settings: dict[str, Any] | None = None
    agent: str | None = None
    """Apply the overrides only to this agent's model calls (None: every agent's)."""

    def applies_to(self, agent: str) -> bool:
        return self.agent is None or self.agent == agent

    @property
    def empty(self) -> bool:
        return self.model is None and self.instructions is None and not self.model_settings


@dataclass(frozen=True)
class RecordedModelCall:
    n: int
    """1 for the source's first model call."""
    r: int
    """Index of its ``ModelCallResult`` in the start event's ``fork_results``."""
    digest: str | None = None
    agent: str = ""
    tokens: int = 0
    q: int | None = None
    """Index of its request in ``fork_results`` (so a served call's history shows what was
    asked, without copying it: payloads are shared by content)."""


@dataclass(frozen=True)
class RecordedToolCall:
    call_id: str
    name: str
    args: str
    """Canonical JSON arguments (see :func:`canonical_arguments`)."""
    n: int
    """The model call that asked for it."""
    r: int | None = None
    """Index of the tool activity's result in ``fork_results``; None when it failed."""
    error: str | None = None
    """The failure message when the recorded call failed."""


@dataclass(frozen=True)
class ForkLayer:
    """One fork in a chain: its source, its fork point, its overrides and its modes."""

    source_workflow_id: str
    source_run_id: str
    source_event_id: int
    at_model_call: int
    prefix_events: int
    overrides: Overrides = field(default_factory=Overrides)
    tools: ToolsMode = "live"
    unmatched_tools: UnmatchedTools = "live"
    models: ModelsMode = "live"
    allow_side_effects: bool = False
    model_calls: tuple[RecordedModelCall, ...] = ()
    tool_calls: tuple[RecordedToolCall, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        o = self.overrides
        return {
            "source": {
                "workflow_id": self.source_workflow_id,
                "run_id": self.source_run_id,
                "event_id": self.source_event_id,
            },
            "at_model_call": self.at_model_call,
            "prefix_events": self.prefix_events,
            "overrides": {
                k: v
                for k, v in (
                    ("model", o.model),
                    ("instructions", o.instructions),
                    ("model_settings", o.model_settings),
                    ("agent", o.agent),
                )
                if v is not None
            },
            "tools": self.tools,
            "unmatched_tools": self.unmatched_tools,
            "models": self.models,
            "allow_side_effects": self.allow_side_effects,
            "model_calls": [
                {
                    k: v
                    for k, v in (
                        ("n", c.n),
                        ("r", c.r),
                        ("digest", c.digest),
                        ("agent", c.agent),
                        ("tokens", c.tokens),
                        ("q", c.q),
                    )
                    if v not in (None, "", 0) or (k in ("n", "r", "q") and v is not None)
                }
                for c in self.model_calls
            ],
            "tool_calls": [
                {
                    k: v
                    for k, v in (
                        ("call_id", c.call_id),
                        ("name", c.name),
                        ("args", c.args),
                        ("n", c.n),
                        ("r", c.r),
                        ("error", c.error),
                    )
                    if v is not None
                }
                for c in self.tool_calls
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ForkLayer:
        source = data["source"]
        o = data.get("overrides") or {}
        return cls(
            source_workflow_id=str(source["workflow_id"]),
            source_run_id=str(source["run_id"]),
            source_event_id=int(source["event_id"]),
            at_model_call=int(data["at_model_call"]),
            prefix_events=int(data["prefix_events"]),
            overrides=Overrides(
                model=o.get("model"),
                instructions=o.get("instructions"),
                model_settings=o.get("model_settings"),
                agent=o.get("agent"),
            ),
            tools=data.get("tools", "live"),
            unmatched_tools=data.get("unmatched_tools", "live"),
            models=data.get("models", "live"),
            allow_side_effects=bool(data.get("allow_side_effects", False)),
            model_calls=tuple(
                RecordedModelCall(
                    n=int(c["n"]),
                    r=int(c["r"]),
                    digest=c.get("digest"),
                    agent=str(c.get("agent", "")),
                    tokens=int(c.get("tokens", 0)),
                    q=None if c.get("q") is None else int(c["q"]),
                )
                for c in data.get("model_calls", ())
            ),
            tool_calls=tuple(
                RecordedToolCall(
                    call_id=str(c["call_id"]),
                    name=str(c["name"]),
                    args=str(c["args"]),
                    n=int(c["n"]),
                    r=None if c.get("r") is None else int(c["r"]),
                    error=c.get("error"),
                )
                for c in data.get("tool_calls", ())
            ),
        )


@dataclass(frozen=True)
class ForkSpec:
    """The whole fork document: the chain of layers, this fork's own last."""

    layers: tuple[ForkLayer, ...]

    @property
    def own(self) -> ForkLayer:
        return self.layers[-1]

    def to_payload(self) -> Payload:
        return _converter.encode(
            {"v": FORK_FORMAT_VERSION, "layers": [layer.to_dict() for layer in self.layers]},
            what="fork document",
        )

    @classmethod
    def from_payload(cls, payload: Payload) -> ForkSpec:
        data = payload.to_json_value()
        if not isinstance(data, dict):
            raise SerializationError("the fork document is not a JSON object")
        version: Any = data.get("v")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        if not isinstance(version, int) or version < 1:
            raise SerializationError(f"the fork document has an invalid version {version!r}")
        if version > FORK_FORMAT_VERSION:
            raise SerializationError(
                f"the fork document is in version {version}, but this Duragent reads up to "
                f"version {FORK_FORMAT_VERSION}: the run was forked by a newer Duragent; "
                "upgrade this worker to run or replay it"
            )
        try:
            return cls(tuple(ForkLayer.from_dict(layer) for layer in data["layers"]))  # pyright: ignore[reportUnknownArgumentType, reportUnknownVariableType]
        except (KeyError, TypeError, ValueError) as err:
            raise SerializationError(f"the fork document cannot be read: {err!r}") from err


def check_modes(tools: str, unmatched_tools: str, models: str) -> None:
    """Refuse unknown hermetic modes with the accepted values."""
    for name, value, allowed in (
        ("tools", tools, TOOLS_MODES),
        ("unmatched_tools", unmatched_tools, UNMATCHED_TOOLS),
        ("models", models, MODELS_MODES),
    ):
        if value not in allowed:
            raise ConfigurationError(
                f"{name}={value!r} is not a fork mode; use one of {', '.join(allowed)}"
            )
