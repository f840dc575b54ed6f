"""Histories grow linearly: a payload that repeats earlier content (a conversation sent to a
model on every turn) shares the stored content instead of copying it."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

from duragent import Client, Worker, activity, workflow
from duragent._engine import events as ev
from duragent.store import chunks

TURNS = 200


@activity.defn
async def chat(conversation: list[dict[str, Any]]) -> dict[str, Any]:
    """Stands in for a model: the input is the whole conversation, every time."""
    n = len(conversation)
    return {
        "role": "assistant",
        "content": f"Answer number {n}: " + "lorem ipsum dolor sit amet " * 8,
    }


@workflow.defn
class LongChat:
    @workflow.run
    async def run(self, turns: int) -> int:
        conversation: list[dict[str, Any]] = []
        for i in range(turns):
            conversation.append(
                {"role": "user", "content": f"Question {i}: " + "what about the weather? " * 6}
            )
            reply = await workflow.execute_activity(
                chat, conversation, start_to_close_timeout=timedelta(seconds=10)
            )
            conversation.append(reply)
        return len(conversation)


def stored_bytes(db: Path) -> tuple[int, int]:
    """(bytes of event attributes, bytes of stored payloads and chunks)."""
    conn = sqlite3.connect(db)
    attrs = conn.execute("SELECT coalesce(sum(length(attrs)), 0) FROM events").fetchone()[0]
    blobs = conn.execute("SELECT coalesce(sum(length(data)), 0) FROM payloads").fetchone()[0]
    conn.close()
    return int(attrs), int(blobs)


async def test_long_conversation_history_grows_linearly(client: Client, db_path: Path) -> None:
    async with Worker(client, task_queue="q", workflows=[LongChat], activities=[chat]):
        handle = await client.start_workflow(LongChat.run, TURNS, id="chat", task_queue="q")
        assert await handle.result(timeout=120) == 2 * TURNS
    history = await handle.fetch_history()
    scheduled = [e for e in history.events if isinstance(e, ev.ActivityTaskScheduled)]
    naive = sum(len(p.data) for e in scheduled for p in e.input)
    attrs, blobs = stored_bytes(db_path)
    stored = attrs + blobs
    # Naive journaling stores every input whole: quadratic in the number of turns.
    assert naive > 20 * stored, (naive, stored)
    # And the inputs still read back exactly (lazily reassembled from shared chunks).
    conversation = scheduled[-1].input[0].to_json_value()
    assert len(conversation) == 2 * TURNS - 1
    assert conversation[0]["content"].startswith("Question 0:")


def test_chunks_round_trip_and_share() -> None:
    stored: dict[bytes, bytes] = {}
    items = [{"role": "user", "content": f"message {i} " + "x" * 200} for i in range(300)]
    body_a = json.dumps({"input": items[:290], "model": "m"}).encode()
    body_b = json.dumps({"input": items, "model": "m"}).encode()
    tree_a = chunks.split(body_a, stored.__setitem__)
    size_after_a = sum(map(len, stored.values()))
    tree_b = chunks.split(body_b, stored.__setitem__)
    assert tree_a is not None and tree_b is not None
    added = sum(map(len, stored.values())) - size_after_a
    assert added < 10 * 230 + 2000  # the 10 new messages and a few block references
    assert len(tree_b) < 1500  # O(log n) references, not one per message
    joined = chunks.join(tree_b, stored.__getitem__)
    assert joined.startswith(chunks.JSON_HEADER)
    assert json.loads(joined[len(chunks.JSON_HEADER) :]) == {"input": items, "model": "m"}


def test_joins_sharing_a_memo_read_each_chunk_once() -> None:
    """The inputs of one history's model calls share their expanded conversation: with a
    memo, each joins from the previous one instead of reading every chunk again."""
    stored: dict[bytes, bytes] = {}
    index = chunks.PrefixIndex()
    items = [{"role": "user", "content": f"message {i} " + "x" * 200} for i in range(120)]
    trees: list[bytes] = []
    for n in range(10, 121, 2):  # a conversation growing by two messages per call
        new: dict[bytes, bytes] = {}
        tree = chunks.split(
            json.dumps({"input": items[:n]}).encode(), stored.__setitem__, index, new
        )
        assert tree is not None
        index.add(new)
        trees.append(tree)
    loads: list[bytes] = []

    def load(key: bytes) -> bytes:
        loads.append(key)
        return stored[key]

    plain = [chunks.join(t, load) for t in trees]
    without_memo = len(loads)
    loads.clear()
    memo: dict[bytes, Any] = {}
    shared = [chunks.join(t, load, memo) for t in trees]
    assert shared == plain
    for n, joined in zip(range(10, 121, 2), shared, strict=True):
        assert json.loads(joined[len(chunks.JSON_HEADER) :]) == {"input": items[:n]}
    assert len(loads) == len(set(loads))  # every chunk read once
    assert len(loads) * 10 < without_memo
