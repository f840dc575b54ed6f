"""Formatting shared by the CLI and the web UI: JSON text of payloads, times, durations,
sizes. Pure functions, no I/O."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ..errors import SerializationError
from ..serde import Payload


def to_json(value: Any, *, indent: int | None = None) -> str:
    """JSON text of a decoded value (non-JSON leftovers are shown with ``str``)."""
    return json.dumps(value, indent=indent, ensure_ascii=False, default=str)


def payload_text(payload: Payload | None) -> str:
    """A payload as compact JSON text (its raw body when it is not plain JSON)."""
    if payload is None:
        return "null"
    try:
        return to_json(payload.to_json_value())
    except (SerializationError, ValueError):
        return payload.body.decode("utf-8", "replace")


def json_value(payload: Payload | None) -> Any:
    """A payload's JSON value, or None when there is none or it is not JSON."""
    if payload is None:
        return None
    try:
        return payload.to_json_value()
    except (SerializationError, ValueError):
        return None


def content_text(content: Any) -> str:
    """The text of a message's content: a string, or a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:  # pyright: ignore[reportUnknownVariableType]
            if isinstance(part, dict):
                text = part.get("text") or part.get("refusal")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
                if text:
                    parts.append(str(text))  # pyright: ignore[reportUnknownArgumentType]
            elif isinstance(part, str):
                parts.append(part)
        return "\n".join(parts)
    return "" if content is None else to_json(content)


def payloads_text(payloads: tuple[Payload, ...]) -> str:
    """Several payloads as a comma-separated argument list."""
    return ", ".join(payload_text(p) for p in payloads)


def truncate(text: str, limit: int = 80) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fmt_time(ms: int | None) -> str:
    """Local wall-clock time of an epoch-milliseconds timestamp, to the millisecond."""
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def fmt_dt(value: datetime | None) -> str:
    """Local wall-clock time of an aware datetime."""
    return "-" if value is None else fmt_time(int(value.timestamp() * 1000))


def fmt_duration(ms: int | float | None) -> str:
    """A human duration: ``850ms``, ``2.35s``, ``4m12s``, ``3h02m``, ``2d04h``."""
    if ms is None:
        return "-"
    ms = max(0, int(ms))
    if ms < 1000:
        return f"{ms}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def fmt_bytes(size: int) -> str:
    """A byte count with a binary unit."""
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
