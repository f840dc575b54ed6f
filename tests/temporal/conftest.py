"""Fixtures for tests that run Duragent code on the shared Temporal dev server."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from ..temporal_server import TemporalServerInfo


@pytest.fixture
async def tclient(temporal_server: TemporalServerInfo) -> Any:
    """A temporalio client with Duragent's data converter."""
    import temporalio.client

    from duragent.temporal.worker import temporal_data_converter

    return await temporalio.client.Client.connect(
        temporal_server.address,
        namespace=temporal_server.namespace,
        data_converter=temporal_data_converter(),
    )


@pytest.fixture
def task_queue() -> str:
    """A task queue of this test's own (the server is shared)."""
    return f"tq-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=[1000, 0], ids=["cached", "replay-every-task"])
def max_cached(request: pytest.FixtureRequest) -> int:
    """Run twice: with the workflow cache, and replaying the whole history on every task."""
    return int(request.param)


@pytest.fixture
def temporal_worker(
    tclient: Any, task_queue: str
) -> Callable[..., AbstractAsyncContextManager[Any]]:
    """``async with temporal_worker(workflows=..., activities=..., **options):``"""
    from duragent.temporal.worker import TemporalWorker

    def make(**kwargs: Any) -> AbstractAsyncContextManager[Any]:
        kwargs.setdefault("task_queue", task_queue)
        return TemporalWorker(tclient, **kwargs)

    return make
