"""WAL checkpoints off the writer's thread.

In WAL mode every commit appends the pages it changed to the ``-wal`` log; a checkpoint
copies them back into the database file (and syncs both files), so that the log can start
over. By default SQLite runs it inline, in the commit that takes the log past 1,000 pages:
that commit then takes milliseconds instead of tens of microseconds, and on a worker it is
the event loop's thread that waits. Measured on the sequential-activity benchmark, those
commits were about half of all the time spent committing.

A worker's connection therefore hands checkpoints to a :class:`Checkpointer`: a thread with
a connection of its own, woken every few hundred commits (about :data:`TARGET_FRAMES`
pages of log), which runs ``PASSIVE``
checkpoints (they never wait for, nor block, readers or the writer; SQLite's
``sqlite3_step`` releases the GIL, so on a second core they run in parallel). The log
starts over only when a write begins with nothing left to copy, which a busy writer never
lets the thread see: so, after each of the thread's rounds, the writer copies the few pages
committed since itself (two short syncs, instead of syncing megabytes), and its next write
starts the log over. The writer's own automatic checkpoint is not turned off but pushed out
to :data:`FALLBACK_PAGES`: if the thread falls behind (a long reader, a full disk), the log
still stops growing there, as it would without a checkpointer. Connections without one
(clients, the CLI) keep SQLite's default. Durability does not change: a commit is durable
once in the log, copied back or not, and a crash at any point of a checkpoint loses
nothing (SQLite syncs the log before copying and the database after, as inline).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from typing import Final

TARGET_FRAMES: Final = 4096
"""Pages (frames) of log between two background checkpoints: about 16 MB. Each round ends
with a short copy on the writer's thread; fewer rounds, fewer of those."""

CHECKPOINT_EVERY: Final = 512
"""Commits between two background checkpoints, at first (a commit of the busiest path, an
activity's result with the workflow task it triggers, writes about 8 pages); then adjusted
after each round to what the commits really wrote, to keep to :data:`TARGET_FRAMES`."""

_EVERY_RANGE: Final = (8, 8192)

PASSES: Final = 2
"""Checkpoints the thread runs in a row when woken."""

FALLBACK_PAGES: Final = 10_000
"""The writer's own automatic checkpoint, while a checkpointer runs (about 40 MB of log)."""

DEFAULT_AUTOCHECKPOINT_PAGES: Final = 1000
"""SQLite's default, restored when the checkpointer stops."""

log = logging.getLogger("duragent.store")


class Checkpointer:
    """A thread that checkpoints one database file's write-ahead log.

    Args:
        path: The database file (already in WAL mode).
        busy_timeout_ms: How long a checkpoint waits for a lock it needs (passive
            checkpoints need few; another process's checkpoint makes this one skip).
    """

    def __init__(self, path: str, *, busy_timeout_ms: int) -> None:
        self.path = path
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            # This connection never writes: it must not checkpoint on its own either.
            self._conn.execute("PRAGMA wal_autocheckpoint = 0")
        except BaseException:
            self._conn.close()
            raise
        self._commits = 0
        self.every = CHECKPOINT_EVERY
        """Commits between two rounds (adjusted by the thread)."""
        self._wake = threading.Event()
        self._stopping = False
        self._done = False
        self.checkpoints = 0
        """Checkpoints run (for tests and benchmarks)."""
        self._thread = threading.Thread(target=self._run, name="duragent-checkpointer", daemon=True)
        self._thread.start()

    def committed(self) -> bool:
        """The writer committed a transaction. Returns True once after each checkpoint of
        the thread: the writer should then copy what was committed since (see
        ``SqliteConnection._after_commit``)."""
        if self._done:
            self._done = False
            return True
        self._commits += 1
        if self._commits >= self.every:
            self._commits = 0
            self._wake.set()
        return False

    def stop(self) -> None:
        """Stop the thread (after the checkpoint it may be running) and close its
        connection."""
        self._stopping = True
        self._wake.set()
        self._thread.join()
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            try:
                # The second pass copies what was committed during the first (which syncs
                # megabytes, so it takes milliseconds): the writer's part is then tiny.
                busy = 0
                for n in range(PASSES):
                    busy, frames, _ = self._conn.execute(
                        "PRAGMA wal_checkpoint(PASSIVE)"
                    ).fetchone()
                    if busy:
                        break
                    if n == 0 and frames > 0:
                        # The log held ``frames`` pages after ``every`` commits (and those
                        # since the last round, if it did not start over).
                        low, high = _EVERY_RANGE
                        self.every = max(low, min(high, self.every * TARGET_FRAMES // frames))
                self.checkpoints += 1
                self._done = not busy
            except sqlite3.Error as err:
                # Another process checkpointing, a full disk, a file gone: the next round
                # (or the writer's own fallback checkpoint) tries again.
                log.debug("background checkpoint of %s failed: %s", self.path, err)
