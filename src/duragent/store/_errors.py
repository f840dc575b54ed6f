"""What SQLite's errors mean for a Duragent user, and waiting out the locks SQLite does not.

SQLite's busy timeout makes a statement wait for another process's lock, but not always:
changing the journal mode of a new file, or a lock request that could deadlock, answers
``SQLITE_BUSY`` at once. :func:`retry_busy` retries such a statement until the busy
timeout has really elapsed, so a ``StoreLockedError`` always means "waited that long".
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from collections.abc import Callable
from typing import Final, TypeVar

from ..errors import (
    StoreCorruptError,
    StoreError,
    StoreFullError,
    StoreIOError,
    StoreLockedError,
)

T = TypeVar("T")

# Primary result codes (https://www.sqlite.org/rescode.html).
SQLITE_BUSY: Final = 5
SQLITE_LOCKED: Final = 6
SQLITE_READONLY: Final = 8
SQLITE_IOERR: Final = 10
SQLITE_CORRUPT: Final = 11
SQLITE_FULL: Final = 13
SQLITE_CANTOPEN: Final = 14
SQLITE_PROTOCOL: Final = 15
SQLITE_NOTADB: Final = 26

_BUSY_CODES: Final = frozenset((SQLITE_BUSY, SQLITE_LOCKED, SQLITE_PROTOCOL))
_FIRST_RETRY_S: Final = 0.001
_MAX_RETRY_S: Final = 0.05


def primary_code(err: sqlite3.Error) -> int | None:
    """SQLite's primary result code of ``err`` (None when Python did not attach one)."""
    code = getattr(err, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def is_busy(err: sqlite3.Error) -> bool:
    """Whether ``err`` means another connection holds a lock (worth waiting for)."""
    code = primary_code(err)
    if code is not None:
        return code in _BUSY_CODES
    text = str(err)
    return "locked" in text or "busy" in text


def is_disk_full(err: sqlite3.Error) -> bool:
    """Whether ``err`` is SQLite's "database or disk is full"."""
    return primary_code(err) == SQLITE_FULL or "disk is full" in str(err)


def map_error(
    err: sqlite3.Error, path: str, *, waited_ms: float | None = None, timeout_ms: int = 0
) -> StoreError:
    """The Duragent error for a SQLite error on ``path``.

    Args:
        err: What SQLite raised.
        path: The database file.
        waited_ms: How long the operation really waited for locks (measured by the
            caller), for an honest "locked" message.
        timeout_ms: The busy timeout in force.
    """
    text = str(err)
    code = primary_code(err)
    name = getattr(err, "sqlite_errorname", None) or type(err).__name__
    if is_busy(err):
        waited = f"{waited_ms:.0f} ms" if waited_ms is not None else "an unknown time"
        return StoreLockedError(
            f"{path} is locked by another process: gave up after waiting {waited} (busy "
            f"timeout {timeout_ms} ms): {text}. Nothing was changed; retry, or find the "
            "process holding a long transaction"
        )
    if is_disk_full(err):
        where = os.path.dirname(os.path.abspath(path))
        return StoreFullError(
            f"the disk holding {path} is full ({text}). Nothing of this operation was "
            f"written. Free space on the file system of {where}: running workers carry on "
            "by themselves once there is room"
        )
    if code == SQLITE_IOERR or "disk I/O error" in text:
        return StoreIOError(
            f"disk I/O error on {path} ({name}: {text}). Nothing of this operation was "
            "written. Check the disk and the file system (the kernel log says more); "
            "workers retry by themselves"
        )
    if code == SQLITE_NOTADB or "not a database" in text:
        return StoreCorruptError(
            f"{path} is not a valid Duragent database ({text}); nothing was changed. "
            "Point Duragent at another file, or restore this one from a backup"
        )
    if code == SQLITE_CORRUPT or "malformed" in text or "corrupt" in text:
        return StoreCorruptError(
            f"{path} is damaged ({text}); restore it from a backup or use a new file"
        )
    if code == SQLITE_READONLY:
        return StoreError(
            f"{path} cannot be written ({text}): check the permissions of the file and of "
            "its directory (SQLite also writes the -wal and -shm files beside it), and that "
            "the file system is not mounted read-only"
        )
    if code == SQLITE_CANTOPEN:
        return StoreError(
            f"cannot open {path} or its -wal/-shm files ({text}): check that the directory "
            "exists and is writable"
        )
    return StoreError(f"database error on {path}: {text}")


def retry_busy(
    fn: Callable[[], T], *, path: str, timeout_ms: int, started: float | None = None
) -> T:
    """Call ``fn`` (which must have no effect when it fails), retrying while SQLite
    answers "busy", until ``timeout_ms`` have really passed since ``started`` (a
    ``time.monotonic()`` value; default: now).

    Raises:
        StoreLockedError: Still busy after the timeout (the message says how long it
            waited).
        sqlite3.Error: Any other error, unchanged.
    """
    if started is None:
        started = time.monotonic()
    delay = _FIRST_RETRY_S
    while True:
        try:
            return fn()
        except sqlite3.OperationalError as err:
            if not is_busy(err):
                raise
            waited = (time.monotonic() - started) * 1000
            remaining = timeout_ms - waited
            if remaining <= 0:
                raise map_error(err, path, waited_ms=waited, timeout_ms=timeout_ms) from err
            # Jittered: processes that collided once should not collide again in step.
            time.sleep(min(delay * (0.5 + random.random()), remaining / 1000))
            delay = min(delay * 2, _MAX_RETRY_S)
