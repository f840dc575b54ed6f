"""A history made on a worker whose interceptors changed what its workflow asked for
replays with the same interceptors (``Replayer(interceptors=...)``), and is reported as
nondeterministic without them."""

from __future__ import annotations

import pytest

from duragent import Client, NondeterminismError, Worker
from duragent.testing import Replayer

from ..fixtures.interceptor_app import ACTIVITIES, Shouter, Versioned


async def test_a_replayer_needs_the_interceptors_that_changed_what_the_workflow_asked(
    client: Client,
) -> None:
    async with Worker(
        client,
        task_queue="versioned",
        workflows=[Shouter],
        activities=ACTIVITIES,
        interceptors=[Versioned()],
    ):
        handle = await client.start_workflow(Shouter.run, "hey", id="v", task_queue="versioned")
        assert await handle.result() == "HEY (v2)"
    history = await handle.fetch_history()
    await Replayer(workflows=[Shouter], interceptors=[Versioned()]).replay_workflow(history)
    with pytest.raises(NondeterminismError, match="shout_v2"):
        await Replayer(workflows=[Shouter]).replay_workflow(history)
