"""Is a worker process still alive?

On one machine this is answered at once and exactly: the process id must exist *and* have
the same start time as when the worker registered (so a recycled pid does not count). For a
process on another host (a shared network file system, which SQLite does not recommend)
only heartbeats can tell, so a grace period applies.
"""

from __future__ import annotations

import os
import socket
from functools import cache
from typing import Final

HEARTBEAT_GRACE_MS: Final = 30_000


@cache
def this_host() -> str:
    """Name of this machine, as recorded with workers."""
    return socket.gethostname()


def process_start_marker(pid: int) -> str:
    """An identifier of the process's start (its start time in clock ticks since boot on
    Linux); empty when unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return ""
    # Field 2 (comm) may contain spaces and parentheses: split after its closing paren.
    rest = stat[stat.rfind(b")") + 2 :].split()
    return rest[19].decode() if len(rest) > 19 else ""


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_alive(host: str, pid: int, pid_started: str, heartbeat_at: int, now: int) -> bool:
    """Whether the worker process identified by (host, pid, pid_started) is alive."""
    if host != this_host():
        return now - heartbeat_at < HEARTBEAT_GRACE_MS
    if pid == os.getpid():
        return pid_started == process_start_marker(pid)
    if not _pid_exists(pid):
        return False
    marker = process_start_marker(pid)
    if marker and pid_started and marker != pid_started:
        return False  # the pid was recycled by an unrelated process
    # A zombie (killed, not yet reaped by its parent) runs no code: treat it as dead.
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        state = stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3]
        if state in (b"Z", b"X"):
            return False
    except OSError:
        pass
    return True
