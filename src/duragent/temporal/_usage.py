"""The usage ledger on Temporal: what model calls were paid for, kept in Temporal itself.

On the embedded engine an activity's :meth:`~duragent.activity.ActivityContext.report_usage`
writes the store's ledger at once. A Temporal worker has no store, so the ledger travels
with the activity:

1. **Heartbeat details.** The entry is sent at once (a direct heartbeat RPC, awaited
   before the attempt's result is returned, so it is on the server before the completion
   could be lost; temporalio's own heartbeats are throttled) as a last heartbeat detail
   ``{"duragent.usage": [entries]}``. The server keeps heartbeat details across attempts:
   when a worker dies after a response arrived, the next attempt starts with those entries
   and carries them on in every heartbeat it sends. Activity code never sees this detail
   (``activity.info().heartbeat_details`` leaves it out).
2. **The completed result.** The attempt that completes tags its result payload with every
   entry of the call, its own and those carried from attempts that were lost (Temporal
   payload metadata ``duragent-usage``: the value itself is untouched). History therefore
   records what was paid twice, and ``usage_report`` reads it with no worker running.
3. **Running calls.** While a call is retrying, the entries are in the pending activity's
   heartbeat details (``describe``).

Limit: a call whose *every* attempt failed after a response arrived (none completed) keeps
its entries only in the server's heartbeat details, which Temporal drops when the activity
closes; the embedded ledger keeps them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from typing import Any, Final

from temporalio.api.common.v1 import Payload as TemporalPayload

from ..store.base import UsageEntry

__all__ = [
    "HEARTBEAT_KEY",
    "METADATA_KEY",
    "entries_from_json",
    "split_heartbeat",
    "tag_payload",
    "usage_in_payload",
]

HEARTBEAT_KEY: Final = "duragent.usage"
"""Key of the heartbeat detail that carries usage entries."""
METADATA_KEY: Final = "duragent-usage"
"""Temporal payload metadata key of the entries on a completed result."""
_FIELDS: Final = tuple(f.name for f in dataclasses.fields(UsageEntry))


def entry_to_json(entry: UsageEntry) -> dict[str, Any]:
    """An entry as JSON (every field)."""
    return dataclasses.asdict(entry)


def entries_from_json(values: Any) -> list[UsageEntry]:
    """Entries from their JSON form; anything malformed is skipped (a ledger must never
    break a view)."""
    out: list[UsageEntry] = []
    if not isinstance(values, list):
        return out
    for value in values:  # pyright: ignore[reportUnknownVariableType]
        if not isinstance(value, dict):
            continue
        try:
            out.append(UsageEntry(**{k: value[k] for k in _FIELDS if k in value}))  # pyright: ignore[reportUnknownArgumentType]
        except TypeError:
            continue
    return out


def is_usage_detail(value: Any) -> bool:
    """Whether a heartbeat detail is the usage carrier."""
    return isinstance(value, dict) and set(value) == {HEARTBEAT_KEY}  # pyright: ignore[reportUnknownArgumentType]


def split_heartbeat(details: Sequence[Any]) -> tuple[tuple[Any, ...], list[UsageEntry]]:
    """Heartbeat details as the activity's own details and the carried usage entries."""
    if details and is_usage_detail(details[-1]):
        return tuple(details[:-1]), entries_from_json(details[-1][HEARTBEAT_KEY])
    return tuple(details), []


def heartbeat_detail(entries: Iterable[UsageEntry]) -> dict[str, Any]:
    """The heartbeat detail that carries ``entries``."""
    return {HEARTBEAT_KEY: [entry_to_json(e) for e in entries]}


def tag_payload(payload: TemporalPayload, entries: Sequence[UsageEntry]) -> None:
    """Record ``entries`` on a result payload (metadata; the value is unchanged)."""
    payload.metadata[METADATA_KEY] = json.dumps(
        [entry_to_json(e) for e in entries], separators=(",", ":")
    ).encode()


def usage_in_payload(payload: TemporalPayload) -> list[UsageEntry]:
    """The entries a completed result was tagged with (none when untagged)."""
    raw = payload.metadata.get(METADATA_KEY)
    if not raw:
        return []
    try:
        return entries_from_json(json.loads(raw))
    except ValueError:
        return []


def usage_in_heartbeat(payloads: Sequence[TemporalPayload]) -> list[UsageEntry]:
    """The entries carried by raw heartbeat details (a pending activity's)."""
    if not payloads:
        return []
    try:
        value = json.loads(payloads[-1].data)
    except ValueError:
        return []
    return entries_from_json(value[HEARTBEAT_KEY]) if is_usage_detail(value) else []
