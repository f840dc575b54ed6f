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
history grows linearly with the number of turns. A list that extends one stored recently is
stored as that list plus its new items (the prefix index), and a payload built from encoded
parts (``_json_parts``: the agents integration builds model requests that way) is split in
proportion to its new items only: the *CPU* per call stays flat too, not just the bytes.
Tree texts are built bottom-up from the children's texts, so every value is encoded once.

Format (internal to the store, versioned by its envelope header ``json-tree/1``)::

    {"\\u0000r": "<digest>"}                        a chunk reference
    {"\\u0000s": <list of blocks>, "\\u0000t": [...]}  a blocked array: blocks, then a tail
    {"\\u0000p": <ref to a list>, "\\u0000t": [...]}  a list extending an earlier list

Reassembly yields the same JSON value as the original payload (not necessarily the same
bytes).
"""

from __future__ import annotations

import base64
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Final, cast

from .._json_parts import EncodedObject, Member, chain_of, digest

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

    def clear(self) -> None:
        """Forget every list (their chunks may have been reclaimed)."""
        self._entries.clear()

    def add(self, entries: dict[bytes, bytes]) -> None:
        for prefix_hash, key in entries.items():
            self._entries[prefix_hash] = key
            self._entries.move_to_end(prefix_hash)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)


class FragmentMemo:
    """How recently stored JSON fragments were split (their tree text and chunks), by their
    bytes: a payload built from parts (``_json_parts``) repeats some members on every call
    (an agent's tools and instructions), and splitting them again would cost as much as the
    rest. Per process (:data:`FRAGMENTS`, shared by every store: entries depend only on the
    bytes, so they never go stale; the chunks are stored again, as no-ops, whenever a node
    is reused), bounded in entries and bytes, and safe to share between threads."""

    def __init__(self, max_entries: int = 256, max_bytes: int = 16 << 20) -> None:
        self._entries: OrderedDict[tuple[bytes, int], tuple[bytes, list[tuple[bytes, bytes]]]]
        self._entries = OrderedDict()
        self._max = max_entries
        self._max_bytes = max_bytes
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[bytes, int]) -> tuple[bytes, list[tuple[bytes, bytes]]] | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: tuple[bytes, int], text: bytes, stored: list[tuple[bytes, bytes]]) -> None:
        size = _entry_bytes(key, text, stored)
        if size > self._max_bytes // 4:
            return  # one huge fragment would evict everything else
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= _entry_bytes(key, *old)
            self._entries[key] = (text, stored)
            self._bytes += size
            while len(self._entries) > self._max or self._bytes > self._max_bytes:
                evicted, value = self._entries.popitem(last=False)
                self._bytes -= _entry_bytes(evicted, *value)


def _entry_bytes(key: tuple[bytes, int], text: bytes, stored: list[tuple[bytes, bytes]]) -> int:
    return len(key[0]) + len(text) + sum(len(k) + len(d) for k, d in stored)


FRAGMENTS: Final = FragmentMemo()
"""The process's fragment memo (see :class:`FragmentMemo`)."""


Encoded = tuple[bytes, bytes]
"""A value's tree text (its compact JSON with chunk references) and its own compact JSON."""

_REF_OPEN: Final = b"{" + _compact(REF).encode() + b':"'
_SEQ_OPEN: Final = b"{" + _compact(SEQ).encode() + b":"
_PREFIX_OPEN: Final = b"{" + _compact(PREFIX).encode() + b":"
_TAIL_KEY: Final = b"," + _compact(TAIL).encode() + b":"


def _ref_text(key: bytes) -> bytes:
    return _REF_OPEN + base64.urlsafe_b64encode(key).rstrip(b"=") + b'"}'


_encode_string: Callable[[str], str] = json.encoder.encode_basestring  # pyright: ignore[reportUnknownMemberType]


def _scalar(value: Any) -> bytes:
    """``_compact(value).encode()`` for a JSON scalar, without the encoder's overhead."""
    kind: type = type(value)  # pyright: ignore[reportUnknownVariableType]
    if kind is str:
        return _encode_string(value).encode()
    if value is None:
        return b"null"
    if kind is bool:
        return b"true" if value else b"false"
    if kind is int:
        return str(value).encode()
    return _compact(value).encode()


def _array(texts: Sequence[bytes]) -> bytes:
    return b"[" + b",".join(texts) + b"]"


class _Splitter:
    """Turns JSON values into tree texts, storing chunks as it goes.

    Texts are built bottom-up from the children's (JSON is compositional): each value is
    encoded once, however deep it sits, to the very bytes ``_compact`` gives its tree.
    """

    def __init__(
        self,
        store: StoreChunk,
        index: PrefixIndex | None,
        new_prefixes: dict[bytes, bytes] | None,
    ) -> None:
        self._store = store
        self.index = index
        self.new_prefixes = new_prefixes
        self.shared = 0

    def store(self, key: bytes, text: bytes) -> None:
        self._store(key, text)
        self.shared += 1

    def chunk(self, text: bytes) -> bytes:
        """Store ``text`` as a chunk; the text of a reference to it."""
        key = digest(text)
        self.store(key, text)
        return _ref_text(key)

    def blocked(self, texts: Sequence[bytes]) -> bytes:
        """A list (its items' texts) as blocks of BLOCK items, each block a chunk."""
        if len(texts) < BLOCK:
            return _array(texts)
        full = len(texts) // BLOCK
        blocks = [self.chunk(_array(texts[i * BLOCK : (i + 1) * BLOCK])) for i in range(full)]
        return _SEQ_OPEN + self.blocked(blocks) + _TAIL_KEY + _array(texts[full * BLOCK :]) + b"}"

    def encode(self, value: Any, min_size: int) -> Encoded:
        if isinstance(value, dict):
            texts: list[bytes] = []
            raws: list[bytes] = []
            for k, v in cast(dict[str, Any], value).items():
                text, raw = self.encode(v, VALUE_MIN)
                key = _encode_string(k).encode() + b":"
                texts.append(key + text)
                raws.append(key + raw)
            text = b"{" + b",".join(texts) + b"}"
            raw = b"{" + b",".join(raws) + b"}"
        elif isinstance(value, list):
            items = [self.encode(v, CHUNK_ELEMENT_MIN) for v in cast(list[Any], value)]
            raws = [r for _, r in items]
            raw = _array(raws)
            texts = [t for t, _ in items]
            if len(items) >= CHAIN_MIN and self.index is not None:
                return self.chained(len(items), chain_of(raws), lambda k: texts[k:]), raw
            text = self.blocked(texts)
        else:
            text = raw = _scalar(value)
        if len(text) >= min_size:
            return self.chunk(text), raw
        return text, raw

    def chained(
        self, length: int, chain: Sequence[bytes], texts_from: Callable[[int], Sequence[bytes]]
    ) -> bytes:
        """A long list as {prefix: <an earlier list>, tail: [new items]} when it extends
        a list stored before, else in blocks; always stored as its own chunk.

        ``chain[k]`` is the hash of the list's first k+1 items (their own JSON, so a list
        built from parts finds the same prefixes); ``texts_from(k)`` gives the tree texts of
        the items from position k on: only those after the prefix found are needed.
        """
        text: bytes | None = None
        index = self.index
        if index is not None:
            new = self.new_prefixes or {}
            for k in range(length - 1, 0, -1):
                found = new.get(chain[k - 1]) or index.get(chain[k - 1])
                if found is not None:
                    tail = _array(texts_from(k))
                    text = _PREFIX_OPEN + _ref_text(found) + _TAIL_KEY + tail + b"}"
                    break
        if text is None:
            text = self.blocked(texts_from(0))
        key = digest(text)
        self.store(key, text)
        if self.new_prefixes is not None:
            self.new_prefixes[chain[-1]] = key
        return _ref_text(key)


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
    splitter = _Splitter(store, index, new_prefixes)
    value = json.loads(body)
    # A long string (a tool's result) is its own chunk, shared with the same text inside
    # later model inputs; any other root stays in the tree.
    text, _ = splitter.encode(value, VALUE_MIN if isinstance(value, str) else 1 << 62)
    if splitter.shared == 0:
        return None
    return TREE_HEADER + text


def split_parts(
    members: Sequence[tuple[str, Member]],
    store: StoreChunk,
    index: PrefixIndex | None = None,
    new_prefixes: dict[bytes, bytes] | None = None,
    memo: FragmentMemo | None = None,
) -> bytes | None:
    """:func:`split` for a JSON object given as encoded members (``_json_parts``): an
    encoded list that extends a stored list costs only its new items (as in :func:`split`,
    it refers to that list and the same prefix index serves both), and any other member
    is split on its own, so that a member split before (``memo``) costs a lookup."""
    splitter = _PartsSplitter(store, index, new_prefixes, memo)
    text = splitter.member_text(EncodedObject(members), 1 << 62)
    if splitter.shared == 0:
        return None
    return TREE_HEADER + text


_member_keys: dict[str, bytes] = {}
"""Object member names as JSON keys (``"name":``): a model request has the same few."""


def _member_key(name: str) -> bytes:
    key = _member_keys.get(name)
    if key is None:
        if len(_member_keys) >= 4096:
            _member_keys.clear()  # bounded, whatever the names a producer uses
        key = _member_keys[name] = _encode_string(name).encode() + b":"
    return key


class _PartsSplitter(_Splitter):
    """A :class:`_Splitter` for values given as encoded parts (see :func:`split_parts`).

    Methods, not nested functions of :func:`split_parts`: a recursive nested function is a
    reference cycle that only the garbage collector frees, once per model call."""

    def __init__(
        self,
        store: StoreChunk,
        index: PrefixIndex | None,
        new_prefixes: dict[bytes, bytes] | None,
        memo: FragmentMemo | None,
    ) -> None:
        super().__init__(store, index, new_prefixes)
        self.memo = memo

    def fragment(self, text: bytes, min_size: int) -> bytes:
        """The tree text of an encoded value that is not a list of parts."""
        if len(text) < min_size:
            return text  # nothing in it can be a chunk (no prefix sharing here)
        # Split on its own, without prefix sharing, so that its tree depends on its bytes
        # alone and can be remembered.
        memo = self.memo
        found = memo.get((text, min_size)) if memo is not None else None
        if found is None:
            stored: list[tuple[bytes, bytes]] = []
            alone = _Splitter(lambda key, data: stored.append((key, data)), None, None)
            found = (alone.encode(json.loads(text), min_size)[0], stored)
            if memo is not None:
                memo.put((text, min_size), *found)
        tree_text, stored = found
        for key, data in stored:
            self.store(key, data)
        return tree_text

    def item_text(self, text: bytes) -> bytes:
        """The tree text of a list item given as its encoding."""
        if len(text) < VALUE_MIN:
            # Nothing inside is large enough to be a chunk of its own (short nested lists
            # are not chained): its tree text is its own, no need to parse it to know.
            return self.chunk(text) if len(text) >= CHUNK_ELEMENT_MIN else text
        return self.encode(json.loads(text), CHUNK_ELEMENT_MIN)[0]

    def texts_from(self, items: Sequence[bytes], k: int) -> list[bytes]:
        item_text = self.item_text
        return [item_text(t) for t in items[k:]]

    def member_text(self, value: Member, min_size: int) -> bytes:
        """The tree text of a member (an encoded value, object or list of parts)."""
        if isinstance(value, bytes):
            return self.fragment(value, min_size)
        if isinstance(value, EncodedObject):
            texts: list[bytes] = []
            for name, member in value.members:
                texts.append(_member_key(name) + self.member_text(member, VALUE_MIN))
            text = b"{" + b",".join(texts) + b"}"
        else:
            items = value.items
            if len(items) >= CHAIN_MIN and self.index is not None:
                return self.chained(len(items), value.chain, lambda k: self.texts_from(items, k))
            text = self.blocked(self.texts_from(items, 0))
        return self.chunk(text) if len(text) >= min_size else text


def join(tree_envelope: bytes, load: LoadChunk, memo: dict[bytes, Any] | None = None) -> bytes:
    """Reassemble a tree envelope into a ``json/1`` payload.

    Args:
        tree_envelope: The stored tree.
        load: Reads a chunk by its digest.
        memo: Chunks already expanded (digest -> value), filled in as chunks are expanded:
            pass the same dict to the joins of one history's payloads, and each model
            input reuses the conversation the previous one expanded instead of reading
            every chunk again (reading them all is quadratic in the number of turns).
            The values in it are shared, never modified.
    """
    cache: dict[bytes, Any] = {} if memo is None else memo

    def expand(node: Any) -> Any:
        if isinstance(node, dict):
            mapping = cast(dict[str, Any], node)
            if len(mapping) == 1 and REF in mapping:
                key = _key(str(mapping[REF]))
                found = cache.get(key, cache)
                if found is cache:
                    found = cache[key] = expand(json.loads(load(key)))
                return found
            if len(mapping) == 2 and TAIL in mapping and (SEQ in mapping or PREFIX in mapping):
                return expand_list(mapping)
            return {k: expand(v) for k, v in mapping.items()}
        if isinstance(node, list):
            return [expand(v) for v in cast(list[Any], node)]
        return node

    def expand_list(mapping: dict[str, Any]) -> list[Any]:
        # Prefix chains can be as long as a conversation: walk them without recursion.
        tails: list[list[Any]] = []
        base: list[Any] | None = None
        while PREFIX in mapping:
            tails.append(cast(list[Any], mapping[TAIL]))
            key = _key(str(mapping[PREFIX][REF]))
            if key in cache:  # the list it extends, already expanded
                base = cast(list[Any], cache[key])
                break
            mapping = json.loads(load(key))
            if isinstance(mapping, list):
                break
        out: list[Any] = []
        if base is not None:
            out.extend(base)
        elif isinstance(mapping, list):
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
