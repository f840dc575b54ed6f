"""Persisted formats of version 1 keep loading: a store file and payload envelopes written
by this version are read, replayed and continued by current code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from duragent import Client, SerializationError, Worker, WorkflowFailureError
from duragent._engine import events as ev
from duragent.serde import DataConverter, Payload
from duragent.testing import Replayer

from ..fixtures.formats.store_workflows import TASK_QUEUE, Failing, Recorded, Waiting, summarize

FORMATS = Path(__file__).resolve().parents[1] / "fixtures" / "formats"


@pytest.fixture
async def old_store(tmp_path: Path) -> Client:
    path = tmp_path / "store_v1.db"
    shutil.copy(FORMATS / "store_v1.db", path)
    return await Client.connect(f"sqlite:///{path}")


async def test_v1_store_is_read_replayed_and_continued(old_store: Client) -> None:
    client = old_store
    runs = {r.id: r for r in await client.list_workflows()}
    assert {k: v.status for k, v in runs.items()} == {
        "recorded": "completed",
        "waiting": "running",
        "failing": "failed",
    }
    assert await client.get_workflow_handle("recorded").result() == (
        "40 items, 80 items, signalled"
    )
    with pytest.raises(WorkflowFailureError, match="recorded failure"):
        await client.get_workflow_handle("failing").result()
    # The large activity inputs were stored as shared chunk trees; they read back whole.
    history = await client.get_workflow_handle("recorded").fetch_history()
    inputs = [
        e.input[0].to_json_value()
        for e in history.events
        if isinstance(e, ev.ActivityTaskScheduled)
    ]
    assert [len(i) for i in inputs] == [40, 80]
    replayer = Replayer(workflows=[Recorded, Waiting, Failing])
    for run_id in ("recorded", "failing", "waiting"):
        await replayer.replay_workflow(await client.get_workflow_handle(run_id).fetch_history())
    # A current worker finishes what the old version left running.
    async with Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[Recorded, Waiting, Failing],
        activities=[summarize],
    ):
        waiting = client.get_workflow_handle("waiting")
        await waiting.signal(Waiting.finish)
        assert await waiting.result(timeout=10) == "finished by a newer Duragent"
    await client.close()


def test_v1_payload_envelopes() -> None:
    samples = json.loads((FORMATS / "payloads_v1.json").read_text())
    converter = DataConverter()
    for sample in samples["samples"]:
        payload = Payload(sample["payload"].encode())
        assert converter.decode(payload) == sample["value"]
        assert converter.encode(sample["value"]).to_json_value() == sample["value"]
    for sample in samples["rejected"]:
        with pytest.raises(SerializationError, match=sample["error"]):
            converter.decode(Payload(sample["payload"].encode()))
