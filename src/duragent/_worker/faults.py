"""Crash points for recovery tests.

Tests must kill real worker processes at exact moments ("after the activity returned but
before its completion was recorded"). Setting ``DURAGENT_CRASH_AT`` in a worker's
environment arms named points; reaching an armed point sends SIGKILL to the process itself,
which is indistinguishable from an external ``kill -9`` at that instant.

Spec: comma-separated ``point[:detail][@n]`` items; ``detail`` narrows the point (e.g. an
activity type), ``n`` crashes on the n-th matching hit (default 1). Points:

* ``activity_start:<type>`` - claimed, about to call the activity function
* ``activity_returned:<type>`` - the function returned; completion not yet recorded
* ``workflow_task_complete`` - commands computed; completion not yet recorded
* ``mid_replay`` - half of a cache-miss replay done

When the variable is unset (always, in production) a crash point is one dict lookup.
"""

from __future__ import annotations

import os
import signal
from typing import Final

_ENV: Final = "DURAGENT_CRASH_AT"


def _parse(spec: str) -> dict[tuple[str, str], int]:
    points: dict[tuple[str, str], int] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        point, _, nth = item.partition("@")
        name, _, detail = point.partition(":")
        points[(name, detail)] = int(nth) if nth else 1
    return points


_armed: dict[tuple[str, str], int] = _parse(os.environ.get(_ENV, ""))


def armed(name: str) -> bool:
    """Whether any crash point called ``name`` is armed."""
    return any(key[0] == name for key in _armed)


def crash_point(name: str, detail: str = "") -> None:
    """SIGKILL this process if the point is armed and this is the chosen hit."""
    if not _armed:
        return
    for key in ((name, detail), (name, "")):
        remaining = _armed.get(key)
        if remaining is None:
            continue
        if remaining <= 1:
            os.kill(os.getpid(), signal.SIGKILL)
        _armed[key] = remaining - 1
        return
