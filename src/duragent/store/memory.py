"""A private in-memory store, for tests and throwaway runs.

It is the SQLite store on an in-memory database, not a second implementation: every state
transition (leases, retries, timers, children, updates) lives in one place, and a test on
the memory store exercises exactly the code a production store runs. It holds a single
connection, so it serves one process; nothing survives the process.
"""

from __future__ import annotations

from .sqlite import SqliteStore

__all__ = ["MemoryStore"]


class MemoryStore(SqliteStore):
    """The store on a private in-memory SQLite database (``Client.connect("memory://")``)."""

    def __init__(self) -> None:
        super().__init__(":memory:")
