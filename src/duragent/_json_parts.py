"""Payloads built from pre-encoded JSON parts, for values that grow by appending.

An agent's model input is the whole conversation so far. Encoding it, splitting it into
chunks and hashing it again at every turn makes each turn cost more than the last. A
producer that knows its value grows by appending (the agents integration) encodes each
item once and builds the payload from the stored encodings instead: :class:`EncodedList`
holds a JSON array as its items' encodings plus a running hash of every prefix, and
:func:`object_payload` joins an object's members into a payload that still carries them.
The store recognises such a payload and stores the list as "the list stored before, plus
these new items" without reading the items it already has (``store/chunks.py``): the work
per turn is proportional to what is new.

The payload's bytes are ordinary JSON (a reader never knows how it was built), and the
prefix hash is the one the store computes for lists it splits itself, so both paths share
what they store.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, Final

from .serde import Payload

JSON_HEADER: Final = b"json/1\n"

compact_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
"""Canonical compact JSON text: the same value always gives the same bytes, so it is stored
under the same digest whoever encodes it."""


def digest(data: bytes) -> bytes:
    """The content address of ``data`` (BLAKE2b, 16 bytes)."""
    return hashlib.blake2b(data, digest_size=16).digest()


def chain_hash(previous: bytes, item: bytes) -> bytes:
    """The hash of a list's first k+1 items, from that of its first k (``b""`` for none)
    and the encoding of item k+1."""
    return digest(previous + item)


class EncodedList:
    """A JSON array as the canonical encodings of its items, with ``chain[k]`` the
    :func:`chain_hash` of the first k+1 items.

    Immutable by convention: :meth:`extend` makes a new list sharing this one's work.
    """

    __slots__ = ("chain", "items")

    def __init__(self, items: Sequence[bytes] = (), chain: Sequence[bytes] = ()) -> None:
        self.items: tuple[bytes, ...] = tuple(items)
        self.chain: tuple[bytes, ...] = tuple(chain)
        if len(self.chain) != len(self.items):
            self.chain = chain_of(self.items)

    def extend(self, keep: int, new_items: Sequence[bytes]) -> EncodedList:
        """The first ``keep`` items of this list followed by ``new_items`` (only the new
        items are hashed)."""
        chain = list(self.chain[:keep])
        h = chain[-1] if chain else b""
        for item in new_items:
            h = chain_hash(h, item)
            chain.append(h)
        out = EncodedList.__new__(EncodedList)
        out.items = self.items[:keep] + tuple(new_items)
        out.chain = tuple(chain)
        return out

    def json(self) -> bytes:
        return b"[" + b",".join(self.items) + b"]"


def chain_of(items: Sequence[bytes]) -> tuple[bytes, ...]:
    """The :func:`chain_hash` of every prefix of a list given as its items' encodings."""
    out: list[bytes] = []
    h = b""
    for item in items:
        h = chain_hash(h, item)
        out.append(h)
    return tuple(out)


class EncodedObject:
    """A JSON object as its members, each a JSON text or an encoded part."""

    __slots__ = ("members",)

    def __init__(self, members: Sequence[tuple[str, Member]]) -> None:
        self.members: tuple[tuple[str, Member], ...] = tuple(members)

    def json(self) -> bytes:
        return (
            b"{" + b",".join(_key(name) + member_json(value) for name, value in self.members) + b"}"
        )


Member = bytes | EncodedList | EncodedObject
"""An object member's value: its JSON text, or an encoded list or object."""


def member_json(value: Member) -> bytes:
    return value if isinstance(value, bytes) else value.json()


_keys: dict[str, bytes] = {}


def _key(name: str) -> bytes:
    """``"name":`` (member names repeat: encoded once each)."""
    found = _keys.get(name)
    if found is None:
        found = compact_json(name).encode() + b":"
        if len(_keys) < 4096:
            _keys[name] = found
    return found


class PartsPayload(Payload):
    """A payload of a JSON object that also carries its members as encoded parts (the
    store uses them to store only what is new). Equal to any payload of the same bytes."""

    __slots__ = ("members",)

    def __init__(self, data: bytes, members: tuple[tuple[str, Member], ...]) -> None:
        super().__init__(data)
        self.members = members


def object_payload(members: Sequence[tuple[str, Member]]) -> PartsPayload:
    """The payload of the JSON object with these members, in this order."""
    root = EncodedObject(members)
    return PartsPayload(JSON_HEADER + root.json(), root.members)


_IMMUTABLE: Final = frozenset({str, int, float, bool, type(None)})


def is_flat(value: Any) -> bool:
    """Whether ``value`` is a JSON object whose members are all immutable scalars (most
    conversation items: tool calls and their outputs), so that ``dict(value)`` is a copy
    nothing done to the original can change."""
    return type(value) is dict and all(type(v) in _IMMUTABLE for v in value.values())  # pyright: ignore[reportUnknownVariableType, reportUnknownMemberType]


def encode_item(value: Any) -> bytes:
    """The canonical encoding of one JSON-able value (values the json module cannot encode
    go through pydantic-core first, as the DataConverter would)."""
    try:
        return compact_json(value).encode()
    except (TypeError, ValueError):
        import pydantic_core

        return compact_json(json.loads(pydantic_core.to_json(value))).encode()
