"""The chunk-tree payload codec for Temporal (``duragent.temporal.codec``): large JSON
payloads become chunk trees in a chunk store, round trip to the same value with their other
metadata, are read back by a new codec on the same store (a restarted worker), and the frozen
samples of format 1 keep decoding. Newer formats and missing chunks are refused clearly."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import History

from duragent.errors import SerializationError
from duragent.temporal.codec import (
    CODEC_ENCODING,
    ChunkTreeCodec,
    SQLiteChunkStore,
    decode_message_payloads,
)

FIXTURE: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "formats" / "temporal_chunk_tree_v1.json").read_text()
)


def conversation(turns: int) -> dict[str, Any]:
    items: list[Any] = [{"role": "system", "content": "Be brief. " * 20}]
    for i in range(turns):
        items.append({"type": "function_call", "name": "lookup", "call_id": f"c{i}"})
        items.append({"call_id": f"c{i}", "output": f"Fact {i}. " + "Archived notes. " * 8})
    return {"input": items}


def plain(value: Any, **metadata: bytes) -> Payload:
    data = json.dumps(value, separators=(",", ":")).encode()
    return Payload(metadata={"encoding": b"json/plain", **metadata}, data=data)


def test_a_growing_conversation_is_stored_once_and_read_back(tmp_path: Path) -> None:
    codec = ChunkTreeCodec(tmp_path / "chunks.db")
    naive = encoded = 0
    sent: list[Payload] = []
    for turns in range(1, 41):
        payload = plain(conversation(turns), **{"duragent-usage": b"[1]"})
        (out,) = codec.encode_sync([payload])
        naive += len(payload.data)
        encoded += len(out.data)
        sent.append(out)
    assert all(p.metadata["encoding"] == CODEC_ENCODING for p in sent[5:])
    assert encoded * 20 < naive  # what the history keeps: references, not conversations
    store_bytes = SQLiteChunkStore(tmp_path / "chunks.db").size()
    assert store_bytes * 5 < naive  # each message stored once
    # A new codec on the same store (a restarted worker) reads every payload back.
    fresh = ChunkTreeCodec(tmp_path / "chunks.db")
    decoded = fresh.decode_sync(sent)
    for turns, p in enumerate(decoded, 1):
        assert json.loads(p.data) == conversation(turns)
        assert p.metadata["encoding"] == b"json/plain"
        assert p.metadata["duragent-usage"] == b"[1]"  # the usage ledger's entries survive


async def test_small_and_non_json_payloads_are_left_alone(tmp_path: Path) -> None:
    codec = ChunkTreeCodec(tmp_path / "chunks.db", min_bytes=1024)
    small = plain({"city": "Paris"})
    binary = Payload(metadata={"encoding": b"binary/plain"}, data=b"x" * 5000)
    flat = plain("y" * 100)  # large enough only with a low min_bytes, nothing to share
    assert await codec.encode([small, binary]) == [small, binary]
    assert await ChunkTreeCodec(tmp_path / "c2.db", min_bytes=10).encode([flat]) == [flat]
    assert await codec.decode([small, binary]) == [small, binary]


async def test_payloads_inside_a_history_are_decoded_in_place(tmp_path: Path) -> None:
    codec = ChunkTreeCodec(tmp_path / "chunks.db")
    value = conversation(30)
    (encoded,) = await codec.encode([plain(value)])
    history = History()
    event = history.events.add()
    event.activity_task_scheduled_event_attributes.input.payloads.append(encoded)
    await decode_message_payloads(history, ChunkTreeCodec(tmp_path / "chunks.db"))
    (decoded,) = history.events[0].activity_task_scheduled_event_attributes.input.payloads
    assert json.loads(decoded.data) == value


def _fixture_payload(sample: dict[str, Any]) -> Payload:
    metadata = {k: base64.b64decode(v) for k, v in sample["metadata"].items()}
    return Payload(metadata=metadata, data=sample["data"].encode())


def test_the_frozen_format_1_samples_decode(tmp_path: Path) -> None:
    assert FIXTURE["codec_version"] == 1
    store = SQLiteChunkStore(tmp_path / "chunks.db")
    store.put({bytes.fromhex(k): base64.b64decode(v) for k, v in FIXTURE["chunks"].items()})
    codec = ChunkTreeCodec(store)
    for sample in FIXTURE["payloads"]:
        (decoded,) = codec.decode_sync([_fixture_payload(sample)])
        assert json.loads(decoded.data) == sample["value"]
        assert decoded.metadata["duragent-usage"] == b'[{"seq":3}]'


def test_newer_formats_and_missing_chunks_are_refused(tmp_path: Path) -> None:
    codec = ChunkTreeCodec(tmp_path / "empty.db")
    payload = _fixture_payload(FIXTURE["payloads"][0])
    with pytest.raises(SerializationError, match="missing from the chunk store"):
        codec.decode_sync([payload])
    payload.metadata["duragent-codec"] = b"2"
    with pytest.raises(SerializationError, match=r"codec version .2.*upgrade Duragent"):
        codec.decode_sync([payload])


def test_an_unusable_chunk_store_is_reported_at_once(tmp_path: Path) -> None:
    (tmp_path / "not-a-db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(SerializationError, match="cannot open the chunk store"):
        ChunkTreeCodec(tmp_path / "not-a-db")
