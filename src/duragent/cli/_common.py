"""Shared plumbing of the CLI commands: consoles, connecting, argument parsing, formatting."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from rich.console import Console

from ..client import Client
from ..errors import ConfigurationError

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


def status_markup(status: str) -> str:
    """Rich markup for a run status, coloured by outcome."""
    style = STATUS_STYLES.get(status, "")
    label = status.replace("_", " ")
    return f"[{style}]{label}[/]" if style else label
