"""The parity suite: the same public-API tests on both backends.

Every test here takes the ``backend`` fixture (through ``client``): it runs once on the
embedded store (a SQLite file of its own) and once on the session's Temporal dev server
(``temporal_server``; marked ``temporal``, so ``-m "not temporal"`` runs the embedded half
alone). Each test gets its own task queue and workflow ids: the dev server is shared.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from duragent import Client, Worker

BACKENDS = ["sqlite", pytest.param("temporal", marks=pytest.mark.temporal)]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """``"sqlite"`` or ``"temporal"``."""
    return str(request.param)


@pytest.fixture
def address(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The address a client connects to: a fresh database file, or the dev server."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'parity.db'}"
    server = request.getfixturevalue("temporal_server")
    return str(server.url)


@pytest.fixture
async def client(address: str) -> AsyncIterator[Client]:
    c = await Client.connect(address)
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
def task_queue() -> str:
    """A task queue of this test's own (the Temporal server is shared)."""
    return f"tq-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def new_id() -> Callable[[str], str]:
    """Workflow ids unique to this test."""
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def worker(client: Client, task_queue: str) -> Callable[..., Worker]:
    """``async with worker(workflows=..., activities=..., **options):`` on this test's
    queue (on Temporal it is a ``TemporalWorker``, built by ``Worker`` itself)."""

    def make(**kwargs: Any) -> Worker:
        kwargs.setdefault("task_queue", task_queue)
        return Worker(client, **kwargs)

    return make


@pytest.fixture(params=[1000, 0], ids=["cached", "replay-every-task"])
def max_cached(request: pytest.FixtureRequest) -> int:
    """Run twice: with the workflow cache, and replaying the whole history on every task."""
    return int(request.param)
