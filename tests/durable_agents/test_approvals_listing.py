"""Finding the runs that wait for a human: the ``waiting_for_approval`` run filter (what
``duragent approvals`` and the web UI's inbox use) follows requests and decisions as they
are recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from duragent import Client, Worker
from duragent._backend import RunFilter
from duragent.openai_agents import decide

from .test_approvals import QUEUE, SENT, Banker, wait_for_requests, worker


@pytest.fixture
async def approvals_worker(client: Client) -> AsyncIterator[Worker]:
    SENT.clear()
    async with worker(client) as w:
        yield w


async def _waiting(client: Client) -> list[str]:
    return [e.id for e in await client.list_workflows(waiting_for_approval=True)]


async def test_runs_waiting_for_approval_are_listed_until_every_request_is_decided(
    approvals_worker: Worker, client: Client
) -> None:
    one = await client.start_workflow(Banker.run, "Pay ada 5", id="one", task_queue=QUEUE)
    two = await client.start_workflow(
        Banker.run, args=["Pay ada 5 and bob 7", "splitter"], id="two", task_queue=QUEUE
    )
    await client.start_workflow("NotAnAgent", id="plain", task_queue="elsewhere")
    [request] = await wait_for_requests(one, 1)
    first, second = await wait_for_requests(two, 2)
    assert await _waiting(client) == ["two", "one"]
    assert await client.backend.count_runs(RunFilter(waiting_for_approval=True)) == 2
    await decide(two, first.call_id, approve=True)
    assert await _waiting(client) == ["two", "one"]  # one of its two requests is left
    await decide(two, second.call_id, approve=False, message="no")
    assert await _waiting(client) == ["one"]
    await decide(one, request.call_id, approve=True)
    assert await _waiting(client) == []
    assert await one.result(timeout=30) == "Done: sent 5 to ada."
    await two.result(timeout=30)
    assert await _waiting(client) == []
