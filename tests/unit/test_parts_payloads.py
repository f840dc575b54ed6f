"""Payloads built from encoded parts (``_json_parts``) and how the store splits them.

A conversation that grows by appending is encoded, hashed and split in proportion to what
is new: the store refers to the list stored before and adds only the new items. These tests
check that the trees always join back to the payload's JSON, that the work really is
proportional to the new items, and that lists stored either way (whole, or from parts)
share the same prefix index.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from duragent._json_parts import (
    EncodedList,
    EncodedObject,
    PartsPayload,
    compact_json,
    encode_item,
    object_payload,
)
from duragent.errors import PayloadTooLargeError
from duragent.serde import DataConverter, Payload
from duragent.store import chunks


class Chunks:
    """An in-memory chunk store with a prefix index, committed after every split."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.writes = 0
        self.index = chunks.PrefixIndex()
        self.memo = chunks.FragmentMemo()

    def put(self, key: bytes, data: bytes) -> None:
        self.writes += 1
        self.data[key] = data

    def split(self, payload: Payload) -> bytes:
        new: dict[bytes, bytes] = {}
        body = payload.data[len(chunks.JSON_HEADER) :]
        if isinstance(payload, PartsPayload):
            tree = chunks.split_parts(payload.members, self.put, self.index, new, self.memo)
        else:
            tree = chunks.split(body, self.put, self.index, new)
        assert tree is not None
        self.index.add(new)
        return tree

    def join(self, tree: bytes) -> Any:
        return json.loads(chunks.join(tree, self.data.__getitem__)[len(chunks.JSON_HEADER) :])


def message(i: int, size: int = 120) -> dict[str, Any]:
    return {"type": "message", "role": "user", "id": f"m{i}", "content": f"é{i} " + "x" * size}


def request(config: bytes, items: EncodedList) -> PartsPayload:
    return object_payload([("v", b"2"), ("config", config), ("input", items)])


def test_an_object_payload_holds_the_json_of_its_members() -> None:
    items = EncodedList().extend(0, [encode_item(message(i)) for i in range(3)])
    inner = EncodedObject([("n", b"1"), ("list", EncodedList([b"[]"]))])
    payload = object_payload([("a", encode_item("é")), ("items", items), ("inner", inner)])
    assert json.loads(payload.body) == {
        "a": "é",
        "items": [message(i) for i in range(3)],
        "inner": {"n": 1, "list": [[]]},
    }
    assert payload == Payload(payload.data)  # equal to the same bytes, however built


def test_a_growing_conversation_costs_only_its_new_items() -> None:
    store = Chunks()
    config = encode_item({"tools": [{"name": f"t{i}", "schema": "s" * 200} for i in range(3)]})
    items = EncodedList()
    conversation: list[dict[str, Any]] = []
    writes: list[int] = []
    for turn in range(60):
        new = [message(2 * turn), message(2 * turn + 1)]
        conversation += new
        items = items.extend(len(items.items), [encode_item(m) for m in new])
        before = store.writes
        tree = store.split(request(config, items))
        writes.append(store.writes - before)
        assert store.join(tree) == {"v": 2, "config": json.loads(config), "input": conversation}
    # Two new items, the list node and the repeated config: the same count every turn.
    assert max(writes[10:]) == min(writes[10:]) <= 2 + 1 + 8


def test_lists_stored_whole_and_from_parts_share_prefixes() -> None:
    store = Chunks()
    conversation = [message(i) for i in range(20)]
    whole = DataConverter().encode({"input": conversation})
    store.split(whole)  # the first call stored whole (as replay or another backend would)
    items = EncodedList().extend(0, [encode_item(m) for m in conversation])
    items = items.extend(20, [encode_item(message(20))])
    before = store.writes
    tree = store.split(object_payload([("input", items)]))
    assert store.join(tree) == {"input": [*conversation, message(20)]}
    assert store.writes - before == 2  # the new item and the list extending the stored one
    # And the other way round: a whole payload extends a list stored from parts.
    longer = DataConverter().encode({"input": [*conversation, message(20), message(21)]})
    known = len(store.data)
    assert store.join(store.split(longer))["input"][-1] == message(21)
    assert len(store.data) - known == 2  # again only the new item and the list node


@pytest.mark.parametrize(
    "value",
    [
        {"s": "a" * 500, "nested": {"deep": ["b" * 200, {"x": "y" * 170}]}},
        {"list": [{"k": i, "v": "z" * 100} for i in range(40)], "n": None, "t": True},
        {"uni": 'é✓\u0000\u2028"\\' * 60, "f": 1.5, "i": -(10**30), "e": [], "o": {}},
        ["top", "level", "x" * 300],
    ],
)
def test_split_texts_are_the_compact_json_of_their_tree(value: Any) -> None:
    store = Chunks()
    tree = store.split(DataConverter().encode(value))
    assert store.join(tree) == value
    for key, text in store.data.items():
        # Built bottom-up from the children's texts: the very bytes json would give.
        assert compact_json(json.loads(text)).encode() == text
        assert chunks.digest(text) == key


def test_a_repeated_member_is_split_once_and_stored_again_each_time() -> None:
    store = Chunks()
    config = encode_item({"instructions": "be brief " * 40})
    for i in range(3):
        seen: list[bytes] = []
        tree = chunks.split_parts(
            [("config", config), ("i", encode_item(i))],
            lambda key, data, seen=seen: seen.append(key),
            None,
            None,
            store.memo,
        )
        assert tree is not None
        assert seen  # the chunks are handed to the store every time (committed or not)


def test_a_payload_value_passes_through_the_converter() -> None:
    payload = object_payload([("a", b"1")])
    converter = DataConverter()
    assert converter.encode(payload) is payload
    assert converter.decode(payload, Payload) is payload
    assert converter.decode(payload) == {"a": 1}
    with pytest.raises(PayloadTooLargeError, match="over the limit of 8 bytes"):
        DataConverter(max_payload_bytes=8).encode(payload)


def test_the_fragment_memo_is_bounded_in_entries_and_bytes() -> None:
    memo = chunks.FragmentMemo(max_entries=3, max_bytes=4000)
    for i in range(5):
        memo.put((b"%d" % i, 1), b"t" * 100, [(b"k", b"d" * 100)])
    assert memo.get((b"0", 1)) is None and memo.get((b"1", 1)) is None  # oldest first
    assert memo.get((b"4", 1)) == (b"t" * 100, [(b"k", b"d" * 100)])
    memo = chunks.FragmentMemo(max_entries=100, max_bytes=4000)
    memo.put((b"big", 1), b"t" * 1500, [])  # over a quarter of the budget: not remembered
    assert memo.get((b"big", 1)) is None
    for i in range(5):
        memo.put((b"%d" % i, 1), b"t" * 999, [])
    assert memo.get((b"0", 1)) is None  # a fifth 1,000-byte entry is over 4,000 bytes
    assert all(memo.get((b"%d" % i, 1)) is not None for i in (1, 2, 3, 4))
