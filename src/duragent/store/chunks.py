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

Reassembly yields the same JSON value as the original payload (not necessarily the same
bytes).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any, Final, cast

TREE_HEADER: Final = b"json-tree/1\n"
JSON_HEADER: Final = b"json/1\n"
CHUNK_PAYLOAD_MIN: Final = 2048
"""Payloads at least this large (bytes) are stored as trees."""
CHUNK_ELEMENT_MIN: Final = 96
"""Array elements at least this large (bytes of compact JSON) become shared chunks."""
VALUE_MIN: Final = 256
"""Other nested values (long strings, big objects) at least this large become chunks."""
BLOCK: Final = 16
"""Array elements per block."""
REF: Final = "\x00r"
SEQ: Final = "\x00s"
TAIL: Final = "\x00t"

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


def split(body: bytes, store: StoreChunk) -> bytes | None:
    """Turn a large JSON body into a tree, storing its chunks with ``store(key, data)``.

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

    def encode(node: Any, min_size: int) -> Any:
        if isinstance(node, dict):
            mapping = cast(dict[str, Any], node)
            encoded: Any = {k: encode(v, VALUE_MIN) for k, v in mapping.items()}
        elif isinstance(node, list):
            encoded = blocked([encode(v, CHUNK_ELEMENT_MIN) for v in cast(list[Any], node)])
        else:
            encoded = node
        text = _compact(encoded).encode()
        if len(text) >= min_size:
            return chunk(encoded, text)
        return encoded

    tree = encode(json.loads(body), 1 << 62)
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
            if len(mapping) == 2 and SEQ in mapping and TAIL in mapping:
                out: list[Any] = []
                for block in expand(mapping[SEQ]):
                    out.extend(block)
                out.extend(expand(item) for item in mapping[TAIL])
                return out
            return {k: expand(v) for k, v in mapping.items()}
        if isinstance(node, list):
            return [expand(v) for v in cast(list[Any], node)]
        return node

    tree = json.loads(tree_envelope[len(TREE_HEADER) :])
    return JSON_HEADER + _compact(expand(tree)).encode()
