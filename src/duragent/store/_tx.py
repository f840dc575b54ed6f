"""One write transaction: the low-level operations every state change is built from.

A :class:`Tx` wraps the open SQLite connection inside ``BEGIN IMMEDIATE ... COMMIT`` and
collects what must happen after commit (wake-up topics, payload digests now known to be
stored).

Payloads up to ``INLINE_PAYLOAD_BYTES`` are kept inline in the event; larger ones are
stored once in the ``payloads`` table under their BLAKE2b digest and referenced, so the
same content (the same conversation message, the same document) is never stored twice.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final, cast

from .._engine import events as ev
from .._json_parts import PartsPayload
from ..errors import StoreCorruptError, StoreError
from ..serde import Payload
from . import _stream_rows, chunks

INLINE_PAYLOAD_BYTES: Final = 256
WORKFLOW_KIND: Final = 0
ACTIVITY_KIND: Final = 1
DEFERRED_TASK_ID: Final = 0
"""The id of a workflow task claimed but not inserted yet (see :meth:`Tx.ensure_workflow_task`);
AUTOINCREMENT gives real ones from 1."""
HISTORY_TOPIC: Final = "hist:"
"""Wake-up topic prefix (+ run id): the run has a new event or a failed attempt."""
RUNS_TOPIC: Final = "runs"
"""Wake-up topic: some run has a new event or a failed attempt (live run lists)."""

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_dumps = _encoder.encode


def _fields_encoder() -> Callable[[Any], str]:
    """:func:`dumps` for the attributes of events the engine encoded (every recorded
    event's): the encoder ``JSONEncoder.encode`` builds on each call is built once here,
    the same bytes for a fraction of the cost. Without its check for circular references,
    which such a value (the engine's lists and dicts of plain values) never has."""
    make: Any = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator
        return _dumps
    encode = make(
        None, _encoder.default, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )
    return lambda value: "".join(encode(value, 0))


_dumps_fields: Final = _fields_encoder()


@dataclass(frozen=True, slots=True)
class DeferredClaim:
    """A workflow task created claimed, whose row is inserted only if it is still needed
    when its transaction commits (see :meth:`Tx.ensure_workflow_task`)."""

    run_id: str
    task_queue: str
    workflow_type: str
    owner: str
    created_at: int
    lease_expires_at: int


@dataclass(slots=True)
class RunRow:
    """The columns of ``runs`` that state changes need."""

    run_id: str
    workflow_id: str
    workflow_type: str
    task_queue: str
    status: str
    last_event_id: int
    last_input_event_id: int
    processed_through: int
    first_run_id: str
    parent_workflow_id: str | None
    parent_run_id: str | None
    parent_seq: int | None
    parent_close_policy: str | None
    history_bytes: int
    pending_updates: int = 0
    """Update requests waiting for validation (saves a query per task when none are)."""
    pending_queries: int = 0
    """Queries waiting for this run's pending workflow task (see _messages.claim_query)."""
    stream: int = 0
    """1 when the run streams: the events subscribers show get stream rows (see
    _stream_rows.steps)."""

    def values(self) -> tuple[Any, ...]:
        """The row's values, in the order of :data:`RUN_COLUMNS`."""
        return (
            self.run_id,
            self.workflow_id,
            self.workflow_type,
            self.task_queue,
            self.status,
            self.last_event_id,
            self.last_input_event_id,
            self.processed_through,
            self.first_run_id,
            self.parent_workflow_id,
            self.parent_run_id,
            self.parent_seq,
            self.parent_close_policy,
            self.history_bytes,
            self.pending_updates,
            self.pending_queries,
            self.stream,
        )


RUN_COLUMNS: Final = (
    "run_id, workflow_id, workflow_type, task_queue, status, last_event_id, "
    "last_input_event_id, processed_through, first_run_id, parent_workflow_id, "
    "parent_run_id, parent_seq, parent_close_policy, history_bytes, pending_updates, "
    "pending_queries, stream"
)


def run_row(values: Any) -> RunRow:
    return RunRow(*values)


def dumps(value: Any) -> str:
    """Compact JSON text."""
    return _dumps(value)


class PayloadReader:
    """Turns payload references in events into payloads; referenced (large) payloads are
    lazy and fetched on first use, under the store's lock."""

    def __init__(self, conn: sqlite3.Connection, lock: threading.RLock) -> None:
        self._conn = conn
        self._lock = lock
        self.epoch = 0
        """The payload epoch its connection last saw (see ``_payload_gc``): payloads it
        hands out carry it."""

    def fetch(self, key: bytes) -> bytes:
        with self._lock:
            try:
                row = self._conn.execute(
                    "SELECT data FROM payloads WHERE digest = ?", (key,)
                ).fetchone()
            except sqlite3.Error as err:
                raise StoreError(f"cannot read payload {key.hex()}: {err}") from err
        if row is None:
            raise StoreCorruptError(
                f"history references payload {key.hex()}, which is missing from the database"
            )
        return bytes(row[0])

    def payload(self, value: Any, memo: dict[bytes, Any] | None = None) -> Payload:
        """The payload an event refers to (``memo``: chunks expanded by the other payloads
        of the same read, see :func:`chunks.join`)."""
        if isinstance(value, str):
            return Payload(value.encode())
        if "t" in value:
            key = bytes.fromhex(value["t"])
            return StoredPayload(
                value, self, load=lambda: chunks.join(self.fetch(key), self.fetch, memo)
            )
        key = bytes.fromhex(value["h"])
        return StoredPayload(value, self, load=lambda: self.fetch(key))


class StoredPayload(Payload):
    """A payload read from this store by reference: written again (a fork's recorded
    results, say) in the same payload epoch, it is the same reference, not its bytes split
    and hashed again (after a reclamation, its bytes are stored again)."""

    __slots__ = ("epoch", "reader", "ref")

    def __init__(self, ref: Any, reader: PayloadReader, *, load: Callable[[], bytes]) -> None:
        super().__init__(load=load)
        self.ref = ref
        self.reader = reader
        self.epoch = reader.epoch


def encode_payload(
    data: bytes,
    store: chunks.StoreChunk,
    index: chunks.PrefixIndex | None,
    new_prefixes: dict[bytes, bytes],
) -> Any:
    """What an event keeps for a payload: its text (small), or a reference to its bytes
    or to its chunk tree, whose pieces are handed to ``store(key, data)``."""
    if len(data) <= INLINE_PAYLOAD_BYTES:
        return data.decode()
    if len(data) >= chunks.CHUNK_PAYLOAD_MIN and data.startswith(chunks.JSON_HEADER):
        tree = chunks.split(data[len(chunks.JSON_HEADER) :], store, index, new_prefixes)
        if tree is not None:
            key = chunks.digest(tree)
            store(key, tree)
            return {"t": key.hex()}
    key = chunks.digest(data)
    store(key, data)
    return {"h": key.hex()}


@dataclass(slots=True)
class EncodedPayload:
    """A payload encoded ahead of its transaction (splitting a large one into chunks is
    CPU work, which must not hold the database's write lock)."""

    payload: Payload
    value: Any
    blobs: list[tuple[bytes, bytes]]
    prefixes: dict[bytes, bytes]
    epoch: int
    """The payload epoch it was encoded in (it may refer to lists stored before)."""


def encode_ahead(
    payloads: Iterable[Payload], index: chunks.PrefixIndex | None, epoch: int = 0
) -> dict[int, EncodedPayload]:
    """Encode the large ``payloads`` of one write (keyed by ``id``); small ones stay inline
    and need no work. Each refers only to lists already committed (the index), never to
    another one's new chunks: it must stay whole even if the other is not written."""
    out: dict[int, EncodedPayload] = {}
    for payload in payloads:
        if isinstance(payload, PartsPayload):
            continue  # split part by part in the transaction, against its memo of parts
        if len(payload.data) <= INLINE_PAYLOAD_BYTES or id(payload) in out:
            continue
        blobs: list[tuple[bytes, bytes]] = []
        prefixes: dict[bytes, bytes] = {}

        def store(key: bytes, data: bytes, blobs: list[tuple[bytes, bytes]] = blobs) -> None:
            blobs.append((key, data))

        value = encode_payload(payload.data, store, index, prefixes)
        out[id(payload)] = EncodedPayload(payload, value, blobs, prefixes, epoch)
    return out


_PLAIN_FIELD_TYPES: Final = frozenset(
    {"int", "str", "bool", "float", "int | None", "str | None", "bool | None", "float | None"}
)
_payload_fields: dict[type, tuple[str, ...]] = {}
"""Per dataclass type: its fields that may hold payloads (not declared a plain scalar)."""


def _payload_fields_of(kind: type) -> tuple[str, ...]:
    names = _payload_fields.get(kind)
    if names is None:
        fields: dict[str, Any] = getattr(kind, "__dataclass_fields__", {})
        # Only an optimisation: a payload missed here is encoded in the transaction.
        names = tuple(
            name
            for name, field in fields.items()
            if field.type not in _PLAIN_FIELD_TYPES and field.type not in (int, str, bool, float)
        )
        _payload_fields[kind] = names
    return names


def payloads_in(items: Iterable[Any]) -> Iterator[Payload]:
    """The payloads held by ``items`` (payloads, or dataclasses such as commands whose
    fields hold payloads or tuples of them)."""
    for item in items:
        if isinstance(item, Payload):
            yield item
            continue
        kind: type = type(item)  # pyright: ignore[reportUnknownVariableType]
        for name in _payload_fields_of(kind):
            value = getattr(item, name)
            if isinstance(value, Payload):
                yield value
            elif isinstance(value, tuple):
                for v in cast(tuple[Any, ...], value):
                    if isinstance(v, Payload):
                        yield v


def decode_rows(reader: PayloadReader, rows: Iterable[Any]) -> list[ev.Event]:
    """Events from ``(event_id, type, time, attrs)`` rows."""
    out: list[ev.Event] = []
    # The payloads of one read share what they expanded (a conversation grows by a few
    # messages per model call); the memo lives as long as those events' lazy payloads.
    memo: dict[bytes, Any] = {}

    def payload_in(value: Any) -> Payload:
        return reader.payload(value, memo)

    for event_id, type_name, time, attrs in rows:
        try:
            out.append(ev.decode_event(type_name, event_id, time, json.loads(attrs), payload_in))
        except (ValueError, TypeError, KeyError) as err:
            raise StoreCorruptError(f"history event {event_id} cannot be decoded: {err}") from err
    return out


class Tx:
    """An open write transaction at a given time."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        now: int,
        known_digests: set[bytes],
        reader: PayloadReader,
        prefixes: chunks.PrefixIndex | None = None,
        memo: chunks.FragmentMemo = chunks.FRAGMENTS,
    ) -> None:
        self.c = conn
        self.reader = reader
        self.prefixes = prefixes
        self.memo = memo
        self.new_prefixes: dict[bytes, bytes] = {}
        """Lists stored in this transaction, for the prefix index once committed."""
        self.now = now
        self.topics: set[str] = set()
        self.new_digests: set[bytes] = set()
        self.wrote = False
        """Whether a nested write (see SqliteStore.batch) completed in this transaction."""
        self.claimed: set[tuple[int, int]] = set()
        self.deferred: DeferredClaim | None = None
        """The workflow task claimed with :data:`DEFERRED_TASK_ID`, not inserted yet."""
        self.materialized: dict[str, int] = {}
        """Run id -> the id a deferred claimed task got when it was inserted."""
        self.claimed_new: tuple[int, int] | None = None
        """(task id, lease) of the last workflow task created already claimed."""
        """(task id, lease) of tasks claimed in this transaction."""
        self.closing: set[str] = set()
        """Runs whose close is being recorded in this transaction: they take no more
        input (a workflow that signals itself, then completes, in one task)."""
        self.ahead: dict[int, EncodedPayload] | None = None
        """Payloads of the current write encoded before it began (see encode_ahead)."""
        self.lost: sqlite3.Error | None = None
        """The error that made SQLite roll the whole transaction back (a full disk, an
        I/O error): nothing more may run in it."""
        self._known = known_digests
        self.epoch = reader.epoch
        """The payload epoch (see ``_payload_gc``): caches of an earlier one are void."""
        self.rescue = False
        """A reclamation runs: every payload reference written is listed as in use."""
        self._known_run: tuple[tuple[Any, ...], int] | None = None
        """A run's row as the database holds it, and the connection's count of changed
        rows then (see :meth:`remember_run`)."""

    # -- payloads and events ---------------------------------------------------------------

    def store_blob(self, key: bytes, data: bytes) -> None:
        """Store content-addressed bytes once."""
        if key not in self._known and key not in self.new_digests:
            self.c.execute(
                "INSERT OR IGNORE INTO payloads (digest, data) VALUES (?, ?)", (key, data)
            )
            self.new_digests.add(key)

    def payload_out(self, payload: Payload) -> Any:
        """What an event keeps for ``payload`` (its text, or a reference to its stored
        bytes, which are stored now if need be)."""
        value = self._payload_value(payload)
        if self.rescue and not isinstance(value, str):
            # A reclamation runs, which may not know this payload is in use (see _payload_gc).
            self.c.execute(
                "INSERT OR IGNORE INTO payload_rescued (digest) VALUES (?)",
                (bytes.fromhex(value.get("t") or value["h"]),),
            )
        return value

    def _payload_value(self, payload: Payload) -> Any:
        if (
            isinstance(payload, StoredPayload)
            and payload.reader is self.reader
            and payload.epoch == self.epoch
            and not self.rescue  # a collection runs: its bytes go in again (see _payload_gc)
        ):
            return payload.ref  # already stored here, under this reference
        ready = self.ahead.get(id(payload)) if self.ahead else None
        if ready is not None and ready.payload is payload and ready.epoch == self.epoch:
            # Encoded before the transaction began: only the inserts are left to do.
            for key, data in ready.blobs:
                self.store_blob(key, data)
            self.new_prefixes.update(ready.prefixes)
            return ready.value
        data = payload.data
        if len(data) <= INLINE_PAYLOAD_BYTES:
            return data.decode()
        if len(data) >= chunks.CHUNK_PAYLOAD_MIN and data.startswith(chunks.JSON_HEADER):
            if isinstance(payload, PartsPayload):
                # Built from parts (a conversation that grew): split only what is new.
                tree = chunks.split_parts(
                    payload.members, self.store_blob, self.prefixes, self.new_prefixes, self.memo
                )
            else:
                tree = chunks.split(
                    data[len(chunks.JSON_HEADER) :],
                    self.store_blob,
                    self.prefixes,
                    self.new_prefixes,
                )
            if tree is not None:
                key = chunks.digest(tree)
                self.store_blob(key, tree)
                return {"t": key.hex()}
        key = chunks.digest(data)
        self.store_blob(key, data)
        return {"h": key.hex()}

    def payload_in(self, value: Any) -> Payload:
        return self.reader.payload(value)

    def read_event(self, run_id: str, event_id: int) -> ev.Event:
        row = self.c.execute(
            "SELECT event_id, type, time, attrs FROM events WHERE run_id = ? AND event_id = ?",
            (run_id, event_id),
        ).fetchone()
        if row is None:
            raise StoreCorruptError(f"run {run_id} has no event {event_id}")
        return decode_rows(self.reader, [row])[0]

    def run(self, run_id: str) -> RunRow | None:
        known = self._known_run
        if known is not None and known[0][0] == run_id and known[1] == self.c.total_changes:
            return RunRow(*known[0])  # no row changed since: not read again
        row = self.c.execute(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        return run_row(row) if row is not None else None

    def run_and_task(self, run_id: str) -> tuple[RunRow | None, bool]:
        """The run, and whether its workflow task has a row, in one statement (an
        activity's result reads both: see ``ensure_workflow_task(task_exists=)``)."""
        row = self.c.execute(
            f"SELECT {RUN_COLUMNS}, EXISTS (SELECT 1 FROM tasks WHERE tasks.run_id = runs.run_id "
            "AND kind = 0 AND seq = 0) FROM runs WHERE run_id = ?",
            (run_id,),
        ).fetchone()
        if row is None:
            return None, False
        return RunRow(*row[:-1]), bool(row[-1])

    def remember_run(self, run: RunRow) -> None:
        """``run`` is exactly the row the database holds now: :meth:`run` returns a copy
        of it instead of reading it, as long as no statement changes any row (an activity
        result and the workflow task it triggers, recorded in one transaction, read the
        run once). Forgotten when a savepoint is rolled back."""
        self._known_run = (run.values(), self.c.total_changes)

    def forget_runs(self) -> None:
        """Rows changed without counting as changes (a savepoint rolled back)."""
        self._known_run = None

    def open_run(self, workflow_id: str, run_id: str | None = None) -> RunRow | None:
        """The running run of ``workflow_id`` (optionally a specific run id)."""
        if run_id:
            row = self.c.execute(
                f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ? AND workflow_id = ? "
                "AND status = 'running'",
                (run_id, workflow_id),
            ).fetchone()
        else:
            row = self.c.execute(
                f"SELECT {RUN_COLUMNS} FROM runs WHERE workflow_id = ? AND status = 'running'",
                (workflow_id,),
            ).fetchone()
        return run_row(row) if row is not None else None

    def append(
        self,
        run: RunRow,
        events: Iterable[ev.Event],
        *,
        processed_through: int | None = None,
        counters_later: bool = False,
    ) -> None:
        """Insert events (ids already assigned) and advance the run's counters (and, for a
        workflow task's completion, what it processed, in the same statement).
        ``counters_later``: only in ``run``; the caller writes them (a new run's row,
        inserted after its first event)."""
        rows: list[tuple[str, int, str, int, str]] = []
        size = 0
        earlier_input = last_input = run.last_input_event_id
        appended = tuple(events)
        payload_out = self.payload_out
        for event in appended:
            attrs = _dumps_fields(ev.encode_event_fields(event, payload_out))
            size += len(attrs)
            rows.append((run.run_id, event.event_id, event.TYPE, event.time, attrs))
            if not event.IS_COMMAND:
                last_input = event.event_id
        if not rows:
            return
        self.c.executemany(
            "INSERT INTO events (run_id, event_id, type, time, attrs) VALUES (?, ?, ?, ?, ?)",
            rows,
        )
        self.touched(run.run_id)
        run.last_event_id = rows[-1][1]
        run.last_input_event_id = last_input
        run.history_bytes += size
        if run.stream == _stream_rows.STREAMING:
            _stream_rows.steps(self, run, appended)
        if counters_later:
            return
        if processed_through is None:
            self.c.execute(
                "UPDATE runs SET last_event_id = ?, last_input_event_id = ?, history_bytes = ? "
                "WHERE run_id = ?",
                (run.last_event_id, last_input, run.history_bytes, run.run_id),
            )
            return
        # Accepted updates are input events, but the completing task processes them; input
        # that arrived while its code ran (after what it processed) is still to process.
        run.processed_through = (
            max(processed_through, last_input)
            if earlier_input <= processed_through
            else processed_through
        )
        self.c.execute(
            "UPDATE runs SET last_event_id = ?, last_input_event_id = ?, history_bytes = ?, "
            "processed_through = ?, task_failure = NULL, task_attempts = 0 WHERE run_id = ?",
            (run.last_event_id, last_input, run.history_bytes, run.processed_through, run.run_id),
        )

    def append_input(
        self,
        run: RunRow,
        make: Callable[[int, int], ev.Event],
        *,
        claim_for: str | None = None,
        lease_ms: int = 0,
        defer_claim: bool = False,
        task_exists: bool | None = None,
    ) -> ev.Event | None:
        """Append one input event (``make(event_id, time)``) and make sure a workflow task
        will process it (created already claimed by ``claim_for``, if given and no task
        existed; see :meth:`ensure_workflow_task` for ``defer_claim`` and
        ``task_exists``). Nothing is appended to a run that is closing."""
        if run.run_id in self.closing:
            return None
        event = make(run.last_event_id + 1, self.now)
        self.append(run, [event])
        self.ensure_workflow_task(
            run,
            claim_for=claim_for,
            lease_ms=lease_ms,
            defer=defer_claim,
            task_exists=task_exists,
        )
        return event

    # -- tasks -------------------------------------------------------------------------------

    def pop_claimed_new(self) -> tuple[int, int] | None:
        """The workflow task last created already claimed (and forget it)."""
        found, self.claimed_new = self.claimed_new, None
        return found

    def ensure_workflow_task(
        self,
        run: RunRow,
        *,
        claim_for: str | None = None,
        lease_ms: int = 0,
        defer: bool = False,
        task_exists: bool | None = None,
    ) -> None:
        """Make sure the run has a workflow task. With ``claim_for``, a task created here is
        created claimed by that worker (recorded in :attr:`claimed_new`).

        With ``defer`` too, the claimed task's row is not inserted yet: its id is
        :data:`DEFERRED_TASK_ID` until :meth:`materialize` inserts it, which the workflow
        task's completion in the same transaction usually makes needless (an activity
        result and the workflow task it triggers: the row would be inserted and deleted
        again). Whatever else needs the run's task first inserts it, and so does the
        commit, if it is still deferred then. ``task_exists``: whether the task's row
        existed when the caller read the run in this transaction (see
        :meth:`run_and_task`; saves reading it again), if known.
        """
        inserted = self.materialize(run.run_id)
        if claim_for is not None and defer:
            if inserted is not None:
                task_exists = True
            elif task_exists is None:
                task_exists = (
                    self.c.execute(
                        "SELECT 1 FROM tasks WHERE run_id = ? AND kind = 0 AND seq = 0",
                        (run.run_id,),
                    ).fetchone()
                    is not None
                )
            if task_exists:
                self.topics.add(f"wf:{run.task_queue}")
                return
            self.deferred = DeferredClaim(
                run.run_id,
                run.task_queue,
                run.workflow_type,
                claim_for,
                self.now,
                self.now + lease_ms,
            )
            self.claimed_new = (DEFERRED_TASK_ID, 1)
            self.claimed.add(self.claimed_new)
            return
        if claim_for is None:
            self.c.execute(
                "INSERT INTO tasks (kind, task_queue, type_name, run_id, seq, visible_at) "
                "VALUES (0, ?, ?, ?, 0, ?) ON CONFLICT (run_id, kind, seq) DO NOTHING",
                (run.task_queue, run.workflow_type, run.run_id, self.now),
            )
            self.topics.add(f"wf:{run.task_queue}")
            return
        rows = self.c.execute(
            "INSERT INTO tasks (kind, task_queue, type_name, run_id, seq, visible_at, owner, "
            "lease, lease_expires_at, started_at) VALUES (0, ?, ?, ?, 0, ?, ?, 1, ?, ?) "
            "ON CONFLICT (run_id, kind, seq) DO NOTHING RETURNING task_id",
            (
                run.task_queue,
                run.workflow_type,
                run.run_id,
                self.now,
                claim_for,
                self.now + lease_ms,
                self.now,
            ),
        ).fetchall()
        if rows:
            self.claimed_new = (int(rows[0][0]), 1)
            self.claimed.add(self.claimed_new)
        else:
            self.topics.add(f"wf:{run.task_queue}")

    def materialize(self, run_id: str | None = None) -> int | None:
        """Insert the deferred claimed workflow task, if any (of ``run_id``, if given);
        returns its id."""
        deferred = self.deferred
        if deferred is None or (run_id is not None and deferred.run_id != run_id):
            return None
        self.deferred = None
        # Nothing else inserted the run's task meanwhile: ensure_workflow_task calls this
        # first, and every other statement on it is made by the completion that holds it.
        row = self.c.execute(
            "INSERT INTO tasks (kind, task_queue, type_name, run_id, seq, visible_at, owner, "
            "lease, lease_expires_at, started_at) VALUES (0, ?, ?, ?, 0, ?, ?, 1, ?, ?) "
            "RETURNING task_id",
            (
                deferred.task_queue,
                deferred.workflow_type,
                deferred.run_id,
                deferred.created_at,
                deferred.owner,
                deferred.lease_expires_at,
                deferred.created_at,
            ),
        ).fetchone()
        task_id = int(row[0])
        self.claimed.discard((DEFERRED_TASK_ID, 1))
        self.claimed.add((task_id, 1))
        self.materialized[deferred.run_id] = task_id
        return task_id

    def drop_deferred(self, run_id: str) -> bool:
        """Forget the deferred claimed task of ``run_id`` (its completion deletes it, or the
        run closes): its row is never inserted. Returns whether there was one."""
        if self.deferred is None or self.deferred.run_id != run_id:
            return False
        self.deferred = None
        self.claimed.discard((DEFERRED_TASK_ID, 1))
        return True

    def touched(self, run_id: str) -> None:
        """Wake live views of ``run_id`` and of the runs list once this commits."""
        self.topics.add(f"{HISTORY_TOPIC}{run_id}")
        self.topics.add(RUNS_TOPIC)

    def log_attempt(
        self,
        run_id: str,
        seq: int,
        attempt: int,
        started_at: int | None,
        worker: str | None,
        outcome: str,
        failure: str | None,
    ) -> None:
        """Record a failed, timed-out or interrupted activity attempt (for timelines)."""
        self.c.execute(
            "INSERT OR REPLACE INTO attempts (run_id, seq, attempt, started_at, ended_at, "
            "worker, outcome, failure) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, seq, attempt, started_at, self.now, worker, outcome, failure),
        )
        self.touched(run_id)
