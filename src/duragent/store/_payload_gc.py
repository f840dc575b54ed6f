"""Reclaiming the payloads no run refers to any more (after runs were pruned).

Payloads are content-addressed and shared: between runs (a fork refers to its source's,
identical inputs are one row) and within a conversation (a model request refers to the
chunks of the one before). Removing a run therefore removes none of them; this does, in
three steps, without stopping writers for longer than a short transaction:

1. **Start**: one write transaction bumps the *payload epoch* and raises the *collecting*
   flag (both in the database header's ``user_version``: epoch * 2 + flag). Every write
   transaction reads it as it begins: a connection that sees a new epoch forgets which
   payloads it knew exist (its digest cache and prefix index; encodings made ahead and
   payloads read before are written again), so from now on it stores again every payload
   it refers to (``INSERT OR IGNORE``). While the flag is up, each payload reference a
   writer records is also listed in ``payload_rescued``, and a payload read from the store
   is written again from its bytes, never by its reference alone (it may be one the sweep
   already removed: then its bytes cannot be read, and the write fails instead of
   referring to nothing).
2. **Mark**, in a read snapshot taken after the start (writers go on): every payload an
   event refers to, and every chunk reachable from it.
3. **Sweep**, :data:`SWEEP_STEP` rows per write transaction: the payloads the snapshot held and
   did not mark are removed, except those reachable from a rescued reference (read again in
   each sweep transaction, so a payload a writer came to use after the snapshot stays). A
   payload inserted after the snapshot was never a candidate.

Then the flag goes down, in a new epoch: what a connection read or learnt while the
collection ran is forgotten too. A collection that stopped half-way (its process died) leaves the
flag up: writers then keep listing rescued references, which costs a statement per payload,
until the next collection (``duragent prune``, or a worker with ``run_retention``) takes
over: one that started more than :data:`STALE_AFTER_MS` ago counts as abandoned.

A collection does not start while a worker of an older version (registered before the file
was migrated, so it never reads the epoch) heartbeats. Processes that only hold a client of
an older version are not registered anywhere: restart them before the first collection.

References are found by their JSON shape (``{"h": hex}`` and ``{"t": hex}`` in event
attributes, ``{"\\u0000r": base64}`` in chunk trees, see :mod:`.chunks`). Text that merely
looks like one only keeps a payload that could have gone: never the other way round.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import dataclasses
import json
import re
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from typing import Final

from ..errors import StoreError
from ._errors import map_error

STALE_AFTER_MS: Final = 60 * 60 * 1000
"""A collection that started this long ago and has not finished is taken over."""
SWEEP_STEP: Final = 250
"""Payloads removed per write transaction (about as long as a removal step of 200 runs)."""
_STARTED_KEY: Final = "payload_gc_started"
_LIVE_WORKER_MS: Final = 10 * 60_000
"""A worker that heartbeat this recently may be running (workers heartbeat every 10 s; one
whose loop is stuck for longer than this is missed)."""
_READ_AT_ONCE: Final = 2_000
"""Rows the mark reads per fetch (and between two looks at whether to stop)."""

_EVENT_REF: Final = re.compile(r'"([ht])"\s*:\s*"([0-9a-f]{32})"')
"""A payload reference in an event's attributes: ``{"h": hex}`` (bytes) or ``{"t": hex}``
(a chunk tree)."""
_CHUNK_REF: Final = re.compile(rb'"\\u0000r"\s*:\s*"([A-Za-z0-9_-]{22})"')
"""A chunk reference inside a chunk tree or chunk (16 bytes, base64url unpadded)."""
_CHUNK_MARK: Final = b'"\\u0000r"'
_URLSAFE: Final = bytes.maketrans(b"-_", b"+/")


@dataclass(frozen=True, slots=True)
class PayloadReport:
    """What :func:`collect_payloads` did."""

    removed: int
    """Payload rows removed."""
    removed_bytes: int
    """Their bytes (the file keeps its size: SQLite reuses the pages; ``VACUUM`` shrinks it)."""
    kept: int
    """Payloads found in use (what the events and the writers meanwhile refer to, directly
    or through chunk trees; text that only looks like a reference counts too)."""
    longest_write_ms: float = 0.0
    """The longest it held the write lock (one transaction), in ms of wall time."""
    skipped: str = ""
    """Why nothing was done (another collection runs), or empty."""


def event_refs(attrs: str) -> Iterable[tuple[bool, bytes]]:
    """The payloads an event's attributes refer to: (is a chunk tree, digest)."""
    for kind, key in _EVENT_REF.findall(attrs):
        yield kind == "t", bytes.fromhex(key)


def chunk_refs(data: bytes) -> Iterable[bytes]:
    """The chunks a chunk tree (or chunk) refers to."""
    for ref in _CHUNK_REF.findall(data):
        # base64.urlsafe_b64decode, without its checks (a third of a collection's time)
        yield binascii.a2b_base64(ref.translate(_URLSAFE) + b"==")


def collect_payloads(
    path: str,
    now: int,
    *,
    busy_timeout_ms: int = 10_000,
    after_mark: Callable[[], None] | None = None,
    stop: threading.Event | None = None,
) -> PayloadReport:
    """Remove the payloads of the database at ``path`` that no event refers to, directly or
    through a chunk tree. Uses a connection of its own (the mark is one long read, which
    must not hold a store's lock). ``now``: ms since the epoch. ``after_mark``: called
    between the mark and the sweep (for tests). ``stop``: once set, the collection ends at
    the next step (what it removed stays removed; the next one finds the rest).

    Raises:
        StoreError: The database cannot be read or written (nothing half-done is lost: a
            collection that stops is taken over by the next).
    """
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout_ms / 1000)
    except sqlite3.Error as err:
        raise map_error(err, path) from err
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        return _Collection(conn, now, stop or threading.Event()).run(after_mark)
    except sqlite3.Error as err:
        raise map_error(err, path) from err
    finally:
        conn.close()


class _Collection:
    def __init__(self, conn: sqlite3.Connection, now: int, stop: threading.Event) -> None:
        self.conn = conn
        self.now = now
        self.stop = stop
        self.marked: set[bytes] = set()
        self.version = -1
        """``user_version`` while this collection runs (odd)."""
        self.longest_write_ms = 0.0

    def run(self, after_mark: Callable[[], None] | None) -> PayloadReport:
        skipped = self._start()
        if skipped:
            return PayloadReport(0, 0, 0, skipped=skipped)
        try:
            candidates = self._mark()
            if after_mark is not None:
                after_mark()
            removed, removed_bytes = self._sweep(candidates)
        finally:
            self._finish()
        return PayloadReport(removed, removed_bytes, len(self.marked), self.longest_write_ms)

    @contextlib.contextmanager
    def _writing(self) -> Generator[sqlite3.Connection]:
        """A write transaction (committed unless the block rolled it back), timed."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        began = time.perf_counter()
        try:
            yield conn
            if conn.in_transaction:
                conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            held = (time.perf_counter() - began) * 1000
            self.longest_write_ms = max(self.longest_write_ms, held)

    def _start(self) -> str:
        """A new epoch, collecting; or why not (another collection runs)."""
        with self._writing() as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (_STARTED_KEY,)).fetchone()
            started = int(row[0]) if row is not None else 0
            if version & 1 and self.now - started < STALE_AFTER_MS:
                conn.execute("ROLLBACK")
                return "another payload collection is running"
            older = conn.execute(
                "SELECT host, pid FROM workers WHERE payload_epochs = 0 AND heartbeat_at > ?",
                (self.now - _LIVE_WORKER_MS,),
            ).fetchall()
            if older:
                conn.execute("ROLLBACK")
                found = ", ".join(f"pid {pid} on {host}" for host, pid in older)
                return (
                    f"workers of an older Duragent use this file ({found}): they may refer "
                    "to payloads a collection removes; restart them with this version first"
                )
            self.version = ((version >> 1) + 1) * 2 + 1
            conn.execute(f"PRAGMA user_version = {self.version}")
            conn.execute("DELETE FROM payload_rescued")
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                (_STARTED_KEY, str(self.now)),
            )
        return ""

    def _mark(self) -> list[bytes]:
        """In one read snapshot: mark what events reach; the payloads not marked. One pass
        over the events, one over the payloads (faster than looking each chunk up)."""
        conn = self.conn
        conn.execute("BEGIN")
        try:
            walk: list[bytes] = []
            marked = self.marked
            events = conn.execute("SELECT attrs FROM events")
            while rows := events.fetchmany(_READ_AT_ONCE):
                if self.stop.is_set():
                    return []
                # One search over many events: the per-row Python work was most of the mark.
                # Every reference is walked, a plain one ({"h": ...}) too: the same bytes may
                # be a chunk of some tree, whose children must then be marked as well.
                for _, key in event_refs("\n".join([r[0] for r in rows])):
                    if key not in marked:
                        marked.add(key)
                        walk.append(key)
            every: list[bytes] = [d for (d,) in conn.execute("SELECT digest FROM payloads")]
            if self.stop.is_set():
                return []
            # Only the payloads that hold chunk references come to Python (trees and their
            # blocks, not the large documents and texts).
            children: dict[bytes, list[bytes]] = {}
            nodes = conn.execute(
                "SELECT digest, data FROM payloads WHERE instr(data, ?) > 0", (_CHUNK_MARK,)
            )
            while rows := nodes.fetchmany(_READ_AT_ONCE):
                if self.stop.is_set():
                    return []
                for digest, data in rows:
                    children[digest] = list(chunk_refs(data))
        finally:
            conn.execute("COMMIT")
        while walk:
            for child in children.get(walk.pop(), ()):
                if child not in marked:
                    marked.add(child)
                    walk.append(child)
        return [key for key in every if key not in marked]

    def _reach(self, keys: list[bytes]) -> None:
        """Mark every chunk reachable from ``keys`` (marked already)."""
        conn, marked = self.conn, self.marked
        while keys:
            row = conn.execute("SELECT data FROM payloads WHERE digest = ?", (keys.pop(),))
            found = row.fetchone()
            if found is None:
                continue
            for child in chunk_refs(bytes(found[0])):
                if child not in marked:
                    marked.add(child)
                    keys.append(child)

    def _sweep(self, candidates: list[bytes]) -> tuple[int, int]:
        removed = removed_bytes = 0
        for start in range(0, len(candidates), SWEEP_STEP):
            if self.stop.is_set():
                break
            with self._writing() as conn:
                if int(conn.execute("PRAGMA user_version").fetchone()[0]) != self.version:
                    conn.execute("ROLLBACK")
                    break  # taken over (this one was thought abandoned): it goes on
                rescued = [bytes(r[0]) for r in conn.execute("SELECT digest FROM payload_rescued")]
                conn.execute("DELETE FROM payload_rescued")
                fresh = [key for key in rescued if key not in self.marked]
                self.marked.update(fresh)
                self._reach(fresh)
                batch = [k for k in candidates[start : start + SWEEP_STEP] if k not in self.marked]
                if batch:
                    marks = ",".join("?" * len(batch))
                    (size,) = conn.execute(
                        f"SELECT coalesce(sum(length(data)), 0) FROM payloads "
                        f"WHERE digest IN ({marks})",
                        batch,
                    ).fetchone()
                    removed_bytes += int(size)
                    removed += conn.execute(
                        f"DELETE FROM payloads WHERE digest IN ({marks})", batch
                    ).rowcount
        return removed, removed_bytes

    def _finish(self) -> None:
        """Lower the flag, in a new epoch again (unless another collection took over): what
        a connection read while this one ran may be what it removed."""
        with self._writing() as conn:
            if int(conn.execute("PRAGMA user_version").fetchone()[0]) == self.version:
                conn.execute(f"PRAGMA user_version = {self.version + 1}")
                conn.execute("DELETE FROM payload_rescued")
                conn.execute("DELETE FROM meta WHERE key = ?", (_STARTED_KEY,))


async def collect_in_subprocess(
    path: str, now: int, *, busy_timeout_ms: int, stop: asyncio.Event
) -> PayloadReport:
    """:func:`collect_payloads` in a child process (a worker's: its mark is Python work
    that, in a thread, would take the interpreter from the worker's loop half the time).
    Setting ``stop`` asks the child to end at its next step.

    Raises:
        StoreError: The collection failed (its message says why).
    """
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        __name__,
        path,
        str(now),
        str(busy_timeout_ms),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    done = asyncio.ensure_future(child.communicate())
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({done, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not done.done():
            child.terminate()  # it stops at its next step and reports what it did
        out, err = await done
    finally:
        stopping.cancel()
        if child.returncode is None:
            child.kill()
            await child.wait()
    try:
        found = json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise StoreError(
            f"the payload collection of {path} ended with status {child.returncode}: "
            f"{err.decode(errors='replace').strip()[-500:]}"
        ) from None
    if "error" in found:
        raise StoreError(str(found["error"]))
    return PayloadReport(**found)


def main(argv: list[str] | None = None) -> int:
    """``python -m duragent.store._payload_gc PATH NOW_MS BUSY_TIMEOUT_MS``: collect, print
    the report (or the error) as a JSON line; SIGTERM stops it at its next step."""
    path, now, timeout = (argv if argv is not None else sys.argv[1:])[:3]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signal, _frame: stop.set())
    try:
        report = collect_payloads(path, int(now), busy_timeout_ms=int(timeout), stop=stop)
    except StoreError as err:
        print(json.dumps({"error": str(err)}))
        return 1
    print(json.dumps(dataclasses.asdict(report)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
