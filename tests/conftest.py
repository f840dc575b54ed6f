"""Shared fixtures: a real SQLite file per test, a client on it, a worker factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from duragent import Client

from .temporal_server import pytest_addoption, pytest_collection_modifyitems, temporal_server

# hooks and fixtures shared by every test
__all__ = ["pytest_addoption", "pytest_collection_modifyitems", "temporal_server"]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "duragent.db"


@pytest.fixture
async def client(db_path: Path) -> AsyncIterator[Client]:
    c = await Client.connect(f"sqlite:///{db_path}")
    try:
        yield c
    finally:
        await c.close()
