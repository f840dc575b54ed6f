"""The same ``Worker(...)`` call works on both backends: the worker built for a Temporal
client takes every argument the embedded worker takes (those that do not apply there are
accepted, and say so, or refused with a reason), so moving to Temporal changes the address
only."""

from __future__ import annotations

import inspect
import logging
import uuid
from datetime import timedelta

import pytest

from duragent import Client, Worker, workflow
from duragent.temporal.worker import TemporalWorker

from ..temporal_server import TemporalServerInfo

pytestmark = pytest.mark.timeout(120)


@workflow.defn
class Hello:
    @workflow.run
    async def run(self, name: str) -> str:
        return f"hello {name}"


def _keywords(function: object) -> set[str]:
    return {
        p.name
        for p in inspect.signature(function).parameters.values()  # type: ignore[arg-type]
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }


def test_the_worker_on_temporal_takes_every_argument_of_the_embedded_one() -> None:
    missing = _keywords(Worker.__init__) - _keywords(TemporalWorker.__init__)
    assert missing == set(), f"Worker(...) on a Temporal client would refuse {missing}"


async def test_run_retention_runs_on_temporal_and_says_it_does_not_apply(
    temporal_server: TemporalServerInfo, caplog: pytest.LogCaptureFixture
) -> None:
    queue = f"options-{uuid.uuid4().hex[:8]}"
    client = await Client.connect(temporal_server.url)
    try:
        with caplog.at_level(logging.WARNING, logger="duragent.worker"):
            worker = Worker(
                client,
                task_queue=queue,
                workflows=[Hello],
                run_retention=timedelta(days=30),
                stream_retention=timedelta(days=1),
            )
        assert isinstance(worker, TemporalWorker)
        said = caplog.text
        assert "run_retention is not applied on Temporal" in said
        assert "namespace's retention period" in said
        assert "stream_retention" not in said  # applied there (test_stream_expiry.py)
        async with worker:
            result = await client.execute_workflow(
                Hello.run, "there", id=f"options-{uuid.uuid4().hex[:8]}", task_queue=queue
            )
        assert result == "hello there"
    finally:
        await client.close()
