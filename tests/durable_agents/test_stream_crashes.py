"""SIGKILL a worker in the middle of a streamed model call: subscribers see the attempt's
words withdrawn by a reset, then the new attempt's, and the text they end with is the
response history recorded. Real worker subprocesses, real SIGKILL."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from duragent import Client
from duragent.streaming import Reset, RunClosed, StreamEvent, TextDelta
from tests.fixtures.agents_kill_app import STORY, StreamStory

from .agent_workers import TASK_QUEUE, agent_workers

pytestmark = pytest.mark.slow


def _shown(events: list[StreamEvent]) -> str:
    text = ""
    for e in events:
        if isinstance(e, Reset):
            text = ""
        elif isinstance(e, TextDelta):
            text += e.text
    return text


async def test_a_worker_killed_mid_stream_shows_a_reset_then_the_new_attempt(
    tmp_path: Path,
) -> None:
    with agent_workers(tmp_path) as workers:
        client = await Client.connect(workers.url)
        try:
            first = workers.spawn()
            handle = await client.start_workflow(StreamStory.run, id="story", task_queue=TASK_QUEUE)
            live: list[StreamEvent] = []

            async def follow() -> None:
                async for event in handle.stream():
                    live.append(event)

            follower = asyncio.create_task(follow())
            while sum(isinstance(e, TextDelta) for e in live) < 5:  # some words are out
                await asyncio.sleep(0.01)
            workers.kill(first)
            workers.spawn()
            assert await handle.result(timeout=60) == STORY
            await asyncio.wait_for(follower, 30)
            late = [e async for e in handle.stream()]
            killed_at = next(e for e in live if isinstance(e, TextDelta)).offset
            resumed = [e async for e in handle.stream(after=killed_at)]
        finally:
            await client.close()
    # Live: the first attempt's words, a reset of that call, then the second attempt whole.
    kinds = [type(e).__name__ for e in live]
    reset = kinds.index("Reset")
    assert set(kinds[:reset]) == {"TextDelta"}
    assert {e.attempt for e in live[:reset] if isinstance(e, TextDelta)} == {1}
    first_reset = live[reset]
    assert isinstance(first_reset, Reset) and first_reset.attempt == 1
    assert {e.attempt for e in live[reset + 1 : -1] if isinstance(e, TextDelta)} == {2}
    assert isinstance(live[-1], RunClosed) and live[-1].result == STORY
    assert _shown(live) == STORY  # what the subscriber ends with is the recorded response
    # A late subscriber sees only the attempt that counted; one resuming inside the killed
    # attempt gets the reset too, then the rest.
    assert "Reset" not in [type(e).__name__ for e in late] and _shown(late) == STORY
    assert any(isinstance(e, Reset) for e in resumed) and _shown(live[:1] + resumed) == STORY
    # The raw stream kept both attempts, each numbered without gaps.
    with sqlite3.connect(workers.db) as conn:
        attempts = conn.execute(
            "SELECT attempt, count(*), max(seq) FROM stream_events WHERE kind = 'text' "
            "GROUP BY attempt"
        ).fetchall()
        markers = conn.execute(
            "SELECT attempt, kind, data FROM stream_events WHERE seq = -1 ORDER BY attempt"
        ).fetchall()
    assert [a for a, _, _ in attempts] == [1, 2]
    assert attempts[1][1] == len(STORY.split(" "))
    assert markers == [(1, "failed", "interrupted"), (2, "commit", "")]
