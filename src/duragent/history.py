"""Exported workflow histories: a portable JSON file of one run's events.

``await handle.fetch_history()`` returns a :class:`WorkflowHistory`; ``to_json()`` /
``from_json()`` move it to a file and back (``duragent export`` writes the same format), and
``duragent.testing.Replayer`` replays it against current code to catch nondeterministic
changes before they are deployed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from ._engine.events import (
    EVENT_SCHEMA_VERSION,
    Event,
    check_schema_version,
    decode_event,
    encode_event_attributes,
)
from .errors import SerializationError
from .serde import Payload

__all__ = ["WorkflowHistory"]

FORMAT: Final = "duragent-history"


def _payload_out(payload: Payload) -> Any:
    return payload.data.decode()


def _payload_in(value: Any) -> Payload:
    if not isinstance(value, str):
        raise SerializationError(f"exported history payloads must be text, got {value!r}")
    return Payload(value.encode())


@dataclass(frozen=True)
class WorkflowHistory:
    """The complete event history of one workflow run."""

    workflow_id: str
    run_id: str
    events: Sequence[Event]

    @property
    def workflow_type(self) -> str:
        """Type name from the first event."""
        first = self.events[0] if self.events else None
        return str(getattr(first, "workflow_type", ""))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (payloads inline)."""
        return {
            "format": FORMAT,
            "version": EVENT_SCHEMA_VERSION,
            "workflow_id": self.workflow_id,
            "run_id": self.run_id,
            "events": [
                {
                    "event_id": e.event_id,
                    "type": e.TYPE,
                    "time": e.time,
                    "attrs": encode_event_attributes(e, _payload_out),
                }
                for e in self.events
            ],
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """The history as JSON text."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkflowHistory:
        """Inverse of :meth:`to_dict`; rejects other formats and newer versions clearly."""
        if data.get("format") != FORMAT:
            raise SerializationError(
                f"not a Duragent history export (format {data.get('format')!r})"
            )
        check_schema_version(int(data.get("version", 0)), "this history export")
        try:
            events = [
                decode_event(e["type"], int(e["event_id"]), int(e["time"]), e["attrs"], _payload_in)
                for e in data["events"]
            ]
        except (KeyError, TypeError, ValueError) as err:
            raise SerializationError(f"damaged history export: {err}") from err
        return cls(workflow_id=str(data["workflow_id"]), run_id=str(data["run_id"]), events=events)

    @classmethod
    def from_json(cls, text: str | bytes) -> WorkflowHistory:
        """Parse :meth:`to_json` output."""
        try:
            data = json.loads(text)
        except ValueError as err:
            raise SerializationError(f"history export is not valid JSON: {err}") from err
        return cls.from_dict(data)
