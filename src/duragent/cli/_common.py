"""Shared plumbing of the CLI commands: consoles, connecting, argument parsing, formatting."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final, TypeVar

import click
from rich.console import Console
from rich.markup import escape

from .._backend import is_temporal, sqlite_path
from .._search_attributes import parse_filter
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
        db: The address every command connects to (from ``--address`` /
            ``DURAGENT_ADDRESS`` or ``--db`` / ``DURAGENT_DB``; named ``db`` for history).
        source: Where it came from, for messages (``--address``, ``DURAGENT_DB``, ...).
        tls: ``--tls`` / ``--no-tls`` for a Temporal address (None: temporalio's default,
            TLS when an API key is set).
    """

    db: str
    source: str = "--db"
    tls: bool | None = None

    @property
    def address(self) -> str:
        """The address every command connects to."""
        return self.db

    @classmethod
    def resolve(
        cls,
        *,
        address: str | None,
        address_from_env: bool,
        db: str | None,
        db_from_env: bool,
    ) -> CliState:
        """Pick the address from ``--address`` and ``--db`` (the older name of the same
        thing). A command-line option wins over the environment; two at the same level
        are refused, since they could name different stores.

        Raises:
            click.UsageError: Both were given on the command line, or both in the
                environment, with different values.
        """
        if address is not None and db is not None and address != db:
            if address_from_env == db_from_env:
                where = (
                    "the environment variables DURAGENT_ADDRESS and DURAGENT_DB"
                    if address_from_env
                    else "--address and --db"
                )
                raise click.UsageError(
                    f"{where} are both set ({address!r} and {db!r}); they mean the same "
                    "thing: give only one (--address is the general form)"
                )
            if address_from_env:
                address = None  # --db on the command line wins
            else:
                db = None
        if address is not None:
            return cls(address, "DURAGENT_ADDRESS" if address_from_env else "--address")
        if db is not None:
            return cls(db, "DURAGENT_DB" if db_from_env else "--db")
        return cls(DEFAULT_DB, "the default address")


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


def report_error(message: str) -> None:
    """Print ``error: message`` in red on stderr (no traceback)."""
    err().print(f"[bold red]error:[/] [red]{escape(message)}[/]")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine to completion on a fresh event loop."""
    return asyncio.run(coro)


def sqlite_file(url: str) -> str | None:
    """The file an address points at, or None for an in-memory store, another backend
    (``temporal://``) or an address that is not valid (connecting reports why)."""
    if is_temporal(url):
        return None
    try:
        path = sqlite_path(url)
    except ConfigurationError:
        return None
    return None if path == ":memory:" else path


API_KEY_ENV: Final = "DURAGENT_TEMPORAL_API_KEY"
"""The environment variable the CLI reads a Temporal API key from (never an option: a
command line is visible to every user of the machine)."""


def connect_options(state: CliState, target: str | None = None) -> dict[str, Any]:
    """``Client.connect`` keywords from ``--tls`` and ``$DURAGENT_TEMPORAL_API_KEY`` for
    ``target`` (default: the global address). The API key is for Temporal addresses only,
    so one set in the environment does not stop commands on a SQLite file; ``--tls`` with
    a SQLite address is refused by ``Client.connect``."""
    target = state.db if target is None else target
    options: dict[str, Any] = {}
    if state.tls is not None:
        options["tls"] = state.tls
    api_key = os.environ.get(API_KEY_ENV)
    if api_key and is_temporal(target):
        options["api_key"] = api_key
    return options


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
        require_database(state.db, state.source)
    return await Client.connect(state.db, **connect_options(state))


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


def require_database(url: str, source: str = "--db") -> None:
    """Raise a clear error when ``url`` names a SQLite file that does not exist.

    Raises:
        ConfigurationError: There is no such file.
    """
    path = sqlite_file(url)
    if path is not None and not os.path.exists(path):
        raise ConfigurationError(
            f"no database at {os.path.abspath(path)} (from {source} {url}); "
            "check the path or set DURAGENT_ADDRESS"
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


_SEARCH_ATTRIBUTE_VALUES: Final = (
    "VALUE is true/false (a bool), an int, a float, an ISO-8601 time with a zone, or else a "
    "string; quote it to force a string: NAME='\"42\"'."
)


def _search_attributes(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[tuple[str, Any], ...]:
    try:
        return tuple(parse_filter(v) for v in values)
    except ConfigurationError as error:
        raise click.BadParameter(str(error), ctx, param) from None


def search_attribute_option(help: str) -> Any:
    """``--search-attribute NAME=VALUE`` (repeatable), parsed into ``(name, value)`` pairs."""
    return click.option(
        "--search-attribute",
        "search_attributes",
        metavar="NAME=VALUE",
        multiple=True,
        callback=_search_attributes,
        help=f"{help} {_SEARCH_ATTRIBUTE_VALUES}",
    )


def list_filter_option(help: str) -> Any:
    """``--query FILTER``: a Temporal list filter (``help`` says what it selects)."""
    return click.option(
        "--query",
        metavar="FILTER",
        help=f"{help} A Temporal list filter, e.g. \"WorkflowType = 'Order' AND StartTime > "
        "'2026-01-01T00:00:00Z'\" (= != > >= < <=, IN, BETWEEN, STARTS_WITH, IS NULL, AND, OR).",
    )


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``5m``, ``1h30m``, ``2d`` or a plain number of seconds.

    Raises:
        click.BadParameter: Anything else.
    """
    text = text.strip().lower()
    try:
        return timedelta(seconds=float(text))
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise click.BadParameter(f"{text!r} is not a duration (e.g. 30s, 5m, 1h30m, 2d)")
    return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))
