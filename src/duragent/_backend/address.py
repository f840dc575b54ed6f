"""Addresses: which backend a target string names, and opening it.

* ``sqlite:///relative.db``, ``sqlite:////absolute.db`` or a plain file path: the embedded
  store on that file;
* ``memory://`` (or ``:memory:``): a private in-memory store;
* ``temporal://HOST:PORT/NAMESPACE``: a Temporal cluster, through
  ``duragent.temporal.connect_backend`` (extra ``duragent[temporal]``).
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any, Final

from ..errors import ConfigurationError
from ..store.memory import MemoryStore
from ..store.sqlite import SqliteStore
from .client_backend import ClientBackend

TEMPORAL_SCHEME: Final = "temporal://"
MEMORY: Final = ":memory:"
TEMPORAL_EXTRA_HINT: Final = "pip install 'duragent[temporal]'"


def is_temporal(target: str) -> bool:
    """Whether ``target`` names a Temporal cluster."""
    return target.startswith(TEMPORAL_SCHEME)


def sqlite_path(target: str) -> str:
    """The database file an embedded address names (``":memory:"`` for an in-memory store).

    Raises:
        ConfigurationError: A malformed ``sqlite://`` URL or an unknown scheme.
    """
    if target.startswith("sqlite://"):
        path = target[len("sqlite://") :]
        if not path.startswith("/"):
            raise ConfigurationError(
                f"bad store URL {target!r}: use sqlite:///relative.db or sqlite:////abs/path.db"
            )
        path = path[1:]
        if not path:
            raise ConfigurationError(f"bad store URL {target!r}: no file name")
        return path
    if target in {"memory://", MEMORY}:
        return MEMORY
    if "://" in target:
        raise ConfigurationError(
            f"unknown address scheme in {target!r}; use sqlite:///path.db, a file path, "
            "memory:// or temporal://host:port/namespace"
        )
    return target  # a plain file path


async def open_store(path: str, *, synchronous: str, busy_timeout_ms: int) -> SqliteStore:
    """Open (creating if needed) the embedded store at ``path``, off the event loop:
    creating or checking the schema may wait for another process's write lock."""
    if path == MEMORY:
        return MemoryStore()
    store = await asyncio.to_thread(
        SqliteStore, path, synchronous=synchronous, busy_timeout_ms=busy_timeout_ms
    )
    try:
        # Registering for cross-process wake-ups writes a row: not on the loop either.
        await asyncio.to_thread(store.enable_remote_wakeups)
    except BaseException:
        store.close()
        raise
    return store


CONNECTION_OPTIONS: Final = {
    "namespace": "names the Temporal namespace to use",
    "tls": "sets TLS on the connection to a Temporal server (True, False or a TLSConfig)",
    "api_key": "is the API key a Temporal Cloud or secured Temporal server expects",
}
"""What ``Client.connect``'s Temporal connection keywords are for (in error messages)."""


def connection_options(
    target: str, backend_options: dict[str, Any], given: dict[str, Any]
) -> dict[str, Any]:
    """``backend_options`` with the Temporal connection keywords given to
    ``Client.connect`` (``namespace``, ``tls``, ``api_key``; None: not given) added.

    Raises:
        ConfigurationError: One of them was given for an embedded address (which takes
            none), or also in ``backend_options`` with another value.
    """
    given = {name: value for name, value in given.items() if value is not None}
    if given and not is_temporal(target):
        name, value = next(iter(given.items()))
        shown = "..." if name == "api_key" else repr(value)  # never print a secret
        raise ConfigurationError(
            f"{name}={shown} {CONNECTION_OPTIONS[name]}; "
            f"{target!r} is the embedded store, which needs no namespace, TLS or API "
            "key (it is a file or memory of this process): leave it out, or connect "
            "to temporal://HOST:PORT/NAMESPACE"
        )
    options = dict(backend_options)
    for name, value in given.items():
        if name in options and options[name] != value:
            raise ConfigurationError(
                f"{name} given twice, as {name}= and in backend_options, with different "
                "values; give it once"
            )
        options[name] = value
    return options


async def connect_temporal(target: str, **options: Any) -> ClientBackend:
    """Open the Temporal backend named by ``target``.

    Raises:
        ConfigurationError: The ``duragent[temporal]`` extra is not installed (the message
            says how to install it), or this version of Duragent has no Temporal backend.
    """
    try:
        module = importlib.import_module("duragent.temporal")
    except ImportError as err:
        if not _is_missing_extra(err):
            raise  # a bug inside the package: show it as itself
        raise ConfigurationError(
            f"{target} needs Duragent's Temporal support, which is not installed "
            f"({err}); install it with: {TEMPORAL_EXTRA_HINT}"
        ) from err
    connect = getattr(module, "connect_backend", None)
    if connect is None:
        raise ConfigurationError(
            f"{target}: this version of duragent.temporal has no connect_backend(); "
            f"upgrade with: {TEMPORAL_EXTRA_HINT}"
        )
    backend: ClientBackend = await connect(target, **options)
    return backend


def _is_missing_extra(err: BaseException) -> bool:
    """Whether an import failed because ``temporalio`` (or ``duragent.temporal`` itself)
    is not installed: the failure, or one it was raised from, names that module."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        name = getattr(current, "name", None) if isinstance(current, ImportError) else None
        if name == "duragent.temporal" or (name or "").split(".")[0] == "temporalio":
            return True
        current = current.__cause__ or current.__context__
    return False
