"""Structural sharing of large JSON payloads.

A model call's input is the whole conversation so far, so storing each input whole makes a
long agent's history grow with the square of its length. Instead a large JSON payload is
stored as a *tree* of content-addressed chunks:

* every sizeable value (a conversation message, a tool schema, the system instructions, a
  document) is a chunk, stored once under the digest of its bytes;
* arrays are cut, from their start, into blocks of ``BLOCK`` elements; every full block is
  a chunk too, and the list of block references is cut the same way, recursively.

An append-only list (a growing conversation) therefore keeps the same full blocks from one
call to the next: each call stores only its new messages plus O(log n) references, so the
history grows linearly with the number of turns.

Format (internal to the store, versioned by its envelope header ``json-tree/1``)::

    {"\\u0000r": "<digest>"}                        a chunk reference
    {"\\u0000s": <list of blocks>, "\\u0000t": [...]}  a blocked array: blocks, then a tail
    {"\\u0000p": <ref to a list>, "\\u0000t": [...]}  a list extending an earlier list

Reassembly yields the same JSON value as the original payload (not necessarily the same
bytes).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final, cast

TREE_HEADER: Final = b"json-tree/1\n"
JSON_HEADER: Final = b"json/1\n"
CHUNK_PAYLOAD_MIN: Final = 256
"""Payloads at least this large (bytes) are stored as trees. As low as the store's inline
limit: a model response just over it still shares its output items with the next call's
input."""
CHUNK_ELEMENT_MIN: Final = 96
"""Array elements at least this large (bytes of compact JSON) become shared chunks."""
VALUE_MIN: Final = 160
"""Other nested values (long strings, big objects) at least this large become chunks."""
BLOCK: Final = 16
"""Array elements per block."""
REF: Final = "\x00r"
SEQ: Final = "\x00s"
TAIL: Final = "\x00t"
PREFIX: Final = "\x00p"
CHAIN_MIN: Final = 8
"""Lists at least this long are stored so that later lists extending them can refer to
them (a growing conversation)."""

_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

StoreChunk = Callable[[bytes, bytes], None]
LoadChunk = Callable[[bytes], bytes]


def digest(data: bytes) -> bytes:
    """The content address of ``data``."""
    return hashlib.blake2b(data, digest_size=16).digest()


def _ref(key: bytes) -> dict[str, str]:
    return {REF: base64.urlsafe_b64encode(key).rstrip(b"=").decode()}


def _key(ref: str) -> bytes:
    return base64.urlsafe_b64decode(ref + "=" * (-len(ref) % 4))


class PrefixIndex:
    """Recently stored lists, by the hash of their items: a new list that extends one of
    them is stored as a reference to it plus its new items.

    Per process and bounded (least recently used entries go). Entries are added only once
    their chunks are committed (:meth:`add` is called after the transaction), so a list
    never refers to a prefix that is not in the database.
    """

    def __init__(self, max_entries: int = 20_000) -> None:
        self._entries: OrderedDict[bytes, bytes] = OrderedDict()
        self._max = max_entries

    def get(self, prefix_hash: bytes) -> bytes | None:
        key = self._entries.get(prefix_hash)
        if key is not None:
            self._entries.move_to_end(prefix_hash)
        return key

    def add(self, entries: dict[bytes, bytes]) -> None:
        for prefix_hash, key in entries.items():
            self._entries[prefix_hash] = key
            self._entries.move_to_end(prefix_hash)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)


def split(
    body: bytes,
    store: StoreChunk,
    index: PrefixIndex | None = None,
    new_prefixes: dict[bytes, bytes] | None = None,
) -> bytes | None:
    """Turn a large JSON body into a tree, storing its chunks with ``store(key, data)``.

    With ``index``, a list that extends a recently stored list refers to it; lists stored
    here are reported in ``new_prefixes`` (to add to the index after commit).
    Returns the tree envelope, or None when the payload has nothing to share.
    """
    shared = 0

    def chunk(value: Any, text: bytes | None = None) -> dict[str, str]:
        nonlocal shared
        if text is None:
            text = _compact(value).encode()
        key = digest(text)
        store(key, text)
        shared += 1
        return _ref(key)

    def blocked(items: list[Any]) -> Any:
        if len(items) < BLOCK:
            return items
        full = len(items) // BLOCK
        blocks = [chunk(items[i * BLOCK : (i + 1) * BLOCK]) for i in range(full)]
        return {SEQ: blocked(blocks), TAIL: items[full * BLOCK :]}

    def chained(items: list[Any], texts: list[bytes]) -> Any:
        """A long list as {prefix: <an earlier list>, tail: [new items]} when it extends
        a list stored before, else in blocks; always stored as its own chunk."""
        hashes: list[bytes] = []
        h = b""
        for text in texts:
            h = digest(h + text)
            hashes.append(h)
        node: Any = None
        if index is not None:
            for k in range(len(items) - 1, 0, -1):
                found = (new_prefixes or {}).get(hashes[k - 1]) or index.get(hashes[k - 1])
                if found is not None:
                    node = {PREFIX: _ref(found), TAIL: items[k:]}
                    break
        if node is None:
            node = blocked(items)
        text = _compact(node).encode()
        key = digest(text)
        store(key, text)
        nonlocal shared
        shared += 1
        if new_prefixes is not None:
            new_prefixes[hashes[-1]] = key
        return _ref(key)

    def encode(node: Any, min_size: int) -> Any:
        if isinstance(node, dict):
            mapping = cast(dict[str, Any], node)
            encoded: Any = {k: encode(v, VALUE_MIN) for k, v in mapping.items()}
        elif isinstance(node, list):
            items = [encode(v, CHUNK_ELEMENT_MIN) for v in cast(list[Any], node)]
            if len(items) >= CHAIN_MIN and index is not None:
                return chained(items, [_compact(v).encode() for v in items])
            encoded = blocked(items)
        else:
            encoded = node
        text = _compact(encoded).encode()
        if len(text) >= min_size:
            return chunk(encoded, text)
        return encoded

    value = json.loads(body)
    # A long string (a tool's result) is its own chunk, shared with the same text inside
    # later model inputs; any other root stays in the tree.
    tree = encode(value, VALUE_MIN if isinstance(value, str) else 1 << 62)
    if shared == 0:
        return None
    return TREE_HEADER + _compact(tree).encode()


def join(tree_envelope: bytes, load: LoadChunk) -> bytes:
    """Reassemble a tree envelope into a ``json/1`` payload."""

    def expand(node: Any) -> Any:
        if isinstance(node, dict):
            mapping = cast(dict[str, Any], node)
            if len(mapping) == 1 and REF in mapping:
                return expand(json.loads(load(_key(str(mapping[REF])))))
            if len(mapping) == 2 and TAIL in mapping and (SEQ in mapping or PREFIX in mapping):
                return expand_list(mapping)
            return {k: expand(v) for k, v in mapping.items()}
        if isinstance(node, list):
            return [expand(v) for v in cast(list[Any], node)]
        return node

    def expand_list(mapping: dict[str, Any]) -> list[Any]:
        # Prefix chains can be as long as a conversation: walk them without recursion.
        tails: list[list[Any]] = []
        while PREFIX in mapping:
            tails.append(cast(list[Any], mapping[TAIL]))
            mapping = json.loads(load(_key(str(mapping[PREFIX][REF]))))
            if isinstance(mapping, list):
                break
        out: list[Any] = []
        if isinstance(mapping, list):
            out.extend(expand(item) for item in cast(list[Any], mapping))
        elif SEQ in mapping:
            for block in expand(mapping[SEQ]):
                out.extend(block)
            out.extend(expand(item) for item in cast(list[Any], mapping[TAIL]))
        for tail in reversed(tails):
            out.extend(expand(item) for item in tail)
        return out

    tree = json.loads(tree_envelope[len(TREE_HEADER) :])
    return JSON_HEADER + _compact(expand(tree)).encode()
