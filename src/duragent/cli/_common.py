"""Shared plumbing of the CLI commands: consoles, connecting, argument parsing, formatting."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypeVar

from rich.console import Console

from ..client import Client
from ..errors import ConfigurationError, SerializationError
from ..serde import Payload

T = TypeVar("T")

DEFAULT_DB: Final = "sqlite:///duragent.db"

STATUS_STYLES: Final[dict[str, str]] = {
    "running": "bold cyan",
    "completed": "bold green",
    "failed": "bold red",
    "canceled": "bold yellow",
    "terminated": "bold magenta",
    "continued_as_new": "bold blue",
}


@dataclass(frozen=True)
class CliState:
    """What the top-level group passes to every command.

    Attributes:
        db: The store URL given by ``--db`` / ``DURAGENT_DB``.
    """

    db: str


PIPED_WIDTH: Final = 160
"""Line width when stdout is not a terminal (and COLUMNS is unset): wide enough that a
timeline piped into a file or a pager is not folded to 80 columns."""


def out() -> Console:
    """A console on the current stdout (looked up per call, so test runners can swap it)."""
    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console.width = PIPED_WIDTH
    return console


def err() -> Console:
    """A console on the current stderr."""
    return Console(stderr=True, highlight=False, soft_wrap=True)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine to completion on a fresh event loop."""
    return asyncio.run(coro)


def sqlite_file(url: str) -> str | None:
    """The file a store URL points at, or None for an in-memory store or another scheme.

    Mirrors the URL forms :meth:`Client.connect` accepts (``sqlite:///rel.db``,
    ``sqlite:////abs.db``, a plain path).
    """
    if url in {"memory://", ":memory:"}:
        return None
    if url.startswith("sqlite://"):
        rest = url[len("sqlite://") :]
        return rest[1:] if rest.startswith("/") and len(rest) > 1 else None
    if "://" in url:
        return None
    return url


async def connect(state: CliState, *, create: bool = False) -> Client:
    """Open the store named by ``--db``.

    Args:
        state: The CLI state holding the URL.
        create: Whether a missing database file may be created. Commands that only look at
            or act on existing workflows pass False, so a mistyped path never leaves an
            empty database behind.

    Raises:
        ConfigurationError: ``create`` is False and there is no database file.
    """
    if not create:
        require_database(state.db)
    return await Client.connect(state.db)


@contextlib.asynccontextmanager
async def session(state: CliState, *, create: bool = False) -> AsyncIterator[Client]:
    """A connected client, closed when the block ends.

    Args:
        state: The CLI state holding the URL.
        create: Whether a missing database file may be created (see :func:`connect`).
    """
    client = await connect(state, create=create)
    try:
        yield client
    finally:
        await client.close()


def require_database(url: str) -> None:
    """Raise a clear error when ``url`` names a SQLite file that does not exist.

    Raises:
        ConfigurationError: There is no such file.
    """
    path = sqlite_file(url)
    if path is not None and not os.path.exists(path):
        raise ConfigurationError(
            f"no database at {os.path.abspath(path)} (from --db {url}); "
            "check the path or set DURAGENT_DB"
        )


def parse_args(values: tuple[str, ...]) -> list[Any]:
    """Parse command-line arguments as JSON values; text that is not JSON stays a string.

    ``42`` is a number, ``'{"a": 1}'`` an object, ``'"42"'`` the string ``"42"`` and
    ``hello`` the string ``"hello"``.
    """
    parsed: list[Any] = []
    for value in values:
        try:
            parsed.append(json.loads(value))
        except ValueError:
            parsed.append(value)
    return parsed


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


def status_markup(status: str) -> str:
    """Rich markup for a run status, coloured by outcome."""
    style = STATUS_STYLES.get(status, "")
    label = status.replace("_", " ")
    return f"[{style}]{label}[/]" if style else label
