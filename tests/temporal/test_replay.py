"""Histories recorded on Temporal replay against the same Duragent code with
``TemporalReplayer``; a deliberate incompatible change is reported as a
``NondeterminismError`` naming the event."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

import pytest

from duragent import NondeterminismError, workflow

from ..parity.app import ACTIVITIES, WORKFLOWS, Order, describe, multiply

pytestmark = pytest.mark.timeout(120)


@workflow.defn(name="Activities")
class ActivitiesChanged:
    """The ``Activities`` workflow after an incompatible deploy: another activity first."""

    @workflow.run
    async def run(self, order: Order) -> list[Any]:
        await workflow.execute_activity(multiply, 1, start_to_close_timeout=timedelta(seconds=5))
        await workflow.execute_activity(
            describe, order, start_to_close_timeout=timedelta(seconds=5)
        )
        return []


async def test_temporal_history_replays_and_a_changed_workflow_is_caught(
    tclient: Any, task_queue: str, temporal_worker: Callable[..., AbstractAsyncContextManager[Any]]
) -> None:
    from duragent.temporal.replayer import TemporalReplayer

    async with temporal_worker(workflows=WORKFLOWS, activities=ACTIVITIES):
        handle = await tclient.start_workflow(
            "Activities", Order("tea"), id=f"rp-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
        await handle.result()
    history = await handle.fetch_history()
    await TemporalReplayer(workflows=WORKFLOWS).replay_workflow(history)
    # The JSON export (what `temporal workflow show --output json` writes) replays too.
    await TemporalReplayer(workflows=WORKFLOWS).replay_workflow(history.to_json())
    with pytest.raises(NondeterminismError) as caught:
        await TemporalReplayer(workflows=[ActivitiesChanged]).replay_workflow(history)
    message = str(caught.value)
    assert "describe" in message and "multiply" in message, message


async def test_a_replayer_needs_the_interceptors_that_changed_what_the_workflow_asked(
    tclient: Any, task_queue: str, temporal_worker: Callable[..., AbstractAsyncContextManager[Any]]
) -> None:
    from duragent.temporal.replayer import TemporalReplayer

    from ..fixtures.interceptor_app import ACTIVITIES as RENAMED
    from ..fixtures.interceptor_app import Shouter, Versioned

    async with temporal_worker(workflows=[Shouter], activities=RENAMED, interceptors=[Versioned()]):
        handle = await tclient.start_workflow(
            "Shouter", "hey", id=f"rp-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
        assert await handle.result() == "HEY (v2)"
    history = await handle.fetch_history()
    await TemporalReplayer(workflows=[Shouter], interceptors=[Versioned()]).replay_workflow(history)
    with pytest.raises(NondeterminismError, match="shout_v2"):
        await TemporalReplayer(workflows=[Shouter]).replay_workflow(history)
