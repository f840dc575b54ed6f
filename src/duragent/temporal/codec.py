"""Linear history on Temporal: a payload codec that stores large payloads as chunk trees.

Temporal journals every payload whole. An agent's model call takes the whole conversation
so far as its input, so an agent's history grows with the square of its turns (and meets
Temporal's 50 MB history limit). :class:`ChunkTreeCodec` is a ``temporalio`` payload codec
that stores each large JSON payload as Duragent's content-addressed chunk tree
(:mod:`duragent.store.chunks`, the format the embedded store uses): its chunks go to a
:class:`ChunkStore` the user configures, and Temporal's history keeps only the tree, a few
references per message. A conversation that grows by one message stores one new chunk and
a reference to the list it extends, so history grows linearly.

Use it on every client and worker of a namespace (the same chunk store, reachable by all)::

    codec = ChunkTreeCodec("chunks.db")   # a local SQLite file (SQLiteChunkStore)
    client = await Client.connect("temporal://127.0.0.1:7233/default",
                                  backend_options={"payload_codec": codec})

Persisted format (versioned; frozen samples in ``tests/fixtures/formats``): an encoded
payload has metadata ``encoding: binary/duragent-chunk-tree``, ``duragent-codec: 1`` and the
original ``encoding`` under ``duragent-encoding``; other metadata entries (e.g. the usage
ledger's) are kept as they are. Its data is a ``json-tree/1`` envelope. The store holds
each chunk under its 16-byte BLAKE2b digest. Payloads smaller than ``min_bytes``, and those
with nothing to share, are left untouched (readable in the Temporal UI as before).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Protocol, runtime_checkable

from temporalio.api.common.v1 import Payload as TemporalPayload
from temporalio.converter import PayloadCodec

from ..errors import SerializationError
from ..store import chunks

__all__ = [
    "CODEC_ENCODING",
    "CODEC_VERSION",
    "ChunkStore",
    "ChunkTreeCodec",
    "SQLiteChunkStore",
    "decode_message_payloads",
]

CODEC_ENCODING: Final = b"binary/duragent-chunk-tree"
"""The ``encoding`` of a payload this codec replaced by a chunk tree."""
CODEC_VERSION: Final = b"1"
"""Version of the encoded payload format (metadata ``duragent-codec``)."""
_VERSION_KEY: Final = "duragent-codec"
_ORIGINAL_ENCODING_KEY: Final = "duragent-encoding"
DEFAULT_MIN_BYTES: Final = 1024


@runtime_checkable
class ChunkStore(Protocol):
    """Where chunks live: every worker and client of the namespace must reach the same
    one. Chunks are immutable and named by their content, so ``put`` may be repeated and
    any storage that keeps bytes by key works (a shared file, a database, an object store).
    Both methods are called from worker threads, never on the event loop."""

    def put(self, chunks: Mapping[bytes, bytes]) -> None:
        """Store ``chunks`` (key -> data) durably before returning."""
        ...

    def get(self, keys: Sequence[bytes]) -> dict[bytes, bytes]:
        """The data of those ``keys`` that are stored."""
        ...


class SQLiteChunkStore:
    """Chunks in a local SQLite file (WAL; several processes of one machine may share it).

    Args:
        path: The database file (created if missing).
    """

    _SCHEMA: Final = (
        "CREATE TABLE IF NOT EXISTS duragent_chunks (key BLOB PRIMARY KEY, data BLOB NOT NULL)"
        " WITHOUT ROWID"
    )

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._connect()  # fail here, not on the first payload, when the file is unusable

    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(self._SCHEMA)
            except sqlite3.Error as err:
                raise SerializationError(f"cannot open the chunk store {self.path}: {err}") from err
            self._local.conn = conn
        return conn

    def put(self, chunks: Mapping[bytes, bytes]) -> None:
        conn = self._connect()
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT OR IGNORE INTO duragent_chunks (key, data) VALUES (?, ?)", chunks.items()
            )

    def get(self, keys: Sequence[bytes]) -> dict[bytes, bytes]:
        conn = self._connect()
        found: dict[bytes, bytes] = {}
        for start in range(0, len(keys), 500):
            batch = list(keys[start : start + 500])
            marks = ",".join("?" * len(batch))
            rows = conn.execute(
                f"SELECT key, data FROM duragent_chunks WHERE key IN ({marks})", batch
            )
            found.update((bytes(k), bytes(d)) for k, d in rows)
        return found

    def size(self) -> int:
        """Bytes of chunk data stored (keys included)."""
        row = (
            self._connect()
            .execute("SELECT coalesce(sum(length(key) + length(data)), 0) FROM duragent_chunks")
            .fetchone()
        )
        return int(row[0])

    def __repr__(self) -> str:
        return f"SQLiteChunkStore({str(self.path)!r})"


class _LRU:
    def __init__(self, max_entries: int) -> None:
        self._items: OrderedDict[bytes, bytes] = OrderedDict()
        self._max = max_entries

    def get(self, key: bytes) -> bytes | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def add(self, key: bytes, value: bytes) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._max:
            self._items.popitem(last=False)


class ChunkTreeCodec(PayloadCodec):
    """A ``temporalio`` payload codec that stores large JSON payloads as chunk trees in a
    :class:`ChunkStore` (see the module docstring).

    Args:
        store: The chunk store, or the path of a local SQLite file (:class:`SQLiteChunkStore`).
        min_bytes: Payloads smaller than this stay as they are.
        cache_chunks: Chunks kept in memory for decoding (recent conversations share most).
    """

    def __init__(
        self,
        store: ChunkStore | str | os.PathLike[str] = "duragent-chunks.db",
        *,
        min_bytes: int = DEFAULT_MIN_BYTES,
        cache_chunks: int = 50_000,
    ) -> None:
        self.store: ChunkStore = store if isinstance(store, ChunkStore) else SQLiteChunkStore(store)
        self.min_bytes = min_bytes
        self._prefixes = chunks.PrefixIndex()
        self._cache = _LRU(cache_chunks)
        self._stored = _LRU(cache_chunks)  # keys known to be in the store
        self._lock = threading.Lock()

    # -- encoding -------------------------------------------------------------------------

    async def encode(self, payloads: Sequence[TemporalPayload]) -> list[TemporalPayload]:
        if not any(self._worth_trying(p) for p in payloads):
            return list(payloads)
        return await asyncio.to_thread(self.encode_sync, payloads)

    def _worth_trying(self, payload: TemporalPayload) -> bool:
        return (
            len(payload.data) >= self.min_bytes
            and payload.metadata.get("encoding") == b"json/plain"
        )

    def encode_sync(self, payloads: Iterable[TemporalPayload]) -> list[TemporalPayload]:
        """:meth:`encode`, blocking (chunks are stored before it returns)."""
        return [self._encode_one(p) if self._worth_trying(p) else p for p in payloads]

    def _encode_one(self, payload: TemporalPayload) -> TemporalPayload:
        new: dict[bytes, bytes] = {}
        new_prefixes: dict[bytes, bytes] = {}
        with self._lock:  # the prefix index is shared
            tree = chunks.split(payload.data, new.__setitem__, self._prefixes, new_prefixes)
            if tree is None or len(tree) >= len(payload.data):
                return payload
            unknown = {k: v for k, v in new.items() if self._stored.get(k) is None}
            if unknown:
                self.store.put(unknown)
            for key, data in new.items():
                self._stored.add(key, b"")
                self._cache.add(key, data)
            self._prefixes.add(new_prefixes)  # only once its chunks are stored
        out = TemporalPayload(data=tree)
        for key, value in payload.metadata.items():
            out.metadata[key] = value
        out.metadata["encoding"] = CODEC_ENCODING
        out.metadata[_VERSION_KEY] = CODEC_VERSION
        out.metadata[_ORIGINAL_ENCODING_KEY] = payload.metadata["encoding"]
        return out

    # -- decoding -------------------------------------------------------------------------

    async def decode(self, payloads: Sequence[TemporalPayload]) -> list[TemporalPayload]:
        if not any(p.metadata.get("encoding") == CODEC_ENCODING for p in payloads):
            return list(payloads)
        return await asyncio.to_thread(self.decode_sync, payloads)

    def decode_sync(self, payloads: Iterable[TemporalPayload]) -> list[TemporalPayload]:
        """:meth:`decode`, blocking."""
        return [
            self._decode_one(p) if p.metadata.get("encoding") == CODEC_ENCODING else p
            for p in payloads
        ]

    def _decode_one(self, payload: TemporalPayload) -> TemporalPayload:
        version = payload.metadata.get(_VERSION_KEY, b"")
        if version != CODEC_VERSION:
            raise SerializationError(
                f"a chunk-tree payload of codec version {version.decode(errors='replace')!r} "
                f"cannot be read by this Duragent (it reads version {CODEC_VERSION.decode()}); "
                "upgrade Duragent"
            )
        if not payload.data.startswith(chunks.TREE_HEADER):
            raise SerializationError(
                "a chunk-tree payload without a json-tree/1 envelope cannot be read"
            )
        body = chunks.join(payload.data, self._load)
        out = TemporalPayload(data=body[len(chunks.JSON_HEADER) :])
        for key, value in payload.metadata.items():
            if key not in (_VERSION_KEY, _ORIGINAL_ENCODING_KEY):
                out.metadata[key] = value
        out.metadata["encoding"] = payload.metadata.get(_ORIGINAL_ENCODING_KEY, b"json/plain")
        return out

    def _load(self, key: bytes) -> bytes:
        data = self._cache.get(key)
        if data is None:
            data = self.store.get([key]).get(key)
            if data is None:
                raise SerializationError(
                    f"chunk {key.hex()} is missing from the chunk store {self.store!r}: every "
                    "worker and client must use the chunk store the payload was written to"
                )
            self._cache.add(key, data)
        return data


async def decode_message_payloads(message: Any, codec: PayloadCodec | None) -> None:
    """Decode, in place, every payload inside a protobuf message (a history event, a
    describe response) that ``codec`` encoded: Duragent reads those from Temporal's API
    itself, past temporalio's data converter."""
    if codec is None:
        return
    found: list[TemporalPayload] = []
    _collect(message, found)
    if not found:
        return
    decoded = await codec.decode(found)
    for old, new in zip(found, decoded, strict=True):
        if new is not old:
            old.CopyFrom(new)


def _collect(message: Any, out: list[TemporalPayload]) -> None:
    if isinstance(message, TemporalPayload):
        if message.metadata.get("encoding") == CODEC_ENCODING:
            out.append(message)
        return
    for field, value in message.ListFields():
        if field.type != field.TYPE_MESSAGE:
            continue
        if field.message_type.GetOptions().map_entry:
            for item in value.values():
                if hasattr(item, "ListFields"):
                    _collect(item, out)
        elif hasattr(value, "ListFields"):  # a single message
            _collect(value, out)
        else:  # a repeated message field
            for item in value:
                _collect(item, out)
