"""Is the database file at its path still the one this process opened?

SQLite keeps its file descriptors: when the file is deleted, moved away, or replaced by
another file (``mv backup.db store.db``, a restore, a cleanup script), a connection in WAL
mode goes on reading and committing to the old file, which no other process can see any
more, without an error. The store compares the device and inode of the path (and of its
``-wal`` log, whose loss would hide every commit not yet checkpointed) with those it
opened, and stops writing once they differ.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass


def _identity(path: str) -> tuple[int, int] | None:
    st = os.stat(path)
    return (st.st_dev, st.st_ino)


@dataclass(frozen=True, slots=True)
class FileIdentity:
    """Device and inode of a database file and of its write-ahead log, as opened."""

    path: str
    db: tuple[int, int]
    wal: tuple[int, int] | None

    @classmethod
    def of(cls, path: str) -> FileIdentity | None:
        """The identity of ``path`` now (None for an in-memory database)."""
        if path == ":memory:" or path.startswith("file:"):
            return None
        db = _identity(path)
        if db is None:
            return None
        try:
            wal = _identity(path + "-wal")
        except FileNotFoundError:
            wal = None  # created with the first write; nothing to lose before that
        return cls(path, db, wal)

    def changed(self) -> str | None:
        """What happened to the file since it was opened, or None when it is the same
        (also when the file system cannot tell: an error other than "no such file")."""
        for name, expected, what in (
            (self.path, self.db, "the database file"),
            (self.path + "-wal", self.wal, "its write-ahead log"),
        ):
            if expected is None:
                continue
            try:
                now = _identity(name)
            except OSError as err:
                if err.errno in (errno.ENOENT, errno.ENOTDIR):
                    return f"{what} {name} was deleted or moved away"
                return None
            if now != expected:
                return f"{what} {name} was replaced by another file"
        return None
